"""A template's printed form as drawing primitives, positions in millimetres from the page's top left.

One layout, two back ends: ``forms/draw.py`` rasterizes the primitives (the reference OCR aligns a
scan against, the paper the synthetic generator writes on) and ``issue/pdf.py`` writes them as vector
PDF operators (the issued record's pages). Each back end picks its own pen per ``Weight`` and its own
way of shrinking text to ``max_width``; what is drawn where is decided here only. No drawing library
is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pipelines.contracts import Template
from pipelines.contracts.templates import Box, TableDecl

Weight = Literal["box", "rule", "frame"]
"""box: a printed box; rule: a table's inner row and column rules; frame: a table's outline and the
rule under its header."""

HEADER_PT = 9.0  # table column headers
ROW_LABEL_PT = 9.5  # subject names and term labels
PAD_MM = 1.5  # text inset from a cell's left rule
WRITING_LINE_MM = 7.0  # one dotted writing line per ~7 mm of a scalar field's box height
WRITING_LINE_LIFT_MM = 0.8  # a writing line sits this far above its band's bottom


@dataclass(frozen=True)
class Line:
    x0: float
    y0: float
    x1: float
    y1: float
    weight: Weight


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    weight: Weight


@dataclass(frozen=True)
class DottedLine:
    """A dotted writing line from ``x0`` to ``x1`` at height ``y``."""

    x0: float
    x1: float
    y: float


@dataclass(frozen=True)
class Text:
    x: float
    """The left end (``align`` left) or the middle (``align`` center) of the text."""
    y: float
    """The text's middle line."""
    text: str
    size: float
    """Points; the size to draw at when the text fits ``max_width``."""
    bold: bool = False
    align: Literal["left", "center"] = "left"
    max_width: float | None = None
    """Millimetres the text must fit, the back end shrinking it as needed; None: drawn at ``size``."""


Primitive = Line | Rect | DottedLine | Text


def writing_lines(box: Box) -> list[float]:
    """The heights of the dotted writing lines of a scalar field's ``box``, top to bottom."""
    _, y, _, h = box
    n = max(1, round(h / WRITING_LINE_MM))
    return [y + (k + 1) * h / n - WRITING_LINE_LIFT_MM for k in range(n)]


@lru_cache(maxsize=32)
def form_layout(template: Template) -> tuple[Primitive, ...]:
    """The empty printed form of ``template``: labels, boxes, table grids with their headers and row
    labels, then the dotted writing lines of the handwritten scalar fields, in drawing order."""
    out: list[Primitive] = [
        Text(label.at[0], label.at[1], label.text, label.size, bold=label.bold, align=label.align)
        for label in template.labels
    ]
    out += [Rect(x, y, w, h, "box") for x, y, w, h in template.boxes]
    for table in template.tables:
        out += _table(template, table)
    for field in template.fields:
        if not field.printed:
            x, _, w, _ = field.box
            out += [DottedLine(x, x + w, yy) for yy in writing_lines(field.box)]
    return tuple(out)


def _table(tpl: Template, table: TableDecl) -> list[Primitive]:
    x0, y0 = table.origin
    xs = tpl.column_x(table)
    widths = [c.width for c in table.columns]
    x1 = xs[-1] + widths[-1]
    rows = tpl.table_rows(table)
    y_body = y0 + table.header_height
    y1 = y_body + table.row_height * len(rows)

    # Rules under every body row and between columns; the outline and the header rule heavier. (The
    # last row's rule lies under the outline: kept, the raster form has always drawn it.)
    out: list[Primitive] = []
    for r in range(1, len(rows) + 1):
        y = y_body + r * table.row_height
        out.append(Line(x0, y, x1, y, "rule"))
    out += [Line(x, y0, x, y1, "rule") for x in xs[1:]]
    out.append(Rect(x0, y0, x1 - x0, y1 - y0, "frame"))
    out.append(Line(x0, y_body, x1, y_body, "frame"))

    for col, x, w in zip(table.columns, xs, widths, strict=True):
        out.append(Text(x + w / 2, y0 + table.header_height / 2, col.header, HEADER_PT, bold=True,
                        align="center", max_width=w - 2 * PAD_MM))

    label_cols = [(x, c) for x, c in zip(xs, table.columns, strict=True) if c.kind == "row_label"]
    extra = {r.key for r in table.extra_rows}
    for i, row in enumerate(rows):
        if not row.label:
            continue
        yc = y_body + (i + 0.5) * table.row_height
        for x, col in label_cols:
            out.append(Text(x + PAD_MM, yc, row.label, ROW_LABEL_PT, bold=row.key in extra,
                            max_width=col.width - 2 * PAD_MM))
    return out
