"""Kazakhstan IIN/BIN: checksum, gender, masking, and finding them in OCR text."""

from __future__ import annotations

import re
from dataclasses import dataclass

_WEIGHTS_1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_WEIGHTS_2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def checksum_digit(first11: str) -> int | None:
    """The 12th digit for the first 11 digits, or None when no valid control digit exists."""
    digits = [int(c) for c in first11]
    for weights in (_WEIGHTS_1, _WEIGHTS_2):
        control = sum(d * w for d, w in zip(digits, weights)) % 11
        if control != 10:
            return control
    return None


def has_valid_checksum(number: str) -> bool:
    """True for a 12-digit string whose control digit is right (IIN and BIN share the algorithm)."""
    if len(number) != 12 or not number.isdigit():
        return False
    return checksum_digit(number[:11]) == int(number[11])


def is_bin(number: str) -> bool:
    """A BIN (legal entity) has 4, 5 or 6 as its 5th digit; in an IIN that digit starts the day (0-3)."""
    return len(number) == 12 and number[4] in "456"


def is_valid_iin(number: str) -> bool:
    """A personal IIN: 12 digits, valid checksum, plausible birth date and a century/gender digit 1-6."""
    if not has_valid_checksum(number) or is_bin(number):
        return False
    month, day = int(number[2:4]), int(number[4:6])
    return 1 <= month <= 12 and 1 <= day <= 31 and number[6] in "123456"


def is_female(iin: str) -> bool | None:
    """Gender from the 7th digit (odd = male, even = female); None when the digit says nothing."""
    if len(iin) < 7 or iin[6] not in "123456":
        return None
    return int(iin[6]) % 2 == 0


def mask_iin(iin: str) -> str:
    """``960125000123`` -> ``9601******23``: safe for logs and tags."""
    s = str(iin)
    if len(s) <= 6:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 6) + s[-2:]


DIGIT_LOOKALIKES = str.maketrans({
    "O": "0", "o": "0", "О": "0", "о": "0", "D": "0", "Q": "0",
    "I": "1", "l": "1", "|": "1", "i": "1", "І": "1", "і": "1", "!": "1",
    "З": "3", "з": "3",
    "Б": "6", "б": "6",
    "S": "5", "s": "5",
    "B": "8", "В": "8",
    "Z": "2", "z": "2",
    "g": "9", "q": "9",
    "T": "7",
})

# A run of digits (and digit look-alikes) with single spaces, dots or dashes between groups.
_DIGITISH = "[0-9OoОоDQIl|iІіЗзБбSsBВZzgqT!]"
_CANDIDATE = re.compile(rf"(?<![\w])({_DIGITISH}(?:[ \u00a0.\-]?{_DIGITISH}){{10,15}})(?![\w])")


@dataclass(frozen=True)
class FoundNumber:
    """A 12-digit number found in text: ``kind`` is 'iin', 'bin' or 'invalid' (checksum fails)."""

    number: str
    kind: str
    start: int
    end: int
    raw: str


def find_numbers(text: str) -> list[FoundNumber]:
    """Find IIN/BIN-like 12-digit numbers in OCR text, tolerating spacing and digit look-alikes.

    Only runs that contain at least 8 real digits are considered, so words are not read as numbers.
    """
    found: list[FoundNumber] = []
    for m in _CANDIDATE.finditer(text):
        raw = m.group(1)
        if sum(c.isdigit() for c in raw) < 8:
            continue
        digits = re.sub(r"[ \u00a0.\-]", "", raw).translate(DIGIT_LOOKALIKES)
        if not digits.isdigit() or len(digits) != 12:
            continue
        if not has_valid_checksum(digits):
            kind = "invalid"
        elif is_bin(digits):
            kind = "bin"
        elif is_valid_iin(digits):
            kind = "iin"
        else:  # a valid checksum by chance (1 in 11) on digits glued from a date or a number: no birth date
            kind = "invalid"
        found.append(FoundNumber(digits, kind, m.start(1), m.end(1), raw))
    return found
