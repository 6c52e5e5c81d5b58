"""``cac_abbreviations_v1``: expansion of clinical abbreviations.

Forms from ``resources/abbreviations.json`` are matched with two phrase
matchers (:class:`cac.pipeline.phrase_matcher.TokenPhraseMatcher`; lower-cased tokens for ``"case": "insensitive"`` entries,
verbatim tokens for ``"exact"`` ones, so ``PE`` is an abbreviation and ``pe``
is not).  Overlapping matches keep the longest.  The expansion goes on the first
token (``token._.expansion``) with the number of tokens covered
(``token._.expansion_len``).  Ambiguous abbreviations (``MS``, ``PT``, ``RA``)
are expanded only when cue words in the same sentence single out one sense, or
to an explicit default.  Nothing inside a section header is expanded (``PE:``
is a physical-exam header, not a pulmonary embolism).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from spacy.language import Language
from spacy.tokens import Doc

from cac.pipeline.extensions import (
    ABBREVIATIONS_KEY,
    SECTIONS_KEY,
    parse_rules,
    read_rules,
    rule_error,
    sentence_starts,
    token_starts,
    write_rules,
)
from cac.pipeline.phrase_matcher import TokenPhraseMatcher

RULES_FILE = "abbreviations.json"
_CASES = ("insensitive", "exact")


@dataclass(slots=True)
class _Cues:
    around: tuple[str, ...] = ()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclass(slots=True)
class _Sense:
    expansion: str
    cues: _Cues = field(default_factory=_Cues)


@dataclass(slots=True)
class _Entry:
    expansion: str | None
    senses: list[_Sense] = field(default_factory=list)
    window: int = 6


def _strings(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of non-blank strings."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def _cue_hit(words: list[str], cues: tuple[str, ...]) -> bool:
    for cue in cues:
        if cue.endswith("*"):
            prefix = cue[:-1]
            if any(w.startswith(prefix) for w in words):
                return True
        elif cue in words:
            return True
    return False


class AbbreviationExpander:
    """Marks clinical abbreviations with their expansions."""

    def __init__(self, nlp: Language, name: str = "cac_abbreviations", *, rules: str | None = None) -> None:
        self.name = name
        self.nlp = nlp
        data, label = read_rules(rules, RULES_FILE)
        self._load(data, label)

    # --- rules --------------------------------------------------------------

    def _load(self, data: dict[str, Any], label: str) -> None:
        plain = data.get("abbreviations", [])
        ambiguous = data.get("ambiguous", [])
        if not isinstance(plain, list) or not isinstance(ambiguous, list):
            raise rule_error(label, "'abbreviations' and 'ambiguous' must be lists")
        matchers = {
            "insensitive": TokenPhraseMatcher(self.nlp.vocab, attr="LOWER"),
            "exact": TokenPhraseMatcher(self.nlp.vocab, attr="ORTH"),
        }
        entries: dict[int, _Entry] = {}
        for kind, items in (("abbreviations", plain), ("ambiguous", ambiguous)):
            for i, item in enumerate(items):
                where = f"{kind}[{i}]"
                entry, case, forms = self._parse_entry(item, where, label, ambiguous=kind == "ambiguous")
                key = f"cac_abbr_{kind}_{i}"
                entries[self.nlp.vocab.strings.add(key)] = entry
                matchers[case].add(key, [self.nlp.make_doc(form) for form in forms])
        self.rules = data
        self._entries = entries
        self._matchers = list(matchers.values())

    def _parse_entry(
        self, item: Any, where: str, label: str, *, ambiguous: bool
    ) -> tuple[_Entry, str, list[str]]:
        if not isinstance(item, dict):
            raise rule_error(label, f"{where} must be an object")
        forms = item.get("forms")
        if not _strings(forms):
            raise rule_error(label, f"{where}: 'forms' must be a non-empty list of strings")
        case = item.get("case", "insensitive")
        if case not in _CASES:
            raise rule_error(label, f"{where}: 'case' must be one of {', '.join(_CASES)}")
        if not ambiguous:
            expansion = item.get("expansion")
            if not isinstance(expansion, str) or not expansion.strip():
                raise rule_error(label, f"{where}: 'expansion' must be a non-empty string")
            return _Entry(expansion.lower()), case, forms
        senses = item.get("senses")
        if not isinstance(senses, list) or not senses:
            raise rule_error(label, f"{where}: 'senses' must be a non-empty list")
        parsed: list[_Sense] = []
        for j, sense in enumerate(senses):
            if not isinstance(sense, dict) or not isinstance(sense.get("expansion"), str):
                raise rule_error(label, f"{where}.senses[{j}] needs an 'expansion' string")
            cue_lists = []
            for cue_key in ("cues", "cues_before", "cues_after"):
                cues = sense.get(cue_key, [])
                if not isinstance(cues, list) or not all(isinstance(c, str) and c for c in cues):
                    raise rule_error(label, f"{where}.senses[{j}]: {cue_key!r} must be a list of strings")
                cue_lists.append(tuple(c.lower() for c in cues))
            parsed.append(_Sense(sense["expansion"].lower(), _Cues(*cue_lists)))
        default = item.get("default")
        if default is not None and not isinstance(default, str):
            raise rule_error(label, f"{where}: 'default' must be a string or null")
        window = item.get("window", 6)
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise rule_error(label, f"{where}: 'window' must be a positive integer")
        return _Entry(default.lower() if default else None, parsed, window), case, forms

    # --- annotation ---------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        matches = [m for matcher in self._matchers for m in matcher(doc)]
        table: dict[int, list[Any]] = {}
        doc.user_data[ABBREVIATIONS_KEY] = table
        if not matches:
            return doc
        matches.sort(key=lambda m: (m[1] - m[2], m[1]))
        offsets = token_starts(doc)
        headers = [(r[1], r[2]) for r in doc.user_data.get(SECTIONS_KEY) or ()]
        header_starts = [h[0] for h in headers]
        sentences: list[int] | None = None
        taken: set[int] = set()
        for key, start, end in matches:
            if any(i in taken for i in range(start, end)):
                continue
            char = offsets[start]
            h = bisect_right(header_starts, char) - 1
            if h >= 0 and char < headers[h][1]:
                continue  # inside a section header
            entry = self._entries[key]
            if entry.senses:
                if sentences is None:
                    sentences = sentence_starts(doc)
                expansion = self._resolve(doc, entry, start, end, sentences)
            else:
                expansion = entry.expansion
            if expansion is None:
                continue
            taken.update(range(start, end))
            table[start] = [expansion, end - start]
        return doc

    @staticmethod
    def _resolve(doc: Doc, entry: _Entry, start: int, end: int, sentences: list[int]) -> str | None:
        k = bisect_right(sentences, start) - 1
        lo = sentences[k] if k >= 0 else 0
        hi = sentences[k + 1] if k + 1 < len(sentences) else len(doc)
        before = [t.lower_ for t in doc[max(lo, start - entry.window) : start]]
        after = [t.lower_ for t in doc[end : min(hi, end + entry.window)]]
        around = before + after
        chosen = [
            s
            for s in entry.senses
            if _cue_hit(around, s.cues.around)
            or _cue_hit(before, s.cues.before)
            or _cue_hit(after, s.cues.after)
        ]
        if len(chosen) == 1:
            return chosen[0].expansion
        return entry.expansion if not chosen else None

    # --- serialization ------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        write_rules(Path(path), RULES_FILE, self.rules)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "AbbreviationExpander":
        file = Path(path) / RULES_FILE
        self._load(parse_rules(file.read_text(encoding="utf-8"), str(file)), str(file))
        return self


@Language.factory(
    "cac_abbreviations_v1",
    default_config={"rules": None},
    assigns=["token._.expansion", "token._.expansion_len"],
)
def make_abbreviation_expander(nlp: Language, name: str, rules: str | None) -> AbbreviationExpander:
    """Clinical abbreviation expansion (``rules``: a JSON file; ``None``: packaged)."""
    return AbbreviationExpander(nlp, name, rules=rules)
