"""One book, one batch: a school's book_ref belongs to the batch that holds its scans.

Scans of a book that another batch of the same school already holds are refused
(``book_ref_taken``) unless manifest.csv names, in ``replaces``, the batch whose scans
of the book they replace. Replacements form one chain per book (each new batch names
the latest holder, never one already replaced), so downstream stages can always tell
which batch's scans of a book are current: the one no other batch replaces.

"Holds" means: the batch's stored scan_manifest has rows for the book_ref (files that
were quarantined hold nothing). A batch never conflicts with itself (a re-run), with
the batches it replaces (directly or down the chain), nor with those that later
replaced it: re-running an old batch gives the rows it gave before.

Two batches of one school ingested at the same time with a new, shared book_ref both
see no holder; the check is against what is stored when the batch runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipelines.ids import batch_name
from pipelines.storage import Storage
from pipelines.table_io import read_table, stored_partitions

Holders = dict[str, str | None]
"""batch_id → the batch_id its scans of the book replace (None: replace nothing)."""


@dataclass(frozen=True)
class SchoolBooks:
    """What the other batches of one school hold, from their stored scan_manifest."""

    batches: frozenset[str]
    """Every other batch of the school with a stored scan_manifest."""
    holders: dict[str, Holders]
    """book_ref → the batches holding it."""


@dataclass(frozen=True)
class BookVerdict:
    replaces_batch_id: str | None = None
    """The full batch id these scans replace, when accepted with ``replaces``."""
    refused: tuple[str, str] | None = None
    """(reason_code, detail in English) when the book's files are refused."""


def school_books(storage: Storage, *, district: str, school: str, batch_id: str) -> SchoolBooks:
    """Read the scan_manifest partitions of the school's batches other than ``batch_id``."""
    prefix = f"{district}/{school}/"
    keys = [k for k in stored_partitions(storage, "scan_manifest")
            if k.startswith(prefix) and k != batch_id]  # fmt: skip
    holders: dict[str, Holders] = {}
    if keys:
        df = read_table(storage, "scan_manifest", list(keys),
                        columns=["batch_id", "book_ref", "replaces_batch_id"])  # fmt: skip
        for batch, ref, replaces in zip(df["batch_id"], df["book_ref"],
                                        df["replaces_batch_id"], strict=True):  # fmt: skip
            holders.setdefault(ref, {})[batch] = replaces if isinstance(replaces, str) else None
    return SchoolBooks(frozenset(keys), holders)


def judge_book(
    book_ref: str,
    replaces: Iterable[str],
    known: SchoolBooks,
    *,
    batch_id: str,
    district: str,
    school: str,
) -> BookVerdict:
    """Whether this batch may hold ``book_ref``; ``replaces``: its rows' non-empty values."""
    values = sorted(set(replaces))
    if len(values) > 1:
        return _bad(f"the rows of book {book_ref!r} name different batches in replaces: "
                    + ", ".join(repr(v) for v in values))  # fmt: skip
    held = known.holders.get(book_ref, {})
    target = None
    if values:
        target = values[0] if "/" in values[0] else f"{district}/{school}/{values[0]}"
        why = _check_target(target, book_ref, held, known, batch_id=batch_id,
                            school_prefix=f"{district}/{school}/")  # fmt: skip
        if why:
            return _bad(why)
    related = _descendants(batch_id, held) | _ancestors(target, held)
    unrelated = sorted(set(held) - related)
    if unrelated:
        latest = _latest(held)
        hint = f"; to replace its scans write replaces={batch_name(latest[0])}" if len(latest) == 1 else ""
        return BookVerdict(refused=("book_ref_taken", f"book_ref {book_ref!r} is already held by "
                                    f"batch {', '.join(unrelated)}{hint}"))  # fmt: skip
    return BookVerdict(replaces_batch_id=target)


def _check_target(target: str, book_ref: str, held: Holders, known: SchoolBooks, *,
                  batch_id: str, school_prefix: str) -> str | None:  # fmt: skip
    """Why ``replaces`` cannot name ``target`` for this book; None when it can."""
    if not target.startswith(school_prefix):
        return f"replaces names {target!r}, a batch of another school"
    if target == batch_id:
        return "replaces names this batch itself"
    if target not in known.batches:
        return f"replaces names {target!r}, but no such batch of this school has been ingested"
    if target not in held:
        return f"replaces names {target!r}, which holds no scans of book {book_ref!r}"
    later = sorted(b for b, r in held.items() if r == target)
    if later:
        latest = ", ".join(_latest(held))
        return (f"{target!r} was already replaced by {', '.join(later)}; "
                f"name the latest holder of the book: {latest}")  # fmt: skip
    if target in _descendants(batch_id, held):
        return f"{target!r} itself replaces this batch's scans of the book"
    return None


def _descendants(batch: str, held: Holders) -> set[str]:
    """Batches that replaced ``batch``'s scans of the book, down the chain."""
    out: set[str] = set()
    todo = [batch]
    while todo:
        current = todo.pop()
        for b, r in held.items():
            if r == current and b not in out:
                out.add(b)
                todo.append(b)
    return out


def _ancestors(target: str | None, held: Holders) -> set[str]:
    """``target`` and the batches it replaced, up the chain."""
    out: set[str] = set()
    while target is not None and target in held and target not in out:
        out.add(target)
        target = held[target]
    return out


def _latest(held: Holders) -> list[str]:
    """The holders no other holder replaces: whose scans of the book are current."""
    replaced = {r for r in held.values() if r}
    return sorted(b for b in held if b not in replaced)


def _bad(detail: str) -> BookVerdict:
    return BookVerdict(refused=("bad_replaces", detail))
