"""Issue one batch: for each accepted book, record XML → signed XML → PDF → signed PDF → ledger.

Plain Python (the asset is a thin layer over ``issue_batch``). Unchanged books cost a
ledger lookup only: ``next_version`` is asked before anything is rendered or signed, so
re-running a partition issues nothing twice and signs nothing again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.engine import Engine

from pipelines.storage import Storage

log = logging.getLogger(__name__)

ISSUED_COLUMNS = ["batch_id", "book_ref", "student_id", "record_id", "version", "xml_uri", "pdf_uri",
                  "xml_sha256", "pdf_sha256", "issued_at", "ledger_seq", "verified"]


@dataclass
class IssueResult:
    issued: pd.DataFrame
    new: int = 0
    unchanged: int = 0
    revoked: int = 0  # books whose unchanged content was revoked: held back, not reissued
    failed: list[tuple[str, str]] = field(default_factory=list)  # (record_id, why)
    seconds: Counter = field(default_factory=Counter)


def issue_batch(accepted_records: pd.DataFrame, normalized_records: pd.DataFrame,
                scan_manifest: pd.DataFrame, *, engine: Engine, storage: Storage, keys,
                tsa_url: str | None = None, now: dt.datetime | None = None) -> IssueResult:
    """Issue every book of ``accepted_records``; one row per book's current version.

    A record that fails its XSD is not issued and is reported in ``failed`` with why;
    the rest of the batch goes on."""
    from pipelines.issue.errors import RecordInvalid
    from pipelines.issue.ledger import issue, next_version, revoked_content
    from pipelines.issue.model import build_records
    from pipelines.issue.pdf import render_pdf
    from pipelines.issue.record import content_sha256, record_xml
    from pipelines.issue.sign import sign_pdf, sign_xml

    res = IssueResult(pd.DataFrame(columns=ISSUED_COLUMNS))
    t = time.perf_counter()
    records = build_records(accepted_records, normalized_records, scan_manifest)
    res.seconds["build"] += time.perf_counter() - t
    certs = keys.summaries()
    rows = []
    for rec in records:
        t = time.perf_counter()
        digest = content_sha256(rec)
        version, existing = next_version(engine, rec.record_id, digest)
        if existing is None and revoked_content(engine, rec.record_id, digest):
            res.revoked += 1
            res.seconds["ledger"] += time.perf_counter() - t
            continue
        res.seconds["ledger"] += time.perf_counter() - t
        if existing is None:
            issued_at = now or dt.datetime.now(dt.UTC)
            try:
                t = time.perf_counter()
                prev = None if version == 1 else f"{rec.record_id}:v{version - 1}"
                xml = record_xml(rec, version=version, supersedes=prev, issued_at=issued_at)
                res.seconds["xml"] += time.perf_counter() - t
            except RecordInvalid as exc:
                res.failed.append((rec.record_id, str(exc)))
                log.warning("record %s not issued: %s", rec.record_id, exc)
                continue
            t = time.perf_counter()
            signed_xml = sign_xml(xml, keys.school)
            res.seconds["sign_xml"] += time.perf_counter() - t
            t = time.perf_counter()
            pdf = render_pdf(rec, xml=signed_xml, version=version, issued_at=issued_at)
            res.seconds["render_pdf"] += time.perf_counter() - t
            t = time.perf_counter()
            signed_pdf = sign_pdf(pdf, keys.pdf_order, tsa_url=tsa_url)
            res.seconds["sign_pdf"] += time.perf_counter() - t
            t = time.perf_counter()
            existing = issue(engine, storage, record_id=rec.record_id, content_sha256=digest,
                             xml=signed_xml, pdf=signed_pdf, signer_certs=certs, issued_at=issued_at)
            res.seconds["write_and_ledger"] += time.perf_counter() - t
            res.new += 1
        else:
            res.unchanged += 1
        rows.append({
            "batch_id": rec.batch_id, "book_ref": rec.book_ref, "student_id": rec.student_id,
            "record_id": rec.record_id, "version": existing.version, "xml_uri": existing.xml_uri,
            "pdf_uri": existing.pdf_uri, "xml_sha256": existing.xml_sha256,
            "pdf_sha256": existing.pdf_sha256, "issued_at": existing.issued_at,
            "ledger_seq": existing.seq, "verified": False,
        })
    if rows:
        res.issued = pd.DataFrame(rows, columns=ISSUED_COLUMNS)
        res.issued["issued_at"] = pd.to_datetime(res.issued["issued_at"], utc=True)
    return res


def verify_issued(issued: pd.DataFrame, storage: Storage, engine: Engine,
                  trust_roots) -> dict[str, list[str]]:
    """record_id → problems, for every XML and PDF listed (empty when all verify).

    Files on an object store are fetched to a temporary folder first: the verifier
    (pyHanko, xmlsec) reads local files."""
    import tempfile
    from pathlib import Path

    from pipelines.issue.verify import verify_file

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
                    problems.setdefault(rid, []).extend(v.problems or [f"{uri}: not verified"])
    return problems
