"""Resume files: text comes out of good ones; bad ones are refused with the reason."""

from __future__ import annotations

import pytest

from tests.resume_docs import RESUME_LINES, docx_with_text, pdf_with_text, pdf_without_text
from trustq.services.resume_files import ResumeFileError, check_file, extract_text


def test_text_comes_out_of_a_pdf() -> None:
    text = extract_text(pdf_with_text(RESUME_LINES), "cv.pdf")
    assert "cut failed payments by 18% in 2022" in text
    assert "Backend developer" in text


def test_text_comes_out_of_a_docx_with_its_tables() -> None:
    text = extract_text(docx_with_text(RESUME_LINES), "cv.docx")
    assert RESUME_LINES[1] in text
    assert "Django 5 years" in text


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (pdf_with_text(RESUME_LINES, password="secret"), "cv.pdf", "encrypted"),
        (pdf_without_text(), "cv.pdf", "no text could be extracted"),
        (b"%PDF-1.7\n this is not really a pdf", "cv.pdf", "corrupt"),
        (b"PK\x03\x04 truncated zip", "cv.docx", "DOCX"),
        (docx_with_text([]).replace(b"word/document.xml", b"word/documenX.xml"), "cv.docx", "DOCX"),
    ],
)
def test_broken_files_say_why(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(ResumeFileError, match=reason):
        extract_text(data, name)


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "cv.pdf", "empty"),
        (b"%PDF-" + b"x" * 5000, "cv.pdf", "over the limit"),
        (b"hello", "cv.txt", "only .pdf and .docx"),
        (b"GIF89a....", "cv.pdf", "not a PDF"),
        (b"%PDF-1.4", "cv.docx", "not a DOCX"),
    ],
)
def test_intake_refuses_what_it_can_see_is_wrong(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(ResumeFileError, match=reason):
        check_file(data, name, max_bytes=4096)
