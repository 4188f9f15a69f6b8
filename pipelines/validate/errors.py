"""Errors of the validate stage (roster import, reconciliation, decisions)."""

from __future__ import annotations

from pipelines.errors import HocbaError, InputError


class ValidateError(HocbaError):
    """Base of the validate stage's errors."""


class RosterError(ValidateError, InputError):
    """A roster file cannot be read: names the file and what was expected."""
