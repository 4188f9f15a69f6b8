"""The OCR stage's batch driver on pages no template fits, and its completeness rule."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from pipelines.contracts import templates
from pipelines.forms.draw import font
from pipelines.ocr.batch import FULL_PAGE_FIELD, UNKNOWN_TEMPLATE, ocr_batch
from pipelines.ocr.checks import incomplete_pages
from pipelines.storage import Storage

LETTER = ["Kính gửi Ban giám hiệu nhà trường", "Em xin phép nghỉ học hai ngày vì bị ốm.",
          "Em xin cảm ơn thầy cô."]


def _letter_page() -> np.ndarray:
    """A page of plain text: not one of our forms (an applicant's letter slipped in the book)."""
    img = Image.new("L", (2480, 3508), 255)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(LETTER):
        d.text((250, 400 + i * 120), line, fill=0, font=font("serif", 60))
    return np.asarray(img)


def _page_images(storage: Storage, pages: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for i, (page_id, gray) in enumerate(pages.items(), start=1):
        uri = f"pages/b/{page_id}.png"
        storage.write_bytes(uri, cv2.imencode(".png", gray)[1].tobytes())
        rows.append({"page_id": page_id, "book_ref": "HB-1", "book_page_no": i, "image_uri": uri,
                     "is_blank": False})
    return pd.DataFrame(rows)


def test_a_page_no_template_fits_is_read_whole_and_marked_unknown(tmp_path):
    storage = Storage(str(tmp_path))
    pi = _page_images(storage, {"letter-p000": _letter_page()})
    result = ocr_batch(storage, pi, batch_id="d/s/b", workers=1)

    (layout,) = result.page_layouts.to_dict("records")
    assert layout["status"] == "unknown_layout" and layout["page_kind"] == "unknown"
    assert layout["template_id"] is None and layout["transform"] is None
    (reading,) = result.field_readings.to_dict("records")
    assert reading["field_id"] == FULL_PAGE_FIELD and reading["template_id"] == UNKNOWN_TEMPLATE
    assert "(full page)" in reading["engine"]
    assert "nghỉ học" in reading["text"] and "cảm ơn" in reading["text"]
    assert 0.0 <= reading["confidence"] <= 1.0
    assert result.summary()["by_status"] == {"unknown_layout": 1}


def test_incomplete_pages_names_pages_missing_a_field():
    tpl = templates()["year_thcs_tt22"]
    layouts = pd.DataFrame([{"page_id": "p1", "status": "ok", "template_id": tpl.template_id},
                            {"page_id": "p2", "status": "unknown_layout", "template_id": None}])
    fields = [s.field_id for s in tpl.field_specs()]
    readings = pd.DataFrame({"page_id": "p1", "field_id": fields})
    assert incomplete_pages(layouts, readings) == []
    assert incomplete_pages(layouts, readings.iloc[1:]) == ["p1"]
    assert incomplete_pages(layouts, pd.concat([readings, readings.iloc[:1]])) == ["p1"]
