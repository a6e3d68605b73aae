"""The reader of one resume file, run as a child process by ``trustq.scoring.resume_files``.

``python -m trustq.scoring.resume_extract '<limits as JSON>'`` reads the file's bytes on
standard input and writes one JSON object on standard output: ``{"text": ...}``, ``{"pages":
N}`` (with ``"mode": "inspect"``) or ``{"error": ...}``. Before it imports a parser it caps its
own address space (``RLIMIT_AS``), so a file that makes a parser allocate without end costs
this process and nothing else; the parent bounds its wall time.

The DOCX reader is written here rather than taken from python-docx: python-docx builds the
whole ``word/document.xml`` tree in memory before any text can be read, with no cap on its
size, so a small archive that inflates to gigabytes takes the reader's memory with it. Here
lxml's ``iterparse`` reads the part as a stream straight out of the zip, each element is
dropped once its text is taken, and reading stops as soon as the text passes the character
limit. PDFs are read by pypdf with its own limits lowered (``pypdf.apply_configuration``):
decoded stream sizes, content-stream parsing work, and the pages' total decoded content,
checked before any page's text is extracted.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
DOCUMENT_PART = "word/document.xml"


class Refused(Exception):
    """The file cannot be read within the limits; the message says why."""


def _cap_memory(limit_bytes: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit_bytes = min(limit_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, hard))


# --- DOCX -------------------------------------------------------------------------------


class _Text:
    """Lines of text gathered up to ``max_chars``; ``Refused`` past it."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.size = 0
        self.lines: list[str] = []

    def check(self, more: int) -> None:
        """Refuse if ``more`` characters on top of those gathered pass the limit."""
        if self.size + more > self.max_chars:
            raise Refused(
                f"it holds more than {self.max_chars:,} characters of text, the limit for a resume"
            )

    def add(self, line: str) -> None:
        self.check(len(line))
        self.size += len(line) + 1
        self.lines.append(line)


def docx_text(data: bytes, max_chars: int, max_inflated: int) -> str:
    """The paragraphs of the DOCX's body in document order; a table row is one line, its
    cells joined by spaces."""
    import io
    import zipfile

    from lxml import etree

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        info = archive.getinfo(DOCUMENT_PART)
    except KeyError as exc:
        raise Refused(f"not a DOCX: the archive has no {DOCUMENT_PART}") from exc
    if info.file_size > max_inflated:
        raise Refused(
            f"{DOCUMENT_PART} inflates to {info.file_size:,} bytes; the limit is {max_inflated:,}"
        )
    out = _Text(max_chars)
    with archive.open(info) as part:
        head = part.peek(4096)[:4096]
        if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
            raise Refused("the document declares a DTD or entities, which a DOCX never does")
        parser = etree.iterparse(
            part,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        runs: list[str] = []  # the text of the paragraph being read
        pending = 0  # its length so far
        cells: list[list[str]] = []  # per open table cell: its paragraphs
        rows: list[list[str]] = []  # per open table row: its cells
        for event, element in parser:
            tag = element.tag
            if event == "start":
                if tag == W + "tr":
                    rows.append([])
                elif tag == W + "tc":
                    cells.append([])
                continue
            if tag in (W + "t", W + "tab", W + "br", W + "cr"):
                piece = element.text or "" if tag == W + "t" else "\t" if tag == W + "tab" else "\n"
                runs.append(piece)
                pending += len(piece)
                out.check(pending)
            elif tag == W + "p":
                paragraph = "".join(runs)
                runs.clear()
                pending = 0
                if cells:
                    cells[-1].append(paragraph)
                    out.check(sum(map(len, cells[-1])))
                else:
                    out.add(paragraph)
            elif tag == W + "tc" and cells:
                cell = " ".join(p for p in cells.pop() if p)
                if rows:
                    rows[-1].append(cell)
            elif tag == W + "tr" and rows:
                line = " ".join(c for c in rows.pop() if c)
                if cells:
                    cells[-1].append(line)  # a table nested in a cell
                else:
                    out.add(line)
            # What is read is dropped: the element and the siblings before it.
            element.clear(keep_tail=False)
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]
    return "\n".join(out.lines)


# --- PDF --------------------------------------------------------------------------------


def _pdf_limits(limits: dict[str, Any]) -> dict[str, int]:
    per_stream = int(limits["max_stream_bytes"])
    return {
        "maximum_declared_stream_length": per_stream,
        "zlib_maximum_output_length": per_stream,
        "lzw_maximum_output_length": per_stream,
        "run_length_maximum_output_length": per_stream,
        "array_based_stream_maximum_output_length": per_stream,
        "jbig2_maximum_output_length": per_stream,
        "brotli_maximum_output_length": per_stream,
        "image_maximum_buffer_size": per_stream,
        "stream_decoding_work_maximum_length": 4 * per_stream,
        "stream_parsing_work_maximum_count": int(limits["max_pdf_operations"]),
        "page_tree_maximum_entries": 4 * int(limits["max_pages"]) + 100,
        "page_tree_maximum_page_entries": 4 * int(limits["max_pages"]) + 100,
        "xform_maximum_invocations_per_extraction": 200,
        "outline_maximum_entries": 10_000,
        "form_fields_maximum_entries": 10_000,
        "named_destinations_maximum_entries": 10_000,
    }


def _pdf_reader(data: bytes, max_pages: int) -> Any:
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    # Many PDFs are encrypted only to restrict printing or copying, with an empty password
    # to open them; those are read. One that needs a password to open is refused.
    if reader.is_encrypted and not _opens_without_password(reader):
        raise Refused("the PDF is encrypted; send it without a password")
    try:  # the page tree's own count, read before the tree is walked
        count = int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except (KeyError, TypeError, ValueError):
        count = 0
    if count <= max_pages:
        count = len(reader.pages)
    if count > max_pages:
        raise Refused(f"the PDF has {count:,} pages; the limit is {max_pages:,}")
    return reader


def _opens_without_password(reader: Any) -> bool:
    from pypdf import PasswordType
    from pypdf.errors import DependencyError

    try:
        return reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except DependencyError:  # AES without a cryptography library installed
        return False


def pdf_pages(data: bytes, limits: dict[str, Any]) -> int:
    """The PDF's page count, refused above the page limit."""
    import pypdf

    with pypdf.apply_configuration(**_pdf_limits(limits)):
        return len(_pdf_reader(data, int(limits["max_pages"])).pages)


def pdf_text(data: bytes, limits: dict[str, Any]) -> str:
    """The text of every page, after the pages' decoded content is found within its limit."""
    import pypdf

    max_content = int(limits["max_content_bytes"])
    with pypdf.apply_configuration(**_pdf_limits(limits)):
        reader = _pdf_reader(data, int(limits["max_pages"]))
        total = 0
        for number, page in enumerate(reader.pages, start=1):
            contents = page.get_contents()
            total += len(contents.get_data()) if contents is not None else 0
            if total > max_content:
                raise Refused(
                    f"the PDF's pages hold more than {max_content:,} bytes of content, the "
                    f"limit (passed on page {number})"
                )
        out = _Text(int(limits["max_chars"]))
        for page in reader.pages:
            out.add(page.extract_text() or "")
        return "\n".join(out.lines)


# --- the process ------------------------------------------------------------------------


def _describe(exc: BaseException, kind: str) -> str:
    from pypdf.errors import FileNotDecryptedError, LimitReachedError

    name = type(exc).__name__
    if isinstance(exc, LimitReachedError):
        return f"the {kind.upper()} is beyond the limits of what trustq reads ({exc})"
    if isinstance(exc, FileNotDecryptedError):
        return f"the {kind.upper()} is encrypted; send it without a password"
    if kind == "docx" and name in ("BadZipFile", "XMLSyntaxError", "LargeZipFile"):
        return f"the DOCX is corrupt ({name}: {str(exc)[:200]})"
    if kind == "pdf":
        return f"the PDF is corrupt ({name}: {str(exc)[:200]})"
    return f"not a readable DOCX ({name}: {str(exc)[:200]})"


def run(request: dict[str, Any], data: bytes) -> dict[str, Any]:
    """What the process answers for ``request`` over the file's ``data``."""
    kind = request["kind"]
    try:
        if request.get("mode") == "inspect":
            return {"pages": pdf_pages(data, request)}
        if kind == "pdf":
            return {"text": pdf_text(data, request)}
        return {
            "text": docx_text(data, int(request["max_chars"]), int(request["max_inflated_bytes"]))
        }
    except Refused as exc:
        return {"error": str(exc)}
    except RecursionError:
        return {"error": f"the {kind.upper()} nests too deeply to read"}
    except MemoryError:
        mib = int(request["memory_bytes"]) // 2**20
        return {
            "error": f"reading the {kind.upper()} needs more than {mib} MiB of memory "
            "(TRUSTQ_RESUME_EXTRACT_MEMORY_MB)"
        }
    except Exception as exc:  # every parser error becomes this file's failure, with its reason
        return {"error": _describe(exc, kind)}


def main() -> None:
    request = json.loads(sys.argv[1])
    _cap_memory(int(request["memory_bytes"]))
    import logging

    logging.disable(logging.CRITICAL)  # pypdf's warnings would only fill the pipe
    data = sys.stdin.buffer.read()
    answer = run(request, data)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
