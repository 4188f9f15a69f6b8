"""Ingest one scan batch: manifest → files (hash, sniff, count) → pages (in workers) → tables.

The stages, in order:

1. ``read_manifest``: the batch's manifest.csv, strictly (a bad header stops here).
2. Match manifest rows with the files in the folder (Unicode-normalized names).
3. For each file, in manifest order then the unlisted ones sorted: size, one
   streaming read for sha256 + magic bytes (+ a local spool copy when the inbox is
   not a local folder), then the file-level verdict: ``missing_file``,
   ``empty_file``, ``not_in_manifest``, ``unsupported_format``, ``duplicate_file``,
   ``unreadable_file`` — or accepted, with its page count.
4. Every page of an accepted file becomes a task for ``page.process_page`` in a pool
   of ``workers`` processes (``pipelines.parallel``), fed lazily so that at most a
   few files are ahead of the workers.
5. When a file's last page is back: its scan_manifest row (page count vs. manifest),
   page rows, page_quarantine rows — or ``no_pages`` / ``unreadable_file`` when not one
   page decoded.

Quarantined files are copied to ``quarantine/<batch_id>/<file_path>`` in storage.
Nothing stored is ever overwritten with different bytes, so re-running a batch gives
the same rows (with the same ``now``) and the same stored files.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from pipelines.contracts import quarantine_reasons
from pipelines.frames import to_frame
from pipelines.ingest import raster
from pipelines.ingest.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestRow,
    RowProblem,
    read_manifest,
)
from pipelines.ingest.page import PageContext, PageOutcome, PageTask, atomic_copy, process_page
from pipelines.ingest.sniff import (
    Digest,
    Format,
    describe_head,
    digest_stream,
    pdf_is_complete,
    sniff_format,
)
from pipelines.parallel import WorkerDied, map_unordered
from pipelines.storage import Storage

log = logging.getLogger(__name__)

Progress = Callable[[int, int], object]
"""Called as ``progress(files_done, files_total)`` each time a file is settled."""

SINGLE_PAGE_FORMATS: frozenset[str] = frozenset({"jpeg", "png"})


@dataclass(frozen=True, eq=False)
class IngestResult:
    """The four ingest tables of one batch, each shaped to its contract."""

    scan_manifest: pd.DataFrame
    file_quarantine: pd.DataFrame
    page_images: pd.DataFrame
    page_quarantine: pd.DataFrame
    manifest_problems: tuple[RowProblem, ...] = ()
    """Problems in manifest.csv that did not stop the batch (shown to the operator)."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Wall time summed over pages per step (decode, blank, orientation, write) and
    the parent's file pass (file_checks: hash, sniff, page count); for benchmarks."""

    def summary(self) -> dict[str, Any]:
        reasons = Counter(self.file_quarantine["reason_code"]) + Counter(
            self.page_quarantine["reason_code"]
        )
        pages = self.page_images
        return {
            "files": len(self.scan_manifest) + len(self.file_quarantine),
            "files_accepted": len(self.scan_manifest),
            "files_quarantined": len(self.file_quarantine),
            "pages": len(pages),
            "blank": int(pages["is_blank"].sum()) if len(pages) else 0,
            "turned": int((pages["rotation_applied"] != 0).sum()) if len(pages) else 0,
            "exif_turned": int((pages["exif_rotation"] != 0).sum()) if len(pages) else 0,
            "page_count_mismatch": int((self.scan_manifest["status"] != "ok").sum())
            if len(self.scan_manifest)
            else 0,
            "quarantined": dict(sorted(reasons.items())),
            "manifest_problems": len(self.manifest_problems),
        }


# --- planning -----------------------------------------------------------------
@dataclass
class _File:
    no: int
    """Position in the batch: manifest rows first (their order), then unlisted files."""
    file_path: str
    """As the tables name it: the path on disk when the file exists, else the manifest's."""
    row: ManifestRow | None
    on_disk: str | None
    """Path relative to the batch folder as stored in the inbox; None when missing."""
    hint: str | None = None
    # filled while processing
    digest: Digest | None = None
    fmt: Format | None = None
    local: str | None = None
    spooled: bool = False
    pages: int = 0
    outcomes: list[PageOutcome] = field(default_factory=list)


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _plan(manifest: Manifest, on_disk: list[str]) -> list[_File]:
    by_nfc: dict[str, str] = {}
    for path in on_disk:
        by_nfc.setdefault(_nfc(path), path)
    files: list[_File] = []
    claimed: set[str] = set()
    for row in manifest.rows:
        disk = by_nfc.get(row.file)
        if disk is not None and disk not in claimed:
            claimed.add(disk)
            files.append(_File(len(files), disk, row, disk))
        else:
            files.append(_File(len(files), row.file, row, None))
    unlisted = [p for p in on_disk if p not in claimed]
    by_fold = {_nfc(p).casefold(): p for p in unlisted}
    for f in files:
        if f.on_disk is None and f.row is not None:
            near = by_fold.get(f.row.file.casefold())
            if near is not None:
                f.hint = f"a file named {near!r} exists (different letter case)"
    for path in sorted(unlisted):
        files.append(_File(len(files), path, None, path))
    return files


# --- the run ----------------------------------------------------------------------
class _Run:
    def __init__(
        self,
        inbox: Storage,
        batch_rel: str,
        storage: Storage,
        *,
        batch_id: str,
        district: str,
        school: str,
        now: datetime,
        progress: Progress | None,
        spool_dir: str,
    ) -> None:
        self.inbox = inbox
        self.batch_rel = batch_rel
        self.storage = storage
        self.batch_id = batch_id
        self.district = district
        self.school = school
        self.now = now
        self.progress = progress
        self.spool_dir = spool_dir
        self.inbox_local = _is_local(inbox)
        self.reasons = quarantine_reasons()
        self.scan_rows: list[tuple[int, dict]] = []
        self.file_q: list[tuple[int, dict]] = []
        self.page_rows: list[tuple[int, int, dict]] = []
        self.page_q: list[tuple[int, int, dict]] = []
        self.seen_sha: dict[str, _File] = {}
        self.files_total = 0
        self.files_done = 0
        self.seconds: Counter[str] = Counter()
        self.too_large: dict[tuple[int, int], str] = {}
        self.rejected_rows: dict[str, list[RowProblem]] = {}

    # -- file pass ---------------------------------------------------------------
    def tasks(self, files: list[_File], pending: dict[int, _File]) -> Iterator[PageTask]:
        """Settle each file at file level; yield page tasks for the accepted ones."""
        self.files_total = len(files)
        for f in files:
            t0 = time.perf_counter()
            accepted = self._file_level(f)
            self.seconds["file_checks"] += time.perf_counter() - t0
            if not accepted:
                self._settled(f)
                continue
            pending[f.no] = f
            assert f.digest is not None and f.fmt is not None and f.local is not None
            for index in range(f.pages):
                yield PageTask(
                    file_no=f.no,
                    path=f.local,
                    fmt=f.fmt,
                    page_index=index,
                    image_uri=f"pages/{self.batch_id}/{page_id(f.digest.sha256, index)}.png",
                    refuse=self.too_large.pop((f.no, index), None),
                )

    def _file_level(self, f: _File) -> bool:
        """True when the file is accepted (pages to decode); otherwise it is quarantined."""
        if f.on_disk is None:
            detail = "listed in manifest.csv"
            if f.row is not None:
                detail += f" line {f.row.line}"
            detail += " but not found in the batch folder"
            if f.hint:
                detail += f"; {f.hint}"
            self._quarantine(f, "missing_file", detail, keep_bytes=False)
            return False

        rel = posixpath.join(self.batch_rel, f.on_disk)
        size = self.inbox.size(rel)
        if size == 0:
            f.digest = Digest(sha256=_EMPTY_SHA, size=0, head=b"", tail=b"")
            self._quarantine(f, "empty_file", "the file has 0 bytes")
            return False

        f.digest = self._digest(f, rel)
        f.fmt = sniff_format(f.digest.head)
        original = self.seen_sha.get(f.digest.sha256)
        if original is None:
            self.seen_sha[f.digest.sha256] = f

        if f.row is None:
            what = f.fmt.upper() if f.fmt else describe_head(f.digest.head)
            detail = f"not listed in manifest.csv ({what})"
            rejected = [str(p) for p in self.rejected_rows.get(_nfc(f.file_path), ())]
            if rejected:
                detail += "; its row was rejected: " + "; ".join(rejected)
            if original is not None:
                detail += f"; identical to {original.file_path!r}"
            self._quarantine(f, "not_in_manifest", detail)
            return False
        if f.fmt is None:
            self._quarantine(f, "unsupported_format", describe_head(f.digest.head))
            return False
        if original is not None:
            where = f" (manifest.csv line {original.row.line})" if original.row else ""
            self._quarantine(
                f,
                "duplicate_file",
                f"identical bytes (sha256 {f.digest.sha256[:16]}…) "
                f"to {original.file_path!r}{where}",
            )
            return False
        if f.fmt == "pdf" and not pdf_is_complete(f.digest.tail):
            self._quarantine(
                f,
                "unreadable_file",
                "PDF has no %%EOF marker in its last 1 KiB: the file was cut short "
                "(an incomplete copy or download)",
            )
            return False
        try:
            count = raster.count_pages(f.local or "", f.fmt)
        except raster.FileOpenError as exc:
            self._quarantine(f, "unreadable_file", f"{f.fmt} cannot be opened: {exc}")
            return False
        if count.pages == 0:
            self._quarantine(f, "no_pages", f"the {f.fmt} file has no pages")
            return False
        f.pages = count.pages
        for index in count.too_large:
            self.too_large[(f.no, index)] = (
                f"pdf page {index}: its page size renders above {raster.MAX_PAGE_PIXELS} px "
                f"at {raster.TARGET_DPI} dpi; not decoded"
            )
        return True

    def _digest(self, f: _File, rel: str) -> Digest:
        if self.inbox_local:
            f.local = self.inbox.full(rel)
            with self.inbox.open(rel) as fh:
                return digest_stream(fh)
        f.local = os.path.join(self.spool_dir, f"{f.no:06d}")
        f.spooled = True
        with self.inbox.open(rel) as fh, open(f.local, "wb") as out:
            return digest_stream(fh, sink=out.write)

    # -- page results ----------------------------------------------------------------
    def page_done(self, f: _File, outcome: PageOutcome) -> bool:
        """Record one page's outcome; True when it was the file's last."""
        f.outcomes.append(outcome)
        for step, s in outcome.seconds.items():
            self.seconds[step] += s
        if len(f.outcomes) < f.pages:
            return False
        self._finish(f)
        return True

    def _finish(self, f: _File) -> None:
        assert f.digest is not None and f.row is not None
        good = sorted((o for o in f.outcomes if o.image), key=lambda o: o.page_index)
        bad = sorted((o for o in f.outcomes if not o.image), key=lambda o: o.page_index)
        if not good:
            # Not one page decoded: the file as a whole is unusable.
            errors = "; ".join(o.error or "?" for o in bad[:3]) + ("; …" if len(bad) > 3 else "")
            if f.fmt in SINGLE_PAGE_FORMATS:
                self._quarantine(f, "unreadable_file", f"{f.fmt} cannot be decoded: {errors}")
            else:
                self._quarantine(
                    f, "no_pages", f"none of the {f.pages} pages could be decoded: {errors}"
                )
            self._settled(f)
            return

        row, sha = f.row, f.digest.sha256
        for o in good:
            self.page_rows.append(
                (
                    f.no,
                    o.page_index,
                    {
                        "batch_id": self.batch_id,
                        "page_id": page_id(sha, o.page_index),
                        "file_path": f.file_path,
                        "file_sha256": sha,
                        "page_index": o.page_index,
                        "book_ref": row.book_ref,
                        "book_page_no": row.first_page_no + o.page_index,
                        **(o.image or {}),
                    },
                )
            )
        for o in bad:
            self.page_q.append(
                (f.no, o.page_index, self._page_q_row(f, o.page_index, "unreadable_page", o.error))
            )
        notes: list[str] = []
        if row.note:
            notes.append(f"Ghi chú khi quét: {row.note}.")
        status = "ok"
        if row.pages is not None and row.pages != f.pages:
            status = "page_count_mismatch"
            if f.pages < row.pages:
                notes.append(
                    f"Tìm thấy {f.pages} trang, manifest ghi {row.pages}: "
                    f"thiếu {row.pages - f.pages} trang."
                )
                self.page_q.append(
                    (
                        f.no,
                        -1,
                        self._page_q_row(
                            f,
                            -1,
                            "missing_page",
                            f"manifest.csv line {row.line} declares {row.pages} pages; "
                            f"the file has {f.pages}",
                        ),
                    )
                )
            else:
                notes.append(
                    f"Tìm thấy {f.pages} trang, nhiều hơn {row.pages} trang ghi trong manifest; "
                    "hãy kiểm tra lại số trang đã đếm."
                )
        if bad:
            pages = ", ".join(str(o.page_index + 1) for o in bad)
            notes.append(f"Trang {pages} của tệp không giải mã được (xem page_quarantine).")
        notes.extend(f"{p}." for p in row.problems)
        self.scan_rows.append(
            (
                f.no,
                {
                    "batch_id": self.batch_id,
                    "district": self.district,
                    "school": self.school,
                    "file_path": f.file_path,
                    "file_sha256": sha,
                    "size_bytes": f.digest.size,
                    "format": f.fmt,
                    "book_ref": row.book_ref,
                    "first_page_no": row.first_page_no,
                    "pages_found": f.pages,
                    "pages_declared": row.pages,
                    "status": status,
                    "note": " ".join(notes) or None,
                    "ingested_at": self.now,
                },
            )
        )
        log.debug(
            "ingest %s: %s (book %s) %d page(s), %d undecodable, %s",
            self.batch_id,
            f.file_path,
            row.book_ref,
            f.pages,
            len(bad),
            status,
        )
        self._settled(f)

    def _page_q_row(self, f: _File, index: int, code: str, detail: str | None) -> dict:
        assert f.digest is not None and f.row is not None
        return {
            "batch_id": self.batch_id,
            "file_path": f.file_path,
            "file_sha256": f.digest.sha256,
            "page_index": index,
            "book_ref": f.row.book_ref,
            "reason_code": code,
            "reason": self.reasons[code].message,
            "detail": detail,
        }

    # -- quarantine --------------------------------------------------------------------
    def _quarantine(self, f: _File, code: str, detail: str, *, keep_bytes: bool = True) -> None:
        uri = self._keep_bytes(f) if keep_bytes else None
        if f.row is not None and f.row.problems:
            detail += "; manifest: " + "; ".join(str(p) for p in f.row.problems)
        self.file_q.append(
            (
                f.no,
                {
                    "batch_id": self.batch_id,
                    "file_path": f.file_path,
                    "file_sha256": f.digest.sha256 if f.digest else None,
                    "size_bytes": f.digest.size if f.digest else None,
                    "book_ref": f.row.book_ref if f.row else None,
                    "reason_code": code,
                    "reason": self.reasons[code].message,
                    "detail": detail,
                    "quarantined_uri": uri,
                    "quarantined_at": self.now,
                },
            )
        )
        log.info("ingest %s: quarantined %s: %s", self.batch_id, f.file_path, code)

    def _keep_bytes(self, f: _File) -> str:
        """Copy the file to quarantine/<batch_id>/<file_path>; never overwrite other bytes."""
        assert f.on_disk is not None and f.digest is not None
        uri = f"quarantine/{self.batch_id}/{f.file_path}"
        if self.storage.exists(uri):
            if self.storage.sha256(uri) == f.digest.sha256:
                return uri
            # Another file of this name was quarantined before (a rescan that is bad
            # again): keep both, this one under its content hash.
            uri = f"{uri}.{f.digest.sha256[:16]}"
            if self.storage.exists(uri):
                return uri
        if f.local:
            with open(f.local, "rb") as fh:
                atomic_copy(self.storage, uri, fh)
        else:
            with self.inbox.open(posixpath.join(self.batch_rel, f.on_disk)) as fh:
                atomic_copy(self.storage, uri, fh)
        return uri

    def _settled(self, f: _File) -> None:
        if f.spooled and f.local:
            with contextlib.suppress(FileNotFoundError):
                os.remove(f.local)
        f.outcomes = []
        self.files_done += 1
        if self.progress is not None:
            self.progress(self.files_done, self.files_total)

    # -- tables ------------------------------------------------------------------------
    def result(self, manifest: Manifest) -> IngestResult:
        return IngestResult(
            scan_manifest=to_frame(
                "scan_manifest", (r for _, r in sorted(self.scan_rows, key=_k1))
            ),
            file_quarantine=to_frame(
                "file_quarantine", (r for _, r in sorted(self.file_q, key=_k1))
            ),
            page_images=to_frame("page_images", (r for *_, r in sorted(self.page_rows, key=_k2))),
            page_quarantine=to_frame(
                "page_quarantine", (r for *_, r in sorted(self.page_q, key=_k2))
            ),
            manifest_problems=manifest.problems,
            stage_seconds={k: round(v, 3) for k, v in sorted(self.seconds.items())},
        )


_EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _k1(item: tuple) -> int:
    return item[0]


def _k2(item: tuple) -> tuple[int, int]:
    return item[0], item[1]


def page_id(file_sha256: str, page_index: int) -> str:
    """Stable page id: first 16 hex of the file's sha256, '-p', 3-digit page index."""
    return f"{file_sha256[:16]}-p{page_index:03d}"


def _is_local(storage: Storage) -> bool:
    protocol = storage.fs.protocol
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    return bool({"file", "local"} & protocols)


def _process_shareable(storage: Storage) -> bool:
    """Whether another process sees what this one writes there (not so for memory://)."""
    protocol = storage.fs.protocol
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    return "memory" not in protocols


def ingest_batch(
    inbox: Storage,
    batch_rel: str,
    storage: Storage,
    *,
    batch_id: str,
    district: str,
    school: str,
    workers: int = 1,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest the batch folder ``batch_rel`` of ``inbox`` into ``storage``.

    ``workers``: processes for the per-page work; 1 runs everything in this process,
    in order (tests, debugging). ``now``: the timestamp written to the rows (frozen
    in tests; default: the current time, UTC). ``progress(files_done, files_total)``
    is called as each file is settled.

    Raises ``InputError`` when the batch has no usable manifest.csv; every other
    problem (a bad file, a bad page, a bad manifest row) is in the result.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)

    manifest = read_manifest(inbox, batch_rel)
    on_disk = [p for p in inbox.walk_files(batch_rel) if p != MANIFEST_NAME]
    files = _plan(manifest, on_disk)
    log.info(
        "ingest %s: %d manifest row(s), %d file(s) in the folder, %d manifest problem(s)",
        batch_id,
        len(manifest.rows),
        len(on_disk),
        len(manifest.problems),
    )
    if workers > 1 and not _process_shareable(storage):
        log.warning(
            "ingest %s: storage %s is process-local; running serially", batch_id, storage.root_url
        )
        workers = 1

    with tempfile.TemporaryDirectory(prefix="hocba-ingest-") as spool_dir:
        run = _Run(
            inbox,
            batch_rel,
            storage,
            batch_id=batch_id,
            district=district,
            school=school,
            now=now,
            progress=progress,
            spool_dir=spool_dir,
        )
        for problem in manifest.problems:
            if problem.row_dropped and problem.file:
                run.rejected_rows.setdefault(problem.file, []).append(problem)
        pending: dict[int, _File] = {}
        ctx = PageContext(storage=storage)
        for task, outcome in map_unordered(
            process_page, ctx, run.tasks(files, pending), workers=workers
        ):
            if isinstance(outcome, WorkerDied):
                outcome = PageOutcome(task.page_index, error=outcome.detail)
            if run.page_done(pending[task.file_no], outcome):
                del pending[task.file_no]
        return run.result(manifest)
