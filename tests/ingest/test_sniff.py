"""Formats from magic bytes, digests in one streaming pass."""

from __future__ import annotations

import hashlib
import io

import pytest

from pipelines.ingest.sniff import describe_head, digest_stream, pdf_is_complete, sniff_format


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"PK\x03\x04\x14\x00", None),
        (b"GIF89a", None),
        (b"", None),
        (b"%PD", None),
    ],
)
def test_sniff(head: bytes, fmt) -> None:
    assert sniff_format(head) == fmt


def test_describe_unknown() -> None:
    assert "ZIP" in describe_head(b"PK\x03\x04")
    assert "00 01 02" in describe_head(bytes(range(8)))


def test_digest_stream_matches_hashlib_and_feeds_the_sink() -> None:
    data = bytes(range(256)) * 10_000  # 2.5 MiB: several chunks
    sink = io.BytesIO()
    d = digest_stream(io.BytesIO(data), sink=sink.write)
    assert d.sha256 == hashlib.sha256(data).hexdigest()
    assert d.size == len(data) and d.head == data[:16] and d.tail == data[-1024:]
    assert sink.getvalue() == data


def test_pdf_complete() -> None:
    assert pdf_is_complete(b"...startxref\n123\n%%EOF\n")
    assert not pdf_is_complete(b"...stream data cut")
