"""Per-cell accuracy of the glyph recognizer on synthetic cells (MNIST split ``validate``).

    .venv/bin/python scripts/eval_glyph_cells.py [--n 400] [--model-dir models/glyphs] [--json out.json]

Cells come from ``scripts/glyph_cells.py`` (a real form's cell, MNIST ``validate`` digits
or a handwriting font by hand, Noto/DejaVu print, scanned and cleaned by ``clean_crop``),
seeded apart from training. Reports, per field type and style: exact reading (top
candidate equals the value written; ``8.5`` counts as ``8,5``, as the normalizer folds it),
top-3, mean confidence, expected calibration error, the share read with p ≥ 0.9 and its
accuracy; the slips (dot for comma, faint comma, crowded digits) on their own; a print
font never trained on (STIXGeneral, Times-like); style accuracy of ``detect_style``;
and milliseconds per cell.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import glyph_cells as gc  # noqa: E402

from pipelines.ocr.engine import MIN_INK_PX_MM2  # noqa: E402
from pipelines.recognize.base import Cell  # noqa: E402
from pipelines.recognize.cells import GlyphRecognizer, detect_style  # noqa: E402


def summarize(rows: list[tuple[str, list, bool]]) -> dict:
    """rows: (truth, candidates, inked)."""
    n = len(rows)
    top = np.array([gc.fold(c[0].text) == gc.fold(t) if c else False for t, c, _ in rows])
    top3 = np.array([any(gc.fold(x.text) == gc.fold(t) for x in c[:3]) for t, c, _ in rows])
    conf = np.array([c[0].p if c else 0.0 for _, c, _ in rows])
    hi = conf >= 0.9
    return {
        "n": n,
        "exact": round(float(top.mean()), 4),
        "top3": round(float(top3.mean()), 4),
        "mean_p": round(float(conf.mean()), 4),
        "ece": gc.ece(conf, top),
        "p>=0.9_share": round(float(hi.mean()), 4),
        "p>=0.9_exact": round(float(top[hi].mean()), 4) if hi.any() else None,
        "empty": int(sum(1 for _, c, _ in rows if not c)),
        "no_ink": int(sum(1 for _, _, inked in rows if not inked)),
    }


def run(ftype: str, style: str, n: int, seed: str, rec: GlyphRecognizer, **kw) -> tuple[list, float, list]:
    rng = random.Random(seed)
    cells = [gc.render_cell(ftype, "validate", rng, style=style, **kw) for _ in range(n)]
    min_ink = MIN_INK_PX_MM2 * (gc.DPI / 25.4) ** 2
    inked = [int(np.count_nonzero(c.ink)) >= min_ink for c in cells]
    batch = [Cell(c.gray, c.ink, c.dpi) for c, ok in zip(cells, inked, strict=True) if ok]
    t0 = time.perf_counter()
    readings = iter(rec.read(batch, ftype))
    dt = time.perf_counter() - t0
    rows = [(c.text, list(next(readings).candidates) if ok else [], ok)
            for c, ok in zip(cells, inked, strict=True)]
    return rows, dt / max(1, len(batch)) * 1000, [(c, ok) for c, ok in zip(cells, inked, strict=True)]


def _page_value(ftype: str, rng: random.Random) -> str:
    """A value as the corpus generator writes it (scores always with one decimal)."""
    if ftype == "score":
        return f"{min(10.0, max(0.5, round(rng.gauss(rng.uniform(5.5, 8.5), 1.2), 1))):.1f}".replace(".", ",")
    if ftype == "comment":
        return "CĐ" if rng.random() < 0.1 else "Đ"
    if ftype == "integer":
        return "0" if rng.random() < 0.35 else str(min(30, int(rng.expovariate(1 / 3)) + 1))
    return f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2005, 2025)}"


def pages_eval(style: str, n_pages: int, seed: str, rec: GlyphRecognizer) -> dict:
    """Cells of whole year pages drawn by the corpus renderer (``pipelines.synth.render``,
    MNIST ``validate`` digits for most hand writers, its slips), with photometric scan
    effects (blur, noise, JPEG; no geometry, so no alignment is needed), cut and cleaned as
    OCR does. An independent check of the training renderer's figures."""
    from pipelines.contracts import template
    from pipelines.forms.draw import mm_to_px
    from pipelines.ocr._image import form_mask
    from pipelines.ocr.engine import MARGIN_MM, _crop_box, clean_crop
    from pipelines.synth.hand_digits import slips_for
    from pipelines.synth.render import PageSpec, random_hand, render_page

    tpl = template(gc.TEMPLATE)
    form = form_mask(tpl, gc.DPI)
    min_ink = MIN_INK_PX_MM2 * (gc.DPI / 25.4) ** 2
    rows: dict[str, list] = defaultdict(list)
    slipped: list = []
    for k in range(n_pages):
        rng = random.Random(f"{seed}:{style}:{k}")
        specs = [s for s in tpl.field_specs() if s.type in gc.TYPES]
        values = {s.field_id: _page_value(s.type, rng) for s in specs}
        hand = random_hand(rng) if style == "hand" else None
        spec = PageSpec(gc.TEMPLATE, gc.DPI, ("glyph-eval", style, k), values=values,
                        styles={f: "handwritten" if style == "hand" else "print" for f in values},
                        print_family=rng.choice(("serif", "sans")), hand=hand, stamp=False,
                        signatures=False, photo=False)
        slips = slips_for(spec)
        page = np.asarray(render_page(spec).convert("L"), dtype=np.float32)
        page = gc._scan(page, rng, None)
        by_type: dict[str, list] = defaultdict(list)
        for s in specs:
            x, y, w, h = _crop_box(s, gc.DPI, page.shape)
            crop = page[y:y + h, x:x + w]
            ink = clean_crop(crop, gc.DPI, mm_to_px(MARGIN_MM, gc.DPI), form[y:y + h, x:x + w])
            by_type[s.type].append((s.field_id, Cell(crop, ink, gc.DPI), np.count_nonzero(ink) >= min_ink))
        for ftype, items in by_type.items():
            inked = [c for _, c, ok in items if ok]
            got = iter(rec.read(inked, ftype))
            for fid, _, ok in items:
                cands = list(next(got).candidates) if ok else []
                rows[ftype].append((values[fid], cands, ok))
                if fid in slips:
                    slipped.append((values[fid], cands, ok))
    out = {ftype: summarize(r) for ftype, r in rows.items()}
    if slipped:
        out["slipped_score_cells"] = summarize(slipped)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400, help="cells per (type, style)")
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seed", default="eval-1")
    ap.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads for the run")
    ap.add_argument("--failures", type=Path, default=None, help="write misread hand score cells here (png)")
    ap.add_argument("--pages", type=int, default=12, help="corpus-renderer pages per style (0: none)")
    ap.add_argument("--only-pages", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    rec = GlyphRecognizer(args.model_dir)
    report: dict = {"cells": {}, "slips": {}, "held_out_print_font": {}, "style": {}, "ms_per_cell": {},
                    "corpus_pages": {}}
    for style in ("hand", "print") if args.pages else ():
        report["corpus_pages"][style] = pages_eval(style, args.pages, args.seed, rec)
        for k, v in report["corpus_pages"][style].items():
            print("pages", style, k, v, flush=True)
    if args.only_pages:
        return
    style_rows: dict[str, list] = defaultdict(list)
    failures = []
    for ftype in gc.TYPES:
        for style in ("hand", "print"):
            n = args.n if ftype in ("score", "comment") else max(50, args.n // 2)
            rows, ms, cells = run(ftype, style, n, f"{args.seed}:{ftype}:{style}", rec)
            report["cells"][f"{ftype}/{style}"] = summarize(rows)
            report["ms_per_cell"][f"{ftype}/{style}"] = round(ms, 2)
            style_rows[style] += [c for c, ok in cells if ok]
            if ftype == "score" and style == "hand":
                failures = [(c, r) for (c, _), r in zip(cells, rows, strict=True)
                            if not (r[1] and gc.fold(r[1][0].text) == gc.fold(c.text))]
            print(ftype, style, report["cells"][f"{ftype}/{style}"], f"{ms:.2f} ms/cell", flush=True)
    slips = {
        "dot_for_comma": {"separator": "."},
        "no_comma": {"omit_comma": 1.0},
        "crowded": {"tight": 1.0},
        "crosses_rule": {"crosses_rule": 1.0},
        "font_digits": {"font_digits": 1.0},
    }
    for name, kw in slips.items():
        rng_texts = random.Random(f"{args.seed}:{name}:texts")
        texts = [f"{rng_texts.randint(0, 9)},{rng_texts.randint(0, 9)}" for _ in range(args.n // 2)]
        rows_all = []
        for i, t in enumerate(texts):
            rows, _, _ = run("score", "hand", 1, f"{args.seed}:{name}:{i}", rec, text=t, **kw)
            rows_all += rows
        report["slips"][name] = summarize(rows_all)
        print("slip", name, report["slips"][name], flush=True)
    held = gc.print_fonts(held_out=True)
    if held:
        for ftype in gc.TYPES:
            rows, _, _ = run(ftype, "print", max(50, args.n // 2), f"{args.seed}:held:{ftype}", rec,
                             fonts_print=held)
            report["held_out_print_font"][ftype] = summarize(rows)
            print("held-out font", ftype, report["held_out_print_font"][ftype], flush=True)
    rng_names = random.Random(f"{args.seed}:names")
    for style in ("hand", "print"):
        names = (gc.render_name_cell(rng_names, style) for _ in range(args.n // 2))
        style_rows[f"name/{style}"] = [c for c in names if np.count_nonzero(c.ink)]
    for key, cells in style_rows.items():
        style = key.split("/")[-1]
        batch = [Cell(c.gray, c.ink, c.dpi) for c in cells]
        t0 = time.perf_counter()
        guesses = detect_style(batch, args.model_dir)
        ms = (time.perf_counter() - t0) / max(1, len(batch)) * 1000
        ok = np.array([g.style == style for g in guesses])
        conf = np.array([g.confidence for g in guesses])
        report["style"][key] = {"n": len(batch), "accuracy": round(float(ok.mean()), 4),
                                  "mean_confidence": round(float(conf.mean()), 4),
                                  "ece": gc.ece(conf, ok), "ms_per_cell": round(ms, 2)}
        print("style", key, report["style"][key], flush=True)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    if args.failures and failures:
        tiles = []
        for c, r in failures[:40]:
            tile = np.vstack([c.gray, c.ink])
            got = r[1][0].text if r[1] else "-"
            p = r[1][0].p if r[1] else 0.0
            cv2.putText(tile, f"{c.text}>{got} {p:.2f}", (2, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 128, 1)
            tiles.append(tile)
        w = max(t.shape[1] for t in tiles)
        img = np.vstack([cv2.copyMakeBorder(t, 0, 3, 0, w - t.shape[1], cv2.BORDER_CONSTANT, value=90)
                         for t in tiles])
        cv2.imwrite(str(args.failures), img)


if __name__ == "__main__":
    main()
