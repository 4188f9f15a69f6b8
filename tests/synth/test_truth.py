"""The ground truth obeys the rules it is meant to test the pipeline against."""

from __future__ import annotations

import re
import unicodedata

import pytest

from pipelines.contracts import rule_sets, template, vocabularies
from pipelines.domain import grading, identifier
from pipelines.synth.truth import FIRST_GRADE, IDENTIFIER_PRINTED_FROM, build_district

SCORE = re.compile(r"^(10|\d),\d$")


@pytest.fixture(scope="module")
def district():
    return build_district(seed=3, schools=4, students=10)


def num(text: str) -> float:
    assert SCORE.match(text), text
    return float(text.replace(",", "."))


def test_schools_students_books(district):
    assert {s.cap_hoc for s in district.schools} == {"THCS", "THPT"}
    for s in district.schools:
        assert re.fullmatch(r"79760\d{3}", s.code)
        assert s.name.startswith(f"Trường {s.cap_hoc} ")
    assert len(district.students) == len(district.books) == 40
    assert len({s.student_id for s in district.students}) == 40
    for st in district.students:
        assert unicodedata.is_normalized("NFC", st.full_name)
        assert len(st.full_name.split()) >= 3  # họ + tên đệm + tên


def test_eras_covered(district):
    seen = {y.rule_set for b in district.books for y in b.years}
    assert seen == {"QD40", "TT58", "TT58_TT26", "TT22"}


def test_years_follow_era_table_and_cohort(district):
    students = {s.student_id: s for s in district.students}
    for b in district.books:
        st = students[b.student_id]
        g0 = FIRST_GRADE[b.cap_hoc]
        assert st.birth_date.year == b.first_year - (g0 + 5)
        assert len(b.years) == (4 if b.cap_hoc == "THCS" else 3)
        for k, y in enumerate(b.years):
            assert (y.school_year, y.grade) == (b.first_year + k, g0 + k)
            era = grading.era_for(y.school_year, y.grade)
            assert y.rule_set == era.rule_set
            assert y.template_id == f"year_{b.cap_hoc.lower()}_{era.layout_family}"
            assert y.values["school_year"] == f"{y.school_year}-{y.school_year + 1}"
            assert y.values["class_name"].startswith(str(y.grade))
            assert y.values["full_name"] == st.full_name
            assert re.fullmatch(rf"\d\d/05/{y.school_year + 1}", y.values["sign_date"])


def test_identifier_agrees_with_birth_year_and_gender(district):
    for st in district.students:
        assert identifier.check(st.identifier, birth_year=st.birth_date.year,
                                gender=st.gender) == []
    for b in district.books:
        ident = b.identity["identifier"]
        if b.first_year >= IDENTIFIER_PRINTED_FROM:
            assert ident == b.student_id
        else:
            assert ident == ""


def test_scores_and_classifications_recompute(district):
    checked = 0
    for b in district.books:
        for y in b.years:
            v = y.values
            rs = rule_sets()[y.rule_set]
            subjects = grading.subjects_for(y.rule_set, b.cap_hoc)
            terms: dict[str, tuple[dict, dict]] = {t: ({}, {}) for t in ("hk1", "hk2", "ca_nam")}
            for s in subjects:
                if s.assessment == "score":
                    hk1, hk2 = num(v[f"scores.{s.code}.hk1"]), num(v[f"scores.{s.code}.hk2"])
                    ca = num(v[f"scores.{s.code}.ca_nam"])
                    assert ca == grading.year_average(hk1, hk2)  # Cả năm = (HK I + 2 HK II) / 3
                    for t, x in (("hk1", hk1), ("hk2", hk2), ("ca_nam", ca)):
                        terms[t][0][s.code] = x
                else:
                    for t in terms:
                        assert v[f"scores.{s.code}.{t}"] in ("Đ", "CĐ")
                        terms[t][1][s.code] = v[f"scores.{s.code}.{t}"]
            for t, (scores, comments) in terms.items():
                expect = grading.classify_academic(y.rule_set, scores, comments)
                assert v[f"results.{t}.{rs.academic_field}"] == expect
                if rs.has_overall_average:
                    assert num(v[f"scores.dtb.{t}"]) == grading.overall_average(scores)
                else:
                    assert f"scores.dtb.{t}" not in v
            c1, c2 = v[f"results.hk1.{rs.conduct_field}"], v[f"results.hk2.{rs.conduct_field}"]
            whole_year = grading.conduct_year(y.rule_set, c1, c2)
            assert v[f"results.ca_nam.{rs.conduct_field}"] == whole_year
            checked += 1
    assert checked > 100


def test_promotion_consistent(district):
    for b in district.books:
        for k, y in enumerate(b.years):
            v = y.values
            rs = rule_sets()[y.rule_set]
            ok = grading.promoted(y.rule_set, v[f"results.ca_nam.{rs.academic_field}"],
                                  v[f"results.ca_nam.{rs.conduct_field}"], int(v["absences"]))
            assert ok == y.promoted
            assert v["promotion"] in vocabularies()["promotion"].values
            retest_cells = [f for f, x in v.items() if f.endswith(".retest") and x]
            if k == len(b.years) - 1:
                assert v["promotion"] == "Hoàn thành chương trình" and ok
            elif ok:
                assert v["promotion"] == "Được lên lớp" and not retest_cells
            else:  # failed the academic bar, retook the weak subjects in summer
                assert v["promotion"] == "Kiểm tra lại" and retest_cells


def test_values_fill_template_fields(district):
    vocab = vocabularies()
    for b in district.books:
        for page in b.pages:
            tpl = template(page.template_id)
            specs = {s.field_id: s for s in tpl.field_specs()}
            assert set(page.values) == set(specs)
            for fid, text in page.values.items():
                assert unicodedata.is_normalized("NFC", text)
                s = specs[fid]
                closed = s.vocabulary in vocab and s.vocabulary != "dan_toc"  # dan_toc is open
                if text and s.type in ("enum", "grade_enum") and closed:
                    assert text in vocab[s.vocabulary].values, (fid, text)
                if text and s.type == "date":
                    assert re.fullmatch(r"\d\d/\d\d/\d{4}", text)
        ident = b.identity
        assert ident["gender"] in ("Nam", "Nữ")
        n = len(b.years)
        for k in range(1, 5):
            row = [ident[f"history.y{k}.{c}"] for c in ("school_year", "class_name",
                                                         "school_name", "register_no")]
            assert all(row) if k <= n else not any(row)


def test_deterministic():
    a = build_district(seed=11, schools=2, students=3)
    b = build_district(seed=11, schools=2, students=3)
    c = build_district(seed=12, schools=2, students=3)
    assert a == b
    assert [x.identity for x in a.books] == [x.identity for x in b.books]
    assert [x.identity for x in a.books] != [x.identity for x in c.books]
