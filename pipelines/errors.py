"""One error tree for the project, and the exit codes its families stand for.

``HocbaError`` is the root; each stage has its family in its own ``errors.py`` (``ingest``, ``ocr``,
``validate``, ``review``, ``issue``; coverage raises none of its own), and a few layers below the
stages have one class each (``contracts.loader.ContractError``, ``parallel.WorkerPoolError``). Every
class names the ``ExitCode`` member its purpose stands for (``exit_code``, a class attribute); the
numbers become process exit codes at the CLI edge only (``pipelines/cli.py``). The table of codes, for
operators: docs/operations.md, "Exit codes".
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitCode(IntEnum):
    """What a ``hocba`` command's exit status means. Numbers are kept once given: scripts test them."""

    ok = 0
    """Everything asked for was done."""
    other = 1
    """An error nobody planned for (a bug, a crash): the traceback or the Dagster UI says where."""
    usage = 2
    """The command line is wrong (click's own code for an unknown option or a missing argument)."""
    contract = 3
    """A file under data_contracts/ is missing, malformed or inconsistent."""
    input_file = 4
    """Input a user gave cannot be used: a scan, a manifest, a roster, a value, an account request."""
    conflict = 5
    """Someone else got there first (the ledger moved on, another reviewer holds the item): try again."""
    ledger_corrupt = 6
    """The issue ledger's hash chain or event sequence does not hold: rows were edited or removed."""
    check_failed = 7
    """``hocba run``: a blocking asset check failed, so the run stopped after that step."""
    verify_failed = 8
    """``hocba verify``: at least one file does not verify (or is not its record's current version)."""
    setting = 9
    """A setting, a key or a trust root is missing or wrong."""
    forbidden = 10
    """The item lies outside the user's scope, or the user's role does not allow the action."""
    not_found = 11
    """No such item, user or record."""
    refused = 12
    """The action does not apply to the item as it is now (already revoked, already accepted, …)."""
    signing = 13
    """A document cannot be signed as asked (input a signer cannot take, a TSA that does not answer)."""
    worker = 14
    """Worker processes die whatever they run: the machine, not an input, is at fault."""
    ocr_engine = 15
    """The OCR engine failed on a page (Tesseract crashed, is missing, or lacks a language)."""


class HocbaError(Exception):
    """Base of every error the project raises on purpose. The message says what to do."""

    exit_code: ExitCode = ExitCode.other


class ConfigError(HocbaError):
    """A setting is missing or wrong."""

    exit_code = ExitCode.setting


class InputError(HocbaError):
    """Input given by a user (a scan, a manifest, a roster) cannot be used."""

    exit_code = ExitCode.input_file
