"""A book_ref belongs to one batch of a school; ``replaces`` hands it on (issue 14, part 6)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.ingest.batch import IngestResult, ingest_batch
from pipelines.ingest.books import BookVerdict, SchoolBooks, judge_book
from pipelines.storage import Storage
from pipelines.table_io import write_table
from tests.ingest.conftest import NOW
from tests.ingest.helpers import blank_page, png_bytes, write_manifest

D, S = "760", "79760403"
COLUMNS = ["file", "book_ref", "replaces"]


def _id(batch: str, school: str = S) -> str:
    return f"{D}/{school}/{batch}"


# --- the rule, on its own -----------------------------------------------------------
def _judge(replaces: list[str], holders: dict[str, str | None], *, batch: str = "b009",
           batches: set[str] | None = None) -> BookVerdict:  # fmt: skip
    known = SchoolBooks(frozenset(batches if batches is not None else holders), {"HB-1": holders})
    return judge_book("HB-1", replaces, known, batch_id=_id(batch), district=D, school=S)


def test_a_new_book_is_accepted() -> None:
    assert _judge([], {}) == BookVerdict()


def test_a_book_another_batch_holds_is_taken() -> None:
    v = _judge([], {_id("b001"): None})
    assert v.refused == ("book_ref_taken", f"book_ref 'HB-1' is already held by batch {_id('b001')}; "
                         "to replace its scans write replaces=b001")  # fmt: skip


@pytest.mark.parametrize("written", ["b001", _id("b001")])
def test_replaces_by_folder_name_or_full_id(written: str) -> None:
    assert _judge([written, written], {_id("b001"): None}) == BookVerdict(replaces_batch_id=_id("b001"))


@pytest.mark.parametrize(
    ("replaces", "holders", "batches", "why"),
    [
        (["b007"], {_id("b001"): None}, None, "no such batch of this school has been ingested"),
        (["b002"], {_id("b001"): None}, {_id("b001"), _id("b002")}, "which holds no scans of book 'HB-1'"),
        ([f"{D}/other/b001"], {_id("b001"): None}, None, "a batch of another school"),
        (["b009"], {_id("b001"): None}, None, "names this batch itself"),
        (["b001", "b002"], {_id("b001"): None, _id("b002"): None}, None, "name different batches"),
        # b001 was replaced by b002: a third batch must name b002, not fork the chain.
        (["b001"], {_id("b001"): None, _id("b002"): _id("b001")}, None,
         f"already replaced by {_id('b002')}; name the latest holder of the book: {_id('b002')}"),
        # b009 is the earlier batch here: it cannot in turn replace what replaced it.
        (["b002"], {_id("b002"): _id("b009")}, None, "itself replaces this batch's scans"),
    ],
)  # fmt: skip
def test_bad_replaces(replaces, holders, batches, why) -> None:
    v = _judge(replaces, holders, batches=batches)
    assert v.refused is not None and v.refused[0] == "bad_replaces" and why in v.refused[1], v


def test_an_old_batch_rerun_after_it_was_replaced_keeps_its_book() -> None:
    # b001 ← b002 ← b003: re-running b001 or b002 conflicts with neither.
    chain = {_id("b002"): _id("b001"), _id("b003"): _id("b002")}
    assert _judge([], chain, batch="b001") == BookVerdict()
    assert _judge(["b001"], {_id("b001"): None, _id("b003"): _id("b002")}, batch="b002") == BookVerdict(
        replaces_batch_id=_id("b001"))  # fmt: skip


def test_replacing_one_holder_does_not_hide_another() -> None:
    v = _judge(["b001"], {_id("b001"): None, _id("b005"): None})
    assert v.refused is not None and v.refused[0] == "book_ref_taken" and _id("b005") in v.refused[1]


# --- through ingest, with stored scan_manifest partitions ---------------------------------
class School:
    """Batches of one school in an inbox, ingested into one storage whose tables are
    written the way the Dagster IO manager writes them."""

    def __init__(self, root: Path) -> None:
        self.inbox = root / "inbox"
        self.storage = Storage(str(root / "storage"))
        self.seed = 0

    def batch(self, name: str, rows: list[dict]) -> None:
        folder = self.inbox / _id(name)
        folder.mkdir(parents=True, exist_ok=True)
        for row in rows:
            self.seed += 1
            (folder / row["file"]).write_bytes(png_bytes(blank_page(seed=self.seed)))
        write_manifest(folder, rows, columns=COLUMNS)

    def ingest(self, name: str, *, store: bool = True) -> IngestResult:
        result = ingest_batch(Storage(str(self.inbox)), _id(name), self.storage, batch_id=_id(name),
                              district=D, school=S, now=NOW)  # fmt: skip
        if store:
            for table in ("scan_manifest", "file_quarantine", "page_images", "page_quarantine"):
                write_table(self.storage, table, getattr(result, table), _id(name))
        return result


def _reasons(result: IngestResult) -> dict[str, str]:
    fq = result.file_quarantine
    return dict(zip(fq["file_path"], fq["reason_code"], strict=True))


def _replaces(result: IngestResult) -> dict[str, str | None]:
    sm = result.scan_manifest
    return {f: (r if isinstance(r, str) else None)
            for f, r in zip(sm["file_path"], sm["replaces_batch_id"], strict=True)}  # fmt: skip


def test_book_identity_across_batches_of_a_school(tmp_path: Path) -> None:
    school = School(tmp_path)
    school.batch("b001", [{"file": "a1.png", "book_ref": "HB-1"}, {"file": "a2.png", "book_ref": "HB-2"}])
    first = school.ingest("b001")
    assert _reasons(first) == {} and _replaces(first) == {"a1.png": None, "a2.png": None}

    # Same label in a later batch without replaces: refused; the other book goes on.
    school.batch("b002", [{"file": "c1.png", "book_ref": "HB-1"}, {"file": "c2.png", "book_ref": "HB-3"}])
    taken = school.ingest("b002")
    assert _reasons(taken) == {"c1.png": "book_ref_taken"}
    assert list(taken.scan_manifest["file_path"]) == ["c2.png"]
    row = taken.file_quarantine.to_dict("records")[0]
    assert _id("b001") in row["detail"] and "replaces=b001" in row["detail"]
    assert "replaces" in row["reason"] and row["quarantined_uri"] is not None
    assert set(taken.page_images["file_path"]) == {"c2.png"}

    # Re-running b001 (b002 holds HB-1 nowhere: its file was quarantined): no conflict.
    pd.testing.assert_frame_equal(school.ingest("b001").scan_manifest, first.scan_manifest)

    # The operator adds replaces=b001 to b002's HB-1 row: accepted, carried as the full id.
    school.batch("b002", [{"file": "c1.png", "book_ref": "HB-1", "replaces": "b001"},
                          {"file": "c2.png", "book_ref": "HB-3"}])  # fmt: skip
    replaced = school.ingest("b002")
    assert _reasons(replaced) == {}
    assert _replaces(replaced) == {"c1.png": _id("b001"), "c2.png": None}

    # b001 re-run after b002 replaced it: its rows as before, no quarantine.
    again = school.ingest("b001")
    assert _reasons(again) == {}
    pd.testing.assert_frame_equal(again.scan_manifest, first.scan_manifest)

    # A third batch: naming b001 would fork the chain; an unknown batch is refused too.
    school.batch("b003", [{"file": "d1.png", "book_ref": "HB-1", "replaces": "b001"},
                          {"file": "d2.png", "book_ref": "HB-2", "replaces": "b999"},
                          {"file": "d3.png", "book_ref": "HB-3", "replaces": "b001"},
                          {"file": "d4.png", "book_ref": "HB-4"}])  # fmt: skip
    third = school.ingest("b003", store=False)
    assert _reasons(third) == {"d1.png": "bad_replaces", "d2.png": "bad_replaces", "d3.png": "bad_replaces"}
    details = dict(zip(third.file_quarantine["file_path"], third.file_quarantine["detail"], strict=True))
    assert f"name the latest holder of the book: {_id('b002')}" in details["d1.png"]
    assert "no such batch of this school" in details["d2.png"]
    assert "which holds no scans of book 'HB-3'" in details["d3.png"]
    assert list(third.scan_manifest["file_path"]) == ["d4.png"]

    # Another school may use the same label freely.
    other = tmp_path / "inbox" / D / "other" / "b001"
    other.mkdir(parents=True)
    (other / "x.png").write_bytes(png_bytes(blank_page(seed=99)))
    write_manifest(other, [{"file": "x.png", "book_ref": "HB-1"}], columns=COLUMNS)
    elsewhere = ingest_batch(Storage(str(school.inbox)), f"{D}/other/b001", school.storage,
                             batch_id=f"{D}/other/b001", district=D, school="other", now=NOW)  # fmt: skip
    assert _reasons(elsewhere) == {} and list(elsewhere.scan_manifest["book_ref"]) == ["HB-1"]


def test_tables_written_before_the_replaces_column_still_count(tmp_path: Path) -> None:
    """A scan_manifest partition stored without replaces_batch_id still holds its books."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    school = School(tmp_path)
    school.batch("b001", [{"file": "a1.png", "book_ref": "HB-1"}])
    old = school.ingest("b001", store=False).scan_manifest.drop(columns=["replaces_batch_id"])
    path = tmp_path / "storage" / "tables" / "scan_manifest" / D / S / "b001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(old, preserve_index=False), path)

    school.batch("b002", [{"file": "c1.png", "book_ref": "HB-1"}])
    assert _reasons(school.ingest("b002", store=False)) == {"c1.png": "book_ref_taken"}
