"""End to end through Dagster on a small synthetic district, run as a data team runs it from a
terminal: `hocba run --roster --all` (the roster, then scan_batch_job per batch, as the inbox
sensor would), later `hocba run --accepted` after the reviews. Every injected file/page defect
reaches its outcome in ingest, nothing else is quarantined, nothing is lost; every non-blank
page is laid out on its true template and every template field is read."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def district_run(tmp_path_factory):
    import os

    from click.testing import CliRunner

    from pipelines.cli import main
    from pipelines.coverage_tables import load_coverage
    from pipelines.dagster_home import instance as get_instance
    from pipelines.db import database
    from pipelines.definitions import build_defs
    from pipelines.issue.pki import ensure_pki
    from pipelines.review.simulate import simulate_review
    from pipelines.review.store import batch_counts, corrections
    from pipelines.runner import compute_coverage, discover_batches, finished_reviews, read_inbox
    from pipelines.settings import get_settings
    from pipelines.storage import Storage
    from pipelines.synth.generate import generate_district
    from pipelines.table_io import read_table

    home = tmp_path_factory.mktemp("hocba")
    old = {k: os.environ.get(k) for k in ("HOCBA_HOME", "DAGSTER_HOME")}
    os.environ["HOCBA_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        synth = home / "synth"
        generate_district(synth, schools=2, students=5, seed=11, difficulty="typical", workers=2)
        inbox = Storage(settings.inbox_root)
        inbox.fs.put(str(synth / "inbox") + "/", inbox.full(""), recursive=True)

        roster = pd.read_csv(synth / "roster.csv", dtype=str, encoding="utf-8-sig")
        ensure_pki(settings.pki_root, passphrase=settings.pki_passphrase,  # development keys
                   schools=sorted(roster["ma_truong"].unique()))
        Storage(settings.roster_root).write_bytes("roster.csv", (synth / "roster.csv").read_bytes())
        instance = get_instance(settings)
        defs = build_defs()
        keys = list(read_inbox(defs).ready)
        # The user's path: the command, its registration of the batches, its display and summary.
        scan_cli = CliRunner().invoke(main, ["run", "--roster", "--all"])
        again = discover_batches(defs, instance)  # the sensor does not re-run what `hocba run` ran
        storage = Storage(settings.storage_root)
        tables = {t: read_table(storage, t, keys) for t in
                  ("scan_manifest", "file_quarantine", "page_images", "page_quarantine",
                   "page_layouts", "field_readings", "normalized_records", "roster_matches",
                   "field_decisions", "review_queue", "accepted_records")}
        # The review loop: nothing is finished before anyone reviews; a simulated reviewer
        # answers from the truth; the sensor then asks for each batch's records again.
        engine = database(settings.database)
        tables_issued_before = read_table(storage, "issued_records", keys)
        loaded = batch_counts(engine)
        finished_before = finished_reviews(defs, instance)
        simulated = simulate_review(engine, storage, synth / "truth")
        finished = finished_reviews(defs, instance)
        rebuilt = CliRunner().invoke(main, ["run", "--accepted", *finished]) if finished else None
        coverage_run = compute_coverage(defs, instance)
        yield {
            "coverage_run": coverage_run, "coverage": load_coverage(storage), "synth": synth,
            "roster": read_table(storage, "roster", [None]),
            "loaded": loaded, "finished_before": finished_before, "simulated": simulated,
            "finished": finished, "rebuilt": rebuilt,
            "accepted_after": read_table(storage, "accepted_records", keys),
            "issued_before": tables_issued_before,
            "issued": read_table(storage, "issued_records", keys),
            "settings": settings, "engine": engine,
            "corrections": pd.concat([corrections(engine, k) for k in keys], ignore_index=True),
            "keys": keys, "again": again, "scan_cli": scan_cli, "tables": tables,
            "runs": {j: instance.get_runs(dg.RunsFilter(job_name=j))
                     for j in ("roster_job", "scan_batch_job", "accepted_records_job")},
            "defects": pd.read_csv(synth / "truth" / "defects.csv", dtype=str),
            "pages": pd.read_parquet(synth / "truth" / "pages.parquet"),
            "fields": pd.read_parquet(synth / "truth" / "fields.parquet"),
            "storage": storage,
            "inbox": inbox,
        }
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def _batch(row) -> str:
    return f"{row['district']}/{row['school']}/{row['batch']}"


def test_hocba_run_succeeds_and_checks_pass(district_run):
    keys, cli, runs = district_run["keys"], district_run["scan_cli"], district_run["runs"]
    assert keys, "the inbox holds no batch"
    assert cli.exit_code == 0, cli.output
    assert district_run["again"] == []
    (roster,) = runs["roster_job"]
    assert roster.status == dg.DagsterRunStatus.SUCCESS
    scans = runs["scan_batch_job"]
    assert sorted(r.tags["dagster/partition"] for r in scans) == sorted(keys)
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in scans)
    out = cli.output
    assert "checks failed: none" in out
    assert f"=== hocba run: scan_batch_job, {len(keys)} batch(es); runs: {len(keys) + 1} ok, 0 failed;" in out
    # The display, plain lines (no terminal): every step of every batch, pages as OCR reads them.
    for i, key in enumerate(keys, 1):
        assert f"[{i}/{len(keys)}] {key} — scan_batch_job" in out
    for step in ("ingest_scans", "ocr_pages", "validate_pages", "review_items", "accepted_records",
                 "issued_records"):
        assert out.count(f"{step:<16} ok ") == len(keys), step
    assert "ocr      ocr_pages        " in out and " pages\n" in out


def test_hocba_run_summary_counts_are_the_tables(district_run):
    t, out = district_run["tables"], district_run["scan_cli"].output
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("=== hocba run: scan_batch_job"))
    total = lines[head + 1 + len(district_run["keys"]) + 1].split()
    issued = district_run["issued_before"]
    assert total == ["total", str(len(t["page_images"])), str(len(t["field_readings"])),
                     str(int((t["field_decisions"]["decision"] == "flag").sum())),
                     str(len(t["file_quarantine"])), str(len(t["page_quarantine"])), str(len(issued))]


def test_every_file_accounted_for_exactly_once(district_run):
    t = district_run["tables"]
    inbox = district_run["inbox"]
    on_disk = {
        (key, f) for key in district_run["keys"]
        for f in inbox.walk_files(key) if f != "manifest.csv"
    }
    listed = list(zip(t["scan_manifest"]["batch_id"], t["scan_manifest"]["file_path"], strict=True))
    listed += list(zip(t["file_quarantine"]["batch_id"], t["file_quarantine"]["file_path"],
                       strict=True))
    assert sorted(listed) == sorted(on_disk)


HAND_ACCEPT_FLOOR = 0.88
"""Handwritten score fields auto-accepted on the e2e corpus: measured 284 of 306 (92.8%)."""

FILE_DEFECT_OUTCOME = {
    "zero_byte_file": "empty_file",
    "truncated_file": "unreadable_file",
    "duplicate_file": "duplicate_file",
}


def test_file_defects_are_quarantined_with_the_right_reason_and_nothing_else(district_run):
    d, fq = district_run["defects"], district_run["tables"]["file_quarantine"]
    expected = {
        (_batch(r), r["file"]): FILE_DEFECT_OUTCOME[r["defect"]]
        for _, r in d.iterrows() if r["defect"] in FILE_DEFECT_OUTCOME
    }
    assert set(FILE_DEFECT_OUTCOME.values()) == set(expected.values()), "corpus lacks a defect kind"
    got = {(r["batch_id"], r["file_path"]): r["reason_code"] for _, r in fq.iterrows()}
    assert got == expected
    # the bytes are kept
    assert fq["quarantined_uri"].notna().all()


def _page_flags(district_run, column):
    pi = district_run["tables"]["page_images"]
    return pi.set_index(["batch_id", "file_path", "page_index"])[column]


def test_blank_pages_are_marked_and_only_they(district_run):
    d = district_run["defects"]
    blank = {(_batch(r), r["file"], int(r["page_index"]))
             for _, r in d.iterrows() if r["defect"] == "blank_page"}
    assert blank
    flags = _page_flags(district_run, "is_blank")
    assert {k for k, v in flags.items() if v} == blank


def test_upside_down_pages_are_turned_and_only_they(district_run):
    d = district_run["defects"]
    turned = {(_batch(r), r["file"], int(r["page_index"]))
              for _, r in d.iterrows() if r["defect"] == "upside_down"}
    assert turned
    rot = _page_flags(district_run, "rotation_applied")
    assert {k for k, v in rot.items() if v == 180} == turned
    assert set(rot.unique()) <= {0, 180}


def test_missing_pages_are_reported(district_run):
    d, t = district_run["defects"], district_run["tables"]
    missing = {(_batch(r), r["file"]) for _, r in d.iterrows() if r["defect"] == "missing_page"}
    assert missing
    man = t["scan_manifest"]
    mismatched = set(zip(man.loc[man["status"] == "page_count_mismatch", "batch_id"],
                         man.loc[man["status"] == "page_count_mismatch", "file_path"], strict=True))
    assert mismatched == missing
    pq = t["page_quarantine"]
    assert set(zip(pq.loc[pq["reason_code"] == "missing_page", "batch_id"],
                   pq.loc[pq["reason_code"] == "missing_page", "file_path"], strict=True)) == missing


def test_every_page_written_is_stored_upright_at_300_dpi(district_run):
    pages = district_run["pages"]
    pi = district_run["tables"]["page_images"]
    # pages of files that were quarantined whole are not expected
    fq = district_run["tables"]["file_quarantine"]
    lost = set(zip(fq["batch_id"], fq["file_path"], strict=True))
    pages = pages.assign(batch_id=pages["district"] + "/" + pages["school"] + "/" + pages["batch"])
    expected = {(b, f, int(i)) for b, f, i in zip(pages["batch_id"], pages["file"],
                                                  pages["page_index"], strict=True)
                if (b, f) not in lost}
    got = set(zip(pi["batch_id"], pi["file_path"], pi["page_index"], strict=True))
    assert got == expected
    assert (pi["dpi"] == 300).all()
    # A4 at 300 dpi, portrait, within the scanner's scale jitter
    assert pi["height_px"].between(3300, 3700).all()
    assert (pi["height_px"] > pi["width_px"]).all()


def _true_templates(district_run) -> pd.DataFrame:
    """page_layouts with the template each page was really printed from."""
    pages, pi = district_run["pages"], district_run["tables"]["page_images"]
    pages = pages.assign(batch_id=pages["district"] + "/" + pages["school"] + "/" + pages["batch"])
    truth = pi.merge(pages, left_on=["batch_id", "file_path", "page_index"],
                     right_on=["batch_id", "file", "page_index"], suffixes=("", "_truth"))
    return district_run["tables"]["page_layouts"].merge(
        truth[["page_id", "template_id"]], on="page_id", suffixes=("", "_true"))


def test_every_page_is_laid_out_on_its_true_template(district_run):
    t = district_run["tables"]
    non_blank = set(t["page_images"].loc[~t["page_images"]["is_blank"], "page_id"])
    layouts = t["page_layouts"]
    assert set(layouts["page_id"]) == non_blank and layouts["page_id"].is_unique
    assert (layouts["status"] == "ok").all(), layouts[layouts["status"] != "ok"]
    joined = _true_templates(district_run)
    assert len(joined) == len(layouts)
    assert (joined["template_id"] == joined["template_id_true"]).all()


def test_readings_cover_every_field_with_stored_crops(district_run):
    from pipelines.contracts import templates

    t = district_run["tables"]
    fr = t["field_readings"]
    for r in t["page_layouts"].itertuples():
        want = {s.field_id for s in templates()[r.template_id].field_specs()}
        assert set(fr.loc[fr["page_id"] == r.page_id, "field_id"]) == want
    assert fr["confidence"].between(0, 1).all()
    storage = district_run["storage"]
    assert all(storage.exists(u) for u in fr["crop_uri"].sample(20, random_state=0))


def test_printed_scores_are_read(district_run):
    from pipelines.ocr.evaluate import join_truth

    t = district_run["tables"]
    pages = district_run["pages"]
    joined = join_truth(t["field_readings"], t["page_images"], pages, district_run["fields"])
    scores = joined[(joined["field_type"] == "score") & (joined["style"] == "print")
                    & (joined["truth"] != "")]
    assert len(scores) > 200
    # Measured 94.5% on this corpus (with upside-down, blank and 200-dpi pages) and 97.9-99.6% on
    # defect-free typical corpora (benchmarks/ocr_throughput.py): a floor, not the 0.99 target.
    assert scores["correct"].mean() >= 0.92, scores[~scores["correct"]].head(10)


def test_confident_readings_are_right(district_run):
    """Confident readings are right: misreadings must not claim high confidence."""
    from pipelines.ocr.evaluate import join_truth

    t = district_run["tables"]
    joined = join_truth(t["field_readings"], t["page_images"], district_run["pages"],
                        district_run["fields"])
    joined = joined[joined["truth"] != ""]
    confident = joined[joined["confidence"] >= 0.9]
    wrong = confident[~confident["correct"]]
    assert (joined["style"] == "handwritten").sum() > 20  # the corpus has handwriting to test
    # Handwriting's readings are the glyph CNN's calibrated probabilities (no longer capped
    # wholesale): at >= 0.9 about 1 in 30 may be wrong by calibration; measured 8 of 360
    # (2.2%) on this corpus. Row decoding and the (type, hand) threshold stop them.
    hand = confident[confident["style"] == "handwritten"]
    assert (~hand["correct"]).mean() <= 0.05, wrong[["field_id", "truth", "text", "confidence"]]
    assert len(wrong) / len(confident) <= 0.01, wrong[["field_id", "truth", "text", "confidence"]]


def test_handwritten_scores_are_auto_accepted_without_silent_errors(district_run):
    """Real people's digits (MNIST, validation indices) in handwritten score cells: read by the
    glyph CNN, decoded row by row, trusted by their style's calibration (issue 16)."""
    from pipelines.validate.evaluate import score

    _, joined = score(district_run["tables"], district_run["synth"] / "truth")
    hand = joined[(joined["field_type"] == "score") & (joined["style"] == "handwritten")
                  & (joined["truth"] != "")]
    assert len(hand) > 100, len(hand)  # the corpus has handwritten scores to test
    assert (hand["read_style"] == "hand").mean() >= 0.95  # the style detector found them
    accepted = hand[hand["decision"] == "accept"]
    wrong = accepted[~accepted["right"]]
    assert wrong.empty, wrong[["field_id", "truth", "text", "value", "confidence"]]  # 0 silent errors
    # HAND_ACCEPT_FLOOR: measured on this corpus (seed 11, 2 schools × 5 students) when the model
    # and calibration shipped; a floor below it, not the 90 % target (benchmarks/handwriting.py).
    assert len(accepted) / len(hand) >= HAND_ACCEPT_FLOOR, len(accepted) / len(hand)


# --- the review loop -----------------------------------------------------------------
def test_every_flagged_field_is_loaded_for_review(district_run):
    q = district_run["tables"]["review_queue"]
    per_batch = q.groupby("batch_id").size().to_dict()
    assert {b: sum(c.values()) for b, c in district_run["loaded"].items()} == per_batch
    assert all(c["open"] == n for b, n in per_batch.items() for c in [district_run["loaded"][b]])
    assert district_run["finished_before"] == []  # nothing reviewed yet: no batch is finished


def test_reviews_flow_back_into_accepted_records(district_run):
    sim, finished = district_run["simulated"], district_run["finished"]
    q = district_run["tables"]["review_queue"]
    assert sim.corrected + sim.confirmed + sim.illegible == len(q)
    assert sorted(finished) == sorted(q["batch_id"].unique())
    rebuilt = district_run["rebuilt"]
    assert rebuilt is not None and rebuilt.exit_code == 0, rebuilt and rebuilt.output
    assert "=== hocba run: accepted_records_job" in rebuilt.output
    assert sorted(r.tags["dagster/partition"] for r in district_run["runs"]["accepted_records_job"]) \
        == sorted(finished)
    before, after = district_run["tables"]["accepted_records"], district_run["accepted_after"]
    assert after["book_ref"].nunique() > before["book_ref"].nunique()
    reviewed = after[after["source"] == "review"]
    assert len(reviewed) > 0 and set(reviewed["reviewed_by"]) == {"simulated-reviewer"}
    assert reviewed["reviewed_at"].notna().all()
    # A book with a field the reviewer could not settle (needs the paper book) is not accepted.
    corr = district_run["corrections"]
    held = set(corr.loc[corr["status"] == "needs_paper", "book_ref"])
    assert not held & set(after["book_ref"])


def test_accepted_values_after_review_are_right(district_run):
    """The end users' promise: what goes on to be signed equals the paper book."""
    from pipelines.ocr.evaluate import join_truth
    from pipelines.validate.normalize import normalize_value_for_compare

    t, after = district_run["tables"], district_run["accepted_after"]
    j = join_truth(t["field_readings"], t["page_images"], district_run["pages"], district_run["fields"])
    j = j.merge(after[["page_id", "field_id", "value", "source"]], on=["page_id", "field_id"])
    def expected(ft: str, truth: str) -> str | None:
        return normalize_value_for_compare(ft, truth) if truth else None

    wrong = [(f, s) for f, ft, truth, v, s in zip(j["field_id"], j["field_type"], j["truth"], j["value"],
                                                  j["source"], strict=True)
             if expected(ft, truth) != (v if isinstance(v, str) else None)]
    assert len(j) > 0 and wrong == []


# --- issue ----------------------------------------------------------------------------
def test_every_accepted_book_is_issued_once_and_verifies(district_run):
    before, issued = district_run["issued_before"], district_run["issued"]
    accepted = district_run["accepted_after"]
    # Books complete without review were issued by the scan run, the rest after review.
    assert set(before["book_ref"]) == set(district_run["tables"]["accepted_records"]["book_ref"])
    assert set(issued["book_ref"]) == set(accepted["book_ref"]) and issued["book_ref"].is_unique
    assert issued["verified"].all() and (issued["version"] == 1).all()


def test_issued_files_verify_with_the_cli_and_the_ledger_chain_holds(district_run):
    import subprocess
    import sys

    from pipelines.issue.ledger import check_chain
    from pipelines.storage import Storage

    s, issued = district_run["settings"], district_run["issued"]
    root = Storage(s.issued_root)
    files = [root.full(u) for u in [*issued["xml_uri"][:2], *issued["pdf_uri"][:2]]]
    env = {**__import__("os").environ, "HOCBA_HOME": str(s.home_abs)}
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "verify", *files], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert check_chain(district_run["engine"]).ok


# --- coverage (issue 7) -------------------------------------------------------------------------------------
def _current_records(engine) -> pd.DataFrame:
    from pipelines.issue.ledger import versions

    v = versions(engine)
    return v[v["status"] == "current"]


def test_coverage_adds_up_and_its_totals_equal_the_ledger(district_run):
    run, cov = district_run["coverage_run"], district_run["coverage"]
    assert run.success and run.failed_checks == (), run
    current = _current_records(district_run["engine"])
    issued = district_run["issued"]
    assert len(current) > 0
    assert int(cov.schools["records_issued"].sum()) == len(current) == len(issued)
    assert int(cov.schools["students_expected"].sum()) == len(district_run["roster"])
    h = cov.headline()
    assert h == {"records_issued": len(current), "students_expected": len(district_run["roster"]),
                 "coverage_pct": round(100 * len(current) / len(district_run["roster"]), 2)}
    # Per school, the records are those of the school's batches.
    per_school = issued.assign(school=issued["batch_id"].str.split("/").str[1]).groupby("school").size()
    got = cov.schools.set_index("school")["records_issued"]
    assert got[got > 0].to_dict() == per_school.to_dict()
    # Student-years: each issued student counts once per year of their cấp học on the roster.
    r = district_run["roster"]
    years = (r["last_year"] - r["first_year"]).where(lambda s: s > 0, 1)
    issued_ids = set(issued["student_id"])
    assert int(cov.cells["records_issued"].sum()) == int(years[r["student_id"].isin(issued_ids)].sum())
    assert int(cov.cells["students_expected"].sum()) == int(years.sum())
    # Pages and flagged fields add up to the stage tables, cell by cell summed.
    t = district_run["tables"]
    assert int(cov.cells["pages_read"].sum()) == len(t["page_layouts"])
    assert int(cov.cells["fields_flagged"].sum()) == len(t["review_queue"])
    assert int(cov.schools["files_quarantined"].sum()) == len(t["file_quarantine"])


def test_every_roster_student_with_a_scanned_book_ends_issued_or_explained(district_run):
    import json

    from sqlalchemy import select

    from pipelines.review.db import ReviewItem

    books = [json.loads(line) for line in
             (district_run["synth"] / "truth" / "books.jsonl").read_text().splitlines()]
    roster_ids = set(district_run["roster"]["student_id"].dropna())
    t = district_run["tables"]
    issued = district_run["issued"]
    accepted = set(district_run["accepted_after"]["book_ref"])
    in_manifest = set(t["scan_manifest"]["book_ref"])
    outcome = dict(zip(t["roster_matches"]["book_ref"], t["roster_matches"]["outcome"], strict=True))
    matched_id = dict(zip(t["roster_matches"]["book_ref"], t["roster_matches"]["student_id"], strict=True))
    with district_run["engine"].connect() as conn:
        items = pd.DataFrame(conn.execute(select(ReviewItem.book_ref, ReviewItem.status)).all(),
                             columns=["book_ref", "status"])
    issued_to = dict(zip(issued["book_ref"], issued["student_id"], strict=True))
    ends: dict[str, list[str]] = {}
    for b in books:
        ref, sid = b["book_ref"], b["student_id"]
        if sid not in roster_ids:
            continue  # not on the roster: no student to cover
        st = set(items.loc[items["book_ref"] == ref, "status"])
        if ref in issued_to:
            assert issued_to[ref] == sid, f"{ref} issued to the wrong student"
            why = "issued"
        elif ref not in in_manifest:
            why = "quarantined"
        elif st & {"open", "claimed"}:
            why = "open review"
        elif "needs_paper" in st:
            why = "needs the paper book"
        elif ref not in accepted and (outcome.get(ref) in ("unmatched", "ambiguous")
                                      or not matched_id.get(ref)):
            why = "unmatched"
        else:
            why = f"UNEXPLAINED (outcome {outcome.get(ref)}, accepted {ref in accepted}, items {sorted(st)})"
        ends.setdefault(why, []).append(ref)
    assert not [k for k in ends if k.startswith("UNEXPLAINED")], ends
    assert ends.get("issued"), ends


@pytest.mark.parametrize("name", ["coverage", "accuracy"])
def test_notebooks_run_top_to_bottom_on_the_run(district_run, name):
    from pathlib import Path

    from tests.notebooks import run_notebook

    nb = run_notebook(Path(__file__).resolve().parents[1] / "notebooks" / f"{name}.ipynb")
    text = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/markdown", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    if name == "coverage":  # the notebook's headline is the ledger's count over the roster's
        h = district_run["coverage"].headline()
        assert f"{h['records_issued']:,} of {h['students_expected']:,} expected books issued" in text


def test_coverage_dashboard_headline_is_the_ledger_over_the_roster_in_chromium(district_run):
    from tests.review.browser import ARTIFACTS, HAVE_CHROMIUM, open_coverage_as, serve

    if not HAVE_CHROMIUM:
        pytest.skip("needs Debian's chromium and chromium-driver: `make system` installs them")
    from pipelines.review.app import create_app
    from pipelines.review.auth import add_user

    settings, engine = district_run["settings"], district_run["engine"]
    district = district_run["keys"][0].split("/")[0]
    add_user(engine, "phong.du.lieu", "mat-khau-du-dai-1", "data_team", f"district:{district}")
    app = create_app(database_url=settings.database, storage_root=settings.storage_root,
                     secret="e2e-coverage-" + "k" * 40)
    with serve(app) as base:
        seen = open_coverage_as(base, "phong.du.lieu", "mat-khau-du-dai-1", ARTIFACTS / "coverage-e2e.png")
    ledger, roster = len(_current_records(engine)), len(district_run["roster"])
    assert (seen["records_issued"], seen["students_expected"]) == (ledger, roster)
    assert seen["coverage_pct"] == pytest.approx(100 * ledger / roster, abs=0.005)
    assert seen["console_errors"] == [] and seen["charts"], seen
    assert (ARTIFACTS / "coverage-e2e.png").stat().st_size > 10_000
