"""Errors of the review console (its database layer and its web layer): the review family.

Each carries a Vietnamese message, ``message_vi``, because the console shows it to reviewers as it is
(``str(exc)`` may be an English detail for the log); the web app maps the classes to HTTP statuses
(``app.HTTP_STATUS``), the CLI to exit codes (``exit_code``).
"""

from __future__ import annotations

from pipelines.errors import ExitCode, HocbaError, InputError


class ReviewError(HocbaError):
    """Base of the console's errors."""

    message_vi = "Yêu cầu không hợp lệ."


class Forbidden(ReviewError):
    """The item lies outside the user's scope, or the user's role or state does not allow the action."""

    exit_code = ExitCode.forbidden
    message_vi = "Bạn không có quyền với trường này (ngoài phạm vi quận/huyện hoặc trường được giao)."


class SecondEntryByOther(Forbidden):
    """The user gave the first of an item's two independent entries: the second must be someone else's."""


class NotFound(ReviewError):
    """No such item or user."""

    exit_code = ExitCode.not_found
    message_vi = "Không tìm thấy trường này."


class NotClaimed(ReviewError):
    """The item is claimed by someone else (and the claim has not expired), or is no longer open."""

    exit_code = ExitCode.conflict
    message_vi = "Trường này đang được người khác duyệt. Hãy chọn trường khác trong hàng đợi."


class AlreadyResolved(NotClaimed):
    """The item is done or waits for the paper book: nothing left to claim or submit.

    A ``NotClaimed`` so that code handling "someone else has it" also handles "it is gone".
    """

    message_vi = "Trường này đã được duyệt xong."


class ActionRefused(ReviewError):
    """The action does not apply to the item as it is now (an undo after the batch was accepted, a reopen
    of an item still under review …); ``message_vi`` says why and what to do instead."""

    exit_code = ExitCode.refused

    def __init__(self, message_vi: str) -> None:
        super().__init__(message_vi)
        self.message_vi = message_vi


class InvalidValue(ReviewError, InputError):
    """A value a reviewer entered that the field's normalizer rejects; nothing was saved."""

    def __init__(self, field_id: str, message_vi: str, code: str, suggestion: str | None = None) -> None:
        super().__init__(message_vi)
        self.field_id = field_id
        self.message_vi = message_vi
        """What was expected; never the value typed (messages may reach a log)."""
        self.code = code
        """The normalizer's error ('empty', 'format_invalid', 'out_of_range', 'not_in_vocabulary',
        'ambiguous'), 'repaired' (parses only as a guess, see ``suggestion``), 'no_proposal' or
        'action_invalid'."""
        self.suggestion = suggestion
        """For 'repaired': the value the guess gives (85 → 8,5), for the console to offer."""


class UserError(ReviewError, InputError):
    """A user account cannot be created or changed as asked (role, scope, password, duplicate name)."""
