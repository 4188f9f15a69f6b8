"""issue_batch end to end on synthetic accepted books: issue, re-run, correction, revocation.

Real keys (a development PKI), the real ledger (SQLite) and files, and the verifier."""

from __future__ import annotations

import pytest

from pipelines.issue.ledger import check_chain, history, revoke
from pipelines.issue.stage import issue_batch, verify_issued
from pipelines.review.db import database
from pipelines.storage import Storage
from pipelines.synth.accepted import issue_inputs
from tests.issue.signing import keys_for, make_pki

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("issue-stage")
    pki = make_pki(root / "pki")
    inputs = issue_inputs(books=3, seed=5)
    return {"keys": keys_for(pki), "ca": [pki / "ca.pem"], "inputs": inputs,
            "engine": database(f"sqlite:///{root / 'hocba.db'}"), "storage": Storage(str(root))}


def _issue(env, accepted=None):
    acc, norm, man = env["inputs"]
    return issue_batch(acc if accepted is None else accepted, norm, man, engine=env["engine"],
                       storage=env["storage"], keys=env["keys"])


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

    # Revoking version 2 holds the book back: a re-run with the same values does not reissue it.
    revoke(env["engine"], rid, 2, reason="test: issued in error")
    third = _issue(env, fixed)
    assert (third.new, third.unchanged, third.revoked) == (0, 2, 1)
    assert rid not in set(third.issued["record_id"])
    assert [e.event for e in history(env["engine"], rid)] == ["issue", "issue", "supersede", "revoke"] or \
        sorted(e.event for e in history(env["engine"], rid)).count("revoke") == 1
    assert check_chain(env["engine"]).ok
