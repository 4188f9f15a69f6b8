"""Vietnamese text utilities: NFC, tone placement, keys, names, legacy encodings."""

from __future__ import annotations

import unicodedata

import pytest

from pipelines.validate import text as t
from pipelines.validate.text import (
    canonical_tones,
    detect_legacy,
    fix_legacy,
    from_legacy,
    loose_key,
    match_key,
    nfc,
    title_name,
)

# Every Vietnamese letter outside ASCII, built independently of the module's tables:
# 12 vowels x 6 tones, less the 6 plain ASCII vowels, plus đ: 67 lowercase, 67 uppercase.
VOWELS = "aăâeêioôơuưy"
TONES = ("", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323")
LOWER = sorted(
    {unicodedata.normalize("NFC", v + tone) for v in VOWELS for tone in TONES} - set("aeiouy") | {"đ"}
)
UPPER = [c.upper() for c in LOWER]
TCVN3_CAPITALS = set("ĂÂÊÔƠƯĐ")  # the only capitals TCVN3 has codes for


def encode(s: str, encoding: str) -> str:
    """Test encoder: the inverse of the decoding tables (TCVN3 capitals use the small-letter codes)."""
    table = t.TCVN3_ENCODE if encoding == "tcvn3" else t.VNI_ENCODE
    return "".join(table.get(c) or table.get(c.lower(), c) if not c.isascii() else c for c in s)


def test_letter_set_is_complete():
    assert len(LOWER) == len(UPPER) == 67
    for letter in LOWER + UPPER:
        assert letter in t.VNI_ENCODE
        assert letter.lower() in t.TCVN3_ENCODE


def test_tables_are_one_to_one():
    for table in (t.TCVN3_ENCODE, t.VNI_ENCODE):
        assert len(set(table.values())) == len(table)
    # TCVN3: one byte in 0xA1-0xFE per letter; VNI: one or two cp1252 characters.
    for letter, code in t.TCVN3_ENCODE.items():
        assert len(code) == 1 and (code == letter or 0xA1 <= ord(code) <= 0xFE)
        code.encode("latin-1")
    for code in t.VNI_ENCODE.values():
        assert 1 <= len(code) <= 2
        code.encode("cp1252")


def test_nfc_composes_and_collapses_space():
    decomposed = unicodedata.normalize("NFD", "Nguyễn")
    assert decomposed != "Nguyễn"
    assert nfc(f"  {decomposed}\t Văn \n An ") == "Nguyễn Văn An"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("hoà", "hòa"),
        ("thuỷ", "thủy"),
        ("khoẻ", "khỏe"),
        ("Thuỳ", "Thùy"),
        ("khoá", "khóa"),
        ("huỷ", "hủy"),
        ("Hoạ", "Họa"),
        ("HOÀ", "HÒA"),
        ("Khánh Hoà, 2020", "Khánh Hòa, 2020"),
        ("hoàng", "hoàng"),  # final consonant: the tone stays on a
        ("Huỳnh", "Huỳnh"),
        ("quý", "quý"),  # qu is the onset: the tone belongs to y
        ("khuỷu", "khuỷu"),  # third vowel
        ("hòa", "hòa"),  # already in the chosen style
        ("Huế", "Huế"),  # uê is not one of the rhymes
    ],
)
def test_canonical_tones(old, new):
    assert canonical_tones(old) == new


def test_canonical_tones_returns_nfc():
    assert canonical_tones(unicodedata.normalize("NFD", "Hoà")) == "Hòa"


def test_match_key_equates_tone_styles_case_and_spacing():
    assert match_key("Nguyễn Thị Hoà") == match_key("NGUYỄN  thị hòa") == "nguyễn thị hòa"
    assert match_key("Thuỷ") == match_key("Thủy")
    assert match_key(unicodedata.normalize("NFD", "Lâm")) == match_key("Lâm")


def test_match_key_keeps_diacritics():
    assert match_key("quyết") != match_key("quyet")
    assert match_key("Lâm") != match_key("Lam")


def test_match_key_reads_eth_as_d_bar():
    assert match_key("ÐỨC") == match_key("Đức")


def test_loose_key_drops_all_marks():
    assert loose_key("Lâm") == loose_key("Lam") == "lam"
    assert loose_key("quyết") == loose_key("quyet")
    assert loose_key("Đặng Thị Hoà") == "dang thi hoa"


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("nguyễn văn AN", "Nguyễn Văn An"),
        ("  đỗ   thị  hoà ", "Đỗ Thị Hoà"),  # tone style kept as written
        ("ÂU DƯƠNG ÉN", "Âu Dương Én"),
        ("lê thị-hoa", "Lê Thị-Hoa"),
    ],
)
def test_title_name(raw, name):
    assert title_name(raw) == name


@pytest.mark.parametrize("letter", LOWER)
def test_tcvn3_round_trip_small_letters(letter):
    assert from_legacy(encode(letter, "tcvn3"), "tcvn3") == letter


@pytest.mark.parametrize("letter", UPPER)
def test_tcvn3_round_trip_capitals(letter):
    # TCVN3 capitals with a tone exist only inside capitalized words (set in the capitals font).
    word = f"NG{letter}N"
    assert from_legacy(encode(word, "tcvn3"), "tcvn3") == word
    if letter in TCVN3_CAPITALS:
        assert from_legacy(encode(letter, "tcvn3"), "tcvn3") == letter


@pytest.mark.parametrize("letter", LOWER + UPPER)
def test_vni_round_trip(letter):
    assert from_legacy(encode(letter, "vni"), "vni") == letter
    assert from_legacy(encode(f"x{letter}x", "vni"), "vni") == f"x{letter}x"


NAMES = [
    "Nguyễn Văn An",
    "Trần Thị Thu Hương",
    "Lê Hoàng Phúc",
    "Phạm Đức Thắng",
    "Đỗ Thị Mỹ Duyên",
    "Bùi Thị Thuỷ",
    "Đặng Văn Lâm",
    "Ngô Quyết Thắng",
    "Lý Tự Trọng",
    "Khánh Hoà",
    "Trường THCS Lê Lợi",
    "HOÀNG THỊ HOÀ",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_real_names_are_detected_and_decoded(name, encoding):
    legacy = encode(name, encoding)
    assert legacy != name
    assert detect_legacy(legacy) == encoding
    assert fix_legacy(legacy) == (name, encoding)


@pytest.mark.parametrize(
    ("legacy", "encoding", "text"),
    [
        # strings as they appear in old exports, written out by hand (not by the test encoder)
        ("NguyÔn V¨n An", "tcvn3", "Nguyễn Văn An"),
        ("Hµ Néi", "tcvn3", "Hà Nội"),
        ("§¹i häc", "tcvn3", "Đại học"),
        ("ViÖt Nam", "tcvn3", "Việt Nam"),
        ("Tr\u00adêng", "tcvn3", "Trường"),
        ("NGUYÔN V¡N AN", "tcvn3", "NGUYỄN VĂN AN"),
        ("Nguyeãn Vaên An", "vni", "Nguyễn Văn An"),
        ("Vieät Nam", "vni", "Việt Nam"),
        ("Ñaïi hoïc", "vni", "Đại học"),
        ("TRÖÔØNG", "vni", "TRƯỜNG"),
        ("Aùnh", "vni", "Ánh"),  # a capital with a small mark
    ],
)
def test_known_legacy_strings(legacy, encoding, text):
    assert fix_legacy(legacy) == (text, encoding)


@pytest.mark.parametrize(
    "s",
    [
        *NAMES,
        "",
        "Hello World 123",
        "hoà bé tí",  # only latin-1 letters, old tone style: still Unicode
        "KHOÁ HỌC",
        "Xuân Quê Tiên Nguyên",
        "café crème",
        unicodedata.normalize("NFD", "Nguyễn Văn An"),
    ],
)
def test_detection_does_not_fire_on_unicode_or_ascii(s):
    assert detect_legacy(s) == "unicode"
    assert fix_legacy(s) == (nfc(s), "unicode")
