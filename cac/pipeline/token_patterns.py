"""Token patterns of literal words with ``?``, ``*`` and ``+``, matched without spaCy's ``Matcher``.

The ConText rules' patterns name words only (``{"LOWER": "no"}``, ``{"LOWER": {"IN": [...]}}``), with
operators.  Those that expand to a bounded set of phrases go to a ``PhraseMatcher``; those with ``*``
or ``+`` cannot, and spaCy's ``Matcher`` tests every pattern at every token of a note, calling a Python
predicate for each ``IN`` set (about 1.8 ms on a 1,500-word note for one rule).  Here a pattern is
anchored on its first word (a hash lookup per token) and only walked where that word occurs.  Like the
``Matcher`` without ``greedy``, every ``(key, start, end)`` a pattern can match is returned.  The tokens
that begin a pattern are found with one array test per attribute (``numpy.isin``), not a lookup per token.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from spacy.attrs import LOWER, ORTH
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

_ATTRS = {"LOWER": LOWER, "ORTH": ORTH, "TEXT": ORTH}
_OPS = (None, "?", "*", "+")
#: The longest match, in tokens: a trigger phrase is a few words, and a walk never runs far into a note.
MAX_SPAN = 64

#: One compiled token: the hashes it accepts and its operator (None: exactly once).
Step = tuple[frozenset[int], str | None]


def literal_token(token: Any) -> tuple[str, list[str], str | None] | None:
    """``(attr, words, op)`` of a literal token pattern (``{"LOWER": "no"}``, ``{"ORTH": {"IN": [...]}}``,
    with an optional ``"OP"`` of ``?``, ``*`` or ``+``): ``attr`` is ``"LOWER"`` (words lower-cased) or
    ``"ORTH"``; ``None`` for any other token pattern."""
    if not isinstance(token, dict):
        return None
    op = token.get("OP")
    keys = [k for k in token if k != "OP"]
    if op not in _OPS or len(keys) != 1 or keys[0] not in _ATTRS:
        return None
    attr = "LOWER" if keys[0] == "LOWER" else "ORTH"
    value = token[keys[0]]
    values = value["IN"] if isinstance(value, dict) and set(value) == {"IN"} else [value]
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        return None
    return attr, [v.lower() for v in values] if attr == "LOWER" else list(values), op


def literal_steps(pattern: Sequence[Any], vocab: Vocab) -> tuple[str, list[Step]] | None:
    """``(attr, steps)`` for a pattern of literal tokens on one attribute (``+`` becomes one step and a
    ``*`` step), its first token required; ``None`` when the pattern needs spaCy's ``Matcher``."""
    attr: str | None = None
    steps: list[Step] = []
    for token in pattern:
        parsed = literal_token(token)
        if parsed is None or not parsed[1] or attr not in (None, parsed[0]):
            return None
        attr, values, op = parsed
        accepted = frozenset(vocab.strings.add(v) for v in values)
        if op == "+":
            steps += [(accepted, None), (accepted, "*")]
        else:
            steps.append((accepted, op))
    if attr is None or not steps or steps[0][1] is not None:
        return None
    return attr, steps


class LiteralPatternMatcher:
    """Finds :func:`literal_steps` patterns in a doc: ``matcher(doc) -> [(key, start, end)]``."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        self._anchors: dict[str, dict[int, list[tuple[int, list[Step]]]]] = {}  # attr -> first hash -> patterns
        self._first: dict[str, np.ndarray] = {}  # attr -> the first words' hashes as an array (built on use)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, key: str, pattern: Sequence[Any]) -> bool:
        """Add ``pattern`` under ``key``; False (nothing added) when it is not a literal pattern."""
        compiled = literal_steps(pattern, self.vocab)
        if compiled is None:
            return False
        attr, steps = compiled
        entry = (self.vocab.strings.add(key), steps)
        by_first = self._anchors.setdefault(attr, {})
        for h in steps[0][0]:
            by_first.setdefault(h, []).append(entry)
        self._first.pop(attr, None)
        self._n += 1
        return True

    def __call__(self, doclike: Doc | Span) -> list[tuple[int, int, int]]:
        """Matches as ``(key, start, end)``; on a ``Span``, offsets count from the span's start (as the
        ``Matcher``'s do)."""
        doc = doclike.doc if isinstance(doclike, Span) else doclike
        out: list[tuple[int, int, int]] = []
        for attr, by_first in self._anchors.items():
            array = doc.to_array(_ATTRS[attr])
            if isinstance(doclike, Span):
                array = array[doclike.start : doclike.end]
            first = self._first.get(attr)
            if first is None:
                first = self._first[attr] = np.fromiter(by_first, dtype=np.uint64, count=len(by_first))
            starts = np.flatnonzero(np.isin(array, first)).tolist()
            if not starts:
                continue
            values = array.tolist()
            for i in starts:
                entries = by_first[values[i]]
                stop = min(len(values), i + MAX_SPAN)
                for key, steps in entries:
                    for end in sorted(_ends(steps, values, i + 1, 1, stop)):
                        out.append((key, i, end))
        return out


def _ends(steps: list[Step], values: list[int], i: int, k: int, stop: int) -> set[int]:
    """End positions (at most ``stop``) where ``steps[k:]`` can match starting at token ``i``."""
    if k == len(steps):
        return {i}
    accepted, op = steps[k]
    hit = i < stop and values[i] in accepted
    if op is None:
        return _ends(steps, values, i + 1, k + 1, stop) if hit else set()
    out = _ends(steps, values, i, k + 1, stop)  # "?" and "*": zero occurrences
    if hit:
        out |= _ends(steps, values, i + 1, k + 1 if op == "?" else k, stop)
    return out
