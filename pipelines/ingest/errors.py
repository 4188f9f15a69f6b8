"""Errors of the ingest stage (inbox, manifest, decoding).

Most never leave the stage: a file that cannot be opened or a page that cannot be decoded is
quarantined with the error's text as detail (English, technical), and the batch goes on. They are
``InputError``s because the fault lies in what was put in the inbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.errors import HocbaError, InputError

if TYPE_CHECKING:  # type only: inbox.py imports this module
    from pipelines.ingest.inbox import Entry


class IngestError(HocbaError):
    """Base of the ingest stage's errors."""


class NotRegularFile(IngestError, InputError):
    """What was to be opened is not (or no longer) the regular file that was listed."""

    def __init__(self, entry: Entry, why: str = "") -> None:
        self.entry = entry
        super().__init__(f"{entry.path!r} is {entry.describe()}{why}")


class FileOpenError(IngestError, InputError):
    """The file cannot be opened at all; ``str(exc)`` is the technical detail (English)."""


class PageDecodeError(IngestError, InputError):
    """One page could not be decoded; ``str(exc)`` is the technical detail (English)."""
