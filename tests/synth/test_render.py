"""Forms, rendering and scanner effects: values land in their boxes and stay legible."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

from pipelines.contracts import template, templates
from pipelines.forms.draw import mm_to_px, page_size_px, render_blank
from pipelines.synth.degrade import degrade
from pipelines.synth.render import PageSpec, field_styles, random_hand, render_page
from pipelines.synth.truth import build_district


@pytest.fixture(scope="module")
def year_page():
    d = build_district(seed=5, schools=1, students=2)
    book = d.books[0]
    page = book.pages[1]
    return page, d.schools[0].name


def spec_for(page, stamp_text: str, handwritten: bool, dpi: int = 300) -> PageSpec:
    rng = random.Random(0)
    tpl = template(page.template_id)
    return PageSpec(page.template_id, dpi, (1, 2, page.book_page_no), dict(page.values),
                    field_styles(tpl, handwritten, rng), "serif", random_hand(rng),
                    stamp_text=stamp_text)


def test_mm_to_px():
    assert mm_to_px(25.4, 300) == 300
    assert mm_to_px(210, 200) == 1654


@pytest.mark.parametrize("tid", sorted(templates()))
def test_blank_forms(tid):
    tpl = template(tid)
    a = render_blank(tpl, 150)
    assert a.mode == "L" and a.size == page_size_px(tpl, 150)
    assert a.tobytes() == render_blank(tpl, 150).tobytes()
    ink = (np.asarray(a) < 128).mean()
    assert 0.005 < ink < 0.2


@pytest.mark.parametrize("handwritten", [False, True])
def test_values_land_in_their_boxes(year_page, handwritten):
    page, school = year_page
    dpi = 150
    spec = spec_for(page, school, handwritten, dpi)
    spec = replace(spec, stamp=False, signatures=False)
    filled = np.asarray(render_page(spec).convert("L")).astype(int)
    empty = np.asarray(render_page(replace(spec, values={})).convert("L"))
    ink = np.abs(filled - empty.astype(int)) > 60
    inside = np.zeros_like(ink)
    for fs in template(page.template_id).field_specs():
        x, y, w, h = (mm_to_px(v, dpi) for v in fs.box)
        m = mm_to_px(2.5, dpi)  # handwriting may touch the rules
        region = ink[y - m:y + h + m, x - m:x + w + m]
        if page.values.get(fs.field_id):
            assert region.sum() > 0, fs.field_id
        inside[y - m:y + h + m, x - m:x + w + m] = True
    assert ink.sum() > 1000
    assert (ink & ~inside).sum() / ink.sum() < 0.01


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_clean_printed_page_is_legible(year_page, tmp_path):
    page, school = year_page
    dpi = 300
    img = np.asarray(render_page(spec_for(page, school, handwritten=False, dpi=dpi)))
    scanned, _ = degrade(img, "clean", np.random.default_rng(0), dpi, lossy_container=False)
    tpl = template(page.template_id)
    cells = [f for f in tpl.field_specs() if f.type == "score" and page.values.get(f.field_id)]
    picked = cells[:: max(1, len(cells) // 8)][:8]
    grey = cv2.cvtColor(scanned, cv2.COLOR_RGB2GRAY)
    right = 0
    for fs in picked:
        x, y, w, h = fs.box
        inset = 0.6  # keep the table rules out of the crop
        x0, y0, x1, y1 = (mm_to_px(v, dpi) for v in (x + inset, y + inset, x + w - inset,
                                                     y + h - inset))
        # The cleaning DESIGN.md prescribes: light blur, Otsu, a white margin.
        _, clean = cv2.threshold(cv2.GaussianBlur(grey[y0:y1, x0:x1], (3, 3), 0), 0, 255,
                                 cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        clean = cv2.copyMakeBorder(clean, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
        path = tmp_path / f"{fs.field_id}.png"
        Image.fromarray(clean).save(path, dpi=(dpi, dpi))
        r = subprocess.run(
            ["tesseract", str(path), "stdout", "--psm", "7", "-l", "eng",
             "-c", "tessedit_char_whitelist=0123456789,"],
            capture_output=True, text=True, timeout=60, env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )
        right += r.stdout.strip() == page.values[fs.field_id]
    assert right >= 7, f"{right}/{len(picked)} score cells read back"


@pytest.mark.parametrize("difficulty", ["clean", "typical", "hard"])
def test_degrade_keeps_size_and_is_seeded(difficulty):
    page = np.full((700, 500, 3), 245, np.uint8)
    page[100:110, 50:450] = 20
    a, ea = degrade(page, difficulty, np.random.default_rng(3), 60, lossy_container=False)
    b, eb = degrade(page, difficulty, np.random.default_rng(3), 60, lossy_container=False)
    assert a.shape == page.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and ea == eb
    limit = {"clean": 0.3, "typical": 1.5, "hard": 3.0}[difficulty]
    assert abs(ea.skew_deg) <= limit
    grey, _ = degrade(page[..., 0], difficulty, np.random.default_rng(3), 60, lossy_container=True)
    assert grey.ndim == 2
    with pytest.raises(ValueError):
        degrade(page, "awful", np.random.default_rng(0), 60, lossy_container=True)
