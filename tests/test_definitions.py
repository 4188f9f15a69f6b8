"""The code location loads like `dagster definitions validate`, and its graph is snapshotted."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


def _load_defs() -> dg.Definitions:
    ws = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (target,) = ws["load_from"]
    module = importlib.import_module(target["python_module"]["module_name"])
    return module.defs


def graph_listing(defs: dg.Definitions) -> str:
    repo = defs.get_repository_def()
    lines = []
    for key in sorted(repo.asset_graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = repo.asset_graph.get(key)
        part = node.partitions_def.name if node.partitions_def is not None else "-"
        lines.append(f"asset {key.to_user_string()} group={node.group_name} partitions={part}")
    for ck in sorted(repo.asset_graph.asset_check_keys, key=lambda k: k.to_user_string()):
        lines.append(f"check {ck.to_user_string()}")
    for s in sorted(repo.sensor_defs, key=lambda s: s.name):
        lines.append(f"sensor {s.name} -> {s.job_name}")
    for j in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if not j.name.startswith("__"):
            lines.append(f"job {j.name}")
    return "\n".join(lines) + "\n"


def test_workspace_definitions_validate(hocba_home):
    """What `make ui` will do: Dagster's own loader on workspace.yaml."""
    dg.Definitions.validate_loadable(_load_defs())
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_definitions_snapshot(hocba_home):
    """A change to the asset graph shows up here: review it, then
    `HOCBA_UPDATE_SNAPSHOTS=1 pytest tests/test_definitions.py`."""
    listing = graph_listing(_load_defs())
    if os.environ.get("HOCBA_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(listing)
    assert listing == SNAPSHOT.read_text()
