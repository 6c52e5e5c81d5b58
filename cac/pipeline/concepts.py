"""``cac_concepts_v1``: find code-set terms in the note (the lexicon matcher).

For each sentence, the component builds canonical tokens (abbreviations
expanded from ``token._.expansion``), matches the lexicon order-free inside
compact windows (:class:`cac.lexicon.matcher.TermMatcher`) and writes one span
per match to ``doc.spans[spans_key]`` with ``span._.concept_terms`` (lexicon
term ids fully matched) and ``span._.concept_partial_terms`` (terms of 3+
tokens with all but one token present: low-confidence ranked candidates, off by
default: on CodiEsp dev it cost ~20 ms per 1,500-word note for +0.001 MAP).  The matcher is attached with :meth:`ConceptMatcher.set_matcher`
(the coder does it after loading code sets); the lexicon serializes with the
component (``to_disk``/``from_disk``, JSON).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable, Set
from typing import Iterable

import numpy as np
import orjson
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from cac import scan
from cac.errors import CacError, Errors
from cac.lexicon.build import Lexicon, lexicon_rules
from cac.pipeline.extensions import (KeptSpanGroup, doc_text, sentence_starts, set_span_value, token_length_array,
                                     token_starts)
from cac.lexicon.matcher import HARD_BREAK, WITHOUT_CLAUSE, TermMatcher
from cac.lexicon.normalize import canon_word_uncached, context_words, normalize_in_context, raw_tokens

if not Span.has_extension("concept_terms"):
    Span.set_extension("concept_terms", default=None)
if not Span.has_extension("concept_partial_terms"):
    Span.set_extension("concept_partial_terms", default=None)


@Language.factory("cac_concepts_v1", default_config={"spans_key": "mentions", "partial": False})
def make_concepts(nlp: Language, name: str, spans_key: str, partial: bool) -> "ConceptMatcher":
    return ConceptMatcher(name=name, spans_key=spans_key, partial=partial)


class ConceptMatcher:
    """Pipeline component wrapping a :class:`TermMatcher`."""

    def __init__(self, name: str = "cac_concepts", spans_key: str = "mentions", partial: bool = False) -> None:
        self.name = name
        self.spans_key = spans_key
        self.partial = partial
        self.matcher: TermMatcher | None = None

    def set_matcher(self, matcher: TermMatcher) -> None:
        self.matcher = matcher

    def __call__(self, doc: Doc) -> Doc:
        if self.matcher is None:
            raise CacError(Errors.E202, name=self.name)
        spans: list[Span] = []
        seen: dict[tuple[int, int], Span] = {}
        text = doc_text(doc)
        token_idx, token_len = _token_offsets(doc)
        canon, start_bytes, end_bytes, cuts = concept_tokens(
            text, _sentence_bounds(doc, token_idx, token_len), _doc_expansions(doc, token_idx, token_len),
            sorted(_header_ranges(doc)), _CANON, context_words(), normalize_in_context)
        starts = np.frombuffer(start_bytes, dtype=np.int64)  # every kept token's offsets, sentence after sentence
        ends = np.frombuffer(end_bytes, dtype=np.int64)
        lower = text.lower()
        segments = _list_segments(text, starts, cuts, lower)
        without = _without_positions(text, starts, cuts, lower)
        if self.partial:
            per_sentence = []
            for c, seg in zip(canon, segments):
                partial: list = []
                per_sentence.append([*self.matcher.match(c, partial, seg), *partial])
        else:
            per_sentence = self.matcher.match_many(canon, segments, without)
        terms: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        for base, matches in zip([0, *cuts], per_sentence):
            for m in matches:
                start, end = int(starts[base + m.start_token]), int(ends[base + m.end_token])  # optional words in
                span = doc.char_span(start, end, alignment_mode="expand")
                if span is None:
                    continue
                key = (span.start, span.end)
                if key not in seen:
                    seen[key] = span
                    spans.append(span)
                    terms[key] = ([], [])
                terms[key][1 if m.partial else 0].extend(m.term_ids)
        for key, span in seen.items():  # each attribute written once per span
            full, partial = terms[key]
            start, end = span.start_char, span.end_char
            set_span_value(doc, "concept_terms", start, end, full)  # = span._.concept_terms = full
            set_span_value(doc, "concept_partial_terms", start, end, partial)
        doc.spans[self.spans_key] = KeptSpanGroup(doc, name=self.spans_key, spans=spans)  # read 3 times: kept
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        cfg = {"spans_key": self.spans_key, "partial": self.partial}
        (path / "cfg.json").write_bytes(orjson.dumps(cfg))
        if self.matcher is not None:
            (path / "lexicon.json").write_bytes(orjson.dumps(self.matcher.lexicon.to_json()))

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> "ConceptMatcher":
        path = Path(path)
        try:
            cfg = orjson.loads((path / "cfg.json").read_bytes())
            self.spans_key = cfg["spans_key"]
            self.partial = bool(cfg.get("partial", False))
            lex_path = path / "lexicon.json"
            if lex_path.is_file():
                self.matcher = TermMatcher(Lexicon.from_json(orjson.loads(lex_path.read_bytes())))
        except (OSError, KeyError, orjson.JSONDecodeError) as exc:
            raise CacError(Errors.E201, path=str(path), detail=repr(exc)) from None
        return self


def _header_ranges(doc: Doc) -> list[tuple[int, int]]:
    """Character ranges of section headers ("History of present illness:" names no condition)."""
    if not Doc.has_extension("sections"):
        return []
    return [(s.header_start_char, s.header_end_char) for s in doc._.sections or ()
            if s.header_end_char > s.header_start_char]


@lru_cache(maxsize=1)
def _segment_breaks() -> tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...]:
    """The lexicon rules' ``segment_breaks``: phrases no term spans (hard breaks), each with the lower-case
    literal its matches contain (``""``: none named), so a note without it skips the expression, and the
    lower-case words its matches begin with (``()``: none named; see :func:`cac.scan.finditer_from`)."""
    out = []
    for entry in lexicon_rules().get("segment_breaks", ()):
        if isinstance(entry, str):
            entry = {"pattern": entry}
        starts = tuple(w.lower() for w in entry.get("starts", ()))
        out.append((re.compile(entry["pattern"], re.IGNORECASE), entry.get("requires", "").lower(), starts))
    return tuple(out)


def _list_segments(text: str, starts: np.ndarray, cuts: list[int], lower: str | None = None) -> list[list[int]]:
    """Each token's list item: how many commas/semicolons of the note precede it, plus
    :data:`HARD_BREAK` times how many ``segment_breaks`` do ("lung cancer | with metastases to the brain":
    no term spans those).  ``starts``: every sentence's token offsets in a row; ``cuts``: where each
    sentence's tokens end in it; ``lower``: ``text.lower()``, when at hand."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # a code point per character
    seps = np.flatnonzero((codes == ord(",")) | (codes == ord(";")))  # the list separators' places
    breaks = []
    for p, requires, begins in _segment_breaks():
        if requires or begins:
            lower = text.lower() if lower is None else lower
            if requires and requires not in lower:
                continue
        found = scan.finditer_from(p, text, begins, lower) if begins else p.finditer(text)
        breaks += [(m.start("at") if "at" in p.groupindex else m.start()) - 1 for m in found]  # before
    segment = np.searchsorted(seps, starts)  # bisect_left for every token
    if breaks:
        segment += HARD_BREAK * np.searchsorted(np.sort(np.asarray(breaks, dtype=np.int64)), starts)
    flat = segment.tolist()
    return [flat[a:b] for a, b in zip([0, *cuts], cuts)]


def _without_positions(text: str, starts: np.ndarray, cuts: list[int], lower: str | None = None) -> list[set[int]]:
    """Per sentence, the positions of the tokens inside a "without ..." clause of the note (``starts``,
    ``cuts`` and ``lower`` as for :func:`_list_segments`)."""
    spans = [(m.start(), m.end()) for m in scan.finditer_from(WITHOUT_CLAUSE, text, ("without",), lower)]
    if not spans:
        return [set() for _ in cuts]
    clause_start = np.asarray([a for a, _ in spans], dtype=np.int64)
    clause_end = np.asarray([b for _, b in spans], dtype=np.int64)
    k = np.searchsorted(clause_start, starts + 1) - 1  # the last clause starting before each token
    held = (k >= 0) & (clause_start[k] < starts) & (starts < clause_end[k])
    out: list[set[int]] = []
    inside = np.flatnonzero(held).tolist()
    i = 0
    for a, b in zip([0, *cuts], cuts):
        here: set[int] = set()
        while i < len(inside) and inside[i] < b:
            here.add(inside[i] - a)
            i += 1
        out.append(here)
    return out


def _concept_tokens_py(text: str, bounds: list[tuple[int, int]], expansions: list[tuple[int, int, str]],
                       headers: list[tuple[int, int]],
                       canon: Callable[[str], tuple[str, ...]] | dict[str, tuple[str, ...]], context: Set[str],
                       fallback: Callable[[list[tuple[str, int, int]]], list[tuple[str, int, int]]]
                       ) -> tuple[list[list[str]], bytes, bytes, list[int]]:
    """The canonical tokens of each sentence (``bounds``, in order): the abbreviations ``(start, end,
    expansion)`` read as what they stand for, section ``headers`` (``(start, end)``, sorted) left out, each
    word as ``canon`` gives it (``canon[word]`` for a dict: a memo), or, in a sentence holding one of the
    ``context`` words, as ``fallback`` reads the sentence's words.  Returns the forms of each sentence that
    keeps any, every form's start and end (native int64 bytes, sentence after sentence) and where each
    sentence's forms end (cumulative counts).
    The twin of :func:`cac.scan.concept_tokens` (compiled)."""
    if isinstance(canon, dict):  # a memo (see _CanonMemo)
        canon = canon.__getitem__
    words = _DocWords(text)
    expansion_starts = [a for a, _, _ in expansions]
    header_starts = [a for a, _ in headers]
    forms: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []
    cuts: list[int] = []
    for s0, s1 in bounds:
        lo, hi = bisect_left(expansion_starts, s0), bisect_left(expansion_starts, s1)
        raw = _sentence_words(text, s0, s1, words, expansions[lo:hi])
        toks = scan.canonical_tokens_py(raw, canon, context)
        if toks is None:
            toks = fallback(raw)
        hi = bisect_left(header_starts, s1)
        inside = [(a, b) for a, b in headers[max(0, hi - 8):hi] if b > s0]
        if inside:
            toks = [t for t in toks if not any(a <= t[1] < b for a, b in inside)]
        if toks:
            forms.append([t for t, _, _ in toks])
            starts += [t[1] for t in toks]
            ends += [t[2] for t in toks]
            cuts.append(len(starts))
    return forms, np.asarray(starts, dtype=np.int64).tobytes(), np.asarray(ends, dtype=np.int64).tobytes(), cuts


class _DocWords:
    """The raw word tokens of a whole note, found once and sliced by sentence."""

    def __init__(self, text: str) -> None:
        self.tokens = raw_tokens(text)
        self.starts = [a for _, a, _ in self.tokens]

    def within(self, start: int, end: int) -> list[tuple[str, int, int]] | None:
        """The tokens inside ``[start, end)``; None when a token straddles either bound."""
        lo, hi = bisect_left(self.starts, start), bisect_left(self.starts, end)
        toks = self.tokens
        if (hi > lo and toks[hi - 1][2] > end) or (lo > 0 and toks[lo - 1][2] > start):
            return None
        return toks[lo:hi]


def _sentence_words(text: str, start: int, end: int, words: _DocWords,
                    expansions: list[tuple[int, int, str]]) -> list[tuple[str, int, int]]:
    """The raw tokens of ``text[start:end]`` with char offsets, the abbreviations ``(start, end,
    expansion)`` in it replaced by the words they stand for."""
    raw = words.within(start, end)
    if raw is None:
        raw = [(w, start + a, start + b) for w, a, b in raw_tokens(text[start:end])]
    if expansions:
        out: list[tuple[str, int, int]] = []
        i = 0
        for a, b, expansion in expansions:
            while i < len(raw) and raw[i][1] < a:
                out.append(raw[i])
                i += 1
            out.extend((w, a, b) for w, _, _ in raw_tokens(expansion))
            while i < len(raw) and raw[i][1] < b:
                i += 1
        out.extend(raw[i:])
        raw = out
    return raw


class _CanonMemo(dict):
    """:func:`canon_word`'s answer for each word seen, read by the compiled scanner as a dict (no Python
    call per word); emptied when it holds :attr:`MAX` words.  A new word is canonicalized without going
    through :func:`canon_word`'s own cache (this memo is one: the cache's bookkeeping doubled the cost of
    a note's ~250 new words)."""

    MAX = 200_000

    def __missing__(self, word: str) -> tuple[str, ...]:
        if len(self) >= self.MAX:
            self.clear()
        forms = self[word] = canon_word_uncached(word)
        return forms


_CANON = _CanonMemo()


#: The concept matcher's tokens of every sentence: compiled when it can be (same result).
concept_tokens = scan.concept_tokens or _concept_tokens_py


def _token_offsets(doc: Doc) -> tuple[list[int], list[int]]:
    """Each token's start character (shared with the other components) and length."""
    if len(doc) == 0:
        return [], []
    return token_starts(doc), token_length_array(doc).tolist()


def _sentence_bounds(doc: Doc, token_idx: list[int], token_len: list[int]) -> list[tuple[int, int]]:
    """``(start_char, end_char)`` of each sentence (of the whole doc when sentences are not set), as
    ``Span.start_char`` / ``end_char`` give them, without making the spans."""
    n = len(token_idx)
    if n == 0:
        return []
    bounds = [*sentence_starts(doc), n]
    return [(token_idx[a], token_idx[b - 1] + token_len[b - 1]) for a, b in zip(bounds, bounds[1:]) if b > a]


def _doc_expansions(doc: Doc, token_idx: list[int], token_len: list[int]) -> list[tuple[int, int, str]]:
    """``(start_char, end_char, expansion)`` of every abbreviation of the doc, in order."""
    keys, table = _abbreviation_index(doc)
    n = len(token_idx)
    out = []
    for i in keys:
        last = min(i + max(1, int(table[i][1])), n) - 1
        out.append((token_idx[i], token_idx[last] + token_len[last], table[i][0]))
    return out


def _abbreviation_index(doc: Doc) -> tuple[list[int], dict]:
    """Token indices of the abbreviations (sorted) and their ``[expansion, length]`` records."""
    if not Token.has_extension("expansion"):
        return [], {}
    from cac.pipeline.extensions import ABBREVIATIONS_KEY

    table = doc.user_data.get(ABBREVIATIONS_KEY) or {}
    return sorted(table), table
