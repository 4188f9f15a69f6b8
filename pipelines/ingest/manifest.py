"""manifest.csv of a batch, read strictly against data_contracts/ingest/manifest.yaml.

Header problems (unknown, missing required or repeated columns, not UTF-8) make the
whole manifest unusable: ``InputError`` naming the file, the column and what was
expected. Row problems never stop the other rows: a bad optional value is dropped
(default used) and reported; a row without a usable ``file`` or ``book_ref`` is left
out and reported. Every problem names the line, the column and what was expected,
in Vietnamese, because the scanning operator is the one who fixes it.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from pipelines.contracts.loader import ContractError, Strict, load
from pipelines.errors import InputError
from pipelines.ingest.errors import NotRegularFile
from pipelines.ingest.inbox import open_file
from pipelines.storage import Storage

MANIFEST_NAME = "manifest.csv"


# --- the contract -------------------------------------------------------------
class ManifestColumn(Strict):
    name: str
    required: bool
    doc: str


class ManifestContract(Strict):
    kind: Literal["manifest_contract"]
    version: int
    encoding: Literal["utf-8"]
    columns: tuple[ManifestColumn, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


@cache
def manifest_contract() -> ManifestContract:
    contract = load(ManifestContract, "ingest/manifest.yaml")
    unknown = set(contract.names) - set(_PARSERS)
    if unknown:
        raise ContractError(
            f"ingest/manifest.yaml has column(s) {sorted(unknown)} that "
            "pipelines/ingest/manifest.py "
            "does not know how to read; add a parser there"
        )
    return contract


# --- the rows -------------------------------------------------------------------
@dataclass(frozen=True)
class RowProblem:
    """One problem in manifest.csv, for the operator who fixes it."""

    line: int
    """Line number in the file (the header is line 1)."""
    column: str | None
    """Column name, or None for the row as a whole."""
    message: str
    """What is wrong and what was expected (Vietnamese)."""
    row_dropped: bool
    """True when the whole row could not be used."""
    file: str | None = None
    """The row's file path, when it could be read (to explain a file left unlisted)."""

    def __str__(self) -> str:
        where = f"dòng {self.line}" + (f", cột {self.column}" if self.column else "")
        return f"manifest.csv {where}: {self.message}"


@dataclass(frozen=True)
class ManifestRow:
    line: int
    """Line number in manifest.csv (the header is line 1)."""
    file: str
    """File path relative to the batch folder: POSIX separators, NFC."""
    book_ref: str
    first_page_no: int
    """1-based position of the file's first page in the book (1 when not given or bad)."""
    pages: int | None
    """Pages the operator counted; None when not given (or bad: see problems)."""
    cap_hoc: str | None
    note: str | None
    problems: tuple[RowProblem, ...] = ()
    """Values of this row that were bad and dropped."""
    replaces: str | None = None
    """The earlier batch whose scans of this book these replace, as written: a batch
    folder name of the same school, or a full district/school/batch id."""


@dataclass(frozen=True)
class OutsideRow:
    """A row whose file path leaves the batch folder ('../x.pdf', '/etc/passwd').

    The row is dropped (a RowProblem says why) and the path never opened; the row is
    kept here so that the refusal is also a file_quarantine row, accounted for."""

    line: int
    file: str
    """The path as written (back-slashes turned, NFC)."""
    book_ref: str | None


@dataclass(frozen=True)
class Manifest:
    source: str
    """Where it was read from, for messages."""
    rows: tuple[ManifestRow, ...]
    """Usable rows, in file order, one per file path (the first wins)."""
    problems: tuple[RowProblem, ...]
    """Every problem found, dropped rows included, in line order."""
    outside: tuple[OutsideRow, ...] = ()
    """Rows naming a path outside the batch folder (also in ``problems``), one per path."""

    def by_file(self) -> dict[str, ManifestRow]:
        return {r.file: r for r in self.rows}


class _Bad(ValueError):
    """A cell value that does not fit; the message is Vietnamese."""


class _Outside(_Bad):
    """A file path that leaves the batch folder."""


def _text(value: str) -> str | None:
    return value or None


_INT = re.compile(r"\d+(?:[.,]0+)?")  # "3", or "3.0" / "3,0" as a spreadsheet may write it


def _positive_int(value: str) -> int | None:
    if not value:
        return None
    if not _INT.fullmatch(value):
        raise _Bad(f"'{value}' không phải số nguyên; cần một số nguyên ≥ 1")
    number = int(re.split(r"[.,]", value)[0])
    if number < 1:
        raise _Bad(f"'{value}' không hợp lệ; cần một số nguyên ≥ 1")
    return number


def _cap_hoc(value: str) -> str | None:
    if not value:
        return None
    upper = value.upper()
    if upper not in ("THCS", "THPT"):
        raise _Bad(f"'{value}' không hợp lệ; cần THCS hoặc THPT (hoặc để trống)")
    return upper


_DRIVE = re.compile(r"[A-Za-z]:/")  # C:\scans\a.pdf, written on Windows


def _file_path(value: str) -> str | None:
    if not value:
        return None
    # Operators on Windows write back-slashes; macOS file names come decomposed (NFD).
    path = unicodedata.normalize("NFC", value.replace("\\", "/"))
    norm = posixpath.normpath(path)
    if path.startswith("/") or _DRIVE.match(path) or norm.startswith("../") or norm == "..":
        raise _Outside(f"'{value}' không phải đường dẫn tương đối bên trong thư mục lô")
    if norm == ".":
        raise _Bad(f"'{value}' không phải đường dẫn tương đối bên trong thư mục lô")
    return norm


_BATCH_NAME = re.compile(r"[^/\\]+")


def _replaces(value: str) -> str | None:
    """A batch folder name ("b001") or a full batch id ("760/79760403/b001")."""
    if not value:
        return None
    parts = value.split("/")
    if len(parts) not in (1, 3) or not all(_BATCH_NAME.fullmatch(p) and p not in (".", "..") for p in parts):
        raise _Bad(
            f"'{value}' không hợp lệ; cần tên thư mục lô cũ của cùng trường (ví dụ b001) "
            "hoặc mã lô đầy đủ quận/trường/lô"
        )
    return value


_PARSERS: dict[str, Callable[[str], object]] = {
    "file": _file_path,
    "book_ref": _text,
    "first_page_no": _positive_int,
    "pages": _positive_int,
    "cap_hoc": _cap_hoc,
    "note": _text,
    "replaces": _replaces,
}


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8-sig")  # a BOM (Excel's "CSV UTF-8") is tolerated
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: tệp không phải UTF-8 (byte lỗi ở vị trí {exc.start}). "
            'Hãy lưu lại bằng "CSV UTF-8" (Excel) hoặc mã hoá UTF-8.'
        ) from exc
    return unicodedata.normalize("NFC", text)


def _dialect(first_line: str) -> str:
    # Excel with Vietnamese regional settings (decimal comma) saves CSV with ';'.
    if "," not in first_line and ";" in first_line:
        return ";"
    return ","


def parse_manifest(data: bytes, *, source: str = MANIFEST_NAME) -> Manifest:
    """Parse manifest.csv bytes. ``InputError`` for a header that does not fit the contract."""
    contract = manifest_contract()
    text = _decode(data, source)
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(first_line))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(
            f"{source}: tệp rỗng; cần dòng tiêu đề với các cột {', '.join(contract.names)}"
        ) from None
    _check_header(header, contract, source)

    rows: list[ManifestRow] = []
    problems: list[RowProblem] = []
    outside: dict[str, OutsideRow] = {}
    seen: dict[str, int] = {}
    for offset, cells in enumerate(reader):
        line = offset + 2
        if not any(c.strip() for c in cells):
            continue  # blank line (Excel leaves some at the end)
        if len(cells) > len(header):
            file_cell = cells[header.index("file")].strip() if "file" in header else ""
            problems.append(
                RowProblem(
                    line,
                    None,
                    f"có {len(cells)} ô nhưng tiêu đề chỉ có {len(header)} cột; "
                    "kiểm tra dấu phẩy trong ghi chú (đặt ghi chú trong ngoặc kép)",
                    row_dropped=True,
                    file=_safe_path(file_cell),
                )
            )
            continue
        raw = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
        values: dict[str, object] = {}
        row_problems: list[RowProblem] = []
        dropped = False
        for name in contract.names:
            try:
                values[name] = _PARSERS[name](raw.get(name, ""))
            except _Outside as exc:
                path = unicodedata.normalize("NFC", raw["file"].replace("\\", "/"))
                book_ref = _text(raw.get("book_ref", ""))
                outside.setdefault(path, OutsideRow(line, path, book_ref))
                row_problems.append(RowProblem(line, name, str(exc), row_dropped=True))
                dropped = True
                values[name] = None
            except _Bad as exc:
                required = name in contract.required
                dropped |= required
                row_problems.append(RowProblem(line, name, str(exc), row_dropped=required))
                values[name] = None
        for name in contract.required:
            if values[name] is None and not any(p.column == name for p in row_problems):
                dropped = True
                row_problems.append(
                    RowProblem(line, name, "bỏ trống; cột này bắt buộc", row_dropped=True)
                )
        if dropped:
            file = values.get("file")
            problems.extend(
                replace(p, row_dropped=True, file=file if isinstance(file, str) else None)
                for p in row_problems
            )
            continue
        file = str(values["file"])
        if file in seen:
            problems.append(
                RowProblem(
                    line,
                    "file",
                    f"tệp '{file}' đã có ở dòng {seen[file]}; dòng này bị bỏ qua",
                    row_dropped=True,
                    file=file,
                )
            )
            continue
        seen[file] = line
        row_problems = [replace(p, file=file) for p in row_problems]
        problems.extend(row_problems)
        rows.append(
            ManifestRow(
                line=line,
                file=file,
                book_ref=str(values["book_ref"]),
                first_page_no=values.get("first_page_no") or 1,  # type: ignore[arg-type]
                pages=values.get("pages"),  # type: ignore[arg-type]
                cap_hoc=values.get("cap_hoc"),  # type: ignore[arg-type]
                note=values.get("note"),  # type: ignore[arg-type]
                problems=tuple(row_problems),
                replaces=values.get("replaces"),  # type: ignore[arg-type]
            )
        )
    return Manifest(
        source=source, rows=tuple(rows), problems=tuple(problems), outside=tuple(outside.values())
    )


def _safe_path(value: str) -> str | None:
    try:
        return _file_path(value)
    except _Bad:
        return None


def _check_header(header: list[str], contract: ManifestContract, source: str) -> None:
    expected = ", ".join(f"{c.name}{' (bắt buộc)' if c.required else ''}" for c in contract.columns)
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputError(
            f"{source}: cột {', '.join(repeated)} xuất hiện nhiều lần trong tiêu đề; "
            f"mỗi cột chỉ một lần. Các cột hợp lệ: {expected}"
        )
    unknown = [h for h in header if h not in contract.names]
    if unknown:
        raise InputError(
            f"{source}: cột không biết {', '.join(repr(u) for u in unknown)}. "
            f"Các cột hợp lệ: {expected}"
        )
    missing = [name for name in contract.required if name not in header]
    if missing:
        raise InputError(
            f"{source}: thiếu cột bắt buộc {', '.join(missing)}. Các cột hợp lệ: {expected}"
        )


def read_manifest(inbox: Storage, batch_rel: str) -> Manifest:
    """Read ``<batch_rel>/manifest.csv`` from the inbox; ``InputError`` when absent or bad.

    Opened like every inbox file: never through a link, never a FIFO (it would hang).
    """
    rel = posixpath.join(batch_rel, MANIFEST_NAME)
    try:
        with open_file(inbox, rel) as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError(
            f"{rel}: không có manifest.csv trong thư mục lô; "
            "lô chỉ được xử lý khi manifest.csv đã được đặt vào (sau cùng)."
        ) from None
    except NotRegularFile as exc:
        raise InputError(
            f"{rel}: manifest.csv không phải một tệp thường ({exc}); không đọc. "
            "Hãy đặt chính tệp manifest.csv (không phải liên kết) vào thư mục lô."
        ) from exc
    return parse_manifest(data, source=rel)
