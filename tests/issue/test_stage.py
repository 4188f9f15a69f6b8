"""issue_batch end to end on synthetic accepted books: issue, re-run, correction, revocation; two batches
holding one book; a version race with a second issuer; the keys checked before anything is written.

Real keys (development PKIs), the real ledger (SQLite) and files, and the verifier."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipelines.db import database, make_engine
from pipelines.errors import ConfigError, ExitCode
from pipelines.issue.errors import LedgerConflict, SchoolKeyMissing, SigningKeyError
from pipelines.issue.keys import school_keys
from pipelines.issue.ledger import LedgerEntry, check_chain, history, issue, revoke
from pipelines.issue.model import BookRecord, ScanRef
from pipelines.issue.stage import LEDGER_ATTEMPTS, issue_batch, verify_issued
from pipelines.issue.verify import verify_file
from pipelines.storage import Storage
from pipelines.synth.accepted import issue_inputs
from tests.issue.samples import BATCH, DISTRICT, SCHOOL, frames, sample_record, with_value
from tests.issue.signing import keys_for, make_pki, settings_for

pytestmark = pytest.mark.slow

OTHER_SCHOOL = "HN-BD-THCS02"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """One development CA with keys for the synthetic district's school and two sample schools."""
    synth_school = str(issue_inputs(books=1, seed=5)[2]["school"].iloc[0])
    return make_pki(tmp_path_factory.mktemp("issue-pki") / "pki",
                    schools=[synth_school, SCHOOL, OTHER_SCHOOL])


@pytest.fixture(scope="module")
def env(tmp_path_factory, pki):
    root = tmp_path_factory.mktemp("issue-stage")
    inputs = issue_inputs(books=3, seed=5)
    return {"keys": school_keys(settings_for(pki)), "ca": [pki / "ca.pem"], "inputs": inputs,
            "engine": database(f"sqlite:///{root / 'hocba.db'}"), "storage": Storage(str(root))}


@pytest.fixture
def fresh(tmp_path, pki):
    """An empty ledger and issued root of this test's own."""
    url = f"sqlite:///{tmp_path / 'hocba.db'}"
    return {"keys": school_keys(settings_for(pki)), "ca": [pki / "ca.pem"], "url": url,
            "engine": database(url), "storage": Storage(str(tmp_path / "root")), "root": tmp_path / "root"}


def _issue(env, accepted=None):
    acc, norm, man = env["inputs"]
    return issue_batch(acc if accepted is None else accepted, norm, man, engine=env["engine"],
                       storage=env["storage"], keys=env["keys"], trust_roots=env["ca"])


def _run(env, records: list[BookRecord], **kw):
    """issue_batch over the frames of ``records`` (one batch's books)."""
    acc, norm, man = frames(records)
    args = {"engine": env["engine"], "storage": env["storage"], "keys": env["keys"], "trust_roots": env["ca"]}
    return issue_batch(acc, norm, man, **(args | kw))


def _rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()


def _nothing_written(env) -> bool:
    root: Path = env["root"]
    return _rows(env["engine"]) == 0 and not (root / "issued").exists()


def test_issue_rerun_correct_and_revoke(env):
    first = _issue(env)
    assert (first.new, first.unchanged, first.failed) == (3, 0, [])
    assert verify_issued(first.issued, env["storage"], env["engine"], env["ca"]) == {}
    assert env["storage"].exists(first.issued["pdf_uri"].iloc[0])

    again = _issue(env)  # the same accepted values: nothing is signed or written again
    assert (again.new, again.unchanged) == (0, 3)
    assert list(again.issued["ledger_seq"]) == list(first.issued["ledger_seq"])

    # A reviewer's later correction of one score: that book gets version 2, superseding 1.
    acc, _, _ = env["inputs"]
    book = first.issued["book_ref"].iloc[0]
    row = acc[(acc["book_ref"] == book) & acc["field_id"].str.endswith(".hk1")].index[0]
    fixed = acc.copy()
    fixed.loc[row, ["value", "source", "reviewed_by"]] = ["4,5", "review", "rv1"]
    second = _issue(env, fixed)
    assert (second.new, second.unchanged) == (1, 2)
    rid = first.issued["record_id"].iloc[0]
    v2 = second.issued.set_index("record_id").loc[rid]
    assert v2["version"] == 2
    assert verify_issued(second.issued, env["storage"], env["engine"], env["ca"]) == {}
    # The first version's files still exist and now verify as superseded, not current.
    old = first.issued[first.issued["record_id"] == rid]
    assert verify_issued(old, env["storage"], env["engine"], env["ca"])  # not current any more

    # A second review that confirms the same values is no new content: nothing is issued.
    confirmed = fixed.copy()
    confirmed["source"], confirmed["reviewed_by"] = "review", "rv2"
    confirmed["reviewed_at"] = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    reviewed_again = _issue(env, confirmed)
    assert (reviewed_again.new, reviewed_again.unchanged) == (0, 3)

    # Revoking version 2 holds the book back: a re-run with the same values does not reissue it.
    revoke(env["engine"], rid, 2, reason="test: issued in error")
    third = _issue(env, fixed)
    assert (third.new, third.unchanged, third.revoked) == (0, 2, 1)
    assert rid not in set(third.issued["record_id"])
    assert [e.event for e in history(env["engine"], rid)] == ["issue", "supersede", "issue", "revoke"]
    assert check_chain(env["engine"]).ok


# --- one book in two batches of a school ----------------------------------------------------------------
BATCH_B = f"{DISTRICT}/{SCHOOL}/2024-002"


def rescanned(rec: BookRecord, batch: str, replaces: str | None) -> BookRecord:
    """``rec`` scanned again into ``batch`` (new files, new hashes; page ids of that batch)."""
    scans = tuple(ScanRef(f"lai/{s.file_path}",
                          hashlib.sha256(f"{batch}/{s.file_sha256}".encode()).hexdigest()) for s in rec.scans)
    years = tuple(dataclasses.replace(y, page_id=f"b2-{y.page_id}") for y in rec.years)
    return dataclasses.replace(rec, batch_id=batch, replaces_batch_id=replaces, scans=scans, years=years,
                               identity_page_id=f"b2-{rec.identity_page_id}")


@pytest.mark.parametrize("order", ["A then B", "B then A"])
def test_two_batches_sharing_a_book_issue_nothing_new_when_re_run(fresh, order):
    """Batch B's scans of HB-0001 replace batch A's (manifest column ``replaces``): issuing B supersedes
    A's version explicitly, and re-running both batches afterwards issues nothing — A's old content
    is never issued again (it would revert the record)."""
    a = sample_record("HB-0001")
    b = rescanned(with_value(a, 0, "scores.toan.hk2", "9,0"), BATCH_B, replaces=BATCH)
    rid = a.record_id
    runs = [("A", a), ("B", b)] if order == "A then B" else [("B", b), ("A", a)]
    first = {name: _run(fresh, [rec]) for name, rec in runs}
    if order == "A then B":
        assert (first["A"].new, first["B"].new) == (1, 1)
        assert [(e.event, e.version) for e in history(fresh["engine"], rid)] == [
            ("issue", 1), ("supersede", 1), ("issue", 2)]
        why = history(fresh["engine"], rid)[1].reason
        assert why == f"thay bằng phiên bản 2 (lô {BATCH_B} thay lô {BATCH})"
    else:  # A meets B's version: A's book was replaced before A ever issued it
        assert (first["B"].new, first["A"].new, first["A"].replaced) == (1, 0, [(rid, BATCH_B)])
    seqs = _rows(fresh["engine"])

    for _ in range(2):  # re-run both batches, twice
        again_a, again_b = _run(fresh, [a]), _run(fresh, [b])
        assert (again_a.new, again_b.new) == (0, 0)
        assert again_a.replaced == [(rid, BATCH_B)] and again_a.issued.empty and again_a.failed == []
        assert again_b.unchanged == 1 and list(again_b.issued["version"]) == [2 if order == "A then B" else 1]
    # A's reviewer corrects something afterwards: still B's book, nothing issued from A
    assert _run(fresh, [with_value(a, 1, "scores.toan.hk1", "3,0")]).replaced == [(rid, BATCH_B)]
    assert _rows(fresh["engine"]) == seqs
    current = [e for e in history(fresh["engine"], rid) if e.event == "issue"][-1]
    assert (current.batch_id, current.replaces_batch_id) == (BATCH_B, BATCH)
    assert verify_issued(again_b.issued, fresh["storage"], fresh["engine"], fresh["ca"]) == {}
    assert check_chain(fresh["engine"]).ok


def test_a_second_batch_without_replaces_is_not_issued_and_says_why(fresh):
    """Ingest quarantines such a book; if one reaches the stage anyway, neither batch takes the record
    from the other at each re-run: the later one is reported, not issued."""
    a = sample_record("HB-0001")
    assert _run(fresh, [a]).new == 1
    b = rescanned(a, BATCH_B, replaces=None)
    r = _run(fresh, [b])
    assert r.new == 0 and r.issued.empty
    [(rid, why)] = r.failed
    assert rid == a.record_id and f"came from batch {BATCH}" in why and f"replaces = {BATCH}" in why
    assert _run(fresh, [a]).unchanged == 1 and _rows(fresh["engine"]) == 1


def test_scan_manifest_without_the_replaces_column(fresh):
    """Tables written before the column existed: read as replacing nothing."""
    acc, norm, man = frames([sample_record("HB-0001")])
    r = issue_batch(acc, norm, man.drop(columns=["replaces_batch_id"], errors="ignore"),
                    engine=fresh["engine"], storage=fresh["storage"], keys=fresh["keys"],
                    trust_roots=fresh["ca"])
    assert r.new == 1
    (entry,) = history(fresh["engine"], r.issued["record_id"].iloc[0])
    assert (entry.batch_id, entry.replaces_batch_id, entry.reason) == (BATCH, None, None)


def test_versions_issued_under_the_old_content_hash_are_not_reissued(fresh, pki):
    """A ledger written before the hash left the batch out: the same book's re-run issues nothing."""
    from pipelines.issue.pdf import render_pdf
    from pipelines.issue.record import content_sha256, legacy_content_sha256, record_xml
    from pipelines.issue.sign import sign_pdf, sign_xml

    rec, keys = sample_record("HB-0001"), keys_for(pki, SCHOOL)
    at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    old = legacy_content_sha256(rec)
    xml = record_xml(rec, version=1, supersedes=None, issued_at=at).replace(
        content_sha256(rec).encode(), old.encode())  # as the old code wrote the header
    xml = sign_xml(xml, keys.school)
    pdf = sign_pdf(render_pdf(rec, xml=xml, version=1, issued_at=at), keys.pdf_order)
    issue(fresh["engine"], fresh["storage"], record_id=rec.record_id, content_sha256=old, xml=xml, pdf=pdf,
          signer_certs=keys.summaries(), issued_at=at)  # and no batch, as before 0004
    r = _run(fresh, [rec])
    assert (r.new, r.unchanged, list(r.issued["version"])) == (0, 1, [1])
    # a book of another batch meeting such a version: its batch is read from the version's XML
    r = _run(fresh, [rescanned(rec, BATCH_B, replaces=None)])
    assert r.new == 0 and f"came from batch {BATCH}" in r.failed[0][1]
    assert _run(fresh, [rescanned(rec, BATCH_B, replaces=BATCH)]).new == 1


# --- a version race ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RacingStorage(Storage):
    """Storage that lets a rival issuer run while an issued XML is being written (once per version
    made): the moment between the stage's plan and its ledger append, where a second process can
    append a version first."""

    rival: Callable[[], None] | None = dataclasses.field(default=None, compare=False)

    def write_bytes(self, rel: str, data: bytes) -> None:
        if self.rival is not None and data.startswith(b"<?xml"):
            self.rival()
        super().write_bytes(rel, data)


def _rival(fresh, record: BookRecord, *, every_time: bool):
    """A second issuer (its own engine on the same SQLite file, plain storage) issuing ``record``
    corrected — a new score each time it runs, so each run appends a version."""
    engine = make_engine(fresh["url"])
    runs: list[int] = []

    def run() -> None:
        if runs and not every_time:
            return
        runs.append(len(runs))
        other = with_value(record, 0, "scores.toan.hk2", f"{len(runs)},0")
        acc, norm, man = frames([other])
        r = issue_batch(acc, norm, man, engine=engine, storage=Storage(str(fresh["root"])),
                        keys=fresh["keys"], trust_roots=fresh["ca"])
        assert r.new == 1

    return run, runs, engine


def test_a_ledger_version_race_is_retried_with_the_next_version(fresh):
    rec = sample_record("HB-0001")
    run, runs, rival_engine = _rival(fresh, rec, every_time=False)
    storage = RacingStorage(str(fresh["root"]), rival=run)
    r = _run(fresh, [rec], storage=storage)
    assert runs == [0]  # the rival appended v1 while this issuer was writing its own v1
    assert (r.new, r.retries, list(r.issued["version"])) == (1, 1, [2])
    hist = history(fresh["engine"], rec.record_id)
    assert [(e.event, e.version) for e in hist] == [("issue", 1), ("supersede", 1), ("issue", 2)]
    assert verify_issued(r.issued, fresh["storage"], fresh["engine"], fresh["ca"]) == {}
    assert check_chain(fresh["engine"]).ok
    rival_engine.dispose()


def test_a_version_race_that_never_ends_fails_the_step_after_bounded_tries(fresh):
    rec = sample_record("HB-0001")
    run, runs, rival_engine = _rival(fresh, rec, every_time=True)
    with pytest.raises(LedgerConflict, match=f"gave up after {LEDGER_ATTEMPTS} tries"):
        _run(fresh, [rec], storage=RacingStorage(str(fresh["root"]), rival=run))
    assert len(runs) == LEDGER_ATTEMPTS  # one rival version per try, and none of ours
    assert [e.version for e in history(fresh["engine"], rec.record_id) if e.event == "issue"] == [1, 2, 3, 4]
    assert check_chain(fresh["engine"]).ok
    rival_engine.dispose()


# --- keys checked before anything is written ------------------------------------------------------------
def test_keys_the_trust_roots_do_not_trust_are_refused_before_any_write(fresh, tmp_path):
    """Production keys with the development trust root (here: keys of another CA): refused up front,
    no file and no ledger row — not found by the blocking check after the records were in the ledger."""
    other = make_pki(tmp_path / "other-ca", schools=[SCHOOL])
    with pytest.raises(SigningKeyError) as exc:
        _run(fresh, [sample_record("HB-0001")], keys=school_keys(settings_for(other)))
    msg = str(exc.value)
    assert f"school {SCHOOL}" in msg and "HOCBA_TRUST_ROOTS" in msg and str(fresh["ca"][0]) in msg
    assert "does not chain" in msg and exc.value.exit_code == ExitCode.setting
    assert _nothing_written(fresh)
    # a trust root that is not there: a configuration error, and nothing written either
    with pytest.raises(ConfigError, match="trust root"):
        _run(fresh, [sample_record("HB-0001")], trust_roots=[tmp_path / "missing-ca.pem"])
    assert _nothing_written(fresh)
    # the right roots: issued
    assert _run(fresh, [sample_record("HB-0001")], keys=school_keys(settings_for(other)),
                trust_roots=[other / "ca.pem"]).new == 1


def test_each_school_signs_with_its_own_key(fresh, pki):
    a = sample_record("HB-0001")
    b = dataclasses.replace(a, school=OTHER_SCHOOL, record_id=f"{OTHER_SCHOOL}-HB-0001",
                            batch_id=f"{DISTRICT}/{OTHER_SCHOOL}/2024-001")
    for rec in (a, b):
        r = _run(fresh, [rec])
        assert r.new == 1 and list(r.issued["record_id"]) == [rec.record_id]
        for uri in r.issued[["xml_uri", "pdf_uri"]].iloc[0]:
            v = verify_file(fresh["storage"].full(uri), trust_roots=fresh["ca"], engine=fresh["engine"])
            assert v.ok, v.messages
            assert v.signers and all(f"VN-{rec.school}" in s for s in v.signers)  # the certificates name it
        (entry,) = history(fresh["engine"], rec.record_id)
        mine = keys_for(pki, rec.school)
        assert [c["sha256"] for c in entry.signer_certs] == [mine.principal.sha256, mine.school.sha256]


def test_a_school_without_a_key_is_refused_naming_it_and_where_the_key_was_looked_for(fresh, pki):
    lost = "HN-BD-THCS09"
    rec = dataclasses.replace(sample_record("HB-0001"), school=lost, record_id=f"{lost}-HB-0001",
                              batch_id=f"{DISTRICT}/{lost}/2024-001")
    with pytest.raises(SchoolKeyMissing) as exc:
        _run(fresh, [rec])
    msg = str(exc.value)
    assert f"school {lost}" in msg and str(pki / lost / "school.p12") in msg
    assert f"--school-code {lost}" in msg
    assert _nothing_written(fresh)
    # another school's batch goes on (a batch is one school's)
    assert _run(fresh, [sample_record("HB-0001")]).new == 1
    # one school's keys given where every school's are expected: the same refusal
    with pytest.raises(SchoolKeyMissing, match=f"only the keys of school {SCHOOL}"):
        _run(fresh, [rec], keys=keys_for(pki, SCHOOL))
