"""`hocba run`: batch keys checked against the inbox, partitions registered, runs through
Dagster with a display and a summary, and the exit code of what went wrong."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import _run_exit_code, main
from pipelines.errors import ExitCode
from pipelines.runner import RunOutcome, StepFailure

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(hocba_home, monkeypatch):
    # DAGSTER_HOME set through monkeypatch, so it is unset again after the test.
    monkeypatch.setenv("DAGSTER_HOME", str(hocba_home / "dagster"))
    (hocba_home / "inbox").mkdir(parents=True)
    return hocba_home


def _batch(home: Path, key: str, manifest: str | None) -> Path:
    folder = home / "inbox" / key
    folder.mkdir(parents=True)
    if manifest is not None:
        (folder / "manifest.csv").write_text(manifest, encoding="utf-8")
    return folder


def _partitions() -> list[str]:
    from pipelines.dagster_home import ensure_dagster_home
    from pipelines.settings import get_settings

    ensure_dagster_home(get_settings())
    with dg.DagsterInstance.get() as inst:
        return inst.get_dynamic_partitions("scan_batches")


def test_a_batch_not_in_the_inbox_is_refused_naming_what_is_there(home, tmp_path):
    _batch(home, "760/s1/b001", "file,book_ref\n")
    _batch(home, "760/s1/b002", None)  # no manifest yet: not a batch
    outside = tmp_path / "elsewhere" / "s9" / "b1"
    outside.mkdir(parents=True)
    (outside / "manifest.csv").write_text("file,book_ref\n")
    (home / "inbox" / "q9").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    runner = CliRunner()
    r = runner.invoke(main, ["run", "760/s1/b009"])
    assert r.exit_code == 4, r.output
    assert "'760/s1/b009' is not a batch folder with a manifest.csv" in r.output
    assert "It holds 1: 760/s1/b001." in r.output
    r = runner.invoke(main, ["run", "760/s1/b002"])
    assert r.exit_code == 4 and "It holds 1: 760/s1/b001." in r.output
    r = runner.invoke(main, ["run", "q9/s9/b1"])  # behind a link: never followed
    assert r.exit_code == 4 and "inbox/q9 is a symbolic link" in r.output, r.output
    r = runner.invoke(main, ["run", "760/s1"])
    assert r.exit_code == 4 and "DISTRICT/SCHOOL/BATCH" in r.output
    assert _partitions() == []  # nothing registered for a refused key


def test_usage_errors(home):
    runner = CliRunner()
    assert runner.invoke(main, ["run"]).exit_code == ExitCode.usage
    assert runner.invoke(main, ["run", "--all", "760/s1/b001"]).exit_code == ExitCode.usage


def test_a_failing_stage_is_shown_summarized_and_sets_the_exit_code(home):
    """A manifest with unknown columns: ingest raises InputError → exit code 4, as elsewhere."""
    _batch(home, "760/s1/b001", "fichier,livre\nx.png,HB-1\n")
    r = CliRunner().invoke(main, ["run", "--all"])
    assert r.exit_code == 4, r.output
    out = r.output
    assert "registered 1 new batch(es) as partitions of scan_batches" in out
    assert "[1/1] 760/s1/b001 — scan_batch_job" in out
    assert "  [1/6] ingest   ingest_scans     …" in out  # plain lines: CliRunner is no terminal
    assert "\r" not in out
    assert "=== hocba run: scan_batch_job, 1 batch(es); runs: 0 ok, 1 failed;" in out
    assert "step failed: 760/s1/b001 ingest_scans: InputError: 760/s1/b001/manifest.csv:" in out
    assert "lỗi / error: 1 of 1 run(s) failed: 760/s1/b001" in out
    assert _partitions() == ["760/s1/b001"]
    with dg.DagsterInstance.get() as inst:
        (run,) = inst.get_runs(dg.RunsFilter(job_name="scan_batch_job"))
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert run.tags["dagster/partition"] == "760/s1/b001"
        # Run retries are on in dagster.yaml, but a run in this process has no code location to be
        # re-launched from: it is not marked for a retry that can never come.
        assert inst.run_retries_enabled and run.tags.get("dagster/will_retry") == "false"

    r = CliRunner().invoke(main, ["run", "760/s1/b001"])  # again, by key: registered already
    assert r.exit_code == 4 and "registered" not in r.output
    with dg.DagsterInstance.get() as inst:
        assert len(inst.get_runs(dg.RunsFilter(job_name="scan_batch_job"))) == 2


def test_exit_codes_come_from_the_error_a_step_raised():
    def outcome(*failures: StepFailure, blocking: tuple[str, ...] = ()) -> RunOutcome:
        return RunOutcome("760/s1/b001", "scan_batch_job", False, "r", 1.0, blocking,
                          blocking_failed=blocking, step_failures=failures)

    assert _run_exit_code(outcome(StepFailure("validate_pages", "ConfigError", "the roster is empty"))) == 9
    assert _run_exit_code(outcome(StepFailure("ingest_scans", "InputError", "manifest"))) == 4
    assert _run_exit_code(outcome(StepFailure("ingest_scans", "ContractError", "table"))) == 3
    assert _run_exit_code(outcome(StepFailure("ingest_scans", "RosterError", "no roster"))) == 4
    assert _run_exit_code(outcome(StepFailure("ocr_pages", "WorkerPoolError", "workers die"))) == 14
    assert _run_exit_code(outcome(StepFailure("issued_records", "DagsterAssetCheckFailedError", "1 check"),
                                  blocking=("issued_records:every_record_verifies",))) == 7
    assert _run_exit_code(outcome(StepFailure("ocr_pages", "MemoryError", ""))) == ExitCode.other == 1


# --- a batch with links, a FIFO and a path out of the folder, beside good scans ---------------------
@pytest.mark.slow
def test_a_batch_with_links_a_fifo_and_a_path_out_is_run_without_reading_through_them(home, tmp_path):
    from pipelines.issue.pki import ensure_pki
    from pipelines.settings import get_settings
    from pipelines.storage import Storage
    from pipelines.synth.defects import DefectRates
    from pipelines.synth.generate import generate_district
    from pipelines.table_io import read_table

    settings = get_settings()
    synth = tmp_path / "synth"
    generate_district(synth, schools=1, students=2, seed=5, difficulty="clean",
                      defects=DefectRates.none(), workers=1)
    (home / "roster").mkdir()
    (home / "roster" / "roster.csv").write_bytes((synth / "roster.csv").read_bytes())
    roster = pd.read_csv(synth / "roster.csv", dtype=str, encoding="utf-8-sig")
    ensure_pki(settings.pki_root, passphrase=settings.pki_passphrase,
               schools=sorted(roster["ma_truong"].unique()))
    (key,) = [str(p.relative_to(synth / "inbox")) for p in (synth / "inbox").glob("*/*/*")]
    subprocess.run(["cp", "-r", str(synth / "inbox") + "/.", str(home / "inbox")], check=True)
    folder = home / "inbox" / key
    good = sorted(pd.read_csv(folder / "manifest.csv", dtype=str)["file"])

    # Outside the inbox: a real scan (a page of the same district) and a folder of them.
    secret = tmp_path / "outside" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes((folder / good[0]).read_bytes() + b"outside")  # other bytes, still decodable
    (tmp_path / "outside" / "more").mkdir()
    (tmp_path / "outside" / "more" / "p1.png").write_bytes(secret.read_bytes() + b"more")
    (folder / "HB-LINK.png").symlink_to(secret)
    (folder / "linked-dir").symlink_to(tmp_path / "outside" / "more", target_is_directory=True)
    os.mkfifo(folder / "HB-PIPE.png")
    (folder.parent / "up.png").write_bytes(secret.read_bytes() + b"up")  # beside the batch folder
    with (folder / "manifest.csv").open("a", encoding="utf-8") as fh:
        fh.write("HB-LINK.png,HB-LINK\nHB-PIPE.png,HB-PIPE\n../up.png,HB-UP\n")
    bad = {"HB-LINK.png", "linked-dir", "HB-PIPE.png", "../up.png"}

    env = {**os.environ, "HOCBA_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
           "HOCBA_WORKERS": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--roster", key],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired as exc:  # blocked on the FIFO (subprocess.run has killed it)
        pytest.fail(f"`hocba run` still running after {exc.timeout} s: blocked on the FIFO?")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checks failed: none" in proc.stdout

    storage = Storage(settings.storage_root)
    man = read_table(storage, "scan_manifest", [key])
    fq = read_table(storage, "file_quarantine", [key])
    pages = read_table(storage, "page_images", [key])
    # Every good file went through, and only the good files gave pages.
    assert sorted(man["file_path"]) == good and (man["pages_found"] > 0).all()
    assert set(pages["file_path"]) == set(good)
    # Every bad entry is quarantined as what it is, not read.
    got = dict(zip(fq["file_path"], fq["reason_code"], strict=True))
    assert bad <= set(got), got
    assert {got[p] for p in bad} <= {"not_a_regular_file", "outside_batch_folder"}, got
    assert fq.loc[fq["file_path"].isin(bad), "file_sha256"].isna().all()
    # No byte of what lies behind the links or outside the folder is in storage.
    outside = {hashlib.sha256(p.read_bytes()).hexdigest()
               for p in (secret, tmp_path / "outside" / "more" / "p1.png", folder.parent / "up.png")}
    stored = {hashlib.sha256(p.read_bytes()).hexdigest()
              for p in Path(settings.storage_root).rglob("*") if p.is_file()}
    assert not outside & stored
    assert not outside & set(man["file_sha256"])
