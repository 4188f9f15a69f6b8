"""The issued XML record (data_contracts/record/hocba-record-v1.xsd) and the record's content hash.

``record_xml`` maps a ``BookRecord`` onto the schema: identity, each school year's subjects (HK I,
HK II, Cả năm, retest), results, the era's rule set, the source scans with their sha256 and a
provenance summary, and validates the document before returning it, so nothing unsigned-but-invalid
ever reaches the signer. Which element a field becomes is decided from the page's template (subject
rows, results columns), so a template added to data_contracts needs no code here; a field the schema
has no element for is kept under ``OtherFields`` rather than dropped.

``content_sha256`` hashes the record's data only — never its version or issue time, nor which batch
or run produced it, nor who reviewed it when: the ledger's idempotency key (re-running a batch over
the same accepted values issues nothing, and the same book met in another batch is the same record).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from lxml import etree

from pipelines.contracts import CONTRACTS_DIR, rule_sets, templates
from pipelines.contracts.fields import HISTORY, RESULTS, RETEST, SCORES, TERMS, FieldId
from pipelines.issue.errors import RecordInvalid
from pipelines.issue.model import BookRecord, FieldValue

NS = "urn:hocba:record:1"
SCHEMA_VERSION = 1
XSD_PATH = CONTRACTS_DIR / "record" / "hocba-record-v1.xsd"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
STATEMENT = ("Bản số hoá từ học bạ giấy. Các tệp quét của bản giấy được liệt kê dưới đây kèm mã băm "
             "SHA-256; bản giấy là bản gốc.")
"""The digitized-copy statement (also printed on the PDF)."""

_Q = f"{{{NS}}}"
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)

# Identity-page field → element (kind: text, date, int, score, result).
_STUDENT = (("identifier", "Identifier", "text"), ("full_name", "FullName", "text"),
            ("gender", "Gender", "text"), ("birth_date", "BirthDate", "date"),
            ("ethnicity", "Ethnicity", "text"), ("nationality", "Nationality", "text"),
            ("birth_place", "BirthPlace", "text"),
            ("home_town", "HomeTown", "text"), ("address", "Address", "text"))
_PEOPLE = (("Father", "father_name", "father_job"), ("Mother", "mother_name", "mother_job"),
           ("Guardian", "guardian_name", None))
_IDENTITY_TAIL = (("sign_date", "SignDate", "date"), ("principal_name", "Principal", "text"))
_HISTORY = (("school_year", "SchoolYearName", "text"), ("class_name", "ClassName", "text"),
            ("school_name", "SchoolName", "text"), ("register_no", "RegisterNo", "int"))
_YEAR_HEAD = (("school_year", "SchoolYearName", "text"), ("full_name", "FullName", "text"),
              ("class_name", "ClassName", "text"), ("stream", "Stream", "text"),
              ("advanced_subjects", "AdvancedSubjects", "text"))
_YEAR_TAIL = (("absences", "Absences", "int"), ("promotion", "Promotion", "text"), ("award", "Award", "text"),
              ("teacher_remark", "TeacherRemark", "text"), ("corrections", "Corrections", "int"),
              ("sign_date", "SignDate", "date"), ("homeroom_teacher_name", "HomeroomTeacher", "text"),
              ("principal_name", "Principal", "text"))
_SUBJECT_TERMS = tuple(zip((*TERMS, RETEST), ("HK1", "HK2", "CaNam", "Retest"), strict=True))


# --- what each template's fields become ----------------------------------------------------------------
@dataclass(frozen=True)
class _Subject:
    code: str
    name: str
    assessment: str


@dataclass(frozen=True)
class _YearLayout:
    subjects: tuple[_Subject, ...]
    average_row: str | None
    """Key of the ĐTB các môn row of the scores table (QĐ40/TT58 templates), if any."""
    academic: str | None
    conduct: str | None
    """Column keys of the results table: học lực / kết quả học tập, hạnh kiểm / rèn luyện."""


@cache
def _year_layout(template_id: str) -> _YearLayout:
    tpl = templates()[template_id]
    tables = {t.id: t for t in tpl.tables}
    subjects: list[_Subject] = []
    average = None
    if SCORES in tables:
        t = tables[SCORES]
        extra = {r.key for r in t.extra_rows}
        for row in tpl.table_rows(t):
            if row.key in extra:
                average = row.key
            else:
                assessment = tpl.row_assessment(t, row.key) or "score"
                subjects.append(_Subject(row.key, row.label or row.key, assessment))
    academic_fields = {rs.academic_field for rs in rule_sets().values()}
    conduct_fields = {rs.conduct_field for rs in rule_sets().values()}
    academic = conduct = None
    if RESULTS in tables:
        for col in tables[RESULTS].columns:
            if col.key in academic_fields:
                academic = col.key
            elif col.key in conduct_fields:
                conduct = col.key
    return _YearLayout(tuple(subjects), average, academic, conduct)


# --- values ---------------------------------------------------------------------------------------------
_SCORE = re.compile(r"(10|\d)(?:[,.](\d))?")
_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def _convert(kind: str, value: str) -> str | None:
    """The schema's form of a canonical value; None when it has none (the caller reports it)."""
    if kind == "text":
        return _nfc(value)
    if kind in ("score", "result"):
        if kind == "result" and value in ("Đ", "CĐ"):
            return value
        m = _SCORE.fullmatch(value)
        if not m or (m.group(1) == "10" and m.group(2) not in (None, "0")):
            return None
        return f"{m.group(1)}.{m.group(2) or 0}"
    if kind == "int":
        return str(int(value)) if value.isascii() and value.isdigit() else None
    if kind == "date":
        m = _DATE.fullmatch(value)
        if not m:
            return None
        try:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        except ValueError:
            return None
    raise ValueError(f"unknown value kind {kind!r}")


_KIND_WORDS = {"score": "score", "result": "score or Đ/CĐ", "int": "whole number", "date": "dd/mm/yyyy date"}


def _utc(t: dt.datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("naive datetime: give issue and review times in UTC")
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _Builder:
    """Adds the elements of one page's fields, remembering which fields it used and what failed."""

    def __init__(self, page_id: str | None, fields: dict[str, FieldValue], errors: list[str]) -> None:
        self.page_id = page_id
        self.fields = fields
        self.used: set[str] = set()
        self.errors = errors

    def value(self, field_id: str, kind: str) -> str | None:
        f = self.fields.get(field_id)
        if f is None:
            return None
        self.used.add(field_id)
        if f.value is None:
            return None
        out = _convert(kind, f.value)
        if out is None:
            self.errors.append(f"page {self.page_id}: field {field_id} is not a {_KIND_WORDS[kind]}")
        return out

    def add(self, parent: etree._Element, field_id: str, tag: str, kind: str) -> etree._Element | None:
        v = self.value(field_id, kind)
        if v is None:
            return None
        el = etree.SubElement(parent, _Q + tag)
        el.text = v
        return el

    def others(self, parent: etree._Element) -> None:
        rest = [f for fid, f in self.fields.items() if fid not in self.used and f.value is not None]
        if rest:
            box = etree.SubElement(parent, _Q + "OtherFields")
            for f in rest:
                etree.SubElement(box, _Q + "Field", id=f.field_id).text = _nfc(f.value)  # type: ignore[arg-type]


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, _Q + tag, attrib)
    if text is not None:
        el.text = text
    return el


def _build(record: BookRecord, version: int, supersedes: str | None, issued_at: dt.datetime,
           errors: list[str]) -> etree._Element:
    root = etree.Element(_Q + "Record", nsmap={None: NS}, schemaVersion=str(SCHEMA_VERSION))
    h = _sub(root, "Header")
    _sub(h, "RecordId", record.record_id)
    _sub(h, "Version", str(version))
    if supersedes is not None:
        _sub(h, "Supersedes", _nfc(supersedes))
    _sub(h, "IssuedAt", _utc(issued_at))
    _sub(h, "ContentSha256", content_sha256(record))
    b = _sub(root, "Book")
    for tag, v in (("District", record.district), ("School", record.school), ("BookRef", record.book_ref),
                   ("BatchId", record.batch_id)):
        _sub(b, tag, _nfc(v))

    ident = _Builder(record.identity_page_id, record.identity, errors)
    s = _sub(root, "Student")
    _sub(s, "StudentId", _nfc(record.student_id))
    for fid, tag, kind in _STUDENT:
        ident.add(s, fid, tag, kind)
    for tag, name_id, job_id in _PEOPLE:
        name, job = ident.value(name_id, "text"), ident.value(job_id, "text") if job_id else None
        if name or job:
            p = _sub(s, tag)
            if name:
                _sub(p, "Name", name)
            if job:
                _sub(p, "Occupation", job)
    if record.identity_page_id is not None:
        ip = _sub(root, "IdentityPage", pageId=record.identity_page_id)
        ident.add(ip, "cap_hoc_title", "CapHocTitle", "text")
        cells = (FieldId.try_parse(fid) for fid in record.identity)
        rows = sorted({f.row for f in cells if f is not None and f.table == HISTORY})
        entries = []
        for row in rows:
            vals = [(tag, ident.value(str(FieldId.history(row, col)), kind)) for col, tag, kind in _HISTORY]
            if any(v for _, v in vals):
                entries.append((row, vals))
        if entries:
            hist = _sub(ip, "StudyHistory")
            for row, vals in entries:
                e = _sub(hist, "Entry", row=row)
                for tag, v in vals:
                    if v is not None:
                        _sub(e, tag, v)
        for fid, tag, kind in _IDENTITY_TAIL:
            ident.add(ip, fid, tag, kind)
        ident.others(ip)

    years = _sub(root, "SchoolYears")
    for y in record.years:
        attrs = {"pageId": y.page_id, "template": y.template_id, "startYear": f"{y.school_year:04d}",
                 "grade": str(y.grade)}
        if y.rule_set:
            attrs["ruleSet"] = y.rule_set
        ye = _sub(years, "SchoolYear", **attrs)
        yb = _Builder(y.page_id, y.fields, errors)
        for fid, tag, kind in _YEAR_HEAD:
            yb.add(ye, fid, tag, kind)
        layout = _year_layout(y.template_id)
        subjects = _sub(ye, "Subjects")
        for subj in layout.subjects:
            kind = "result" if subj.assessment == "comment" else "score"
            vals = [(tag, yb.value(str(FieldId.score(subj.code, term)), kind))
                    for term, tag in _SUBJECT_TERMS]
            if any(v for _, v in vals):
                se = _sub(subjects, "Subject", code=subj.code, name=_nfc(subj.name),
                          assessment=subj.assessment)
                for tag, v in vals:
                    if v is not None:
                        _sub(se, tag, v)
        if layout.average_row:
            vals = [(tag, yb.value(str(FieldId.score(layout.average_row, term)), "score"))
                    for term, tag in _SUBJECT_TERMS if term != RETEST]
            if any(v for _, v in vals):
                av = _sub(ye, "OverallAverage")
                for tag, v in vals:
                    if v is not None:
                        _sub(av, tag, v)
        results = _sub(ye, "Results")
        for term in TERMS:
            acad = yb.value(str(FieldId.result(term, layout.academic)), "text") if layout.academic else None
            cond = yb.value(str(FieldId.result(term, layout.conduct)), "text") if layout.conduct else None
            if acad or cond:
                r = _sub(results, "Result", term=term)
                if acad:
                    _sub(r, "Academic", acad, field=layout.academic)  # type: ignore[arg-type]
                if cond:
                    _sub(r, "Conduct", cond, field=layout.conduct)  # type: ignore[arg-type]
        for fid, tag, kind in _YEAR_TAIL:
            yb.add(ye, fid, tag, kind)
        yb.others(ye)

    src = _sub(root, "Sources")
    _sub(src, "Statement", STATEMENT)
    for scan in record.scans:
        _sub(src, "Scan", path=_nfc(scan.file_path), sha256=scan.file_sha256)

    fields = record.fields
    reviewed = [(p, f) for p, f in fields if f.source == "review"]
    prov = _sub(root, "Provenance", autoFields=str(len(fields) - len(reviewed)),
                reviewedFields=str(len(reviewed)))
    for page, f in reviewed:
        attrs = {"page": page or "", "field": f.field_id}
        if f.reviewed_by:
            attrs["by"] = f.reviewed_by
        if f.reviewed_at:
            attrs["at"] = _utc(f.reviewed_at)
        _sub(prov, "Reviewed", **attrs)
    return root


# --- public API --------------------------------------------------------------------------------------------
@cache
def schema() -> etree.XMLSchema:
    """The record XSD, parsed once per process."""
    return etree.XMLSchema(etree.parse(str(XSD_PATH), parser=PARSER))


_QUOTED = re.compile(r"'[^']*' is not")
_VALUE = re.compile(r"The value '[^']*'")


def _schema_errors(log) -> list[str]:
    # Values are personal data: lxml quotes them in its messages, the errors reach logs.
    out = []
    for e in log:
        msg = _VALUE.sub("The value", _QUOTED.sub("the value is not", e.message.replace(_Q, "")))
        path = (e.path or "").replace(_Q, "")
        out.append(f"{path or f'line {e.line}'}: {msg}")
    return out


def record_xml(record: BookRecord, *, version: int, supersedes: str | None, issued_at: dt.datetime) -> bytes:
    """The record as UTF-8 XML (NFC text), valid against the XSD, unsigned.

    ``supersedes``: the version this one replaces, ``RECORD_ID:vN`` (None for the first).
    Raises ``RecordInvalid`` naming the record and the page/field (never the value) when a value
    has no form in the schema or the document fails the XSD.
    """
    if version < 1:
        raise ValueError("versions start at 1")
    errors: list[str] = []
    root = _build(record, version, supersedes, issued_at, errors)
    if errors:
        raise RecordInvalid(record.record_id, errors)
    xsd = schema()
    if not xsd.validate(root):
        raise RecordInvalid(record.record_id, _schema_errors(xsd.error_log))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _parse(xml: bytes) -> etree._Element:
    try:
        return etree.fromstring(xml, parser=PARSER)
    except etree.XMLSyntaxError as exc:
        raise RecordInvalid(None, [f"not well-formed XML: {exc}"]) from exc


def validate_record_xml(xml: bytes) -> None:
    """Raise ``RecordInvalid(record_id, errors)`` unless ``xml`` is a valid record (signed or not)."""
    root = _parse(xml)
    xsd = schema()
    if not xsd.validate(root):
        rid = root.findtext(f"{_Q}Header/{_Q}RecordId")
        raise RecordInvalid(rid, _schema_errors(xsd.error_log))


def record_header(xml: bytes) -> dict[str, str | None]:
    """The header of a record (signed or not): record_id, version, supersedes, issued_at,
    content_sha256 as written; ``RecordInvalid`` when ``xml`` is no hocba record."""
    root = _parse(xml)
    header = root.find(f"{_Q}Header")
    out = {key: (header.findtext(_Q + tag) if header is not None else None)
           for key, tag in (("record_id", "RecordId"), ("version", "Version"), ("supersedes", "Supersedes"),
                            ("issued_at", "IssuedAt"), ("content_sha256", "ContentSha256"))}
    version = out["version"]
    if root.tag != _Q + "Record" or not out["record_id"] or not version or not version.strip().isdigit():
        raise RecordInvalid(out["record_id"], ["no hocba record header (Record/Header/RecordId and Version)"])
    return {k: (v.strip() if v else v) for k, v in out.items()}


def record_batch_id(xml: bytes) -> str | None:
    """The batch a record (signed or not) was issued from (``Book/BatchId``); None when it names none."""
    v = _parse(xml).findtext(f"{_Q}Book/{_Q}BatchId")
    return v.strip() if v and v.strip() else None


def record_id_of(xml: bytes) -> tuple[str, int]:
    """(record id, version) from a record's header; ``RecordInvalid`` when it has none."""
    h = record_header(xml)
    return str(h["record_id"]), int(str(h["version"]))


def content_sha256(record: BookRecord) -> str:
    """sha256 (hex) of what the record says: canonical JSON (sorted keys, NFC text), prefixed with the
    schema's namespace so a new record format is a new content.

    Hashed: the record's identity (record id, district, school, book, student id), every field's final
    value by field id (empty fields left out, as the XML leaves them out), each year page's template,
    rule set, school year and grade, and the source scans' sha256 — what the record says about the
    student and their results and which paper it was read from.

    Not hashed, on purpose:
    - version, supersedes, issue time: the ledger's, not the record's;
    - the batch id, page ids and scan file names: which batch or run met the book. The same book in a
      re-run, or in another batch of the school, is the same record; hashing the batch made two
      batches holding one book supersede each other's version at every re-run. A rescan is still
      new content, through its scans' sha256;
    - who reviewed a field and when, and whether it was reviewed at all: a reviewer confirming a
      value, or a second review, does not change what the record says about the student. The issued
      version's XML keeps its provenance (who reviewed what, when) as it was when signed; a changed
      value is a change of data and makes a new version.
    """
    def fields(fs: dict[str, FieldValue]) -> dict[str, str]:
        return {k: _nfc(f.value) for k, f in fs.items() if f.value is not None}

    years = [{"template_id": y.template_id, "rule_set": y.rule_set, "school_year": y.school_year,
              "grade": y.grade, "fields": fields(y.fields)} for y in record.years]
    data = {
        "schema": NS,
        "record_id": record.record_id, "district": _nfc(record.district), "school": _nfc(record.school),
        "book_ref": _nfc(record.book_ref), "student_id": _nfc(record.student_id),
        "identity": fields(record.identity),
        # in an order of their own, not the page ids' (which two batches name differently)
        "years": sorted(years, key=lambda y: json.dumps(y, sort_keys=True, ensure_ascii=False)),
        "scans": sorted(s.file_sha256 for s in record.scans),
    }
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(_nfc(blob).encode("utf-8")).hexdigest()


def legacy_content_sha256(record: BookRecord) -> str:
    """The content hash as versions issued before batch-independent hashing carry it (batch id, page
    ids, scan paths, review provenance included). A current version carrying it for this very record
    is unchanged: the stage asks for it only so that upgrading does not reissue every record once."""
    def fv(f: FieldValue) -> list:
        return [None if f.value is None else _nfc(f.value), f.source, f.reviewed_by,
                None if f.reviewed_at is None else _utc(f.reviewed_at)]

    data = {
        "schema": NS,
        "record_id": record.record_id, "batch_id": record.batch_id, "district": record.district,
        "school": record.school, "book_ref": record.book_ref, "student_id": record.student_id,
        "identity_page_id": record.identity_page_id,
        "identity": {k: fv(f) for k, f in record.identity.items()},
        "years": [{"page_id": y.page_id, "template_id": y.template_id, "rule_set": y.rule_set,
                   "school_year": y.school_year, "grade": y.grade,
                   "fields": {k: fv(f) for k, f in y.fields.items()}} for y in record.years],
        "scans": [[_nfc(s.file_path), s.file_sha256] for s in record.scans],
    }
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(_nfc(blob).encode("utf-8")).hexdigest()
