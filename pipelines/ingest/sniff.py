"""What a file is, from its first bytes (never its extension), and its sha256, in one pass."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Literal

Format = Literal["pdf", "tiff", "jpeg", "png"]
FORMATS: tuple[Format, ...] = ("pdf", "tiff", "jpeg", "png")

HEAD_BYTES = 16
TAIL_BYTES = 1024  # a PDF's %%EOF must sit in its last 1 KiB (what Acrobat accepts)
CHUNK = 1 << 20


def sniff_format(head: bytes) -> Format | None:
    """pdf | tiff | jpeg | png from the magic bytes; None for anything else."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    return None


def describe_head(head: bytes) -> str:
    """A short technical description of unknown magic bytes, for the quarantine detail."""
    known = {
        b"PK\x03\x04": "a ZIP container (docx, xlsx, zip…)",
        b"\xd0\xcf\x11\xe0": "an OLE2 document (doc, xls…)",
        b"GIF8": "a GIF image",
        b"BM": "a BMP image",
        b"RIFF": "a RIFF container (WebP, AVI…)",
        b"Rar!": "a RAR archive",
        b"7z\xbc\xaf": "a 7-Zip archive",
        b"\x00\x00\x00\x0cjP": "a JPEG 2000 image",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            return f"content is {what}"
    return f"first bytes {head[:8].hex(' ')} match none of PDF, TIFF, JPEG, PNG"


@dataclass(frozen=True)
class Digest:
    sha256: str
    size: int
    head: bytes
    """The first ``HEAD_BYTES`` bytes."""
    tail: bytes
    """The last ``TAIL_BYTES`` bytes."""


def digest_stream(fh: IO[bytes], *, sink: Callable[[bytes], object] | None = None) -> Digest:
    """sha256, size, head and tail of a stream read once in 1 MiB chunks.

    ``sink`` receives every chunk (e.g. a local spool file's ``write``), so a remote
    file is read only once for hashing and copying.
    """
    h = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    while block := fh.read(CHUNK):
        h.update(block)
        size += len(block)
        if len(head) < HEAD_BYTES:
            head += block[: HEAD_BYTES - len(head)]
        tail = (tail + block)[-TAIL_BYTES:]
        if sink is not None:
            sink(block)
    return Digest(sha256=h.hexdigest(), size=size, head=head, tail=tail)


def pdf_is_complete(tail: bytes) -> bool:
    """A PDF cut short in copying has lost its final ``%%EOF`` marker."""
    return b"%%EOF" in tail
