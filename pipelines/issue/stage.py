"""Issue one batch: for each accepted book, record XML → signed XML → PDF → signed PDF → ledger.

Plain Python (the asset is a thin layer over ``issue_batch``). In order:

1. Keys first: each school of the batch has its own signing keys (chosen by school code), and each
   key's certificate must chain to the trust roots the verification check will use. A school without
   a key, or a key the trust roots do not trust, stops the step with a :class:`SigningKeyError`
   before anything is signed or written (no file, no ledger row): records that the blocking check
   would then fail must not be in the ledger. A batch is one school's (``district/school/batch``),
   so the other schools' batches go on.
2. Per book, the ledger's :func:`~pipelines.issue.ledger.plan` is asked before anything is rendered or
   signed: an unchanged book costs a lookup only, so re-running a partition issues nothing twice;
   a book another batch of the school replaced (manifest column ``replaces``) is skipped, never
   reissued with the old batch's content.
3. A version race — another process appended a version of the record between the plan and the
   append (``LedgerConflict``) — is retried: the state is read again and the record made again for
   the version that is next, at most ``LEDGER_ATTEMPTS`` times.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
from sqlalchemy.engine import Engine

from pipelines.frames import to_frame
from pipelines.issue.errors import LedgerConflict, RecordInvalid, SigningKeyError
from pipelines.issue.ledger import issue, plan
from pipelines.issue.model import build_records
from pipelines.issue.pdf import render_pdf
from pipelines.issue.record import content_sha256, legacy_content_sha256, record_batch_id, record_xml
from pipelines.issue.sign import sign_pdf, sign_xml
from pipelines.issue.verify import load_trust_roots, signer_problems, verify_file
from pipelines.storage import Storage

log = logging.getLogger(__name__)

LEDGER_ATTEMPTS = 4
"""How often one record is made and appended when other processes keep issuing versions of it."""


class KeySource(Protocol):
    """Where the stage gets a school's keys: ``keys.school_keys()``, or one school's ``SigningKeys``."""

    def for_school(self, school_code: str): ...


@dataclass
class IssueResult:
    issued: pd.DataFrame
    new: int = 0
    unchanged: int = 0
    revoked: int = 0  # books whose unchanged content was revoked: held back, not reissued
    replaced: list[tuple[str, str]] = field(default_factory=list)
    """(record_id, batch): books another batch of the school replaced; not issued from this batch."""
    failed: list[tuple[str, str]] = field(default_factory=list)  # (record_id, why)
    retries: int = 0  # ledger version races retried
    seconds: Counter = field(default_factory=Counter)


def check_keys(keys: KeySource, school_codes: Iterable[str], trust_roots: Iterable[Path | str]) -> dict:
    """school code → its ``SigningKeys``, each certificate checked against ``trust_roots``.

    Raises ``SchoolKeyMissing`` for a school without keys, ``SigningKeyError`` for a key whose
    certificate the trust roots do not trust (or that is not valid for signing now), and
    ``ConfigError`` for a trust root file that is missing."""

    paths = list(trust_roots)
    roots = load_trust_roots(paths)
    out = {}
    for code in sorted(set(school_codes)):
        pair = out[code] = keys.for_school(code)
        for key in pair.pdf_order:
            problems = signer_problems(key.certificate, key.chain, roots)
            if problems:
                raise SigningKeyError(
                    f"khóa ký / signing key '{key.name}' of school {code} ({key.subject}, sha256 "
                    f"{key.sha256}): {'; '.join(problems)}; trust roots: {', '.join(map(str, paths))}. "
                    "Records signed with it would fail verification, so nothing was issued or written. "
                    "Set HOCBA_TRUST_ROOTS to the CA chain (PEM) of the signing certificates — production "
                    "keys with the development trust root (PKI_DIR/ca.pem) are the usual cause — or use "
                    "the keys those roots issued, then re-run the batch.")
    return out


def issue_batch(accepted_records: pd.DataFrame, normalized_records: pd.DataFrame,
                scan_manifest: pd.DataFrame, *, engine: Engine, storage: Storage, keys: KeySource,
                trust_roots: Iterable[Path | str], tsa_url: str | None = None,
                now: dt.datetime | None = None) -> IssueResult:
    """Issue every book of ``accepted_records``; one row per book's current version.

    ``keys.for_school(code)`` gives each school's keys, checked against ``trust_roots`` before
    anything is written (see the module's doc). A record that fails its XSD, or whose book another
    batch holds without this batch replacing it, is not issued and is reported in ``failed`` with
    why; a book a later batch replaced is in ``replaced``; the rest of the batch goes on."""

    res = IssueResult(to_frame("issued_records", ()))
    t = time.perf_counter()
    records = build_records(accepted_records, normalized_records, scan_manifest)
    res.seconds["build"] += time.perf_counter() - t
    if not records:
        return res
    t = time.perf_counter()
    keys_of = check_keys(keys, (r.school for r in records), trust_roots)
    res.seconds["keys"] += time.perf_counter() - t
    rows = []
    for rec in records:
        try:
            entry = _issue_book(rec, keys_of[rec.school], res, engine=engine, storage=storage,
                                tsa_url=tsa_url, now=now)
        except RecordInvalid as exc:
            res.failed.append((rec.record_id, str(exc)))
            log.warning("record %s not issued: %s", rec.record_id, exc)
            continue
        if entry is None:
            continue
        rows.append({
            "batch_id": rec.batch_id, "book_ref": rec.book_ref, "student_id": rec.student_id,
            "record_id": rec.record_id, "version": entry.version, "xml_uri": entry.xml_uri,
            "pdf_uri": entry.pdf_uri, "xml_sha256": entry.xml_sha256,
            "pdf_sha256": entry.pdf_sha256, "issued_at": entry.issued_at,
            "ledger_seq": entry.seq, "verified": False,
        })
    if rows:
        res.issued = to_frame("issued_records", rows)
    return res


def _issue_book(rec, keys, res: IssueResult, *, engine: Engine, storage: Storage, tsa_url: str | None,
                now: dt.datetime | None):
    """The ledger entry of the book's current version (issued now or before), or None when nothing is
    issued for it (revoked, replaced, held: counted in ``res``)."""

    def batch_of(entry) -> str | None:
        # A version issued before the ledger kept its batch (batch_id NULL, before migration 0004): its
        # XML names it (Book/BatchId).
        try:
            return record_batch_id(storage.read_bytes(entry.xml_uri))
        except Exception as exc:  # unreadable: the batch stays unknown, as before this check
            log.warning("record %s v%d: batch unknown (%s)", entry.record_id, entry.version,
                        type(exc).__name__)
            return None

    digest = content_sha256(rec)
    for attempt in range(1, LEDGER_ATTEMPTS + 1):
        t = time.perf_counter()
        p = plan(engine, rec.record_id, digest, batch_id=rec.batch_id,
                 replaces_batch_id=rec.replaces_batch_id, same_as=(legacy_content_sha256(rec),),
                 batch_of=batch_of)
        res.seconds["ledger"] += time.perf_counter() - t
        if p.action == "unchanged":
            res.unchanged += 1
            return p.entry
        if p.action == "revoked":
            res.revoked += 1
            return None
        if p.action == "replaced":
            res.replaced.append((rec.record_id, str(p.other_batch)))
            log.info("record %s: batch %s's book was replaced by batch %s; not issued", rec.record_id,
                     rec.batch_id, p.other_batch)
            return None
        if p.action == "held":
            why = f"record {rec.record_id}: its version {p.version - 1} came from batch {p.other_batch}; "
            if rec.replaces_batch_id is None:
                why += (f"batch {rec.batch_id} holds book {rec.book_ref} too and replaces nothing: not "
                        "issued (two batches holding one book would supersede each other at every re-run). "
                        "If this batch's scans replace the other's, give its manifest.csv the column "
                        f"replaces = {p.other_batch} and re-ingest; otherwise take the book out of one batch")
            else:
                why += (f"batch {rec.batch_id} replaces {rec.replaces_batch_id}, and the ledger cannot tell "
                        f"whether {p.other_batch}'s scans are older or newer (a batch between them in the "
                        "book's chain of rescans has issued nothing): not issued, so the record never steps "
                        "back. Issue the batches between them first (the chain is in each scan_manifest's "
                        "replaces_batch_id), then re-run this one")
            res.failed.append((rec.record_id, why))
            log.warning("%s", why)
            return None
        issued_at = now or dt.datetime.now(dt.UTC)
        t = time.perf_counter()
        prev = None if p.version == 1 else f"{rec.record_id}:v{p.version - 1}"
        xml = record_xml(rec, version=p.version, supersedes=prev, issued_at=issued_at)
        res.seconds["xml"] += time.perf_counter() - t
        t = time.perf_counter()
        signed_xml = sign_xml(xml, keys.school)
        res.seconds["sign_xml"] += time.perf_counter() - t
        t = time.perf_counter()
        pdf = render_pdf(rec, xml=signed_xml, version=p.version, issued_at=issued_at)
        res.seconds["render_pdf"] += time.perf_counter() - t
        t = time.perf_counter()
        signed_pdf = sign_pdf(pdf, keys.pdf_order, tsa_url=tsa_url)
        res.seconds["sign_pdf"] += time.perf_counter() - t
        t = time.perf_counter()
        try:
            entry = issue(engine, storage, record_id=rec.record_id, content_sha256=digest, xml=signed_xml,
                          pdf=signed_pdf, signer_certs=keys.summaries(), issued_at=issued_at,
                          batch_id=rec.batch_id, replaces_batch_id=rec.replaces_batch_id)
        except LedgerConflict as exc:
            if attempt == LEDGER_ATTEMPTS:
                raise LedgerConflict(
                    f"{exc}; gave up after {attempt} tries: other processes keep issuing versions of this "
                    "record (two runs of batches holding the book?); re-run the batch when they are done"
                ) from exc
            res.retries += 1
            log.info("record %s: %s; made again (try %d)", rec.record_id, exc, attempt + 1)
            continue
        finally:
            res.seconds["write_and_ledger"] += time.perf_counter() - t
        if entry.content_sha256 == digest and entry.version == p.version:
            res.new += 1
        else:
            res.unchanged += 1  # issued meanwhile by another run, with this content
        return entry
    raise AssertionError("unreachable")


def verify_issued(issued: pd.DataFrame, storage: Storage, engine: Engine,
                  trust_roots) -> dict[str, list[str]]:
    """record_id → problems, for every XML and PDF listed (empty when all verify).

    Files on an object store are fetched to a temporary folder first: the verifier
    (pyHanko, xmlsec) reads local files."""
    import tempfile


    problems: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="hocba-verify-") as tmp:
        for rid, uris in zip(issued["record_id"], zip(issued["xml_uri"], issued["pdf_uri"], strict=True),
                             strict=True):
            for uri in uris:
                if storage.is_local:
                    path = storage.full(uri)
                else:
                    path = str(Path(tmp) / Path(uri).name)
                    Path(path).write_bytes(storage.read_bytes(uri))
                v = verify_file(path, trust_roots=list(trust_roots), engine=engine)
                if not v.ok:
                    problems.setdefault(rid, []).extend(v.messages or [f"{uri}: not verified"])
    return problems
