"""Hostile resume files, made by the tests: each one costs a naive reader gigabytes or
minutes. ``HOSTILE_FILES`` maps a name to (file name, a function making the bytes, the
reason its refusal must give)."""

from __future__ import annotations

import functools
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator

from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
)

from tests.resume_docs import docx_with_text

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MiB = 1024 * 1024


def _docx_parts() -> dict[str, bytes]:
    """The parts of a real (small) DOCX, to swap its document for a hostile one."""
    with zipfile.ZipFile(io.BytesIO(docx_with_text(["x"]))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _docx_streaming(document_chunks: Callable[[], Iterator[bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name, data in _docx_parts().items():
            if name != "word/document.xml":
                out.writestr(name, data)
        with out.open("word/document.xml", "w", force_zip64=True) as part:
            for chunk in document_chunks():
                part.write(chunk)
    return buffer.getvalue()


def docx_zip_bomb(inflated: int = 1536 * MiB) -> bytes:
    """word/document.xml of one paragraph whose text inflates to ``inflated`` bytes."""
    head = f'<?xml version="1.0"?><w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>'
    tail = "</w:t></w:r></w:p></w:body></w:document>"

    def chunks() -> Iterator[bytes]:
        yield head.encode()
        block = b"A" * MiB
        for _ in range(inflated // MiB):
            yield block
        yield tail.encode()

    return _docx_streaming(chunks)


def docx_split_paragraphs(paragraphs: int = 30, size: int = MiB) -> bytes:
    """Many paragraphs of ``size`` characters each: no text node is large, the text is."""
    head = f'<?xml version="1.0"?><w:document xmlns:w="{W_NS}"><w:body>'
    paragraph = b"<w:p><w:r><w:t>" + b"word " * (size // 5) + b"</w:t></w:r></w:p>"

    def chunks() -> Iterator[bytes]:
        yield head.encode()
        for _ in range(paragraphs):
            yield paragraph
        yield b"</w:body></w:document>"

    return _docx_streaming(chunks)


def docx_entity_expansion() -> bytes:
    """A billion-laughs document: entities nested ten deep."""
    entities = '<!ENTITY a0 "ha">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    document = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&a9;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in _docx_parts().items():
            out.writestr(name, document.encode() if name == "word/document.xml" else data)
    return buffer.getvalue()


def _font(writer: PdfWriter) -> DictionaryObject:
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    return DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )


def _pdf(pages: list[StreamObject | None], shared: StreamObject | None = None) -> bytes:
    """Pages with a font, so that a text extractor reads their content streams."""
    writer = PdfWriter()
    resources = _font(writer)
    shared_ref = writer._add_object(shared) if shared is not None else None
    for content in pages:
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Resources")] = resources
        if shared_ref is not None:
            page[NameObject("/Contents")] = shared_ref
        elif content is not None:
            page[NameObject("/Contents")] = writer._add_object(content)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _flate(data_chunks: list[bytes]) -> StreamObject:
    """A stream whose FlateDecode data is ``data_chunks`` compressed (never held whole)."""
    compressor = zlib.compressobj(9)
    packed = b"".join(compressor.compress(c) for c in data_chunks) + compressor.flush()
    stream = StreamObject()
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    stream._data = packed
    stream[NameObject("/Length")] = NumberObject(len(packed))
    return stream


def pdf_operator_bomb(operators: int = 2_000_000) -> bytes:
    """One page whose content is ``operators`` save/restore pairs (q Q)."""
    text = b"BT /F1 11 Tf 72 740 Td (Backend developer) Tj ET\n"
    return _pdf([_flate([b"q Q\n" * operators, text])])


def pdf_flate_bomb(inflated: int = 500 * MiB) -> bytes:
    """One page whose content stream inflates to ``inflated`` bytes of spaces."""
    block = b" " * (4 * MiB)
    return _pdf([_flate([block] * (inflated // len(block)))])


def pdf_shared_stream(pages: int = 10, size: int = 7 * MiB) -> bytes:
    """Ten pages sharing one content stream of ``size`` bytes of white space."""
    return _pdf([None] * pages, shared=_flate([b" " * size]))


def pdf_many_pages(pages: int = 20_000) -> bytes:
    """``pages`` pages, each with a line of text, sharing one content stream and font."""
    writer = PdfWriter()
    text = DecodedStreamObject()
    text.set_data(b"BT /F1 11 Tf 72 740 Td (Backend developer) Tj ET")
    text_ref = writer._add_object(text)
    resources = _font(writer)
    for _ in range(pages):
        page = writer.add_blank_page(width=612, height=792)
        page[NameObject("/Contents")] = ArrayObject([text_ref])
        page[NameObject("/Resources")] = resources
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@functools.cache
def make(name: str) -> bytes:
    """The bytes of hostile file ``name``, made once per process."""
    return HOSTILE_FILES[name][1]()


# name: (file name, maker, a phrase the refusal names, refused already at intake)
HOSTILE_FILES: dict[str, tuple[str, Callable[[], bytes], str, bool]] = {
    "docx_zip_bomb": ("bomb.docx", docx_zip_bomb, "inflates to", True),
    "docx_split_paragraphs": ("split.docx", docx_split_paragraphs, "characters of text", False),
    "docx_entity_expansion": ("laughs.docx", docx_entity_expansion, "DTD", False),
    "pdf_operator_bomb": ("ops.pdf", pdf_operator_bomb, "beyond the limits", False),
    "pdf_flate_bomb": ("flate.pdf", pdf_flate_bomb, "beyond the limits", False),
    "pdf_shared_stream": ("shared.pdf", pdf_shared_stream, "bytes of content, the limit", False),
    "pdf_many_pages": ("pages.pdf", pdf_many_pages, "20,000 pages; the limit", True),
}
