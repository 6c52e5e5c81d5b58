"""The tokenizer's affix and URL expressions, answered at once where they provably cannot match.

spaCy's English suffix rules are one expression of ~260 alternatives, each ending in ``$``, several
behind a lookbehind, so ``re`` tries every alternative at every position of the string: about 3 µs a
call, and a 1,500-word note makes ~300 calls on chunks the tokenizer has not cached (words keep being
new: numbers, dates, rare terms), ~0.9 ms a note; the prefix, infix and URL expressions add ~0.35 ms.
Most of those strings are plain words (ASCII letters) or plain numbers (ASCII digits), and no English
affix or URL rule can match such a string: each alternative needs punctuation, a symbol, an apostrophe,
a dot, or a digit before a unit ("5mg").  :func:`never_matches` checks that on the parsed expression
(conservatively: anything it cannot read counts as a possible match), and :class:`PlainTextShortcut`
skips the expression for those strings.  Likewise :func:`never_starts_in` shows that no suffix match
starts inside a leading word or number, so "pain," is searched from its comma, not from each of its
letters.  Every answer is the expression's own, so tokens are unchanged.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Any, Callable

from re import _constants as sre  # type: ignore[attr-defined]  # Python 3.11's expression parser
from re import _parser as sre_parse  # type: ignore[attr-defined]

from cac import scan

ASCII_LETTERS = frozenset(string.ascii_letters)
ASCII_DIGITS = frozenset(string.digits)
#: The tokenizer's expression callables and what each answers when nothing matches.
TOKENIZER_EXPRESSIONS: dict[str, Any] = {"prefix_search": None, "suffix_search": None, "infix_finditer": (),
                                         "url_match": None}


class _ShortcutCall:
    """``no_match`` at once for a non-empty string of ASCII letters only (``skip_letters``) or ASCII digits
    only (``skip_digits``); otherwise ``method``'s answer, from after the string's leading run of the
    characters of the first of ``runs`` (ASCII strings) it starts with.  The twin of
    ``cac._scan.PlainShortcut`` (compiled: spaCy calls it for every chunk it has not cached)."""

    def __init__(self, method: Callable[..., Any], no_match: Any, skip_letters: bool, skip_digits: bool,
                 runs: tuple[str, ...]) -> None:
        self.method = method
        self.no_match = no_match
        self.skip_letters = bool(skip_letters)
        self.skip_digits = bool(skip_digits)
        self.runs = runs

    def __call__(self, text: str, /) -> Any:
        if not isinstance(text, str):
            return self.method(text)
        if text.isascii() and ((self.skip_letters and text.isalpha()) or (self.skip_digits and text.isdigit())):
            return self.no_match
        for run in self.runs:
            skip = len(text) - len(text.lstrip(run))
            if skip:
                return self.method(text, skip)
        return self.method(text)


#: The call of :class:`PlainTextShortcut`: compiled when it can be (same answers).
_Call: type = scan.PlainShortcut or _ShortcutCall


class PlainTextShortcut(_Call):  # type: ignore[misc, valid-type]
    """One of the tokenizer's expression callables (``Pattern.search``, ``.match`` or ``.finditer``):
    ``no_match`` at once for a string of ASCII letters only (or ASCII digits only) when the expression
    provably never matches one, else the expression's own answer.  A ``search`` also starts after a
    leading run of ASCII letters (or digits) when no match of the expression can start inside such a
    run ("pain," is searched from its comma).  ``__self__`` is the compiled expression, as on the bound
    method spaCy keeps, so the tokenizer serializes as before."""

    def __init__(self, method: Callable[[str], Any], no_match: Any = None) -> None:
        pattern: re.Pattern[str] = method.__self__  # type: ignore[attr-defined]
        runs = (string.ascii_letters, string.digits) if getattr(method, "__name__", "") == "search" else ()
        super().__init__(method, no_match, never_matches(pattern, ASCII_LETTERS), never_matches(pattern, ASCII_DIGITS),
                         tuple(run for run in runs if never_starts_in(pattern, frozenset(run))))
        self.__self__ = pattern

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.method, self.no_match)


def shortcut(method: Callable[[str], Any] | None, no_match: Any = None) -> Callable[[str], Any] | None:
    """``method`` wrapped in a :class:`PlainTextShortcut` when that can skip anything, else unchanged."""
    pattern = getattr(method, "__self__", None)
    if method is None or not isinstance(pattern, re.Pattern) or isinstance(method, PlainTextShortcut):
        return method
    fast = PlainTextShortcut(method, no_match)
    return fast if fast.skip_letters or fast.skip_digits or fast.runs else method


def never_matches(pattern: re.Pattern[str], chars: frozenset[str]) -> bool:
    """True when ``pattern`` can match no part of a string made only of ``chars`` (a set of ASCII
    characters).  Conservative: an expression or flag it does not know makes it answer False."""
    parsed = _parsed(pattern)
    return parsed is not None and _excluded(list(parsed), chars)


def never_starts_in(pattern: re.Pattern[str], chars: frozenset[str]) -> bool:
    """True when no match of ``pattern`` can start at a character of ``chars`` that only characters of
    ``chars`` precede: in a string beginning with a run of ``chars``, every match starts after the run.
    Conservative, as :func:`never_matches`."""
    parsed = _parsed(pattern)
    if parsed is None:
        return False
    items = list(parsed)
    if len(items) == 1 and items[0][0] is sre.BRANCH:
        return all(_cannot_start(b, chars) for b in items[0][1][1])
    return _cannot_start(parsed, chars)


def _cannot_start(sub: Any, chars: frozenset[str]) -> bool:
    """True when the parsed expression ``sub`` cannot match text whose first character is in ``chars``
    and whose preceding text (if any) is all ``chars``: its zero-width lookbehinds need other text, or
    its first consumed character is never one of ``chars``."""
    for op, arg in list(sub):
        if op is sre.ASSERT:
            direction, inner = arg
            if direction == -1 and _excluded(list(inner), chars):
                return True
            continue  # satisfiable, or a lookahead: zero width
        if op in (sre.AT, sre.ASSERT_NOT):
            continue
        if op is sre.LITERAL:
            return chr(arg) not in chars
        if op is sre.IN:
            return not any(_accepts(arg, c) for c in chars)
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, inner = arg
            return not add_flags and not del_flags and inner.getwidth()[0] > 0 and _cannot_start(inner, chars)
        if op is sre.BRANCH:
            return all(b.getwidth()[0] > 0 and _cannot_start(b, chars) for b in arg[1])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _high, inner = arg
            return low >= 1 and inner.getwidth()[0] > 0 and _cannot_start(inner, chars)
        return False  # an expression not read here: assume a match may start with it
    return False  # nothing consumed: an empty match may start anywhere


@lru_cache(maxsize=32)
def _parsed(pattern: re.Pattern[str]) -> Any:
    """The parsed expression (parsed once: each expression is analysed for letters, digits and where a
    match may start), or None when its flags or text are beyond what this module reads."""
    if pattern.flags & (re.IGNORECASE | re.ASCII | re.LOCALE | re.VERBOSE) or not isinstance(pattern.pattern, str):
        return None
    try:
        return sre_parse.parse(pattern.pattern, pattern.flags)
    except (re.error, RecursionError):
        return None


def _excluded(items: list[tuple[Any, Any]], chars: frozenset[str]) -> bool:
    """True when the sequence ``items`` cannot match text made only of ``chars``, whatever text of
    ``chars`` precedes it: one of its required parts needs a character outside ``chars``."""
    for op, arg in items:
        if op is sre.LITERAL:
            if chr(arg) not in chars:
                return True
        elif op is sre.IN:
            if not any(_accepts(arg, c) for c in chars):
                return True
        elif op is sre.ASSERT:
            direction, sub = arg
            # a lookbehind needs the text before; at the start there is none, elsewhere it is ``chars``
            if direction == -1 and _excluded(list(sub), chars):
                return True
        elif op is sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = arg
            if not add_flags and not del_flags and _excluded(list(sub), chars):
                return True
        elif op is sre.BRANCH:
            _, branches = arg
            if all(_excluded(list(b), chars) for b in branches):
                return True
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _high, sub = arg
            if low >= 1 and _excluded(list(sub), chars):
                return True
        elif op not in (sre.AT, sre.ASSERT_NOT, sre.ANY, sre.NOT_LITERAL, sre.GROUPREF, sre.GROUPREF_EXISTS,
                        sre.ATOMIC_GROUP):
            return False  # an expression not read here: assume it may match
    return False


_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    sre.CATEGORY_DIGIT: str.isdigit,
    sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
}


def _accepts(items: list[tuple[Any, Any]], c: str) -> bool:
    """Whether the character set ``items`` (a parsed ``[...]``) accepts the ASCII character ``c``; True
    for anything not read here."""
    negate = bool(items) and items[0][0] is sre.NEGATE
    hit = False
    for op, arg in items[1:] if negate else items:
        if op is sre.LITERAL:
            hit = ord(c) == arg
        elif op is sre.RANGE:
            hit = arg[0] <= ord(c) <= arg[1]
        elif op is sre.CATEGORY and arg in _CATEGORIES:
            hit = _CATEGORIES[arg](c)
        else:
            return True
        if hit:
            break
    return hit != negate
