"""Vietnamese text utilities: NFC, tone placement, name keys, legacy (TCVN3 / VNI) encodings."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Encoding = Literal["unicode", "tcvn3", "vni"]

_SPACE = re.compile(r"\s+")
# Tone marks in NFD, in the column order of the legacy tables below: none, grave, hook, tilde, acute, dot.
_TONES = ("", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323")
_TONE_SET = frozenset(_TONES[1:])


def nfc(s: str) -> str:
    """NFC, white space collapsed to single spaces, stripped."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", s)).strip()


# --- tone placement ----------------------------------------------------------------------------------------
# Open rhymes oa / oe / uy take the tone on either vowel (hoà / hòa): both are correct Vietnamese.
# One style is chosen for keys, the tone on the first vowel (hòa, khỏe, thủy). A final consonant
# (hoàng, huỳnh) or a third vowel (khuỷu) fixes the tone on the second vowel, so those stay; after q the
# u belongs to the onset (quý), so it stays too.
_OPEN_RHYME = re.compile(r"(?<![qQ])([oOuU])(\w)(?!\w)")
_RHYMES = {"o": "ae", "u": "y"}


def _move_tone(m: re.Match[str]) -> str:
    first, second = m.group(1), m.group(2)
    base, *marks = unicodedata.normalize("NFD", second)
    if len(marks) != 1 or marks[0] not in _TONE_SET or base.lower() not in _RHYMES[first.lower()]:
        return m.group(0)
    return unicodedata.normalize("NFC", first + marks[0]) + base


def canonical_tones(s: str) -> str:
    """``s`` in NFC with the tone of open oa/oe/uy rhymes on the first vowel: hoà → hòa, thuỷ → thủy."""
    return _OPEN_RHYME.sub(_move_tone, unicodedata.normalize("NFC", s))


# --- keys and names ----------------------------------------------------------------------------------------
# Tesseract writes Đ as the Icelandic eth (same glyph); for Vietnamese text they are one letter.
_ETH = str.maketrans({"Ð": "Đ", "ð": "đ"})


def fix_eth(s: str) -> str:
    return s.translate(_ETH)


def match_key(s: str) -> str:
    """Key to compare names: NFC, one tone style, casefolded, single spaces. Keeps diacritics."""
    return nfc(canonical_tones(fix_eth(nfc(s)))).casefold()


def strip_marks(s: str) -> str:
    """All diacritics removed, đ → d (NFC in, NFC out)."""
    bare = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare.replace("đ", "d").replace("Đ", "D"))


def loose_key(s: str) -> str:
    """``match_key`` without diacritics: a key for fuzzy candidates only (Lâm and Lam collide)."""
    return strip_marks(match_key(s))


def title_name(s: str) -> str:
    """A person's name tidied: NFC, single spaces, each word (and hyphenated part) capitalized."""
    return " ".join("-".join(p.capitalize() for p in w.split("-")) for w in nfc(s).split(" "))


# --- legacy encodings --------------------------------------------------------------------------------------
# Each row: the toneless Unicode letter, then its code in the tone order of _TONES.
# TCVN3 (ABC, TCVN 5712 VN3): one byte per letter, shown as the latin-1 character of the byte.
# It has codes for lowercase letters only (plus 7 uppercase toneless ones); uppercase text was
# set in a separate font (.VnTimeH) that draws the lowercase codes as capitals.
_TCVN3_ROWS = """
a a µ ¶ · ¸ ¹
ă ¨ » ¼ ½ ¾ Æ
â © Ç È É Ê Ë
e e Ì Î Ï Ð Ñ
ê ª Ò Ó Ô Õ Ö
i i × Ø Ü Ý Þ
o o ß á â ã ä
ô « å æ ç è é
ơ ¬ ê ë ì í î
u u ï ñ ò ó ô
ư \u00ad õ ö ÷ ø ù
y y ú û ü ý þ
đ ®
Ă ¡
Â ¢
Ê £
Ô ¤
Ơ ¥
Ư ¦
Đ §
"""
# VNI-Windows: a base letter followed by mark codes (cp1252 characters); i, ơ, ư, đ and ỵ have
# one-character forms. Uppercase letters use the uppercase of every code (AÙ = Á, Ö = Ư).
_VNI_ROWS = """
a a aø aû aõ aù aï
ă aê aè aú aü aé aë
â aâ aà aå aã aá aä
e e eø eû eõ eù eï
ê eâ eà eå eã eá eä
i i ì æ ó í ò
o o oø oû oõ où oï
ô oâ oà oå oã oá oä
ơ ô ôø ôû ôõ ôù ôï
u u uø uû uõ uù uï
ư ö öø öû öõ öù öï
y y yø yû yõ yù î
đ ñ
"""


def _rows(text: str) -> dict[str, str]:
    """Unicode letter → legacy code, from a table of rows."""
    table: dict[str, str] = {}
    for row in text.strip().splitlines():
        letter, *codes = row.split(" ")
        for tone, code in zip(_TONES, codes, strict=False):
            table[unicodedata.normalize("NFC", letter + tone)] = code
    return table


TCVN3_ENCODE: dict[str, str] = _rows(_TCVN3_ROWS)
VNI_ENCODE: dict[str, str] = _rows(_VNI_ROWS)
VNI_ENCODE |= {k.upper(): v.upper() for k, v in VNI_ENCODE.items()}
# Decoding tables: code → letter. ASCII codes (plain a, e, …) decode to themselves anyway.
_TCVN3_DECODE = {v: k for k, v in TCVN3_ENCODE.items() if not v.isascii()}
_VNI_DECODE = {v: k for k, v in VNI_ENCODE.items() if not v.isascii()}
# A title-case VNI word may carry lowercase marks on a capital (Aùnh for Ánh): decode by the base's case.
_VNI_DECODE |= {v[0] + v[1:].lower(): k for k, v in VNI_ENCODE.items() if len(v) == 2 and v[0].isupper()}

# Latin-1 letters that Unicode Vietnamese uses itself: alone they prove no legacy encoding.
_VI_LATIN1 = frozenset("àáâãèéêìíòóôõùúýÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ")
# Vietnamese letters beyond latin-1 (ă, đ, ĩ, ũ, ơ, ư, ễ, …, combining marks) only occur in Unicode text.
_UNICODE_VI = re.compile(r"[ăĂđĐĩĨũŨơƠưƯ\u1ea0-\u1ef9\u0300-\u0323]")
_TCVN3_ONLY = frozenset(_TCVN3_DECODE) - _VI_LATIN1
# TCVN3 toned letters look like latin-1 capitals: a capital right after a small letter (NguyÔn).
_TCVN3_MIDWORD = re.compile(r"(?<=[a-z])[ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝ]")
# VNI pairs are evidence, except o + à/á/ã: Unicode writes those too (hoà, khoá, hoãn; VNI ồ, ố, ỗ).
_VNI_PAIRS = frozenset(k for k in _VNI_DECODE if len(k) == 2 and not (k[0] in "oO" and k[1] in "àáãÀÁÃ"))
_VNI_ONLY = frozenset("ñöæîÑÖÆÎ")  # đ, ư, ỉ, ỵ: never letters of Unicode Vietnamese


def _vni_evidence(s: str) -> int:
    pairs = sum(2 for i in range(len(s) - 1) if s[i : i + 2] in _VNI_PAIRS)
    return pairs + sum(c in _VNI_ONLY for c in s)


def _tcvn3_evidence(s: str) -> int:
    return sum(c in _TCVN3_ONLY for c in s) + len(_TCVN3_MIDWORD.findall(s))


def _leftover(s: str) -> int:
    """Latin-1 characters that are no Vietnamese letter: a wrong decoding leaves these behind."""
    return sum("\u0080" <= c <= "\u00ff" and c not in _VI_LATIN1 for c in s)


def detect_legacy(s: str) -> Encoding:
    """Which encoding ``s`` is in; ``unicode`` unless a legacy encoding leaves clear traces."""
    if s.isascii() or _UNICODE_VI.search(s):
        return "unicode"
    tcvn3, vni = _tcvn3_evidence(s), _vni_evidence(s)
    if not (tcvn3 or vni):
        return "unicode"
    if tcvn3 != vni:
        return "tcvn3" if tcvn3 > vni else "vni"
    return "tcvn3" if _leftover(from_legacy(s, "tcvn3")) <= _leftover(from_legacy(s, "vni")) else "vni"


_WORD = re.compile(r"[^\s\d.,;:!?()/\"-]+")


def _decode_tcvn3(s: str) -> str:
    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        out = "".join(_TCVN3_DECODE.get(c, c) for c in w)
        # An all-capitals word (NGUYÔN) was set in the capitals font: its toned codes are capitals too.
        letters = [c for c in w if c.isascii() and c.isalpha()]
        return out.upper() if len(letters) >= 2 and all(c.isupper() for c in letters) else out

    return _WORD.sub(word, s)


def _decode_vni(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        if s[i : i + 2] in _VNI_DECODE:
            out.append(_VNI_DECODE[s[i : i + 2]])
            i += 2
        else:
            out.append(_VNI_DECODE.get(s[i], s[i]))
            i += 1
    return "".join(out)


def from_legacy(s: str, encoding: Encoding) -> str:
    """``s`` converted from ``encoding`` to Unicode NFC (white space kept)."""
    if encoding == "tcvn3":
        s = _decode_tcvn3(s)
    elif encoding == "vni":
        s = _decode_vni(s)
    return unicodedata.normalize("NFC", s)


def fix_legacy(s: str) -> tuple[str, str]:
    """(``s`` in Unicode NFC, the encoding it was detected in)."""
    encoding = detect_legacy(s)
    return nfc(from_legacy(s, encoding)), encoding
