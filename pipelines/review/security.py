"""The console's web defences, no routes: the session key, the login rate limit, the security headers,
safe redirects. Plain Python and ASGI; ``app.create_app`` puts them together."""

import ipaddress
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelines.errors import ConfigError

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


def safe_next(target: str) -> str:
    """Only a path on this site (no scheme, no //host): no open redirect after login. Browsers drop
    tabs and newlines from URLs (slash, tab, slash is //), so any whitespace or control character fails."""
    if (not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target)):
        return "/"
    return target
