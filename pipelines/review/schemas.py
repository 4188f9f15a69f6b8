"""The JSON API's input and output shapes, one per entity: what leaves is listed field by field, so the
items' internal columns (who claimed or resolved, the first entry, storage paths, the vocabulary) never
do. The pages show the same :class:`ItemOut` (as a dict)."""

from typing import Literal

from pydantic import BaseModel

from pipelines.review import labels
from pipelines.review.db import ReviewItem, User


class ReasonOut(BaseModel):
    code: str
    label: str


class ItemOut(BaseModel):
    """One review item as reviewers see it: no user ids, no first entry, images as console URLs."""

    id: int
    batch_id: str
    district: str
    school: str
    book_ref: str
    page_id: str
    template_id: str
    field_id: str
    field_label: str
    field_type: str
    field_type_label: str
    hint: str
    raw_text: str
    proposed_value: str | None
    confidence: float
    reasons: list[ReasonOut]
    candidates: list[str]
    status: str
    status_label: str
    claimed_by_me: bool
    """Claimed, by the asking user (expired or not: the page says whether it still runs)."""
    needs_second: bool
    second_entry: bool
    """A first entry was made: the next one, by another person, is the second."""
    final_value: str | None
    crop_url: str | None
    page_url: str | None
    box_px: list[float] | None
    """The field's box on the page (x0, y0, x1, y1), None when not known."""

    @classmethod
    def of(cls, item: ReviewItem, user: User) -> "ItemOut":
        box = [float(v) for v in (item.box_px or [])]
        return cls(
            id=item.id,
            batch_id=item.batch_id,
            district=item.district,
            school=item.school,
            book_ref=item.book_ref,
            page_id=item.page_id,
            template_id=item.template_id,
            field_id=item.field_id,
            field_label=labels.field_label(item.template_id, item.field_id),
            field_type=item.field_type,
            field_type_label=labels.field_type_label(item.field_type),
            hint=labels.field_type_hint(item.field_type, item.vocabulary),
            raw_text=item.raw_text,
            proposed_value=item.proposed_value,
            confidence=float(item.confidence),
            reasons=[ReasonOut(code=c, label=labels.reason_label(c)) for c in (item.reasons or [])],
            candidates=list(item.candidates or []),
            status=item.status,
            status_label=labels.status_label(item.status),
            claimed_by_me=item.status == "claimed" and item.claimed_by == user.id,
            needs_second=bool(item.needs_second),
            second_entry=bool(item.needs_second and item.first_by is not None),
            final_value=item.final_value,
            crop_url=f"/items/{item.id}/crop" if item.crop_uri else None,
            page_url=f"/items/{item.id}/page" if item.page_image_uri else None,
            box_px=box if len(box) == 4 else None,
        )


class BatchCountsOut(BaseModel):
    """Counts of one batch's items in the user's scope (an expired claim counts as open)."""

    batch_id: str
    open: int
    claimed: int
    done: int
    needs_paper: int
    remaining: int


class SubmitBody(BaseModel):
    action: Literal["auto", "accept", "correct", "illegible"]
    value: str | None = None
    confirm: bool = False
    """``illegible`` only: the reviewer confirmed sending the field to the paper book."""
