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
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from pipelines.errors import HocbaError

log = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")


# Isolated deaths without one success between them before the run is given up.
MAX_DEATHS_IN_A_ROW = 3


class WorkerPoolError(HocbaError):
    """Worker processes die whatever they run: the machine, not an input, is at fault."""


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


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent may hold threads (Dagster) and C library state
    # (a Tesseract API) that must not be copied into children mid-flight.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


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
