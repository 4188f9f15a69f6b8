"""The reviewers' web console: school staff correct the fields the pipeline flagged.

Server-rendered Vietnamese pages (FastAPI + Jinja2) with a little plain JS for
the keyboard, modelled on the verification station of form-capture products:
a queue of flagged fields by batch, book and field type; field verification in
context (crop, the page around it, reasons, candidates, one input); and group
verification (many fields of one type side by side). Every rule about who may
see or change an item lives in ``store``; this module maps its errors to HTTP
statuses through one table (``HTTP_STATUS``: Forbidden→403, NotFound→404,
NotClaimed→409, InvalidValue→422, …) with each error's Vietnamese message, and
adds the web's own defences: server-side sessions (``auth.session_user``: the
signed cookie carries a random token, the database its hash), a CSRF token on
every POST, a login rate limit per user name and per client address,
forwarded headers believed from the ``forwarded_allow_ips`` setting only,
strict security headers, and errors in Vietnamese that never repeat what was
sent. Nothing here logs field values or names: only ids.
"""

import contextlib
import ipaddress
import logging
import os
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pipelines import db
from pipelines.contracts.templates import is_invisible
from pipelines.coverage.tables import load_coverage
from pipelines.review import auth, coverage_view, labels, pages, store
from pipelines.review.books import BookDirectory
from pipelines.review.errors import (
    ActionRefused,
    AlreadyResolved,
    Forbidden,
    InvalidValue,
    NotClaimed,
    NotFound,
    ReviewError,
    SecondEntryByOther,
)
from pipelines.settings import get_settings
from pipelines.storage import Storage

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "hocba_console"
GROUP_SIZE = 24
LOGIN_MAX_FAILURES = 5
"""Failed logins on one user name, from anywhere, before it waits (many addresses, one name)."""
LOGIN_MAX_FAILURES_PER_ADDRESS = 20
"""Failed logins from one client address, on any names, before it waits (one password sprayed over many
names). Higher than per name: a school's staff may share one address (NAT)."""
LOGIN_WINDOW_S = 300
MAX_FORM_VALUE = 20_000
"""No console form field is longer (the longest free text the contracts allow is far shorter)."""

# Only our own origin: no inline script or style, no frames, no foreign hosts.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


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


# --- errors the web layer raises itself ---------------------------------------------
class LoginRequired(Exception):
    """No valid session: pages redirect to /login, the API answers 401."""


class CsrfRejected(Exception):
    """A POST without the session's CSRF token."""


class TooManyLogins(Exception):
    def __init__(self, retry_after_s: int, username: str = "", next_url: str = "/") -> None:
        super().__init__("too many failed logins")
        self.retry_after_s = retry_after_s
        self.username = username
        self.next_url = next_url


class CoverageForbidden(Exception):
    """The progress page is for the data team and admins only."""


class BadRequest(Exception):
    def __init__(self, message_vi: str) -> None:
        super().__init__(message_vi)
        self.message_vi = message_vi


# --- the session key ----------------------------------------------------------------
def console_key(home: Path) -> str:
    """The key signing session cookies: ``HOCBA_HOME/console.key``, made once, readable by the owner only.

    Created through a private temporary file and a hard link, so that two consoles
    starting together agree on one key and nobody ever reads a half-written file.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / "console.key"
    if not path.exists():
        tmp = home / f".console.key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        from pipelines.errors import ConfigError

        raise ConfigError(f"{path} holds no usable key: delete it and start the console again")
    return key


# --- login rate limit ---------------------------------------------------------------
class LoginLimiter:
    """Failed logins per key (a user name, or a client address) in a sliding window.

    The console keeps two: one keyed by user name, one by client address (``client_key``), and a login
    waits when either is over its limit. In memory, per process: enough for the single console process
    ``hocba serve`` runs; a restart forgets the counts. Several processes behind a balancer would need a
    shared store (the database) instead.
    """

    def __init__(self, max_failures: int = LOGIN_MAX_FAILURES, window_s: int = LOGIN_WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[Any, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: Any, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, key: Any) -> int:
        """Seconds until the next try is allowed; 0 when it is allowed now."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now)
            if len(q) < self.max_failures:
                if not q:
                    self._failures.pop(key, None)
                return 0
            return max(1, int(q[0] + self.window_s - now) + 1)

    def failed(self, key: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[key].append(now)
            if len(self._failures) > 10_000:  # names sprayed by a guesser: drop the stale ones
                for k in [k for k, q in self._failures.items() if q[-1] <= now - self.window_s]:
                    del self._failures[k]

    def succeeded(self, key: Any) -> None:
        with self._lock:
            self._failures.pop(key, None)


def client_key(host: str | None) -> str:
    """The client address the login limit counts by: an IPv6 client by its /64 (one machine or home gets
    a whole /64, so counting single addresses would give it 2**64 fresh starts)."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# --- security headers ---------------------------------------------------------------
class SecurityHeadersMiddleware:
    """Adds the security headers to every response; pages are not cached unless a route says so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "cache-control" not in headers:
                    # Pages carry personal data: never stored. Static files revalidate.
                    headers["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- view helpers -------------------------------------------------------------------
@dataclass(frozen=True)
class Nav:
    """Which part of the queue a reviewer is working through; carried from item to item."""

    batch: str = ""
    field_type: str = ""
    book: str = ""
    mode: str = ""  # "group": a field opened from group mode goes back there

    @classmethod
    def of(cls, source: Any) -> "Nav":
        def get(name: str) -> str:  # ids of batches, books, types: 200 characters, nothing invisible
            v = source.get(name) if source is not None else None
            v = str(v).strip()[:200] if v else ""
            return "" if any(is_invisible(c) for c in v) else v

        return cls(get("batch"), get("field_type"), get("book"), "group" if get("mode") == "group" else "")

    def query(self, **extra: str) -> str:
        q = {k: v for k, v in (("batch", self.batch), ("field_type", self.field_type), ("book", self.book),
                               ("mode", self.mode)) if v}
        q.update(extra)
        return f"?{urlencode(q)}" if q else ""

    def store_args(self) -> dict[str, str | None]:
        return {"batch_id": self.batch or None, "field_type": self.field_type or None,
                "book_ref": self.book or None}

    def describe(self) -> str:
        parts = []
        if self.batch:
            parts.append(f"lô {self.batch}")
        if self.book:
            parts.append(f"sổ {self.book}")
        if self.field_type:
            parts.append(f"loại {labels.field_type_label(self.field_type)}")
        return ", ".join(parts) or "tất cả"


def _item_view(item: Any, user: Any) -> dict[str, Any]:
    """What the templates and the JSON API show of an item (no user ids, no first entry)."""
    box = [float(v) for v in (item.box_px or [])]
    return {
        "id": item.id,
        "batch_id": item.batch_id,
        "district": item.district,
        "school": item.school,
        "book_ref": item.book_ref,
        "page_id": item.page_id,
        "template_id": item.template_id,
        "field_id": item.field_id,
        "field_label": labels.field_label(item.template_id, item.field_id),
        "field_type": item.field_type,
        "field_type_label": labels.field_type_label(item.field_type),
        "hint": labels.field_type_hint(item.field_type, item.vocabulary),
        "raw_text": item.raw_text,
        "proposed_value": item.proposed_value,
        "confidence": float(item.confidence),
        "reasons": [{"code": c, "label": labels.reason_label(c)} for c in (item.reasons or [])],
        "candidates": list(item.candidates or []),
        "status": item.status,
        "status_label": labels.status_label(item.status),
        "claimed_by_me": item.status == "claimed" and item.claimed_by == user.id,
        "needs_second": bool(item.needs_second),
        "second_entry": bool(item.needs_second and item.first_by is not None),
        "final_value": item.final_value,
        "crop_url": f"/items/{item.id}/crop" if item.crop_uri else None,
        "page_url": f"/items/{item.id}/page" if item.page_image_uri else None,
        "box_px": box if len(box) == 4 else None,
    }


def _int_status(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


COUNT_KEYS = ("open", "claimed", "done", "needs_paper")


def _counts(row: dict[str, Any]) -> dict[str, int]:
    c = {k: _int_status(row.get(k)) for k in COUNT_KEYS}
    c["remaining"] = c["open"] + c["claimed"]
    return c


def _add(into: dict[str, int], counts: dict[str, int]) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def _queue_view(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """queue_summary rows (batch × book × field type) → per batch: totals, by field type, by book."""
    batches: dict[str, dict[str, Any]] = {}
    for row in summary:
        b = batches.setdefault(str(row["batch_id"]), {"batch_id": str(row["batch_id"]), "totals": {},
                                                      "types": {}, "books": {}})
        counts = _counts(row)
        _add(b["totals"], counts)
        _add(b["types"].setdefault(str(row["field_type"]), {}), counts)
        _add(b["books"].setdefault(str(row["book_ref"]), {}), counts)
    out = []
    for batch_id in sorted(batches):
        b = batches[batch_id]
        out.append({
            "batch_id": batch_id,
            "totals": b["totals"],
            "types": [{"field_type": t, "label": labels.field_type_label(t), **c}
                      for t, c in sorted(b["types"].items(), key=lambda kv: (-kv[1]["remaining"], kv[0]))],
            "books": [{"book_ref": k, **c} for k, c in sorted(b["books"].items())],
        })
    return out


def _resolve_action(action: str, value: str, item: Any) -> str:
    """``auto`` (what Enter sends): accept when the value is the proposed one, else correct. An empty
    input is a correction to blank, whether or not something was proposed: the box is blank on the paper
    (what the hint under every input says)."""
    if action != "auto":
        return action
    proposed = (item.proposed_value or "").strip()
    return "accept" if proposed and value.strip() == proposed else "correct"


# --- the application ----------------------------------------------------------------
def create_app(*, database_url: str | None = None, storage_root: str | None = None,
               secret: str | None = None, https_only: bool = False,
               forwarded_allow_ips: str | None = None) -> FastAPI:
    """The console as an ASGI app; every default comes from ``pipelines.settings``."""
    settings = get_settings()
    engine: Engine = db.database(database_url or settings.database)
    storage = Storage(storage_root or settings.storage_root)
    secret = secret or settings.session_secret or console_key(settings.home_abs)
    ttl_s = int(settings.review_claim_ttl_s)
    sessions = auth.SessionPolicy.from_settings()
    trusted_proxies = forwarded_allow_ips if forwarded_allow_ips is not None else settings.forwarded_allow_ips
    limiter = LoginLimiter()  # per user name
    address_limiter = LoginLimiter(max_failures=LOGIN_MAX_FAILURES_PER_ADDRESS)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(roles=labels.roles(), coverage_roles=coverage_view.ROLES)
    templates.env.filters.update(vi_int=coverage_view.fmt_int, vi_pct=coverage_view.fmt_pct)

    # --- request helpers (closures over this app's engine) ----------------------------
    def load_user(request: Request) -> Any | None:
        """The user of this request's live session (looked up once per request), else None. A cookie
        whose session ended (logout, expiry, password change, deactivation) is emptied."""
        if hasattr(request.state, "hocba_user"):
            return request.state.hocba_user
        sid = request.session.get("sid")
        user = auth.session_user(engine, sid, sessions) if sid is not None else None
        if user is None and sid is not None:
            request.session.clear()  # and with it the CSRF token of the ended session
        request.state.hocba_user = user
        return user

    def current_user(request: Request) -> Any:
        user = load_user(request)
        if user is None:
            raise LoginRequired()
        return user

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    async def csrf_protect(request: Request) -> None:
        """Every POST carries the session's token: header X-CSRF-Token or form field csrf_token."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        expected = request.session.get("csrf")
        sent = request.headers.get("x-csrf-token")
        ctype = request.headers.get("content-type", "")
        if sent is None and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            v = form.get("csrf_token")
            sent = v if isinstance(v, str) else None
        if not expected or not sent or not secrets.compare_digest(str(expected), sent):
            raise CsrfRejected()

    async def form_data(request: Request) -> FormData:
        """The posted form, as the console's pages send it: URL-encoded UTF-8, no field over
        MAX_FORM_VALUE characters. Starlette decodes bytes that are not UTF-8 as U+FFFD (and a multipart
        part as Latin-1, silently): both are refused here rather than stored or shown."""
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise BadRequest("Dữ liệu gửi lên không phải biểu mẫu của bảng duyệt.")
        form = await request.form()
        for _, v in form.multi_items():
            if not isinstance(v, str) or len(v) > MAX_FORM_VALUE:
                limit = f"{MAX_FORM_VALUE:_}".replace("_", ".")  # Vietnamese groups thousands with dots
                raise BadRequest(f"Một trường của biểu mẫu quá dài (tối đa {limit} ký tự).")
            if "\ufffd" in v:
                raise BadRequest("Dữ liệu gửi lên không phải văn bản UTF-8 hợp lệ.")
        return form

    CurrentUser = Annotated[Any, Depends(current_user)]
    PostedForm = Annotated[FormData, Depends(form_data)]

    def render(request: Request, name: str, user: Any | None = None, status_code: int = 200,
               headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
        ctx.update(user=user, csrf_token=csrf_token(request), flash=request.session.pop("flash", None))
        return templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def error_response(request: Request, status: int, error: str, message: str,
                       headers: dict[str, str] | None = None, **extra: Any) -> Response:
        if wants_json(request):
            return JSONResponse({"error": error, "message": message, **extra}, status_code=status,
                                headers=headers)
        return render(request, "error.html", load_user(request), status_code=status, status=status,
                      message=message, headers=headers)

    def flash(request: Request, message: str) -> None:
        request.session["flash"] = message

    app = FastAPI(title="hocba — bảng duyệt", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_protect)])
    app.state.engine = engine
    app.state.storage = storage
    app.state.limiter = limiter
    app.state.address_limiter = address_limiter
    # Outermost last: the client's address first, headers wrap everything, the session wraps the routes.
    # The cookie only carries the session's token (and the CSRF token, a flash message): whether the
    # session lives is the database's answer (load_user), so re-signing the cookie extends nothing.
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=sessions.lifetime_s, same_site="lax", https_only=https_only)
    app.add_middleware(SecurityHeadersMiddleware)
    # X-Forwarded-For / -Proto believed from these proxies only (uvicorn's middleware, as `hocba serve`
    # also passes the setting to uvicorn; applying it twice changes nothing).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # --- error mapping ------------------------------------------------------------------
    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if wants_json(request):
            return JSONResponse({"error": "unauthenticated", "message": "Cần đăng nhập."}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        return error_response(request, 403, "csrf", "Phiên làm việc đã hết hạn hoặc yêu cầu không hợp lệ. "
                              "Hãy tải lại trang rồi thử lại.")

    @app.exception_handler(TooManyLogins)
    async def _too_many(request: Request, exc: TooManyLogins) -> Response:
        minutes = max(1, round(exc.retry_after_s / 60))
        message = f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau khoảng {minutes} phút."
        headers = {"Retry-After": str(exc.retry_after_s)}
        if wants_json(request):
            return error_response(request, 429, "rate_limited", message, headers=headers)
        return render(request, "login.html", None, status_code=429, headers=headers, error=message,
                      username=exc.username, next_url=exc.next_url)

    @app.exception_handler(BadRequest)
    async def _bad(request: Request, exc: BadRequest) -> Response:
        return error_response(request, 400, "bad_request", exc.message_vi)

    async def _review_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ReviewError)
        status, error = next(HTTP_STATUS[c] for c in type(exc).__mro__ if c in HTTP_STATUS)
        extra = ({"code": exc.code, "field_id": exc.field_id, "suggestion": exc.suggestion}
                 if isinstance(exc, InvalidValue) else {})
        return error_response(request, status, error, _message_vi(exc), **extra)

    for error_class in HTTP_STATUS:
        app.add_exception_handler(error_class, _review_error)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # Pydantic's own messages are English and carry the input: only the names of the parts at fault.
        fields = _invalid_fields(exc)
        message = "Yêu cầu không hợp lệ" + (f" (sai hoặc thiếu: {', '.join(fields)})." if fields else ".")
        if wants_json(request):
            return error_response(request, 422, "bad_request", message, fields=fields)
        return error_response(request, 400, "bad_request", message)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        """Anything unexpected: a Vietnamese 500 with the security headers, nothing of the request in it.

        Starlette answers these outside every middleware (SecurityHeadersMiddleware included), so the
        headers are set here; the exception is raised on afterwards and logged by the server."""
        message = "Lỗi máy chủ: yêu cầu chưa được thực hiện. Hãy thử lại sau, hoặc báo quản trị viên."
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
        if wants_json(request):
            return JSONResponse({"error": "internal", "message": message}, status_code=500, headers=headers)
        try:
            return templates.TemplateResponse(request, "error.html", {
                "user": None, "csrf_token": "", "flash": None, "status": 500, "message": message},
                status_code=500, headers=headers)
        except Exception:  # the page itself fails: plain words, still Vietnamese
            return HTMLResponse(f'<!doctype html><html lang="vi"><meta charset="utf-8"><title>Lỗi 500</title>'
                                f"<p>{message}</p></html>", status_code=500, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "Không có trang này.", 405: "Thao tác không được hỗ trợ."}.get(
            exc.status_code, "Yêu cầu không hợp lệ.")
        return error_response(request, exc.status_code, "http", message)

    # --- public pages: no session needed ----------------------------------------------
    # Everything on `public` is reachable without logging in. The public verification
    # page of issued records (a later issue: e.g. GET /verify/{record_id}, no personal
    # data beyond what the record's holder shows) belongs here, on this router.
    public = APIRouter()

    @public.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        if load_user(request) is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        return render(request, "login.html", None, next_url=_safe_next(next), username="")

    @public.post("/login", response_class=HTMLResponse)
    def login(request: Request, form: PostedForm) -> Response:
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        next_url = _safe_next(str(form.get("next") or "/"))
        shown = username if auth.is_username(username) else ""  # the form keeps a plausible name only
        # Two counts: the name, from any address (many addresses on one name), and the address, on any
        # name (one password sprayed over many names). The address is the proxy's word only for the
        # proxies in forwarded_allow_ips (ProxyHeadersMiddleware), so a made-up header changes nothing.
        name_key = auth.normalize_username(username)[:auth.MAX_USERNAME]
        addr_key = client_key(request.client.host if request.client else None)
        wait = max(limiter.retry_after(name_key), address_limiter.retry_after(addr_key))
        if wait:  # checked before the password: a blocked guesser learns nothing
            raise TooManyLogins(wait, shown, next_url)
        user = auth.authenticate(engine, username, password) if username and password else None
        if user is None:
            limiter.failed(name_key)
            address_limiter.failed(addr_key)
            wait = max(limiter.retry_after(name_key), address_limiter.retry_after(addr_key))
            if wait:
                log.info("login limited: address=%s", addr_key)
                raise TooManyLogins(wait, shown, next_url)
            return render(request, "login.html", None, status_code=401, next_url=next_url,
                          username=shown, error="Sai tên đăng nhập hoặc mật khẩu.")
        limiter.succeeded(name_key)
        # A fresh session on login: this browser's old one ends, nothing from before survives in the
        # cookie, a new CSRF token. The cookie carries the session's token; the database its hash.
        auth.end_session(engine, request.session.get("sid"))
        request.session.clear()
        request.session.update(sid=auth.start_session(engine, user, sessions), csrf=secrets.token_urlsafe(32))
        return RedirectResponse(next_url, status_code=303)

    @public.post("/logout")
    def logout(request: Request) -> Response:
        # The session ends in the database: a copy of the cookie is worth nothing from now on.
        auth.end_session(engine, request.session.get("sid"))
        request.session.clear()
        flash(request, "Đã đăng xuất.")
        return RedirectResponse("/login", status_code=303)

    # --- the console: every route needs a session -------------------------------------
    console = APIRouter(dependencies=[Depends(current_user)])

    directory = BookDirectory(storage)

    class PaperForbidden(Exception):
        """The needs-paper list and reopening are for the data team and admins only."""

    @app.exception_handler(PaperForbidden)
    async def _paper_forbidden(request: Request, exc: Exception) -> Response:
        return error_response(request, 403, "forbidden", "Chỉ nhóm dữ liệu và quản trị viên được xử lý sổ "
                              "giấy và mở lại trường đã duyệt.")

    def require_paper_role(user: Any) -> None:
        if user.role not in store.PAPER_ROLES:
            raise PaperForbidden()

    def progress(user: Any, nav: Nav | None = None) -> str:
        """"còn 1.569 ô · hôm nay bạn đã duyệt 120", in the part of the queue ``nav`` names."""
        return pages.progress_words(store.progress(engine, user, since=pages.start_of_day(),
                                                   **(nav.store_args() if nav else {})))

    def undo_view(user: Any, raw: Any) -> dict[str, Any] | None:
        """The item ``raw`` names, if the user may still take back its "needs the paper book"."""
        try:
            it = store.get_item(engine, user, int(str(raw)))
        except (ValueError, NotFound, Forbidden):
            return None
        if it.status != "needs_paper" or it.resolved_by != user.id:
            return None
        accepted = directory.accepted_at(it.batch_id)
        if accepted is not None and it.resolved_at is not None and accepted >= it.resolved_at:
            return None
        return {"id": it.id, "label": labels.field_label(it.template_id, it.field_id),
                "student": pages.student_label(directory.batch(it.batch_id), it.book_ref)}

    def to_item(item_id: int, nav: Nav, **extra: str) -> Response:
        return RedirectResponse(f"/items/{item_id}{nav.query(**extra)}", status_code=303)

    def next_item(request: Request, user: Any, nav: Nav, *, passed: int | None = None,
                  undo: int | None = None) -> Response:
        """Claim the reviewer's next field (their own open claim first) and open it; in group mode, back
        to the group; the queue when nothing is left. ``undo``: a field just sent to the paper book, offered
        for undo on the next page; ``passed``: the field just skipped."""
        extra = {"undo": str(undo)} if undo else {}
        if nav.mode == "group":
            return RedirectResponse(f"/group{nav.query(**extra)}", status_code=303)
        item = store.claim_next(engine, user, ttl_s=ttl_s, resume=True, **nav.store_args())
        if item is None:
            flash(request, f"Không còn trường nào cần duyệt ({nav.describe()}).")
            return RedirectResponse("/" + (f"?{urlencode(extra)}" if extra else ""), status_code=303)
        if passed is not None and item.id == passed:
            flash(request, "Chỉ còn trường này trong phần bạn đang duyệt.")
        return to_item(item.id, nav, **extra)

    @console.get("/", response_class=HTMLResponse)
    def queue(request: Request, user: CurrentUser) -> Response:
        batches = pages.queue_batches(_queue_view(store.queue_summary(engine, user)), directory)
        paper = sum(b["totals"].get("needs_paper", 0) for b in batches)
        return render(request, "queue.html", user, batches=batches, progress=progress(user),
                      paper=paper if user.role in store.PAPER_ROLES else None,
                      undo=undo_view(user, request.query_params.get("undo")))

    @console.get("/review/next", response_class=HTMLResponse)
    def review_next_page(request: Request, user: CurrentUser) -> Response:
        """A GET never claims (a link on another site must not): this page offers the claim, on Enter."""
        nav = Nav.of(request.query_params)
        return render(request, "start.html", user, nav=nav, progress=progress(user, nav))

    @console.post("/review/next")
    def review_next(request: Request, user: CurrentUser, form: PostedForm) -> Response:
        return next_item(request, user, Nav.of(form))

    def item_page(request: Request, user: Any, item: Any, nav: Nav, *, status_code: int = 200,
                  error: str | None = None, typed: str | None = None, suggestion: str | None = None,
                  editable: bool | None = None, confirm_paper: bool = False, undo: Any = None) -> Response:
        view = _item_view(item, user)
        if suggestion and suggestion not in view["candidates"]:  # "did you mean 8,5?" as a candidate
            view["candidates"].insert(0, suggestion)
        now = db.utcnow()
        live = item.claimed_until is not None and item.claimed_until >= now
        blocked = None
        if item.status == "claimed" and item.claimed_by != user.id and live:
            blocked = "Trường này đang được người khác duyệt."
        elif item.status in ("open", "claimed") and item.needs_second and item.first_by == user.id:
            blocked = "Bạn đã nhập lần thứ nhất cho trường này; lần nhập thứ hai phải do người khác."
        if editable is None:  # a GET: the form only on the user's own live claim
            editable = view["claimed_by_me"] and live
        editable = bool(editable) and blocked is None
        claimable = not editable and blocked is None and item.status in ("open", "claimed")
        reopened = item.status in ("open", "claimed") and bool(store.audit(engine, item_id=item.id,
                                                                           action="reopen", limit=1))
        if typed is not None:
            value = typed
        elif reopened:  # the value it had: Enter keeps it
            value = item.final_value or ""
        else:
            value = item.proposed_value or ""
        book_items = store.list_items(engine, user, batch_id=item.batch_id, book_ref=item.book_ref,
                                      status=None, limit=None)
        return render(request, "item.html", user, status_code=status_code, item=view, nav=nav,
                      value=value, error=error, editable=editable, blocked=blocked, claimable=claimable,
                      confirm_paper=confirm_paper, reopened=reopened,
                      ctx=pages.item_context(directory, item, [i.page_id for i in book_items]),
                      progress=progress(user, nav), undo=undo_view(user, undo) if undo else None,
                      own_paper=undo_view(user, item.id) if item.status == "needs_paper" else None,
                      manages=user.role in store.PAPER_ROLES)

    @console.get("/items/{item_id}", response_class=HTMLResponse)
    def item_get(request: Request, item_id: int, user: CurrentUser) -> Response:
        """The field in context, read-only unless the user holds its claim: opening it claims nothing."""
        item = store.get_item(engine, user, item_id)
        return item_page(request, user, item, Nav.of(request.query_params),
                         undo=request.query_params.get("undo"))

    @console.post("/items/{item_id}/claim")
    def item_claim(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        nav = Nav.of(form)
        # Held by another, resolved meanwhile, or the second-entry rule: the page says which.
        with contextlib.suppress(NotClaimed, SecondEntryByOther):
            store.claim(engine, user, item_id, ttl_s=ttl_s)
        return to_item(item_id, nav)

    @console.post("/items/{item_id}", response_class=HTMLResponse)
    def item_post(request: Request, item_id: int, user: CurrentUser,
                  form: PostedForm) -> Response:
        nav = Nav.of(form)
        action = str(form.get("action") or "auto")
        value = str(form.get("value") or "")
        if action not in ("auto", "accept", "correct", "illegible"):
            raise BadRequest("Thao tác không hợp lệ.")
        item = store.get_item(engine, user, item_id)
        if action == "illegible" and form.get("confirm") != "1":
            # One keystroke must not hold a student's book back: the paper book only once confirmed.
            return item_page(request, user, item, nav, editable=True, typed=value, confirm_paper=True)
        action = _resolve_action(action, value, item)
        try:
            store.submit(engine, user, item_id, action=action,
                         value=value if action == "correct" else None)
        except InvalidValue as exc:
            return item_page(request, user, item, nav, status_code=422, error=_message_vi(exc),
                             typed=_retyped(exc, value), suggestion=getattr(exc, "suggestion", None),
                             editable=True)
        return next_item(request, user, nav, undo=item_id if action == "illegible" else None)

    @console.post("/items/{item_id}/skip")
    def item_skip(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        """Esc: pass over the field (released, to the back of this reviewer's queue) and open the next."""
        nav = Nav.of(form)
        with contextlib.suppress(NotClaimed):  # resolved or taken meanwhile: nothing to pass over
            store.skip(engine, user, item_id)
        return next_item(request, user, nav, passed=item_id)

    @console.post("/items/{item_id}/release")
    def item_release(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        """Give the claim back: the "về hàng đợi" link, and review.js when the page is left (pagehide)."""
        with contextlib.suppress(NotClaimed):  # someone else holds it now: nothing of ours to give back
            store.release(engine, user, item_id)
        nav = Nav.of(form)
        return RedirectResponse(f"/group{nav.query()}" if nav.mode == "group" else "/", status_code=303)

    @console.post("/items/{item_id}/undo-paper")
    def item_undo_paper(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        item = store.get_item(engine, user, item_id)
        store.undo_paper(engine, user, item_id, batch_accepted_at=directory.accepted_at(item.batch_id),
                         ttl_s=ttl_s)
        flash(request, "Đã hoàn tác: trường trở lại để bạn duyệt.")
        return to_item(item_id, Nav.of(form))

    @console.post("/items/{item_id}/reopen")
    def item_reopen(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        require_paper_role(user)
        store.reopen(engine, user, item_id, reason=str(form.get("reason") or "").strip()[:500], ttl_s=ttl_s)
        flash(request, "Đã mở lại trường: sửa giá trị rồi bấm Enter để lưu.")
        return to_item(item_id, Nav.of(form))

    def image(item_id: int, user: Any, which: Literal["crop", "page"]) -> Response:
        item = store.get_item(engine, user, item_id)
        rel = item.crop_uri if which == "crop" else item.page_image_uri
        return png(rel, f"item {item_id} has no {which} image")

    def png(rel: str | None, missing: str) -> Response:
        if not rel or not storage.exists(rel):
            raise NotFound(missing)
        return Response(storage.read_bytes(rel), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=600"})

    @console.get("/items/{item_id}/crop")
    def item_crop(item_id: int, user: CurrentUser) -> Response:
        return image(item_id, user, "crop")

    @console.get("/items/{item_id}/page")
    def item_page_image(item_id: int, user: CurrentUser) -> Response:
        return image(item_id, user, "page")

    # --- books: search, a book's pages and fields --------------------------------------------------
    @console.get("/search", response_class=HTMLResponse)
    def search(request: Request, user: CurrentUser) -> Response:
        """Books in the user's scope by student name, identifier or book label."""
        q = str(request.query_params.get("q") or "").strip()[:100]
        hits: list[dict[str, Any]] = []
        if q:
            by_batch: dict[str, dict[str, dict[str, int]]] = {}
            for row in store.queue_summary(engine, user):
                _add(by_batch.setdefault(str(row["batch_id"]), {}).setdefault(str(row["book_ref"]), {}),
                     _counts(row))
            for batch_id, books_of in sorted(by_batch.items()):
                info = directory.batch(batch_id)
                for ref in directory.matches(q, batch_id, sorted(books_of)):
                    hits.append({"batch_id": batch_id, "book_ref": ref, **books_of[ref],
                                 "student": info.book(ref).student_name,
                                 "school": pages.school_label(info.school, info.school_name),
                                 "url": pages.book_url(batch_id, ref)})
                    if len(hits) >= 100:
                        break
        return render(request, "search.html", user, q=q, hits=hits[:100])

    def book_items(user: Any, batch: str, book: str) -> list[Any]:
        items = store.list_items(engine, user, batch_id=batch, book_ref=book, status=None, limit=None)
        if not items:  # no such book, or outside the user's scope: the same answer
            raise NotFound(f"book {book!r} of batch {batch!r}")
        return items

    @console.get("/book", response_class=HTMLResponse)
    def book_page(request: Request, user: CurrentUser) -> Response:
        batch = str(request.query_params.get("batch") or "")
        book = str(request.query_params.get("book") or "")
        items = book_items(user, batch, book)
        info = directory.batch(batch)
        book_pages = pages.book_pages(info, book, [i.page_id for i in items], items[0].page_id)
        fields: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            fields.setdefault(it.page_id, []).append({
                "id": it.id, "label": labels.field_label(it.template_id, it.field_id),
                "status": it.status, "status_label": labels.status_label(it.status),
                "value": it.final_value})
        return render(request, "book.html", user, batch_id=batch, book_ref=book, pages=book_pages,
                      fields=fields, student=info.book(book).student_name,
                      school=pages.school_label(info.school, info.school_name),
                      remaining=sum(1 for i in items if i.status in ("open", "claimed")))

    @console.get("/book/page")
    def book_page_image(request: Request, user: CurrentUser) -> Response:
        """A page of a book with flagged fields in the user's scope, flagged itself or not."""
        batch = str(request.query_params.get("batch") or "")
        page_id = str(request.query_params.get("page") or "")
        on_page = store.list_items(engine, user, batch_id=batch, page_id=page_id, status=None, limit=1)
        if on_page:
            return png(on_page[0].page_image_uri, f"page {page_id}")
        known = next((p for b in directory.batch(batch).books.values() for p in b.pages
                      if p.page_id == page_id), None)
        if known is None or not store.list_items(engine, user, batch_id=batch, status=None, limit=1):
            raise NotFound(f"page {page_id}")
        return png(known.image_uri, f"page {page_id}")

    # --- the paper book: the data team's list, resolved from the paper --------------------------
    def paper_page(request: Request, user: Any, *, status_code: int = 200,
                   errors: dict[int, str] | None = None, typed: dict[int, str] | None = None) -> Response:
        rows = []
        for it in store.list_items(engine, user, status="needs_paper", limit=500):
            info = directory.batch(it.batch_id)
            rows.append({
                "id": it.id, "school": pages.school_label(it.school, info.school_name),
                "student": pages.student_label(info, it.book_ref),
                "where": pages.page_words(info, it.book_ref, it.page_id),
                "label": labels.field_label(it.template_id, it.field_id),
                "raw_text": it.raw_text, "proposed_value": it.proposed_value,
                "crop_url": f"/items/{it.id}/crop" if it.crop_uri else None,
                "book_url": pages.book_url(it.batch_id, it.book_ref),
                "hint": labels.field_type_hint(it.field_type, it.vocabulary),
            })
        return render(request, "paper.html", user, status_code=status_code, rows=rows, errors=errors or {},
                      typed=typed or {})

    @console.get("/paper", response_class=HTMLResponse)
    def paper_list(request: Request, user: CurrentUser) -> Response:
        require_paper_role(user)
        return paper_page(request, user)

    @console.post("/paper/{item_id}", response_class=HTMLResponse)
    def paper_resolve(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        require_paper_role(user)
        not_on_paper = form.get("not_on_paper") == "1"
        value = str(form.get("value") or "")
        try:
            item = store.resolve_paper(engine, user, item_id, value=None if not_on_paper else value)
        except InvalidValue as exc:
            return paper_page(request, user, status_code=422, errors={item_id: _message_vi(exc)},
                              typed={} if _retyped(exc, value) is None else {item_id: value})
        label = labels.field_label(item.template_id, item.field_id)
        flash(request, f"Đã lưu kết quả xem sổ giấy: {label} — "
                       + ("không có trên sổ." if item.final_value is None else f"{item.final_value}."))
        return RedirectResponse("/paper", status_code=303)

    # --- group verification -------------------------------------------------------------
    def claim_group(user: Any, nav: Nav) -> list[Any]:
        """Up to GROUP_SIZE items of the group claimed for this user, their own open claims first, then
        in their queue order (claim_next); ones others hold are left alone."""
        claimed: list[Any] = []
        while len(claimed) < GROUP_SIZE:
            it = store.claim_next(engine, user, ttl_s=ttl_s, resume=True, skip=[c.id for c in claimed],
                                  **nav.store_args())
            if it is None:
                break
            claimed.append(it)
        return claimed

    def group_page(request: Request, user: Any, nav: Nav, items: list[Any], *, status_code: int = 200,
                   errors: dict[int, str] | None = None, typed: dict[int, str] | None = None,
                   saved: int = 0) -> Response:
        views = [_item_view(it, user) for it in items]
        typed = typed or {}
        for v in views:
            v["value"] = typed.get(v["id"], v["proposed_value"] or "")
        return render(request, "group.html", user, status_code=status_code, nav=nav, items=views,
                      errors=errors or {}, saved=saved, progress=progress(user, nav),
                      undo=undo_view(user, request.query_params.get("undo")))

    @console.get("/group", response_class=HTMLResponse)
    def group_get(request: Request, user: CurrentUser) -> Response:
        """The user's own claims in the group; claiming more is a POST (/group/claim)."""
        nav = Nav.of(request.query_params)
        return group_page(request, user, nav, store.list_items(engine, user, held_by_me=True,
                                                                limit=GROUP_SIZE, **nav.store_args()))

    @console.post("/group/claim")
    def group_claim(request: Request, user: CurrentUser, form: PostedForm) -> Response:
        nav = Nav.of(form)
        if not claim_group(user, nav):
            flash(request, f"Không còn trường nào cần duyệt ({nav.describe()}).")
        return RedirectResponse(f"/group{nav.query()}", status_code=303)

    @console.post("/group", response_class=HTMLResponse)
    def group_post(request: Request, user: CurrentUser,
                   form: PostedForm) -> Response:
        """One form for the group: unchanged values are accepted, changed ones corrected, emptied ones saved
        as blank on the paper, ticked ones marked illegible; the ones that fail come back with their
        messages. Then the next group is claimed."""
        nav = Nav.of(form)
        ids = _ids(form.getlist("item"))
        illegible = set(_ids(form.getlist("illegible")))
        errors: dict[int, str] = {}
        typed: dict[int, str] = {}
        failed: list[Any] = []
        saved = 0
        for item_id in ids:
            item = store.get_item(engine, user, item_id)
            value = str(form.get(f"value_{item_id}") or "")
            action = "illegible" if item_id in illegible else _resolve_action("auto", value, item)
            try:
                store.submit(engine, user, item_id, action=action,
                             value=value if action == "correct" else None)
                saved += 1
            except AlreadyResolved:  # finished meanwhile (e.g. by Enter on its card): nothing to do
                continue
            except InvalidValue as exc:
                hint = getattr(exc, "suggestion", None)
                errors[item_id] = _message_vi(exc) + (f" Có phải là {hint}?" if hint else "")
                if _retyped(exc, value) is not None:
                    typed[item_id] = value
                failed.append(item)
            except NotClaimed:
                errors[item_id] = "Trường này đang được người khác duyệt; đã bỏ qua."
                typed[item_id] = value
                failed.append(item)
        if errors:
            return group_page(request, user, nav, failed, status_code=422, errors=errors, typed=typed,
                              saved=saved)
        flash(request, f"Đã lưu {saved} trường."
              + ("" if claim_group(user, nav) else f" Không còn trường nào cần duyệt ({nav.describe()})."))
        return RedirectResponse(f"/group{nav.query()}", status_code=303)

    @console.post("/group/release")
    def group_release(request: Request, user: CurrentUser,
                      form: PostedForm) -> Response:
        for item_id in _ids(form.getlist("item")):
            try:
                store.release(engine, user, item_id)
            except (NotClaimed, NotFound, Forbidden):
                continue
        return RedirectResponse("/", status_code=303)

    # --- digitization progress (data team, admin): the coverage tables in the user's scope ----------
    def coverage_request(request: Request, user: Any) -> tuple[Any, coverage_view.Filters]:
        if user.role not in coverage_view.ROLES:
            raise CoverageForbidden()
        try:
            filters = coverage_view.Filters.parse(request.query_params)
        except ValueError as exc:
            raise BadRequest("Bộ lọc không hợp lệ.") from exc
        return load_coverage(storage), filters

    @app.exception_handler(CoverageForbidden)
    async def _coverage_forbidden(request: Request, exc: Exception) -> Response:
        return error_response(request, 403, "forbidden", labels.COVERAGE_FORBIDDEN)

    @console.get("/coverage", response_class=HTMLResponse)
    def coverage(request: Request, user: CurrentUser) -> Response:
        tables, filters = coverage_request(request, user)
        page = coverage_view.build(tables, store.user_scope(user), filters)
        return render(request, "coverage.html", user, page=page, empty_text=labels.COVERAGE_EMPTY)

    @console.get("/coverage.csv")
    def coverage_csv(request: Request, user: CurrentUser) -> Response:
        tables, filters = coverage_request(request, user)
        scope = store.user_scope(user)
        name = coverage_view.csv_filename(scope, tables.as_of)
        return Response(coverage_view.csv_bytes(tables, scope, filters), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # --- JSON API (tests and review.js) -------------------------------------------------
    api = APIRouter(prefix="/api", dependencies=[Depends(current_user)])

    @api.get("/batches")
    def api_batches(user: CurrentUser) -> list[dict[str, Any]]:
        """Counts per batch within the user's scope: open, claimed, done, needs_paper, remaining."""
        return [{"batch_id": b["batch_id"], **b["totals"]}
                for b in _queue_view(store.queue_summary(engine, user))]

    @api.get("/items/{item_id}")
    def api_item(item_id: int, user: CurrentUser) -> dict[str, Any]:
        return _item_view(store.get_item(engine, user, item_id), user)

    @api.post("/items/{item_id}")
    def api_submit(item_id: int, body: SubmitBody, user: CurrentUser) -> Any:
        """Same as the item form: accept | correct (with value; empty: blank on the paper) | illegible
        (with ``confirm: true``) | auto."""
        item = store.get_item(engine, user, item_id)
        if body.action == "illegible" and not body.confirm:
            return JSONResponse({"error": "confirm_required", "message": "Cần xác nhận trước khi chuyển "
                                 "trường sang danh sách cần xem sổ giấy."}, status_code=422)
        value = body.value or ""
        action = _resolve_action(body.action, value, item)
        saved = store.submit(engine, user, item_id, action=action,
                             value=value if action == "correct" else None)
        return _item_view(saved, user)

    @api.post("/items/{item_id}/undo-paper")
    def api_undo_paper(item_id: int, user: CurrentUser) -> dict[str, Any]:
        """Take back one's own "needs the paper book" (group mode's undo): the item is claimed again."""
        item = store.get_item(engine, user, item_id)
        saved = store.undo_paper(engine, user, item_id, ttl_s=ttl_s,
                                 batch_accepted_at=directory.accepted_at(item.batch_id))
        return _item_view(saved, user)

    app.include_router(public)
    app.include_router(console)
    app.include_router(api)
    return app


class SubmitBody(BaseModel):
    action: Literal["auto", "accept", "correct", "illegible"]
    value: str | None = None
    confirm: bool = False
    """``illegible`` only: the reviewer confirmed sending the field to the paper book."""


def _invalid_fields(exc: RequestValidationError) -> list[str]:
    """The names of the request parts a validation error is about (``action``, ``item_id``): the model's
    and the route's own names only, never what was sent."""
    out: list[str] = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if isinstance(p, str) and p not in ("body", "query", "path")]
        name = ".".join(loc)
        if name and re.fullmatch(r"[a-z_][a-z0-9_.]{0,63}", name) and name not in out:
            out.append(name)
    return out


def _retyped(exc: Exception, value: str) -> str | None:
    """What the input shows again after a refused value: the value as typed, so it can be fixed, unless
    it was refused for its length or for invisible characters (None: the proposed value instead)."""
    return None if getattr(exc, "code", None) in ("too_long", "invisible_character") else value


def _message_vi(exc: Exception) -> str:
    return str(getattr(exc, "message_vi", None) or "Giá trị không hợp lệ.")


def _ids(values: list[Any]) -> list[int]:
    out: list[int] = []
    for v in values:
        try:
            out.append(int(str(v)))
        except ValueError as exc:
            raise BadRequest("Mã trường không hợp lệ.") from exc
    return list(dict.fromkeys(out))


def _safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no //host): no open redirect after login. Browsers drop
    tabs and newlines from URLs (slash, tab, slash is //), so any whitespace or control character fails."""
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target)):
        return "/"
    return target


__all__ = ["LoginLimiter", "console_key", "create_app"]
