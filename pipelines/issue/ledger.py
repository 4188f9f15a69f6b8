"""The issue ledger: every issue, supersession and revocation of a record, append-only and hash-chained.

A record is immutable once issued (DOMAIN.md §4): a correction is a new version that supersedes the
old one. The ledger is the one place that says which version of a record is current. Rows are never
changed: a status change is itself a new row (event ``issue`` | ``supersede`` | ``revoke``) about a
(record_id, version) and carries the status it gives that version from then on, so a version's
effective status is the status of its latest row. Every row repeats its version's hashes and URIs,
so ``lookup`` by a file's sha256 is one indexed query. Database triggers refuse UPDATE and DELETE
(migration 0002), and each row's ``entry_hash`` covers the row and the previous row's hash, so an
edit made around the triggers shows in ``check_chain``.

Sequence numbers are assigned by the appender, under the ledger's lock, as the previous + 1 (not by
the database), so the hash can cover them and a missing row leaves a gap ``check_chain`` reports.
The lock is SQLite's write lock (``BEGIN IMMEDIATE``) or a PostgreSQL advisory lock.

Which batch a version came from is in the columns ``batch_id`` and ``replaces_batch_id`` (the batch
whose scans of the book it replaced; migration 0004), repeated on every row of the version. They are
hashed only when set, so rows written before 0004 keep their hashes (:data:`_HASHED_WHEN_SET`).
:func:`plan` reads them to keep two batches of a school that hold one book from superseding each
other: a batch whose book another batch replaced issues nothing for it any more (versions issued
before 0004 have no batch here; their XML names it in ``Book/BatchId``, which the caller may look up).

Files first, row second: ``issue`` writes the signed XML and PDF under content-addressed names, then
appends the rows in one transaction. A crash in between leaves files no row points to (harmless:
re-running writes the same names or new ones) and no row, so a re-run issues the record exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from pipelines.db import Base, UTCDateTime, one_of, utcnow, writer
from pipelines.issue.errors import LedgerConflict, LedgerError, NotInLedger
from pipelines.issue.record import record_header
from pipelines.storage import Storage

log = logging.getLogger(__name__)

TABLE = "issue_ledger"
EVENTS = ("issue", "supersede", "revoke")
CURRENT, SUPERSEDED, REVOKED = "current", "superseded", "revoked"
STATUSES = (CURRENT, SUPERSEDED, REVOKED)
"""A version's status: the status of its latest row (the words the CHECK constraint of 0002 allows)."""
STATUS_VI = {CURRENT: "hiện hành", SUPERSEDED: "đã bị thay thế", REVOKED: "đã bị thu hồi"}
"""How the CLI and ``hocba verify`` say a status in Vietnamese."""
EVENT_STATUS = {"issue": CURRENT, "supersede": SUPERSEDED, "revoke": REVOKED}
GENESIS = "0" * 64
"""prev_hash of the first row."""
_PG_LOCK_KEY = 0x686F6362614C  # "hocbaL": serializes appends on PostgreSQL
_HASHED = ("seq", "event", "record_id", "version", "status", "content_sha256", "xml_sha256", "pdf_sha256",
           "xml_uri", "pdf_uri", "signer_certs", "issued_at", "supersedes", "reason", "recorded_at")
_HASHED_WHEN_SET = ("batch_id", "replaces_batch_id")
"""Columns added later (0004): in the hashed row only when not None, so that the rows written before
them keep their hashes, while setting, changing or clearing one on any row breaks its hash."""


class LedgerEntry(Base):
    """One ledger row: an event about one version of one record (append-only)."""

    __tablename__ = TABLE
    __table_args__ = (
        CheckConstraint(one_of("event", EVENTS), name="event"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        UniqueConstraint("record_id", "version", "event", name="uq_issue_ledger_version_event"),
        UniqueConstraint("entry_hash", name="uq_issue_ledger_entry_hash"),
        Index("ix_issue_ledger_record", "record_id", "version"),
        Index("ix_issue_ledger_xml_sha256", "xml_sha256"),
        Index("ix_issue_ledger_pdf_sha256", "pdf_sha256"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    content_sha256: Mapped[str] = mapped_column(String(64))
    xml_sha256: Mapped[str] = mapped_column(String(64))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    xml_uri: Mapped[str] = mapped_column(String(1024))
    pdf_uri: Mapped[str] = mapped_column(String(1024))
    signer_certs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The signers' certificates: [{"role", "subject", "sha256"}, …] (fingerprints, no keys)."""
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """When the version was signed (the same on every row of the version)."""
    supersedes: Mapped[int | None] = mapped_column(Integer)
    """On an ``issue`` row: the seq of the issue row of the version it replaced."""
    reason: Mapped[str | None] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(String(255))
    """The batch the version came from (``district/school/batch``), on every row of the version. None:
    issued before the ledger kept it (migration 0004; the version's XML names it in ``Book/BatchId``)
    or by a caller that gave none."""
    replaces_batch_id: Mapped[str | None] = mapped_column(String(255))
    """The batch whose scans of the book ``batch_id``'s scans replace (manifest column ``replaces``), on
    every row of the version. None: the batch replaces nothing, or the version has no batch."""
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """When this row was appended."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<LedgerEntry #{self.seq} {self.event} {self.record_id} v{self.version} {self.status}>"


@dataclass(frozen=True)
class LedgerStatus:
    record_id: str
    version: int
    status: str
    """current | superseded | revoked: the status of the version's latest ledger row."""
    issued_at: dt.datetime | None = None


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str | None
    head: str | None = None
    """entry_hash of the last row: kept elsewhere, it also reveals rows cut off the end."""


# --- hashing ----------------------------------------------------------------------------------------------
def _iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError("naive datetime in the ledger: times are UTC")
    return t.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(row: dict[str, Any], prev_hash: str) -> str:
    """sha256 over the previous row's hash and the row's canonical JSON (sorted keys, UTC times; the
    columns of :data:`_HASHED_WHEN_SET` only when not None)."""
    data = {k: (_iso(row[k]) if k in ("issued_at", "recorded_at") else row[k]) for k in _HASHED}
    data.update({k: row[k] for k in _HASHED_WHEN_SET if row.get(k) is not None})
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{blob}".encode()).hexdigest()


def _row(entry: LedgerEntry) -> dict[str, Any]:
    return {c.key: getattr(entry, c.key) for c in LedgerEntry.__table__.columns}


# --- files --------------------------------------------------------------------------------------------------
_EXT = re.compile(r"[a-z0-9]{1,8}")


def write_once(storage: Storage, data: bytes, ext: str) -> str:
    """Store ``data`` as ``issued/<sha[:2]>/<sha>.<ext>`` under ``storage`` and return that relative URI.

    Content-addressed, so a name is never written with other bytes: an existing file is left alone.
    Written to a temporary name and moved into place, so a crash never leaves a partial file under the
    final name (a file of the wrong size there, from a store without atomic moves, is replaced)."""
    if not _EXT.fullmatch(ext):
        raise ValueError(f"bad extension {ext!r}")
    sha = hashlib.sha256(data).hexdigest()
    rel = f"issued/{sha[:2]}/{sha}.{ext}"
    if storage.exists(rel):
        if storage.size(rel) == len(data):
            return rel
        log.warning("issued file %s has the wrong size: replaced", rel)
    tmp = f"issued/{sha[:2]}/.{sha}.{uuid.uuid4().hex}.tmp"
    storage.write_bytes(tmp, data)
    storage.fs.mv(storage.full(tmp), storage.full(rel))
    return rel


# --- reading ------------------------------------------------------------------------------------------------
def _entries(conn: Connection, *where) -> list[LedgerEntry]:
    rows = conn.execute(select(LedgerEntry.__table__).where(*where).order_by(LedgerEntry.seq)).mappings()
    return [LedgerEntry(**r) for r in rows]


@dataclass(frozen=True)
class _State:
    issued: dict[int, LedgerEntry]
    """version → its issue row"""
    latest: dict[int, LedgerEntry]
    """version → its latest row (whose status is the version's)"""

    @property
    def last_version(self) -> int:
        return max(self.issued, default=0)

    @property
    def current(self) -> LedgerEntry | None:
        """The issue row of the current version."""
        for v, e in self.latest.items():
            if e.status == CURRENT:
                return self.issued[v]
        return None


def _state(conn: Connection, record_id: str) -> _State:
    issued: dict[int, LedgerEntry] = {}
    latest: dict[int, LedgerEntry] = {}
    for e in _entries(conn, LedgerEntry.record_id == record_id):
        if e.event == "issue":
            issued[e.version] = e
        latest[e.version] = e
    return _State(issued, latest)


def history(engine: Engine, record_id: str) -> list[LedgerEntry]:
    """Every ledger row of ``record_id``, oldest first."""
    with engine.connect() as conn:
        return _entries(conn, LedgerEntry.record_id == record_id)


def current(engine: Engine, record_id: str) -> LedgerEntry | None:
    """The issue row of the record's current version (None: never issued, or revoked)."""
    with engine.connect() as conn:
        return _state(conn, record_id).current


def next_version(engine: Engine, record_id: str, content_sha256: str) -> tuple[int, LedgerEntry | None]:
    """(the version to sign, None), or (the current version, its entry) when the current version
    already has this content: then there is nothing to issue. Asked before rendering and signing."""
    with engine.connect() as conn:
        st = _state(conn, record_id)
    cur = st.current
    if cur is not None and cur.content_sha256 == content_sha256:
        return cur.version, cur
    return st.last_version + 1, None


def revoked_content(engine: Engine, record_id: str, content_sha256: str) -> bool:
    """True when a revoked version of the record carries exactly this content: a re-run must not
    issue it again (revocation is a decision; only new content makes a new version)."""
    with engine.connect() as conn:
        st = _state(conn, record_id)
    return any(e.content_sha256 == content_sha256 and st.latest[v].event == "revoke"
               for v, e in st.issued.items())


Action = Literal["issue", "unchanged", "revoked", "replaced", "held"]


@dataclass(frozen=True)
class Plan:
    """What to do with one book of a batch, from the ledger's state (see :func:`plan`)."""

    action: Action
    """issue: make ``version``; unchanged: ``entry`` (the current version) already says this;
    revoked: a revoked version said this, hold it back; replaced: the book of this batch was replaced by
    batch ``other_batch``, issue nothing; held: the record's latest version came from ``other_batch``,
    which this batch does not replace — issue nothing (say why)."""
    version: int
    entry: LedgerEntry | None = None
    other_batch: str | None = None


def plan(engine: Engine, record_id: str, content_sha256: str, *, batch_id: str,
         replaces_batch_id: str | None = None, same_as: Iterable[str] = (),
         batch_of: Callable[[LedgerEntry], str | None] | None = None) -> Plan:
    """Decide, before anything is rendered or signed, what batch ``batch_id`` does with its book.

    First the content: the current version already says this (``content_sha256`` or one of
    ``same_as``, e.g. the hash under an older definition) → unchanged; a revoked version said it →
    revoked. Then which batch the record belongs to. Ingest lets one batch of a school hold a
    book_ref and later batches replace it in a chain (each naming the latest holder in
    ``replaces``); the ledger knows the links of the batches that issued. This batch is
    **replaced** — issue nothing, a re-run must not revert the record — when:

    - a batch that replaced it, directly or through links the ledger knows, issued a version;
    - it issued a version itself and a later version came from another batch (only a batch later
      in the chain may supersede it; this also ends the alternation of versions issued before
      batches were noted);
    - it replaces nothing (the book's first batch) and the latest version came from a batch that
      declared a replacement (a rescan of this batch's book).

    Otherwise it **issues** the next version when there is none yet, when the latest came from this
    batch (a correction) or from a batch nobody knows, or — when this batch replaces another — from
    one of its known ancestors or from the book's first batch. Else the latest version came from a
    batch whose place in the chain the ledger cannot tell (another first batch, which ingest
    refuses; or a rescan linked through a batch that never issued) and it is **held**: reported,
    nothing issued, never a step back. ``batch_of`` names the batch of an issue row whose
    ``batch_id`` is None (issued before 0004: the caller reads it from the version's XML); without it
    such rows' batch is unknown. Such rows replaced nothing as far as the ledger knows.
    """
    digests = {content_sha256, *same_as}
    with engine.connect() as conn:
        st = _state(conn, record_id)
    cur = st.current
    if cur is not None and cur.content_sha256 in digests:
        return Plan("unchanged", cur.version, cur)
    if any(e.content_sha256 in digests and st.latest[v].event == "revoke" for v, e in st.issued.items()):
        return Plan("revoked", st.last_version)
    nxt = st.last_version + 1
    if not st.issued:
        return Plan("issue", nxt)
    sources: dict[int, tuple[str | None, str | None]] = {}
    for v, e in sorted(st.issued.items()):
        batch = e.batch_id if e.batch_id is not None or batch_of is None else batch_of(e)
        sources[v] = (batch, e.replaces_batch_id)
    newest_first = sorted(sources.items(), reverse=True)
    # batch → the batch it replaced, as far as the versions tell
    links = {b: r for _, (b, r) in sources.items() if b is not None and r is not None}

    def behind(batch: str | None) -> bool:
        """True when ``batch_id`` is an ancestor of ``batch`` through known links."""
        seen = set()
        while batch is not None and batch not in seen:
            seen.add(batch)
            batch = links.get(batch)
            if batch == batch_id:
                return True
        return False

    by = next((b for _, (b, _) in newest_first if b not in (None, batch_id) and behind(b)), None)
    if by is not None:
        return Plan("replaced", nxt, other_batch=by)
    mine = [v for v, (b, _) in sources.items() if b == batch_id]
    if mine:
        by = next((b for v, (b, _) in newest_first if v > max(mine) and b not in (None, batch_id)), None)
        if by is not None:
            return Plan("replaced", nxt, other_batch=by)
    owner, owner_replaced = sources[st.last_version]
    if owner is None or owner == batch_id:
        return Plan("issue", nxt)
    if replaces_batch_id is not None:
        ancestors, b = set(), replaces_batch_id
        while b is not None and b not in ancestors:
            ancestors.add(b)
            b = links.get(b)
        if owner in ancestors or owner_replaced is None:
            return Plan("issue", nxt)
    elif owner_replaced is not None:
        return Plan("replaced", nxt, other_batch=owner)
    return Plan("held", nxt, other_batch=owner)


def lookup(engine: Engine, *, xml_sha256: str | None = None,
           pdf_sha256: str | None = None) -> LedgerStatus | None:
    """The record, version and effective status of an issued file, by its sha256 (None: not issued)."""
    if (xml_sha256 is None) == (pdf_sha256 is None):
        raise ValueError("give exactly one of xml_sha256, pdf_sha256")
    col = LedgerEntry.xml_sha256 if xml_sha256 is not None else LedgerEntry.pdf_sha256
    with engine.connect() as conn:
        e = conn.execute(select(LedgerEntry.record_id, LedgerEntry.version, LedgerEntry.status,
                                LedgerEntry.issued_at)
                         .where(col == (xml_sha256 or pdf_sha256)).order_by(LedgerEntry.seq.desc())
                         .limit(1)).first()
    return None if e is None else LedgerStatus(e.record_id, e.version, e.status, e.issued_at)


def versions(engine: Engine) -> pd.DataFrame:
    """One row per issued version: record_id, version, status (its latest row's), issued_at, and
    recorded_at (when it was issued). For reporting (coverage); one query over the ledger."""
    cols = ["record_id", "version", "status", "issued_at", "recorded_at"]
    with engine.connect() as conn:
        rows = conn.execute(select(LedgerEntry.record_id, LedgerEntry.version, LedgerEntry.event,
                                   LedgerEntry.status, LedgerEntry.issued_at, LedgerEntry.recorded_at)
                            .order_by(LedgerEntry.seq)).all()
    df = pd.DataFrame(rows, columns=["record_id", "version", "event", "status", "issued_at", "recorded_at"])
    if df.empty:
        return df[cols]
    issued = df[df["event"] == "issue"][["record_id", "version", "issued_at", "recorded_at"]]
    latest = df.groupby(["record_id", "version"], as_index=False).last()[["record_id", "version", "status"]]
    return issued.merge(latest, on=["record_id", "version"], how="left")[cols].reset_index(drop=True)


def last_seq(engine: Engine) -> int | None:
    """The sequence number of the newest row (None: the ledger is empty); grows with every append."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(LedgerEntry.seq))).scalar()


# --- appending ----------------------------------------------------------------------------------------------
def _lock(conn: Connection) -> None:
    """Hold the ledger's append lock until the transaction ends (SQLite: taken at BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def _tail(conn: Connection) -> tuple[int, str]:
    last = conn.execute(select(LedgerEntry.seq, LedgerEntry.entry_hash)
                        .order_by(LedgerEntry.seq.desc()).limit(1)).first()
    return (last.seq, last.entry_hash) if last else (0, GENESIS)


def _chain(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seq, prev = _tail(conn)
    for r in rows:
        seq += 1
        r["seq"], r["prev_hash"] = seq, prev
        r["entry_hash"] = prev = entry_hash(r, prev)
    return rows


def _insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(LedgerEntry), rows)


def _event(of: LedgerEntry, event: str, reason: str, at: dt.datetime) -> dict[str, Any]:
    r = _row(of)
    r.update(event=event, status=EVENT_STATUS[event], supersedes=None, reason=reason, recorded_at=at)
    return r


def issue(engine: Engine, storage: Storage, *, record_id: str, content_sha256: str, xml: bytes, pdf: bytes,
          signer_certs: list[dict[str, Any]], issued_at: dt.datetime, batch_id: str | None = None,
          replaces_batch_id: str | None = None) -> LedgerEntry:
    """Write the signed XML and PDF, then append the version to the ledger; its issue row.

    ``batch_id``: the batch the version comes from, and ``replaces_batch_id`` the batch whose scans of
    the book it replaces; kept in the rows' columns of those names (what :func:`plan` reads).

    When the record's current version already has ``content_sha256``, that entry is returned and
    nothing is written. ``xml`` must carry this record id, the version ``next_version`` gives and this
    content hash: a version issued meanwhile by another process is a ``LedgerConflict`` (nothing
    appended; make the record again). The previous current version, if any, is superseded in the same
    transaction.
    """

    h = record_header(xml)
    if h["record_id"] != record_id:
        raise LedgerError(f"the XML is record {h['record_id']}, not {record_id}")
    if h["content_sha256"] != content_sha256:
        raise LedgerError(f"record {record_id}: the XML's content hash differs from the one given")
    version = int(str(h["version"]))
    if replaces_batch_id is not None and batch_id is None:
        raise ValueError("replaces_batch_id without batch_id: give the batch the version comes from")
    if issued_at.tzinfo is None:
        raise ValueError("naive datetime: give the issue time in UTC")
    planned, existing = next_version(engine, record_id, content_sha256)
    if existing is not None:
        return existing
    if version != planned:
        raise LedgerConflict(f"record {record_id}: the XML is version {version}, "
                             f"the ledger's next is {planned}")

    xml_uri = write_once(storage, xml, "xml")
    pdf_uri = write_once(storage, pdf, "pdf")

    with writer(engine).begin() as conn:
        _lock(conn)
        st = _state(conn, record_id)
        cur = st.current
        if cur is not None and cur.content_sha256 == content_sha256:
            return cur  # issued meanwhile by another run, same content
        if version != st.last_version + 1:
            raise LedgerConflict(f"record {record_id}: version {st.last_version + 1} is next, not {version}")
        at = utcnow()
        rows = []
        if cur is not None:
            why = f"thay bằng phiên bản {version}"
            if replaces_batch_id and batch_id:
                why += f" (lô {batch_id} thay lô {replaces_batch_id})"
            rows.append(_event(cur, "supersede", why, at))
        rows.append({
            "event": "issue", "record_id": record_id, "version": version, "status": CURRENT,
            "content_sha256": content_sha256, "xml_sha256": hashlib.sha256(xml).hexdigest(),
            "pdf_sha256": hashlib.sha256(pdf).hexdigest(), "xml_uri": xml_uri, "pdf_uri": pdf_uri,
            "signer_certs": list(signer_certs), "issued_at": issued_at.astimezone(dt.UTC),
            "supersedes": cur.seq if cur is not None else None, "reason": None, "batch_id": batch_id,
            "replaces_batch_id": replaces_batch_id, "recorded_at": at,
        })
        _insert_rows(conn, _chain(conn, rows))
    log.info("issued %s v%d (ledger #%d)", record_id, version, rows[-1]["seq"])
    return LedgerEntry(**rows[-1])


def revoke(engine: Engine, record_id: str, version: int, reason: str) -> LedgerEntry:
    """Revoke one version (it stays in the ledger, with status revoked); the revoke row."""
    if not reason.strip():
        raise LedgerError("a revocation needs a reason")
    with writer(engine).begin() as conn:
        _lock(conn)
        st = _state(conn, record_id)
        if version not in st.issued:
            raise NotInLedger(f"record {record_id} has no version {version}")
        if st.latest[version].status == REVOKED:
            raise LedgerError(f"record {record_id} version {version} is already revoked")
        row = _event(st.issued[version], "revoke", reason.strip(), utcnow())
        _insert_rows(conn, _chain(conn, [row]))
    log.info("revoked %s v%d (ledger #%d)", record_id, version, row["seq"])
    return LedgerEntry(**row)


# --- checking -----------------------------------------------------------------------------------------------
def _stream(engine: Engine) -> Iterator[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=2000).execute(
            select(LedgerEntry.__table__).order_by(LedgerEntry.seq)).mappings()
        for r in result:
            yield dict(r)


def check_chain(engine: Engine) -> ChainReport:
    """Recompute the chain: sequence without gaps, each prev_hash the previous entry_hash, each
    entry_hash over its row; and the events make sense (versions issued in order, a supersede or
    revoke about an issued version and repeating its hashes, each status its event's)."""
    prev, n, expected = GENESIS, 0, 1
    issued: dict[str, dict[int, tuple[str, str, str]]] = {}

    def bad(seq: int, problem: str) -> ChainReport:
        return ChainReport(False, n, seq, problem, prev)

    for r in _stream(engine):
        seq = r["seq"]
        if seq != expected:
            return bad(seq, f"rows {expected}…{seq - 1} are missing" if seq > expected
                       else "sequence out of order")
        if r["prev_hash"] != prev:
            return bad(seq, "prev_hash is not the previous row's entry_hash")
        if r["entry_hash"] != entry_hash(r, prev):
            return bad(seq, "entry_hash does not match the row: the row was changed")
        if r["status"] != EVENT_STATUS.get(r["event"]):
            return bad(seq, f"status {r['status']} does not follow from event {r['event']}")
        versions = issued.setdefault(r["record_id"], {})
        hashes = (r["content_sha256"], r["xml_sha256"], r["pdf_sha256"])
        if r["event"] == "issue":
            if r["version"] != max(versions, default=0) + 1:
                return bad(seq, f"{r['record_id']} version {r['version']} issued out of order")
            versions[r["version"]] = hashes
        elif versions.get(r["version"]) != hashes:
            return bad(seq, f"{r['event']} of a version of {r['record_id']} that was not issued as such")
        prev, n, expected = r["entry_hash"], n + 1, seq + 1
    return ChainReport(True, n, None, None, None if n == 0 else prev)


def find(engine: Engine, record_or_sha: str) -> list[LedgerEntry]:
    """Rows of a record id, or of the version whose XML or PDF has this sha256 (for the CLI)."""
    with engine.connect() as conn:
        rows = _entries(conn, LedgerEntry.record_id == record_or_sha)
        if rows:
            return rows
        hit = conn.execute(select(LedgerEntry.record_id).where(or_(
            LedgerEntry.xml_sha256 == record_or_sha, LedgerEntry.pdf_sha256 == record_or_sha)
        ).limit(1)).first()
        return _entries(conn, LedgerEntry.record_id == hit.record_id) if hit else []
