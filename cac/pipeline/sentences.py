"""``cac_sentences_v1``: rule-based sentence splitting for clinical text.

Boundaries are found as character offsets by a few precompiled regex passes over
``doc.text`` and written in one ``Doc.from_array`` call, so every token gets
``is_sent_start`` set without a per-token Python loop.  A sentence starts:

* at every section header and at the first character of a section's body
  (a header is its own sentence; needs ``cac_sections`` earlier in the pipeline);
* at every line, unless the line is a wrapped continuation (it starts in lower
  case, or the previous line ends with ``,`` or a joining word, and the previous
  line does not end with ``.``, ``!``, ``?``, ``:`` or ``;``); a blank line always
  separates sentences;
* at bullets (``-``, ``*``, ``•`` at line start; ``•`` anywhere) and at inline
  numbered items (``1. HTN 2. DM2``: ``2.`` starts a sentence when ``1.`` came
  earlier on the line);
* after ``.``, ``!`` or ``?`` followed by whitespace, except after abbreviations
  listed in ``resources/sentence_rules.json`` (``Dr.``, ``e.g.``, ``vs.``,
  ``No. 5``, ``b.i.d. daily``); decimals (``2.5 mg``) never split.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from cac.pipeline.extensions import (KEEPS_SENTENCES, SECTIONS_KEY, doc_text, parse_rules, read_rules,
                                     remember_sentence_starts, rule_error, token_start_array, write_rules)
from cac.scan import matches_at, positions

RULES_FILE = "sentence_rules.json"

_LINE_START = re.compile(r"\n(?P<blank>[ \t\r]*\n)*[ \t\r]*(?=\S)")
_SENT_PUNCT = re.compile(r"[.!?]+[\"')\]]*[ \t]+(?=\S)")
_INLINE_NUMBER = re.compile(r"[ \t](?P<num>\d{1,2})[.)][ \t]+(?=[A-Za-z])")
_NON_SPACE = re.compile(r"\S")
_BULLET_START = re.compile(r"[-*\u2022+>]|\d{1,2}[.)]\s|\(\d{1,2}\)|[a-zA-Z][.)]\s")
_LAST_WORD = re.compile(r"(\w+)\W*$")
_JOINING_WORDS = frozenset(
    "and or of with the a an to for in on at by from as nor but including".split()
)
_CONTINUES_AFTER = ",-/(&+"
_ENDS_LINE = ".!?:;"

_NOT_STARTS = -1 % (1 << 64)  # SENT_START value for "not a sentence start" as uint64


class SentenceSplitter:
    """Sets ``token.is_sent_start`` on every token."""

    def __init__(self, nlp: Language, name: str = "cac_sentences", *, rules: str | None = None) -> None:
        self.name = name
        self.nlp = nlp
        self._kept: dict[tuple[Any, ...], bool] = {}  # pipeline -> whether nothing after this changes sentences
        data, label = read_rules(rules, RULES_FILE)
        self._load(data, label)

    def _load(self, data: dict[str, Any], label: str) -> None:
        lists: dict[str, frozenset[str]] = {}
        for key in ("no_split_after", "no_split_before_digit", "no_split_before_lower"):
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise rule_error(label, f"{key!r} must be a list of non-empty strings")
            lists[key] = frozenset(v.lower().rstrip(".") for v in value)
        self.rules = data
        self.no_split_after = lists["no_split_after"]
        self.no_split_before_digit = lists["no_split_before_digit"]
        self.no_split_before_lower = lists["no_split_before_lower"]

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        starts = self.boundaries(doc_text(doc), doc.user_data.get(SECTIONS_KEY) or ())
        values = numpy.full(len(doc), _NOT_STARTS, dtype="uint64")
        values[0] = 1
        if starts:
            offsets = token_start_array(doc)  # shared with the components after this one
            index = numpy.searchsorted(offsets, numpy.fromiter(starts, dtype="int64"), side="left")
            values[index[index < len(doc)]] = 1
        doc.from_array([SENT_START], values)
        if self._starts_stay():
            remember_sentence_starts(doc, numpy.flatnonzero(values == 1).tolist())
        return doc

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_kept": {}}

    def _starts_stay(self) -> bool:
        """Whether this component runs in its pipeline with only :data:`KEEPS_SENTENCES` components after it
        (worked out once per pipeline), so that the sentence starts it sets are the doc's in the end."""
        pipeline = self.nlp.pipeline
        procs = tuple(proc for _, proc in pipeline)
        kept = self._kept.get(procs)
        if kept is None:
            mine = [i for i, proc in enumerate(procs) if proc is self]
            kept = bool(mine) and all(self.nlp.get_pipe_config(name).get("factory") in KEEPS_SENTENCES
                                      for name, _ in pipeline[mine[-1] + 1:])
            if len(self._kept) >= 8:
                self._kept.clear()
            self._kept[procs] = kept
        return kept

    def boundaries(self, text: str, sections: Iterable[Any] = ()) -> set[int]:
        """Character offsets where a sentence starts (besides offset 0)."""
        starts: set[int] = set()
        for record in sections:
            starts.add(record[1])
            body = _first_non_space(text, record[2], record[4])
            if body is not None:
                starts.add(body)
        self._line_starts(text, starts)
        self._list_starts(text, starts)
        self._punct_starts(text, starts)
        return starts

    def _line_starts(self, text: str, starts: set[int]) -> None:
        for m in _LINE_START.finditer(text):
            pos = m.end()
            if m.group("blank") is None and self._continues(text, m.start(), pos):
                continue
            starts.add(pos)

    def _continues(self, text: str, newline: int, pos: int) -> bool:
        """Whether the line at ``pos`` wraps the line ending at ``newline``."""
        prev = text[text.rfind("\n", 0, newline) + 1 : newline].rstrip()
        if not prev or prev[-1] in _ENDS_LINE:
            return False
        if _BULLET_START.match(text, pos):
            return False
        if text[pos].islower():
            return True
        if prev[-1] in _CONTINUES_AFTER:
            return True
        last = _LAST_WORD.search(prev)
        return bool(last and last.group(1).lower() in _JOINING_WORDS and last.end(1) == len(prev))

    def _punct_starts(self, text: str, starts: set[int]) -> None:
        for m in matches_at(_SENT_PUNCT, text, positions(text, ".!?")):
            punct_start = m.start()
            if punct_start == 0 or text[punct_start - 1].isspace():
                continue
            nxt = text[m.end()]
            if "!" in m.group() or "?" in m.group():
                starts.add(m.end())
                continue
            word_start_pos = _word_start(text, punct_start)
            word = text[word_start_pos:punct_start].lstrip("([\"'").lower()
            if word in self.no_split_after:
                continue
            if word.isdigit() and len(word) <= 2 and _is_item_marker(text, word_start_pos, starts):
                continue  # "1. HTN": the number of a list item
            if nxt.isdigit():
                if word in self.no_split_before_digit:
                    continue
            elif nxt.islower():
                if len(word) <= 1 or "." in word or word in self.no_split_before_lower:
                    continue
            starts.add(m.end())

    def _list_starts(self, text: str, starts: set[int]) -> None:
        for m in matches_at(_INLINE_NUMBER, text, _item_number_places(text)):
            num = int(m.group("num"))
            pos = m.start("num")
            line_start = text.rfind("\n", 0, pos) + 1
            before = text[line_start:pos]
            if num == 1:
                if before.rstrip().endswith(":"):
                    starts.add(pos)
                continue
            if re.search(rf"(?:^|\s){num - 1}[.)]\s", before):
                starts.add(pos)
        pos = text.find("\u2022")
        while pos >= 0:
            if text[text.rfind("\n", 0, pos) + 1 : pos].strip():
                starts.add(pos)  # line starts are handled by the line rule
            pos = text.find("\u2022", pos + 1)

    # --- serialization ------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        write_rules(Path(path), RULES_FILE, self.rules)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "SentenceSplitter":
        file = Path(path) / RULES_FILE
        self._load(parse_rules(file.read_text(encoding="utf-8"), str(file)), str(file))
        return self


def _item_number_places(text: str) -> list[int]:
    """Where ``_INLINE_NUMBER`` can match: at a space or tab before one or two decimal digits and ``.``
    or ``)`` (the expression then reads the rest)."""
    places = []
    for k in positions(text, ".)"):
        d = k
        while d > 0 and k - d < 3 and text[d - 1].isdecimal():  # ``\d``: any decimal digit
            d -= 1
        if 1 <= k - d <= 2 and d > 0 and text[d - 1] in " \t":
            places.append(d - 1)
    return places


def _word_start(text: str, end: int) -> int:
    """Start of the whitespace-delimited word ending at ``end``."""
    return max(text.rfind(" ", 0, end), text.rfind("\n", 0, end), text.rfind("\t", 0, end)) + 1


def _is_item_marker(text: str, pos: int, starts: set[int]) -> bool:
    return pos in starts or not text[text.rfind("\n", 0, pos) + 1 : pos].strip()


def _first_non_space(text: str, start: int, stop: int) -> int | None:
    m = _NON_SPACE.search(text, start, stop)
    return m.start() if m else None


@Language.factory(
    "cac_sentences_v1",
    default_config={"rules": None},
    assigns=["token.is_sent_start"],
)
def make_sentence_splitter(nlp: Language, name: str, rules: str | None) -> SentenceSplitter:
    """Clinical sentence splitting (``rules``: a JSON file; ``None``: packaged)."""
    return SentenceSplitter(nlp, name, rules=rules)
