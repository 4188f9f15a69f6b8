"""The run display: bars redrawn in place on a terminal, plain lines anywhere else."""

from __future__ import annotations

import io

from pipelines.progress import RunDisplay, summary_lines
from pipelines.runner import BatchSummary, RunOutcome, StepFailure, StepProgress


class Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def _ocr(kind: str, done: int = 0, ok: bool = True) -> StepProgress:
    return StepProgress(kind, "ocr_pages", "ocr", 2, 6, done=done, total=8 if kind == "progress" else 0,
                        unit="pages" if kind == "progress" else "", ok=ok, seconds=3.25)


def _feed(display: RunDisplay) -> None:
    display.batch(1, 2, "760/s1/b001", "scan_batch_job")
    display(_ocr("start"))
    for done in range(1, 9):
        display(_ocr("progress", done))
    display(_ocr("end"))


def test_not_a_terminal_plain_lines_at_each_quarter():
    out = io.StringIO()  # a pipe, a cron log
    _feed(RunDisplay(out))
    assert out.getvalue().splitlines() == [
        "[1/2] 760/s1/b001 — scan_batch_job",
        "  [2/6] ocr      ocr_pages        …",
        "  [2/6] ocr      ocr_pages        2/8 pages",
        "  [2/6] ocr      ocr_pages        4/8 pages",
        "  [2/6] ocr      ocr_pages        6/8 pages",
        "  [2/6] ocr      ocr_pages        8/8 pages",
        "  [2/6] ocr      ocr_pages        ok 3.2s",
    ]


def test_a_terminal_redraws_one_line_per_step_with_a_bar():
    out = Terminal()
    _feed(RunDisplay(out, width=100, redraw_s=0))
    text = out.getvalue()
    lines = text.split("\n")
    assert lines[0] == "[1/2] 760/s1/b001 — scan_batch_job"
    step = lines[1].split("\r")
    # drawn at start, at each page, then ended in place: one line on the screen
    assert len([s for s in step if s]) == 1 + 8 + 1
    assert "████████████████████ 8/8 pages" in step[-2]
    assert "██████████░░░░░░░░░░ 4/8 pages" in text
    assert step[-1].startswith("  [2/6] ocr      ocr_pages        ok 3.2s")
    assert all(len(s.removesuffix("\x1b[K")) < 100 for s in step)


def test_a_terminal_without_utf8_gets_ascii_bars_and_narrow_ones_are_cut():
    class Ascii(Terminal):
        encoding = "ascii"

    out = Ascii()
    _feed(RunDisplay(out, width=60, redraw_s=0))
    out.getvalue().encode("ascii")  # nothing a C-locale terminal cannot show
    drawn = out.getvalue().split("\r")[1:]
    assert "  [2/6] ocr      ocr_pages        ##########----------" in drawn[4]
    assert all(len(s.split("\x1b[K")[0]) <= 59 for s in drawn)  # a wrapped line cannot be redrawn


def test_outcome_lines_and_the_summary():
    failed = RunOutcome("760/s1/b002", "scan_batch_job", False, "r2", 12.0,
                        ("issued_records:every_record_verifies", "page_images:page_images_stored"),
                        blocking_failed=("issued_records:every_record_verifies",),
                        step_failures=(StepFailure("issued_records", "DagsterAssetCheckFailedError",
                                                   "1 blocking asset check failed"),))
    ok = RunOutcome("760/s1/b001", "scan_batch_job", True, "r1", 30.5, ())
    out = io.StringIO()
    display = RunDisplay(out)
    display.outcome(ok)
    display.outcome(failed)
    assert out.getvalue().splitlines() == [
        "    ok 760/s1/b001 30.5s",
        "    THẤT BẠI / FAILED 760/s1/b002 12.0s",
        "      issued_records: DagsterAssetCheckFailedError: 1 blocking asset check failed",
        "      kiểm tra không đạt / checks failed: issued_records:every_record_verifies (blocking), "
        "page_images:page_images_stored",
    ]
    batches = [BatchSummary("760/s1/b001", 40, 1200, 100, 1, 2, 8),
               BatchSummary("760/s1/b002", 10, 300, 30, 0, 0, 0)]
    lines = summary_lines("scan_batch_job", [ok, failed], batches, 42.5)
    assert lines[0] == "=== hocba run: scan_batch_job, 2 batch(es); runs: 1 ok, 1 failed; 42.5s ==="
    assert lines[1].split() == ["batch", "run", "pages", "fields", "flagged", "q.files", "q.pages", "issued"]
    assert lines[2].split() == ["760/s1/b001", "ok", "40", "1200", "100", "1", "2", "8"]
    assert lines[3].split() == ["760/s1/b002", "FAILED", "10", "300", "30", "0", "0", "0"]
    assert lines[4].split() == ["total", "50", "1500", "130", "1", "2", "8"]
    assert lines[5] == ("checks failed: 760/s1/b002 issued_records:every_record_verifies (blocking), "
                        "760/s1/b002 page_images:page_images_stored")
    assert lines[6] == ("step failed: 760/s1/b002 issued_records: DagsterAssetCheckFailedError: "
                        "1 blocking asset check failed")
