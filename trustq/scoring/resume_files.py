"""Resume files (PDF, DOCX): checked at intake, turned into text by the worker.

A resume file comes from whoever holds a submit key, so both steps are bounded:

- ``check_file`` (the API and ``trustq enqueue``) refuses what it can see cheaply: the
  size, the kind, a DOCX whose zip directory lists too many entries or more inflated bytes
  than ``TRUSTQ_RESUME_FILE_MAX_INFLATED_BYTES``, and a PDF with more pages than
  ``TRUSTQ_RESUME_FILE_MAX_PAGES`` (counted in a bounded child process, as below).
- ``extract_text`` (the worker) reads the file in a child process
  (``trustq.scoring.resume_extract``) whose memory is capped at
  ``TRUSTQ_RESUME_EXTRACT_MEMORY_MB`` and which is killed after
  ``TRUSTQ_RESUME_EXTRACT_TIMEOUT_S``. Text is gathered in a stream and reading stops at the
  character limit. Whatever goes wrong, parser errors, memory, time, becomes a
  ``ResumeFileError`` naming the reason; the calling process is never at risk.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trustq.config import Settings
from trustq.schemas import MAX_RESUME_CHARS

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
KINDS = {".pdf": "pdf", ".docx": "docx"}
# A DOCX written by a word processor has a few dozen parts; a thousand is far past any.
MAX_DOCX_ENTRIES = 1000


class ResumeFileError(ValueError):
    """A resume file that cannot be used; the message says why."""


@dataclass(frozen=True)
class FileLimits:
    """How much a resume file may hold and cost; ``from_settings`` gives the configured ones."""

    max_bytes: int = 10 * 1024 * 1024
    max_inflated_bytes: int = 32 * 1024 * 1024
    max_pages: int = 40
    max_content_bytes: int = 16 * 1024 * 1024
    max_stream_bytes: int = 8 * 1024 * 1024
    max_pdf_operations: int = 500_000
    max_chars: int = MAX_RESUME_CHARS
    timeout_s: float = 8.0
    memory_bytes: int = 768 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLimits:
        return cls(
            max_bytes=settings.max_resume_file_bytes,
            max_inflated_bytes=settings.resume_file_max_inflated_bytes,
            max_pages=settings.resume_file_max_pages,
            max_content_bytes=settings.resume_file_max_content_bytes,
            timeout_s=settings.resume_extract_timeout_s,
            memory_bytes=settings.resume_extract_memory_mb * 1024 * 1024,
        )


def kind_of(filename: str) -> str:
    """ "pdf" or "docx" by the file name; ResumeFileError for anything else."""
    kind = KINDS.get(Path(filename).suffix.lower())
    if kind is None:
        raise ResumeFileError(f"{filename}: only .pdf and .docx resume files are accepted")
    return kind


def check_file(data: bytes, filename: str, limits: FileLimits) -> str:
    """The file's kind ("pdf" or "docx"); raises ResumeFileError for what intake refuses."""
    kind = kind_of(filename)
    if not data:
        raise ResumeFileError(f"{filename}: the file is empty")
    if len(data) > limits.max_bytes:
        raise ResumeFileError(
            f"{filename}: {len(data):,} bytes is over the limit of {limits.max_bytes:,} bytes"
        )
    magic = PDF_MAGIC if kind == "pdf" else ZIP_MAGIC
    if not data.startswith(magic):
        raise ResumeFileError(f"{filename}: the content is not a {kind.upper()} file")
    if kind == "docx":
        _check_archive(data, filename, limits)
    else:
        _in_child(data, filename, "pdf", limits, mode="inspect")
    return kind


def _check_archive(data: bytes, filename: str, limits: FileLimits) -> None:
    """The zip directory only: nothing is inflated."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ResumeFileError(f"{filename}: the DOCX is corrupt ({exc})") from exc
    if len(entries) > MAX_DOCX_ENTRIES:
        raise ResumeFileError(
            f"{filename}: the DOCX archive has {len(entries):,} entries; "
            f"the limit is {MAX_DOCX_ENTRIES:,}"
        )
    if not any(e.filename == "word/document.xml" for e in entries):
        raise ResumeFileError(f"{filename}: not a DOCX: the archive has no word/document.xml")
    inflated = sum(e.file_size for e in entries)
    if inflated > limits.max_inflated_bytes:
        raise ResumeFileError(
            f"{filename}: the DOCX inflates to {inflated:,} bytes; the limit is "
            f"{limits.max_inflated_bytes:,} (TRUSTQ_RESUME_FILE_MAX_INFLATED_BYTES)"
        )


def extract_text(data: bytes, filename: str, limits: FileLimits) -> str:
    """The text of a PDF or DOCX resume; ResumeFileError if none can be had within limits."""
    kind = kind_of(filename)
    text = str(_in_child(data, filename, kind, limits, mode="text"))
    text = "\n".join(line.rstrip() for line in text.replace("\x00", "").splitlines()).strip()
    if not text:
        raise ResumeFileError(
            f"{filename}: no text could be extracted (an image-only or empty document?)"
        )
    return text


def _in_child(data: bytes, filename: str, kind: str, limits: FileLimits, mode: str) -> Any:
    """Run the reader on ``data`` in a child process; its answer, or ResumeFileError."""
    request = {**asdict(limits), "kind": kind, "mode": mode}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "trustq.scoring.resume_extract", json.dumps(request)],
            input=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=limits.timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ResumeFileError(
            f"{filename}: reading the {kind.upper()} took longer than {limits.timeout_s:g} s "
            "(TRUSTQ_RESUME_EXTRACT_TIMEOUT_S)"
        ) from exc
    try:
        answer = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ResumeFileError(
            f"{filename}: the {kind.upper()} reader stopped (exit status {done.returncode}); "
            f"reading it needs more than {limits.memory_bytes // 2**20} MiB of memory or "
            "crashes the parser"
        )
    if "error" in answer:
        raise ResumeFileError(f"{filename}: {answer['error']}")
    return answer["text"] if mode == "text" else answer["pages"]
