"""Console sessions that end (issue 14, part 2): server-side sessions, expiry, logout and password changes
that reach every copy of a cookie, and a login limit that neither a forwarded header nor many names or
many addresses get around.

Real SQLite (and PostgreSQL with HOCBA_TEST_DATABASE_URL), real argon2, real HTTP through TestClient;
the `hocba serve` test starts the real command on a free port.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pipelines.cli import main as hocba
from pipelines.review import auth, store
from pipelines.review.app import (
    LOGIN_MAX_FAILURES,
    LOGIN_MAX_FAILURES_PER_ADDRESS,
    SESSION_COOKIE,
    client_key,
    create_app,
)
from pipelines.review.db import LoginSession
from tests.review.browser import free_port
from tests.review.webfixtures import PASSWORD, World, build_world, csrf_of

SECRET = "test-secret-" + "s" * 40
ROOT = Path(__file__).resolve().parents[2]
WRONG = "sai-mat-khau-roi"


@pytest.fixture
def world(tmp_path, hocba_home, db_url) -> World:
    return build_world(tmp_path / "world", db_url)


@pytest.fixture
def app(world):
    return create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)


def client_for(app, host: str = "testclient", **kw) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(host, 50000), **kw)


def login(c: TestClient, username: str, password: str = PASSWORD, headers: dict[str, str] | None = None):
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"username": username, "password": password, "csrf_token": token},
                  headers=headers)


def logged_in(app, username: str = "an.bd") -> TestClient:
    c = client_for(app)
    assert login(c, username).status_code == 303
    return c


def copy_of(app, c: TestClient) -> TestClient:
    """Another browser holding a copy of ``c``'s cookie (a stolen cookie)."""
    thief = client_for(app)
    thief.cookies.set(SESSION_COOKIE, c.cookies[SESSION_COOKIE])
    return thief


def sessions_of(world: World, user: str) -> list[LoginSession]:
    with Session(world.engine, expire_on_commit=False) as s:
        return list(s.scalars(select(LoginSession).where(LoginSession.user_id == world.users[user].id)))


def age_sessions(world: World, user: str, *, created_s: int = 0, seen_s: int = 0) -> None:
    """Move the user's sessions back in time: login ``created_s`` seconds earlier, last request
    ``seen_s`` seconds earlier."""
    with Session(world.engine) as s, s.begin():
        for row in s.scalars(select(LoginSession).where(LoginSession.user_id == world.users[user].id)):
            row.created_at -= dt.timedelta(seconds=created_s)
            row.last_seen_at -= dt.timedelta(seconds=seen_s)


# --- logout, password change, deactivation --------------------------------------------------------
def test_logout_ends_the_session_for_a_copy_of_the_cookie_too(app, world):
    an = logged_in(app)
    thief = copy_of(app, an)
    assert thief.get("/api/batches").status_code == 200
    assert an.post("/logout", data={"csrf_token": csrf_of(an.get("/").text)}).status_code == 303
    assert thief.get("/api/batches").status_code == 401
    assert thief.get("/").status_code == 303
    assert sessions_of(world, "an.bd") == []
    assert [a.action for a in store.audit(world.engine, action="logout")] == ["logout"]


def test_password_change_at_the_command_line_ends_every_session_of_the_user(app, world):
    an1, an2, binh = logged_in(app), logged_in(app), logged_in(app, "binh.cg")
    thief = copy_of(app, an1)
    assert len(sessions_of(world, "an.bd")) == 2
    r = CliRunner().invoke(hocba,
                           ["user", "passwd", "an.bd", "--database-url", world.database_url],
                           env={"HOCBA_PASSWORD": "mat-khau-moi-12345"}, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    for c in (an1, an2, thief):
        assert c.get("/api/batches").status_code == 401
    assert binh.get("/api/batches").status_code == 200  # someone else's sessions live on
    assert sessions_of(world, "an.bd") == []
    [passwd] = store.audit(world.engine, action="user_passwd")
    assert passwd.detail["sessions_ended"] == 2
    # The new password starts a new session.
    c = client_for(app)
    assert login(c, "an.bd", "mat-khau-moi-12345").status_code == 303
    assert c.get("/api/batches").status_code == 200


def test_password_change_and_deactivation_by_an_admin_end_sessions(app, world):
    an, binh = logged_in(app), logged_in(app, "binh.cg")
    admin = world.users["quantri"]
    auth.set_password(world.engine, "an.bd", "mat-khau-moi-12345", by=admin)
    assert an.get("/api/batches").status_code == 401
    r = CliRunner().invoke(hocba,
                           ["user", "deactivate", "binh.cg", "--database-url", world.database_url],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert sessions_of(world, "binh.cg") == []  # the rows are gone, not only refused
    assert binh.get("/api/batches").status_code == 401


def test_only_a_hash_of_the_token_is_stored(app, world):
    an = logged_in(app)
    [row] = sessions_of(world, "an.bd")
    payload = an.cookies[SESSION_COOKIE].split(".")[0]
    cookie = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    assert set(cookie) == {"sid", "csrf"}  # no user id: the session is the server's
    assert row.token_hash == hashlib.sha256(cookie["sid"].encode()).hexdigest()
    with world.engine.connect() as conn:
        dump = " ".join(str(v) for r in conn.execute(text("SELECT * FROM review_session")) for v in r)
    assert cookie["sid"] not in dump


# --- expiry ------------------------------------------------------------------------------------------
def test_a_session_ends_after_its_absolute_lifetime_however_busy(app, world):
    an = logged_in(app)
    thief = copy_of(app, an)
    age_sessions(world, "an.bd", created_s=8 * 3600 - 5)  # logged in nearly 8 h ago, used just now
    assert thief.get("/api/batches").status_code == 200
    age_sessions(world, "an.bd", created_s=10)  # now 8 h and 5 s ago, still in use
    assert thief.get("/api/batches").status_code == 401
    assert an.get("/api/batches").status_code == 401
    assert sessions_of(world, "an.bd") == []


def test_a_session_ends_after_30_minutes_idle_and_use_keeps_it(app, world):
    an = logged_in(app)
    age_sessions(world, "an.bd", seen_s=29 * 60)
    assert an.get("/api/batches").status_code == 200  # used: last seen is now
    [row] = sessions_of(world, "an.bd")
    assert dt.datetime.now(dt.UTC) - row.last_seen_at < dt.timedelta(seconds=60)
    age_sessions(world, "an.bd", seen_s=30 * 60 + 1)
    assert an.get("/api/batches").status_code == 401
    assert an.get("/").status_code == 303


def test_lifetime_and_idle_timeout_are_settings(world, monkeypatch):
    from pipelines.settings import get_settings

    monkeypatch.setenv("HOCBA_CONSOLE_SESSION_IDLE_S", "300")
    monkeypatch.setenv("HOCBA_CONSOLE_SESSION_LIFETIME_S", "3600")
    get_settings.cache_clear()
    app = create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)
    an = logged_in(app)
    age_sessions(world, "an.bd", seen_s=299)
    assert an.get("/api/batches").status_code == 200
    age_sessions(world, "an.bd", seen_s=301)
    assert an.get("/api/batches").status_code == 401
    an = logged_in(app)
    age_sessions(world, "an.bd", created_s=3601)
    assert an.get("/api/batches").status_code == 401


def test_session_policy_with_time_as_a_parameter(world):
    user = world.users["an.bd"]
    policy = auth.SessionPolicy(lifetime_s=600, idle_s=120)
    t0 = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC)
    token = auth.start_session(world.engine, user, policy, now=t0)
    at = lambda s: auth.session_user(world.engine, token, policy, now=t0 + dt.timedelta(seconds=s))  # noqa: E731
    assert at(30).id == user.id  # not yet a minute: not written
    assert at(110).id == user.id  # 110 s idle (< 120): alive, seen at 110
    for t in (220, 330, 440, 550, 599):  # in use, never idle for 120 s
        assert at(t).id == user.id, t
    assert at(601) is None  # lifetime over, though seen 51 s ago
    assert at(30) is None  # and gone for good
    assert auth.session_user(world.engine, "x" * 43, policy, now=t0) is None
    assert auth.session_user(world.engine, None, policy, now=t0) is None
    # Starting a session clears everyone's expired ones.
    stale = auth.start_session(world.engine, world.users["binh.cg"], policy, now=t0)
    auth.start_session(world.engine, user, policy, now=t0 + dt.timedelta(seconds=121))
    assert sessions_of(world, "binh.cg") == [] and stale


# --- CSRF with server-side sessions ----------------------------------------------------------------
def test_csrf_token_is_new_at_login_and_dies_with_the_session(app, world):
    c = client_for(app)
    anonymous = csrf_of(c.get("/login").text)
    assert login(c, "an.bd").status_code == 303
    t = csrf_of(c.get("/").text)
    assert t != anonymous
    i = world.items["toan_hk1"]
    assert c.post(f"/api/items/{i}", json={"action": "accept"}, headers={"X-CSRF-Token": anonymous}
                  ).status_code == 403
    age_sessions(world, "an.bd", seen_s=31 * 60)
    r = c.post(f"/api/items/{i}", json={"action": "accept"}, headers={"X-CSRF-Token": t})
    assert r.status_code == 401  # the session ended: nothing done, the cookie emptied
    r = c.post(f"/api/items/{i}", json={"action": "accept"}, headers={"X-CSRF-Token": t})
    assert r.status_code == 403 and r.json()["error"] == "csrf"
    assert store.get_item(world.engine, world.users["quantri"], i).status == "open"


# --- the login limit ---------------------------------------------------------------------------------
def test_one_password_sprayed_over_many_names_from_one_address_is_limited(app, world):
    c = client_for(app, "198.51.100.7")
    for n in range(LOGIN_MAX_FAILURES_PER_ADDRESS):
        r = login(c, f"khong-co-{n}", WRONG)
        assert r.status_code == (401 if n < LOGIN_MAX_FAILURES_PER_ADDRESS - 1 else 429), n
    r = login(c, "binh.cg")  # a real account with its right password, from the same address: waits
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Đăng nhập sai quá nhiều lần" in r.text
    # Another address is not blocked.
    assert login(client_for(app, "198.51.100.8"), "binh.cg").status_code == 303


def test_one_name_from_many_addresses_is_limited(app, world):
    for n in range(LOGIN_MAX_FAILURES):
        r = login(client_for(app, f"203.0.113.{n + 1}"), "an.bd", WRONG)
        assert r.status_code == (401 if n < LOGIN_MAX_FAILURES - 1 else 429), n
    r = login(client_for(app, "203.0.113.200"), "an.bd")  # right password, fresh address: waits
    assert r.status_code == 429
    assert login(client_for(app, "203.0.113.201"), "binh.cg").status_code == 303


def test_forwarded_for_is_ignored_from_untrusted_clients(app, world):
    """A client that is no trusted proxy makes up X-Forwarded-For: each try is still its own address."""
    c = client_for(app, "198.51.100.9")
    for n in range(LOGIN_MAX_FAILURES_PER_ADDRESS):
        login(c, f"khong-co-{n}", WRONG, headers={"X-Forwarded-For": f"192.0.2.{n + 1}"})
    r = login(c, "binh.cg", headers={"X-Forwarded-For": "192.0.2.250"})
    assert r.status_code == 429


def test_forwarded_for_is_believed_from_the_proxies_of_the_setting(world):
    """Behind the proxy (127.0.0.1, the default of forwarded_allow_ips) each client is its own address;
    a proxy missing from the setting is one client whatever it forwards."""
    app = create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET)
    proxy = client_for(app, "127.0.0.1")
    for n in range(LOGIN_MAX_FAILURES_PER_ADDRESS):
        login(proxy, f"khong-co-{n}", WRONG, headers={"X-Forwarded-For": "192.0.2.10"})
    assert login(proxy, "binh.cg", headers={"X-Forwarded-For": "192.0.2.10"}).status_code == 429
    # A made-up entry in front of the proxy's own does not move the address (the rightmost untrusted).
    assert login(proxy, "binh.cg", headers={"X-Forwarded-For": "10.1.1.1, 192.0.2.10"}).status_code == 429
    assert login(client_for(app, "127.0.0.1"), "binh.cg",
                 headers={"X-Forwarded-For": "192.0.2.11"}).status_code == 303

    other = create_app(database_url=world.database_url, storage_root=world.storage_root, secret=SECRET,
                       forwarded_allow_ips="10.0.0.2")
    proxy = client_for(other, "127.0.0.1")
    for n in range(LOGIN_MAX_FAILURES_PER_ADDRESS):
        login(proxy, f"khong-co-{n}", WRONG, headers={"X-Forwarded-For": f"192.0.2.{n + 20}"})
    assert login(proxy, "binh.cg", headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 429


def test_ipv6_clients_count_by_their_64():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("198.51.100.1") == "198.51.100.1"
    assert client_key(None) == "?" and client_key("testclient") == "testclient"


def test_hocba_serve_passes_forwarded_allow_ips_to_uvicorn(world, tmp_path):
    """The real command on a real port. With the setting naming another proxy, the local client's made-up
    X-Forwarded-For must change nothing: were uvicorn left at its default (trust 127.0.0.1), each try
    would come from a new address and the spray would never be limited."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
    env.update(HOCBA_HOME=str(tmp_path / "serve-home"), HOCBA_DATABASE_URL=world.database_url,
               HOCBA_STORAGE_URL=world.storage_root, HOCBA_FORWARDED_ALLOW_IPS="10.0.0.2")
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(proc.stderr or ()), daemon=True)
    reader.start()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        # Ours and no other server's: uvicorn says so once it holds the port (it exits if it cannot).
        while not any(f"Uvicorn running on {base}" in line for line in list(log)):
            assert proc.poll() is None, "".join(log)
            assert time.monotonic() < deadline, "hocba serve did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as c:
            def attempt(name: str, password: str, n: int) -> int:
                token = csrf_of(c.get("/login").text)
                return c.post("/login", data={"username": name, "password": password, "csrf_token": token},
                              headers={"X-Forwarded-For": f"192.0.2.{n}"}).status_code

            for n in range(LOGIN_MAX_FAILURES_PER_ADDRESS):
                attempt(f"khong-co-{n}", WRONG, n + 1)
            assert attempt("binh.cg", PASSWORD, 200) == 429
    finally:
        proc.terminate()
        proc.wait(timeout=30)
