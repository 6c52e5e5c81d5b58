"""Order-free term matching over canonical tokens, within one sentence.

Every term is indexed under its rarest required token (its *anchor*).  For a
sentence, only terms anchored on a token present in it are checked; a term
matches when all its required tokens occur inside a compact window (term length
plus a small slack).  This finds ``renal cell carcinoma of the left kidney`` and
``carcinoma, kidney, left`` alike, at the cost of a few set operations per
sentence.  Matches whose token positions are strictly covered by a longer match
are dropped (the longest, most specific term wins).

List items: given each token's *segment* (the comma- or semicolon-separated
part of the sentence it lies in), a match spanning segments is dropped when
every segment's share of it is already a match of its own: in "COPD,
hypertension" the "pulmonary" of the expanded COPD and the next item's
"hypertension" do not make "pulmonary hypertension", while "carcinoma of the
breast, left" keeps its laterality ("left" is no match by itself).
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from itertools import repeat
from typing import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from cac import scan
from cac.lexicon.build import Lexicon, Term, lexicon_rules, token_frequencies
from cac.lexicon.normalize import normalize

#: A "without" clause of a term or a note, up to the next comma, semicolon, colon, bracket, stop or line end;
#: group 1 is what it denies.
#: Segment numbers (see :meth:`TermMatcher.match`) this far apart are separated by a hard break: no term
#: spans it (commas and semicolons count 1: a term may bridge list items that do not match on their own).
HARD_BREAK = 1 << 20

#: Required tokens a term may have and still be screened as an array row: the ICD-10-CM lexicon's terms
#: have at most 9, so none is tested one by one (wider ones, from other code sets, still are).
_SCREEN_WIDTH = 10

WITHOUT_CLAUSE = re.compile(r"\bwithout\b([^,;.:()\[\]\n]*)", re.IGNORECASE)


@dataclass(slots=True)
class Match:
    """Terms matched at one set of token positions of a sentence."""

    positions: tuple[int, ...]
    term_ids: list[int]
    optional_hits: int = 0
    partial: bool = False
    extent: tuple[int, int] | None = None  # first and last token, optional words of the terms included

    @property
    def start_token(self) -> int:
        return self.extent[0] if self.extent is not None else self.positions[0]

    @property
    def end_token(self) -> int:
        return self.extent[1] if self.extent is not None else self.positions[-1]

    @property
    def first(self) -> int:
        return self.positions[0]

    @property
    def last(self) -> int:
        return self.positions[-1]


class _LazySets(dict):
    """Required-token sets of terms, built the first time a term is checked."""

    def __init__(self, terms: list[Term]) -> None:
        super().__init__()
        self._terms = terms

    def __missing__(self, tid: int) -> frozenset[str]:
        value = self[tid] = frozenset(self._terms[tid].required)
        return value


class TermMatcher:
    """Index over a :class:`Lexicon` for fast sentence-level matching."""

    def __init__(self, lexicon: Lexicon, window_slack: int | None = None, index: dict | None = None) -> None:
        self.lexicon = lexicon
        self.terms: list[Term] = lexicon.terms
        self.window_slack = lexicon_rules()["window_slack"] if window_slack is None else window_slack
        self._req_sets = _LazySets(self.terms)
        self._without_cache: dict[int, frozenset[str]] = {}
        index = index or {}
        anchor = index.get("anchor", "").split()
        screen = index.get("screen") or {}
        if len(anchor) != len(self.terms) or screen.get("n_terms") != len(self.terms) or \
                screen.get("width") != _SCREEN_WIDTH or "row_ids" not in screen:
            index = self.build_index(lexicon)
            anchor = index["anchor"].split()
        anchors: dict[str, list[int]] = defaultdict(list)
        for i, tok in enumerate(anchor):
            anchors[tok].append(i)
        self._anchors = dict(anchors)
        screen = index["screen"]
        # the screening arrays (see :meth:`_screen`), built with the index and cached with the lexicon
        self._token_list = ["", *screen["tokens"].split()]  # token id -> token (0 pads)
        self._token_ids = {t: i for i, t in enumerate(self._token_list) if i}
        self._rows_text = screen["rows"]  # decoded when the array screen first runs (see ``_rows``)
        self._row_tids = _decode_ints(screen["tids"])
        self._row_ids, self._row_start = _decode_ints(screen["row_ids"]), _decode_ints(screen["row_start"])
        # per token id: its place among the tokens sorted as strings, and the rows of the terms it anchors
        self._token_rank = np.argsort(np.argsort(np.asarray(self._token_list, dtype=str), kind="stable"))
        self._slot_start = np.zeros(len(self._token_list), dtype=np.int64)
        self._slot_rows = np.zeros(len(self._token_list), dtype=np.int64)
        for tok, (first, count) in screen["slots"].items():
            i = self._token_ids[tok]
            self._slot_start[i], self._slot_rows[i] = first, count
        self._wide: dict[str, list[int]] = screen["wide"]

    @cached_property
    def _rows(self) -> np.ndarray:
        """The screen rows as the array screen reads them, (rows, :data:`_SCREEN_WIDTH`) token ids (the
        compiled screen reads ``_row_ids`` instead: without the array screen they are never decoded)."""
        return _decode_ints(self._rows_text).reshape(-1, _SCREEN_WIDTH)

    @staticmethod
    def build_index(lexicon: Lexicon) -> dict:
        """Anchor token of every term and the screening arrays (JSON-able, cacheable)."""
        df = token_frequencies(lexicon)
        anchor = [min(t.required, key=lambda x: (df[x], x)) for t in lexicon.terms]
        return {"anchor": " ".join(anchor), "screen": _screen_index(lexicon, anchor, df)}

    def match(self, tokens: list[str], partial: list[Match] | None = None,
              segments: list[int] | None = None) -> list[Match]:
        """Matches of the lexicon in one sentence's canonical tokens.

        With a ``partial`` list, terms of 3+ tokens whose anchor (rarest token) and
        all other required tokens but one are present in a compact window are
        appended to it (``Match.partial``): low-confidence ranked candidates.
        """
        if not tokens:
            return []
        if partial is None:
            return self.match_many([tokens], None if segments is None else [segments])[0]
        where = _positions(tokens)
        present = frozenset(where)
        req_sets = self._req_sets
        full: list[int] = []
        for tok in sorted(present):  # sorted: results must not depend on hash order
            for tid in self._anchors.get(tok, ()):
                req = req_sets[tid]
                if req <= present:
                    full.append(tid)
                elif len(req) >= 3:
                    have = req & present
                    if len(have) == len(req) - 1:
                        pos = self._window(tuple(sorted(have)), where)
                        if pos is not None:
                            partial.append(Match(pos, [tid], partial=True))
        return self._resolve(full, where, segments)

    def match_many(self, sentences: list[list[str]], segments: list[list[int]] | None = None,
                   without: list[set[int]] | None = None) -> list[list[Match]]:
        """``[match(tokens) for tokens in sentences]`` (no partial matches), faster.  ``without``: per
        sentence, the token positions the note puts under a "without" (see :meth:`_agrees_on_without`).

        Terms are screened once against the whole document's tokens, then only
        the sentences holding every required token of a term are windowed, so a
        term anchored on a common word is not re-checked in every sentence.
        """
        in_sents = scan.sentence_bits(sentences)  # token -> the sentences holding it, as the bits of an int
        found: dict[int, list[int]] = defaultdict(list)
        for tid, i in self._screen(in_sents, len(sentences)):
            found[i].append(tid)
        out: list[list[Match]] = [[] for _ in sentences]
        if scan.resolve is None:
            for i, tids in found.items():
                out[i] = self._resolve(tids, _positions(sentences[i]), None if segments is None else segments[i],
                                       without[i] if without is not None else None)
            return out
        resolve, terms, cache, denied, slack = scan.resolve, self.terms, self._without_cache, self._without_words, \
            self.window_slack
        for i, tids in found.items():  # the same, compiled
            out[i] = [Match(positions, tids_here, hits, False, extent) for positions, tids_here, hits, extent in resolve(
                tids, sentences[i], None if segments is None else segments[i],
                without[i] if without is not None else None, terms, cache, denied, slack, HARD_BREAK)]
        return out

    def _screen(self, in_sents: dict[str, int], n_sentences: int) -> list[tuple[int, int]]:
        """``(term id, sentence)`` for each term anchored on a token of the note and each sentence holding
        all its required tokens (``in_sents``: each token's sentences as the bits of an int), in anchor
        order (the anchors sorted as strings: results must not depend on hash order), then index order,
        then sentence order.  One array test for the whole note (a note checks thousands of anchored
        terms; about one in ten has its tokens in the note, fewer in one sentence)."""
        if not in_sents:
            return []
        wide = self._wide
        if scan.screen is not None and (not wide or wide.keys().isdisjoint(in_sents)):  # the same test, in C
            return scan.screen(in_sents, n_sentences, self._token_ids, self._slot_start, self._slot_rows,
                               self._token_rank, self._row_start, self._row_ids, self._row_tids)
        n_chunks = (n_sentences + 63) // 64  # each token's sentences as 64-bit chunks
        sentence_bits = np.zeros((len(self._token_ids) + 1, n_chunks), dtype="<u8")
        at = np.fromiter(map(self._token_ids.get, in_sents, repeat(0)), dtype=np.int64, count=len(in_sents))
        # (0: a token no screened term requires; row 0 is reset below)
        if n_chunks == 1:
            sentence_bits[at, 0] = np.fromiter(in_sents.values(), dtype=np.uint64, count=len(in_sents))
        else:  # each int as its little-endian 64-bit chunks, in one buffer
            raw = b"".join(map(int.to_bytes, in_sents.values(), repeat(8 * n_chunks), repeat("little")))
            sentence_bits[at] = np.frombuffer(raw, dtype="<u8").reshape(-1, n_chunks)
        sentence_bits[0] = np.iinfo(np.uint64).max  # the padding id: in every sentence
        anchor_ids = at[self._slot_rows[at] > 0]  # the note's tokens that anchor screened terms
        anchor_ids = anchor_ids[np.argsort(self._token_rank[anchor_ids], kind="stable")]
        starts, lengths = self._slot_start[anchor_ids], self._slot_rows[anchor_ids]
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        rows = np.repeat(starts - (ends - lengths), lengths) + np.arange(total)  # the anchors' rows
        ids_of = self._rows[rows]
        common = sentence_bits[ids_of[:, 0]]  # (rows, chunks): the sentences holding every required token
        common &= sentence_bits[ids_of[:, 1]]
        alive = np.flatnonzero(common.any(axis=1))  # two tokens leave few rows to test further
        common, ids_of = common[alive], ids_of[alive]
        for k in range(2, _SCREEN_WIDTH):
            common &= sentence_bits[ids_of[:, k]]
        held = np.flatnonzero(common.any(axis=1))
        ok = alive[held]
        row, sent = np.nonzero(np.unpackbits(common[held].view(np.uint8), axis=1, bitorder="little"))
        tids = self._row_tids[rows[ok][row]].tolist()
        out = list(zip(tids, sent.tolist()))
        extra = [(tok, tid, bits) for tok in sorted(wide.keys() & in_sents.keys()) for tid in wide[tok]
                 if (bits := _all_bits(in_sents, self._req_sets[tid]))] if wide else []
        if extra:  # terms wider than the array, tested one by one and merged back in (anchor, term) order
            tokens = self._token_list
            owners = [tokens[k] for k in np.repeat(anchor_ids, lengths)[ok][row].tolist()]
            keyed = [((o, t), t, i) for o, (t, i) in zip(owners, out)]
            keyed += [((tok, tid), tid, i) for tok, tid, bits in extra for i in range(n_sentences) if bits >> i & 1]
            keyed.sort(key=lambda x: x[0])  # stable: sentence order kept within a term
            out = [(t, i) for _, t, i in keyed]
        return out

    def _resolve(self, tids: list[int], where: dict[str, list[int]], segments: list[int] | None = None,
                 without: set[int] | None = None) -> list[Match]:
        """Window the fully present terms ``tids`` and keep the longest, most specific matches."""
        by_positions: dict[tuple[int, ...], Match] = {}
        terms = self.terms
        without = without or set()
        for tid in tids:
            if not self._agrees_on_without(tid, where, without):
                continue
            positions = self._window(terms[tid].required, where, segments)
            if positions is None:
                continue
            m = by_positions.get(positions)
            if m is None:
                m = by_positions[positions] = Match(positions, [])
            m.term_ids.append(tid)
        matches = list(by_positions.values())
        if segments is not None and len(matches) > 1:
            matches = _drop_list_bridges(matches, segments)
        covers: dict[int, set[int]] = {}
        for m in matches:
            lo, hi = m.first - 2, m.last + 2
            opt = {t for tid in m.term_ids for t in terms[tid].optional}
            hits = {p for t in opt for p in where.get(t, ()) if lo <= p <= hi}
            m.optional_hits = len(hits)
            covers[id(m)] = set(m.positions) | hits
            if hits:
                m.extent = (min(covers[id(m)]), max(covers[id(m)]))
        if len(matches) < 2:  # nothing to cover or cross
            return matches
        matches.sort(key=lambda m: (-len(covers[id(m)]), m.first, m.positions, min(m.term_ids)))
        kept: list[Match] = []
        for m in matches:
            ps = set(m.positions)
            if any(ps < covers[id(k)] or (ps <= covers[id(k)] and len(ps) < len(k.positions)) for k in kept):
                continue
            if _scattered(m, covers[id(m)]) and any(
                    ps & set(k.positions) and not _scattered(k, covers[id(k)]) and not set(k.positions) <= ps
                    for k in kept):
                continue  # "atrial fibrillation with rapid ventricular response": no ventricular fibrillation
            kept.append(m)
        kept.sort(key=lambda m: m.first)
        return kept

    def _agrees_on_without(self, tid: int, where: dict[str, list[int]], without: set[int]) -> bool:
        """False when a term and the sentence disagree on a "without": the term says "without X" and the
        sentence names X, not under a "without" ("Hypertensive heart disease without heart failure" in
        "hypertension with heart failure"), or the term needs a word the sentence has only under a
        "without" ("Type 2 diabetes mellitus with unspecified complications" in "type 2 diabetes without
        complications").  "Migraine without aura" still matches itself."""
        denied = self._without_words(tid)
        if denied and all(any(p not in without for p in where.get(w, ())) for w in denied):
            return False
        if without:
            for w in self.terms[tid].required:
                if w not in denied and all(p in without for p in where.get(w, (None,))):
                    return False
        return True

    def _without_words(self, tid: int) -> frozenset[str]:
        """Canonical words a term puts under "without" (cached)."""
        words = self._without_cache.get(tid)
        if words is None:
            text = self.terms[tid].text
            words = frozenset(w for clause in WITHOUT_CLAUSE.findall(text) for w in normalize(clause)) \
                if "without" in text.lower() else frozenset()
            self._without_cache[tid] = words
        return words

    def _window(self, required: tuple[str, ...], where: dict[str, list[int]],
                segments: list[int] | None = None) -> tuple[int, ...] | None:
        """Token positions of ``required`` in the tightest window around an occurrence of its rarest token:
        for each other token its nearest occurrence, one in the pivot's list item (``segments``) first."""
        if len(required) == 1:
            return (where[required[0]][0],)
        limit = len(required) + self.window_slack
        best: tuple[int, ...] | None = None
        best_span = limit + 1
        pivot = min(required, key=lambda t: len(where[t]))
        for p in where[pivot]:
            chosen = [p]
            for t in required:
                if t == pivot:
                    continue
                options = where[t]
                if len(options) == 1:
                    q = options[0]
                elif segments is None:
                    q = min(options, key=lambda x: abs(x - p))
                else:
                    item = segments[p]
                    q = min(options, key=lambda x: (segments[x] != item, abs(x - p)))
                chosen.append(q)
            span = max(chosen) - min(chosen) + 1
            if span < best_span and len(set(chosen)) == len(chosen):
                best, best_span = tuple(sorted(chosen)), span
        return best if best is not None and best_span <= limit else None


def _scattered(m: Match, covered: set[int]) -> bool:
    """A match with other words between its own (``covered``: its positions and the optional words of
    its terms), found order-free inside the window."""
    return m.last - m.first + 1 > sum(1 for p in covered if m.first <= p <= m.last)


def _drop_list_bridges(matches: list[Match], segments: list[int]) -> list[Match]:
    """Matches minus those that bridge list items each already matched on its own, and those that span
    a hard break (a segment number that differs by :data:`HARD_BREAK` or more)."""
    inside = [m for m in matches if segments[m.first] == segments[m.last]]
    if len(inside) == len(matches):
        return matches
    covered = {p for m in inside for p in m.positions}
    keep = []
    for m in matches:
        if segments[m.first] // HARD_BREAK != segments[m.last] // HARD_BREAK:
            continue
        if segments[m.first] != segments[m.last]:
            by_segment: dict[int, list[int]] = defaultdict(list)
            for p in m.positions:
                by_segment[segments[p]].append(p)
            if all(all(p in covered for p in ps) for ps in by_segment.values()):
                continue
        keep.append(m)
    return keep


def _positions(tokens: list[str]) -> dict[str, list[int]]:
    where: dict[str, list[int]] = defaultdict(list)
    for pos, tok in enumerate(tokens):
        where[tok].append(pos)
    return where


def _all_bits(in_sents: dict[str, int], tokens: frozenset[str]) -> int:
    """The sentences holding every one of ``tokens`` (bits of an int)."""
    bits = -1
    for t in tokens:
        bits &= in_sents.get(t, 0)
        if not bits:
            break
    return bits


def _encode_ints(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<i4").tobytes()).decode("ascii")


def _decode_ints(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i4")


def _screen_index(lexicon: Lexicon, anchor: list[str], df: Mapping[str, int]) -> dict:
    """The screening arrays of :meth:`TermMatcher._screen`: each required token's id (from 1; 0 pads), one
    row of ids per term of up to :data:`_SCREEN_WIDTH` required tokens, grouped by anchor in index order
    (``slots``: an anchor's first row and row count), and the ids of the wider terms by anchor; and the
    rows as the compiled test reads them: each row's ids but its anchor's, the rarest in the lexicon
    (``df``) first, end to end (``row_ids``), and where each row starts (``row_start``)."""
    by_anchor: dict[str, list[int]] = defaultdict(list)
    for tid, tok in enumerate(anchor):
        by_anchor[tok].append(tid)
    ids: dict[str, int] = {}
    rows: list[list[int]] = []
    tids: list[int] = []
    row_ids: list[int] = []
    row_start: list[int] = [0]
    slots: dict[str, list[int]] = {}
    wide: dict[str, list[int]] = {}
    for tok, members in by_anchor.items():
        start = len(tids)
        for tid in members:
            req = frozenset(lexicon.terms[tid].required)
            if len(req) > _SCREEN_WIDTH:
                wide.setdefault(tok, []).append(tid)
                continue
            row = [ids.setdefault(t, len(ids) + 1) for t in sorted(req)]
            rows.append(row + [0] * (_SCREEN_WIDTH - len(row)))
            row_ids += [ids[t] for t in sorted(req - {tok}, key=lambda t: (df.get(t, 0), t))]
            row_start.append(len(row_ids))
            tids.append(tid)
        if len(tids) > start:
            slots[tok] = [start, len(tids) - start]
    return {"n_terms": len(anchor), "width": _SCREEN_WIDTH, "tokens": " ".join(ids), "slots": slots, "wide": wide,
            "rows": _encode_ints(np.asarray(rows).reshape(-1, _SCREEN_WIDTH)), "tids": _encode_ints(np.asarray(tids)),
            "row_ids": _encode_ints(np.asarray(row_ids)), "row_start": _encode_ints(np.asarray(row_start))}
