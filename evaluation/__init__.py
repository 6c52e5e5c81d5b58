"""Evaluation: literature-standard coding metrics, intervals, reports.

Entry points: :func:`score` (dicts in, :class:`Report` out),
:func:`evaluate_predictions` (files in), :func:`compare_reports`,
:func:`paired_bootstrap`, :func:`render_html`.  Thresholds are tuned with
:func:`tune_threshold` / :func:`tune_per_code_thresholds` on a development split,
never on the split being reported.
"""

from .bootstrap import HEADLINE, DocStats, bootstrap_cis, paired_bootstrap, resample_weights
from .calibration import brier_score, expected_calibration_error, reliability_diagram, reliability_table
from .codes import category, chapter_of, code_key, harmonize, normalize
from .evidence import evidence_metrics, sentence_precision, span_prf, split_sentences, token_prf
from .htmlreport import render_html
from .io import GoldData, Predictions, read_gold, read_predictions
from .metrics import (
    average_precision,
    category_micro_f1,
    exact_match_ratio,
    macro_prf,
    mean_average_precision,
    micro_prf,
    per_chapter_table,
    per_code_table,
    precision_at_k,
    r_precision,
    recall_at_k,
    top_errors,
)
from .report import Report, compare_reports, evaluate_predictions, pr_curve, score
from .thresholds import apply_threshold, tune_per_code_thresholds, tune_threshold

__all__ = [
    "HEADLINE",
    "DocStats",
    "GoldData",
    "Predictions",
    "Report",
    "apply_threshold",
    "average_precision",
    "bootstrap_cis",
    "brier_score",
    "category",
    "category_micro_f1",
    "chapter_of",
    "code_key",
    "compare_reports",
    "evaluate_predictions",
    "evidence_metrics",
    "exact_match_ratio",
    "expected_calibration_error",
    "harmonize",
    "macro_prf",
    "mean_average_precision",
    "micro_prf",
    "normalize",
    "paired_bootstrap",
    "per_chapter_table",
    "per_code_table",
    "pr_curve",
    "precision_at_k",
    "r_precision",
    "read_gold",
    "read_predictions",
    "recall_at_k",
    "reliability_diagram",
    "reliability_table",
    "render_html",
    "resample_weights",
    "score",
    "sentence_precision",
    "span_prf",
    "split_sentences",
    "token_prf",
    "top_errors",
    "tune_per_code_thresholds",
    "tune_threshold",
]
