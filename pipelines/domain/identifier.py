"""The 12-digit personal identifier (mã định danh cá nhân): PPP C YY NNNNNN."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.contracts import provinces

_DIGITS12 = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class IdentifierParts:
    province: str
    century: int
    gender: str  # "male" | "female"
    birth_year: int
    serial: str


def compose(province: str, birth_year: int, gender: str, serial: int) -> str:
    century = birth_year // 100 * 100
    for digit, cg in provinces().century_gender_digit.items():
        if cg.century == century and cg.gender == gender:
            return f"{province}{digit}{birth_year % 100:02d}{serial:06d}"
    raise ValueError(f"no century/gender digit for {birth_year} {gender}")


def parse(identifier: str) -> IdentifierParts:
    """Split an identifier; raises ValueError naming what is wrong."""
    issues = check(identifier)
    if issues:
        raise ValueError("; ".join(issues))
    cg = provinces().century_gender_digit[identifier[3]]
    return IdentifierParts(
        province=identifier[:3],
        century=cg.century,
        gender=cg.gender,
        birth_year=cg.century + int(identifier[4:6]),
        serial=identifier[6:],
    )


def check(identifier: str, *, birth_year: int | None = None, gender: str | None = None) -> list[str]:
    """Structure problems, as short codes; [] when the identifier is plausible."""
    if not _DIGITS12.match(identifier or ""):
        return ["not_12_digits"]
    issues = []
    p = provinces()
    if identifier[:3] not in p.provinces:
        issues.append("unknown_province")
    cg = p.century_gender_digit.get(identifier[3])
    if cg is None:
        issues.append("bad_century_gender_digit")
        return issues
    if birth_year is not None and cg.century + int(identifier[4:6]) != birth_year:
        issues.append("birth_year_mismatch")
    if gender is not None and cg.gender != gender:
        issues.append("gender_mismatch")
    return issues
