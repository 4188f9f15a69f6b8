"""Errors as answers: the store's errors through one table (``HTTP_STATUS``), the web layer's own, a
request that does not validate, and anything unexpected; in Vietnamese, never repeating the input."""

import re
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.review import labels
from pipelines.review.api.deps import (
    BadRequest,
    CoverageForbidden,
    CsrfRejected,
    LoginRequired,
    PaperForbidden,
    TooManyLogins,
    error_response,
    get_console,
    render,
    wants_json,
)
from pipelines.review.errors import (
    ActionRefused,
    AlreadyResolved,
    Forbidden,
    InvalidValue,
    NotClaimed,
    NotFound,
    ReviewError,
)
from pipelines.review.security import SECURITY_HEADERS
from pipelines.review.views import message_vi

HTTP_STATUS: dict[type[ReviewError], tuple[int, str]] = {
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    NotClaimed: (409, "claimed_by_other"),
    AlreadyResolved: (409, "already_resolved"),
    ActionRefused: (409, "refused"),
    InvalidValue: (422, "invalid_value"),
}
"""The console's errors as answers: HTTP status and the JSON ``error`` key; the message is the error's
``message_vi``. The most specific class listed wins (AlreadyResolved is a NotClaimed)."""


async def _login_required(request: Request, exc: Exception) -> Response:
    if wants_json(request):
        return JSONResponse({"error": "unauthenticated", "message": "Cần đăng nhập."}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


async def _csrf(request: Request, exc: Exception) -> Response:
    return error_response(request, 403, "csrf", "Phiên làm việc đã hết hạn hoặc yêu cầu không hợp lệ. "
                          "Hãy tải lại trang rồi thử lại.")


async def _too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyLogins)
    minutes = max(1, round(exc.retry_after_s / 60))
    message = f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau khoảng {minutes} phút."
    headers = {"Retry-After": str(exc.retry_after_s)}
    if wants_json(request):
        return error_response(request, 429, "rate_limited", message, headers=headers)
    return render(request, "login.html", None, status_code=429, headers=headers, error=message,
                  username=exc.username, next_url=exc.next_url)


async def _bad(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return error_response(request, 400, "bad_request", exc.message_vi)


async def _paper_forbidden(request: Request, exc: Exception) -> Response:
    return error_response(request, 403, "forbidden", "Chỉ nhóm dữ liệu và quản trị viên được xử lý sổ "
                          "giấy và mở lại trường đã duyệt.")


async def _coverage_forbidden(request: Request, exc: Exception) -> Response:
    return error_response(request, 403, "forbidden", labels.COVERAGE_FORBIDDEN)


async def _review_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReviewError)
    status, error = next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)
    extra = ({"code": exc.code, "field_id": exc.field_id, "suggestion": exc.suggestion}
             if isinstance(exc, InvalidValue) else {})
    return error_response(request, status, error, message_vi(exc), **extra)


def invalid_fields(exc: RequestValidationError) -> list[str]:
    """The names of the request parts a validation error is about (``action``, ``item_id``): the model's
    and the route's own names only, never what was sent."""
    out: list[str] = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if isinstance(p, str) and p not in ("body", "query", "path")]
        name = ".".join(loc)
        if name and re.fullmatch(r"[a-z_][a-z0-9_.]{0,63}", name) and name not in out:
            out.append(name)
    return out


async def _invalid_request(request: Request, exc: Exception) -> Response:
    # Pydantic's own messages are English and carry the input: only the names of the parts at fault.
    assert isinstance(exc, RequestValidationError)
    fields = invalid_fields(exc)
    message = "Yêu cầu không hợp lệ" + (f" (sai hoặc thiếu: {', '.join(fields)})." if fields else ".")
    if wants_json(request):
        return error_response(request, 422, "bad_request", message, fields=fields)
    return error_response(request, 400, "bad_request", message)


async def _server_error(request: Request, exc: Exception) -> Response:
    """Anything unexpected: a Vietnamese 500 with the security headers, nothing of the request in it.

    Starlette answers these outside every middleware (SecurityHeadersMiddleware included), so the
    headers are set here; the exception is raised on afterwards and logged by the server."""
    message = "Lỗi máy chủ: yêu cầu chưa được thực hiện. Hãy thử lại sau, hoặc báo quản trị viên."
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    if wants_json(request):
        return JSONResponse({"error": "internal", "message": message}, status_code=500, headers=headers)
    try:
        return get_console(request).templates.TemplateResponse(request, "error.html", {
            "user": None, "csrf_token": "", "flash": None, "status": 500, "message": message},
            status_code=500, headers=headers)
    except Exception:  # the page itself fails: plain words, still Vietnamese
        return HTMLResponse(f'<!doctype html><html lang="vi"><meta charset="utf-8"><title>Lỗi 500</title>'
                            f"<p>{message}</p></html>", status_code=500, headers=headers)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = {404: "Không có trang này.", 405: "Thao tác không được hỗ trợ."}.get(
        exc.status_code, "Yêu cầu không hợp lệ.")
    return error_response(request, exc.status_code, "http", message)


def add_error_handlers(app: FastAPI) -> None:
    """Every error handler of the console, on ``app``."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRejected, _csrf)
    app.add_exception_handler(TooManyLogins, _too_many)
    app.add_exception_handler(BadRequest, _bad)
    for error_class in HTTP_STATUS:
        app.add_exception_handler(error_class, _review_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _server_error)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(PaperForbidden, _paper_forbidden)
    app.add_exception_handler(CoverageForbidden, _coverage_forbidden)
