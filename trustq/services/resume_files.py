"""Resume files (PDF, DOCX): checked at intake, turned into text by the worker."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
KINDS = {".pdf": "pdf", ".docx": "docx"}


class ResumeFileError(ValueError):
    """A resume file that cannot be used; the message says why."""


def check_file(data: bytes, filename: str, max_bytes: int) -> str:
    """The file's kind ("pdf" or "docx"); raises ResumeFileError for what intake refuses."""
    kind = KINDS.get(Path(filename).suffix.lower())
    if kind is None:
        raise ResumeFileError(f"{filename}: only .pdf and .docx resume files are accepted")
    if not data:
        raise ResumeFileError(f"{filename}: the file is empty")
    if len(data) > max_bytes:
        raise ResumeFileError(
            f"{filename}: {len(data):,} bytes is over the limit of {max_bytes:,} bytes"
        )
    magic = PDF_MAGIC if kind == "pdf" else ZIP_MAGIC
    if not data.startswith(magic):
        raise ResumeFileError(f"{filename}: the content is not a {kind.upper()} file")
    return kind


def extract_text(data: bytes, filename: str) -> str:
    """The text of a PDF or DOCX resume; ResumeFileError if none can be had."""
    kind = KINDS.get(Path(filename).suffix.lower())
    if kind == "pdf":
        text = _pdf_text(data, filename)
    elif kind == "docx":
        text = _docx_text(data, filename)
    else:
        raise ResumeFileError(f"{filename}: only .pdf and .docx resume files are accepted")
    text = "\n".join(line.rstrip() for line in text.replace("\x00", "").splitlines()).strip()
    if not text:
        raise ResumeFileError(
            f"{filename}: no text could be extracted (an image-only or empty document?)"
        )
    return text


def _pdf_text(data: bytes, filename: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ResumeFileError(f"{filename}: the PDF is encrypted; send it without a password")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except ResumeFileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ResumeFileError(f"{filename}: the PDF is corrupt ({exc})") from exc


def _docx_text(data: bytes, filename: str) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ResumeFileError(f"{filename}: the DOCX is corrupt ({exc})") from exc
    except Exception as exc:  # python-docx raises its own types for a zip that is not a DOCX
        raise ResumeFileError(f"{filename}: not a readable DOCX ({exc})") from exc
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(parts)
