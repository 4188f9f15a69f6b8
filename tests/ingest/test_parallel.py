"""The executor: serial and pooled give the same results; a dying worker is isolated."""

from __future__ import annotations

import os

import pytest

from pipelines.parallel import WorkerDied, WorkerPoolError, map_unordered


def square(ctx: int, task: int) -> int:
    return ctx + task * task


def die_on_three(ctx: int, task: int) -> int:
    if task == 3:
        os._exit(1)  # what a segfault in a C library looks like to the pool
    return task


def test_serial_in_order() -> None:
    assert list(map_unordered(square, 1, range(5), workers=1)) == [(i, 1 + i * i) for i in range(5)]


def test_pool_same_results_and_lazy() -> None:
    pulled = 0

    def tasks():
        nonlocal pulled
        for i in range(20):
            pulled += 1
            yield i

    got = []
    for task, result in map_unordered(square, 0, tasks(), workers=2):
        got.append((task, result))
        assert pulled - len(got) <= 4  # never more than 2 × workers in flight
    assert sorted(got) == [(i, i * i) for i in range(20)]


def test_dead_worker_is_isolated() -> None:
    got = dict(map_unordered(die_on_three, 0, range(8), workers=2))
    assert isinstance(got.pop(3), WorkerDied)
    assert got == {i: i for i in range(8) if i != 3}


def always_die(ctx: int, task: int) -> int:
    os._exit(1)


def test_workers_that_always_die_stop_the_run() -> None:
    with pytest.raises(WorkerPoolError, match="in a row died"):
        list(map_unordered(always_die, 0, range(10), workers=2))
