"""Token patterns of literal words with ``?``, ``*`` and ``+``, matched without spaCy's ``Matcher``.

The ConText rules' patterns name words only (``{"LOWER": "no"}``, ``{"LOWER": {"IN": [...]}}``), with
operators.  Those that expand to a bounded set of phrases go to a ``PhraseMatcher``; those with ``*``
or ``+`` cannot, and spaCy's ``Matcher`` tests every pattern at every token of a note, calling a Python
predicate for each ``IN`` set (about 1.8 ms on a 1,500-word note for one rule).  Here a pattern is
anchored on its first word (a hash lookup per token) and only walked where that word occurs.  Like the
``Matcher`` without ``greedy``, every ``(key, start, end)`` a pattern can match is returned.  The tokens
that begin a pattern are found with array operations per attribute, and the tokens are read as the numbers
of the pattern words they are (small ints), not as 64-bit hashes.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from cac.pipeline.extensions import token_hash_array

_ATTRS = frozenset({"LOWER", "ORTH", "TEXT"})  # the token attributes a literal pattern may name
_OPS = (None, "?", "*", "+")
#: The longest match, in tokens: a trigger phrase is a few words, and a walk never runs far into a note.
MAX_SPAN = 64

_LOW = 0xFFFF  # the hash bits a pattern word is first looked up by

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
        self._coded: dict[str, _Coded] = {}  # attr -> the patterns over word numbers (built on use)
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
        self._coded.pop(attr, None)
        self._n += 1
        return True

    def __call__(self, doclike: Doc | Span) -> list[tuple[int, int, int]]:
        """Matches as ``(key, start, end)``; on a ``Span``, offsets count from the span's start (as the
        ``Matcher``'s do)."""
        doc = doclike.doc if isinstance(doclike, Span) else doclike
        out: list[tuple[int, int, int]] = []
        for attr in self._anchors:
            coded = self._coded.get(attr)
            if coded is None:
                coded = self._coded[attr] = _Coded(self._anchors[attr])
            array = token_hash_array(doc, attr == "LOWER")
            if isinstance(doclike, Span):
                array = array[doclike.start : doclike.end]
            place, known = coded.number(array)
            starts = np.flatnonzero(known & coded.begins[place]).tolist()
            if not starts:
                continue
            values = np.where(known, place, -1).tolist()  # small ints (-1: no pattern word), not 64-bit hashes
            by_first = coded.by_first
            for i in starts:
                entries = by_first[values[i]]
                stop = min(len(values), i + MAX_SPAN)
                for key, steps in entries:
                    for end in sorted(_ends(steps, values, i + 1, 1, stop)):
                        out.append((key, i, end))
        return out


class _Coded:
    """One attribute's patterns over word numbers: every word the patterns name, sorted by hash (``words``),
    is numbered by its place, so a note's tokens become small ints (-1 for the others) that are cheap to
    read; ``begins`` marks the words a pattern begins with, ``by_first`` maps those to their patterns (in
    the order added), each step's accepted hashes as numbers."""

    def __init__(self, by_first: dict[int, list[tuple[int, list[Step]]]]) -> None:
        hashes = {h for entries in by_first.values() for _, steps in entries for accepted, _ in steps for h in accepted}
        self.words = np.asarray(sorted(hashes), dtype=np.uint64)
        number = {h: k for k, h in enumerate(sorted(hashes))}
        self.begins = np.zeros(max(len(hashes), 1), dtype=bool)
        self.by_first: dict[int, list[tuple[int, list[Step]]]] = {}
        for h, entries in by_first.items():
            self.begins[number[h]] = True
            self.by_first[number[h]] = [(key, [(frozenset(number[x] for x in accepted), op) for accepted, op in steps])
                                        for key, steps in entries]
        # the words' numbers by the low 16 bits of their hashes, when no two share them (else a search)
        low = self.words & np.uint64(_LOW)
        self.by_low: np.ndarray | None = None
        if len(np.unique(low)) == len(low):
            self.by_low = np.full(_LOW + 1, -1, dtype=np.int16 if len(low) < 2**15 else np.intp)
            self.by_low[low.astype(np.intp)] = np.arange(len(low))

    def number(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each hash's word number (any valid number where it is none) and whether it is a pattern word."""
        if self.by_low is not None:
            place = self.by_low[(array & np.uint64(_LOW)).astype(np.intp)]
            known = place >= 0
            known &= self.words[place] == array  # a -1 reads the last word: already not known
            return place, known
        place = np.searchsorted(self.words, array)
        place[place == len(self.words)] = 0
        return place, self.words[place] == array


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
