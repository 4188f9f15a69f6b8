"""Accounts: argon2 hashes, role and scope rules, logins audited without a password in sight."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.errors import HocbaError
from pipelines.review import auth, store
from pipelines.review.db import AuditLog, User
from pipelines.review.errors import Forbidden, NotFound, UserError

PW = "mật-khẩu-rất-dài-1"


def test_hash_and_verify():
    h = auth.hash_password(PW)
    assert h.startswith("$argon2id$") and PW not in h
    assert auth.verify_password(h, PW)
    assert not auth.verify_password(h, PW + "x")
    assert not auth.verify_password("not a hash", PW)
    assert auth.hash_password(PW) != h  # salted


def test_add_user_and_authenticate(engine, caplog):
    caplog.set_level(logging.DEBUG, logger="pipelines")
    u = auth.add_user(engine, " Nguyen.An ", PW, "reviewer", "district:HN-BD")
    assert (u.username, u.role, u.scope_kind, u.scope_code, u.active) == (
        "nguyen.an", "reviewer", "district", "HN-BD", True)
    assert store.user_scope(u) == store.Scope("district", "HN-BD")
    with Session(engine) as s:
        stored = s.get(User, u.id)
        assert stored.password_hash != PW and auth.verify_password(stored.password_hash, PW)

    assert auth.authenticate(engine, "NGUYEN.AN", PW).id == u.id  # usernames ignore case
    assert auth.authenticate(engine, "nguyen.an", "wrong password") is None
    assert auth.authenticate(engine, PW, PW) is None  # a password typed as the username
    actions = [(a.action, a.user_id, a.reason) for a in reversed(store.audit(engine))]
    assert actions == [("user_add", None, ""), ("login", u.id, ""), ("login_failed", u.id, "wrong_password"),
                       ("login_failed", None, "unknown_user")]
    with Session(engine) as s:
        for row in s.scalars(select(AuditLog)):
            assert PW not in f"{row.old_value} {row.new_value} {row.reason} {row.detail}"
    assert PW not in caplog.text and "nguyen.an" not in caplog.text.lower()


@pytest.mark.parametrize(("username", "password", "role", "scope", "message"), [
    ("an", "short", "reviewer", "district:HN-BD", "ít nhất 8"),
    ("an", "", "reviewer", "district:HN-BD", "ít nhất 8"),
    ("an", PW, "reviewer", "all", "admin"),
    ("an", PW, "data_team", "all", "admin"),
    ("an", PW, "superuser", "district:HN-BD", "Vai trò"),
    ("an", PW, "reviewer", "province:HN", "Phạm vi"),
    ("an", PW, "reviewer", "district:", "Phạm vi"),
    ("Nguyễn An", PW, "reviewer", "district:HN-BD", "Tên đăng nhập"),
    ("", PW, "reviewer", "district:HN-BD", "Tên đăng nhập"),
])
def test_add_user_rejects(engine, username, password, role, scope, message):
    with pytest.raises(UserError, match=message):
        auth.add_user(engine, username, password, role, scope)
    assert auth.list_users(engine) == []


def test_duplicate_usernames_are_refused(engine):
    auth.add_user(engine, "an", PW, "reviewer", "school:HN-BD-THCS01")
    with pytest.raises(UserError, match="đã tồn tại") as exc:
        auth.add_user(engine, "AN", PW, "admin", "all")
    assert isinstance(exc.value, HocbaError) and exc.value.exit_code == 4
    assert [u.username for u in auth.list_users(engine)] == ["an"]


def test_admin_scope_and_roles(engine):
    admin = auth.add_user(engine, "quantri", PW, "admin", "all")
    assert (admin.scope_kind, admin.scope_code) == ("all", None)
    district_admin = auth.add_user(engine, "qt.bd", PW, "admin", "district:HN-BD")
    team = auth.add_user(engine, "dung", PW, "data_team", "district:HN-BD")
    # From the console, only an admin adds accounts, and only within their own scope.
    made = auth.add_user(engine, "moi", PW, "reviewer", "district:HN-BD", by=district_admin)
    assert made.scope_code == "HN-BD"
    with pytest.raises(Forbidden):
        auth.add_user(engine, "khac", PW, "reviewer", "district:HN-CG", by=district_admin)
    with pytest.raises(Forbidden):
        auth.add_user(engine, "khac", PW, "reviewer", "district:HN-BD", by=team)
    auth.add_user(engine, "khac", PW, "reviewer", "district:HN-CG", by=admin)
    (row,) = store.audit(engine, action="user_add", user_id=district_admin.id)
    assert row.detail == {"user_id": made.id, "role": "reviewer", "scope": "district:HN-BD"}
    with pytest.raises(Forbidden):
        store.require_role(team, "admin")
    store.require_role(team, "admin", "data_team")


def test_set_password_and_deactivate(engine):
    u = auth.add_user(engine, "an", PW, "reviewer", "district:HN-BD")
    with pytest.raises(UserError):
        auth.set_password(engine, "an", "1234567")
    auth.set_password(engine, "an", "mật khẩu mới dài")
    assert auth.authenticate(engine, "an", PW) is None
    assert auth.authenticate(engine, "an", "mật khẩu mới dài").id == u.id
    assert not auth.deactivate(engine, "an").active
    assert auth.authenticate(engine, "an", "mật khẩu mới dài") is None
    assert store.audit(engine, action="login_failed")[0].reason == "inactive"
    assert auth.get_user(engine, u.id).active is False
    assert auth.get_user_by_name(engine, "AN").id == u.id
    assert auth.get_user(engine, 999) is None
    with pytest.raises(NotFound):
        auth.set_password(engine, "nobody", PW)
    with pytest.raises(NotFound):
        auth.deactivate(engine, "nobody")
    actions = [a.action for a in reversed(store.audit(engine))]
    assert actions.count("user_passwd") == 1 and actions.count("user_deactivate") == 1
