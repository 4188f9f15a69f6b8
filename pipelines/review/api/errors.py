"""Errors as answers: the store's errors through one table (``HTTP_STATUS``), the web layer's own, a
request that does not validate, and anything unexpected; in Vietnamese, never repeating the input."""

import re
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.review.api.deps import error_response, get_console, render, wants_json
from pipelines.review.errors import (
    ActionRefused,
    AlreadyResolved,
    BadRequest,
    CsrfRejected,
    Forbidden,
    InvalidValue,
    LoginRequired,
    NotClaimed,
    NotFound,
    ReviewError,
    TooManyLogins,
)
from pipelines.review.security import SECURITY_HEADERS
from pipelines.review.views import message_vi

HTTP_STATUS: dict[type[ReviewError], tuple[int, str]] = {
    BadRequest: (400, "bad_request"),
    LoginRequired: (401, "unauthenticated"),
    CsrfRejected: (403, "csrf"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    NotClaimed: (409, "claimed_by_other"),
    AlreadyResolved: (409, "already_resolved"),
    ActionRefused: (409, "refused"),
    InvalidValue: (422, "invalid_value"),
    TooManyLogins: (429, "rate_limited"),
}
"""The console's errors as answers: HTTP status and the JSON ``error`` key; the message is the error's
``message_vi``. The most specific class listed wins (AlreadyResolved is a NotClaimed; CoverageForbidden
and PaperForbidden are Forbidden). Pages answer two of them otherwise: LoginRequired with a redirect to
/login, TooManyLogins with the login form again."""


async def _review_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReviewError)
    status, error = next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)
    if isinstance(exc, LoginRequired) and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    if isinstance(exc, TooManyLogins):
        headers = {"Retry-After": str(exc.retry_after_s)}
        if wants_json(request):
            return error_response(request, status, error, exc.message_vi, headers=headers)
        return render(request, "login.html", None, status_code=status, headers=headers, error=exc.message_vi,
                      username=exc.username, next_url=exc.next_url)
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
    for error_class in HTTP_STATUS:
        app.add_exception_handler(error_class, _review_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _server_error)
    app.add_exception_handler(StarletteHTTPException, _http)
