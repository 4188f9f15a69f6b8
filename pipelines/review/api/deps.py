"""The routers' typed dependencies and request helpers: the console's state (``ConsoleDep``), the
current user (``CurrentUser``, a ``db.User``), the posted form (``PostedForm``), the CSRF check, and
``render``/``flash``. Everything comes from ``request.app.state.console``, built once by ``create_app``."""

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.datastructures import FormData

from pipelines.review import auth, labels, pages, store
from pipelines.review.books import BookDirectory
from pipelines.review.db import User
from pipelines.review.errors import (
    BadRequest,
    CsrfRejected,
    Forbidden,
    LoginRequired,
    NotFound,
    PaperForbidden,
)
from pipelines.review.security import MAX_FORM_VALUE, LoginLimiter
from pipelines.review.views import Nav
from pipelines.storage import Storage


@dataclass(frozen=True)
class Console:
    """One console's state, at ``app.state.console``."""

    engine: Engine
    storage: Storage
    directory: BookDirectory
    templates: Jinja2Templates
    sessions: auth.SessionPolicy
    ttl_s: int
    """How long a claim lasts (``review_claim_ttl_s``)."""
    limiter: LoginLimiter
    """Failed logins per user name."""
    address_limiter: LoginLimiter
    """Failed logins per client address."""


# --- dependencies -----------------------------------------------------------------------
def get_console(request: Request) -> Console:
    return request.app.state.console


ConsoleDep = Annotated[Console, Depends(get_console)]


def get_engine(request: Request) -> Engine:
    return get_console(request).engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def load_user(request: Request) -> User | None:
    """The user of this request's live session (looked up once per request), else None. A cookie
    whose session ended (logout, expiry, password change, deactivation) is emptied."""
    if hasattr(request.state, "hocba_user"):
        return request.state.hocba_user
    console = get_console(request)
    sid = request.session.get("sid")
    user = auth.session_user(console.engine, sid, console.sessions) if sid is not None else None
    if user is None and sid is not None:
        request.session.clear()  # and with it the CSRF token of the ended session
    request.state.hocba_user = user
    return user


def current_user(request: Request) -> User:
    user = load_user(request)
    if user is None:
        raise LoginRequired()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


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


PostedForm = Annotated[FormData, Depends(form_data)]


def require_paper_role(user: User) -> None:
    if user.role not in store.PAPER_ROLES:
        raise PaperForbidden()


def ids(values: list[Any]) -> list[int]:
    """Item ids posted by a form, each once, in order; BadRequest for one that is not a number."""
    out: list[int] = []
    for v in values:
        try:
            out.append(int(str(v)))
        except ValueError as exc:
            raise BadRequest("Mã trường không hợp lệ.") from exc
    return list(dict.fromkeys(out))


# --- answers ----------------------------------------------------------------------------
def render(request: Request, name: str, user: User | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
    ctx.update(user=user, csrf_token=csrf_token(request), flash=request.session.pop("flash", None))
    return get_console(request).templates.TemplateResponse(request, name, ctx, status_code=status_code,
                                                           headers=headers)


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


# --- what several pages show ------------------------------------------------------------
def progress(console: Console, user: User, nav: Nav | None = None) -> str:
    """"còn 1.569 ô · hôm nay bạn đã duyệt 120", in the part of the queue ``nav`` names."""
    return pages.progress_words(store.progress(console.engine, user, since=pages.start_of_day(),
                                               **(nav.store_args() if nav else {})))


def undo_view(console: Console, user: User, raw: Any) -> dict[str, Any] | None:
    """The item ``raw`` names, if the user may still take back its "needs the paper book"."""
    try:
        it = store.get_item(console.engine, user, int(str(raw)))
    except (ValueError, NotFound, Forbidden):
        return None
    if it.status != "needs_paper" or it.resolved_by != user.id:
        return None
    accepted = console.directory.accepted_at(it.batch_id)
    if accepted is not None and it.resolved_at is not None and accepted >= it.resolved_at:
        return None
    return {"id": it.id, "label": labels.field_label(it.template_id, it.field_id),
            "student": pages.student_label(console.directory.batch(it.batch_id), it.book_ref)}


def png(console: Console, rel: str | None, missing: str) -> Response:
    if not rel or not console.storage.exists(rel):
        raise NotFound(missing)
    return Response(console.storage.read_bytes(rel), media_type="image/png",
                    headers={"Cache-Control": "private, max-age=600"})
