"""What reviewers do to flagged fields, as plain functions over the console's database.

``commands`` holds the reviewer's actions (each one write transaction with its audit row), ``queries``
the listings, counts and reports, ``core`` what both share (scope, sessions, the acting user, and
``claim_expired``: the one SQL expression saying that an expired claim counts as open). Import from
here: the names below are the store's surface.

Every function that takes a ``user`` re-reads that user inside its transaction and enforces the user's
scope (all, one district, one school): an item outside it is ``Forbidden``, whatever the caller checked.
Claims are atomic: two reviewers asking for the next item at the same moment never get the same one
(SQLite: one ``UPDATE … WHERE id = (SELECT … LIMIT 1) … RETURNING`` inside a ``BEGIN IMMEDIATE``;
PostgreSQL: the same with ``FOR UPDATE SKIP LOCKED`` in the subquery). A claim expires after
``review_claim_ttl_s``; an expired claim is claimable again.

Second review: an item with ``needs_second`` (identity fields, when ``review_second_identity`` is on)
needs two agreeing entries by two people. The first entry (audit ``accept``/``correct``, detail
``entry: 1``) stores first_value/first_by and reopens the item; a later entry by another person that
agrees resolves it (audit ``second_entry``), one that disagrees replaces first_value/first_by and
reopens it (audit ``second_disagree``). ``illegible`` sends any item to the paper book at once.

The reviewer's way through the queue: ``claim_next`` gives the reviewer's own open claim first (a page
left by a link or Back keeps nothing stuck), then the items they have not passed over, then the ones
they skipped (``skip``: audit ``skip``, the claim released), the oldest skip first. An item sent to the
paper book by mistake comes back with ``undo_paper`` (the same reviewer, until the batch is accepted);
the data team resolves the rest from the paper (``resolve_paper``, audit ``paper_resolve``) and may
reopen any finished item (``reopen``, audit ``reopen``).

Every change writes its ReviewDecision and AuditLog row (old and new value) in the same transaction.
Logs carry ids only: values, names and birth dates stay in the database.
"""

from pipelines.review.store.commands import (
    allowed_vi,
    check_entry,
    claim,
    claim_next,
    load_items,
    normalize_entry,
    release,
    reopen,
    resolve_paper,
    skip,
    submit,
    undo_paper,
)
from pipelines.review.store.core import (
    MAX_NOTE,
    PAPER_ROLES,
    QUEUE_ORDER,
    Scope,
    claim_expired,
    claim_live,
    clean_note,
    record_audit,
    require_role,
    user_scope,
)
from pipelines.review.store.queries import (
    CORRECTIONS_COLUMNS,
    DECISION_AUDITS,
    audit,
    batch_counts,
    corrections,
    get_item,
    last_resolved,
    list_items,
    progress,
    queue_summary,
    usernames,
)

__all__ = [
    "CORRECTIONS_COLUMNS",
    "DECISION_AUDITS",
    "MAX_NOTE",
    "PAPER_ROLES",
    "QUEUE_ORDER",
    "Scope",
    "allowed_vi",
    "audit",
    "batch_counts",
    "check_entry",
    "claim",
    "claim_expired",
    "claim_live",
    "claim_next",
    "clean_note",
    "corrections",
    "get_item",
    "last_resolved",
    "list_items",
    "load_items",
    "normalize_entry",
    "progress",
    "queue_summary",
    "record_audit",
    "release",
    "reopen",
    "require_role",
    "resolve_paper",
    "skip",
    "submit",
    "undo_paper",
    "user_scope",
    "usernames",
]
