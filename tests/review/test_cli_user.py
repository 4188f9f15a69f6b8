"""`hocba user …`: accounts from the command line, password from a prompt or HOCBA_PASSWORD, never echoed."""

from __future__ import annotations

import logging

from click.testing import CliRunner

from pipelines import db
from pipelines.cli import main
from pipelines.errors import ExitCode
from pipelines.review import auth, store

PW = "mat-khau-cua-an-123"


def _run(args: list[str], *, env: dict[str, str] | None = None, input: str | None = None):
    env = {"HOCBA_PASSWORD": None, **(env or {})}  # None: unset, whatever the calling shell has
    return CliRunner().invoke(main, args, env=env, input=input, catch_exceptions=False)


def test_user_add_with_hocba_password_then_login(db_url, caplog):
    caplog.set_level(logging.DEBUG)
    try:
        r = _run(["user", "add", "an.bd", "--role", "reviewer", "--scope", "district:HN-BD",
                  "--database-url", db_url], env={"HOCBA_PASSWORD": PW})
        assert r.exit_code == 0, r.output
        assert "Đã tạo tài khoản #1" in r.output and "district:HN-BD" in r.output
        engine = db.database(db_url)
        user = auth.authenticate(engine, "an.bd", PW)
        assert user is not None and (user.role, user.scope_code) == ("reviewer", "HN-BD")

        listing = _run(["user", "list", "--database-url", db_url])
        assert listing.exit_code == 0
        assert "an.bd" in listing.output and "district:HN-BD" in listing.output

        dup = _run(["user", "add", "an.bd", "--role", "reviewer", "--scope", "district:HN-BD",
                    "--database-url", db_url], env={"HOCBA_PASSWORD": PW})
        assert dup.exit_code == 4 and "đã tồn tại" in dup.output

        short = _run(["user", "add", "ba", "--role", "reviewer", "--scope", "district:HN-BD",
                      "--database-url", db_url], env={"HOCBA_PASSWORD": "short"})
        assert short.exit_code == 4 and "ít nhất 8" in short.output

        out = "".join(x.output for x in (r, listing, dup, short))
        assert PW not in out and PW not in caplog.text and "an.bd" not in caplog.text
        assert [a.action for a in store.audit(engine, action="user_add")] == ["user_add"]
    finally:
        db.dispose_engines()


def test_user_add_prompts_twice_and_passwd_and_deactivate(db_url):
    try:
        r = _run(["user", "add", "quantri", "--role", "admin", "--scope", "all", "--database-url", db_url],
                 input=f"{PW}\n{PW}\n")
        assert r.exit_code == 0, r.output
        assert PW not in r.output  # the prompt hides what is typed
        mismatch = _run(["user", "passwd", "quantri", "--database-url", db_url],
                        input="mot-mat-khau-1\nmat-khau-khac-2\nmoi-mat-khau-3\nmoi-mat-khau-3\n")
        assert mismatch.exit_code == 0, mismatch.output  # asked again after the two entries differed
        engine = db.database(db_url)
        assert auth.authenticate(engine, "quantri", PW) is None
        assert auth.authenticate(engine, "quantri", "moi-mat-khau-3") is not None

        off = _run(["user", "deactivate", "quantri", "--database-url", db_url])
        assert off.exit_code == 0 and "Đã khóa tài khoản #1" in off.output
        assert auth.authenticate(engine, "quantri", "moi-mat-khau-3") is None
        assert "no" in _run(["user", "list", "--database-url", db_url]).output.splitlines()[1]

        missing = _run(["user", "deactivate", "nobody", "--database-url", db_url])
        assert missing.exit_code == ExitCode.not_found and "Không có tài khoản" in missing.output
    finally:
        db.dispose_engines()


def test_user_commands_default_to_the_database_setting(hocba_home):
    try:
        r = _run(["user", "add", "an", "--role", "data_team", "--scope", "school:HN-BD-THCS01"],
                 env={"HOCBA_PASSWORD": PW})
        assert r.exit_code == 0, r.output
        assert (hocba_home / "hocba.db").exists()
        assert [u.username for u in auth.list_users(db.database())] == ["an"]
    finally:
        db.dispose_engines()
