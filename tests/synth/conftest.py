"""A tiny synthetic district, generated once per session (two worker counts, same seed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.synth.generate import SynthSummary, generate_district

SEED = 7
CORPUS = {"schools": 2, "students": 3, "seed": SEED, "difficulty": "clean", "batch_size": 2}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, SynthSummary]:
    """Default (demo) defect rates: every defect kind occurs at least once."""
    out = tmp_path_factory.mktemp("synth") / "a"
    return out, generate_district(out, workers=2, **CORPUS)


@pytest.fixture(scope="session")
def corpus_serial(tmp_path_factory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth") / "b"
    return out, generate_district(out, workers=1, **CORPUS)
