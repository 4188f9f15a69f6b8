"""ingest_batch on one folder with every defect: the exact outcome of each."""

from __future__ import annotations

import hashlib
import io
import shutil
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from pipelines.contracts import arrow_schema, quarantine_reasons, table_contract
from pipelines.errors import InputError
from pipelines.ingest.accounting import files_in_batch, unaccounted_files, unaccounted_pages
from pipelines.ingest.batch import ingest_batch
from pipelines.storage import Storage
from tests.ingest.conftest import BATCH_ID, NOW, Batch
from tests.ingest.helpers import png_bytes, similarity, text_page, write_manifest

TABLES = ("scan_manifest", "file_quarantine", "page_images", "page_quarantine")

EXPECTED_QUARANTINE = {
    "book1_copy.pdf": "duplicate_file",
    "trunc.pdf": "unreadable_file",
    "trunc.jpg": "unreadable_file",
    "empty.pdf": "empty_file",
    "notes.docx": "unsupported_format",
    "ghost.pdf": "missing_file",
    "extra.png": "not_in_manifest",
}
EXPECTED_ACCEPTED = [
    "book1.pdf",
    "upside_down.png",
    "exif3.jpg",
    "exif6.jpg",
    "multi.tif",
    "short.tif",
    "cut.tif",
    "sub/page.png",
]


def _by_file(df: pd.DataFrame) -> dict[str, dict]:
    return {r["file_path"]: r for r in df.to_dict("records")}


def _pages(result, file_path: str) -> list[dict]:
    df = result.page_images
    return df[df["file_path"] == file_path].sort_values("page_index").to_dict("records")


def _stored(storage_dir: Path, uri: str) -> np.ndarray:
    with Image.open(storage_dir / uri) as img:
        return np.asarray(img.convert("L"))


# --- accounting ---------------------------------------------------------------
def test_every_file_appears_exactly_once(batch: Batch, result) -> None:
    on_disk = files_in_batch(Storage(str(batch.inbox)), BATCH_ID)
    problems = unaccounted_files(on_disk, result.scan_manifest, result.file_quarantine)
    assert problems == {"missing": [], "duplicated": []}
    listed = list(result.scan_manifest["file_path"]) + list(result.file_quarantine["file_path"])
    assert sorted(listed) == sorted([*on_disk, "ghost.pdf"])


def test_every_page_accounted_for(result) -> None:
    assert unaccounted_pages(result.scan_manifest, result.page_images, result.page_quarantine) == 0


def test_accepted_and_quarantined_files(result) -> None:
    assert list(result.scan_manifest["file_path"]) == EXPECTED_ACCEPTED
    got = dict(zip(result.file_quarantine["file_path"], result.file_quarantine["reason_code"], strict=True))
    assert got == EXPECTED_QUARANTINE


def test_quarantine_rows_carry_the_vietnamese_reason(result) -> None:
    reasons = quarantine_reasons()
    for row in result.file_quarantine.to_dict("records"):
        assert row["reason"] == reasons[row["reason_code"]].message
        assert row["quarantined_at"] == pd.Timestamp(NOW)
        assert row["detail"]
    for row in result.page_quarantine.to_dict("records"):
        assert row["reason"] == reasons[row["reason_code"]].message


def test_tables_cast_to_their_arrow_schemas(result) -> None:
    for name in TABLES:
        df = getattr(result, name)
        assert list(df.columns) == table_contract(name).column_names
        table = pa.Table.from_pandas(df, schema=arrow_schema(name), preserve_index=False)
        assert table.num_rows == len(df)
        for field in arrow_schema(name):
            if not field.nullable:
                assert table.column(field.name).null_count == 0, f"{name}.{field.name}"


def test_summary(result) -> None:
    s = result.summary()
    assert s["files"] == 15 and s["files_accepted"] == 8 and s["files_quarantined"] == 7
    assert s["pages"] == len(result.page_images) == 3 + 1 + 1 + 1 + 4 + 2 + 2 + 1
    assert s["blank"] == 1
    assert s["turned"] == 1
    assert s["exif_turned"] == 2
    assert s["quarantined"] == {
        "duplicate_file": 1,
        "empty_file": 1,
        "missing_file": 1,
        "missing_page": 1,
        "not_in_manifest": 1,
        "unreadable_file": 2,
        "unreadable_page": 1,
        "unsupported_format": 1,
    }
    assert s["manifest_problems"] == 1


# --- file-level defects ---------------------------------------------------------
def test_duplicate_names_the_original(result) -> None:
    row = _by_file(result.file_quarantine)["book1_copy.pdf"]
    sm = _by_file(result.scan_manifest)["book1.pdf"]
    assert row["file_sha256"] == sm["file_sha256"]
    assert "'book1.pdf'" in row["detail"] and "line 2" in row["detail"]
    assert row["book_ref"] == "HB-001"


def test_truncated_pdf_and_jpeg_are_unreadable(result) -> None:
    rows = _by_file(result.file_quarantine)
    assert "%%EOF" in rows["trunc.pdf"]["detail"]
    assert "truncated" in rows["trunc.jpg"]["detail"]


def test_zero_byte_file(result) -> None:
    row = _by_file(result.file_quarantine)["empty.pdf"]
    assert row["size_bytes"] == 0
    assert row["file_sha256"] == hashlib.sha256(b"").hexdigest()


def test_unsupported_format_says_what_it_is(result) -> None:
    assert "ZIP" in _by_file(result.file_quarantine)["notes.docx"]["detail"]


def test_listed_but_absent(result) -> None:
    row = _by_file(result.file_quarantine)["ghost.pdf"]
    assert pd.isna(row["file_sha256"]) and pd.isna(row["size_bytes"])
    assert row["quarantined_uri"] is None
    assert row["book_ref"] == "HB-010"
    assert "line 14" in row["detail"]


def test_not_in_manifest_is_hashed_and_kept(batch: Batch, result, storage_dir: Path) -> None:
    row = _by_file(result.file_quarantine)["extra.png"]
    data = (batch.folder / "extra.png").read_bytes()
    assert row["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert row["size_bytes"] == len(data)
    assert pd.isna(row["book_ref"])
    assert row["quarantined_uri"] == f"quarantine/{BATCH_ID}/extra.png"


def test_quarantined_bytes_are_kept(batch: Batch, result, storage_dir: Path) -> None:
    for row in result.file_quarantine.to_dict("records"):
        if row["reason_code"] == "missing_file":
            continue
        assert row["quarantined_uri"] == f"quarantine/{BATCH_ID}/{row['file_path']}"
        kept = (storage_dir / row["quarantined_uri"]).read_bytes()
        assert kept == (batch.folder / row["file_path"]).read_bytes()


# --- pages ------------------------------------------------------------------------
def test_pdf_rasterized_at_300_dpi(result, storage_dir: Path) -> None:
    pages = _pages(result, "book1.pdf")
    assert [p["page_index"] for p in pages] == [0, 1, 2]
    for p in pages:
        # A6 pages (105 × 148 mm) at 300 dpi.
        assert (p["width_px"], p["height_px"], p["dpi"]) == (1240, 1748, 300)
        assert pd.isna(p["source_dpi"])
        with Image.open(storage_dir / p["image_uri"]) as img:
            assert img.mode == "L" and img.size == (1240, 1748)
            assert round(img.info["dpi"][0]) == 300


def test_page_rows(result, storage_dir: Path) -> None:
    sm = _by_file(result.scan_manifest)["book1.pdf"]
    for p in _pages(result, "book1.pdf"):
        assert p["page_id"] == f"{sm['file_sha256'][:16]}-p{p['page_index']:03d}"
        assert p["image_uri"] == f"pages/{BATCH_ID}/{p['page_id']}.png"
        assert p["book_page_no"] == 1 + p["page_index"]
        assert p["book_ref"] == "HB-001"
        data = (storage_dir / p["image_uri"]).read_bytes()
        assert p["image_sha256"] == hashlib.sha256(data).hexdigest()


def test_blank_page_detected(result) -> None:
    pages = _pages(result, "book1.pdf")
    assert [p["is_blank"] for p in pages] == [False, False, True]
    assert pd.isna(pages[2]["orientation_confidence"])
    assert pages[2]["rotation_applied"] == 0
    assert pages[0]["ink_ratio"] > 100 * pages[2]["ink_ratio"]
    assert not result.page_images[result.page_images["file_path"] != "book1.pdf"]["is_blank"].any()


def test_upside_down_page_turned_upright(batch: Batch, result, storage_dir: Path) -> None:
    (page,) = _pages(result, "upside_down.png")
    assert page["rotation_applied"] == 180
    assert page["exif_rotation"] == 0
    assert page["orientation_confidence"] >= 6
    stored = _stored(storage_dir, page["image_uri"])
    upright = np.asarray(batch.upright["upside_down.png"])
    assert similarity(stored, upright) > 0.9
    assert similarity(stored, upright[::-1, ::-1]) < 0.5


@pytest.mark.parametrize(("name", "degrees"), [("exif3.jpg", 180), ("exif6.jpg", 90)])
def test_exif_orientation_applied(batch: Batch, result, storage_dir: Path, name, degrees) -> None:
    (page,) = _pages(result, name)
    assert page["exif_rotation"] == degrees
    assert page["rotation_applied"] == 0  # upright once EXIF is applied: OSD agrees
    stored = _stored(storage_dir, page["image_uri"])
    assert similarity(stored, np.asarray(batch.upright[name])) > 0.9


def test_multipage_tiff_split(result) -> None:
    pages = _pages(result, "multi.tif")
    assert [p["page_index"] for p in pages] == [0, 1, 2, 3]
    assert len({p["image_sha256"] for p in pages}) == 4
    assert all(p["source_dpi"] == 300 for p in pages)
    sm = _by_file(result.scan_manifest)["multi.tif"]
    assert (sm["pages_found"], sm["pages_declared"], sm["status"]) == (4, 4, "ok")
    assert sm["note"] == "Ghi chú khi quét: bìa hơi mờ."


def test_missing_page(result) -> None:
    sm = _by_file(result.scan_manifest)["short.tif"]
    assert (sm["pages_found"], sm["pages_declared"], sm["status"]) == (2, 3, "page_count_mismatch")
    assert "thiếu 1 trang" in sm["note"]
    pq = result.page_quarantine
    rows = pq[pq["file_path"] == "short.tif"].to_dict("records")
    assert [(r["page_index"], r["reason_code"]) for r in rows] == [(-1, "missing_page")]
    assert rows[0]["file_sha256"] == sm["file_sha256"] and rows[0]["book_ref"] == "HB-004"


def test_undecodable_page_is_quarantined_not_the_file(result) -> None:
    sm = _by_file(result.scan_manifest)["cut.tif"]
    assert (sm["pages_found"], sm["status"]) == (3, "ok")
    assert "Trang 3" in sm["note"]
    assert [p["page_index"] for p in _pages(result, "cut.tif")] == [0, 1]
    pq = result.page_quarantine
    rows = pq[pq["file_path"] == "cut.tif"].to_dict("records")
    assert [(r["page_index"], r["reason_code"]) for r in rows] == [(2, "unreadable_page")]
    assert "truncated" in rows[0]["detail"]


def test_bad_manifest_value_reported_file_still_ingested(result) -> None:
    sm = _by_file(result.scan_manifest)["sub/page.png"]
    assert pd.isna(sm["pages_declared"]) and sm["status"] == "ok"
    assert "cột pages" in sm["note"] and "'many'" in sm["note"]
    (problem,) = result.manifest_problems
    assert (problem.line, problem.column, problem.row_dropped) == (15, "pages", False)
    (page,) = _pages(result, "sub/page.png")
    assert page["book_page_no"] == 5
    # Declared 150 dpi (an A4-sized sheet): resampled to 300 dpi.
    assert (page["source_dpi"], page["width_px"], page["height_px"]) == (150, 2480, 3496)


# --- runs ------------------------------------------------------------------------
def _assert_same_tables(a, b) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=False)


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_rerun_is_idempotent(batch: Batch, result, storage_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "storage"
    shutil.copytree(storage_dir, copy)
    before = _tree_digest(copy)
    again = batch.run(str(copy))
    _assert_same_tables(result, again)
    assert _tree_digest(copy) == before


def test_rerun_never_overwrites_different_bytes(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "q1" / "s" / "b"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png_bytes(text_page(seed=2)))
    (folder / "extra.png").write_bytes(png_bytes(text_page(seed=4)))
    write_manifest(folder, [{"file": "a.png", "book_ref": "B"}])
    storage = tmp_path / "st"

    def run():
        return ingest_batch(
            Storage(str(tmp_path / "inbox")), "q1/s/b", Storage(str(storage)),
            batch_id="q1/s/b", district="q1", school="s", now=NOW,
        )  # fmt: skip

    (page,) = run().page_images.to_dict("records")
    odd = io.BytesIO()
    Image.new("L", (10, 20), 128).save(odd, "PNG")
    (storage / page["image_uri"]).write_bytes(odd.getvalue())
    (storage / "quarantine/q1/s/b/extra.png").write_bytes(b"an earlier, different file")

    again = run()
    assert (storage / page["image_uri"]).read_bytes() == odd.getvalue()
    (row,) = again.page_images.to_dict("records")
    assert row["image_sha256"] == hashlib.sha256(odd.getvalue()).hexdigest()
    assert (row["width_px"], row["height_px"]) == (10, 20)
    assert (storage / "quarantine/q1/s/b/extra.png").read_bytes() == b"an earlier, different file"
    (extra,) = again.file_quarantine.to_dict("records")
    assert extra["quarantined_uri"] == f"quarantine/q1/s/b/extra.png.{extra['file_sha256'][:16]}"
    assert (storage / extra["quarantined_uri"]).read_bytes() == (folder / "extra.png").read_bytes()


def test_two_workers_give_the_same_rows(batch: Batch, result, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    parallel = batch.run(str(tmp_path / "storage"), workers=2, progress=lambda d, t: calls.append((d, t)))
    _assert_same_tables(result, parallel)
    assert calls[-1] == (15, 15) and [d for d, _ in calls] == list(range(1, 16))


def test_memory_roots(batch: Batch, result) -> None:
    """Inbox and storage both in fsspec's memory filesystem: nothing assumes a local path."""
    key = uuid.uuid4().hex
    mem = fsspec.filesystem("memory")
    for path in batch.folder.rglob("*"):
        if path.is_file():
            rel = path.relative_to(batch.inbox).as_posix()
            with mem.open(f"/{key}/inbox/{rel}", "wb") as fh:
                fh.write(path.read_bytes())
    storage = Storage(f"memory://{key}/storage")
    got = ingest_batch(
        Storage(f"memory://{key}/inbox"),
        BATCH_ID,
        storage,
        batch_id=BATCH_ID,
        district="q1",
        school="thcs-le-loi",
        workers=2,  # process-local storage: runs serially (no pool started), same result
        now=NOW,
    )
    _assert_same_tables(result, got)
    for uri, sha in zip(got.page_images["image_uri"], got.page_images["image_sha256"], strict=True):
        assert storage.sha256(uri) == sha
    for uri in got.file_quarantine["quarantined_uri"].dropna():
        assert storage.exists(uri)


# --- whole-batch problems --------------------------------------------------------------
def test_no_manifest_is_an_input_error(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "q1" / "s" / "b"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InputError, match=r"q1/s/b/manifest\.csv"):
        ingest_batch(
            Storage(str(tmp_path / "inbox")),
            "q1/s/b",
            Storage(str(tmp_path / "st")),
            batch_id="q1/s/b",
            district="q1",
            school="s",
        )


def test_bad_manifest_header_is_an_input_error(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "q1" / "s" / "b"
    folder.mkdir(parents=True)
    write_manifest(folder, [{"file": "a.png", "book": "X"}], columns=["file", "book"])
    with pytest.raises(InputError, match=r"'book'.*book_ref \(bắt buộc\)"):
        ingest_batch(
            Storage(str(tmp_path / "inbox")),
            "q1/s/b",
            Storage(str(tmp_path / "st")),
            batch_id="q1/s/b",
            district="q1",
            school="s",
        )


def test_empty_batch(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "q1" / "s" / "b"
    folder.mkdir(parents=True)
    write_manifest(folder, [])
    got = ingest_batch(
        Storage(str(tmp_path / "inbox")),
        "q1/s/b",
        Storage(str(tmp_path / "st")),
        batch_id="q1/s/b",
        district="q1",
        school="s",
        now=NOW,
    )
    for name in TABLES:
        df = getattr(got, name)
        assert len(df) == 0
        pa.Table.from_pandas(df, schema=arrow_schema(name), preserve_index=False)
    assert got.summary()["files"] == 0


def test_nfd_file_name_matches_nfc_manifest(tmp_path: Path) -> None:
    """macOS writes decomposed names; the manifest (Excel on Windows) composed ones."""
    import unicodedata

    folder = tmp_path / "inbox" / "q1" / "s" / "b"
    folder.mkdir(parents=True)
    name = "Học bạ Nguyễn.png"
    (folder / unicodedata.normalize("NFD", name)).write_bytes(png_bytes(text_page(seed=3)))
    write_manifest(folder, [{"file": unicodedata.normalize("NFC", name), "book_ref": "B"}])
    got = ingest_batch(
        Storage(str(tmp_path / "inbox")),
        "q1/s/b",
        Storage(str(tmp_path / "st")),
        batch_id="q1/s/b",
        district="q1",
        school="s",
        now=NOW,
    )
    assert len(got.file_quarantine) == 0
    (path,) = got.scan_manifest["file_path"]
    assert path == unicodedata.normalize("NFD", name)  # the name on disk, for accounting


def test_file_of_a_rejected_row_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "q1" / "s" / "b"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(png_bytes(text_page(seed=1)))
    write_manifest(folder, [{"file": "a.png", "book_ref": ""}])
    got = ingest_batch(
        Storage(str(tmp_path / "inbox")),
        "q1/s/b",
        Storage(str(tmp_path / "st")),
        batch_id="q1/s/b",
        district="q1",
        school="s",
        now=NOW,
    )
    (row,) = got.file_quarantine.to_dict("records")
    assert row["reason_code"] == "not_in_manifest"
    assert "its row was rejected: manifest.csv dòng 2, cột book_ref: bỏ trống" in row["detail"]
