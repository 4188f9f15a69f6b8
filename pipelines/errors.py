"""One error tree for the project. Exit codes are mapped at the CLI edge only."""

from __future__ import annotations


class HocbaError(Exception):
    """Base of every error the project raises on purpose. The message says what to do."""

    exit_code = 1


class ConfigError(HocbaError):
    """A setting is missing or wrong."""

    exit_code = 2


class InputError(HocbaError):
    """Input given by a user (a scan, a manifest, a roster) cannot be used."""

    exit_code = 4
