"""Errors of the issue stage (records, PDF, ledger; signing and verification subclass ``IssueError``).

Messages name record ids and field ids, never field values: they reach logs and Dagster metadata,
and the values are children's personal data.
"""

from __future__ import annotations

from pipelines.errors import ConfigError, ExitCode, HocbaError, InputError


class IssueError(HocbaError):
    """Base of the issue stage's errors."""


class RecordInvalid(IssueError, InputError):
    """A record cannot be built, or its XML does not satisfy the record schema (XSD)."""

    def __init__(self, record_id: str | None, errors: list[str]) -> None:
        self.record_id = record_id
        self.errors = list(errors)
        more = len(self.errors) - 5
        shown = "; ".join(self.errors[:5]) + (f" (+{more} more)" if more > 0 else "")
        super().__init__(f"record {record_id or '?'} is invalid: {shown}")


class LedgerError(IssueError):
    """The ledger refuses an operation (unknown version, already revoked, …)."""

    exit_code = ExitCode.refused


class NotInLedger(LedgerError):
    """The ledger has no such record, or no such version of it."""

    exit_code = ExitCode.not_found


class LedgerConflict(LedgerError):
    """The ledger moved on while this record was being made (another process issued a version of it
    first): nothing was appended; make the record again from ``next_version``."""

    exit_code = ExitCode.conflict


class LedgerCorrupt(IssueError):
    """The ledger's hash chain or its event sequence does not hold: rows were edited or removed."""

    exit_code = ExitCode.ledger_corrupt


class SigningError(IssueError):
    """A document cannot be signed as asked: input a signer cannot take, or a TSA that does not answer."""

    exit_code = ExitCode.signing


class SigningKeyError(IssueError, ConfigError):
    """The signing keys cannot sign a batch: a school has no key, or a key does not chain to the trust
    roots. Raised before anything is signed or written; fix the keys or HOCBA_TRUST_ROOTS and re-run."""


class SchoolKeyMissing(SigningKeyError):
    """No signing key for a school code where the settings say to look (PKCS#12 folder or token label)."""

    def __init__(self, school_code: str, where: str, why: str = "") -> None:
        self.school_code = school_code
        self.where = where
        super().__init__(
            f"khóa ký của trường / signing key of school {school_code}: không có / missing ({where})"
            + (f": {why}" if why else "")
            + ". Development: `hocba pki init --school-code " + school_code + "` (or `--add` to an existing "
            "PKI); production: the school's PKCS#12 files or token key (docs/operations.md §6). Nothing "
            "was issued for this school.")
