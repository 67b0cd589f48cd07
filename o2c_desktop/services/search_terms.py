"""Folding text into search terms: lower case, accents stripped, split into words.

"Zürich Ödön Łukasz GmbH" -> zurich, odon, lukasz, gmbh; "C-000123" -> c, 000123, c000123.
Queries are folded the same way, and each query word must be a prefix of some term.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SPECIAL = str.maketrans({"ł": "l", "ø": "o", "ß": "ss", "đ": "d", "æ": "ae", "œ": "oe", "ı": "i"})
MAX_TERM = 64


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_SPECIAL))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str | None) -> list[str]:
    return [w[:MAX_TERM] for w in _WORD.findall(fold(text or ""))]


def terms_for(number: str, names: Iterable[str | None], tax_id: str | None) -> set[str]:
    terms = set(words(number))
    compact = "".join(words(number))
    if compact:
        terms.add(compact[:MAX_TERM])
    for name in names:
        terms.update(words(name))
    if tax_id:
        terms.update(words(tax_id))
        compact_tax = "".join(words(tax_id))
        if compact_tax:
            terms.add(compact_tax[:MAX_TERM])
    return terms


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
