"""The worker pool (pipelines/parallel.py): serial and pooled give the same results, a dying
worker is isolated, the pool's processes die with their parent, and there are as many as the
container allows (cgroup quota, affinity), not as many as the node has."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.parallel import WorkerDied, WorkerPoolError, available_cpus, cgroup_cpu_quota, map_unordered

ROOT = Path(__file__).resolve().parents[1]


# --- serial and pooled ------------------------------------------------------------------------------
def square(ctx: int, task: int) -> int:
    return ctx + task * task


def die_on_three(ctx: int, task: int) -> int:
    if task == 3:
        os._exit(1)  # what a segfault in a C library looks like to the pool
    return task


def always_die(ctx: int, task: int) -> int:
    os._exit(1)


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


def test_workers_that_always_die_stop_the_run() -> None:
    with pytest.raises(WorkerPoolError, match="in a row died"):
        list(map_unordered(always_die, 0, range(10), workers=2))


# --- workers die with their parent -----------------------------------------------------------------
def sleep_and_report(ctx: str, task: int) -> int:
    """A long task (a page that takes minutes): leave this worker's pid behind, then sleep."""
    Path(ctx, f"worker-{os.getpid()}").write_text(str(task))
    time.sleep(120)
    return task


PARENT = textwrap.dedent("""
    import sys

    import pipelines.parallel as parallel
    from tests.test_parallel import sleep_and_report

    if __name__ == "__main__":
        parallel.PDEATHSIG = sys.argv[2] == "pdeathsig"
        for _ in parallel.map_unordered(sleep_and_report, sys.argv[1], range(4), workers=2):
            pass
""")


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie (dead, not yet reaped by whoever adopted it) is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to see processes")
@pytest.mark.parametrize("mode", ["pdeathsig", "watchdog"])
def test_workers_die_when_their_parent_is_killed(tmp_path, mode):
    """What the OOM killer does to an OCR step: SIGKILL of the process that owns the pool."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), mode], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
            time.sleep(0.1)
        assert len(workers) == 2, "the pool did not start its workers"
        assert all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if _alive(pid)]
        assert left == [], f"workers {left} outlived their parent"
    finally:
        parent.kill()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# --- how many workers ------------------------------------------------------------------------------
def _layout(root: Path, proc_cgroup: str, files: dict[str, str]) -> Path:
    """A filesystem root with proc/self/cgroup and files under sys/fs/cgroup."""
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "cgroup").write_text(proc_cgroup)
    for rel, text in files.items():
        path = root / "sys" / "fs" / "cgroup" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_quota_in_a_container(tmp_path):
    # With a cgroup namespace the container's cgroup is mounted at /sys/fs/cgroup and is "/".
    root = _layout(tmp_path, "0::/\n", {"cpu.max": "150000 100000\n"})
    assert cgroup_cpu_quota(root) == 1.5
    assert available_cpus(root=root, affinity=64) == 2  # rounded up
    assert available_cpus(root=root, affinity=1) == 1  # the affinity mask is smaller


def test_cgroup_v2_nested_takes_the_smallest_limit_on_the_way_up(tmp_path):
    root = _layout(tmp_path, "0::/kubepods/pod1/ctr\n", {
        "kubepods/cpu.max": "800000 100000\n",
        "kubepods/pod1/cpu.max": "50000 100000\n",  # half a CPU for the pod
        "kubepods/pod1/ctr/cpu.max": "max 100000\n",  # no limit of its own
    })
    assert cgroup_cpu_quota(root) == 0.5
    assert available_cpus(root=root, affinity=64) == 1  # at least one


def test_cgroup_v2_without_limit_uses_affinity(tmp_path):
    root = _layout(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert cgroup_cpu_quota(root) is None
    assert available_cpus(root=root, affinity=6) == 6


def test_cgroup_v1_cfs_quota(tmp_path):
    root = _layout(tmp_path, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n", {
        # Docker without a cgroup namespace: the container's cgroup is the mount root.
        "cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
        "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    })
    assert cgroup_cpu_quota(root) == 3.0
    assert available_cpus(root=root, affinity=32) == 3


def test_cgroup_v1_unlimited_and_missing_files(tmp_path):
    root = _layout(tmp_path, "2:cpu:/\n",
                   {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"})
    assert cgroup_cpu_quota(root) is None
    assert available_cpus(root=root, affinity=4) == 4
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert cgroup_cpu_quota(empty) is None
    assert available_cpus(root=empty, affinity=3) == 3


def test_garbage_in_cgroup_files_is_no_limit(tmp_path):
    root = _layout(tmp_path, "0::/\n", {"cpu.max": "lots\n"})
    assert cgroup_cpu_quota(root) is None


def test_this_machine():
    """The real files: never more than the affinity mask, never fewer than 1."""
    n = available_cpus()
    assert 1 <= n <= len(os.sched_getaffinity(0))


def test_worker_counts_default_to_available_cpus():
    """Every "0 = one per core" in pipelines/ goes through available_cpus, the one place that
    may ask os.cpu_count() (where there is no affinity mask)."""
    from pipelines.resources import RunSettingsResource

    assert RunSettingsResource(workers=0).worker_count() == available_cpus()
    assert RunSettingsResource(workers=3).worker_count() == 3
    asking = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pipelines").rglob("*.py")
                    if "cpu_count(" in p.read_text())
    assert asking == ["pipelines/parallel.py"]
