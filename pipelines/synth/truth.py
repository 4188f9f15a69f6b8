"""The synthetic district's ground truth: schools, students and the text of every book.

Pure data, no images. Every value is the exact text written into a template
field (scores with a decimal comma, "" for an empty cell), and every book obeys
the era's rules (pipelines/domain/grading.py): Cả năm, ĐTB, classifications,
whole-year conduct and promotion are computed, not sampled.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from faker.providers.person.vi_VN import Provider as _ViPerson

from pipelines.contracts import provinces, rule_sets, template, vocabularies
from pipelines.contracts.fields import AVERAGE_ROW, RETEST, SCORES, TERMS, YEAR_TERM, FieldId
from pipelines.domain import grading
from pipelines.domain.identifier import compose

# --- names ----------------------------------------------------------------------
# Faker's vi_VN person data, widened: its lists are short (10 family names), and a
# few given names with oa/uy syllables are added so tone-placement variants occur.
FAMILY_NAMES = (
    *_ViPerson.last_names, "Huỳnh", "Phan", "Võ", "Đỗ", "Hồ", "Ngô", "Lý", "Trương", "Đinh",
)
FAMILY_WEIGHTS = tuple(8.0 if n == "Nguyễn" else 2.0 if n in ("Trần", "Lê") else 1.0
                       for n in FAMILY_NAMES)
MIDDLE_MALE = tuple(sorted(
    {m for m in _ViPerson.middle_names if m not in ("Thị", "Mai", "Mai Bảo")}
    | {"Văn", "Minh", "Quốc", "Gia", "Thanh", "Nhật", "Anh", "Hoàng"}
))
MIDDLE_FEMALE = tuple(sorted(
    {"Thị", "Ngọc", "Thanh", "Thu", "Kim", "Bảo", "Phương", "Mai", "Thùy"}
))
GIVEN_MALE = tuple(sorted(
    {*_ViPerson.first_names_male, *_ViPerson.first_names_unisex, "Hòa", "Thụy", "Toàn", "Long"}
))
GIVEN_FEMALE = tuple(sorted(
    {*_ViPerson.first_names_female, *_ViPerson.first_names_unisex, "Thúy", "Thủy", "Hòa", "Trang"}
))

SCHOOL_EPONYMS = (
    "Nguyễn Du", "Lê Quý Đôn", "Trần Hưng Đạo", "Chu Văn An", "Nguyễn Trãi", "Lê Lợi",
    "Võ Trường Toản", "Trần Phú", "Nguyễn Thị Minh Khai", "Lương Thế Vinh", "Đoàn Thị Điểm",
    "Nguyễn Bỉnh Khiêm", "Hai Bà Trưng", "Lý Thường Kiệt", "Trần Quốc Toản", "Phan Bội Châu",
    "Nguyễn Văn Tố", "Minh Đức", "Văn Lang", "Huỳnh Khương Ninh", "Đức Trí", "Bùi Thị Xuân",
    "Trưng Vương", "Nguyễn Hiền", "Trần Văn Ơn", "Lê Hồng Phong", "Nguyễn Khuyến", "Tân Định",
)
JOBS = (
    "Công nhân", "Buôn bán", "Nội trợ", "Giáo viên", "Kinh doanh", "Công chức", "Lái xe",
    "Kỹ sư", "Bác sĩ", "Thợ may", "Lao động tự do", "Nhân viên văn phòng", "Nông dân",
)
HCM_WARDS = (
    "Phường Bến Nghé", "Phường Bến Thành", "Phường Cầu Kho", "Phường Cầu Ông Lãnh",
    "Phường Cô Giang", "Phường Đa Kao", "Phường Nguyễn Cư Trinh", "Phường Nguyễn Thái Bình",
    "Phường Phạm Ngũ Lão", "Phường Tân Định",
)
HCM_DISTRICTS = ("Quận 1", "Quận 3", "Quận 5", "Quận 7", "Quận 10", "Quận Bình Thạnh",
                 "Quận Gò Vấp", "Huyện Nhà Bè", "Quận Tân Bình", "Quận Phú Nhuận")
DISTRICT_NAMES = {"760": "Quận 1", "770": "Quận 3", "774": "Quận 5", "778": "Quận 7"}
STREETS = ("Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Pasteur", "Điện Biên Phủ", "Trần Hưng Đạo",
           "Nguyễn Đình Chiểu", "Cách Mạng Tháng Tám", "Lý Tự Trọng", "Nguyễn Trãi")
ETHNIC_MINORITIES = ("Hoa", "Khmer", "Tày", "Nùng", "Mường", "Thái")

REMARKS_GOOD = (
    "Ngoan, lễ phép, học tập chăm chỉ.", "Có ý thức tự giác, kết quả học tập tốt.",
    "Tích cực tham gia các hoạt động của lớp.", "Học lực tốt, cần phát huy.",
    "Chăm chỉ, có tinh thần giúp đỡ bạn bè.",
)
REMARKS_MID = (
    "Chăm ngoan, cần cố gắng hơn ở một số môn.", "Có tiến bộ trong học tập.",
    "Hòa đồng với bạn bè, cần mạnh dạn phát biểu.", "Cần rèn thêm kỹ năng tự học.",
)
REMARKS_LOW = (
    "Cần cố gắng nhiều hơn trong học tập.", "Cần tập trung hơn trong giờ học.",
    "Cần chú ý làm bài tập ở nhà đầy đủ.",
)

# Era buckets of a book's first school year, per cấp học. A book spans 4 (THCS) or
# 3 (THPT) years and every year must end by 2024-25, the last finished school year.
ERA_BUCKETS: dict[str, dict[str, tuple[int, int]]] = {
    "THCS": {"qd40": (2003, 2011), "tt58": (2012, 2016), "tt26": (2017, 2020),
             "tt22": (2021, 2021)},
    "THPT": {"qd40": (2003, 2011), "tt58": (2012, 2017), "tt26": (2018, 2021),
             "tt22": (2022, 2022)},
}
BUCKET_WEIGHTS = {"qd40": 0.3, "tt58": 0.3, "tt26": 0.25, "tt22": 0.15}
FIRST_GRADE = {"THCS": 6, "THPT": 10}
YEARS = {"THCS": 4, "THPT": 3}
MAX_SCHOOLS = 599 - 400  # school codes <province><district>401 … 599
MAX_STUDENTS = 9999  # book refs HB-<school>-0001 … 9999
IDENTIFIER_PRINTED_FROM = 2016  # books begun earlier leave "Mã định danh" blank
# Share of non-final years ending in "Kiểm tra lại": not promoted, retest column filled.
RETEST_YEAR_RATE = 0.03
COMMENT_FAIL_RATE = 0.01  # a comment subject marked CĐ in a term


@dataclass(frozen=True)
class School:
    code: str
    name: str
    cap_hoc: str
    district: str
    province: str
    principals: tuple[tuple[int, str], ...]
    """(from school year, name), oldest first."""
    software_from: int
    """School year from which the school printed its records from software."""
    classes_per_grade: int

    def principal_at(self, year: int) -> str:
        name = self.principals[0][1]
        for start, who in self.principals:
            if year >= start:
                name = who
        return name


@dataclass(frozen=True)
class Student:
    student_id: str
    """The 12-digit personal identifier (also the student's key in the truth files)."""
    family_name: str
    middle_name: str
    given_name: str
    gender: str  # "male" | "female"
    birth_date: date
    ethnicity: str
    birth_place: str
    home_town: str
    address: str
    father_name: str
    father_job: str
    mother_name: str
    mother_job: str
    guardian_name: str
    school: str

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.family_name, self.middle_name, self.given_name) if p)

    @property
    def identifier(self) -> str:
        return self.student_id


@dataclass(frozen=True)
class YearTruth:
    school_year: int
    grade: int
    class_name: str
    rule_set: str
    layout_family: str
    template_id: str
    promoted: bool
    values: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class PageTruth:
    book_page_no: int
    template_id: str
    school_year: int | None
    """Start year of the page's school year; None for the identity page."""
    values: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class BookTruth:
    book_ref: str
    student_id: str
    school: str
    district: str
    cap_hoc: str
    first_year: int
    identity: dict[str, str] = field(hash=False)
    years: tuple[YearTruth, ...] = ()

    @property
    def pages(self) -> tuple[PageTruth, ...]:
        out = [PageTruth(1, "identity", None, self.identity)]
        for i, y in enumerate(self.years):
            out.append(PageTruth(i + 2, y.template_id, y.school_year, y.values))
        return tuple(out)

    @property
    def last_class(self) -> str:
        return self.years[-1].class_name


@dataclass(frozen=True)
class District:
    code: str
    province: str
    schools: tuple[School, ...]
    students: tuple[Student, ...]
    books: tuple[BookTruth, ...]
    """One per student, in school order; whether it reaches the scanner is decided later."""


# --- helpers ---------------------------------------------------------------------
def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def fmt_score(v: float) -> str:
    """8.5 → "8,5": one decimal, decimal comma, as written in the books."""
    return f"{v:.1f}".replace(".", ",")


def fmt_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def school_year_text(start: int) -> str:
    return f"{start}-{start + 1}"


def _person_name(
    rng: random.Random, gender: str, family: str | None = None
) -> tuple[str, str, str]:
    fam = family or rng.choices(FAMILY_NAMES, FAMILY_WEIGHTS)[0]
    if gender == "male":
        mid, given = rng.choice(MIDDLE_MALE), rng.choice(GIVEN_MALE)
    else:
        mid, given = rng.choice(MIDDLE_FEMALE), rng.choice(GIVEN_FEMALE)
    return nfc(fam), nfc(mid), nfc(given)


def _adult_name(rng: random.Random) -> str:
    return " ".join(_person_name(rng, rng.choice(("male", "female"))))


def _cap_hoc_title(cap_hoc: str) -> str:
    for e in vocabularies()["cap_hoc_title"].entries:
        if cap_hoc in e.variants:
            return e.value
    raise ValueError(f"vocabulary cap_hoc_title has no entry for {cap_hoc}")


GENDER_TEXT = {"male": "Nam", "female": "Nữ"}


# --- the district ------------------------------------------------------------------
def build_district(
    *, seed: int, schools: int, students: int, district: str = "760", province: str = "079"
) -> District:
    """Schools (THCS and THPT), ``students`` per school, and one finished book each."""
    if not (1 <= schools <= MAX_SCHOOLS and 1 <= students <= MAX_STUDENTS):
        raise ValueError(f"schools must be within 1..{MAX_SCHOOLS} and students per school "
                         f"within 1..{MAX_STUDENTS}, got {schools} and {students}")
    rng = random.Random(f"hocba-synth:{seed}:{district}")
    school_list = _schools(rng, schools, district, province)
    used_ids: set[str] = set()
    all_students: list[Student] = []
    books: list[BookTruth] = []
    k = 0
    buckets = list(BUCKET_WEIGHTS)
    cycle = rng.sample(buckets, len(buckets))  # the first books cover every era
    for school in school_list:
        for i in range(students):
            bucket = cycle[k] if k < len(cycle) else rng.choices(
                buckets, [BUCKET_WEIGHTS[b] for b in buckets])[0]
            k += 1
            lo, hi = ERA_BUCKETS[school.cap_hoc][bucket]
            first_year = rng.randint(lo, hi)
            student = _student(rng, school, first_year, province, used_ids)
            all_students.append(student)
            books.append(_book(rng, school, student, first_year, f"HB-{school.code}-{i + 1:04d}"))
    return District(district, province, tuple(school_list), tuple(all_students), tuple(books))


def _schools(rng: random.Random, n: int, district: str, province: str) -> list[School]:
    names = rng.sample(SCHOOL_EPONYMS, min(n, len(SCHOOL_EPONYMS)))
    out = []
    for i in range(n):
        cap = "THPT" if i % 3 == 1 else "THCS"  # both kinds from two schools on
        eponym = names[i] if i < len(names) else f"Số {i + 1}"
        changes = sorted(rng.sample(range(2005, 2023), 2))
        principals = ((1990, _adult_name(rng)), (changes[0], _adult_name(rng)),
                      (changes[1], _adult_name(rng)))
        out.append(School(
            code=f"{province[-2:]}{district}{401 + i:03d}",
            name=nfc(f"Trường {cap} {eponym}"),
            cap_hoc=cap,
            district=district,
            province=province,
            principals=principals,
            software_from=rng.randint(2008, 2014),
            classes_per_grade=rng.randint(4, 10),
        ))
    return out


def _place(rng: random.Random, code: str) -> str:
    name = provinces().provinces[code]
    if code == "079":
        return f"{rng.choice(HCM_DISTRICTS)}, {name}"
    return name if name.startswith("TP") else f"tỉnh {name}"


def _student(
    rng: random.Random, school: School, first_year: int, province: str, used: set[str]
) -> Student:
    gender = rng.choice(("male", "female"))
    fam, mid, given = _person_name(rng, gender)
    birth_year = first_year - (FIRST_GRADE[school.cap_hoc] + 5)
    born = date(birth_year, 1, 1).toordinal() + rng.randrange(365)
    birth = date.fromordinal(born)
    codes = sorted(provinces().provinces)
    reg = province if rng.random() < 0.85 else rng.choice(codes)
    while True:
        ident = compose(reg, birth_year, gender, rng.randrange(1_000_000))
        if ident not in used:
            used.add(ident)
            break
    ethnicity = "Kinh" if rng.random() < 0.9 else rng.choice(ETHNIC_MINORITIES)
    father_fam, father_mid, father_given = _person_name(rng, "male", fam)
    mother = " ".join(_person_name(rng, "female"))
    guardian = _adult_name(rng) if rng.random() < 0.08 else ""
    district_name = DISTRICT_NAMES.get(school.district, f"Quận {school.district}")
    address = (f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(HCM_WARDS)}, "
               f"{district_name}, {provinces().provinces[province]}")
    return Student(
        student_id=ident,
        family_name=fam,
        middle_name=mid,
        given_name=given,
        gender=gender,
        birth_date=birth,
        ethnicity=ethnicity,
        birth_place=nfc(_place(rng, reg if rng.random() < 0.8 else province)),
        home_town=nfc(_place(rng, rng.choice(codes))),
        address=nfc(address),
        father_name=nfc(f"{father_fam} {father_mid} {father_given}"),
        father_job=rng.choice(JOBS),
        mother_name=nfc(mother),
        mother_job=rng.choice(JOBS),
        guardian_name=nfc(guardian),
        school=school.code,
    )


def _book(rng: random.Random, school: School, st: Student, first_year: int, ref: str) -> BookTruth:
    cap = school.cap_hoc
    n_years = YEARS[cap]
    g0 = FIRST_GRADE[cap]
    section = rng.randint(1, school.classes_per_grade)
    ability = min(9.6, max(4.8, rng.gauss(6.9, 1.0)))
    aptitude: dict[str, float] = {}
    register_no = str(rng.randint(1, 900))
    years = []
    for k in range(n_years):
        y = first_year + k
        grade = g0 + k
        final = k == n_years - 1
        years.append(_year(rng, school, st, y, grade, f"{grade}A{section}", ability, aptitude,
                           final))
    identity = _identity(rng, school, st, first_year, years, register_no)
    return BookTruth(ref, st.student_id, school.code, school.district, cap, first_year,
                     identity, tuple(years))


def _identity(
    rng: random.Random, school: School, st: Student, first_year: int,
    years: list[YearTruth], register_no: str,
) -> dict[str, str]:
    tpl = template("identity")
    v = {s.field_id: "" for s in tpl.field_specs()}
    v.update({
        "cap_hoc_title": _cap_hoc_title(school.cap_hoc),
        "identifier": st.identifier if first_year >= IDENTIFIER_PRINTED_FROM else "",
        "full_name": st.full_name,
        "gender": GENDER_TEXT[st.gender],
        "birth_date": fmt_date(st.birth_date),
        "ethnicity": st.ethnicity,
        "nationality": "Việt Nam",
        "birth_place": st.birth_place,
        "home_town": st.home_town,
        "address": st.address,
        "father_name": st.father_name,
        "father_job": st.father_job,
        "mother_name": st.mother_name,
        "mother_job": st.mother_job,
        "guardian_name": st.guardian_name,
        "sign_date": fmt_date(date(first_year, 9, rng.randint(1, 15))),
        "principal_name": school.principal_at(first_year),
    })
    for i, y in enumerate(years):
        row = f"y{i + 1}"
        v[str(FieldId.history(row, "school_year"))] = school_year_text(y.school_year)
        v[str(FieldId.history(row, "class_name"))] = y.class_name
        v[str(FieldId.history(row, "school_name"))] = school.name
        v[str(FieldId.history(row, "register_no"))] = register_no
    _check_keys(tpl.template_id, v)
    return v


def _check_keys(template_id: str, values: dict[str, str]) -> None:
    known = {s.field_id for s in template(template_id).field_specs()}
    extra = set(values) - known
    if extra:
        raise ValueError(f"{template_id}: values for unknown fields {sorted(extra)}")


# --- one school year -----------------------------------------------------------------
def _term_score(rng: random.Random, mu: float) -> float:
    return min(10.0, max(0.5, round(rng.gauss(mu, 0.45), 1)))


def _conduct_terms(rng: random.Random, levels: list[str]) -> tuple[str, str]:
    i1 = rng.choices((0, 1, 2), (0.72, 0.22, 0.06))[0]
    i2 = i1 if rng.random() < 0.65 else min(2, max(0, i1 + rng.choice((-1, 1))))
    return levels[i1], levels[i2]


def _absences(rng: random.Random) -> int:
    return 0 if rng.random() < 0.35 else min(30, int(rng.expovariate(1 / 3)) + 1)


@dataclass
class _Draft:
    hk1: dict[str, float]
    hk2: dict[str, float]
    ca_nam: dict[str, float]
    c1: dict[str, str]
    c2: dict[str, str]
    cn: dict[str, str]
    academic: dict[str, str]
    conduct: dict[str, str]
    absences: int
    promoted: bool


def _draft(rng: random.Random, rule_set: str, subjects, mu: float,
           aptitude: dict[str, float]) -> _Draft:
    rs = rule_sets()[rule_set]
    hk1, hk2, cn = {}, {}, {}
    c1, c2, cc = {}, {}, {}
    for s in subjects:
        if s.assessment == "score":
            if s.code not in aptitude:  # a lasting strength or weakness in the subject
                aptitude[s.code] = rng.gauss(0, 0.7)
            m = mu + aptitude[s.code]
            a = _term_score(rng, m)
            b = _term_score(rng, m + 0.1)
            hk1[s.code], hk2[s.code] = a, b
            cn[s.code] = grading.year_average(a, b)
        else:
            c1[s.code] = "CĐ" if rng.random() < COMMENT_FAIL_RATE else "Đ"
            c2[s.code] = "CĐ" if rng.random() < COMMENT_FAIL_RATE else "Đ"
            cc[s.code] = c2[s.code]  # the whole-year comment follows HK II
    academic = dict(zip(TERMS, (grading.classify_academic(rule_set, hk1, c1),
                                grading.classify_academic(rule_set, hk2, c2),
                                grading.classify_academic(rule_set, cn, cc)), strict=True))
    h1, h2 = _conduct_terms(rng, vocabularies()[rs.conduct_vocabulary].values)
    conduct = dict(zip(TERMS, (h1, h2, grading.conduct_year(rule_set, h1, h2)), strict=True))
    absences = _absences(rng)
    ok = grading.promoted(rule_set, academic[YEAR_TERM], conduct[YEAR_TERM], absences)
    return _Draft(hk1, hk2, cn, c1, c2, cc, academic, conduct, absences, ok)


def _year(
    rng: random.Random, school: School, st: Student, year: int, grade: int, class_name: str,
    ability: float, aptitude: dict[str, float], final: bool,
) -> YearTruth:
    era = grading.era_for(year, grade)
    cap = school.cap_hoc
    tid = f"year_{cap.lower()}_{era.layout_family}"
    tpl = template(tid)
    subjects = grading.subjects_for(era.rule_set, cap)
    scores_table = next(t for t in tpl.tables if t.id == SCORES)
    rows = [r.key for r in tpl.table_rows(scores_table) if r.key not in
            {e.key for e in scores_table.extra_rows}]
    if rows != [s.code for s in subjects]:
        raise ValueError(f"{tid}: table rows differ from the {era.rule_set} subjects")
    rs = rule_sets()[era.rule_set]
    mu = ability + rng.gauss(0, 0.3)

    retest = not final and rng.random() < RETEST_YEAR_RATE
    draft = None
    if retest:
        # A weak year: the student fails the academic bar (conduct and attendance fine),
        # retakes the weak subjects in summer and moves up: promotion says "Kiểm tra lại".
        for _ in range(40):
            d = _draft(rng, era.rule_set, subjects, mu - 2.5, aptitude)
            acad_ok = grading.promoted(era.rule_set, d.academic[YEAR_TERM],
                                       vocabularies()[rs.conduct_vocabulary].values[0], 0)
            conduct_ok = grading.promoted(
                era.rule_set, rs.promotion.min_academic, d.conduct[YEAR_TERM], d.absences
            )
            if not acad_ok and conduct_ok and _retest_items(d):
                draft = d
                break
    if draft is None:
        retest = False
        for attempt in range(200):
            d = _draft(rng, era.rule_set, subjects, mu + 0.1 * attempt, aptitude)
            if d.promoted:
                draft = d
                break
        else:  # pragma: no cover - the ability floor makes this unreachable
            raise RuntimeError("could not draw a promoted school year")

    v = {s.field_id: "" for s in tpl.field_specs()}
    v.update({
        "full_name": st.full_name,
        "class_name": class_name,
        "school_year": school_year_text(year),
        "absences": str(draft.absences),
        "sign_date": fmt_date(date(year + 1, 5, rng.randint(20, 31))),
        "homeroom_teacher_name": _adult_name(rng),
        "principal_name": school.principal_at(year),
        "corrections": "" if rng.random() < 0.2 else "0",
    })
    # _Draft's per-term dicts, in the order of TERMS.
    per_term = zip(TERMS, (draft.hk1, draft.hk2, draft.ca_nam), (draft.c1, draft.c2, draft.cn), strict=True)
    for term, scores, comments in per_term:
        for code, val in scores.items():
            v[str(FieldId.score(code, term))] = fmt_score(val)
        for code, text in comments.items():
            v[str(FieldId.score(code, term))] = text
        if rs.has_overall_average:
            v[str(FieldId.score(AVERAGE_ROW, term))] = fmt_score(grading.overall_average(scores))
        v[str(FieldId.result(term, rs.academic_field))] = draft.academic[term]
        v[str(FieldId.result(term, rs.conduct_field))] = draft.conduct[term]

    if retest:
        for code in _retest_items(draft):
            retaken = fmt_score(round(rng.uniform(5.0, 7.5), 1)) if code in draft.ca_nam else "Đ"
            v[str(FieldId.score(code, RETEST))] = retaken
        v["promotion"] = "Kiểm tra lại"
    else:
        v["promotion"] = "Hoàn thành chương trình" if final else "Được lên lớp"

    level = vocabularies()[rs.academic_vocabulary].rank(draft.academic[YEAR_TERM])
    v["award"] = _award(era.rule_set, draft)
    pool = REMARKS_GOOD if level == 0 else REMARKS_MID if level == 1 else REMARKS_LOW
    v["teacher_remark"] = " ".join(rng.sample(pool, rng.choice((1, 1, 2))))
    if cap == "THPT":
        v["stream"], v["advanced_subjects"] = _stream(rng, era.layout_family)
    _check_keys(tid, v)
    return YearTruth(year, grade, class_name, era.rule_set, era.layout_family, tid,
                     draft.promoted, v)


def _retest_items(d: _Draft) -> list[str]:
    """Subjects retaken after a failed year: scored below 5,0 or comment CĐ."""
    return [c for c, x in d.ca_nam.items() if x < 5.0] + [c for c, x in d.cn.items() if x == "CĐ"]


def _award(rule_set: str, d: _Draft) -> str:
    rs = rule_sets()[rule_set]
    a = vocabularies()[rs.academic_vocabulary].rank(d.academic[YEAR_TERM])
    c = vocabularies()[rs.conduct_vocabulary].rank(d.conduct[YEAR_TERM])
    if rs.has_overall_average:  # QĐ40 / TT58: giỏi needs Giỏi + Tốt, tiên tiến Khá + Khá
        if a == 0 and c == 0:
            return "Học sinh giỏi"
        if a <= 1 and c <= 1:
            return "Học sinh tiên tiến"
        return ""
    if a == 0 and c == 0:  # TT22
        top = sum(1 for x in d.ca_nam.values() if x >= 9.0)
        return "Học sinh Xuất sắc" if top >= 6 else "Học sinh Giỏi"
    return ""


def _stream(rng: random.Random, layout_family: str) -> tuple[str, str]:
    if layout_family == "tt22":  # the 2018 programme has elective combinations, no "Ban"
        return "", ""
    stream = rng.choices(("Cơ bản", "KHTN", "KHXH-NV"), (0.6, 0.25, 0.15))[0]
    advanced = {
        "Cơ bản": ("", "Toán, Vật lí, Hóa học"),
        "KHTN": ("Toán, Vật lí, Hóa học, Sinh học",),
        "KHXH-NV": ("Ngữ văn, Lịch sử, Địa lí, Ngoại ngữ",),
    }[stream]
    return stream, rng.choice(advanced)
