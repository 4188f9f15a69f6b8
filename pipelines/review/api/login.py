"""Logging in and out: the only routes reachable without a session.

The public verification page of issued records (a later issue: e.g. GET /verify/{record_id}, no personal
data beyond what the record's holder shows) belongs on this module's router too."""

import logging
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pipelines.review import auth
from pipelines.review.api.deps import ConsoleDep, PostedForm, flash, load_user, render
from pipelines.review.errors import TooManyLogins
from pipelines.review.security import client_key, safe_next

log = logging.getLogger("pipelines.review.app")

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    if load_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", None, next_url=safe_next(next), username="")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: PostedForm, console: ConsoleDep) -> Response:
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_url = safe_next(str(form.get("next") or "/"))
    shown = username if auth.is_username(username) else ""  # the form keeps a plausible name only
    # Two counts: the name, from any address (many addresses on one name), and the address, on any
    # name (one password sprayed over many names). The address is the proxy's word only for the
    # proxies in forwarded_allow_ips (ProxyHeadersMiddleware), so a made-up header changes nothing.
    limiter, address_limiter = console.limiter, console.address_limiter
    name_key = auth.normalize_username(username)[:auth.MAX_USERNAME]
    addr_key = client_key(request.client.host if request.client else None)
    wait = max(limiter.retry_after(name_key), address_limiter.retry_after(addr_key))
    if wait:  # checked before the password: a blocked guesser learns nothing
        raise TooManyLogins(wait, shown, next_url)
    user = auth.authenticate(console.engine, username, password) if username and password else None
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
    auth.end_session(console.engine, request.session.get("sid"))
    request.session.clear()
    request.session.update(sid=auth.start_session(console.engine, user, console.sessions),
                           csrf=secrets.token_urlsafe(32))
    return RedirectResponse(next_url, status_code=303)


@router.post("/logout")
def logout(request: Request, console: ConsoleDep) -> Response:
    # The session ends in the database: a copy of the cookie is worth nothing from now on.
    auth.end_session(console.engine, request.session.get("sid"))
    request.session.clear()
    flash(request, "Đã đăng xuất.")
    return RedirectResponse("/login", status_code=303)
