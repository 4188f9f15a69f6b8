"""The reviewers' web console: school staff correct the fields the pipeline flagged.

Server-rendered Vietnamese pages (FastAPI + Jinja2) with a little plain JS for
the keyboard, modelled on the verification station of form-capture products:
a queue of flagged fields by batch, book and field type; field verification in
context (crop, the page around it, reasons, candidates, one input); and group
verification (many fields of one type side by side). Every rule about who may
see or change an item lives in ``store``; this module maps its errors to HTTP
statuses (Forbidden→403, NotFound→404, NotClaimed→409, InvalidValue→422) and
adds the web's own defences: signed session cookies, a CSRF token on every
POST, a login rate limit and strict security headers. Nothing here logs field
values or names: only ids.
"""

import contextlib
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
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

from pipelines.coverage.tables import load_coverage
from pipelines.review import auth, coverage_view, db, labels, store
from pipelines.review.errors import AlreadyResolved, Forbidden, InvalidValue, NotClaimed, NotFound
from pipelines.settings import get_settings
from pipelines.storage import Storage

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "hocba_console"
SESSION_MAX_AGE_S = 8 * 3600  # sliding: the cookie is re-signed on every response
GROUP_SIZE = 24
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 300

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
    """Failed logins per (username, client address) in a sliding window.

    In memory, per process: enough for the single console process ``hocba serve``
    runs; a restart forgets the counts. Several processes behind a balancer would
    need a shared store (the database) instead.
    """

    def __init__(self, max_failures: int = LOGIN_MAX_FAILURES, window_s: int = LOGIN_WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, key: tuple[str, str]) -> int:
        """Seconds until the next try is allowed; 0 when it is allowed now."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now)
            if len(q) < self.max_failures:
                if not q:
                    self._failures.pop(key, None)
                return 0
            return max(1, int(q[0] + self.window_s - now) + 1)

    def failed(self, key: tuple[str, str]) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[key].append(now)
            if len(self._failures) > 10_000:  # names sprayed by a guesser: drop the stale ones
                for k in [k for k, q in self._failures.items() if q[-1] <= now - self.window_s]:
                    del self._failures[k]

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


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
        def get(name: str) -> str:
            v = source.get(name) if source is not None else None
            return str(v).strip()[:200] if v else ""

        return cls(get("batch"), get("field_type"), get("book"), "group" if get("mode") == "group" else "")

    def query(self, **extra: str) -> str:
        q = {k: v for k, v in (("batch", self.batch), ("field_type", self.field_type), ("book", self.book),
                               ("mode", self.mode)) if v}
        q.update(extra)
        return f"?{urlencode(q)}" if q else ""

    def after(self) -> str:
        """Where a reviewer goes once a field is done: its group, or the next field in context."""
        return f"/group{self.query()}" if self.mode == "group" else f"/review/next{self.query()}"

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
        "hint": labels.FIELD_TYPE_HINTS.get(item.field_type, ""),
        "raw_text": item.raw_text,
        "proposed_value": item.proposed_value,
        "confidence": float(item.confidence),
        "reasons": [{"code": c, "label": labels.reason_label(c)} for c in (item.reasons or [])],
        "candidates": list(item.candidates or []),
        "status": item.status,
        "status_label": labels.STATUSES.get(item.status, item.status),
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
    """``auto`` (what Enter sends): accept when the value is the proposed one, else correct. An emptied
    input over a proposal corrects to blank (the box is blank on the paper); an empty input with nothing
    proposed is an accept, which the store refuses with "nothing proposed: type the value"."""
    if action != "auto":
        return action
    proposed = (item.proposed_value or "").strip()
    if not proposed and not value.strip():
        return "accept"
    return "accept" if proposed and value.strip() == proposed else "correct"


# --- the application ----------------------------------------------------------------
def create_app(*, database_url: str | None = None, storage_root: str | None = None,
               secret: str | None = None, https_only: bool = False) -> FastAPI:
    """The console as an ASGI app; every default comes from ``pipelines.settings``."""
    settings = get_settings()
    engine: Engine = db.database(database_url or settings.database)
    storage = Storage(storage_root or settings.storage_root)
    secret = secret or settings.session_secret or console_key(settings.home_abs)
    ttl_s = int(settings.review_claim_ttl_s)
    limiter = LoginLimiter()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(roles=labels.ROLES, coverage_roles=coverage_view.ROLES)
    templates.env.filters.update(vi_int=coverage_view.fmt_int, vi_pct=coverage_view.fmt_pct)

    # --- request helpers (closures over this app's engine) ----------------------------
    def load_user(request: Request) -> Any | None:
        uid = request.session.get("uid")
        if not isinstance(uid, int):
            return None
        user = auth.get_user(engine, uid)
        if user is None or not user.active:  # deactivated since login: the session ends
            request.session.clear()
            return None
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
        return await request.form()

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
    # Outermost last: headers wrap everything, the session wraps the routes.
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=https_only)
    app.add_middleware(SecurityHeadersMiddleware)
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

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Exception) -> Response:
        return error_response(request, 403, "forbidden", "Bạn không có quyền với trường này "
                              "(ngoài phạm vi quận/huyện hoặc trường được giao).")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, 404, "not_found", "Không tìm thấy trường này.")

    @app.exception_handler(NotClaimed)
    async def _not_claimed(request: Request, exc: Exception) -> Response:
        return error_response(request, 409, "claimed_by_other", "Trường này đang được người khác duyệt. "
                              "Hãy chọn trường khác trong hàng đợi.")

    @app.exception_handler(AlreadyResolved)
    async def _resolved(request: Request, exc: Exception) -> Response:
        return error_response(request, 409, "already_resolved", "Trường này đã được duyệt xong.")

    @app.exception_handler(InvalidValue)
    async def _invalid(request: Request, exc: Exception) -> Response:
        return error_response(request, 422, "invalid_value", _message_vi(exc),
                              code=getattr(exc, "code", None), field_id=getattr(exc, "field_id", None),
                              suggestion=getattr(exc, "suggestion", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            return JSONResponse({"error": "bad_request", "message": "Yêu cầu không hợp lệ.",
                                 "detail": jsonable_encoder(exc.errors())}, status_code=422)
        return error_response(request, 400, "bad_request", "Yêu cầu không hợp lệ.")

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
        username = str(form.get("username") or "").strip()[:150]
        password = str(form.get("password") or "")
        next_url = _safe_next(str(form.get("next") or "/"))
        client = request.client.host if request.client else "?"
        key = (auth.normalize_username(username), client)
        wait = limiter.retry_after(key)
        if wait:  # checked before the password: a blocked guesser learns nothing
            raise TooManyLogins(wait, username, next_url)
        user = auth.authenticate(engine, username, password) if username and password else None
        if user is None:
            limiter.failed(key)
            wait = limiter.retry_after(key)
            if wait:
                raise TooManyLogins(wait, username, next_url)
            return render(request, "login.html", None, status_code=401, next_url=next_url,
                          username=username, error="Sai tên đăng nhập hoặc mật khẩu.")
        limiter.succeeded(key)
        # A fresh session on login: nothing from before survives, a new CSRF token.
        request.session.clear()
        request.session.update(uid=user.id, csrf=secrets.token_urlsafe(32), at=int(time.time()))
        return RedirectResponse(next_url, status_code=303)

    @public.post("/logout")
    def logout(request: Request) -> Response:
        # The cookie is signed, not stored: clearing it ends this browser's session.
        request.session.clear()
        flash(request, "Đã đăng xuất.")
        return RedirectResponse("/login", status_code=303)

    # --- the console: every route needs a session -------------------------------------
    console = APIRouter(dependencies=[Depends(current_user)])

    @console.get("/", response_class=HTMLResponse)
    def queue(request: Request, user: CurrentUser) -> Response:
        batches = _queue_view(store.queue_summary(engine, user))
        return render(request, "queue.html", user, batches=batches)

    @console.get("/review/next")
    def review_next(request: Request, user: CurrentUser) -> Response:
        nav = Nav.of(request.query_params)
        item = store.claim_next(engine, user, ttl_s=ttl_s, **nav.store_args())
        if item is None:
            flash(request, f"Không còn trường nào cần duyệt ({nav.describe()}).")
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(f"/items/{item.id}{nav.query()}", status_code=303)

    def item_page(request: Request, user: Any, item: Any, nav: Nav, *, status_code: int = 200,
                  error: str | None = None, typed: str | None = None, blocked: str | None = None,
                  suggestion: str | None = None) -> Response:
        view = _item_view(item, user)
        if suggestion and suggestion not in view["candidates"]:  # "did you mean 8,5?" as a candidate
            view["candidates"].insert(0, suggestion)
        # An item open again after a failed submit (e.g. a second entry) may still be submitted.
        editable = blocked is None and (view["claimed_by_me"] or item.status == "open")
        value = typed if typed is not None else (item.proposed_value or "")
        return render(request, "item.html", user, status_code=status_code, item=view, nav=nav,
                      value=value, error=error, editable=editable, blocked=blocked)

    @console.get("/items/{item_id}", response_class=HTMLResponse)
    def item_get(request: Request, item_id: int, user: CurrentUser) -> Response:
        nav = Nav.of(request.query_params)
        item = store.get_item(engine, user, item_id)
        blocked = None
        if item.status in ("open", "claimed"):
            try:  # opening a field claims it (or renews this user's claim)
                item = store.claim(engine, user, item_id, ttl_s=ttl_s)
            except AlreadyResolved:  # resolved a moment ago: show it as it is now
                item = store.get_item(engine, user, item_id)
            except NotClaimed:
                blocked = "Trường này đang được người khác duyệt."
            except Forbidden:  # the scope was checked above: this is the second-entry rule
                blocked = "Bạn đã nhập lần thứ nhất cho trường này; lần nhập thứ hai phải do người khác."
        return item_page(request, user, item, nav, blocked=blocked)

    @console.post("/items/{item_id}", response_class=HTMLResponse)
    def item_post(request: Request, item_id: int, user: CurrentUser,
                  form: PostedForm) -> Response:
        nav = Nav.of(form)
        action = str(form.get("action") or "auto")
        value = str(form.get("value") or "")
        if action not in ("auto", "accept", "correct", "illegible"):
            raise BadRequest("Thao tác không hợp lệ.")
        item = store.get_item(engine, user, item_id)
        action = _resolve_action(action, value, item)
        try:
            store.submit(engine, user, item_id, action=action,
                         value=value if action == "correct" else None)
        except InvalidValue as exc:
            return item_page(request, user, item, nav, status_code=422, error=_message_vi(exc), typed=value,
                             suggestion=getattr(exc, "suggestion", None))
        return RedirectResponse(nav.after(), status_code=303)

    @console.post("/items/{item_id}/release")
    def item_release(request: Request, item_id: int, user: CurrentUser, form: PostedForm) -> Response:
        with contextlib.suppress(NotClaimed):  # someone else holds it now: nothing of ours to give back
            store.release(engine, user, item_id)
        nav = Nav.of(form)
        return RedirectResponse(f"/group{nav.query()}" if nav.mode == "group" else "/", status_code=303)

    def image(item_id: int, user: Any, which: Literal["crop", "page"]) -> Response:
        item = store.get_item(engine, user, item_id)
        rel = item.crop_uri if which == "crop" else item.page_image_uri
        if not rel or not storage.exists(rel):
            raise NotFound(f"item {item_id} has no {which} image")
        return Response(storage.read_bytes(rel), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=600"})

    @console.get("/items/{item_id}/crop")
    def item_crop(item_id: int, user: CurrentUser) -> Response:
        return image(item_id, user, "crop")

    @console.get("/items/{item_id}/page")
    def item_page_image(item_id: int, user: CurrentUser) -> Response:
        return image(item_id, user, "page")

    # --- group verification -------------------------------------------------------------
    def claim_group(user: Any, nav: Nav) -> list[Any]:
        """Up to GROUP_SIZE items of the group, claimed for this user; ones others hold are skipped."""
        claimed: list[Any] = []
        candidates = store.list_items(engine, user, status=("open", "claimed"), limit=GROUP_SIZE * 4,
                                      **nav.store_args())
        for it in candidates:
            if len(claimed) >= GROUP_SIZE:
                break
            try:
                claimed.append(store.claim(engine, user, it.id, ttl_s=ttl_s))
            except (NotClaimed, Forbidden, NotFound):
                continue
        return claimed

    def group_page(request: Request, user: Any, nav: Nav, items: list[Any], *, status_code: int = 200,
                   errors: dict[int, str] | None = None, typed: dict[int, str] | None = None,
                   saved: int = 0) -> Response:
        views = [_item_view(it, user) for it in items]
        typed = typed or {}
        for v in views:
            v["value"] = typed.get(v["id"], v["proposed_value"] or "")
        return render(request, "group.html", user, status_code=status_code, nav=nav, items=views,
                      errors=errors or {}, saved=saved)

    @console.get("/group", response_class=HTMLResponse)
    def group_get(request: Request, user: CurrentUser) -> Response:
        nav = Nav.of(request.query_params)
        return group_page(request, user, nav, claim_group(user, nav))

    @console.post("/group", response_class=HTMLResponse)
    def group_post(request: Request, user: CurrentUser,
                   form: PostedForm) -> Response:
        """One form for the group: unchanged values are accepted, changed ones corrected,
        ticked ones marked illegible; the ones that fail come back with their messages."""
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
            if item_id in illegible:
                action = "illegible"
            elif not value.strip() and not item.proposed_value:
                with contextlib.suppress(NotClaimed):  # nothing proposed, nothing typed: skipped
                    store.release(engine, user, item_id)
                continue
            else:
                action = _resolve_action("auto", value, item)
            try:
                store.submit(engine, user, item_id, action=action,
                             value=value if action == "correct" else None)
                saved += 1
            except AlreadyResolved:  # finished meanwhile (e.g. by Enter on its card): nothing to do
                continue
            except InvalidValue as exc:
                hint = getattr(exc, "suggestion", None)
                errors[item_id] = _message_vi(exc) + (f" Có phải là {hint}?" if hint else "")
                typed[item_id] = value
                failed.append(item)
            except NotClaimed:
                errors[item_id] = "Trường này đang được người khác duyệt; đã bỏ qua."
                typed[item_id] = value
                failed.append(item)
        if errors:
            return group_page(request, user, nav, failed, status_code=422, errors=errors, typed=typed,
                              saved=saved)
        flash(request, f"Đã lưu {saved} trường.")
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
    def api_submit(item_id: int, body: SubmitBody, user: CurrentUser) -> dict[str, Any]:
        """Same as the item form: accept | correct (with value) | illegible | auto."""
        item = store.get_item(engine, user, item_id)
        value = body.value or ""
        action = _resolve_action(body.action, value, item)
        saved = store.submit(engine, user, item_id, action=action,
                             value=value if action == "correct" else None)
        return _item_view(saved, user)

    app.include_router(public)
    app.include_router(console)
    app.include_router(api)
    return app


class SubmitBody(BaseModel):
    action: Literal["auto", "accept", "correct", "illegible"]
    value: str | None = None


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
