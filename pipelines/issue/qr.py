"""The QR code's module matrix: reportlab's encoder with the mask chosen on arrays.

reportlab's encoder chooses the mask by placing the symbol eight times and scoring each
placement in pure Python (~20 ms a symbol). Here the data modules of one placement are
re-masked eight ways with numpy and scored by the ISO/IEC 18004 penalty; the symbol is
still reportlab's, bit for bit (tests/issue/test_qr.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from reportlab.graphics.barcode import qrencoder

_FINDER = bytes([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0])


def _penalty(m: np.ndarray) -> int:
    """The QR mask penalty (ISO/IEC 18004 §8.8.2: runs, 2×2 blocks, finder-like runs, balance)."""
    n = m.shape[0]
    score = 0
    for a in (m, m.T):
        # N1: runs of five or more modules of one colour, 3 + (length - 5) each.
        padded = np.concatenate([a, np.full((n, 1), 2, dtype=np.int8)], axis=1).ravel()
        starts = np.concatenate([[0], np.flatnonzero(np.diff(padded)) + 1])
        lengths = np.diff(np.concatenate([starts, [padded.size]]))
        runs = lengths[padded[starts] != 2]
        score += int(np.sum(runs[runs >= 5] - 2))
        # N3: 1:1:3:1:1 finder-like run with four light modules on a side, 40 each (the patterns
        # cannot overlap themselves, so counting substrings counts them; the 2s keep lines apart).
        line = padded.tobytes()
        score += 40 * (line.count(_FINDER) + line.count(_FINDER[::-1]))
    # N2: 2×2 blocks of one colour, 3 each.
    block = (m[:-1, :-1] == m[1:, :-1]) & (m[:-1, :-1] == m[:-1, 1:]) & (m[:-1, :-1] == m[1:, 1:])
    score += 3 * int(block.sum())
    # N4: 10 per 5 % the dark share is away from 50 %.
    score += 10 * (abs(int(m.sum()) * 100 // m.size - 50) // 5)
    return score


@lru_cache(maxsize=64)
def qr_matrix(data: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code of ``data`` (error correction M), rows top to bottom; cached per process.

    reportlab's encoder, but its mask choice (eight full placements and a pure-Python penalty,
    ~20 ms) is done on arrays: the data modules of one placement are re-masked eight ways."""
    q = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    q.addData(data)
    q.version = q.calculate_version()
    q.makeImpl(True, 0)  # test placement (format bits blank), as reportlab evaluates masks
    base = np.array(q.modules, dtype=np.int8)
    cols, rows = np.array(q.dataPosIterator()).T
    bits = base[rows, cols] ^ qrencoder.QRUtil.getMask(0)(rows, cols)
    candidates = []
    for mask in range(8):
        candidate = base.copy()
        candidate[rows, cols] = bits ^ qrencoder.QRUtil.getMask(mask)(rows, cols)
        candidates.append((_penalty(candidate), mask, candidate))
    _, best, chosen = min(candidates, key=lambda t: t[:2])
    q.modules = chosen.astype(bool).tolist()
    q.setupTypeInfo(False, best)  # the real format (and version) bits of the chosen mask
    if q.version >= 7:
        q.setupTypeNumber(False)
    return tuple(tuple(row) for row in q.modules)

