"""The issued XML record: built from accepted values, valid against its XSD, hashed on its data only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata

import pandas as pd
import pytest
from lxml import etree

from pipelines.contracts import rule_sets, vocabularies
from pipelines.issue.errors import RecordInvalid
from pipelines.issue.model import BookRecord, FieldValue, build_records, make_record_id
from pipelines.issue.record import (
    NS,
    XSD_PATH,
    content_sha256,
    legacy_content_sha256,
    record_header,
    record_id_of,
    record_xml,
    validate_record_xml,
)
from tests.issue.samples import DISTRICT, REVIEWED_AT, SCHOOL, STUDENT, frames, sample_record, with_value

AT = dt.datetime(2026, 5, 21, 3, 4, 5, 123456, tzinfo=dt.UTC)
Q = f"{{{NS}}}"
DSIG = "http://www.w3.org/2000/09/xmldsig#"


def _xml(record: BookRecord, version: int = 1, supersedes: str | None = None, at: dt.datetime = AT) -> bytes:
    return record_xml(record, version=version, supersedes=supersedes, issued_at=at)


_with = with_value


def test_a_built_record_is_valid_and_says_what_the_book_says():
    rec = sample_record(reviewed=((0, "scores.toan.hk1"), (-1, "full_name")))
    xml = _xml(rec, version=2, supersedes=f"{rec.record_id}:v1")
    validate_record_xml(xml)
    assert record_id_of(xml) == (rec.record_id, 2)
    root = etree.fromstring(xml)
    assert root.tag == Q + "Record" and xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    h = record_header(xml)
    assert h["supersedes"] == f"{rec.record_id}:v1"
    assert h["issued_at"] == "2026-05-21T03:04:05.123456Z"
    assert h["content_sha256"] == content_sha256(rec)
    assert root.findtext(f"{Q}Student/{Q}StudentId") == STUDENT
    assert root.findtext(f"{Q}Student/{Q}BirthDate") == "2009-09-05"  # dd/mm/yyyy → xs:date
    years = root.findall(f"{Q}SchoolYears/{Q}SchoolYear")
    assert [(y.get("startYear"), y.get("grade"), y.get("ruleSet")) for y in years] == [
        ("2018", "6", "TT58"), ("2019", "7", "TT58"), ("2020", "8", "TT58_TT26"), ("2021", "9", "TT58_TT26")]
    toan = years[0].find(f"{Q}Subjects/{Q}Subject[@code='toan']")
    page = rec.years[0].fields
    assert toan.get("name") == "Toán" and toan.get("assessment") == "score"
    assert toan.findtext(f"{Q}HK1") == page["scores.toan.hk1"].value.replace(",", ".")
    assert toan.findtext(f"{Q}CaNam") == page["scores.toan.ca_nam"].value.replace(",", ".")
    assert toan.find(f"{Q}Retest") is None  # no retest: no element
    the_duc = years[0].find(f"{Q}Subjects/{Q}Subject[@code='the_duc']")
    assert the_duc.get("assessment") == "comment" and the_duc.findtext(f"{Q}HK2") == "Đ"
    assert years[0].find(f"{Q}OverallAverage/{Q}CaNam") is not None  # ĐTB các môn (TT58)
    hk1 = years[0].find(f"{Q}Results/{Q}Result[@term='hk1']")
    assert hk1.find(f"{Q}Academic").get("field") == "hoc_luc" and hk1.findtext(f"{Q}Conduct") == "Tốt"
    assert years[0].findtext(f"{Q}Promotion") == "Được lên lớp"
    scans = root.findall(f"{Q}Sources/{Q}Scan")
    assert [(s.get("path"), s.get("sha256")) for s in scans] == [
        (s.file_path, s.file_sha256) for s in rec.scans]
    assert "Bản số hoá từ học bạ giấy" in root.findtext(f"{Q}Sources/{Q}Statement")
    prov = root.find(f"{Q}Provenance")
    total = len(rec.identity) + sum(len(y.fields) for y in rec.years)
    assert (int(prov.get("autoFields")), int(prov.get("reviewedFields"))) == (total - 2, 2)
    reviewed = {(r.get("page"), r.get("field"), r.get("by"), r.get("at")) for r in prov}
    assert reviewed == {(rec.identity_page_id, "full_name", "rv7", "2026-05-20T09:30:00Z"),
                        (rec.years[0].page_id, "scores.toan.hk1", "rv7", "2026-05-20T09:30:00Z")}


def test_tt22_and_thpt_books_are_valid_too():
    tt22 = sample_record("HB-0002", first_year=2021)  # grade 6 from 2021-22: TT22 every year
    root = etree.fromstring(_xml(tt22))
    years = root.findall(f"{Q}SchoolYears/{Q}SchoolYear")
    assert {y.get("ruleSet") for y in years} == {"TT22"}
    assert years[0].find(f"{Q}OverallAverage") is None  # no ĐTB in TT22
    r = years[0].find(f"{Q}Results/{Q}Result[@term='ca_nam']")
    assert r.find(f"{Q}Academic").get("field") == "ket_qua_hoc_tap"
    assert r.find(f"{Q}Conduct").get("field") == "ket_qua_ren_luyen"
    thpt = sample_record("HB-0003", first_year=2019, grades=(10, 11, 12))
    root = etree.fromstring(_xml(thpt))
    assert [y.get("template") for y in root.findall(f"{Q}SchoolYears/{Q}SchoolYear")] == [
        "year_thpt_tt58", "year_thpt_tt58", "year_thpt_tt58"]
    assert root.findtext(f"{Q}SchoolYears/{Q}SchoolYear/{Q}Stream") == "Cơ bản"


def test_records_built_from_the_stage_frames_equal_the_books():
    books = [sample_record("HB-0001"), sample_record("HB-0002", first_year=2021, reviewed=())]
    accepted, normalized, manifest = frames(books)
    built = build_records(accepted, normalized, manifest)
    assert built == books
    assert [content_sha256(b) for b in built] == [content_sha256(b) for b in books]
    assert built[0].record_id == f"{SCHOOL}-HB-0001"
    assert built[0].years[0].fields["scores.toan.hk1"].reviewed_at == REVIEWED_AT


def test_the_reviewed_school_year_and_class_decide_a_page_s_year_grade_and_rule_set():
    accepted, normalized, manifest = frames([sample_record()])
    page = sample_record().years[3].page_id  # 2021-22, grade 9: TT58_TT26
    accepted.loc[accepted["page_id"] == page, ["school_year", "grade"]] = pd.NA  # unreadable header…
    on_page = accepted["page_id"] == page
    accepted.loc[on_page & (accepted["field_id"] == "school_year"), "value"] = "2024-2025"
    accepted.loc[on_page & (accepted["field_id"] == "class_name"), "value"] = "9A2"
    (rec,) = build_records(accepted, normalized, manifest)
    y = rec.years[-1]
    assert (y.school_year, y.grade, y.rule_set) == (2024, 9, "TT22")  # …fixed by a reviewer: TT22 era


def test_the_batch_a_book_replaces_comes_from_scan_manifest():
    rec = dataclasses.replace(sample_record("HB-0001"), batch_id=f"{DISTRICT}/{SCHOOL}/2024-002",
                              replaces_batch_id=f"{DISTRICT}/{SCHOOL}/2024-001")
    accepted, normalized, manifest = frames([rec])
    (built,) = build_records(accepted, normalized, manifest)
    assert built.replaces_batch_id == rec.replaces_batch_id and content_sha256(built) == content_sha256(rec)
    (old,) = build_records(accepted, normalized, manifest.drop(columns=["replaces_batch_id"]))
    assert old.replaces_batch_id is None  # a table from before the column
    manifest.loc[manifest.index[0], "replaces_batch_id"] = f"{DISTRICT}/{SCHOOL}/2023-009"
    with pytest.raises(RecordInvalid, match="2 different batches in replaces_batch_id"):
        build_records(accepted, normalized, manifest)
    manifest["replaces_batch_id"] = rec.batch_id
    with pytest.raises(RecordInvalid, match="names the book's own batch"):
        build_records(accepted, normalized, manifest)


def test_a_book_that_cannot_be_a_record_is_reported_by_id_and_the_others_still_built():
    books = [sample_record("HB-0001"), sample_record("HB-0002")]
    accepted, normalized, manifest = frames(books)
    bad = books[1].years[0].page_id
    accepted.loc[accepted["page_id"] == bad, ["school_year", "grade"]] = pd.NA
    header = accepted["field_id"].isin(["school_year", "class_name"])
    accepted = accepted[~((accepted["page_id"] == bad) & header)]
    with pytest.raises(RecordInvalid, match=rf"record {SCHOOL}-HB-0002 .*page {bad}: no school year"):
        build_records(accepted, normalized, manifest)
    errors: list[RecordInvalid] = []
    built = build_records(accepted, normalized, manifest.iloc[1:], on_error=errors.append)
    assert [b.book_ref for b in built] == ["HB-0001"]
    assert [e.record_id for e in errors] == [f"{SCHOOL}-HB-0002"]
    assert built[0].scans == books[0].scans[1:]  # the manifest rows given, no more


def test_content_hash_is_the_data_s_not_the_version_s_or_time_s():
    rec = sample_record()
    h = content_sha256(rec)
    assert content_sha256(sample_record()) == h  # a re-run over the same values
    a, b = _xml(rec, 1, None, AT), _xml(rec, 3, f"{rec.record_id}:v2", AT + dt.timedelta(days=9))
    assert record_header(a)["content_sha256"] == record_header(b)["content_sha256"] == h
    changed = _with(rec, 1, "scores.toan.hk2", "4,5")
    assert content_sha256(changed) != h
    rescanned = dataclasses.replace(rec, scans=rec.scans[:-1])
    assert content_sha256(rescanned) != h  # the sources are part of the record
    # Unicode form is not content: a decomposed name hashes like the composed one, and the XML is NFC.
    name = "Nguyễn Thị Thuỷ"
    nfd = _with(rec, -1, "full_name", unicodedata.normalize("NFD", name))
    assert content_sha256(nfd) == content_sha256(_with(rec, -1, "full_name", name))
    assert etree.fromstring(_xml(nfd)).findtext(f"{Q}Student/{Q}FullName") == name


def _reviewed_again(fields: dict[str, FieldValue], by: str, at: dt.datetime) -> dict[str, FieldValue]:
    return {k: dataclasses.replace(f, source="review", reviewed_by=by, reviewed_at=at)
            for k, f in fields.items()}


def test_content_hash_is_the_same_book_s_in_another_batch_or_after_another_review():
    """The same book met in another batch of the school, or in a re-run whose reviews were made again,
    is the same record: the batch id, page ids, scan file names and review provenance are not content
    (they made two batches holding one book issue a new version at every re-run)."""
    rec = sample_record(reviewed=((0, "scores.toan.hk1"), (-1, "full_name")))
    h = content_sha256(rec)
    later = REVIEWED_AT + dt.timedelta(days=30)
    elsewhere = dataclasses.replace(
        rec, batch_id=f"{rec.district}/{rec.school}/2025-009", replaces_batch_id=rec.batch_id,
        identity_page_id="ffff-p000", identity=_reviewed_again(rec.identity, "rv9", later),
        years=tuple(dataclasses.replace(y, page_id=f"ffff-p{i + 1:03d}",
                                        fields=_reviewed_again(y.fields, "rv9", later))
                    for i, y in enumerate(reversed(rec.years))),
        scans=tuple(dataclasses.replace(s, file_path=f"quet-lai/{i}.tif") for i, s in enumerate(rec.scans)))
    assert content_sha256(elsewhere) == h
    # …while the documents still say where the version came from and who reviewed what
    root = etree.fromstring(_xml(elsewhere))
    assert root.findtext(f"{Q}Book/{Q}BatchId") == elsewhere.batch_id
    assert {e.get("by") for e in root.iter(f"{Q}Reviewed")} == {"rv9"}
    # an empty field is no content (the XML leaves it out too), a value in it is
    assert content_sha256(_with(rec, 1, "award", None)) == content_sha256(
        dataclasses.replace(rec, years=(rec.years[0], dataclasses.replace(rec.years[1], fields={
            k: f for k, f in rec.years[1].fields.items() if k != "award"}), *rec.years[2:])))
    assert content_sha256(_with(rec, 1, "award", "Học sinh giỏi")) != h
    # what the record says about the student and the paper it was read from is content
    assert content_sha256(dataclasses.replace(rec, student_id="001309099999")) != h
    assert content_sha256(dataclasses.replace(rec, scans=(*rec.scans[:-1], dataclasses.replace(
        rec.scans[-1], file_sha256="0" * 64)))) != h
    assert content_sha256(dataclasses.replace(rec, years=(dataclasses.replace(rec.years[0], rule_set="TT22"),
                                                          *rec.years[1:]))) != h
    # the hash under the old definition (kept to recognise versions issued with it) still saw the batch
    assert legacy_content_sha256(elsewhere) != legacy_content_sha256(rec)
    assert legacy_content_sha256(sample_record(reviewed=((0, "scores.toan.hk1"), (-1, "full_name")))) == \
        legacy_content_sha256(rec)


def test_the_xsd_rejects_a_broken_record_naming_the_record_but_not_the_value():
    rec = sample_record()
    root = etree.fromstring(_xml(rec))
    root.find(f"{Q}Student/{Q}BirthDate").text = "31/02/2009"
    with pytest.raises(RecordInvalid) as info:
        validate_record_xml(etree.tostring(root))
    assert info.value.record_id == rec.record_id and rec.record_id in str(info.value)
    assert "BirthDate" in str(info.value) and "31/02/2009" not in str(info.value)

    root = etree.fromstring(_xml(rec))
    root.find(f"{Q}SchoolYears/{Q}SchoolYear/{Q}Subjects/{Q}Subject/{Q}HK1").text = "10.5"  # above 10
    root.find(f"{Q}Header").remove(root.find(f"{Q}Header/{Q}IssuedAt"))
    with pytest.raises(RecordInvalid) as info:
        validate_record_xml(etree.tostring(root))
    assert len(info.value.errors) == 2 and any("IssuedAt" in e for e in info.value.errors)

    with pytest.raises(RecordInvalid, match="not well-formed"):
        validate_record_xml(b"<Record xmlns='urn:hocba:record:1'>")
    with pytest.raises(RecordInvalid, match="no hocba record header"):
        record_id_of(b"<other/>")


def test_record_xml_refuses_values_without_a_form_in_the_schema():
    rec = sample_record()
    bad = _with(_with(rec, 0, "scores.toan.hk1", "8,55"), -1, "birth_date", "5 tháng 9")
    with pytest.raises(RecordInvalid) as info:
        _xml(bad)
    assert info.value.errors == [f"page {rec.identity_page_id}: field birth_date is not a dd/mm/yyyy date",
                                 f"page {rec.years[0].page_id}: field scores.toan.hk1 is not a score"]
    with pytest.raises(RecordInvalid, match="Promotion"):  # not a promotion word: the XSD says so
        _xml(_with(rec, 2, "promotion", "Lên lớp thẳng"))


def test_fields_the_schema_does_not_name_are_kept_not_dropped():
    rec = _with(sample_record(), 1, "scores.tieng_phap.hk1", "7,0")
    field = etree.fromstring(_xml(rec)).find(f"{Q}SchoolYears/{Q}SchoolYear[2]/{Q}OtherFields/{Q}Field")
    assert (field.get("id"), field.text) == ("scores.tieng_phap.hk1", "7,0")


def test_an_enveloped_signature_is_allowed_as_the_last_child_and_nothing_else_is():
    root = etree.fromstring(_xml(sample_record()))
    sig = etree.SubElement(root, f"{{{DSIG}}}Signature")
    etree.SubElement(sig, f"{{{DSIG}}}SignedInfo")
    validate_record_xml(etree.tostring(root))  # signed XML passes the same check
    etree.SubElement(root, "{urn:other}Extra")
    with pytest.raises(RecordInvalid, match="Extra"):
        validate_record_xml(etree.tostring(root))


def test_the_schema_s_word_lists_are_the_contracts():
    xsd = etree.parse(str(XSD_PATH))
    xs = "{http://www.w3.org/2001/XMLSchema}"

    def enum(name: str) -> set[str]:
        t = xsd.find(f"{xs}simpleType[@name='{name}']")
        return {e.get("value") for e in t.iter(f"{xs}enumeration")}

    v = {k: set(voc.values) for k, voc in vocabularies().items()}
    assert enum("Level") == v["hoc_luc"] | v["hanh_kiem"] | v["tt22_level"]
    assert enum("Comment") == v["comment"]
    assert enum("Gender") == v["gender"]
    assert enum("Promotion") == v["promotion"]
    assert enum("CapHocTitle") == v["cap_hoc_title"]
    assert enum("RuleSet") == set(rule_sets())


def test_record_ids_are_safe_file_names():
    assert make_record_id("HN-BD-THCS01", "HB 0001/a") == "HN-BD-THCS01-HB_0001_a"
    assert make_record_id("S1", "Sổ-12") == "S1-S_-12"
    with pytest.raises(RecordInvalid):
        make_record_id("", "//")
