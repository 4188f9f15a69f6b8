"""The issue ledger: versions, supersession and revocation as appended rows, files written once, a hash
chain that shows edits, and a crash between the file writes and the commit that a re-run repairs.

On SQLite always, and on PostgreSQL too when HOCBA_TEST_DATABASE_URL is set (tests.db.fixtures).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Engine

from pipelines import db
from pipelines.cli import main
from pipelines.errors import ExitCode
from pipelines.issue import ledger
from pipelines.issue.errors import LedgerConflict, LedgerError
from pipelines.issue.ledger import (
    LedgerEntry,
    check_chain,
    issue,
    lookup,
    next_version,
    plan,
    revoke,
    write_once,
)
from pipelines.issue.model import BookRecord, FieldValue
from pipelines.issue.pdf import render_pdf
from pipelines.issue.record import content_sha256, record_xml
from pipelines.storage import Storage
from tests.issue.samples import sample_record

ROOT = Path(__file__).resolve().parents[2]
AT = dt.datetime(2026, 5, 21, 3, 4, 5, tzinfo=dt.UTC)
CERTS = [{"role": "principal", "subject": "CN=Nguyễn Văn A", "sha256": "ab" * 32},
         {"role": "school", "subject": "CN=Trường THCS Demo", "sha256": "cd" * 32}]


@pytest.fixture
def storage(tmp_path) -> Storage:
    return Storage(str(tmp_path / "issued-root"))


@dataclasses.dataclass
class Made:
    record: BookRecord
    digest: str
    xml: bytes
    pdf: bytes


def make(record: BookRecord, version: int, at: dt.datetime = AT) -> Made:
    """The files of one version, as the stage makes them (unsigned here: the ledger does not look)."""
    prev = None if version == 1 else f"{record.record_id}:v{version - 1}"
    xml = record_xml(record, version=version, supersedes=prev, issued_at=at)
    pdf = render_pdf(record, xml=xml, version=version, issued_at=at)
    return Made(record, content_sha256(record), xml, pdf)


def put(engine: Engine, storage: Storage, m: Made, at: dt.datetime = AT) -> LedgerEntry:
    return issue(engine, storage, record_id=m.record.record_id, content_sha256=m.digest, xml=m.xml, pdf=m.pdf,
                 signer_certs=CERTS, issued_at=at)


def corrected(record: BookRecord, score: str = "4,5") -> BookRecord:
    y = record.years[0]
    fields = {**y.fields, "scores.toan.hk2": FieldValue("scores.toan.hk2", score, "review", "rv9", AT)}
    return dataclasses.replace(record, years=(dataclasses.replace(y, fields=fields), *record.years[1:]))


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


@pytest.fixture(scope="module")
def v1() -> Made:
    return make(sample_record(), 1)


@pytest.fixture(scope="module")
def v2() -> Made:
    return make(corrected(sample_record()), 2, AT + dt.timedelta(days=3))


def test_first_issue_writes_both_files_once_and_appends_one_row(engine, storage, v1):
    rid = v1.record.record_id
    assert next_version(engine, rid, v1.digest) == (1, None)
    e = put(engine, storage, v1)
    assert (e.seq, e.event, e.version, e.status, e.supersedes) == (1, "issue", 1, "current", None)
    assert storage.read_bytes(e.xml_uri) == v1.xml and storage.read_bytes(e.pdf_uri) == v1.pdf
    assert e.xml_uri == f"issued/{e.xml_sha256[:2]}/{e.xml_sha256}.xml"
    assert e.xml_sha256 == hashlib.sha256(v1.xml).hexdigest() == storage.sha256(e.xml_uri)
    assert e.pdf_sha256 == hashlib.sha256(v1.pdf).hexdigest()
    assert e.issued_at == AT and e.signer_certs == CERTS and e.prev_hash == ledger.GENESIS
    version, existing = next_version(engine, rid, v1.digest)
    assert version == 1 and existing.seq == 1 and existing.xml_uri == e.xml_uri
    assert lookup(engine, xml_sha256=e.xml_sha256) == ledger.LedgerStatus(rid, 1, "current", AT)
    assert lookup(engine, pdf_sha256=e.pdf_sha256).status == "current"
    assert lookup(engine, pdf_sha256="0" * 64) is None


def test_issuing_the_same_content_again_is_a_no_op(engine, storage, v1):
    first = put(engine, storage, v1)
    again = make(v1.record, 1, AT + dt.timedelta(hours=5))  # re-run: new signing time, same data
    assert put(engine, storage, again).seq == first.seq
    assert rows(engine) == 1
    sha = hashlib.sha256(again.xml).hexdigest()
    assert not storage.exists(f"issued/{sha[:2]}/{sha}.xml")  # nothing written


def test_a_correction_is_a_new_version_that_supersedes_the_old(engine, storage, v1, v2):
    e1 = put(engine, storage, v1)
    assert next_version(engine, v1.record.record_id, v2.digest) == (2, None)
    e2 = put(engine, storage, v2, AT + dt.timedelta(days=3))
    assert (e2.seq, e2.version, e2.status, e2.supersedes) == (3, 2, "current", e1.seq)
    hist = ledger.history(engine, v1.record.record_id)
    assert [(e.seq, e.event, e.version, e.status) for e in hist] == [
        (1, "issue", 1, "current"), (2, "supersede", 1, "superseded"), (3, "issue", 2, "current")]
    assert hist[1].reason == "thay bằng phiên bản 2" and hist[1].xml_sha256 == e1.xml_sha256
    assert lookup(engine, xml_sha256=e1.xml_sha256).status == "superseded"
    assert lookup(engine, pdf_sha256=e2.pdf_sha256) == ledger.LedgerStatus(
        v1.record.record_id, 2, "current", AT + dt.timedelta(days=3))
    assert ledger.current(engine, v1.record.record_id).seq == 3
    assert storage.exists(e1.xml_uri) and storage.exists(e1.pdf_uri)  # old versions stay
    # Going back to the first content is a third version, not a return to v1.
    assert next_version(engine, v1.record.record_id, v1.digest) == (3, None)
    assert check_chain(engine).ok


def test_revocation_is_appended_and_ends_the_current_version(engine, storage, v1, v2):
    put(engine, storage, v1)
    e2 = put(engine, storage, v2, AT + dt.timedelta(days=3))
    r = revoke(engine, v1.record.record_id, 2, "cấp nhầm học sinh")
    assert (r.event, r.version, r.status, r.reason, r.xml_sha256) == (
        "revoke", 2, "revoked", "cấp nhầm học sinh", e2.xml_sha256)
    assert lookup(engine, xml_sha256=e2.xml_sha256).status == "revoked"
    assert ledger.current(engine, v1.record.record_id) is None
    assert next_version(engine, v1.record.record_id, v2.digest) == (3, None)  # re-issue: a new version
    revoke(engine, v1.record.record_id, 1, "bản cũ cũng sai")  # a superseded version can be revoked too
    with pytest.raises(LedgerError, match="already revoked"):
        revoke(engine, v1.record.record_id, 2, "lần nữa")
    with pytest.raises(LedgerError, match="no version 7"):
        revoke(engine, v1.record.record_id, 7, "không có")
    with pytest.raises(LedgerError, match="reason"):
        revoke(engine, v1.record.record_id, 1, "  ")
    v3 = make(v2.record, 3, AT + dt.timedelta(days=4))
    e3 = put(engine, storage, v3, AT + dt.timedelta(days=4))
    assert (e3.version, e3.supersedes) == (3, None)  # nothing current to supersede
    assert check_chain(engine) == ledger.ChainReport(True, 6, None, None, e3.entry_hash)


def test_a_version_issued_meanwhile_is_a_conflict_and_nothing_is_appended(engine, storage, v1, v2):
    put(engine, storage, v1)
    stale = make(v2.record, 1)  # made before v1 was issued: says version 1
    with pytest.raises(LedgerConflict, match="version 1"):
        put(engine, storage, stale)
    with pytest.raises(LedgerError, match="not OTHER"):
        issue(engine, storage, record_id="OTHER", content_sha256=v2.digest, xml=v2.xml, pdf=v2.pdf,
              signer_certs=CERTS, issued_at=AT)
    with pytest.raises(LedgerError, match="content hash"):
        issue(engine, storage, record_id=v2.record.record_id, content_sha256="0" * 64, xml=v2.xml, pdf=v2.pdf,
              signer_certs=CERTS, issued_at=AT)
    assert rows(engine) == 1


def test_the_ledger_is_append_only_in_the_database(engine, storage, v1):
    put(engine, storage, v1)
    for sql in ("UPDATE issue_ledger SET status = 'revoked'", "DELETE FROM issue_ledger"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert rows(engine) == 1 and check_chain(engine).ok


def _tampered_copy(tmp_path: Path, db_file: Path, *sql: str) -> str:
    """A copy of the SQLite ledger, edited around its triggers as someone with the file could."""
    copy = tmp_path / "copy.db"
    src = sqlite3.connect(db_file)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("DROP TRIGGER issue_ledger_no_update")
    dst.execute("DROP TRIGGER issue_ledger_no_delete")
    for s in sql:
        dst.execute(s)
    dst.commit()
    dst.close()
    return f"sqlite:///{copy}"


def test_the_chain_shows_an_edited_or_removed_row(tmp_path, storage, v1, v2):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    eng = db.make_engine(url)
    db.upgrade(eng)
    put(eng, storage, v1)
    put(eng, storage, v2, AT + dt.timedelta(days=3))
    revoke(eng, v1.record.record_id, 2, "thử")
    eng.dispose()
    runner = CliRunner()
    ok = runner.invoke(main, ["ledger", "check", "--database-url", url])
    assert ok.exit_code == 0 and "4 dòng / entries" in ok.output, ok.output

    cases = {
        "UPDATE issue_ledger SET status = 'current' WHERE seq = 4": (4, "row was changed"),
        "UPDATE issue_ledger SET pdf_sha256 = '" + "e" * 64 + "' WHERE seq = 1": (1, "row was changed"),
        "DELETE FROM issue_ledger WHERE seq = 2": (3, "rows 2…2 are missing"),
    }
    for sql, (seq, problem) in cases.items():
        bad_url = _tampered_copy(tmp_path, tmp_path / "ledger.db", sql)
        bad = db.make_engine(bad_url)
        report = check_chain(bad)
        bad.dispose()
        assert (report.ok, report.first_bad_seq) == (False, seq) and problem in report.problem, (sql, report)
        res = runner.invoke(main, ["ledger", "check", "--database-url", bad_url])
        assert res.exit_code == ExitCode.ledger_corrupt and f"#{seq}" in res.output, res.output

    # A row rewritten with a recomputed hash still breaks the next row's link.
    eng = db.make_engine(url)
    with eng.connect() as conn:
        r = dict(conn.execute(select(LedgerEntry.__table__).where(LedgerEntry.seq == 2)).mappings().one())
    eng.dispose()
    r["reason"] = "sửa lén"
    forged = ledger.entry_hash(r, r["prev_hash"])
    bad_url = _tampered_copy(
        tmp_path, tmp_path / "ledger.db",
        f"UPDATE issue_ledger SET reason = 'sửa lén', entry_hash = '{forged}' WHERE seq = 2")
    bad = db.make_engine(bad_url)
    report = check_chain(bad)
    bad.dispose()
    assert (report.first_bad_seq, report.problem) == (3, "prev_hash is not the previous row's entry_hash")


def test_ledger_show_lists_versions_statuses_and_events(tmp_path, storage, v1, v2):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    eng = db.make_engine(url)
    db.upgrade(eng)
    e1 = put(eng, storage, v1)
    put(eng, storage, v2, AT + dt.timedelta(days=3))
    eng.dispose()
    runner = CliRunner()
    for key in (v1.record.record_id, e1.pdf_sha256):  # by record id, or by a file's sha256
        res = runner.invoke(main, ["ledger", "show", key, "--database-url", url])
        assert res.exit_code == 0, res.output
        assert "v1  đã bị thay thế / superseded" in res.output and "v2  hiện hành / current" in res.output
        assert e1.xml_uri in res.output and "supersede" in res.output
    res = runner.invoke(main, ["ledger", "show", "KHONG-CO", "--database-url", url])
    assert res.exit_code == ExitCode.not_found and "not in the ledger" in res.output
    res = runner.invoke(main, ["ledger", "revoke", v1.record.record_id, "2", "--reason", "sai",
                               "--database-url", url])
    assert res.exit_code == 0 and "v2" in res.output
    res = runner.invoke(main, ["ledger", "show", v1.record.record_id, "--database-url", url])
    assert "v2  đã bị thu hồi / revoked" in res.output  # the words of hocba verify (ledger.STATUS_VI)


def test_write_once_never_rewrites_a_file(storage):
    uri = write_once(storage, b"<x/>", "xml")
    path = Path(storage.full(uri))
    before = path.stat().st_mtime_ns
    assert write_once(storage, b"<x/>", "xml") == uri and path.stat().st_mtime_ns == before
    assert write_once(storage, b"<y/>", "xml") != uri
    assert not [p for p in Path(storage.full("issued")).rglob("*.tmp")]  # no temporary file left
    with pytest.raises(ValueError):
        write_once(storage, b"x", "../x")


# --- which batch a version came from ------------------------------------------------------------------
A, B, C = "760/79760403/b001", "760/79760403/b002", "760/79760403/b003"


def put_from(engine: Engine, storage: Storage, m: Made, batch: str,
             replaces: str | None = None) -> LedgerEntry:
    return issue(engine, storage, record_id=m.record.record_id, content_sha256=m.digest, xml=m.xml, pdf=m.pdf,
                 signer_certs=CERTS, issued_at=AT, batch_id=batch, replaces_batch_id=replaces)


def test_an_issue_row_names_its_batch_and_the_batch_it_replaces(engine, storage):
    rec = sample_record("HB-0501")
    e1 = put_from(engine, storage, make(rec, 1), A)
    e2 = put_from(engine, storage, make(corrected(rec), 2), B, replaces=A)
    assert (e1.batch_id, e1.replaces_batch_id, e1.reason) == (A, None, None)
    assert (e2.batch_id, e2.replaces_batch_id, e2.reason) == (B, A, None)
    hist = ledger.history(engine, rec.record_id)
    # every row of a version repeats its batch, as it repeats its hashes
    assert [(h.event, h.version, h.batch_id, h.replaces_batch_id) for h in hist] == [
        ("issue", 1, A, None), ("supersede", 1, A, None), ("issue", 2, B, A)]
    assert hist[1].reason == f"thay bằng phiên bản 2 (lô {B} thay lô {A})"
    assert check_chain(engine).ok
    with pytest.raises(ValueError, match="without batch_id"):
        put_from(engine, storage, make(corrected(rec, "3,5"), 3), None, replaces=B)  # type: ignore[arg-type]


def test_rows_without_a_batch_hash_as_before_the_batch_columns():
    """The entry hash of a row whose batch columns are None is the one hocba computed before 0004 (the
    constant: that code's hash of this row), so chains written then still hold; a batch changes it."""
    row = {"seq": 7, "event": "issue", "record_id": "79760403-HB-0001", "version": 2, "status": "current",
           "content_sha256": "a" * 64, "xml_sha256": "b" * 64, "pdf_sha256": "c" * 64,
           "xml_uri": "issued/bb/x.xml", "pdf_uri": "issued/cc/x.pdf",
           "signer_certs": [{"role": "school", "subject": "CN=Trường", "sha256": "d" * 64}],
           "issued_at": dt.datetime(2026, 5, 21, 3, 4, 5, tzinfo=dt.UTC), "supersedes": 5, "reason": None,
           "recorded_at": dt.datetime(2026, 5, 21, 3, 4, 6, 789, tzinfo=dt.UTC)}
    before_0004 = "d4e0e94d85c22405d4712e2c57e875ffa7454c3354802fa69fe3094d1e5ea319"
    assert ledger.entry_hash(row, "e" * 64) == before_0004 == _pre_0004_entry_hash(row, "e" * 64)
    assert ledger.entry_hash({**row, "batch_id": None, "replaces_batch_id": None}, "e" * 64) == before_0004
    hashes = {ledger.entry_hash({**row, "batch_id": A}, "e" * 64),
              ledger.entry_hash({**row, "batch_id": B}, "e" * 64),
              ledger.entry_hash({**row, "batch_id": B, "replaces_batch_id": A}, "e" * 64)}
    assert len(hashes) == 3 and before_0004 not in hashes


def test_plan_keeps_two_batches_holding_one_book_from_superseding_each_other(engine, storage):
    rec = sample_record("HB-0502")
    old, new, newer = make(rec, 1), make(corrected(rec), 2), make(corrected(rec, "3,5"), 3)
    rid = rec.record_id

    def decide(m: Made, batch: str, replaces: str | None = None, **kw) -> tuple:
        p = plan(engine, rid, m.digest, batch_id=batch, replaces_batch_id=replaces, **kw)
        return p.action, p.version, p.other_batch

    assert decide(old, A) == ("issue", 1, None)  # nothing issued yet
    put_from(engine, storage, old, A)
    assert decide(old, A) == ("unchanged", 1, None)
    assert decide(new, A) == ("issue", 2, None)  # a correction in the same batch
    assert decide(new, B) == ("held", 2, A)  # B holds the book too but does not say it replaces A
    assert decide(new, B, replaces=A) == ("issue", 2, None)
    put_from(engine, storage, new, B, replaces=A)
    # a re-run of A, with its old content or any other, issues nothing: A's book was replaced
    assert decide(old, A) == ("replaced", 3, B)
    assert decide(newer, A) == ("replaced", 3, B)
    assert decide(new, B, replaces=A) == ("unchanged", 2, None)
    # C replaces B: B is replaced from then on, and A still is
    assert decide(newer, C, replaces=A) == ("held", 3, B)  # C names the wrong batch
    put_from(engine, storage, newer, C, replaces=B)
    assert decide(new, B, replaces=A) == ("replaced", 4, C)
    assert decide(old, A) == ("replaced", 4, C)  # the latest batch in its line
    # revoking C's version does not bring back B's or A's
    revoke(engine, rid, 3, "quét nhầm")
    assert decide(new, B, replaces=A) == ("replaced", 4, C)
    assert decide(newer, C, replaces=B) == ("revoked", 3, None)
    assert decide(make(corrected(rec, "2,5"), 4), C, replaces=B) == ("issue", 4, None)  # new content


D = "760/79760403/b004"


def test_plan_follows_a_chain_of_rescans_with_a_batch_that_never_issued(engine, storage):
    """A ← B ← C ← D (each replaces the one before; ingest lets only the latest holder be named)."""
    rec = sample_record("HB-0504")
    content = [rec, *(corrected(rec, f"{i},5") for i in range(1, 4))]  # what A, B, C, D say
    rid = rec.record_id

    def decide(i: int, batch: str, replaces: str | None) -> tuple:
        p = plan(engine, rid, content_sha256(content[i]), batch_id=batch, replaces_batch_id=replaces)
        return p.action, p.other_batch

    put_from(engine, storage, make(content[0], 1), A)
    # C replaces B, which never issued: C takes the record from the book's first batch
    assert decide(2, C, B) == ("issue", None)
    put_from(engine, storage, make(content[2], 2), C, replaces=B)
    assert decide(0, A, None) == ("replaced", C)  # A issued before, then C did; and A is the first batch
    assert decide(1, B, A) == ("replaced", C)  # C names B
    # D replaces C and issues; then B, whose place the ledger could not tell without C's link, never
    # takes it back
    put_from(engine, storage, make(content[3], 3), D, replaces=C)
    assert decide(1, B, A) == ("replaced", D)  # through D → C → B
    assert decide(0, A, None)[0] == "replaced" and decide(2, C, B) == ("replaced", D)


def test_plan_without_the_links_holds_rather_than_steps_back(engine, storage):
    """Only A and D issued (B and C between them did not): from B's side D's place is unknown, and the
    record never goes back to older scans — B is held; D's re-run keeps its version."""
    rec = sample_record("HB-0505")
    put_from(engine, storage, make(rec, 1), A)
    newest = make(corrected(rec, "9,5"), 2)
    put_from(engine, storage, newest, D, replaces=C)
    p = plan(engine, rec.record_id, make(corrected(rec, "2,5"), 3).digest, batch_id=B, replaces_batch_id=A)
    assert (p.action, p.other_batch) == ("held", D)
    assert plan(engine, rec.record_id, newest.digest, batch_id=D, replaces_batch_id=C).action == "unchanged"


def test_plan_ends_the_alternation_of_versions_issued_before_batches_were_noted(engine, storage):
    """Two batches that superseded each other at every re-run (v1 … v4, no batch in the ledger: issued
    before 0004): the XML names each
    version's batch; the batch that did not issue the latest version is replaced from now on."""
    rec = sample_record("HB-0506")
    batches = {}
    for v, batch in enumerate((A, B, A, B), start=1):
        e = put(engine, storage, make(corrected(rec, f"{v},0"), v))
        batches[e.version] = batch
    by_xml = {"batch_of": lambda e: batches[e.version]}
    again_a = plan(engine, rec.record_id, make(corrected(rec, "1,0"), 5).digest, batch_id=A, **by_xml)
    assert (again_a.action, again_a.other_batch) == ("replaced", B)
    again_b = plan(engine, rec.record_id, make(corrected(rec, "4,0"), 5).digest, batch_id=B, **by_xml)
    assert again_b.action == "unchanged"


def test_plan_names_the_batch_of_versions_issued_before_the_batch_columns(engine, storage):
    """Rows without a batch (issued before 0004): the caller tells their batch; unknown is treated as the
    same batch, as before (issue the correction)."""
    rec = sample_record("HB-0503")
    put(engine, storage, make(rec, 1))  # no batch given: batch_id NULL, as before 0004
    m = make(corrected(rec), 2)
    assert plan(engine, rec.record_id, m.digest, batch_id=B).action == "issue"
    asked: list[int] = []

    def batch_of(e: LedgerEntry) -> str:
        asked.append(e.version)
        return A

    p = plan(engine, rec.record_id, m.digest, batch_id=B, batch_of=batch_of)
    assert (p.action, p.other_batch, asked) == ("held", A, [1])
    assert plan(engine, rec.record_id, m.digest, batch_id=A, batch_of=batch_of).action == "issue"
    # the digest under an older definition counts as the same content
    assert plan(engine, rec.record_id, "f" * 64, batch_id=A, same_as=(make(rec, 1).digest,)).action == \
        "unchanged"


CRASH = r"""
import datetime as dt, os, signal, sys
from pathlib import Path
from pipelines.issue import ledger
from pipelines.db import make_engine
from pipelines.storage import Storage

url, root, xml, pdf, rid, digest, when = sys.argv[1:]
insert = ledger._insert_rows

def crash(conn, rows):
    if when == "after_insert":
        insert(conn, rows)  # the rows are in the transaction, not committed
    os.kill(os.getpid(), signal.SIGKILL)

ledger._insert_rows = crash
ledger.issue(make_engine(url), Storage(root), record_id=rid, content_sha256=digest,
             xml=Path(xml).read_bytes(), pdf=Path(pdf).read_bytes(), signer_certs=[],
             issued_at=dt.datetime(2026, 5, 21, tzinfo=dt.UTC))
print("not killed")
"""


@pytest.mark.parametrize("when", ["before_insert", "after_insert"])
def test_a_crash_between_the_files_and_the_commit_leaves_files_and_no_row_and_a_rerun_issues_once(
        engine, db_url, storage, v1, v2, tmp_path, when):
    put(engine, storage, v1)
    (tmp_path / "v2.xml").write_bytes(v2.xml)
    (tmp_path / "v2.pdf").write_bytes(v2.pdf)
    child = subprocess.run(
        [sys.executable, "-c", CRASH, db_url, storage.root_url, str(tmp_path / "v2.xml"),
         str(tmp_path / "v2.pdf"), v2.record.record_id, v2.digest, when],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    xml_uri = f"issued/{hashlib.sha256(v2.xml).hexdigest()[:2]}/{hashlib.sha256(v2.xml).hexdigest()}.xml"
    pdf_sha = hashlib.sha256(v2.pdf).hexdigest()
    assert storage.exists(xml_uri) and storage.exists(f"issued/{pdf_sha[:2]}/{pdf_sha}.pdf")  # files first
    assert rows(engine) == 1 and lookup(engine, xml_sha256=hashlib.sha256(v2.xml).hexdigest()) is None
    assert next_version(engine, v2.record.record_id, v2.digest) == (2, None)

    e = put(engine, storage, v2)  # the re-run
    assert (e.version, e.xml_uri) == (2, xml_uri)
    assert put(engine, storage, v2).seq == e.seq  # and once only
    hist = ledger.history(engine, v2.record.record_id)
    assert [(h.event, h.version) for h in hist] == [("issue", 1), ("supersede", 1), ("issue", 2)]
    assert storage.read_bytes(e.pdf_uri) == v2.pdf and check_chain(engine).ok


def test_a_console_database_at_0001_gains_the_ledger_and_can_go_back(db_url):
    from alembic import command

    eng = db.make_engine(db_url)
    try:
        with db.writer(eng).connect() as conn:
            command.upgrade(db.alembic_config(conn), "0001")
            conn.commit()
        assert db.current_revision(eng) == "0001"
        with eng.begin() as conn:
            conn.execute(text("INSERT INTO review_user (username, password_hash, role, scope_kind, active, "
                              "created_at) VALUES ('an', 'x', 'admin', 'all', true, CURRENT_TIMESTAMP)"))
        db.upgrade(eng)
        assert db.current_revision(eng) == _head() and check_chain(eng).ok
        with eng.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM review_user")).scalar_one() == 1
        with db.writer(eng).connect() as conn:
            command.downgrade(db.alembic_config(conn), "0001")
            conn.commit()
        assert db.current_revision(eng) == "0001"
    finally:
        eng.dispose()


# --- migration 0004: the batch columns --------------------------------------------------------------------
_PRE_0005_HASHED = ("seq", "event", "record_id", "version", "status", "content_sha256", "xml_sha256",
                    "pdf_sha256", "xml_uri", "pdf_uri", "signer_certs", "issued_at", "supersedes", "reason",
                    "recorded_at")


def _pre_0004_entry_hash(row: dict, prev_hash: str) -> str:
    """The entry hash as hocba computed it before 0004: a frozen copy, independent of the module's."""
    data = {k: (row[k].astimezone(dt.UTC).isoformat(timespec="microseconds")
                if k in ("issued_at", "recorded_at") else row[k]) for k in _PRE_0005_HASHED}
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{blob}".encode()).hexdigest()


def _before_0004() -> str:
    """The revision 0004 follows (the console's migrations may add one between the ledger's)."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(db.alembic_config()).get_revision("0004").down_revision)


def _migrate(eng: Engine, revision: str, *, down: bool = False) -> None:
    from alembic import command

    with db.writer(eng).connect() as conn:
        (command.downgrade if down else command.upgrade)(db.alembic_config(conn), revision)
        conn.commit()


def _rows_from_before_0004(storage: Storage, made: list[Made]) -> list[dict]:
    """A chain as hocba wrote it before 0004 (no batch columns): each record's v1 issued, the last revoked."""
    rows, prev = [], ledger.GENESIS
    events = [("issue", m) for m in made] + [("revoke", made[-1])]
    for seq, (event, m) in enumerate(events, start=1):
        r = {"seq": seq, "event": event, "record_id": m.record.record_id, "version": 1,
             "status": ledger.EVENT_STATUS[event], "content_sha256": m.digest,
             "xml_sha256": hashlib.sha256(m.xml).hexdigest(), "pdf_sha256": hashlib.sha256(m.pdf).hexdigest(),
             "xml_uri": write_once(storage, m.xml, "xml"), "pdf_uri": write_once(storage, m.pdf, "pdf"),
             "signer_certs": CERTS, "issued_at": AT, "supersedes": None,
             "reason": "quét nhầm" if event == "revoke" else None,
             "recorded_at": AT + dt.timedelta(minutes=seq, microseconds=seq), "prev_hash": prev}
        r["entry_hash"] = prev = _pre_0004_entry_hash(r, prev)
        rows.append(r)
    return rows


def test_a_ledger_from_before_0004_still_holds_after_it_and_takes_batches(db_url, storage):
    eng = db.make_engine(db_url)
    try:
        _migrate(eng, _before_0004())
        kept, gone = make(sample_record("HB-0701"), 1), make(sample_record("HB-0702"), 1)
        old = _rows_from_before_0004(storage, [kept, gone])
        with db.writer(eng).begin() as conn:
            conn.execute(insert(LedgerEntry.__table__), old)  # the columns of then: no batch
        db.upgrade(eng)
        assert db.current_revision(eng) == _head()
        assert check_chain(eng) == ledger.ChainReport(True, 3, None, None, old[-1]["entry_hash"])
        rid = kept.record.record_id
        assert [(e.batch_id, e.replaces_batch_id) for e in ledger.history(eng, rid)] == [(None, None)]

        # a rescan in batch B (replacing A) on top: v1's supersede row repeats its (absent) batch
        e2 = put_from(eng, storage, make(corrected(kept.record), 2), B, replaces=A)
        assert [(h.seq, h.event, h.batch_id, h.replaces_batch_id) for h in ledger.history(eng, rid)] == [
            (1, "issue", None, None), (4, "supersede", None, None), (5, "issue", B, A)]
        report = check_chain(eng)
        assert (report.ok, report.entries, report.head) == (True, 5, e2.entry_hash)
        # plan reads the columns: A (the batch B replaces) issues nothing any more
        p = plan(eng, rid, kept.digest, batch_id=A, batch_of=lambda e: A)
        assert (p.action, p.other_batch) == ("replaced", B)

        # the append-only triggers cover the new columns (SQLite: BEFORE UPDATE ON the table)
        for sql in ("UPDATE issue_ledger SET batch_id = 'x' WHERE seq = 1",
                    "UPDATE issue_ledger SET replaces_batch_id = NULL WHERE seq = 5",
                    "DELETE FROM issue_ledger WHERE seq = 5"):
            with pytest.raises(Exception, match="append-only"), eng.begin() as conn:
                conn.execute(text(sql))
        # going back would drop hashed values: refused, nothing changed
        with pytest.raises(RuntimeError, match="would break the hash chain"):
            _migrate(eng, _before_0004(), down=True)
        assert db.current_revision(eng) == _head() and check_chain(eng).ok
    finally:
        eng.dispose()


def test_0005_goes_back_while_no_row_has_a_batch_and_keeps_the_triggers(engine, storage, v1, v2):
    put(engine, storage, v1)
    put(engine, storage, v2)
    head = check_chain(engine)
    _migrate(engine, _before_0004(), down=True)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("issue_ledger")}
    assert "batch_id" not in columns and "replaces_batch_id" not in columns and "entry_hash" in columns
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE issue_ledger SET reason = 'x'"))
    db.upgrade(engine)
    assert check_chain(engine) == head


def test_the_chain_shows_an_edited_batch(tmp_path, storage, v1, v2):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    eng = db.make_engine(url)
    db.upgrade(eng)
    put(eng, storage, v1)  # no batch: hashed as before 0004
    put_from(eng, storage, v2, B, replaces=A)  # 2: supersede v1, 3: issue v2 from B
    eng.dispose()
    cases = {
        "UPDATE issue_ledger SET batch_id = 'khac' WHERE seq = 3": 3,
        "UPDATE issue_ledger SET replaces_batch_id = NULL WHERE seq = 3": 3,
        f"UPDATE issue_ledger SET replaces_batch_id = '{B}' WHERE seq = 3": 3,
        f"UPDATE issue_ledger SET batch_id = '{A}' WHERE seq = 1": 1,  # a batch given to a row from before
        f"UPDATE issue_ledger SET batch_id = '{B}' WHERE seq = 2": 2,
    }
    for sql, seq in cases.items():
        bad = db.make_engine(_tampered_copy(tmp_path, tmp_path / "ledger.db", sql))
        report = check_chain(bad)
        bad.dispose()
        assert (report.ok, report.first_bad_seq) == (False, seq), (sql, report)
        assert "row was changed" in report.problem, (sql, report)


def test_ledger_show_names_each_versions_batch(tmp_path, storage, v1, v2):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    eng = db.make_engine(url)
    db.upgrade(eng)
    put(eng, storage, v1)
    put_from(eng, storage, v2, B, replaces=A)
    eng.dispose()
    runner = CliRunner()
    res = runner.invoke(main, ["ledger", "show", v1.record.record_id, "--database-url", url])
    assert res.exit_code == 0, res.output
    assert f"lô / batch {B}  (thay lô / replaces {A})" in res.output
    assert res.output.count("lô / batch ") == 1  # v1 has none
    res = runner.invoke(main, ["ledger", "show", v1.record.record_id, "--json", "--database-url", url])
    rows_ = [json.loads(line) for line in res.output.splitlines()]
    assert [(r["event"], r["batch_id"], r["replaces_batch_id"]) for r in rows_] == [
        ("issue", None, None), ("supersede", None, None), ("issue", B, A)]


def _head() -> str:
    """The newest migration (0002 made the ledger; later ones are other tables')."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(db.alembic_config()).get_current_head())


def test_the_migration_creates_the_ledger_at_head(engine):
    assert db.current_revision(engine) == _head() and _head() >= "0002"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one() == 0
    assert check_chain(engine) == ledger.ChainReport(True, 0, None, None, None)


@pytest.fixture(autouse=True)
def _no_leftover_engines():
    yield
    db.dispose_engines()

