"""Evidence metrics: does the system point at the right text for a code?

Evidence is ``{doc_id: {code: [(start, end), ...]}}`` for gold and predictions,
as character offsets into the same text.  Every metric is code-conditioned: a
predicted span only ever matches gold evidence *for the same code in the same
document*.  Duplicate spans are counted once; empty spans are ignored.  With
``matched_codes_only=True`` only (document, code) pairs present on both sides
count (evidence quality of correct codes, separated from code accuracy).

Definitions (in the spirit of MDACE, Cheng et al. 2023, which scores evidence
both as whole spans and position by position):

* **span, exact**: a predicted span is a TP when a gold span has exactly the same
  offsets.  ``P = TP / #pred spans``, ``R = #gold spans matched / #gold spans``.
* **span, overlap**: a predicted span is correct when it overlaps (shares at least
  one character with) a gold span; a gold span is found when some predicted span
  overlaps it.  ``P = correct pred / #pred``, ``R = found gold / #gold``.
* **token**: the text is tokenised (``\\w+`` runs and single punctuation marks;
  characters when no text is given); for each (document, code) the tokens touched
  by gold spans ``G`` and by predicted spans ``S`` give ``TP = |G ∩ S|``;
  micro ``P = ΣTP / Σ|S|``, ``R = ΣTP / Σ|G|``.
* **sentence precision**: fraction of predicted spans that fall in (overlap) a
  sentence containing gold evidence for the same code; **sentence recall**:
  fraction of those gold sentences that contain a predicted span.  Sentences come
  from ``sentences`` or are split from the text (one per line, then after
  ``.!?`` + space + capital).  This is the fair measure for CodiEsp English,
  whose gold evidence is projected at sentence level.

F1 is always ``2PR / (P + R)`` (0 when both are 0).
"""

from __future__ import annotations

import bisect
import re
from typing import Mapping, Sequence

Span = tuple[int, int]
Evidence = Mapping[str, Mapping[str, Sequence[Span]]]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _clean(spans: Sequence) -> list[Span]:
    return sorted({(int(s), int(e)) for s, e in spans if int(e) > int(s)})


def _pairs(gold: Evidence, pred: Evidence, matched_codes_only: bool):
    docs = set(gold) | set(pred)
    for d in sorted(docs):
        g = gold.get(d, {})
        p = pred.get(d, {})
        codes = (set(g) & set(p)) if matched_codes_only else (set(g) | set(p))
        for c in sorted(codes):
            yield d, c, _clean(g.get(c, ())), _clean(p.get(c, ()))


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _prf(tp_p: int, n_p: int, tp_g: int, n_g: int) -> dict[str, float | int]:
    p = tp_p / n_p if n_p else 0.0
    r = tp_g / n_g if n_g else 0.0
    return {"precision": p, "recall": r, "f1": _f1(p, r), "n_pred": n_p, "n_gold": n_g}


def span_prf(gold: Evidence, pred: Evidence, mode: str = "exact", matched_codes_only: bool = False) -> dict:
    """Span-level P/R/F1, ``mode`` ``"exact"`` or ``"overlap"``."""
    if mode not in ("exact", "overlap"):
        raise ValueError("mode must be 'exact' or 'overlap'")
    tp_p = n_p = tp_g = n_g = 0
    for _, _, g, p in _pairs(gold, pred, matched_codes_only):
        n_p += len(p)
        n_g += len(g)
        if mode == "exact":
            common = len(set(g) & set(p))
            tp_p += common
            tp_g += common
        else:
            tp_p += sum(any(_overlaps(x, y) for y in g) for x in p)
            tp_g += sum(any(_overlaps(y, x) for x in p) for y in g)
    return _prf(tp_p, n_p, tp_g, n_g)


def _tokens(text: str | None) -> list[Span] | None:
    if text is None:
        return None
    return [m.span() for m in _TOKEN.finditer(text)]


def _covered(spans: list[Span], toks: list[Span] | None, starts: list[int] | None) -> set[int]:
    out: set[int] = set()
    for s, e in spans:
        if toks is None:
            out.update(range(s, e))
            continue
        assert starts is not None
        k = max(0, bisect.bisect_right(starts, s) - 1)
        while k < len(toks) and toks[k][0] < e:
            if toks[k][1] > s:
                out.add(k)
            k += 1
    return out


def token_prf(
    gold: Evidence, pred: Evidence, texts: Mapping[str, str] | None = None, matched_codes_only: bool = False
) -> dict:
    """Token-level micro P/R/F1 (characters where a document's text is not given)."""
    cache: dict[str, tuple[list[Span] | None, list[int] | None]] = {}
    tp = n_p = n_g = 0
    for d, _, g, p in _pairs(gold, pred, matched_codes_only):
        if d not in cache:
            toks = _tokens((texts or {}).get(d))
            cache[d] = (toks, [t[0] for t in toks] if toks is not None else None)
        toks, starts = cache[d]
        G = _covered(g, toks, starts)
        S = _covered(p, toks, starts)
        tp += len(G & S)
        n_p += len(S)
        n_g += len(G)
    return _prf(tp, n_p, tp, n_g)


def split_sentences(text: str) -> list[Span]:
    """Sentence offsets: every non-empty line, split again after ``.!?`` + capital."""
    out: list[Span] = []
    pos = 0
    for line in text.split("\n"):
        start = 0
        for m in _SENT.finditer(line):
            if line[start : m.start()].strip():
                out.append((pos + start, pos + m.start()))
            start = m.end()
        if line[start:].strip():
            out.append((pos + start, pos + len(line.rstrip())))
        pos += len(line) + 1
    return out


def sentence_precision(
    gold: Evidence,
    pred: Evidence,
    *,
    texts: Mapping[str, str] | None = None,
    sentences: Mapping[str, Sequence[Span]] | None = None,
    matched_codes_only: bool = False,
) -> dict:
    """Sentence-level evidence precision (and recall); see the module docstring."""
    sent_cache: dict[str, list[Span]] = {}
    correct = n_p = found = n_gs = 0
    for d, _, g, p in _pairs(gold, pred, matched_codes_only):
        if d not in sent_cache:
            if sentences is not None and d in sentences:
                sent_cache[d] = [tuple(s) for s in sentences[d]]  # type: ignore[misc]
            elif texts is not None and d in texts:
                sent_cache[d] = split_sentences(texts[d])
            else:
                raise ValueError(f"sentence_precision needs texts or sentences for document {d!r}")
        sents = sent_cache[d]
        gold_sents = {k for k, s in enumerate(sents) if any(_overlaps(s, y) for y in g)}
        n_p += len(p)
        for x in p:
            hit = {k for k, s in enumerate(sents) if _overlaps(s, x)}
            if hit & gold_sents:
                correct += 1
        n_gs += len(gold_sents)
        found += sum(any(_overlaps(sents[k], x) for x in p) for k in gold_sents)
    return _prf(correct, n_p, found, n_gs)


def sentence_precision_ci(
    gold: Evidence,
    pred: Evidence,
    *,
    texts: Mapping[str, str],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> list[float] | None:
    """Bootstrap interval (over documents) of sentence-level evidence precision."""
    import numpy as np

    docs = sorted(set(pred) & set(texts))
    counts = []
    for d in docs:
        r = sentence_precision({d: gold.get(d, {})}, {d: pred[d]}, texts={d: texts[d]})
        counts.append((r["precision"] * r["n_pred"], r["n_pred"]))
    arr = np.array(counts, dtype=float)
    if not len(arr) or arr[:, 1].sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    num, den = arr[idx, 0].sum(axis=1), arr[idx, 1].sum(axis=1)
    vals = num[den > 0] / den[den > 0]
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return [float(np.percentile(vals, lo)), float(np.percentile(vals, hi))]


def evidence_metrics(
    gold: Evidence,
    pred: Evidence,
    *,
    texts: Mapping[str, str] | None = None,
    sentences: Mapping[str, Sequence[Span]] | None = None,
    matched_codes_only: bool = False,
) -> dict:
    """All evidence metrics in one dict (sentence metrics only when texts/sentences are given)."""
    out = {
        "span_exact": span_prf(gold, pred, "exact", matched_codes_only),
        "span_overlap": span_prf(gold, pred, "overlap", matched_codes_only),
        "token": token_prf(gold, pred, texts, matched_codes_only),
    }
    if texts is not None or sentences is not None:
        try:
            out["sentence"] = sentence_precision(
                gold, pred, texts=texts, sentences=sentences, matched_codes_only=matched_codes_only
            )
        except ValueError:
            pass
    return out
