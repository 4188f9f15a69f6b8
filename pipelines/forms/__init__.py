"""Printed forms: drawing the templates of data_contracts/templates as images.

Shared by the synthetic generator (the paper a value is written on) and by OCR
(reference images to align scans against). No Dagster, no I/O beyond fonts.
"""
