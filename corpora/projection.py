"""Project CodiEsp-X evidence spans from the Spanish original onto the English MT.

CodiEsp-X evidence offsets index the **Spanish** text (``text_files_es``), while
the English machine translation (``text_files_en``) is a different string, one
sentence per line.  There is no word alignment, so evidence is projected at the
*sentence* level:

1. **Sentence splitting.**  English: every non-empty line is one sentence (this is
   how the MT was distributed).  Spanish: every line is a paragraph; it is split
   after ``.``, ``!``, ``?`` or ``…`` (optionally followed by a closing quote or
   bracket) when whitespace and then an upper-case letter, a digit, an opening
   bracket/quote or ``¿``/``¡`` follows, except after a short list of Spanish
   abbreviations (``Dr.``, ``Sra.``, ``aprox.``...) and dotted initialisms
   (``T.A.``, ``p.ej.``).  Every sentence keeps its ``(start, end)`` character offsets.

2. **Monotonic alignment** (a Gale-Church-style dynamic programme).  Beads are
   groups of Spanish x English sentences of shapes 1-1, 1-2, 2-1, 1-3, 3-1, 2-2,
   1-0 and 0-1.  The cost of a bead adds

   * a *length* term ``|log((len_en + 20) / (r * len_es + 20))|`` where ``r`` is
     the document's English/Spanish character ratio (the MT is ~0.87x as long and
     sometimes drops clauses, so the ratio is estimated per document, clipped to
     ``[0.7, 1.05]`` so that a document missing whole sentences keeps a sane one);
   * an *anchor* term ``1 - Dice(anchors_es, anchors_en)`` over multisets of
     language-independent tokens: numbers (decimal comma normalised to a point),
     upper-case acronyms, cognate stems (accent-stripped, ``ph->f``, ``th->t``,
     ``y->i``, ``k->c``, ``ti->ci``, double letters collapsed, first 5 characters
     of words of at least 5 letters: ``nefrectomía``/``nephrectomy`` ->
     ``nefre``) and structural punctuation (``:``, ``;``, ``%``, ``(``, ``/``,
     ``+``).  With few anchors the Dice term is shrunk towards a neutral 0.4
     (full trust from 6 anchors), and it is weighted by the bead's sentence count
     so that merging sentences never buys a discount;
   * a skip cost for 1-0/0-1 beads that grows with the skipped length (an MT
     artefact line such as ``1.`` is cheap to skip, a real sentence is not);
   * a fixed prior per bead shape (1-1 is free, merges cost more).

   The programme minimises the total cost; ties prefer 1-1 beads.

3. **Projection.**  Each Spanish span ``(start, end)`` is mapped to the Spanish
   sentence(s) it overlaps, and through the alignment to the English sentence(s)
   of the same bead(s).  A Spanish sentence the MT dropped (a 1-0 bead) falls back
   to the English sentences of the nearest aligned bead (previous, else next) and
   the projection is marked ``aligned=False``.  The result gives English sentence
   indices (0-based, over non-empty lines) and their ``(start, end)`` offsets in
   the English text.

Agreement on a hand-checked sample of CodiEsp train spans is recorded in
``tests/fixtures/corpora/projection_handcheck.json`` (run
``python -m corpora.projection_check`` to draw a new sample).  Sentence-level
projection cannot locate the words inside the English sentence; use it for
sentence-level evidence metrics, not for token-level ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np

Span = tuple[int, int]

# --------------------------------------------------------------------------- sentences

_ES_ABBREVIATIONS = {
    "dr", "dra", "drs", "sr", "sra", "srta", "sres", "ud", "uds", "vd", "vds",
    "aprox", "etc", "ej", "p", "pág", "pag", "págs", "fig", "figs", "núm", "num",
    "nº", "vs", "cf", "cfr", "vol", "cap", "art", "min", "máx", "max", "mín",
    "dcha", "izq", "izda", "izqda", "prof", "hosp", "serv", "dpto", "tel",
}

_ES_BOUNDARY = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s+[\"'«“(\[¿¡\-–—]?[A-ZÁÉÍÓÚÜÑ0-9])")


def _line_spans(text: str) -> list[Span]:
    """(start, end) of every non-empty line, stripped of surrounding whitespace."""
    spans: list[Span] = []
    pos = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            start = pos + (len(line) - len(line.lstrip()))
            spans.append((start, start + len(stripped)))
        pos += len(line) + 1
    return spans


def split_sentences_en(text: str) -> list[Span]:
    """English CodiEsp MT: one sentence per non-empty line."""
    return _line_spans(text)


def _is_abbreviation(before: str) -> bool:
    """True when the text before a period ends in an abbreviation or an initial."""
    tokens = before.split()
    if not tokens:
        return False
    tok = tokens[-1].lstrip("(\"'«“[¿¡").lower()
    if tok in _ES_ABBREVIATIONS:
        return True
    # dotted initialisms ("T.A.", "p.ej.").  A lone letter is NOT treated as an
    # initial: case reports are anonymised, and "8 h." / "grado A." end sentences.
    return bool(re.fullmatch(r"(?:[^\W\d_]{1,2}\.)+[^\W\d_]{1,2}", tok))


def split_sentences_es(text: str) -> list[Span]:
    """Split Spanish clinical text into sentences, as ``(start, end)`` offsets."""
    out: list[Span] = []
    for ls, le in _line_spans(text):
        line = text[ls:le]
        start = 0
        for m in _ES_BOUNDARY.finditer(line):
            end = m.end()
            if _is_abbreviation(line[start : m.start()]):
                continue
            if not line[start:end].strip():
                continue
            out.append((ls + start, ls + end))
            # next sentence begins after the whitespace
            nxt = end
            while nxt < len(line) and line[nxt].isspace():
                nxt += 1
            start = nxt
        if line[start:].strip():
            out.append((ls + start, le))
    return out


# --------------------------------------------------------------------------- anchors

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
_PUNCT = set(":;%(/+")


@lru_cache(maxsize=1 << 16)
def _fold(word: str) -> str:
    w = unicodedata.normalize("NFKD", word.lower())
    w = "".join(ch for ch in w if not unicodedata.combining(ch))
    for a, b in (("ph", "f"), ("th", "t"), ("y", "i"), ("k", "c"), ("qu", "c"), ("ch", "c"), ("ti", "ci")):
        w = w.replace(a, b)
    return re.sub(r"(.)\1+", r"\1", w)


def anchors(text: str) -> Counter[str]:
    """Language-independent tokens of a sentence (see the module docstring)."""
    bag: Counter[str] = Counter()
    for m in _NUMBER.finditer(text):
        bag["#" + m.group().replace(",", ".")] += 1
    for m in _ACRONYM.finditer(text):
        bag["@" + m.group()] += 1
    for m in _WORD.finditer(text):
        w = m.group()
        if len(w) >= 5:
            bag["~" + _fold(w)[:5]] += 1
    for ch in text:
        if ch in _PUNCT:
            bag["!" + ch] += 1
    return bag


_NEUTRAL = 0.4  # lexical cost when there is no anchor evidence either way
_SHRINK = 6.0  # anchors needed before the Dice score is fully trusted


# --------------------------------------------------------------------------- alignment

# (n_es, n_en) -> prior cost
_BEADS: dict[tuple[int, int], float] = {
    (1, 1): 0.0,
    (1, 2): 0.35,
    (2, 1): 0.35,
    (1, 3): 0.7,
    (3, 1): 0.7,
    (2, 2): 0.6,
    (1, 0): 0.6,
    (0, 1): 0.6,
}
_LEN_WEIGHT = 1.0
_RATIO_PRIOR = 0.87  # English MT / Spanish characters, CodiEsp train median
_RATIO_MIN, _RATIO_MAX = 0.7, 1.05
_SKIP_PER_CHAR = 0.01
_LEX_WEIGHT = 1.5


@dataclass(slots=True)
class Bead:
    es: tuple[int, ...]
    en: tuple[int, ...]
    cost: float


@dataclass(slots=True)
class Alignment:
    """A monotonic sentence alignment of one Spanish/English document pair."""

    es_sentences: list[Span]
    en_sentences: list[Span]
    beads: list[Bead] = field(default_factory=list)

    def en_for_es_sentence(self, i: int) -> tuple[list[int], bool]:
        """English sentence indices aligned to Spanish sentence ``i`` (and whether aligned)."""
        for k, bead in enumerate(self.beads):
            if i in bead.es:
                if bead.en:
                    return list(bead.en), True
                for j in list(range(k - 1, -1, -1)) + list(range(k + 1, len(self.beads))):
                    if self.beads[j].en:
                        return list(self.beads[j].en), False
                return [], False
        return [], False


def _group_counts(bags: list[Counter[str]], vocab: dict[str, int]) -> np.ndarray:
    """Prefix sums of anchor counts: row ``k`` holds the counts of sentences ``< k``."""
    mat = np.zeros((len(bags) + 1, max(1, len(vocab))), dtype=np.int32)
    for k, bag in enumerate(bags):
        for tok, c in bag.items():
            mat[k + 1, vocab[tok]] += c
    return np.cumsum(mat, axis=0)


def _shape_costs(
    di: int, dj: int, es_len: np.ndarray, en_len: np.ndarray, ces: np.ndarray, cen: np.ndarray, ratio: float
) -> np.ndarray:
    """Cost of every bead of shape ``di x dj``; entry ``[i0, j0]`` starts at (i0, j0)."""
    n, m = len(es_len) - 1, len(en_len) - 1  # prefix-sum arrays have one extra row
    rows, cols = n - di + 1, m - dj + 1
    if rows <= 0 or cols <= 0:
        return np.zeros((max(rows, 0), max(cols, 0)))
    ls = (es_len[di:] - es_len[: n - di + 1])[:, None]  # (rows, 1)
    le = (en_len[dj:] - en_len[: m - dj + 1])[None, :]  # (1, cols)
    prior = _BEADS[(di, dj)]
    if di == 0 or dj == 0:
        return prior + _SKIP_PER_CHAR * np.minimum(ls + le, 200).astype(float)
    length = np.abs(np.log((le + 20.0) / (ratio * ls + 20.0)))
    a = ces[di:] - ces[: n - di + 1]  # (rows, V)
    b = cen[dj:] - cen[: m - dj + 1]  # (cols, V)
    inter = np.minimum(a[:, None, :], b[None, :, :]).sum(axis=2)
    total = a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 0.0)
    trust = np.minimum(1.0, total / _SHRINK)
    lex = np.where(total > 0, trust * (1.0 - dice) + (1.0 - trust) * _NEUTRAL, _NEUTRAL)
    # content cost counts once per sentence, so merging never buys a discount
    weight = (di + dj) / 2.0
    return prior + weight * (_LEN_WEIGHT * length + _LEX_WEIGHT * lex)


def align_sentences(es_text: str, en_text: str) -> Alignment:
    """Align the sentences of a Spanish text and its English MT (monotonic DP)."""
    es = split_sentences_es(es_text)
    en = split_sentences_en(en_text)
    n, m = len(es), len(en)
    es_len = np.concatenate([[0], np.cumsum([e - s for s, e in es])]).astype(float)
    en_len = np.concatenate([[0], np.cumsum([e - s for s, e in en])]).astype(float)
    ratio = float(en_len[-1] / es_len[-1]) if es_len[-1] and en_len[-1] else _RATIO_PRIOR
    # a document whose MT dropped whole sentences must not drag the ratio along
    ratio = min(max(ratio, _RATIO_MIN), _RATIO_MAX)
    es_anc = [anchors(es_text[s:e]) for s, e in es]
    en_anc = [anchors(en_text[s:e]) for s, e in en]
    vocab: dict[str, int] = {}
    for bag in es_anc + en_anc:
        for tok in bag:
            vocab.setdefault(tok, len(vocab))
    ces = _group_counts(es_anc, vocab)
    cen = _group_counts(en_anc, vocab)
    shape_cost = {shape: _shape_costs(*shape, es_len, en_len, ces, cen, ratio).tolist() for shape in _BEADS}

    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    shapes = list(_BEADS)
    for i in range(n + 1):
        row = cost[i]
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best = inf
            arg = None
            for di, dj in shapes:
                pi, pj = i - di, j - dj
                if pi < 0 or pj < 0:
                    continue
                prev = cost[pi][pj]
                if prev == inf:
                    continue
                c = prev + shape_cost[(di, dj)][pi][pj]
                if c < best - 1e-12:
                    best, arg = c, (di, dj)
            row[j] = best
            back[i][j] = arg
    beads: list[Bead] = []
    i, j = n, m
    while i > 0 or j > 0:
        step = back[i][j]
        assert step is not None
        di, dj = step
        beads.append(Bead(tuple(range(i - di, i)), tuple(range(j - dj, j)), cost[i][j] - cost[i - di][j - dj]))
        i, j = i - di, j - dj
    beads.reverse()
    return Alignment(es, en, beads)


# --------------------------------------------------------------------------- projection


@dataclass(slots=True)
class ProjectedSpan:
    """Where one Spanish span lands in the English MT."""

    span: Span  # the Spanish (start, end)
    es_sentences: list[int]
    sentences: list[int]  # English sentence indices
    en_spans: list[Span]  # (start, end) of those English sentences in the English text
    aligned: bool = True  # False when a dropped Spanish sentence fell back to a neighbour

    def to_dict(self) -> dict[str, Any]:
        return {
            "span": list(self.span),
            "es_sentences": list(self.es_sentences),
            "sentences": list(self.sentences),
            "en_spans": [list(s) for s in self.en_spans],
            "aligned": self.aligned,
        }


def _text_of(doc: Any) -> str:
    return doc if isinstance(doc, str) else doc.text


def project_with(alignment: Alignment, spans: Iterable[Span]) -> list[ProjectedSpan]:
    """Project Spanish spans through an existing alignment."""
    out: list[ProjectedSpan] = []
    for start, end in spans:
        start, end = int(start), int(end)
        es_idx = [
            k for k, (s, e) in enumerate(alignment.es_sentences) if s < max(end, start + 1) and start < e
        ]
        if not es_idx:  # span in whitespace between sentences: nearest following sentence
            following = [k for k, (s, _) in enumerate(alignment.es_sentences) if s >= start]
            es_idx = following[:1] or ([len(alignment.es_sentences) - 1] if alignment.es_sentences else [])
        en_idx: set[int] = set()
        aligned = True
        for k in es_idx:
            got, ok = alignment.en_for_es_sentence(k)
            en_idx.update(got)
            aligned = aligned and ok
        ordered = sorted(en_idx)
        out.append(
            ProjectedSpan(
                span=(start, end),
                es_sentences=es_idx,
                sentences=ordered,
                en_spans=[alignment.en_sentences[k] for k in ordered],
                aligned=aligned and bool(ordered),
            )
        )
    return out


def project_spans(doc_es: Any, doc_en: Any, spans: Sequence[Span]) -> list[ProjectedSpan]:
    """Project Spanish ``(start, end)`` spans onto English sentences.

    ``doc_es``/``doc_en`` are texts or :class:`corpora.Document` objects.  Returns
    one :class:`ProjectedSpan` per input span, in order, with the English sentence
    indices (``.sentences``) and their character offsets (``.en_spans``).
    """
    return project_with(align_sentences(_text_of(doc_es), _text_of(doc_en)), spans)
