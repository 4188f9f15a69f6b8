"""What the console's pages and JSON show, built from the store's items: the reviewer's place in the
queue (``Nav``), the queue's counts, the item as shown (``schemas.ItemOut``), and the small rules the
forms share (what Enter means, what a refused value shows again). No routes, no request state."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pipelines.contracts.templates import is_invisible
from pipelines.review import labels
from pipelines.review.db import ReviewItem, User
from pipelines.review.schemas import ItemOut


@dataclass(frozen=True)
class Nav:
    """Which part of the queue a reviewer is working through; carried from item to item."""

    batch: str = ""
    field_type: str = ""
    book: str = ""
    mode: str = ""  # "group": a field opened from group mode goes back there

    @classmethod
    def of(cls, source: Any) -> "Nav":
        def get(name: str) -> str:  # ids of batches, books, types: 200 characters, nothing invisible
            v = source.get(name) if source is not None else None
            v = str(v).strip()[:200] if v else ""
            return "" if any(is_invisible(c) for c in v) else v

        return cls(get("batch"), get("field_type"), get("book"), "group" if get("mode") == "group" else "")

    def query(self, **extra: str) -> str:
        q = {k: v for k, v in (("batch", self.batch), ("field_type", self.field_type), ("book", self.book),
                               ("mode", self.mode)) if v}
        q.update(extra)
        return f"?{urlencode(q)}" if q else ""

    def store_args(self) -> dict[str, str | None]:
        return {"batch_id": self.batch or None, "field_type": self.field_type or None,
                "book_ref": self.book or None}

    def describe(self) -> str:
        parts = []
        if self.batch:
            parts.append(f"lô {self.batch}")
        if self.book:
            parts.append(f"sổ {self.book}")
        if self.field_type:
            parts.append(f"loại {labels.field_type_label(self.field_type)}")
        return ", ".join(parts) or "tất cả"


def item_view(item: ReviewItem, user: User) -> dict[str, Any]:
    """What the templates show of an item: :class:`ItemOut` as a dict (no user ids, no first entry)."""
    return ItemOut.of(item, user).model_dump()


def _int_status(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


COUNT_KEYS = ("open", "claimed", "done", "needs_paper")


def row_counts(row: dict[str, Any]) -> dict[str, int]:
    c = {k: _int_status(row.get(k)) for k in COUNT_KEYS}
    c["remaining"] = c["open"] + c["claimed"]
    return c


def add(into: dict[str, int], counts: dict[str, int]) -> None:
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v


def queue_view(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """queue_summary rows (batch × book × field type) → per batch: totals, by field type, by book."""
    batches: dict[str, dict[str, Any]] = {}
    for row in summary:
        b = batches.setdefault(str(row["batch_id"]), {"batch_id": str(row["batch_id"]), "totals": {},
                                                      "types": {}, "books": {}})
        c = row_counts(row)
        add(b["totals"], c)
        add(b["types"].setdefault(str(row["field_type"]), {}), c)
        add(b["books"].setdefault(str(row["book_ref"]), {}), c)
    out = []
    for batch_id in sorted(batches):
        b = batches[batch_id]
        out.append({
            "batch_id": batch_id,
            "totals": b["totals"],
            "types": [{"field_type": t, "label": labels.field_type_label(t), **c}
                      for t, c in sorted(b["types"].items(), key=lambda kv: (-kv[1]["remaining"], kv[0]))],
            "books": [{"book_ref": k, **c} for k, c in sorted(b["books"].items())],
        })
    return out


def resolve_action(action: str, value: str, item: Any) -> str:
    """``auto`` (what Enter sends): accept when the value is the proposed one, else correct. An empty
    input is a correction to blank, whether or not something was proposed: the box is blank on the paper
    (what the hint under every input says)."""
    if action != "auto":
        return action
    proposed = (item.proposed_value or "").strip()
    return "accept" if proposed and value.strip() == proposed else "correct"


def retyped(exc: Exception, value: str) -> str | None:
    """What the input shows again after a refused value: the value as typed, so it can be fixed, unless
    it was refused for its length or for invisible characters (None: the proposed value instead)."""
    return None if getattr(exc, "code", None) in ("too_long", "invisible_character") else value


def message_vi(exc: Exception) -> str:
    return str(getattr(exc, "message_vi", None) or "Giá trị không hợp lệ.")
