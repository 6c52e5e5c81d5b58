"""Decision thresholds tuned for micro-F1.

**Tune on a development split, never on the split being reported**: a threshold
chosen on the test documents inflates their F1 (it has seen their labels).  The
usual recipe is ``t = tune_threshold(dev_gold, dev_scored)`` then
``score(test_gold, test_scored, t)``.

A code is predicted when ``score >= threshold``.  :func:`tune_threshold`
is exact: it sweeps every distinct score of the tuning data and returns the one
whose cut maximises micro-F1 (ties -> the higher threshold, fewer predictions).
:func:`tune_per_code_thresholds` starts from that global threshold and, code by
code (coordinate ascent, ``n_iter`` passes), moves a code's threshold to the cut
of its own scores that maximises the *overall* micro-F1 with every other code
fixed.  Codes with fewer than ``min_support`` gold occurrences in the tuning
data keep the global threshold (a per-code threshold on 1-2 examples overfits).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from .codes import rank

Gold = Mapping[str, Iterable[str]]
Scored = Mapping[str, Sequence]


def _pairs(gold: Gold, scored: Scored) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    codes: list[str] = []
    scores: list[float] = []
    labels: list[bool] = []
    total_gold = 0
    for d, g in gold.items():
        gs = set(g)
        total_gold += len(gs)
        for c, s in rank(scored.get(d, ())):
            codes.append(c)
            scores.append(s)
            labels.append(c in gs)
    return codes, np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool), total_gold


def _above(x: float) -> float:
    return float(np.nextafter(x, math.inf))


def tune_threshold(gold: Gold, scored: Scored, default: float = 0.5) -> float:
    """The global threshold maximising micro-F1 on (dev) ``gold``/``scored``.

    Tune on a development split, never on the split being reported.

    Returns ``default`` when nothing is scored, and a value just above the top
    score when no cut yields a true positive (predict nothing).
    """
    _, scores, labels, total_gold = _pairs(gold, scored)
    if scores.size == 0:
        return float(default)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    n_pred = np.arange(1, len(s) + 1)
    last = np.r_[s[1:] != s[:-1], True]  # cut only after the last of equal scores
    f1 = np.where(last, 2.0 * tp / (n_pred + total_gold), -1.0)
    best = int(np.argmax(f1))  # first max = highest threshold among ties
    if f1[best] <= 0:
        return _above(float(s[0]))
    return float(s[best])


def _best_cut(scores: np.ndarray, labels: np.ndarray, tp_rest: float, np_rest: float, total_gold: int, current: float) -> float:
    """Best threshold for one code given the rest of the system's TP/pred counts."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.r_[0, np.cumsum(y)]
    n = np.arange(0, len(s) + 1)
    thresholds = np.r_[_above(float(s[0])), s]
    valid = np.r_[True, np.r_[s[1:] != s[:-1], True]]
    f1 = 2.0 * (tp_rest + tp) / np.maximum(np_rest + n + total_gold, 1)
    f1 = np.where(valid, f1, -1.0)
    # keep the current threshold unless something is strictly better
    cur_n = int(np.sum(s >= current))
    cur_f1 = 2.0 * (tp_rest + tp[cur_n]) / max(np_rest + cur_n + total_gold, 1)
    best = int(np.argmax(f1))
    if f1[best] > cur_f1 + 1e-12:
        return float(thresholds[best])
    return float(current)


def tune_per_code_thresholds(
    gold: Gold,
    scored: Scored,
    *,
    global_threshold: float | None = None,
    min_support: int = 2,
    n_iter: int = 2,
) -> dict[str, float]:
    """Per-code thresholds maximising overall micro-F1 (coordinate ascent).

    Returns a threshold for every code scored in the tuning data (the global one
    where the code had too little support); pass the global threshold as the
    ``default`` of :func:`apply_threshold` for codes never seen while tuning.
    """
    codes, scores, labels, total_gold = _pairs(gold, scored)
    t0 = tune_threshold(gold, scored) if global_threshold is None else float(global_threshold)
    if not codes:
        return {}
    support: dict[str, int] = {}
    for g in gold.values():
        for c in set(g):
            support[c] = support.get(c, 0) + 1
    by_code: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        by_code.setdefault(c, []).append(i)
    thr = {c: t0 for c in by_code}
    idx = {c: np.asarray(ix) for c, ix in by_code.items()}

    def counts(c: str, t: float) -> tuple[int, int]:
        sel = scores[idx[c]] >= t
        return int(np.sum(labels[idx[c]] & sel)), int(np.sum(sel))

    tp_tot = n_tot = 0
    for c in by_code:
        a, b = counts(c, thr[c])
        tp_tot += a
        n_tot += b
    tunable = sorted(c for c in by_code if support.get(c, 0) >= min_support)
    for _ in range(max(1, n_iter)):
        changed = False
        for c in tunable:
            a, b = counts(c, thr[c])
            new = _best_cut(scores[idx[c]], labels[idx[c]], tp_tot - a, n_tot - b, total_gold, thr[c])
            if new != thr[c]:
                a2, b2 = counts(c, new)
                tp_tot += a2 - a
                n_tot += b2 - b
                thr[c] = new
                changed = True
        if not changed:
            break
    return thr


def apply_threshold(
    scored: Scored, threshold: float | Mapping[str, float], default: float = 0.5
) -> dict[str, set[str]]:
    """Predicted sets: every code whose score is ``>=`` its threshold.

    ``threshold`` is one float or ``{code: threshold}`` (codes missing from it use
    ``default``).
    """
    out: dict[str, set[str]] = {}
    for d, items in scored.items():
        if isinstance(threshold, Mapping):
            out[d] = {c for c, s in rank(items) if s >= threshold.get(c, default)}
        else:
            out[d] = {c for c, s in rank(items) if s >= float(threshold)}
    return out
