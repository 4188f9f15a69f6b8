"""One error tree: every HocbaError class names the ExitCode of its purpose, decided here once."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.contracts.fields import FieldIdError
from pipelines.contracts.loader import ContractError
from pipelines.errors import ConfigError, ExitCode, HocbaError, InputError
from pipelines.ingest.errors import FileOpenError, IngestError, NotRegularFile, PageDecodeError
from pipelines.issue.errors import (
    IssueError,
    LedgerConflict,
    LedgerCorrupt,
    LedgerError,
    NotInLedger,
    RecordInvalid,
    SchoolKeyMissing,
    SigningError,
    SigningKeyError,
)
from pipelines.ocr.errors import OcrEngineError, OcrError
from pipelines.parallel import WorkerPoolError
from pipelines.review.errors import (
    ActionRefused,
    AlreadyResolved,
    BadRequest,
    CoverageForbidden,
    CsrfRejected,
    Forbidden,
    InvalidValue,
    LoginRequired,
    NotClaimed,
    NotFound,
    PaperForbidden,
    ReviewError,
    SecondEntryByOther,
    TooManyLogins,
    UserError,
)
from pipelines.runner import BatchNotInInbox
from pipelines.validate.errors import RosterError, ValidateError

E = ExitCode
EXIT_CODES: dict[type[HocbaError], ExitCode] = {
    HocbaError: E.other, ConfigError: E.setting, InputError: E.input_file,
    ContractError: E.contract, FieldIdError: E.contract, WorkerPoolError: E.worker,
    BatchNotInInbox: E.input_file,
    # ingest
    IngestError: E.other, NotRegularFile: E.input_file, FileOpenError: E.input_file,
    PageDecodeError: E.input_file,
    # ocr
    OcrError: E.other, OcrEngineError: E.ocr_engine,
    # validate
    ValidateError: E.other, RosterError: E.input_file,
    # review
    ReviewError: E.other, Forbidden: E.forbidden, SecondEntryByOther: E.forbidden, NotFound: E.not_found,
    NotClaimed: E.conflict, AlreadyResolved: E.conflict, ActionRefused: E.refused,
    InvalidValue: E.input_file, UserError: E.input_file,
    LoginRequired: E.forbidden, CsrfRejected: E.forbidden, TooManyLogins: E.forbidden,
    CoverageForbidden: E.forbidden, PaperForbidden: E.forbidden, BadRequest: E.input_file,
    # issue
    IssueError: E.other, RecordInvalid: E.input_file, LedgerError: E.refused, NotInLedger: E.not_found,
    LedgerConflict: E.conflict, LedgerCorrupt: E.ledger_corrupt, SigningError: E.signing,
    SigningKeyError: E.setting, SchoolKeyMissing: E.setting,
}
"""Every error class and its exit code. Classes share a code only where they share a purpose (an input
that cannot be used, someone else got there first, …): a new class must be added here, on purpose."""

CLI_OWN = {E.ok, E.usage, E.check_failed, E.verify_failed}
"""Codes the CLI gives itself, never an error class's."""


def _tree(root: type[HocbaError] = HocbaError) -> set[type[HocbaError]]:
    out = {root}
    for sub in root.__subclasses__():
        out |= _tree(sub)
    return out


def test_every_error_class_has_the_exit_code_of_its_purpose():
    assert _tree() == set(EXIT_CODES)
    got = {cls: cls.exit_code for cls in _tree()}
    assert got == EXIT_CODES
    assert all(isinstance(code, ExitCode) for code in got.values())


def test_every_code_has_one_meaning():
    used = set(EXIT_CODES.values())
    assert used.isdisjoint(CLI_OWN)  # a failed verify or check never looks like an error, nor the reverse
    assert used | CLI_OWN == set(ExitCode)  # no member left without a purpose
    assert len({c.value for c in ExitCode}) == len(ExitCode)  # @unique: no alias hides a collision


def test_a_command_line_mistake_is_a_usage_error_not_a_setting():
    assert CliRunner().invoke(main, ["verify", "--no-such-option", "x.pdf"]).exit_code == ExitCode.usage


@pytest.mark.parametrize("exc", [ConfigError("no key"), NotFound("nobody"), LedgerCorrupt("#3")])
def test_an_error_becomes_its_exit_code_at_the_cli_edge(exc, monkeypatch):
    import pipelines.cli as cli

    def raise_it(*_a, **_kw):
        raise exc

    monkeypatch.setattr(cli, "_review_db", raise_it)
    r = CliRunner().invoke(main, ["user", "list"])
    assert r.exit_code == exc.exit_code and f"lỗi / error: {exc}" in r.output
