"""Build the term lexicon from the loaded code sets.

A lexicon entry says: these canonical tokens (``required``, plus ``optional``
weak ones) name that code, from that source.  Sources are the ICD-10-CM
Tabular List (titles, inclusion terms, includes notes), the Alphabetic Index
supplement shipped as package data, and the CDC index tables when a data
directory provides them.  Entries are plain lists so the lexicon caches as JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Iterator

import orjson

from cac.codesets.model import CodeSet
from cac.lexicon.normalize import normalize, rules, term_variants

_WORDS = re.compile(r"[A-Za-z0-9]+")
_SEP = "\x1f"  # unit separator between the fields of a cached term
# Chapter 20 (external causes: activity, place, status) is reported from registration data and the
# External Cause Index, not from free-text term matching.
_SKIP_CHAPTERS = frozenset({"20"})
_NEVER_ALONE = frozenset({"personal", "history", "family", "status", "encounter", "condition", "disease",
                          "disorder", "syndrome", "observation", "examination", "finding", "problem"})
_FILLER = frozenset({"nos", "unspecified", "other", "specified", "nec", "and", "or", "of", "the", "a", "an",
                     "in", "on", "to", "with", "without", "due", "by", "for", "classified", "elsewhere", "not"})


def _content_words(text: str) -> list[str]:
    return [w for w in _WORDS.findall(text.lower()) if w not in _FILLER]

@lru_cache(maxsize=1)
def lexicon_rules() -> dict:
    return orjson.loads((resources.files("cac.lexicon") / "resources" / "lexicon_rules.json").read_bytes())


@lru_cache(maxsize=1)
def _required_by_source() -> dict[str, frozenset[str]]:
    """``source -> weak words its terms keep required`` (lexicon rules ``required_by_source``)."""
    return {k: frozenset(v) for k, v in lexicon_rules().get("required_by_source", {}).items()}


@lru_cache(maxsize=1)
def supplement_terms() -> dict[str, str]:
    data = orjson.loads((resources.files("cac.lexicon") / "resources" / "index_supplement.json").read_bytes())
    return data["terms"]


@dataclass(slots=True)
class Term:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    code: str
    source: str
    text: str

    def to_row(self) -> str:
        """One compact string per term (fast to parse: few JSON objects)."""
        return _SEP.join((" ".join(self.required), " ".join(self.optional), self.code, self.source, self.text))

    @classmethod
    def from_row(cls, row: str) -> "Term":
        req, opt, code, source, text = row.split(_SEP)
        return cls(tuple(req.split()), tuple(opt.split()), code, source, text)


@dataclass
class Lexicon:
    """All terms, with a token document-frequency table for anchoring."""

    terms: list[Term] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"terms": [t.to_row() for t in self.terms]}

    def digest(self) -> str:
        """A short SHA-256 of the terms (their rows, in order): the same on every machine for the same
        lexicon, unlike the cache's key (which names the source files' places), so reports can say which
        lexicon produced them."""
        h = hashlib.sha256()
        for value in list.__iter__(self.terms):  # a loaded lexicon's rows stay unparsed
            h.update((value if isinstance(value, str) else value.to_row()).encode("utf-8"))
            h.update(b"\n")
        return h.hexdigest()[:16]

    @classmethod
    def from_json(cls, data: dict) -> "Lexicon":
        return cls(_LazyTerms(data["terms"]))  # type: ignore[arg-type]


class _LazyTerms(list):
    """Terms built from cached rows the first time each is read (fast start-up)."""

    def __getitem__(self, i):  # type: ignore[override]
        value = list.__getitem__(self, i)
        if isinstance(value, str):
            value = Term.from_row(value)
            list.__setitem__(self, i, value)
        return value

    def __iter__(self):  # type: ignore[override]
        return (self[i] for i in range(len(self)))


def make_term(text: str, code: str, source: str) -> Term | None:
    """One lexicon entry for ``text`` (already a single variant), or None if empty."""
    toks = list(dict.fromkeys(normalize(text)))
    if not toks or len(toks) > lexicon_rules()["max_term_tokens"]:
        return None
    if len(toks) == 1 and len(_content_words(text)) >= 2:
        return None  # "Blood type" -> {blood}: too little of the term is left
    if set(toks) <= _NEVER_ALONE:
        return None  # "Personal history of other conditions": nothing clinical left
    if not any(len(t) >= 3 and t.isalpha() for t in toks):
        return None  # "HER2+" -> {2}: nothing to anchor on
    if _ambiguous_acronym(text.strip(), toks):
        return None  # "PRES" -> {pre}, "PIN" -> {pin}: the abbreviation table handles acronyms in context
    weak = rules().weak - _required_by_source().get(source, frozenset())
    strong = [t for t in toks if t not in weak]
    if len(strong) >= 2:
        return Term(tuple(strong), tuple(t for t in toks if t in weak), code, source, text)
    return Term(tuple(toks), (), code, source, text)


_ACRONYM = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*")


def _ambiguous_acronym(text: str, toks: list[str]) -> bool:
    """A one-acronym term too short to be specific, or one that plural folding would change."""
    if not _ACRONYM.fullmatch(text):
        return False
    letters = re.sub(r"[^A-Z]", "", text.split("-")[0])
    return len(letters) < lexicon_rules().get("acronym_min_letters", 4) or toks[0] != letters.lower()


def _cm_texts(cs: CodeSet) -> Iterator[tuple[str, str, str]]:
    for c in cs:
        if "seventh" in c.attrs:
            continue
        if c.chapter in _SKIP_CHAPTERS:
            continue
        low = c.title.lower()
        if not low.startswith("other ") and "other specified" not in low:  # residual categories
            yield c.title, c.code, "title"
        for note in c.notes.get("inclusion", ()):
            yield note, c.code, "inclusion"
        if c.parent is None or len(c.code) <= 5:
            for note in c.notes.get("includes", ()):
                if len(note) < 80 and ":" not in note:
                    yield note, c.code, "includes"


_WITHOUT = re.compile(r"(?:,\s*|\s+)without\s+.*?(?=,|\s+with\s+|$)", re.IGNORECASE)


def default_title(title: str) -> str | None:
    """The title with its ``without ...`` clauses dropped, or None if it has none.

    ICD-10-CM makes the "without" code the default: "Hepatitis A without hepatic coma" is what a
    note saying "hepatitis A" gets, "Diverticulosis of large intestine without perforation or abscess
    with bleeding" what "diverticulosis of the colon with bleeding" gets.  A clause runs to the next
    comma or "with", so the axes after it (laterality, "recurrent", "with bleeding") stay required."""
    if " without " not in title.lower():
        return None
    core = re.sub(r"\s{2,}", " ", _WITHOUT.sub("", title)).strip(" ,")
    return core if core and core.lower() != title.lower() else None


def build_lexicon(cm: CodeSet, extra: Iterable[tuple[str, str, str]] = ()) -> Lexicon:
    """Lexicon from ICD-10-CM, the index supplement and ``extra`` (text, code, source).

    Last come the default ("without ...") forms of billable titles (:func:`default_title`), each
    only where no other term already names the same token bag, so they never compete with a
    code's own wording."""
    drop = lexicon_rules()["drop_token_variants"]
    seen: set[tuple] = set()
    terms: list[Term] = []

    dropped = {code: {t.lower() for t in texts} for code, texts in lexicon_rules().get("drop_terms", {}).items()}

    def add(text: str, code: str, source: str) -> None:
        if text.lower() in dropped.get(code, ()):
            return
        for variant in term_variants(text):
            term = make_term(variant, code, source)
            if term is None:
                continue
            variants = [term]
            for prefix, tokens in drop.items():
                if code.startswith(prefix) and any(t in term.required for t in tokens):
                    reduced = tuple(t for t in term.required if t not in tokens)
                    if reduced:
                        variants.append(Term(reduced, term.optional, code, source, term.text))
            for v in variants:
                key = (frozenset(v.required), code)
                if key not in seen:
                    seen.add(key)
                    terms.append(v)

    for text, code in supplement_terms().items():
        if code in cm:
            add(text, code, "supplement")
    for text, code, source in extra:
        if code in cm:
            add(text, code, source)
    for text, code, source in _cm_texts(cm):
        add(text, code, source)
    bags = {key[0] for key in seen}
    defaults: dict[frozenset, list[str]] = {}
    for text, code, source in _cm_texts(cm):
        core = default_title(text) if source == "title" and cm.is_valid(code) else None
        if core is None:
            continue
        for variant in term_variants(core):
            term = make_term(variant, code, "title_default")
            if term is not None and frozenset(term.required) not in bags:
                defaults.setdefault(frozenset(term.required), []).append(code)
                if len(defaults[frozenset(term.required)]) == 1:
                    terms.append(term)
    # a bag that several codes' default forms share names none of them specifically
    ambiguous = {bag for bag, codes in defaults.items() if len(set(codes)) > 1}
    terms = [t for t in terms if t.source != "title_default" or frozenset(t.required) not in ambiguous]
    return Lexicon(terms)


def token_frequencies(lex: Lexicon) -> Counter:
    df: Counter = Counter()
    for t in lex.terms:
        df.update(t.required)
    return df
