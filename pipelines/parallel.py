"""One executor interface for per-item work: serial in-process, or a pool of processes.

``map_unordered(fn, ctx, tasks, workers=…)`` yields ``(task, result)`` as results come
in. ``fn(ctx, task)`` must be a module-level function; ``ctx`` and each task must be
small and picklable (paths and indices, never pixels), results small too. Tasks are
pulled lazily from the iterable and at most ``2 × workers`` are in flight, so memory
stays flat however many items there are, and the producer (say, a hashing loop)
runs just ahead of the workers.

A worker that dies (a segfault in a C library, the OOM killer) breaks a
``ProcessPoolExecutor`` and every task in flight with it. Those tasks are then run
again one at a time in a fresh pool, so that the one that kills its worker is
identified exactly; its result is a ``WorkerDied`` instead of a crash of the run.
When workers die whatever they run (``MAX_DEATHS_IN_A_ROW`` isolated deaths with no
success between), the fault is the environment, and ``WorkerPoolError`` is raised.

The other way round, workers die with the process that started them: when the OOM killer
(or anyone) SIGKILLs the step, no ``finally`` runs in it, and workers left behind would go
on reading pages for minutes, holding memory the next attempt needs. Each worker asks the
kernel for SIGKILL when its parent goes (Linux ``PR_SET_PDEATHSIG``) and also runs a
watchdog thread that exits when its parent process id changes (any POSIX system).

``available_cpus()`` is the one answer to "how many processes": the CPUs this process may
really use — its affinity mask and its cgroup's CPU quota (a container's limit), not the
node's ``os.cpu_count()``.
"""

from __future__ import annotations

import ctypes
import logging
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pipelines.errors import ExitCode, HocbaError

log = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")


# Isolated deaths without one success between them before the run is given up.
MAX_DEATHS_IN_A_ROW = 3


class WorkerPoolError(HocbaError):
    """Worker processes die whatever they run: the machine, not an input, is at fault."""

    exit_code = ExitCode.worker


@dataclass(frozen=True)
class WorkerDied:
    """Result of a task whose worker process died while running it, alone."""

    detail: str


def map_unordered(
    fn: Callable[[C, T], R],
    ctx: C,
    tasks: Iterable[T],
    *,
    workers: int = 1,
) -> Iterator[tuple[T, R | WorkerDied]]:
    """Run ``fn(ctx, task)`` for every task; yield ``(task, result)`` in completion order.

    ``workers=1`` runs in this process, in order (tests, debugging, profiling).
    Exceptions raised by ``fn`` propagate (catch the expected ones inside ``fn``).
    """
    if workers <= 1:
        for task in tasks:
            yield task, fn(ctx, task)
        return
    yield from _pool_map(fn, ctx, iter(tasks), workers)


# --- workers die with their parent ----------------------------------------------------------------
PDEATHSIG = sys.platform.startswith("linux")
"""Ask the Linux kernel to SIGKILL a worker when its parent dies (set to False to rely on the
watchdog alone, as on other systems; read in the parent when a pool starts)."""

WATCHDOG_INTERVAL_S = 0.5
"""How often a worker's watchdog thread checks that its parent is still the same process."""

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_pdeathsig() -> bool:
    """prctl(PR_SET_PDEATHSIG, SIGKILL) for this process; False where it is not available.

    The kernel sends the signal when the *thread* that started this process exits; pools are
    started and used by the thread that iterates ``map_unordered``, which outlives them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval_s: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone (we were re-parented): nobody wants our result
        time.sleep(interval_s)


def die_with_parent(parent_pid: int, pdeathsig: bool = True,
                    interval_s: float = WATCHDOG_INTERVAL_S) -> None:
    """Make this (worker) process end when ``parent_pid`` does: a pool initializer.

    Linux: the kernel's parent-death signal. Everywhere: a daemon thread that exits the
    process once its parent process id is no longer ``parent_pid``. The check right after
    the prctl covers a parent that died before the worker got this far."""
    if pdeathsig:
        _set_pdeathsig()
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, interval_s), name="hocba-parent-watchdog",
                     daemon=True).start()


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold threads (Dagster) and C library state
    # (a Tesseract API) that must not be copied into children mid-flight.
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent, initargs=(os.getpid(), PDEATHSIG),
    )


# --- how many workers ------------------------------------------------------------------------------
def available_cpus(*, root: str | os.PathLike = "/", affinity: int | None = None) -> int:
    """CPUs this process may use: the fewest of its affinity mask and its cgroup CPU quota
    (rounded up), at least 1. Use it wherever a worker count defaults to "one per core".

    ``root``: the filesystem root holding ``proc/self/cgroup`` and ``sys/fs/cgroup`` (tests
    point it at a folder laid out like them). ``affinity``: the CPUs the scheduler allows
    (default: ``os.sched_getaffinity``, or ``os.cpu_count()`` where that does not exist)."""
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            affinity = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    n = affinity if quota is None else min(affinity, math.ceil(quota))
    return max(1, n)


def cgroup_cpu_quota(root: str | os.PathLike = "/") -> float | None:
    """The CPU quota (in CPUs, e.g. 1.5) of this process's cgroup and its ancestors, the
    smallest found; None when there is none (no cgroup files, or ``max`` / ``-1``).

    cgroup v2: ``cpu.max`` ("QUOTA PERIOD" or "max PERIOD"). cgroup v1: ``cpu.cfs_quota_us``
    and ``cpu.cfs_period_us`` of the ``cpu`` controller. Both are looked up from the process's
    own cgroup (``/proc/self/cgroup``) up to the mount point, which inside a container is the
    container's own cgroup."""
    root = Path(root)
    mounts = root / "sys" / "fs" / "cgroup"
    paths = _own_cgroups(root / "proc" / "self" / "cgroup")
    quotas: list[float] = []
    v2 = paths.get("", "/")
    for mount in (mounts, mounts / "unified"):
        for d in _up_to(mount, v2):
            q = _read_cpu_max(d / "cpu.max")
            if q is not None:
                quotas.append(q)
    v1 = paths.get("cpu", "/")
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        for d in _up_to(mounts / name, v1):
            q = _read_cfs(d / "cpu.cfs_quota_us", d / "cpu.cfs_period_us")
            if q is not None:
                quotas.append(q)
    return min(quotas) if quotas else None


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """controller → cgroup path from /proc/self/cgroup ("" is the v2 unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        text = proc_cgroup.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(","):
            out[controller] = parts[2]
    return out


def _up_to(mount: Path, cgroup_path: str) -> list[Path]:
    """The folders of the cgroup and each ancestor under one mount, deepest first, existing ones."""
    parts = [p for p in cgroup_path.split("/") if p and p not in (".", "..")]
    dirs = [mount.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]
    return [d for d in dirs if d.is_dir()]


def _read_cpu_max(path: Path) -> float | None:
    try:
        fields = path.read_text().split()
    except OSError:
        return None
    try:
        if len(fields) != 2 or fields[0] == "max":
            return None
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read_cfs(quota_path: Path, period_path: Path) -> float | None:
    try:
        quota, period = int(quota_path.read_text().strip()), int(period_path.read_text().strip())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _submit(pool: ProcessPoolExecutor, fn: Callable, ctx: Any, task: Any) -> Future:
    try:
        return pool.submit(fn, ctx, task)
    except BrokenProcessPool as exc:  # broke since the last wait: fail like a task would
        fut: Future = Future()
        fut.set_exception(exc)
        return fut


def _pool_map(fn: Callable, ctx: Any, tasks: Iterator, workers: int) -> Iterator[tuple[Any, Any]]:
    limit = 2 * workers
    suspects: deque = deque()  # in flight when a worker died: rerun one at a time
    inflight: dict[Future, Any] = {}
    exhausted = False
    deaths_in_a_row = 0
    pool = _new_pool(workers)
    try:
        while True:
            isolating = bool(suspects)
            if isolating:
                if not inflight:
                    task = suspects.popleft()
                    inflight[_submit(pool, fn, ctx, task)] = task
            else:
                while not exhausted and len(inflight) < limit:
                    try:
                        task = next(tasks)
                    except StopIteration:
                        exhausted = True
                        break
                    inflight[_submit(pool, fn, ctx, task)] = task
            if not inflight:
                return  # nothing suspect, nothing left
            alone = isolating and len(inflight) == 1
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken: BrokenProcessPool | None = None
            for fut in done:
                task = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool as exc:
                    broken = exc
                    if not alone:
                        suspects.append(task)
                        continue
                    deaths_in_a_row += 1
                    if deaths_in_a_row >= MAX_DEATHS_IN_A_ROW:
                        raise WorkerPoolError(
                            f"{deaths_in_a_row} worker processes in a row died, each on a "
                            "different task run alone: the environment is broken (memory, a "
                            "missing library, a script without `if __name__ == '__main__':`), "
                            "not one input. Fix it and run again."
                        ) from exc
                    yield task, WorkerDied(f"worker process died while handling it: {exc}")
                    continue
                deaths_in_a_row = 0
                yield task, result
            if broken is not None:
                suspects.extend(inflight.values())  # lost with the pool
                inflight.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(workers)
                if suspects:
                    log.warning(
                        "a worker process died; re-running %d task(s) one at a time", len(suspects)
                    )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
