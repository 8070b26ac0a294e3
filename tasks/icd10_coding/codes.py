"""The ICD-10-CM code set, through the PyPI package `simple-icd-10-cm` (the CDC release it ships).

Everything here takes codes in any common spelling ("E11.9", "e119", " E11.9 ") and normalises
first. Vocabulary:

- *code-like*: letter, digit (or A), digit (or A/B), then optionally up to four more characters, with or
  without the dot (`looks_like_code`). Says nothing about existence.
- *valid*: a category, subcategory or full code present in the code set (chapters and blocks, such
  as "4" or "E08-E13", are not codes). E11 is valid but not billable.
- *billable*: a valid code with no children (a leaf of the tabular list).

The package parses its 10 MB XML on import (about 5 s), so it is imported on first use only;
`code_documents()` is built once per process and cached.
"""

from __future__ import annotations

import functools
import re
from types import ModuleType

# Second character: a digit, or A in the one category that has a letter there (QA0, new in 2026).
# Third character: a digit or, in a handful of categories (C4A, C7A, C7B, D3A, J4A, M1A, Z3A), A/B.
# Requiring that keeps prose like "T2DM" or "A1c" from looking like a code.
_CODE_RE = r"[A-Za-z][0-9Aa][0-9ABab](?:\.?[0-9A-Za-z]{1,4})?"
CODE_PATTERN = re.compile(rf"(?<![A-Za-z0-9.])({_CODE_RE})(?![A-Za-z0-9])")
_FULL = re.compile(rf"^{_CODE_RE}$")


@functools.cache
def _icd() -> ModuleType:
    import simple_icd_10_cm

    return simple_icd_10_cm


def normalize(code: str) -> str | None:
    """Canonical dotted upper-case form ("e119 " -> "E11.9"), or None if it is not code-like."""
    if not isinstance(code, str):
        return None
    text = re.sub(r"\s+", "", code).upper()
    if not _FULL.match(text):
        return None
    plain = text.replace(".", "")
    return plain if len(plain) <= 3 else f"{plain[:3]}.{plain[3:]}"


def looks_like_code(code: str) -> bool:
    return normalize(code) is not None


def _node_code(code: str) -> str | None:
    """The normalised code if it exists in the code set as a category or (sub)code."""
    norm = normalize(code)
    if norm is None:
        return None
    icd = _icd()
    # is_category/is_subcategory look at the node's own type, so a category that is alone in its
    # block (C7A, I10 in older releases) still counts, and chapters and blocks never do.
    if not (icd.is_category(norm) or icd.is_subcategory(norm)):
        return None
    return norm


def is_valid(code: str) -> bool:
    """True for any category, subcategory or code in the code set (billable or not)."""
    return _node_code(code) is not None


def is_billable(code: str) -> bool:
    norm = _node_code(code)
    return norm is not None and _icd().is_leaf(norm)


def description(code: str) -> str:
    """The official description; KeyError for a code not in the code set."""
    norm = _node_code(code)
    if norm is None:
        raise KeyError(code)
    return _icd().get_description(norm)


def inclusion_terms(code: str) -> list[str]:
    norm = _node_code(code)
    if norm is None:
        raise KeyError(code)
    return list(_icd().get_inclusion_term(norm))


def category(code: str) -> str | None:
    """The 3-character category ("E11.65" -> "E11") if that category exists, else None."""
    norm = normalize(code)
    if norm is None:
        return None
    cat = norm[:3]
    return cat if _icd().is_category(cat) else None


def block(code: str) -> str | None:
    """The block (section) holding the code's category, e.g. "E08-E13"; None if unknown."""
    cat = category(code)
    if cat is None:
        return None
    for anc in _icd().get_ancestors(cat):
        if _icd().is_block(anc) and not _icd().is_chapter(anc):
            return anc
    return None


def chapter(code: str) -> str | None:
    """The chapter number as a string ("4" for E11.9), from the 3-character category; None if unknown."""
    cat = category(code)
    if cat is None:
        return None
    return _icd().get_ancestors(cat)[-1]


def chapter_title(chapter_id: str) -> str:
    return _icd().get_description(chapter_id)


@functools.cache
def _documents() -> tuple[tuple[str, str], ...]:
    icd = _icd()
    docs = []
    seen: set[str] = set()
    for code in icd.get_all_codes(with_dots=True):
        # A block holding one category shares its name (B20, F99, R99, ...): list the code once.
        if code in seen or not icd.is_leaf(code) or not (icd.is_category(code) or icd.is_subcategory(code)):
            continue
        seen.add(code)
        text = f"{code} {icd.get_description(code)}"
        terms = icd.get_inclusion_term(code)
        if terms:
            text += ". Includes: " + "; ".join(terms)
        docs.append((code, text))
    return tuple(docs)


def code_documents() -> list[tuple[str, str]]:
    """(code, text) for every billable code (74,719 in the pinned release).

    The text is the code, its description and its inclusion terms.

    The retrieval corpus for the rag strategy. Built once per process (about 1 s after the code
    set is loaded) and cached; each call returns a fresh list over the cached tuples.
    """
    return list(_documents())


class ICD10CM:
    """The code system as the scorer in `harness.scoring.codes` sees it (duck-typed protocol)."""

    name = "ICD-10-CM"

    normalize = staticmethod(normalize)
    is_valid = staticmethod(is_valid)
    is_billable = staticmethod(is_billable)
    category = staticmethod(category)
    chapter = staticmethod(chapter)
