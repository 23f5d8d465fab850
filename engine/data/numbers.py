"""English number words as people say them ("twenty two", "one hundred forty four", "twenty third")."""

from __future__ import annotations

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL_ONES = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def number_words(n: int) -> str:
    """Spell 0 <= n < 10000 in words, without "and" ("one hundred five")."""
    if not 0 <= n < 10000:
        raise ValueError(f"number_words supports 0..9999, got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + ("" if rest == 0 else " " + number_words(rest))
    thousands, rest = divmod(n, 1000)
    return f"{_ONES[thousands]} thousand" + ("" if rest == 0 else " " + number_words(rest))


def ordinal_words(n: int) -> str:
    """Spell an ordinal 1 <= n < 100 ("first", "twenty third", "thirtieth")."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL_ONES:
        words[-1] = _ORDINAL_ONES[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(year: int) -> str:
    """Spell a year the way it is spoken: 2026 -> "twenty twenty six", 2005 -> "two thousand five"."""
    century, rest = divmod(year, 100)
    if rest < 10 and century % 10 == 0:  # 2000..2009 are said "two thousand five"
        return number_words(year)
    if rest == 0:
        tail = "hundred"
    elif rest < 10:
        tail = "oh " + number_words(rest)
    else:
        tail = number_words(rest)
    return f"{number_words(century)} {tail}"
