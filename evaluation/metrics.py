"""Coding metrics as pure functions, matching the literature.

Inputs (codes already normalised, see :mod:`evaluation.codes`):

* ``gold``: ``{doc_id: set[code]}`` - the evaluation set is ``gold``'s keys
  (a document with an empty set is still evaluated);
* ``scored``: ``{doc_id: [(code, score), ...]}`` - the ranking (re-sorted by
  score, highest first, ties in input order; a missing document ranks nothing);
* ``predicted``: ``{doc_id: set[code]}`` - the codes the system asserts
  (:func:`evaluation.thresholds.apply_threshold` turns scores into sets).

Ranking metrics (documents **with** gold only, as in TREC/CodiEsp):

* **MAP** (CodiEsp-D/P, computed there with trectools): per document
  ``AP = sum_{k: rank k is gold} P@k / |gold|``; the mean over documents with gold.
  Gold codes never ranked contribute 0.
* **P@k** ``= |top-k ∩ gold| / k`` and **R@k** ``= |top-k ∩ gold| / |gold|``,
  averaged over documents (k = 5, 8, 15 by default).
* **R-precision** ``= |top-R ∩ gold| / R`` with ``R = |gold|``.

Set metrics (every document):

* **micro** P/R/F1 over all (document, code) decisions: ``P = TP/(TP+FP)``,
  ``R = TP/(TP+FN)``, ``F1 = 2TP/(2TP+FP+FN)`` (0 when undefined).
* **macro** P/R/F1 as in Edin et al. (2023): per code ``P_c``, ``R_c``,
  ``F1_c = 2TP_c/(2TP_c+FP_c+FN_c)``, averaged over the codes that occur in
  the gold **or** the predictions of the evaluated documents (codes seen in
  neither are not averaged in; an undefined ``P_c``/``R_c`` counts 0).
* **exact match ratio**: fraction of documents whose predicted set equals gold.
* **category micro-F1**: micro-F1 after mapping every code to its first three
  characters (ICD-10-CM category; partial credit for a near miss).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .codes import category, chapter_of, chapter_table, rank

Gold = Mapping[str, Iterable[str]]
Scored = Mapping[str, Sequence]
Predicted = Mapping[str, Iterable[str]]

DEFAULT_KS = (5, 8, 15)


def _safe(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _ranked_codes(scored: Scored, doc: str) -> list[str]:
    return [c for c, _ in rank(scored.get(doc, ()))]


# --------------------------------------------------------------------------- ranking


def average_precision(gold_codes: Iterable[str], ranked: Sequence[str]) -> float | None:
    """CodiEsp/TREC AP of one document; ``None`` when it has no gold."""
    gold_set = set(gold_codes)
    if not gold_set:
        return None
    hits = 0
    total = 0.0
    for k, code in enumerate(ranked, start=1):
        if code in gold_set:
            hits += 1
            total += hits / k
    return total / len(gold_set)


def mean_average_precision(gold: Gold, scored: Scored) -> float:
    """Mean AP over documents with gold (0.0 when none has gold)."""
    aps = [average_precision(codes, _ranked_codes(scored, d)) for d, codes in gold.items()]
    aps = [a for a in aps if a is not None]
    return sum(aps) / len(aps) if aps else 0.0


def precision_at_k(gold: Gold, scored: Scored, k: int) -> float:
    """Mean over documents with gold of ``|top-k ∩ gold| / k``."""
    vals = [
        len(set(_ranked_codes(scored, d)[:k]) & set(codes)) / k for d, codes in gold.items() if set(codes)
    ]
    return sum(vals) / len(vals) if vals else 0.0


def recall_at_k(gold: Gold, scored: Scored, k: int) -> float:
    """Mean over documents with gold of ``|top-k ∩ gold| / |gold|``."""
    vals = [
        len(set(_ranked_codes(scored, d)[:k]) & set(codes)) / len(set(codes))
        for d, codes in gold.items()
        if set(codes)
    ]
    return sum(vals) / len(vals) if vals else 0.0


def r_precision(gold: Gold, scored: Scored) -> float:
    """Mean over documents with gold of ``|top-R ∩ gold| / R``, ``R = |gold|``."""
    vals = []
    for d, codes in gold.items():
        g = set(codes)
        if g:
            vals.append(len(set(_ranked_codes(scored, d)[: len(g)]) & g) / len(g))
    return sum(vals) / len(vals) if vals else 0.0


# --------------------------------------------------------------------------- sets


def confusion(gold: Gold, predicted: Predicted) -> tuple[Counter, Counter, Counter]:
    """Per-code TP, FP and FN counts over ``gold``'s documents."""
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for d, codes in gold.items():
        g = set(codes)
        p = set(predicted.get(d, ()))
        tp.update(g & p)
        fp.update(p - g)
        fn.update(g - p)
    return tp, fp, fn


def micro_prf(gold: Gold, predicted: Predicted) -> tuple[float, float, float]:
    """Micro precision, recall, F1."""
    tp, fp, fn = confusion(gold, predicted)
    t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return _safe(t, t + f_p), _safe(t, t + f_n), _safe(2 * t, 2 * t + f_p + f_n)


def macro_prf(gold: Gold, predicted: Predicted) -> tuple[float, float, float]:
    """Macro precision, recall, F1 over codes in gold or predictions (Edin et al. 2023)."""
    tp, fp, fn = confusion(gold, predicted)
    codes = set(tp) | set(fp) | set(fn)
    if not codes:
        return 0.0, 0.0, 0.0
    p = sum(_safe(tp[c], tp[c] + fp[c]) for c in codes) / len(codes)
    r = sum(_safe(tp[c], tp[c] + fn[c]) for c in codes) / len(codes)
    f = sum(_safe(2 * tp[c], 2 * tp[c] + fp[c] + fn[c]) for c in codes) / len(codes)
    return p, r, f


def exact_match_ratio(gold: Gold, predicted: Predicted) -> float:
    """Fraction of documents whose predicted set equals the gold set."""
    if not gold:
        return 0.0
    return sum(set(codes) == set(predicted.get(d, ())) for d, codes in gold.items()) / len(gold)


def category_micro_f1(gold: Gold, predicted: Predicted) -> float:
    """Micro-F1 at category level (first three characters of each code)."""
    g = {d: {category(c) for c in codes} for d, codes in gold.items()}
    p = {d: {category(c) for c in predicted.get(d, ())} for d in gold}
    return micro_prf(g, p)[2]


# --------------------------------------------------------------------------- tables

_TABLE_COLUMNS = ["support", "predicted", "tp", "fp", "fn", "precision", "recall", "f1"]


def per_code_table(gold: Gold, predicted: Predicted, systems: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per code seen in gold or predictions: support (gold documents),
    predicted, tp, fp, fn, precision, recall, f1 and chapter; sorted by support."""
    tp, fp, fn = confusion(gold, predicted)
    rows = []
    for c in set(tp) | set(fp) | set(fn):
        t, f_p, f_n = tp[c], fp[c], fn[c]
        rows.append(
            {
                "code": c,
                "chapter": chapter_of(c, (systems or {}).get(c)),
                **_counts_row(t, f_p, f_n),
            }
        )
    df = pd.DataFrame(rows, columns=["code", "chapter", *_TABLE_COLUMNS])
    if len(df):
        df = df.sort_values(["support", "code"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return df


def _counts_row(t: int, f_p: int, f_n: int) -> dict:
    """Support, counts and P/R/F1 of one table row."""
    return {
        "support": t + f_n, "predicted": t + f_p, "tp": t, "fp": f_p, "fn": f_n,
        "precision": _safe(t, t + f_p), "recall": _safe(t, t + f_n), "f1": _safe(2 * t, 2 * t + f_p + f_n),
    }


def per_chapter_table(gold: Gold, predicted: Predicted, systems: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Micro P/R/F1 per ICD-10-CM chapter / PCS section (codes pooled within a chapter)."""
    codes = per_code_table(gold, predicted, systems)
    titles = {r["chapter"]: (r["range"], r["title"]) for r in chapter_table()}
    rows = []
    for ch, grp in codes.groupby("chapter", sort=False):
        t, f_p, f_n = int(grp.tp.sum()), int(grp.fp.sum()), int(grp.fn.sum())
        rng, title = titles.get(ch, ("", "not in any chapter"))
        rows.append(
            {
                "chapter": ch,
                "range": rng,
                "title": title,
                "codes": len(grp),
                **_counts_row(t, f_p, f_n),
            }
        )
    order = {r["chapter"]: i for i, r in enumerate(chapter_table())}
    df = pd.DataFrame(rows, columns=["chapter", "range", "title", "codes", *_TABLE_COLUMNS])
    if len(df):
        df = df.assign(_o=df.chapter.map(lambda c: order.get(c, len(order)))).sort_values("_o").drop(columns="_o")
        df = df.reset_index(drop=True)
    return df


def top_errors(
    gold: Gold, predicted: Predicted, n: int = 20, examples: int = 5
) -> dict[str, list[dict]]:
    """Most frequent false positives and false negatives.

    ``{"false_positives": [{"code", "count", "doc_ids"}], "false_negatives": [...]}``,
    each sorted by count (then code), with up to ``examples`` document ids.
    """
    fps: dict[str, list[str]] = {}
    fns: dict[str, list[str]] = {}
    for d in sorted(gold):
        g = set(gold[d])
        p = set(predicted.get(d, ()))
        for c in p - g:
            fps.setdefault(c, []).append(d)
        for c in g - p:
            fns.setdefault(c, []).append(d)

    def table(src: dict[str, list[str]]) -> list[dict]:
        ordered = sorted(src.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:n]
        return [{"code": c, "count": len(ds), "doc_ids": ds[:examples]} for c, ds in ordered]

    return {"false_positives": table(fps), "false_negatives": table(fns)}
