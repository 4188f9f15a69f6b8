"""The tables the issue stage reads, made straight from a synthetic district's truth.

For the issue benchmark and the issue stage's tests: ``accepted_records``,
``normalized_records`` and ``scan_manifest`` as the pipeline would write them for books
read without a single error, without rendering or scanning anything (seconds, not
minutes). Values are the truth's text normalized as validate would normalize it.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from pipelines.contracts import templates
from pipelines.frames import to_frame
from pipelines.ids import page_id as make_page_id
from pipelines.synth.truth import District, build_district
from pipelines.validate.normalize import normalize_field


def issue_inputs(district: District | None = None, *, books: int = 10, seed: int = 0,
                 batch: str = "b001") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(accepted_records, normalized_records, scan_manifest) for the first ``books`` books."""
    d = district or build_district(seed=seed, schools=1, students=books)
    acc, norm, man = [], [], []
    tpls = templates()
    for b in d.books[:books]:
        batch_id = f"{b.district}/{b.school}/{batch}"
        scan = f"{b.book_ref}.pdf"
        for p in b.pages:
            page_id = make_page_id(hashlib.sha256(b.book_ref.encode()).hexdigest(), p.book_page_no - 1)
            year = next((y for y in b.years if y.school_year == p.school_year), None)
            tpl = tpls[p.template_id]
            for f in tpl.field_specs():
                raw = p.values.get(f.field_id, "")
                n = normalize_field(f.type, raw, f.vocabulary) if raw else None
                value = n.value if n is not None else None
                norm.append({"batch_id": batch_id, "book_ref": b.book_ref, "page_id": page_id,
                             "school_year": year.school_year if year else None,
                             "grade": year.grade if year else None,
                             "rule_set": year.rule_set if year else None, "template_id": p.template_id,
                             "field_id": f.field_id, "field_type": f.type, "raw_text": raw, "value": value,
                             "value_number": n.number if n is not None else None,
                             "value_date": n.date if n is not None else None, "confidence": 1.0,
                             "parse_error": n.error if n is not None else None})
                acc.append({"batch_id": batch_id, "book_ref": b.book_ref, "student_id": b.student_id,
                            "page_id": page_id, "school_year": year.school_year if year else None,
                            "grade": year.grade if year else None, "field_id": f.field_id, "value": value,
                            "source": "auto", "reviewed_by": None, "reviewed_at": pd.NaT})
        man.append({"batch_id": batch_id, "district": b.district, "school": b.school, "file_path": scan,
                    "file_sha256": hashlib.sha256(f"scan:{b.book_ref}".encode()).hexdigest(),
                    "size_bytes": 1_000_000, "format": "pdf", "book_ref": b.book_ref, "first_page_no": 1,
                    "pages_found": len(b.pages), "pages_declared": len(b.pages), "status": "ok",
                    "note": None, "replaces_batch_id": None,
                    "ingested_at": pd.Timestamp("2026-01-05", tz="UTC")})
    # normalized_records has a date column, which to_frame does not shape: left to pandas.
    return to_frame("accepted_records", acc), pd.DataFrame(norm), to_frame("scan_manifest", man)
