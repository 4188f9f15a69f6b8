"""Ingest one scan batch: manifest → files (hash, sniff, count) → pages (in workers) → tables.

The stages, in order:

1. ``read_manifest``: the batch's manifest.csv, strictly (a bad header stops here).
2. Match manifest rows with the entries of the folder (Unicode-normalized names),
   listed without following links (``pipelines.ingest.inbox``): a link, a folder, a
   FIFO, a socket or a device is never opened.
3. Judge each book_ref against the school's other batches (``pipelines.ingest.books``).
4. For each file, in manifest order then the unlisted ones sorted: one streaming read
   for sha256 + magic bytes (+ a local spool copy when the inbox is not a local
   folder), then the file-level verdict: ``outside_batch_folder``, ``missing_file``,
   ``not_a_regular_file``, ``empty_file``, ``not_in_manifest``, ``book_ref_taken``,
   ``bad_replaces``, ``unsupported_format``, ``duplicate_file``, ``unreadable_file``
   — or accepted, with its page count.
5. Every page of an accepted file becomes a task for ``page.process_page`` in a pool
   of ``workers`` processes (``pipelines.parallel``), fed lazily so that at most a
   few files are ahead of the workers.
6. When a file's last page is back: its scan_manifest row (page count vs. manifest),
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
from pipelines.errors import InputError
from pipelines.frames import to_frame
from pipelines.ids import page_id
from pipelines.ingest import raster
from pipelines.ingest.books import BookVerdict, SchoolBooks, judge_book, school_books
from pipelines.ingest.errors import NotRegularFile
from pipelines.ingest.inbox import Entry, open_file, probe, still_same_file, walk
from pipelines.ingest.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestRow,
    OutsideRow,
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
    entry: Entry | None
    """The folder entry (path relative to the batch folder, as in the inbox); None when missing."""
    hint: str | None = None
    outside: OutsideRow | None = None
    """A manifest row naming a path outside the batch folder: refused, never opened."""
    # filled while processing
    digest: Digest | None = None
    fmt: Format | None = None
    local: str | None = None
    spooled: bool = False
    identity: tuple[int, int] | None = None
    """(st_dev, st_ino) of the local inbox file that was hashed: what the decoders must open."""
    pages: int = 0
    outcomes: list[PageOutcome] = field(default_factory=list)


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _plan(manifest: Manifest, entries: list[Entry]) -> list[_File]:
    by_nfc: dict[str, Entry] = {}
    for e in entries:
        by_nfc.setdefault(_nfc(e.path), e)
    files: list[_File] = []
    claimed: set[str] = set()
    listed: list[ManifestRow | OutsideRow] = [*manifest.rows, *manifest.outside]
    for row in sorted(listed, key=lambda r: r.line):
        if isinstance(row, OutsideRow):
            files.append(_File(len(files), row.file, None, None, outside=row))
            continue
        disk = by_nfc.get(row.file)
        if disk is not None and disk.path not in claimed:
            claimed.add(disk.path)
            files.append(_File(len(files), disk.path, row, disk))
        else:
            files.append(_File(len(files), row.file, row, None))
    unlisted = [e for e in entries if e.path not in claimed]
    by_fold = {_nfc(e.path).casefold(): e.path for e in unlisted}
    for f in files:
        if f.entry is None and f.row is not None:
            near = by_fold.get(f.row.file.casefold())
            if near is not None:
                f.hint = f"a file named {near!r} exists (different letter case)"
    for e in sorted(unlisted, key=lambda e: e.path):
        files.append(_File(len(files), e.path, None, e))
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
        books: dict[str, BookVerdict],
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
        self.inbox_local = inbox.is_local
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
        self.books = books

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
                    identity=f.identity,
                    image_uri=f"pages/{self.batch_id}/{page_id(f.digest.sha256, index)}.png",
                    refuse=self.too_large.pop((f.no, index), None),
                )

    def _file_level(self, f: _File) -> bool:
        """True when the file is accepted (pages to decode); otherwise it is quarantined."""
        if f.outside is not None:
            self._quarantine(
                f,
                "outside_batch_folder",
                f"manifest.csv line {f.outside.line} names {f.outside.file!r}, a path outside "
                "the batch folder; not opened",
                keep_bytes=False,
            )
            return False
        if f.entry is None:
            assert f.row is not None
            # Not found by the walk: maybe a folder, or a path through a link or a FIFO.
            odd = probe(self.inbox, posixpath.join(self.batch_rel, f.row.file))
            if odd is not None and odd.kind != "file":
                where = posixpath.relpath(odd.path, self.batch_rel)
                what = "it is" if where == f.row.file else f"its folder {where!r} is"
                self._quarantine(
                    f,
                    "not_a_regular_file",
                    f"listed in manifest.csv line {f.row.line}, but {what} {odd.describe()}; "
                    "not opened",
                    keep_bytes=False,
                )
                return False
            detail = f"listed in manifest.csv line {f.row.line} but not found in the batch folder"
            if f.hint:
                detail += f"; {f.hint}"
            self._quarantine(f, "missing_file", detail, keep_bytes=False)
            return False

        if f.entry.kind != "file":
            self._quarantine(
                f, "not_a_regular_file", f"{f.entry.describe()}; not opened", keep_bytes=False
            )
            return False
        if f.entry.size == 0:
            f.digest = Digest(sha256=_EMPTY_SHA, size=0, head=b"", tail=b"")
            self._quarantine(f, "empty_file", "the file has 0 bytes")
            return False

        rel = posixpath.join(self.batch_rel, f.entry.path)
        try:
            f.digest = self._digest(f, rel)
        except NotRegularFile as exc:  # swapped after the folder was listed
            self._quarantine(f, "not_a_regular_file", f"{exc}; not read", keep_bytes=False)
            return False
        except FileNotFoundError:
            self._quarantine(
                f, "missing_file", "removed from the batch folder while it was read", keep_bytes=False
            )
            return False
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
        book = self.books.get(f.row.book_ref, BookVerdict())
        if book.refused is not None:
            code, detail = book.refused
            self._quarantine(f, code, detail)
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
        if not still_same_file(f.local or "", f.identity):
            self._quarantine(
                f,
                "not_a_regular_file",
                "replaced in the batch folder while it was read; not decoded",
                keep_bytes=False,
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
        assert f.entry is not None
        if self.inbox_local:
            with open_file(self.inbox, rel, identity=f.entry.identity) as fh:
                f.local = self.inbox.full(rel)
                f.identity = f.entry.identity
                return digest_stream(fh)
        with open_file(self.inbox, rel) as fh:
            f.local = os.path.join(self.spool_dir, f"{f.no:06d}")
            f.spooled = True
            with open(f.local, "wb") as out:
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
                    "replaces_batch_id": self.books.get(row.book_ref, BookVerdict()).replaces_batch_id,
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
                    "book_ref": f.row.book_ref if f.row else f.outside.book_ref if f.outside else None,
                    "reason_code": code,
                    "reason": self.reasons[code].message,
                    "detail": detail,
                    "quarantined_uri": uri,
                    "quarantined_at": self.now,
                },
            )
        )
        log.info("ingest %s: quarantined %s: %s", self.batch_id, f.file_path, code)

    def _keep_bytes(self, f: _File) -> str | None:
        """Copy the file to quarantine/<batch_id>/<file_path>; never overwrite other bytes.

        Only ever a regular file that was hashed: the copy is re-checked to be that file."""
        assert f.entry is not None and f.digest is not None
        uri = f"quarantine/{self.batch_id}/{f.file_path}"
        if self.storage.exists(uri):
            if self.storage.sha256(uri) == f.digest.sha256:
                return uri
            # Another file of this name was quarantined before (a rescan that is bad
            # again): keep both, this one under its content hash.
            uri = f"{uri}.{f.digest.sha256[:16]}"
            if self.storage.exists(uri):
                return uri
        if f.spooled and f.local:
            with open(f.local, "rb") as fh:
                atomic_copy(self.storage, uri, fh)
            return uri
        rel = posixpath.join(self.batch_rel, f.entry.path)
        try:
            src = open_file(self.inbox, rel, identity=f.identity or f.entry.identity)
        except (NotRegularFile, FileNotFoundError) as exc:  # replaced since it was hashed
            log.warning("ingest %s: %s not kept: %s", self.batch_id, f.file_path, exc)
            return None
        with src:
            atomic_copy(self.storage, uri, src)
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


_VI_KIND = {"symlink": "một liên kết (symlink)", "file": "một tệp", "fifo": "một FIFO",
            "socket": "một socket", "device": "một tệp thiết bị", "other": "một tệp đặc biệt"}  # fmt: skip


def _judge_books(manifest: Manifest, known: SchoolBooks, **where: str) -> dict[str, BookVerdict]:
    """book_ref → verdict, once per book (its rows' replaces values taken together)."""
    replaces: dict[str, list[str]] = {}
    for row in manifest.rows:
        replaces.setdefault(row.book_ref, [])
        if row.replaces:
            replaces[row.book_ref].append(row.replaces)
    return {ref: judge_book(ref, values, known, **where) for ref, values in replaces.items()}


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

    Raises ``InputError`` when the batch folder is not a real folder (a link) or has
    no usable manifest.csv; every other problem (a bad file, a bad page, a bad
    manifest row, a book_ref another batch of the school holds) is in the result.
    ``storage`` is also where the school's other batches' scan_manifest is read.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)

    folder = probe(inbox, batch_rel)
    if folder is not None and folder.kind != "directory":
        raise InputError(
            f"{folder.path}: không phải một thư mục thật mà là {_VI_KIND.get(folder.kind, folder.kind)}; "
            "không đọc gì qua nó. Hãy chép chính các tệp của lô vào "
            "inbox/<quận>/<trường>/<lô>/ (không dùng liên kết)."
        )
    manifest = read_manifest(inbox, batch_rel)
    entries = [e for e in walk(inbox, batch_rel) if e.path != MANIFEST_NAME]
    files = _plan(manifest, entries)
    log.info(
        "ingest %s: %d manifest row(s), %d entries in the folder, %d manifest problem(s)",
        batch_id,
        len(manifest.rows),
        len(entries),
        len(manifest.problems),
    )
    known = school_books(storage, district=district, school=school, batch_id=batch_id)
    books = _judge_books(manifest, known, batch_id=batch_id, district=district, school=school)
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
            books=books,
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
