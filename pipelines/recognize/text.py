"""A recognizer's raw text as stored: NFC, white space collapsed, look-alike letters folded."""

from __future__ import annotations

import unicodedata

# Letters engines emit for look-alikes outside the Vietnamese alphabet.
_HOMOGLYPHS = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111"})  # Ð ð (eth) -> Đ đ


def clean_text(raw: str | None, trim: str = "") -> str:
    """NFC, white space collapsed, eth read as đ, and ``trim`` characters stripped from both ends."""
    text = unicodedata.normalize("NFC", " ".join((raw or "").split())).translate(_HOMOGLYPHS)
    return text.strip(trim + " ") if trim else text
