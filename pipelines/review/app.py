"""The reviewers' web console: school staff correct the fields the pipeline flagged.

Server-rendered Vietnamese pages (FastAPI + Jinja2) with a little plain JS for
the keyboard, modelled on the verification station of form-capture products:
a queue of flagged fields by batch, book and field type; field verification in
context (crop, the page around it, reasons, candidates, one input); and group
verification (many fields of one type side by side). Every rule about who may
see or change an item lives in ``store``. This module is the factory: the console's
state (``api.deps.Console`` at ``app.state.console``), the middleware, and the
routers of ``api/`` (login, pages, group, paper, coverage, the JSON API); ``api.errors``
maps the store's errors to HTTP statuses through one table (``HTTP_STATUS``: Forbidden→403, NotFound→404,
NotClaimed→409, InvalidValue→422, …) with each error's Vietnamese message, and
adds the web's own defences: server-side sessions (``auth.session_user``: the
signed cookie carries a random token, the database its hash), a CSRF token on
every POST, a login rate limit per user name and per client address,
forwarded headers believed from the ``forwarded_allow_ips`` setting only,
strict security headers, and errors in Vietnamese that never repeat what was
sent. Nothing here logs field values or names: only ids.
"""

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pipelines import db
from pipelines.review import auth, coverage_view, labels
from pipelines.review.api import coverage, group, json_api, login, pages, paper
from pipelines.review.api.deps import Console, csrf_protect
from pipelines.review.api.errors import HTTP_STATUS, add_error_handlers
from pipelines.review.api.group import GROUP_SIZE
from pipelines.review.books import BookDirectory
from pipelines.review.security import (
    CSP,
    LOGIN_MAX_FAILURES,
    LOGIN_MAX_FAILURES_PER_ADDRESS,
    LOGIN_WINDOW_S,
    MAX_FORM_VALUE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    LoginLimiter,
    SecurityHeadersMiddleware,
    client_key,
    console_key,
)
from pipelines.settings import get_settings
from pipelines.storage import Storage

HERE = Path(__file__).resolve().parent


def create_app(*, database_url: str | None = None, storage_root: str | None = None,
               secret: str | None = None, https_only: bool = False,
               forwarded_allow_ips: str | None = None) -> FastAPI:
    """The console as an ASGI app; every default comes from ``pipelines.settings``."""
    settings = get_settings()
    storage = Storage(storage_root or settings.storage_root)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(roles=labels.roles(), coverage_roles=coverage_view.ROLES)
    templates.env.filters.update(vi_int=coverage_view.fmt_int, vi_pct=coverage_view.fmt_pct)
    console = Console(
        engine=db.database(database_url or settings.database),
        storage=storage,
        directory=BookDirectory(storage),
        templates=templates,
        sessions=auth.SessionPolicy.from_settings(),
        ttl_s=int(settings.review_claim_ttl_s),
        limiter=LoginLimiter(),
        address_limiter=LoginLimiter(max_failures=LOGIN_MAX_FAILURES_PER_ADDRESS),
    )
    secret = secret or settings.session_secret or console_key(settings.home_abs)
    trusted_proxies = forwarded_allow_ips if forwarded_allow_ips is not None else settings.forwarded_allow_ips

    app = FastAPI(title="hocba — bảng duyệt", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_protect)])
    app.state.console = console
    app.state.engine = console.engine
    app.state.storage = console.storage
    app.state.limiter = console.limiter
    app.state.address_limiter = console.address_limiter
    # Outermost last: the client's address first, headers wrap everything, the session wraps the routes.
    # The cookie only carries the session's token (and the CSRF token, a flash message): whether the
    # session lives is the database's answer (deps.load_user), so re-signing the cookie extends nothing.
    app.add_middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                       max_age=console.sessions.lifetime_s, same_site="lax", https_only=https_only)
    app.add_middleware(SecurityHeadersMiddleware)
    # X-Forwarded-For / -Proto believed from these proxies only (uvicorn's middleware, as `hocba serve`
    # also passes the setting to uvicorn; applying it twice changes nothing).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    add_error_handlers(app)
    # login (no session needed) first; every other router requires a session.
    for router in (login.router, pages.router, paper.router, group.router, coverage.router, json_api.router):
        app.include_router(router)
    return app


__all__ = [
    "CSP",
    "GROUP_SIZE",
    "HTTP_STATUS",
    "LOGIN_MAX_FAILURES",
    "LOGIN_MAX_FAILURES_PER_ADDRESS",
    "LOGIN_WINDOW_S",
    "MAX_FORM_VALUE",
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "LoginLimiter",
    "client_key",
    "console_key",
    "create_app",
]
