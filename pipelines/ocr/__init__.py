"""OCR stage core: classify a page, align it to its template, read its fields (no Dagster here)."""
