"""Calibration of confidences: ECE, Brier score and a reliability diagram.

The unit is every ranked ``(document, code, score)`` a system emits (suggestions
and candidates alike), labelled 1 when the code is in the document's gold set.
Gold codes the system never scored are *not* pairs (a missing code has no
confidence to calibrate; recall metrics account for them).  Scores are clipped
to ``[0, 1]``.

* **ECE** (expected calibration error, Guo et al. 2017): ``n_bins`` equal-width
  bins ``[0, 0.1), [0.1, 0.2), ..., [0.9, 1.0]``;
  ``ECE = sum_b (n_b / N) * |acc_b - conf_b|`` where ``acc_b`` is the fraction of
  gold pairs and ``conf_b`` the mean score in bin ``b``.
* **Brier score**: ``mean((score - label)^2)`` over the same pairs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.figure import Figure

from .codes import rank

Gold = Mapping[str, Iterable[str]]
Scored = Mapping[str, Sequence]


def calibration_pairs(gold: Gold, scored: Scored) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, labels)`` over every ranked code of ``gold``'s documents."""
    s: list[float] = []
    y: list[float] = []
    for d, g in gold.items():
        gs = set(g)
        for c, sc in rank(scored.get(d, ())):
            s.append(sc)
            y.append(1.0 if c in gs else 0.0)
    return np.clip(np.asarray(s, dtype=float), 0.0, 1.0), np.asarray(y, dtype=float)


def bin_index(scores: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Equal-width bin of each score (1.0 falls in the last bin)."""
    return np.minimum((np.clip(scores, 0.0, 1.0) * n_bins).astype(int), n_bins - 1)


def reliability_table(gold: Gold, scored: Scored, n_bins: int = 10) -> list[dict]:
    """Per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean score), ``accuracy``."""
    s, y = calibration_pairs(gold, scored)
    b = bin_index(s, n_bins)
    rows = []
    for k in range(n_bins):
        m = b == k
        n = int(m.sum())
        rows.append(
            {
                "lower": k / n_bins,
                "upper": (k + 1) / n_bins,
                "count": n,
                "confidence": float(s[m].mean()) if n else None,
                "accuracy": float(y[m].mean()) if n else None,
            }
        )
    return rows


def expected_calibration_error(gold: Gold, scored: Scored, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins (0.0 when nothing is scored)."""
    s, y = calibration_pairs(gold, scored)
    if s.size == 0:
        return 0.0
    b = bin_index(s, n_bins)
    conf = np.bincount(b, weights=s, minlength=n_bins)
    acc = np.bincount(b, weights=y, minlength=n_bins)
    return float(np.sum(np.abs(acc - conf)) / s.size)


def brier_score(gold: Gold, scored: Scored) -> float:
    """Mean squared error of the scores against gold membership (0.0 when empty)."""
    s, y = calibration_pairs(gold, scored)
    return float(np.mean((s - y) ** 2)) if s.size else 0.0


def reliability_diagram(
    gold: Gold | None = None,
    scored: Scored | None = None,
    n_bins: int = 10,
    *,
    table: list[dict] | None = None,
    title: str = "Reliability diagram",
) -> Figure:
    """A matplotlib figure (Agg canvas, no pyplot state): accuracy per confidence bin
    against the diagonal, with bin counts.  Pass ``gold``/``scored`` or a
    precomputed :func:`reliability_table`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = table if table is not None else reliability_table(gold or {}, scored or {}, n_bins)
    fig = Figure(figsize=(5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = (rows[0]["upper"] - rows[0]["lower"]) if rows else 0.1
    lefts = [r["lower"] for r in rows if r["count"]]
    accs = [r["accuracy"] for r in rows if r["count"]]
    confs = [r["confidence"] for r in rows if r["count"]]
    ax.bar(lefts, accs, width=width, align="edge", color="#4C72B0", edgecolor="white", label="accuracy")
    ax.bar(lefts, [c - a for c, a in zip(confs, accs)], bottom=accs, width=width, align="edge",
           color="#DD8452", alpha=0.35, edgecolor="none", label="gap to confidence")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for r in rows:
        if r["count"]:
            ax.text(r["lower"] + width / 2, 0.02, str(r["count"]), ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("fraction correct")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
