"""Train the glyph CNN and export it as ``models/glyphs/glyphs.onnx`` (+ ``glyphs.json``).

    make train-glyphs                                   # creates .venv-train (torch, CPU) if missing
    .venv-train/bin/python scripts/train_glyphs.py      # the same, by hand
    .venv-train/bin/python scripts/train_glyphs.py --scale 0.1 --epochs 1 --out /tmp/glyphs  # a quick try

Data (all synthetic, seeded; ``scripts/glyph_cells.py`` draws the cells):

- training: cells cut from a real blank form and written by hand with MNIST split
  ``train`` (indices 0–499 of each digit) or by a handwriting font, or printed in the
  print fonts; scanned and cleaned by ``engine.clean_crop``; cut by ``glyphs.segment``
  (the recognizer's own segmentation) and labelled by matching the segmentation to the
  glyphs drawn. Pieces of wrong splits and joins (touching pairs, halves) are ``other``.
  Plus: letters (not C/D/Đ and not digit look-alikes), rule fragments, blobs, scribbles,
  MNIST halves and pairs as ``other``; C/Đ/D/đ/c from every font; names and words
  (Vietnamese) written in both kinds of fonts, cut by ``glyphs.style_chunks``, for the
  style head only.
- validation: the same generators with another seed and MNIST split ``validate``
  (indices 500–699): temperature fitting and the figures in ``glyphs.json``.

The network: 5 conv layers (32-64-64-128-128, BatchNorm, ReLU, 3 max-pools), a 128-unit
hidden layer, one output of the class logits followed by 2 style logits (hand, print).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import glyph_cells as gc  # noqa: E402

from pipelines.recognize import glyphs  # noqa: E402
from pipelines.synth import mnist  # noqa: E402

CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "/", "Đ", "C", "other")
CLS = {c: i for i, c in enumerate(CLASSES)}
ALIAS = {"D": "Đ", "đ": "Đ", "c": "C"}
STYLE = {"hand": 0, "print": 1}
VERSION = 1

# training cells per (type, style) at --scale 1
CELLS = {
    ("score", "hand"): 8000, ("score", "print"): 2000,
    ("comment", "hand"): 2500, ("comment", "print"): 800,
    ("integer", "hand"): 2000, ("integer", "print"): 600,
    ("date", "hand"): 1000, ("date", "print"): 300,
}
EXTRAS = {"digits": 30000, "letters": 3500, "cd": 3000, "fragments": 1500, "blobs": 1000, "halves": 1500,
          "pairs": 1500, "words": 2000}
KEEP_OTHER = 0.25
"""Share of the wrong alternatives (pieces of wrong splits and joins) of a cell kept as ``other``."""
VALIDATE_SHARE = 0.2
TASK = 250
"""Cells or extras per worker task."""

OTHER_LETTERS = "aehkmnrtuvwxyEFHKMNPRUVWXYăâêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_WORDS = (
    "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Văn Thị Minh Anh Hùng "
    "Dũng Hương Lan Ngọc Thảo Trang Quang Tuấn Khánh Việt Phương Thanh Hải Sơn Long Yến Nhung Mai "
    "Linh Đức Thắng Bảo Châu Duy Giang Hạnh Kiên Lộc Nam Nga Oanh Phúc Quỳnh Tâm Uyên Xuân Yên Học "
    "tập chăm chỉ ngoan ngoãn tiến bộ có ý thức tốt cần cố gắng hơn môn Toán Ngữ văn Lên lớp Giỏi Khá "
    "Trung bình Yếu Tốt Đạt Chưa đạt Học sinh tiên tiến Hạnh kiểm Nữ"
)
WORDS = tuple(_WORDS.split())


# --- labelled samples ---------------------------------------------------------------------

def _sample(mask: np.ndarray) -> np.ndarray:
    return np.round(glyphs.normalize(mask) * 255).astype(np.uint8)


def label_cell(cell: gc.SynthCell, rng: random.Random) -> tuple[list[tuple[np.ndarray, int, int]], bool]:
    """The cell's glyph blobs with their classes (by matching the segmentation to what was
    drawn) and the cell's style; False when no segmentation alternative matches.

    First pass: glyphs and separators must line up. Second: glyphs alone (a comma that
    touches a digit is part of that digit's blob: the digit's class)."""
    drawn = [c for c in cell.glyphs if c]
    lay = glyphs.segment(cell.ink)
    style = STYLE[cell.style]
    match = None
    for with_seps in (True, False):
        want = drawn if with_seps else [c for c in drawn if c not in ",."]
        kinds_want = ["S" if c in ",." else "G" for c in want]
        for hyp, _ in lay.hypotheses(limit=256):
            toks = glyphs.simplify(hyp)
            if not with_seps:
                toks = [b for b in toks if b.kind == "glyph"]
            if ["S" if b.kind in glyphs.SEPARATORS else "G" for b in toks] == kinds_want:
                match = (toks, want)
                break
        if match:
            break
    if match is None:
        return [], False
    toks, want = match
    out = [(_sample(b.mask), CLS[ALIAS.get(c, c)], style) for b, c in zip(toks, want, strict=True)
           if c not in ",."]
    used = {id(b) for b in toks}
    out += [(_sample(b.mask), CLS["other"], style) for b in lay.glyph_blobs()
            if id(b) not in used and not any(_same(b, u) for u in toks) and not _stroke_like(b.mask)
            and rng.random() < KEEP_OTHER]
    return out, True


def _stroke_like(mask: np.ndarray) -> bool:
    """A narrow, nearly straight piece: a 1 (or a /) whatever it was cut from, so never
    taught as ``other`` (it would teach the network to doubt every 1)."""
    h, w = mask.shape
    if w >= 0.45 * h or h < 4:
        return False
    ys, xs = np.nonzero(mask)
    a, b = np.polyfit(ys.astype(np.float64), xs.astype(np.float64), 1)
    return float(np.std(xs - (a * ys + b))) < 0.07 * h


def _same(a: glyphs.Blob, b: glyphs.Blob) -> bool:
    """Nearly the same ink (a split's piece that is the right glyph after all)."""
    ix = min(a.x1, b.x1) - max(a.x0, b.x0)
    iy = min(a.y1, b.y1) - max(a.y0, b.y0)
    if ix <= 0 or iy <= 0:
        return False
    inter = ix * iy
    return inter >= 0.85 * max(a.w * a.h, b.w * b.h)


def _mask_of(alpha: np.ndarray, rng: random.Random) -> np.ndarray:
    """Alpha → binary ink as a scan would give it (resampled, blurred, thresholded)."""
    a = cv2.copyMakeBorder(alpha, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=0)
    if rng.random() < 0.5:
        s = rng.uniform(0.66, 0.9)
        small = cv2.resize(a, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        a = cv2.resize(small, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
    a = cv2.GaussianBlur(a, (0, 0), rng.uniform(0.3, 1.0))
    return ((a > rng.uniform(0.3, 0.6)) * 255).astype(np.uint8)


def elastic(a: np.ndarray, rng: random.Random) -> np.ndarray:
    """An elastic distortion (Simard et al. 2003): a smoothed random displacement field."""
    h, w = a.shape
    a = cv2.copyMakeBorder(a, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=0)
    h, w = a.shape
    nrng = np.random.default_rng(rng.randrange(2**32))
    sigma = 0.14 * max(h, w)
    alpha = rng.uniform(0.8, 1.6) * sigma
    dx = cv2.GaussianBlur(nrng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha * 6
    dy = cv2.GaussianBlur(nrng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha * 6
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(a, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=0)


def _draw(kind: str, rng: random.Random) -> tuple[np.ndarray, int, int]:
    """One ``other`` or C/Đ sample: (mask, class, style or -1)."""
    h = rng.randint(24, 62)
    if kind == "digits":  # a real digit alone, as segmentation hands it over
        d = rng.randrange(10)
        a = gc.mnist_glyph(_pool(d)[rng.randrange(len(_pool(d)))], h, rng)
        if rng.random() < 0.6:
            a = elastic(a, rng)
        m = _mask_of(a, rng)
        if rng.random() < 0.12:  # a removed table rule cut through it
            y = rng.randrange(m.shape[0])
            m[y:y + rng.randint(2, 5)] = 0
        return m, d, STYLE["hand"]
    if kind in ("letters", "cd"):
        hand = rng.random() < 0.55
        font = rng.choice(gc.hand_fonts() if hand else gc.print_fonts())
        if kind == "letters":
            ch, cls = rng.choice(OTHER_LETTERS), CLS["other"]
        else:
            ch = rng.choice("ĐĐĐĐCCCDđc")
            cls = CLS[ALIAS.get(ch, ch)]
        if hand and kind == "cd" and ch in "ĐDC" and rng.random() < 0.4:
            a = gc.pen_glyph(ch, h, rng)
        else:
            a = gc.font_glyph(ch, font, h, rng, ref="0", wobble=1.0 if hand else 0.0)
            a = gc.stroke_width(a, rng, h) if hand else a
        return _mask_of(a, rng), cls, STYLE["hand" if hand else "print"]
    if kind == "fragments":  # what table rules, dotted lines and their crossings leave behind
        w, t = rng.randint(h // 2, 3 * h), rng.randint(2, max(3, h // 10))
        m = np.zeros((h + 8, w + 8), np.uint8)
        r = rng.random()
        if r < 0.4:
            cv2.line(m, (4, 4 + rng.randint(0, h // 3)), (4 + w, 4 + rng.randint(0, h // 3)), 255, t)
        elif r < 0.6:
            cv2.line(m, (4 + w // 2, 4), (4 + w // 2, 4 + h), 255, t)
            cv2.line(m, (4, 4 + rng.randint(0, h)), (4 + w, 4 + rng.randint(0, h)), 255, t)
        elif r < 0.8:
            for x in range(4, w, rng.randint(6, 14)):
                cv2.circle(m, (x, 4 + h // 2), rng.randint(1, 3), 255, -1)
        else:
            cv2.line(m, (4, 4), (4, 4 + h), 255, t)
            cv2.line(m, (4, 4 + h), (4 + w, 4 + h), 255, t)
        return m, CLS["other"], -1
    if kind == "blobs":
        m = np.zeros((h + 8, int(h * rng.uniform(0.5, 2.0)) + 8), np.uint8)
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 4)):
                cv2.ellipse(m, (rng.randint(4, m.shape[1] - 4), rng.randint(4, m.shape[0] - 4)),
                            (rng.randint(2, h // 2), rng.randint(2, h // 2)), rng.uniform(0, 180), 0, 360,
                            255, -1)
        else:
            pts = np.array([[rng.randint(4, m.shape[1] - 4), rng.randint(4, m.shape[0] - 4)]
                            for _ in range(rng.randint(4, 10))], np.int32)
            cv2.polylines(m, [pts], False, 255, rng.randint(2, 5))
        return m, CLS["other"], -1
    if kind == "halves":
        d = rng.randrange(10)
        a = gc.mnist_glyph(_pool(d)[rng.randrange(len(_pool(d)))], h, rng)
        if a.shape[1] < 6:
            return _draw("blobs", rng)
        c = int(a.shape[1] * rng.uniform(0.35, 0.65))
        a = a[:, :c] if rng.random() < 0.5 else a[:, c:]
        m = _mask_of(a, rng)
        ys, xs = np.nonzero(m)
        if len(xs) == 0 or _stroke_like(m[ys.min():ys.max() + 1, xs.min():xs.max() + 1]):
            return _draw("blobs", rng)
        return m, CLS["other"], STYLE["hand"]
    if kind == "pairs":
        a = gc.mnist_glyph(_pool(rng.randrange(10))[rng.randrange(200)], h, rng)
        b = gc.mnist_glyph(_pool(rng.randrange(10))[rng.randrange(200)], h, rng)
        ov = int(min(a.shape[1], b.shape[1]) * rng.uniform(0.0, 0.3))
        H = max(a.shape[0], b.shape[0])
        W = a.shape[1] + b.shape[1] - ov
        c = np.zeros((H, W), np.float32)
        c[H - a.shape[0]:, :a.shape[1]] = a
        c[H - b.shape[0]:, W - b.shape[1]:] = np.maximum(c[H - b.shape[0]:, W - b.shape[1]:], b)
        return _mask_of(c, rng), CLS["other"], STYLE["hand"]
    raise ValueError(kind)


_split = "train"


def _pool(d: int) -> np.ndarray:
    return mnist.digits(d, _split)  # type: ignore[arg-type]


def _words(rng: random.Random) -> list[tuple[np.ndarray, int, int]]:
    """A name or a few words, in a hand or a print font, cut as ``style_chunks`` cuts a cell."""
    hand = rng.random() < 0.5
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
    h = rng.randint(22, 48)
    if hand:
        font = rng.choice(gc.hand_fonts())
        pieces = [gc.font_glyph(ch, font, h, rng, wobble=1.0) if ch != " " else None for ch in text]
        W = sum(p.shape[1] + 2 if p is not None else h // 2 for p in pieces) + 8
        canvas = np.zeros((int(h * 2.2) + 8, W), np.float32)
        x = 4
        for p in pieces:
            if p is None:
                x += h // 2
                continue
            y = max(0, min(canvas.shape[0] - p.shape[0], int(h * 1.5 - p.shape[0] + rng.gauss(0, 2))))
            sub = canvas[y:y + p.shape[0], x:x + p.shape[1]]
            canvas[y:y + p.shape[0], x:x + p.shape[1]] = np.maximum(sub, p[:sub.shape[0], :sub.shape[1]])
            x += p.shape[1] + rng.randint(-2, 3)
        alpha = canvas
    else:
        font = rng.choice(gc.print_fonts())
        alpha = gc.font_glyph(text, font, h, rng)
    mask = _mask_of(alpha, rng)
    return [(_sample(m), -1, STYLE["hand" if hand else "print"]) for m in glyphs.style_chunks(mask)]


# --- generation tasks (run in worker processes) -------------------------------------------------

def _task(args: tuple) -> tuple[list, Counter]:
    kind, key, split, n, seed = args
    global _split
    _split = split
    cv2.setNumThreads(1)
    rng = random.Random(seed)
    out: list[tuple[np.ndarray, int, int]] = []
    stats: Counter = Counter()
    if kind == "cells":
        ftype, style = key
        for _ in range(n):
            cell = gc.render_cell(ftype, split, rng, style=style)
            samples, ok = label_cell(cell, rng)
            stats[(ftype, style, ok)] += 1
            out += samples
    elif key == "words":
        for _ in range(n):
            out += _words(rng)
    else:
        for _ in range(n):
            m, c, s = _draw(key, rng)
            out.append((_sample(m), c, s))
    return out, stats


def generate(split: str, scale: float, seed: int, workers: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Counter]:
    tasks = []
    for key, n in CELLS.items():
        tasks += _split_tasks("cells", key, split, max(1, round(n * scale)), seed)
    for key, n in EXTRAS.items():
        tasks += _split_tasks("extra", key, split, max(1, round(n * scale)), seed)
    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.map(_task, tasks, chunksize=1)
    else:
        results = [_task(t) for t in tasks]
    xs, ys, ss = [], [], []
    stats: Counter = Counter()
    for samples, st in results:
        stats.update(st)
        for x, y, s in samples:
            xs.append(x)
            ys.append(y)
            ss.append(s)
    return np.stack(xs), np.array(ys, np.int64), np.array(ss, np.int64), stats


def _split_tasks(kind: str, key, split: str, n: int, seed: int) -> list[tuple]:
    out = []
    for i, start in enumerate(range(0, n, TASK)):
        out.append((kind, key, split, min(TASK, n - start), f"{seed}:{split}:{kind}:{key}:{i}"))
    return out


# --- the network -------------------------------------------------------------------------------

WIDTH = (32, 64, 128)
"""Channels of the three stages."""


def build_net(width: tuple[int, int, int] = WIDTH):
    import torch.nn as nn

    a, b, c = width

    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True))

    return nn.Sequential(
        block(1, a), nn.MaxPool2d(2),
        block(a, b), block(b, b), nn.MaxPool2d(2),
        block(b, c), block(c, c), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(c * 4 * 4, 128), nn.ReLU(inplace=True),
        nn.Linear(128, len(CLASSES) + 2),
    )


def train(x: np.ndarray, y: np.ndarray, s: np.ndarray, epochs: int, seed: int, log) -> object:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    # channels-last and bfloat16 autocast: ~2x faster on a CPU with AVX-512 BF16, the
    # weights stay float32 (the exported model is float32)
    net = build_net().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    bs = 256
    steps = epochs * math.ceil(len(x) / bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    gen = np.random.default_rng(seed)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y)
    st = torch.from_numpy(s)
    k = len(CLASSES)
    for ep in range(epochs):
        net.train()
        perm = torch.from_numpy(gen.permutation(len(x)))
        t0, tot, n = time.time(), 0.0, 0
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            xb = xt[idx].float().div_(255).unsqueeze(1)
            # a pixel of jitter: the normalization centres by the box, a stray pixel moves it
            if gen.random() < 0.5:
                xb = torch.roll(xb, shifts=(int(gen.integers(-1, 2)), int(gen.integers(-1, 2))), dims=(2, 3))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = net(xb.contiguous(memory_format=torch.channels_last)).float()
            loss = F.cross_entropy(out[:, :k], yt[idx], ignore_index=-1)
            if (st[idx] >= 0).any():
                loss = loss + 0.5 * F.cross_entropy(out[:, k:], st[idx], ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            n += len(idx)
        log(f"epoch {ep + 1}/{epochs}: loss {tot / n:.4f} ({time.time() - t0:.0f} s)")
    net.eval()
    return net.to(memory_format=torch.contiguous_format)


def logits_of(net, x: np.ndarray) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), 1024):
            out.append(net(torch.from_numpy(x[i:i + 1024]).float().div_(255).unsqueeze(1)).numpy())
    return np.concatenate(out)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """The T minimizing the negative log-likelihood of softmax(z / T) (a grid, then refined)."""
    def nll(t: float) -> float:
        p = _softmax(z / t)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))
    grid = np.arange(0.3, 5.0, 0.05)
    best = min(grid, key=nll)
    fine = np.arange(max(0.05, best - 0.05), best + 0.05, 0.005)
    return round(float(min(fine, key=nll)), 3)


def evaluate(z: np.ndarray, y: np.ndarray, s: np.ndarray, t: float, ts: float) -> dict:
    k = len(CLASSES)
    out: dict = {}
    m = y >= 0
    p = _softmax(z[m, :k] / t)
    pred = p.argmax(1)
    yy = y[m]
    out["glyphs"] = int(m.sum())
    out["accuracy"] = round(float((pred == yy).mean()), 4)
    out["nll"] = round(float(-np.mean(np.log(np.clip(p[np.arange(len(yy)), yy], 1e-12, 1)))), 4)
    out["ece"] = gc.ece(p.max(1), pred == yy)
    out["per_class"] = {CLASSES[c]: {"n": int((yy == c).sum()),
                                     "recall": round(float((pred[yy == c] == c).mean()), 4)}
                        for c in range(k) if (yy == c).any()}
    conf = Counter((CLASSES[a], CLASSES[b]) for a, b in zip(yy, pred, strict=True) if a != b)
    out["top_confusions"] = [f"{a}->{b}: {n}" for (a, b), n in conf.most_common(10)]
    ms = s >= 0
    lo = (z[ms, k] - z[ms, k + 1]) / ts
    ph = 1 / (1 + np.exp(-lo))
    pred_s = np.where(ph >= 0.5, 0, 1)
    out["style"] = {
        "glyphs": int(ms.sum()),
        "accuracy": round(float((pred_s == s[ms]).mean()), 4),
        "hand_recall": round(float((pred_s[s[ms] == 0] == 0).mean()), 4),
        "print_recall": round(float((pred_s[s[ms] == 1] == 1).mean()), 4),
        "ece": gc.ece(np.maximum(ph, 1 - ph), pred_s == s[ms]),
    }
    return out


# --- export ------------------------------------------------------------------------------------

def export(net, out_dir: Path, x_check: np.ndarray, log) -> tuple[str, float]:
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "glyphs.onnx"
    dummy = torch.zeros(1, 1, glyphs.SIZE, glyphs.SIZE)
    torch.onnx.export(net, (dummy,), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13, dynamo=False)
    ref = logits_of(net, x_check)
    cvnet = cv2.dnn.readNetFromONNX(str(path))
    cvnet.setInput(x_check.astype(np.float32)[:, None] / 255)
    got = cvnet.forward().reshape(len(x_check), -1)
    diff = float(np.abs(got - ref).max())
    log(f"cv2.dnn vs torch on {len(x_check)} glyphs: max |Δlogit| = {diff:.2e}")
    if diff > 1e-3:
        raise SystemExit(f"cv2.dnn disagrees with torch ({diff})")
    return hashlib.sha256(path.read_bytes()).hexdigest(), diff


CALIBRATION_CELLS = {("score", "hand"): 400, ("score", "print"): 150, ("comment", "hand"): 200,
                     ("comment", "print"): 80, ("integer", "hand"): 150, ("integer", "print"): 60,
                     ("date", "hand"): 100, ("date", "print"): 40}
"""Validation cells (MNIST ``validate``, seeded apart from the evaluation's) that the cell-level
map is fitted on."""


def fit_platt(p: np.ndarray, ok: np.ndarray) -> tuple[float, float] | None:
    """(a, b) minimizing the log loss of σ(a·logit p + b) against ``ok``, on a grid (a in
    [0.25, 3], b in [-4, 4]) with a weak pull towards the identity (1, 0). None when the
    cells hold fewer than 5 errors or 5 successes: nothing to fit, leave p as decoded."""
    if ok.sum() < 5 or (~ok).sum() < 5:
        return None
    x = np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1))
    y = ok.astype(np.float64)
    best = (math.inf, 1.0, 0.0)
    for a in np.arange(0.25, 3.0001, 0.05):
        for b in np.arange(-4, 4.0001, 0.05):
            q = np.clip(1 / (1 + np.exp(-np.clip(a * x + b, -40, 40))), 1e-9, 1 - 1e-9)
            loss = -np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)) + 0.5 * ((a - 1) ** 2 + b * b)
            if loss < best[0]:
                best = (loss, float(a), float(b))
    return round(best[1], 3), round(best[2], 3)


def fit_cell_calibration(model_dir: Path, scale: float, seed: int, log) -> dict[str, list[float]]:
    """Per field type, the cell-level Platt map of the top candidate's probability."""
    from pipelines.recognize import glyph_model
    from pipelines.recognize.base import Cell
    from pipelines.recognize.cells import GlyphRecognizer

    glyph_model.clear_cache()
    rec = GlyphRecognizer(model_dir)
    out: dict[str, list[float]] = {}
    for ftype in gc.TYPES:
        ps, oks = [], []
        for (t, style), n in CALIBRATION_CELLS.items():
            if t != ftype:
                continue
            rng = random.Random(f"{seed}:calibration:{t}:{style}")
            count = max(10, round(n * min(1, scale * 2)))
            cells = [gc.render_cell(t, "validate", rng, style=style) for _ in range(count)]
            for c, r in zip(cells, rec.read([Cell(c.gray, c.ink, c.dpi) for c in cells], t), strict=True):
                ps.append(r.confidence)
                oks.append(bool(r.candidates) and gc.fold(r.text) == gc.fold(c.text))
        p, ok = np.array(ps), np.array(oks)
        fit = fit_platt(p, ok)
        if fit is None:
            log(f"calibration {ftype}: {len(p)} cells, exact {ok.mean():.4f}, mean p {p.mean():.4f}: "
                "too few errors (or successes) to fit; left as decoded")
            continue
        a, b = fit
        out[ftype] = [a, b]
        z = np.clip(a * np.log(np.clip(p, 1e-9, 1 - 1e-9) / np.clip(1 - p, 1e-9, 1)) + b, -40, 40)
        q = 1 / (1 + np.exp(-z))
        log(f"calibration {ftype}: {len(p)} cells, exact {ok.mean():.4f}, mean p {p.mean():.4f} → "
            f"{q.mean():.4f}; ece {gc.ece(p, ok)} → {gc.ece(q, ok)}; a={a}, b={b}")
    glyph_model.clear_cache()
    return out


def _match_rates(stats: Counter) -> dict[str, float]:
    """Per (type, style): the share of cells whose segmentation matched the glyphs drawn."""
    out = {}
    for t, st in CELLS:
        ok, bad = stats[(t, st, True)], stats[(t, st, False)]
        out[f"{t}/{st}"] = round(ok / max(1, ok + bad), 4)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "glyphs")
    ap.add_argument("--scale", type=float, default=1.0, help="share of the full data (quick tries: 0.1)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--cache", type=Path, default=None, help="keep generated data in this .npz (iterating)")
    ap.add_argument("--calibrate-only", action="store_true",
                    help="refit the cell-level calibration of the model in --out, nothing else")
    args = ap.parse_args(argv)
    t_start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:6.0f} s] {msg}", flush=True)

    if args.calibrate_only:
        meta_path = args.out / "glyphs.json"
        meta = json.loads(meta_path.read_text())
        meta.pop("calibration", None)
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
        meta["calibration"] = fit_cell_calibration(args.out, args.scale, args.seed, log)
        meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
        return

    random.seed(args.seed)
    np.random.seed(args.seed % 2**32)
    if args.cache is not None and args.cache.exists():
        z = np.load(args.cache)
        x, y, s, xv, yv, sv = (z[k] for k in ("x", "y", "s", "xv", "yv", "sv"))
        stats, vstats = Counter(), Counter()
        log(f"data from {args.cache}")
    else:
        x, y, s, stats = generate("train", args.scale, args.seed, args.workers)
        counts = dict(sorted(Counter(CLASSES[c] if c >= 0 else "-" for c in y).items()))
        log(f"train: {len(x)} glyphs; classes {counts}")
        xv, yv, sv, vstats = generate("validate", args.scale * VALIDATE_SHARE, args.seed + 1, args.workers)
        log(f"validate: {len(xv)} glyphs")
        if args.cache is not None:
            np.savez(args.cache, x=x, y=y, s=s, xv=xv, yv=yv, sv=sv)
    seg, vseg = _match_rates(stats), _match_rates(vstats)
    log(f"segmentation matches the drawn glyphs (train cells): {seg}")

    import torch

    torch.set_num_threads(args.threads)
    t_train = time.time()
    net = train(x, y, s, args.epochs, args.seed, log)
    train_s = time.time() - t_train
    zv = logits_of(net, xv)
    k = len(CLASSES)
    mv = yv >= 0
    t = fit_temperature(zv[mv, :k], yv[mv])
    ms = sv >= 0
    zs = np.stack([zv[ms, k] - zv[ms, k + 1], np.zeros(ms.sum())], 1)
    ts = fit_temperature(zs, 1 - (sv[ms] == 0).astype(np.int64))
    figures = evaluate(zv, yv, sv, t, ts)
    figures_t1 = evaluate(zv, yv, sv, 1.0, 1.0)
    log(f"temperature {t} (style {ts}); validate: accuracy {figures['accuracy']}, nll {figures['nll']} "
        f"(T=1: {figures_t1['nll']}), ece {figures['ece']} (T=1: {figures_t1['ece']}); "
        f"style accuracy {figures['style']['accuracy']}")
    log(json.dumps(figures, ensure_ascii=False))
    sha, diff = export(net, args.out, xv[:256], log)
    meta = {
        "version": VERSION,
        "file": "glyphs.onnx",
        "sha256": sha,
        "classes": list(CLASSES),
        "styles": ["hand", "print"],
        "output": "logits: classes then styles (hand, print)",
        "input_size": glyphs.SIZE,
        "fit": glyphs.FIT,
        "input": "float32 (n, 1, 32, 32), ink 1, pipelines.recognize.glyphs.normalize",
        "temperature": t,
        "style_temperature": ts,
        "training": {
            "command": "make train-glyphs  (= .venv-train/bin/python scripts/train_glyphs.py "
                       + " ".join(argv if argv is not None else sys.argv[1:]) + ")",
            "seed": args.seed, "scale": args.scale, "epochs": args.epochs,
            "mnist": {"train": "indices 0-499 of each digit", "validate": "indices 500-699 of each digit"},
            "train_glyphs": len(x), "validate_glyphs": len(xv),
            "cells": {f"{a}/{b}": round(n * args.scale) for (a, b), n in CELLS.items()},
            "extras": {key: round(n * args.scale) for key, n in EXTRAS.items()},
            "segmentation_match_train": seg, "segmentation_match_validate": vseg,
            "train_seconds": round(train_s), "total_seconds": round(time.time() - t_start),
            "torch": torch.__version__, "threads": args.threads,
            "fonts_print": sorted({p.name for p, _ in gc.print_fonts()}),
            "fonts_hand": sorted({p.name for p, _ in gc.hand_fonts()}),
        },
        "validation": figures,
        "cv2_max_abs_logit_diff": diff,
    }
    (args.out / "glyphs.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
    meta["calibration"] = fit_cell_calibration(args.out, args.scale, args.seed, log)
    meta["training"]["total_seconds"] = round(time.time() - t_start)
    (args.out / "glyphs.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n")
    log(f"wrote {args.out / 'glyphs.onnx'} ({(args.out / 'glyphs.onnx').stat().st_size / 1024:.0f} KiB, "
        f"sha256 {sha[:12]}) and glyphs.json")


if __name__ == "__main__":
    main()
