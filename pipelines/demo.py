"""`hocba demo`: a generated sample district through the pipeline, with a printed summary.

The batches run as `hocba run --all` runs them: ``scan_batch_job`` per batch through
Dagster, with the same display; the time per stage is summed from the steps' own times.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipelines.contracts import quarantine_reasons
from pipelines.coverage_tables import load_coverage
from pipelines.dagster_home import instance as get_instance
from pipelines.db import database
from pipelines.definitions import build_defs
from pipelines.errors import ConfigError
from pipelines.issue.ledger import check_chain
from pipelines.issue.pki import School, ensure_pki
from pipelines.ocr.evaluate import accuracy_table, join_truth, style_accuracy
from pipelines.progress import RunDisplay, run_shown, summary_lines
from pipelines.review.auth import add_user, get_user_by_name, set_password
from pipelines.review.simulate import simulate_review
from pipelines.review.store import batch_counts
from pipelines.runner import (
    compute_coverage,
    discover_batches,
    finished_reviews,
    import_roster,
    run_all,
    summarize_batches,
)
from pipelines.settings import get_settings
from pipelines.storage import Storage
from pipelines.synth.generate import generate_district
from pipelines.table_io import read_table
from pipelines.validate.evaluate import final_errors, run_tables, score

MARKER = "HOCBA_DEMO_HOME"
STAGES = ("ingest", "ocr", "validate", "review", "issue")
"""The per-batch stages (asset groups) of scan_batch_job, for the time each took."""


def _prepare_home(home: Path, fresh: bool) -> None:
    marker = home / MARKER
    if fresh and home.exists() and any(home.iterdir()):
        if not marker.exists():
            raise ConfigError(
                f"{home} holds data that the demo did not make; refusing to wipe it. "
                "Set HOCBA_HOME to another folder for the demo."
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    marker.write_text("This folder was made by `hocba demo` and may be wiped by it.\n")


def run_demo(*, schools: int, students: int, seed: int, difficulty: str, fresh: bool,
             simulate_review: bool = False, echo: Callable[[str], None] = print) -> dict:
    settings = get_settings()
    home = settings.home_abs
    _prepare_home(home, fresh)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    echo(f"hocba demo — HOCBA_HOME={home}")
    steps = 5
    echo(f"[1/{steps}] Generating a sample district ({schools} schools × {students} students, "
         f"{difficulty}, seed {seed}) …")
    t0 = time.perf_counter()
    synth_dir = home / "synth"
    summary = generate_district(
        synth_dir, schools=schools, students=students, seed=seed, difficulty=difficulty,
        progress=lambda d, t: echo(f"      rendered {d}/{t} pages") if d == t or d % 50 == 0 else None,
    )
    timings["synth"] = time.perf_counter() - t0
    s = summary.to_dict()
    echo(f"      {s.get('books')} books, {s.get('pages')} pages, {s.get('files')} files "
         f"in {timings['synth']:.1f}s")

    # Scans "arrive": copy the generated batches into the inbox the sensor watches.
    inbox = Storage(settings.inbox_root)
    inbox.fs.put(str(synth_dir / "inbox") + "/", inbox.full(""), recursive=True)


    # Development keys (a local CA; per school its seal and its principal): demo records are not real.
    roster = pd.read_csv(synth_dir / "roster.csv", dtype=str, encoding="utf-8-sig")
    names = roster[["ma_truong", "ten_truong"]].drop_duplicates("ma_truong").itertuples(index=False)
    ensure_pki(settings.pki_root, passphrase=settings.pki_passphrase,
               schools=[School(code, name) for code, name in sorted(names)])
    instance = get_instance(settings)
    defs = build_defs()
    roster_run = import_roster(defs, instance, str(synth_dir / "roster.csv"))
    keys = discover_batches(defs, instance)
    echo(f"[2/{steps}] Roster imported ({'ok' if roster_run.success else 'FAILED'}); "
         f"the inbox sensor registered {len(keys)} scan batches")
    outcomes = [roster_run]
    t0 = time.perf_counter()
    echo(f"[3/{steps}] Running scan_batch_job per batch through Dagster, as `hocba run --all` does …")
    scans = run_shown(defs, instance, "scan_batch_job", keys, RunDisplay(sys.stdout))
    echo("\n".join(summary_lines("scan_batch_job", scans, summarize_batches(settings.storage_root, keys),
                                 time.perf_counter() - t0)))
    outcomes += scans
    for stage in STAGES:
        timings[stage] = sum(s for o in scans for _, st, s in o.step_seconds if st == stage)
    t0 = time.perf_counter()
    echo(f"[{steps - 1}/{steps}] Review: " + ("a SIMULATED reviewer answers from the ground truth …"
                                         if simulate_review else "the flagged fields wait in the console"))
    review = demo_review(defs, instance, keys, synth_dir / "truth", simulate_review)
    outcomes += review.pop("runs")
    timings["review"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    echo(f"[{steps}/{steps}] Coverage over every batch, the review database, the ledger and the roster …")
    cov_run = compute_coverage(defs, instance)
    outcomes.append(cov_run)
    timings["coverage"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    report = summarize(Storage(settings.storage_root), keys)
    report["ocr"] = summarize_ocr(Storage(settings.storage_root), keys, synth_dir / "truth")
    report["validate"] = summarize_validate(Storage(settings.storage_root), keys)
    report["review"] = review
    report["truth"] = summarize_truth(Storage(settings.storage_root), keys, synth_dir / "truth")
    report["issue"] = summarize_issue(Storage(settings.storage_root), keys)
    report["coverage"] = summarize_coverage(Storage(settings.storage_root))
    report["runs_failed"] = [o.partition_key for o in outcomes if not o.success]
    report["checks_failed"] = sorted({c for o in outcomes for c in o.failed_checks})
    report["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    defects = pd.read_csv(synth_dir / "truth" / "defects.csv", dtype=str)
    report["defects_injected"] = {str(k): int(v) for k, v in defects["defect"].value_counts().items()}
    print_report(report, echo, home=home, storage=settings.storage_root)
    return report


DEMO_USER = "demo"
DEMO_MANAGER = "demo-data"


def demo_review(defs, instance, keys: list[str], truth_dir: Path, simulate: bool) -> dict:
    """The console's demo logins, and with ``simulate`` the loop closed for all batches but the last.

    The demo logins are a reviewer and a data-team member of the sample district, with one fresh
    random password."""
    import secrets


    settings = get_settings()
    engine = database(settings.database)
    password = secrets.token_urlsafe(9)
    district = keys[0].split("/")[0] if keys else "demo"
    for name, role in ((DEMO_USER, "reviewer"), (DEMO_MANAGER, "data_team")):
        if get_user_by_name(engine, name):
            set_password(engine, name, password)
        else:
            add_user(engine, name, password, role, f"district:{district}")
    out: dict = {"user": DEMO_USER, "manager": DEMO_MANAGER, "password": password,
                 "scope": f"district:{district}", "runs": [],
                 "simulated": None, "left_for_you": keys[-1:] if simulate else keys}
    if simulate and len(keys) > 1:
        sim = simulate_review(engine, Storage(settings.storage_root), truth_dir, keys[:-1])
        out["simulated"] = sim.to_dict()
        out["runs"] = run_all(defs, instance, "accepted_records_job", finished_reviews(defs, instance))
    counts = batch_counts(engine)
    out["open_items"] = sum(counts.get(k, {}).get("open", 0) for k in keys)
    out["url"] = f"http://{settings.console_host}:{settings.console_port}/"
    return out


def summarize_issue(storage: Storage, keys: list[str]) -> dict:
    settings = get_settings()
    issued = read_table(storage, "issued_records", list(keys))
    chain = check_chain(database(settings.database))
    return {"records": len(issued), "verified": int(issued["verified"].sum()) if len(issued) else 0,
            "ledger_entries": chain.entries, "ledger_ok": chain.ok, "issued_root": settings.issued_root,
            "trust_roots": [str(p) for p in settings.trust_root_paths]}


def summarize_truth(storage: Storage, keys: list[str], truth_dir: Path) -> dict:
    """Validate's decisions and the final accepted values, measured against the synthetic truth."""

    tables = run_tables(storage, keys)
    decided, _ = score(tables, truth_dir)
    final, _ = final_errors(tables, truth_dir)
    return {"auto_accepted": decided["auto_accepted"], "silent_errors": decided["silent_errors"],
            "silent_error_rate": decided["silent_error_rate"], "caught_errors": decided["caught_errors"],
            "final_fields": final["fields_with_truth"], "final_errors": final["errors"],
            "final_by_source": final["by_source"]}


def summarize_coverage(storage: Storage) -> dict:
    cov = load_coverage(storage)
    return {**cov.headline(), "schools": [
        {"school": r.school, "name": r.school_name, "issued": int(r.records_issued),
         "expected": int(r.students_expected), "pct": float(r.coverage_pct)}
        for r in cov.schools.itertuples()]}


def summarize(storage: Storage, keys: list[str]) -> dict:
    tables = {t: read_table(storage, t, list(keys)) for t in
              ("scan_manifest", "file_quarantine", "page_images", "page_quarantine")}
    man, fq, pi, pq = (tables[t] for t in
                       ("scan_manifest", "file_quarantine", "page_images", "page_quarantine"))
    return {
        "batches": len(keys),
        "files_received": len(man) + int(fq["file_sha256"].notna().sum()),
        "files_accepted": len(man),
        "files_quarantined": _counts(fq),
        "pages": len(pi),
        "pages_blank": int(pi["is_blank"].sum()) if len(pi) else 0,
        "pages_turned": int((pi["rotation_applied"] != 0).sum()) if len(pi) else 0,
        "pages_exif_rotated": int((pi["exif_rotation"] != 0).sum()) if len(pi) else 0,
        "pages_quarantined": _counts(pq),
        "books": int(man["book_ref"].nunique()) if len(man) else 0,
    }


OCR_REVIEW_CONFIDENCE = 0.9
"""For the OCR summary only: readings under this confidence are certain to be reviewed.
Validate decides per field type with calibrated thresholds (issue 4)."""


def summarize_ocr(storage: Storage, keys: list[str], truth_dir: Path) -> dict:
    layouts = read_table(storage, "page_layouts", list(keys))
    readings = read_table(storage, "field_readings", list(keys))
    pi = read_table(storage, "page_images", list(keys))
    joined = join_truth(readings, pi, pd.read_parquet(truth_dir / "pages.parquet"),
                        pd.read_parquet(truth_dir / "fields.parquet"))
    acc = accuracy_table(joined)
    by_style = acc.groupby("style")[["fields", "correct"]].sum()
    return {
        "style_detector": style_accuracy(joined),
        "pages": len(layouts),
        "pages_by_status": {str(k): int(v) for k, v in layouts["status"].value_counts().items()},
        "fields": len(readings),
        "mean_confidence": round(float(readings["confidence"].mean()), 4),
        "fields_below_review_confidence": int((readings["confidence"] < OCR_REVIEW_CONFIDENCE).sum()),
        "fields_capped_by_checks": int((readings["checks"] != "").sum()),
        "accuracy_by_style": {
            str(st): {"fields": int(r.fields), "exact": round(float(r.correct / r.fields), 4)}
            for st, r in by_style.iterrows() if r.fields
        },
    }


def summarize_validate(storage: Storage, keys: list[str]) -> dict:
    d = read_table(storage, "field_decisions", list(keys))
    m = read_table(storage, "roster_matches", list(keys))
    a = read_table(storage, "accepted_records", list(keys))
    reasons = pd.Series([r for rs in d["reasons"] for r in rs], dtype=object)
    inked = d[d["style"] != ""]
    return {
        "auto_accepted_by_style": {
            str(st): {"fields": len(g), "auto_accepted": int((g["decision"] == "accept").sum())}
            for st, g in inked.groupby("style")},
        "fields": len(d), "auto_accepted": int((d["decision"] == "accept").sum()),
        "flagged": int((d["decision"] == "flag").sum()),
        "top_reasons": {str(k): int(v) for k, v in reasons.value_counts().head(6).items()},
        "roster": {str(k): int(v) for k, v in m["outcome"].value_counts().items()},
        "books_accepted": int(a.groupby("book_ref")["source"].apply(lambda s: (s == "auto").all()).sum())
        if len(a) else 0,
        "books_accepted_final": int(a["book_ref"].nunique()) if len(a) else 0,
    }


def _counts(df: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in df["reason_code"].value_counts().items()} if len(df) else {}


def print_report(r: dict, echo: Callable[[str], None], *, home: Path, storage: str) -> None:
    reasons = quarantine_reasons()
    echo("")
    echo("=== Summary ===")
    echo(f"batches            {r['batches']}")
    echo(f"files received     {r['files_received']} (accepted {r['files_accepted']})")
    echo(f"books              {r['books']}")
    echo(f"pages              {r['pages']} (blank {r['pages_blank']}, turned upright "
         f"{r['pages_turned']}, EXIF-rotated {r['pages_exif_rotated']})")
    for label, key in (("files quarantined", "files_quarantined"),
                       ("pages quarantined", "pages_quarantined")):
        total = sum(r[key].values())
        echo(f"{label:<18} {total}")
        for code, n in sorted(r[key].items()):
            echo(f"    {n:>3} × {code}: {reasons[code].message}")
    ocr = r.get("ocr")
    if ocr:
        echo(f"pages read (OCR)   {ocr['pages']} ("
             + ", ".join(f"{k} {v}" for k, v in sorted(ocr["pages_by_status"].items())) + ")")
        echo(f"fields read        {ocr['fields']}; exact vs ground truth: "
             + ", ".join(f"{st} {a['exact']:.1%} of {a['fields']}"
                         for st, a in sorted(ocr["accuracy_by_style"].items())))
        echo(f"OCR confidence     mean {ocr['mean_confidence']:.3f}; "
             f"{ocr['fields_below_review_confidence']} fields under {OCR_REVIEW_CONFIDENCE} "
             f"(for review), {ocr['fields_capped_by_checks']} capped by format/agreement/page checks")
        sd = ocr["style_detector"]
        if sd.get("fields"):
            echo(f"writing style      detected right for {sd['accuracy']:.1%} of {sd['fields']} written "
                 f"fields (handwriting {sd.get('hand_recall', 0):.1%}, "
                 f"print {sd.get('print_recall', 0):.1%})")
    val = r.get("validate")
    if val:
        share = val["flagged"] / max(val["fields"], 1)
        echo(f"validate           {val['auto_accepted']} fields auto-accepted, {val['flagged']} flagged "
             f"for review ({share:.1%}); top reasons: "
             + ", ".join(f"{k} {v}" for k, v in val["top_reasons"].items()))
        echo("auto-accepted      " + ", ".join(
            f"{'handwritten' if st == 'hand' else st} "
            f"{a['auto_accepted'] / max(a['fields'], 1):.1%} of {a['fields']}"
            for st, a in sorted(val["auto_accepted_by_style"].items())) + " written fields")
        tr = r.get("truth")
        if tr:
            echo(f"vs ground truth    silent errors (auto-accepted and wrong) {tr['silent_errors']} of "
                 f"{tr['auto_accepted']} ({tr['silent_error_rate']:.3%}); wrong readings caught by a flag "
                 f"{tr['caught_errors']}")
        echo("roster             " + ", ".join(f"{k} {v}" for k, v in sorted(val["roster"].items()))
             + f"; books accepted without review: {val['books_accepted']}")
    rv = r.get("review")
    if rv and rv["simulated"]:
        s = rv["simulated"]
        echo(f"review (SIMULATED) {s['confirmed']} confirmed, {s['corrected']} corrected, {s['illegible']} "
             f"need the paper book; left for you in the console: {', '.join(rv['left_for_you'])}")
    if val:
        echo(f"books accepted     {val['books_accepted_final']} of {r['books']} "
             f"(with reviews; the rest have open reviews or no roster student)")
    tr = r.get("truth")
    if tr:
        src = tr["final_by_source"]
        echo(f"accepted values    {tr['final_errors']} wrong of {tr['final_fields']} vs ground truth "
             f"(auto {src['auto']['errors']} of {src['auto']['fields']}, reviewed {src['review']['errors']} "
             f"of {src['review']['fields']})")
    iss = r.get("issue")
    if iss:
        echo(f"records issued     {iss['records']} signed XML + PDF pairs, {iss['verified']} verified "
             f"(signatures, chain to the demo CA, PDF difference analysis, XSD, ledger); ledger "
             f"{iss['ledger_entries']} entries, chain {'intact' if iss['ledger_ok'] else 'BROKEN'}")
    cov = r.get("coverage")
    if cov:
        echo(f"coverage           {cov['coverage_pct']:.1f}% — {cov['records_issued']} records issued of "
             f"{cov['students_expected']} books on the roster; "
             + ", ".join(f"{s['school']} {s['pct']:.0f}%" for s in cov["schools"]))
    injected = r.get("defects_injected", {})
    if injected:
        echo("defects injected   " + ", ".join(f"{k} {v}" for k, v in sorted(injected.items()))
             + "  (ground truth; roster defects are for the validate stage)")
    if r["runs_failed"]:
        echo(f"runs FAILED        {', '.join(r['runs_failed'])}")
    if r["checks_failed"]:
        echo(f"checks FAILED      {', '.join(r['checks_failed'])}")
    echo("elapsed            " + ", ".join(f"{k} {v}s" for k, v in r["seconds"].items()))
    echo("")
    echo("Where to look next:")
    echo(f"  tables (Parquet)   {storage}/tables/")
    echo(f"  page images        {storage}/pages/")
    echo(f"  field crops        {storage}/crops/")
    echo(f"  quarantined files  {storage}/quarantine/")
    echo(f"  ground truth       {home}/synth/truth/")
    echo("  Dagster UI         make ui   (then http://127.0.0.1:3000)")
    if iss:
        echo(f"  signed records     {iss['issued_root']}/issued/   (check any: hocba verify FILE…)")
    rv = r.get("review")
    if rv:
        echo(f"  review console     make serve   (then {rv['url']}); login {rv['user']} / {rv['password']} "
             f"(reviewer, {rv['scope']}); {rv['open_items']} fields open")
        if rv.get("manager"):
            echo(f"  coverage dashboard {rv['url']}coverage   login {rv['manager']} / {rv['password']} "
                 f"(data team, {rv['scope']})")
    echo("  notebooks          notebooks/coverage.ipynb, notebooks/accuracy.ipynb "
         "(they read this HOCBA_HOME)")
