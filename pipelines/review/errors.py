"""Errors of the review console (its database layer and its web layer): the review family.

Each carries a Vietnamese message, ``message_vi``, because the console shows it to reviewers as it is
(``str(exc)`` may be an English detail for the log); the web app maps the classes to HTTP statuses
(``api.errors.HTTP_STATUS``), the CLI to exit codes (``exit_code``).
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


# --- the web layer's own (raised by pipelines.review.api; answered through api.errors.HTTP_STATUS) ---
class LoginRequired(ReviewError):
    """No valid session: pages redirect to /login, the API answers 401."""

    exit_code = ExitCode.forbidden
    message_vi = "Cần đăng nhập."


class CsrfRejected(ReviewError):
    """A POST without the session's CSRF token."""

    exit_code = ExitCode.forbidden
    message_vi = "Phiên làm việc đã hết hạn hoặc yêu cầu không hợp lệ. Hãy tải lại trang rồi thử lại."


class TooManyLogins(ReviewError):
    """Too many failed logins for a user name or a client address: try again after ``retry_after_s``."""

    exit_code = ExitCode.forbidden

    def __init__(self, retry_after_s: int, username: str = "", next_url: str = "/") -> None:
        super().__init__("too many failed logins")
        self.retry_after_s = retry_after_s
        self.username = username
        self.next_url = next_url
        minutes = max(1, round(retry_after_s / 60))
        self.message_vi = f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau khoảng {minutes} phút."


class CoverageForbidden(Forbidden):
    """The progress page is for the data team and admins only."""

    message_vi = "Chỉ nhóm dữ liệu và quản trị viên xem được tiến độ số hóa."


class PaperForbidden(Forbidden):
    """The needs-paper list and reopening are for the data team and admins only."""

    message_vi = "Chỉ nhóm dữ liệu và quản trị viên được xử lý sổ giấy và mở lại trường đã duyệt."


class BadRequest(ReviewError, InputError):
    """A request the console's own pages never send (a form that is not one, an id that is not a number);
    ``message_vi`` says what is wrong, never repeating the input."""

    def __init__(self, message_vi: str) -> None:
        super().__init__(message_vi)
        self.message_vi = message_vi
