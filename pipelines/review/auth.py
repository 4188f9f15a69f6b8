"""Console accounts: argon2 password hashes, roles and scopes, login with an audit trail, sessions.

Accounts are never deleted (the audit log points at them); they are deactivated. Neither passwords nor
the text typed as a username at a failed login are logged or audited: a password typed into the username
box must not end up in a table.

Sessions live in the database (``review_session``): the browser's cookie carries a random token, the table
only its SHA-256, and every request looks it up. A session ends at logout, after an absolute lifetime and
an idle timeout (settings ``console_session_lifetime_s``, ``console_session_idle_s``), and all of a user's
sessions end when the password changes or the account is deactivated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipelines.db import utcnow, writer
from pipelines.review.db import ROLES, LoginSession, User
from pipelines.review.errors import Forbidden, NotFound, UserError
from pipelines.review.store import Scope, record_audit
from pipelines.settings import get_settings

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps a login form from being a CPU sink
MAX_USERNAME = 64
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,63}")
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def hash_password(pw: str) -> str:
    return _hasher.hash(pw)


def verify_password(hash: str, pw: str) -> bool:
    try:
        return _hasher.verify(hash, pw)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def normalize_username(username: str) -> str:
    """Usernames compare case-insensitively: stored lowercase, NFC, without surrounding spaces."""
    return unicodedata.normalize("NFC", (username or "").strip()).lower()


def is_username(text: str) -> bool:
    """Whether ``text`` (normalized) could be a username: 2-64 of a-z 0-9 . _ - @."""
    return len(text) <= MAX_USERNAME and _USERNAME.fullmatch(normalize_username(text)) is not None


def _check_username(username: str) -> str:
    name = normalize_username(username)
    if not is_username(name):
        raise UserError("Tên đăng nhập không hợp lệ: cần 2-64 ký tự a-z, 0-9, dấu chấm, gạch ngang, "
                        "gạch dưới hoặc @, không dấu, bắt đầu bằng chữ hoặc số.")
    return name


def _check_password(password: str) -> None:
    if not password or len(password) < MIN_PASSWORD:
        raise UserError(f"Mật khẩu quá ngắn: cần ít nhất {MIN_PASSWORD} ký tự.")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"Mật khẩu quá dài: tối đa {MAX_PASSWORD} ký tự.")


def check_role_scope(role: str, scope: Scope) -> None:
    """Only admins may have the whole city (``all``); everyone else works on a district or a school."""
    if role not in ROLES:
        raise UserError(f"Vai trò không hợp lệ: {role!r}. Cần một trong: {', '.join(ROLES)}.")
    if scope.kind == "all" and role != "admin":
        raise UserError("Chỉ quản trị viên (admin) mới có phạm vi 'all'; hãy dùng district:MÃ "
                        "hoặc school:MÃ.")


def _check_admin(s: Session, by: User | None, scope: Scope | None = None) -> int | None:
    """The acting admin's id (None: the local operator at the command line)."""
    if by is None:
        return None
    me = s.get(User, by.id)
    if me is None or not me.active or me.role != "admin":
        raise Forbidden("Chỉ quản trị viên mới quản lý được tài khoản.")
    if scope is not None and not Scope(me.scope_kind, me.scope_code).contains(scope):
        raise Forbidden("Phạm vi của tài khoản vượt quá phạm vi của bạn.")
    return me.id


def _user_by_name(s: Session, username: str) -> User:
    user = s.execute(select(User).where(User.username == normalize_username(username))).scalar_one_or_none()
    if user is None:
        raise NotFound("Không có tài khoản với tên đăng nhập này.")
    return user


def add_user(engine: Engine, username: str, password: str, role: str, scope: str, *,
             by: User | None = None) -> User:
    """Create an account. ``by``: the admin doing it from the console (None: the command line)."""
    name = _check_username(username)
    sc = Scope.parse(scope)
    check_role_scope(role, sc)
    _check_password(password)
    pw_hash = hash_password(password)
    try:
        with Session(writer(engine), expire_on_commit=False) as s, s.begin():
            by_id = _check_admin(s, by, sc)
            if s.scalar(select(func.count()).select_from(User).where(User.username == name)):
                raise UserError("Tên đăng nhập đã tồn tại: hãy chọn tên khác.")
            user = User(username=name, password_hash=pw_hash, role=role, scope_kind=sc.kind,
                        scope_code=sc.code, active=True, created_at=utcnow())
            s.add(user)
            s.flush()
            record_audit(s, action="user_add", user_id=by_id,
                         detail={"user_id": user.id, "role": role, "scope": str(sc)})
    except IntegrityError as exc:  # the same name added at the same moment elsewhere
        raise UserError("Tên đăng nhập đã tồn tại: hãy chọn tên khác.") from exc
    log.info("user added: id=%d role=%s scope=%s", user.id, role, sc)
    return user


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The active user with this name and password, else None. Audited either way."""
    name = normalize_username((username or "")[:4 * MAX_USERNAME])
    password = password or ""
    with Session(writer(engine), expire_on_commit=False) as s, s.begin():
        # A name no account can have is not looked up; a password no account can have (too long) is not
        # hashed: a login form is no CPU sink. The rules are public, so the shortcut tells nothing.
        user = (s.execute(select(User).where(User.username == name)).scalar_one_or_none()
                if is_username(name) else None)
        ok = (len(password) <= MAX_PASSWORD
              and verify_password(user.password_hash if user else _DUMMY_HASH, password))
        if user is None or not ok or not user.active:
            why = "unknown_user" if user is None else ("wrong_password" if not ok else "inactive")
            record_audit(s, action="login_failed", user_id=user.id if user else None, reason=why)
            log.info("login failed: user=%s reason=%s", user.id if user else "-", why)
            return None
        if _hasher.check_needs_rehash(user.password_hash):  # parameters got stronger since
            user.password_hash = hash_password(password)
        record_audit(s, action="login", user_id=user.id)
    log.info("login: user=%d", user.id)
    return user


def set_password(engine: Engine, username: str, password: str, *, by: User | None = None) -> User:
    _check_password(password)
    pw_hash = hash_password(password)
    with Session(writer(engine), expire_on_commit=False) as s, s.begin():
        user = _user_by_name(s, username)
        by_id = _check_admin(s, by, Scope(user.scope_kind, user.scope_code))
        user.password_hash = pw_hash
        ended = _end_user_sessions(s, user.id)  # whoever knew the old password is logged out
        record_audit(s, action="user_passwd", user_id=by_id,
                     detail={"user_id": user.id, "sessions_ended": ended})
    log.info("password changed: user=%d sessions ended=%d", user.id, ended)
    return user


def deactivate(engine: Engine, username: str, *, by: User | None = None) -> User:
    """The account can no longer log in or act; its history stays."""
    with Session(writer(engine), expire_on_commit=False) as s, s.begin():
        user = _user_by_name(s, username)
        by_id = _check_admin(s, by, Scope(user.scope_kind, user.scope_code))
        ended = _end_user_sessions(s, user.id)
        if user.active:
            user.active = False
            record_audit(s, action="user_deactivate", user_id=by_id,
                         detail={"user_id": user.id, "sessions_ended": ended})
    log.info("user deactivated: user=%d sessions ended=%d", user.id, ended)
    return user


def get_user(engine: Engine, user_id: int) -> User | None:
    """The user with this id (active or not), e.g. from a session cookie."""
    with Session(engine, expire_on_commit=False) as s:
        return s.get(User, user_id)


def get_user_by_name(engine: Engine, username: str) -> User | None:
    with Session(engine, expire_on_commit=False) as s:
        q = select(User).where(User.username == normalize_username(username))
        return s.execute(q).scalar_one_or_none()


def list_users(engine: Engine) -> list[User]:
    with Session(engine, expire_on_commit=False) as s:
        return list(s.scalars(select(User).order_by(User.username)))


# --- sessions -------------------------------------------------------------------------------------
TOUCH_S = 60
"""``last_seen_at`` is written at most once a minute (not on every request): the idle timeout is exact
to a minute."""


@dataclass(frozen=True)
class SessionPolicy:
    """How long a console session lasts (settings ``console_session_lifetime_s`` and ``_idle_s``)."""

    lifetime_s: int
    """Seconds from login to the end of the session, however busy it is."""
    idle_s: int
    """Seconds without a request after which the session ends."""

    @classmethod
    def from_settings(cls) -> SessionPolicy:
        st = get_settings()
        return cls(lifetime_s=int(st.console_session_lifetime_s), idle_s=int(st.console_session_idle_s))

    def expired(self, created_at: dt.datetime, last_seen_at: dt.datetime, now: dt.datetime) -> bool:
        return (now >= created_at + dt.timedelta(seconds=self.lifetime_s)
                or now >= last_seen_at + dt.timedelta(seconds=self.idle_s))


def token_hash(token: str) -> str:
    """What the table stores of a session token: its SHA-256 (the token is 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _end_user_sessions(s: Session, user_id: int) -> int:
    """Delete every session of the user (inside the caller's transaction); how many there were."""
    return int(s.execute(delete(LoginSession).where(LoginSession.user_id == user_id)).rowcount or 0)


def end_user_sessions(engine: Engine, user_id: int) -> int:
    """Log the user out everywhere; how many sessions ended."""
    with Session(writer(engine)) as s, s.begin():
        return _end_user_sessions(s, user_id)


def start_session(engine: Engine, user: User, policy: SessionPolicy, *,
                  now: dt.datetime | None = None) -> str:
    """A new session for ``user`` after a successful login: the token for the cookie (only its hash is
    kept). Sessions expired by ``policy``, anyone's, are deleted on the way."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    oldest = now - dt.timedelta(seconds=policy.lifetime_s)
    idle_since = now - dt.timedelta(seconds=policy.idle_s)
    with Session(writer(engine)) as s, s.begin():
        s.execute(delete(LoginSession).where(or_(LoginSession.created_at <= oldest,
                                                 LoginSession.last_seen_at <= idle_since)))
        s.add(LoginSession(token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now))
    return token


def session_user(engine: Engine, token: object, policy: SessionPolicy, *,
                 now: dt.datetime | None = None) -> User | None:
    """The active user of the live session with this token, else None. An expired session, or one of a
    deactivated user, is deleted; a live one is marked as seen (at most every ``TOUCH_S`` seconds)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 128:
        return None
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as s:
        row = s.execute(select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                        .where(LoginSession.token_hash == token_hash(token))).one_or_none()
    if row is None:
        return None
    sess, user = row
    if not user.active or policy.expired(sess.created_at, sess.last_seen_at, now):
        with Session(writer(engine)) as s, s.begin():
            s.execute(delete(LoginSession).where(LoginSession.id == sess.id))
        log.info("session ended: user=%d reason=%s", user.id, "expired" if user.active else "inactive")
        return None
    if now - sess.last_seen_at >= dt.timedelta(seconds=TOUCH_S):
        with Session(writer(engine)) as s, s.begin():
            s.execute(update(LoginSession).where(LoginSession.id == sess.id).values(last_seen_at=now))
    return user


def end_session(engine: Engine, token: object) -> None:
    """Logout: the session with this token ends (audited); nothing happens for an unknown token."""
    if not isinstance(token, str):
        return
    with Session(writer(engine)) as s, s.begin():
        sess = s.execute(select(LoginSession).where(LoginSession.token_hash == token_hash(token))
                         ).scalar_one_or_none()
        if sess is None:
            return
        s.delete(sess)
        record_audit(s, action="logout", user_id=sess.user_id)
    log.info("logout: user=%d", sess.user_id)
