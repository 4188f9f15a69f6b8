"""Showing runs as they go: a bar per step on a terminal, plain lines anywhere else.

On a terminal each step of a batch's run is one line redrawn in place (``\\r``): stage,
step, a bar of the pages or files done, and the time. Anywhere else (cron, a pipe, a log
file) nothing is redrawn: a line when a step starts, one at each quarter of its work,
and one when it ends, so a log reads top to bottom. The values shown are
``pipelines.runner.StepProgress``; ``run_shown`` is `hocba run`'s (and the demo's) loop.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator
from typing import TextIO

from pipelines.runner import BatchSummary, RunOutcome, StepProgress, run_all


@contextlib.contextmanager
def stage_logs_quiet() -> Iterator[None]:
    """While a display shows the runs, the stages' info lines (what the display already says)
    stay out of the terminal; warnings still show. Not with ``hocba -v`` (debug on)."""
    logger = logging.getLogger("pipelines")
    level = logger.level
    if not logger.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def run_shown(defs, instance, job: str, keys: list[str], display: RunDisplay, *,
              log_level: str = "CRITICAL") -> list[RunOutcome]:
    """Run ``job`` for each batch in turn (``runner.run_all``), shown on ``display``."""
    with stage_logs_quiet():
        return run_all(defs, instance, job, keys, progress=lambda i, n, o: display.outcome(o),
                       step_progress=display, before=lambda i, n, k: display.batch(i, n, k, job),
                       log_level=log_level)


class RunDisplay:
    """Call it with each StepProgress; ``batch`` before a batch's run, ``outcome`` after."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None, width: int | None = None,
                 redraw_s: float = 0.1) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.width = width
        self.redraw_s = redraw_s
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
        utf8 = encoding in ("utf8", "utf8sig")
        self.full, self.empty = ("█", "░") if utf8 else ("#", "-")
        self.dots, self.dash = ("…", "—") if utf8 else ("...", "-")
        self._open = False  # a terminal line is being redrawn
        self._drawn_at = 0.0
        self._started: dict[str, float] = {}
        self._quarter: dict[str, int] = {}

    # --- what callers call ----------------------------------------------------------------------
    def batch(self, i: int, n: int, key: str, job: str) -> None:
        self._line(f"[{i}/{n}] {key} {self.dash} {job}")

    def __call__(self, p: StepProgress) -> None:
        if p.kind == "start":
            self._started[p.step] = time.monotonic()
            self._quarter[p.step] = 0
            if self.tty:
                self._draw(self._text(p, self.dots), force=True)
            else:
                self._line(self._text(p, self.dots))
        elif p.kind == "progress" and p.total > 0:
            counted = f"{self._bar(p.done, p.total)} {p.done}/{p.total} {p.unit}"
            if self.tty:
                self._draw(self._text(p, counted), force=p.done == p.total)
            else:
                quarter = 4 * p.done // p.total
                if quarter > self._quarter.get(p.step, 0):
                    self._quarter[p.step] = quarter
                    self._line(self._text(p, f"{p.done}/{p.total} {p.unit}"))
        elif p.kind == "end":
            self._line(self._text(p, f"{'ok' if p.ok else 'THẤT BẠI / FAILED'} {p.seconds:.1f}s"))

    def outcome(self, o: RunOutcome) -> None:
        if o.success:
            text = f"    ok {o.partition_key} {o.seconds:.1f}s"
        else:
            text = f"    THẤT BẠI / FAILED {o.partition_key} {o.seconds:.1f}s"
            for f in o.step_failures:
                text += f"\n      {f.step}: {f.error_class}: {f.message}"
        if o.failed_checks:
            text += "\n      kiểm tra không đạt / checks failed: " + ", ".join(
                f"{c} (blocking)" if c in o.blocking_failed else c for c in o.failed_checks)
        self._line(text)

    # --- drawing --------------------------------------------------------------------------------
    def _text(self, p: StepProgress, what: str) -> str:
        elapsed = time.monotonic() - self._started.get(p.step, time.monotonic())
        clock = f" {elapsed:5.1f}s" if self.tty and p.kind != "end" else ""
        return f"  [{p.index}/{p.steps}] {p.stage:<8} {p.step:<16} {what}{clock}"

    def _bar(self, done: int, total: int, cells: int = 20) -> str:
        filled = min(cells, cells * done // total)
        return self.full * filled + self.empty * (cells - filled)

    def _columns(self) -> int:
        return self.width or shutil.get_terminal_size((100, 24)).columns

    def _draw(self, text: str, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < self.redraw_s:
            return
        self._drawn_at = now
        # Never wider than the terminal: a wrapped line cannot be redrawn in place.
        self.stream.write("\r" + text[: self._columns() - 1] + "\x1b[K")
        self.stream.flush()
        self._open = True

    def _line(self, text: str) -> None:
        if self._open:
            self.stream.write("\r" + text.split("\n", 1)[0][: self._columns() - 1] + "\x1b[K\n")
            rest = text.split("\n", 1)[1:]
            if rest:
                self.stream.write(rest[0] + "\n")
            self._open = False
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def summary_lines(job: str, outcomes: list[RunOutcome], batches: list[BatchSummary],
                  seconds: float) -> list[str]:
    """The table `hocba run` prints at the end: per batch, then totals, then what failed."""
    ok = sum(o.success for o in outcomes)
    head = (f"=== hocba run: {job}, {len(batches)} batch(es); runs: {ok} ok, {len(outcomes) - ok} failed; "
            f"{seconds:.1f}s ===")
    by_key = {o.partition_key: o for o in outcomes}
    cols = ("pages", "fields", "flagged", "files_quarantined", "pages_quarantined", "issued")
    names = ("pages", "fields", "flagged", "q.files", "q.pages", "issued")
    width = max([len("batch"), len("total"), *(len(b.batch) for b in batches)])
    lines = [head]
    if batches:
        lines.append(f"{'batch':<{width}}  {'run':<6}  " + "  ".join(f"{n:>7}" for n in names))
    for b in batches:
        o = by_key.get(b.batch)
        state = "-" if o is None else ("ok" if o.success else "FAILED")
        lines.append(f"{b.batch:<{width}}  {state:<6}  " + "  ".join(f"{getattr(b, c):>7}" for c in cols))
    if len(batches) > 1:
        lines.append(f"{'total':<{width}}  {'':<6}  "
                     + "  ".join(f"{sum(getattr(b, c) for b in batches):>7}" for c in cols))
    failed_checks = [(o.partition_key, c, c in o.blocking_failed) for o in outcomes for c in o.failed_checks]
    lines.append("checks failed: " + (", ".join(f"{k} {c}" + (" (blocking)" if blocking else "")
                                                for k, c, blocking in failed_checks) or "none"))
    for o in outcomes:
        for f in o.step_failures:
            lines.append(f"step failed: {o.partition_key} {f.step}: {f.error_class}: {f.message}")
    return lines
