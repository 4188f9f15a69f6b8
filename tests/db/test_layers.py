"""The database layer sits under the stages: review and issue import it, it imports neither, and the
stages read each other's tables only through their query functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(folder: Path) -> dict[str, set[tuple[str, str]]]:
    """file → {(module, name)} for every ``import``/``from … import`` under ``folder`` (name "" for
    ``import module``), nested imports included."""
    out: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(folder.rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found |= {(node.module, a.name) for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {(a.name, "") for a in node.names}
        out[str(path.relative_to(ROOT))] = found
    return out


def test_the_database_package_imports_no_stage():
    allowed = ("pipelines.db", "pipelines.settings")
    upward = {f: sorted(m for m, _ in found if m.startswith("pipelines") and not m.startswith(allowed))
              for f, found in _imports(ROOT / "pipelines" / "db").items()}
    assert {f: m for f, m in upward.items() if m} == {}
    assert "pipelines/db/migrations/env.py" in upward  # the Alembic environment was looked at too


def test_importing_the_database_package_loads_no_stage():
    code = ("import sys, pipelines.db; "
            "print(sorted(m for m in sys.modules if m.startswith(('pipelines.review', 'pipelines.issue'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_issue_does_not_import_review():
    found = {f: sorted(m for m, _ in names if m.startswith("pipelines.review"))
             for f, names in _imports(ROOT / "pipelines" / "issue").items()}
    assert {f: m for f, m in found.items() if m} == {}


def test_coverage_reads_review_and_issue_through_their_query_functions_only():
    allowed = {
        ("pipelines.review.queries", "item_progress"), ("pipelines.review.queries", "status_counts"),
        ("pipelines.review.queries", "activity"), ("pipelines.issue.ledger", "versions"),
        ("pipelines.issue.ledger", "last_seq"), ("pipelines.issue.ledger", "CURRENT"),
        ("pipelines.issue.model", "make_record_id"),
    }
    used = {(m, n) for names in _imports(ROOT / "pipelines" / "coverage").values() for m, n in names
            if m.startswith(("pipelines.review", "pipelines.issue"))}
    assert used - allowed == set()
    assert ("pipelines.review.queries", "item_progress") in used  # the scan sees the nested imports
