"""Threshold tuning and calibration against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import (
    apply_threshold,
    brier_score,
    expected_calibration_error,
    reliability_diagram,
    reliability_table,
    tune_per_code_thresholds,
    tune_threshold,
)

# --------------------------------------------------------------------------- thresholds


def test_global_threshold_maximises_micro_f1() -> None:
    # one document, gold {a, b}; sorted scores a .9, x .8, b .7, y .6, z .5
    # cut after n:  1 -> 2*1/(1+2) = .667   2 -> 2/4 = .5   3 -> 2*2/(3+2) = .8
    #               4 -> 4/6 = .667         5 -> 4/7 = .571
    gold = {"d": {"a", "b"}}
    scored = {"d": [("a", 0.9), ("x", 0.8), ("b", 0.7), ("y", 0.6), ("z", 0.5)]}
    assert tune_threshold(gold, scored) == 0.7


def test_global_threshold_on_shared_example(gold, scored) -> None:
    # pairs by score: .95+ .9+ .8- .7- .6+ .55- .4+ .3- .2+ ; 5 gold codes
    # F1 at each cut: 2/6, 4/7, 4/8, 4/9, 6/10, 6/11, 8/12, 8/13, 10/14 -> best is the last (.714)
    assert tune_threshold(gold, scored) == 0.2


def test_ties_are_cut_together_and_prefer_higher_threshold() -> None:
    # a and x share 0.8: cutting between them is impossible.  Cuts: .8 -> TP1 of 2 pred, F1 = 2/(2+1) = .667
    # .5 -> TP1 of 3, F1 = 2/4 = .5
    gold = {"d": {"a"}}
    scored = {"d": [("x", 0.8), ("a", 0.8), ("y", 0.5)]}
    assert tune_threshold(gold, scored) == 0.8


def test_no_true_positive_means_predict_nothing() -> None:
    t = tune_threshold({"d": {"a"}}, {"d": [("x", 0.4)]})
    assert t > 0.4 and apply_threshold({"d": [("x", 0.4)]}, t) == {"d": set()}
    assert tune_threshold({}, {}) == 0.5


def test_per_code_thresholds() -> None:
    # A's positives score .65/.6 and its negative .3; B's positives .9/.8, its negatives .7/.55.
    # Global: cuts F1 = .4 .667 .571 .75 .889 .8 .727 -> 0.6 (B .7 is the one FP)
    # Coordinate ascent: A stays at .6; B given A (TP 2, 2 predicted): cut .8 -> 2*4/(4+4) = 1.0
    gold = {"d1": {"A"}, "d2": {"A"}, "d3": {"B"}, "d4": {"B"}}
    scored = {
        "d1": [("A", 0.65), ("B", 0.7)],
        "d2": [("A", 0.6), ("B", 0.55)],
        "d3": [("B", 0.9), ("A", 0.3)],
        "d4": [("B", 0.8)],
    }
    assert tune_threshold(gold, scored) == 0.6
    thr = tune_per_code_thresholds(gold, scored)
    assert thr == {"A": 0.6, "B": 0.8}
    pred = apply_threshold(scored, thr)
    assert pred == {"d1": {"A"}, "d2": {"A"}, "d3": {"B"}, "d4": {"B"}}
    # with too little support every code keeps the global threshold
    assert tune_per_code_thresholds(gold, scored, min_support=3) == {"A": 0.6, "B": 0.6}


def test_apply_threshold_default_for_unseen_codes() -> None:
    scored = {"d": [("A", 0.5), ("C", 0.5)]}
    assert apply_threshold(scored, {"A": 0.4}, default=0.6) == {"d": {"A"}}


# --------------------------------------------------------------------------- calibration


def test_ece_and_brier_by_hand(gold, scored) -> None:
    # pairs (score, in gold):  d1 .9+ .8- .6+ .3- .2+   d2 .7- .4+   d3 .55-   d4 .95+
    # bins of width .1:  [.9,1] {.9+, .95+}: |2 - 1.85| = .15    [.8) .8-: .8   [.7) .7-: .7
    #   [.6) .6+: .4   [.5) .55-: .55   [.4) .4+: .6   [.3) .3-: .3   [.2) .2+: .8
    # ECE = sum |sum(y) - sum(s)| / N = 4.3 / 9
    assert expected_calibration_error(gold, scored) == pytest.approx(4.3 / 9)
    # Brier: .01 + .64 + .16 + .09 + .64 + .49 + .36 + .3025 + .0025 = 2.695 -> / 9
    assert brier_score(gold, scored) == pytest.approx(2.695 / 9)


def test_perfect_calibration_is_zero() -> None:
    gold = {"d": {"a"}}
    assert expected_calibration_error(gold, {"d": [("a", 1.0), ("b", 0.0)]}) == 0.0
    assert brier_score(gold, {"d": [("a", 1.0), ("b", 0.0)]}) == 0.0
    assert expected_calibration_error({}, {}) == 0.0


def test_reliability_table_and_diagram(gold, scored) -> None:
    rows = reliability_table(gold, scored)
    assert len(rows) == 10
    top = rows[9]
    # bin [.9, 1]: .9 and .95, both in gold
    assert top["count"] == 2 and top["accuracy"] == 1.0 and top["confidence"] == pytest.approx(0.925)
    assert rows[0]["count"] == 0 and rows[0]["accuracy"] is None
    fig = reliability_diagram(gold, scored)
    assert fig.axes and fig.axes[0].get_xlabel() == "confidence"


def test_scores_are_clipped() -> None:
    # 1.7 counts as 1.0 (in gold): error 0; -0.2 as 0.0 (not in gold): error 0
    assert brier_score({"d": {"a"}}, {"d": [("a", 1.7), ("b", -0.2)]}) == 0.0
    assert np.isfinite(expected_calibration_error({"d": {"a"}}, {"d": [("a", 1.7)]}))
