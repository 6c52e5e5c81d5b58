"""One call from gold + predictions to a report: :func:`score`.

``score(gold, pred, threshold_or_predicted_sets)`` returns a :class:`Report` (a
JSON-ready ``dict``) with every headline metric and its bootstrap interval under
``<name>_ci`` (``"micro_f1": 0.41, "micro_f1_ci": [0.38, 0.44]``): ``map``,
``micro_precision``, ``micro_recall``, ``micro_f1``, ``macro_precision``,
``macro_recall``, ``macro_f1``, ``p_at_5``/``8``/``15``, ``r_at_5``/``8``/``15``,
``r_precision``, ``exact_match``, ``category_micro_f1``, ``ece``, ``brier``; plus
counts (``n_docs``...), per-chapter and per-code tables (as records), top
errors, the PR curve and reliability bins, and evidence metrics when evidence is
given.  Metric definitions live in :mod:`evaluation.metrics`,
:mod:`evaluation.calibration`, :mod:`evaluation.evidence`; intervals in
:mod:`evaluation.bootstrap`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import orjson
import pandas as pd

from .bootstrap import DEFAULT_KS, HEADLINE, DocStats, bootstrap_cis
from .calibration import calibration_pairs, reliability_table
from .codes import harmonize, rank
from .evidence import evidence_metrics
from .metrics import per_chapter_table, per_code_table, top_errors
from .thresholds import apply_threshold

Gold = Mapping[str, Iterable[str]]
Scored = Mapping[str, Sequence]


class Report(dict):
    """A JSON-ready evaluation report (a plain ``dict`` with helpers)."""

    def headline(self) -> dict[str, Any]:
        """Headline metrics with their intervals."""
        out = {}
        for k in HEADLINE:
            if k in self:
                out[k] = self[k]
                out[f"{k}_ci"] = self.get(f"{k}_ci")
        return out

    def to_json(self, indent: bool = True) -> str:
        opt = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(self, option=opt | orjson.OPT_SERIALIZE_NUMPY).decode()

    def per_code(self) -> pd.DataFrame:
        return pd.DataFrame(self.get("per_code", []))

    def per_chapter(self) -> pd.DataFrame:
        return pd.DataFrame(self.get("per_chapter", []))


def _num(x: Any) -> Any:
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else round(x, 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: _num(v) for k, v in row.items()} for row in df.to_dict("records")]


def pr_curve(gold: Gold, scored: Scored, max_points: int = 200) -> dict[str, list[float]]:
    """Micro precision/recall at every distinct score cut (downsampled)."""
    s, y = calibration_pairs(gold, scored)
    total = sum(len(set(g)) for g in gold.values())
    if s.size == 0 or total == 0:
        return {"threshold": [], "precision": [], "recall": []}
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    n = np.arange(1, len(s) + 1)
    last = np.r_[s[1:] != s[:-1], True]
    th, prec, rec = s[last], (tp / n)[last], (tp / total)[last]
    if len(th) > max_points:
        idx = np.unique(np.linspace(0, len(th) - 1, max_points).round().astype(int))
        th, prec, rec = th[idx], prec[idx], rec[idx]
    return {"threshold": [round(float(v), 6) for v in th], "precision": [round(float(v), 6) for v in prec], "recall": [round(float(v), 6) for v in rec]}


def _predicted_sets(scored: Scored, docs: Iterable[str], spec) -> tuple[dict[str, set[str]], str, float | None]:
    if spec is None:
        return {d: {c for c, _ in rank(scored.get(d, ()))} for d in docs}, "listed", None
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return apply_threshold({d: scored.get(d, ()) for d in docs}, float(spec)), "threshold", float(spec)
    if isinstance(spec, Mapping):
        return {d: set(spec.get(d, ())) for d in docs}, "sets", None
    raise TypeError("threshold_or_predicted_sets must be a number, {doc: set(codes)} or None")


def score(
    gold: Gold,
    pred: Scored,
    threshold_or_predicted_sets: float | Mapping[str, Iterable[str]] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    ks: Sequence[int] = DEFAULT_KS,
    n_bins: int = 10,
    systems: Mapping[str, str] | None = None,
    gold_evidence: Mapping | None = None,
    pred_evidence: Mapping | None = None,
    texts: Mapping[str, str] | None = None,
    sentences: Mapping[str, Sequence] | None = None,
    top_n: int = 20,
    min_support_worst: int = 2,
) -> Report:
    """Score ranked predictions against gold (see the module docstring).

    ``gold``: ``{doc: set(codes)}`` - its keys are the evaluated documents.
    ``pred``: ``{doc: [(code, score), ...]}``.  ``threshold_or_predicted_sets``:
    a threshold (predict ``score >= t``; tune it on another split, see
    :mod:`evaluation.thresholds`), explicit ``{doc: set(codes)}``, or ``None``
    (every listed code is predicted).  Predicted codes are mapped onto gold
    spellings (:func:`evaluation.codes.harmonize`).
    """
    gold_sets = {d: set(c) for d, c in gold.items()}
    docs = list(gold_sets)
    sets_in = threshold_or_predicted_sets if isinstance(threshold_or_predicted_sets, Mapping) else None
    scored_h, sets_h = harmonize(gold_sets, dict(pred), dict(sets_in) if sets_in is not None else None)
    assert scored_h is not None
    predicted, mode, threshold = _predicted_sets(scored_h, docs, sets_h if sets_in is not None else threshold_or_predicted_sets)
    scored_eval = {d: rank(scored_h.get(d, ())) for d in docs}

    stats = DocStats(gold_sets, scored_eval, predicted, ks=ks, n_bins=n_bins, docs=docs)
    point = stats.point()
    cis = bootstrap_cis(stats, n_boot=n_boot, seed=seed, level=level) if n_boot and docs else {}

    report = Report()
    report["n_docs"] = len(docs)
    report["n_docs_with_gold"] = int(sum(1 for d in docs if gold_sets[d]))
    report["n_gold_codes"] = int(sum(len(v) for v in gold_sets.values()))
    report["n_unique_gold_codes"] = len({c for v in gold_sets.values() for c in v})
    report["n_predicted_codes"] = int(sum(len(v) for v in predicted.values()))
    report["n_scored_pairs"] = int(sum(len(v) for v in scored_eval.values()))
    report["n_pred_docs_not_in_gold"] = len(set(pred) - set(docs))
    report["predicted_from"] = mode
    report["threshold"] = threshold
    for k in (*HEADLINE[:7], *[f"p_at_{k}" for k in ks], *[f"r_at_{k}" for k in ks], *HEADLINE[13:]):
        if k not in point:
            continue
        report[k] = _num(point[k])
        report[f"{k}_ci"] = [_num(cis[k][0]), _num(cis[k][1])] if k in cis else None
    report["bootstrap"] = {
        "n_boot": n_boot,
        "seed": seed,
        "level": level,
        "unit": "document",
        "method": "percentile; macro_* re-centred on the observed value",
    }

    code_df = per_code_table(gold_sets, predicted, systems)
    report["per_chapter"] = _records(per_chapter_table(gold_sets, predicted, systems))
    report["per_code"] = _records(code_df)
    worst = code_df[code_df.support >= min_support_worst].sort_values(["f1", "support", "code"], ascending=[True, False, True], kind="stable")
    report["worst_codes"] = _records(worst.head(top_n))
    report["errors"] = top_errors(gold_sets, predicted, n=top_n)
    report["curves"] = {"pr": pr_curve(gold_sets, scored_eval), "reliability": reliability_table(gold_sets, scored_eval, n_bins)}
    for row in report["curves"]["reliability"]:
        for k in ("confidence", "accuracy"):
            row[k] = _num(row[k]) if row[k] is not None else None

    if gold_evidence is not None and pred_evidence is not None:
        pe = {d: _rekey(gold_sets, m) for d, m in pred_evidence.items() if d in gold_sets}
        ge = {d: m for d, m in gold_evidence.items() if d in gold_sets}
        ev = evidence_metrics(ge, pe, texts=texts, sentences=sentences)
        report["evidence"] = {k: {kk: _num(vv) for kk, vv in v.items()} for k, v in ev.items()}
    return report


def _rekey(gold_sets: Mapping[str, set[str]], codes_map: Mapping[str, Any]) -> dict[str, Any]:
    from .codes import code_key

    spelling = {code_key(c): c for g in gold_sets.values() for c in g}
    out: dict[str, Any] = {}
    for c, v in codes_map.items():
        out.setdefault(spelling.get(code_key(c), c), []).extend(v)
    return out


def evaluate_predictions(
    pred_path: str | Path,
    gold_path: str | Path,
    *,
    threshold: float | Mapping[str, float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    html_path: str | Path | None = None,
    title: str = "cac evaluation",
) -> Report:
    """Read ``--predictions`` and ``--gold`` files and :func:`score` them.

    Without ``threshold`` the file's own decisions count (``suggestions`` in cac
    JSONL, every row in CSV); a float or per-code ``{code: t}`` threshold
    re-decides from the scores.  Evidence metrics are added when both files carry
    evidence.  With ``html_path`` the self-contained HTML report is written too.
    """
    from .io import read_gold, read_predictions

    preds = read_predictions(pred_path)
    gold = read_gold(gold_path)
    if threshold is None:
        spec: Any = preds.predicted
    elif isinstance(threshold, Mapping):
        spec = apply_threshold(preds.scored, threshold, default=0.5)
    else:
        spec = float(threshold)
    systems = {**preds.systems, **gold.systems}
    has_ev = bool(gold.evidence) and bool(preds.evidence)
    report = score(
        gold.codes,
        preds.scored,
        spec,
        n_boot=n_boot,
        seed=seed,
        systems=systems,
        gold_evidence=gold.evidence if has_ev else None,
        pred_evidence=preds.evidence if has_ev else None,
        texts=gold.texts or None,
    )
    report["inputs"] = {"predictions": str(pred_path), "gold": str(gold_path)}
    report["per_document"] = per_document(gold.codes, preds.scored, preds.predicted)
    if has_ev:
        # projected (sentence-level) gold evidence: read the "sentence" evidence metrics
        report["evidence_gold_level"] = gold.evidence_level
    if html_path is not None:
        from .htmlreport import render_html

        Path(html_path).write_text(
            render_html(report, texts=gold.texts, pred_evidence=preds.evidence, gold_evidence=gold.evidence, title=title),
            encoding="utf-8",
        )
    return report


def per_document(gold: Mapping[str, set[str]], ranked: Mapping[str, list], predicted: Mapping[str, set[str]]) -> dict:
    """What a paired comparison needs, kept in the report JSON."""
    return {
        "gold": {d: sorted(v) for d, v in gold.items()},
        "ranked": {d: [[c, float(s)] for c, s in ranked.get(d, [])] for d in gold},
        "predicted": {d: sorted(predicted.get(d, ())) for d in gold},
    }


def compare_reports(a: Mapping, b: Mapping, names: tuple[str, str] = ("a", "b"), metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Side-by-side headline metrics of two reports: value, interval, and ``delta = a - b``.

    Overlapping intervals are not a significance test: use
    :func:`evaluation.bootstrap.paired_bootstrap` on the per-document predictions.
    """
    keys = [k for k in (metrics or HEADLINE) if k in a and k in b]
    rows = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        rows.append(
            {
                "metric": k,
                names[0]: va,
                f"{names[0]}_ci": a.get(f"{k}_ci"),
                names[1]: vb,
                f"{names[1]}_ci": b.get(f"{k}_ci"),
                "delta": (va - vb) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None,
            }
        )
    return pd.DataFrame(rows).set_index("metric") if rows else pd.DataFrame(columns=["metric"]).set_index("metric")
