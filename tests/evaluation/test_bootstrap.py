"""Bootstrap intervals and the paired test."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from evaluation import (
    DocStats,
    apply_threshold,
    expected_calibration_error,
    macro_prf,
    mean_average_precision,
    micro_prf,
    paired_bootstrap,
    precision_at_k,
    resample_weights,
    score,
)
from evaluation.bootstrap import bootstrap_cis


def test_weighted_statistics_by_hand(gold, scored, predicted) -> None:
    stats = DocStats(gold, scored, predicted)
    assert stats.docs == ["d1", "d2", "d3", "d4"]
    # resample d1 twice and d3 once: TP 2*2 = 4, FP 2*1 + 1 = 3, FN 2*1 = 2
    # micro F1 = 8 / (8 + 3 + 2) = 8/13; MAP = (34/45 * 2) / 2 = 34/45 (d3 has no gold)
    out = stats.compute(np.array([[2.0, 0.0, 1.0, 0.0]]))
    assert out["micro_f1"][0] == pytest.approx(8 / 13)
    assert out["map"][0] == pytest.approx(34 / 45)
    # exact match: none of d1, d1, d3 matches
    assert out["exact_match"][0] == 0.0


def test_observed_sample_matches_pure_functions(gold, scored, predicted) -> None:
    point = DocStats(gold, scored, predicted).point()
    assert point["micro_f1"] == pytest.approx(micro_prf(gold, predicted)[2])
    assert point["macro_f1"] == pytest.approx(macro_prf(gold, predicted)[2])
    assert point["map"] == pytest.approx(mean_average_precision(gold, scored))
    assert point["p_at_8"] == pytest.approx(precision_at_k(gold, scored, 8))
    assert point["ece"] == pytest.approx(expected_calibration_error(gold, scored))


def synthetic(n_docs: int = 250, n_codes: int = 400, seed: int = 0, noise: float = 0.5):
    rnd = random.Random(seed)
    codes = [f"{chr(65 + i % 26)}{i % 90 + 10}.{i // 90}" for i in range(n_codes)]
    gold = {f"d{i}": set(rnd.sample(codes, rnd.randint(0, 12))) for i in range(n_docs)}
    pred = {}
    for d, g in gold.items():
        items = [(c, rnd.random() * noise) for c in rnd.sample(codes, 15)]
        items += [(c, 1 - rnd.random() * noise) for c in g if rnd.random() < 0.8]
        pred[d] = items
    return gold, pred


def test_vectorised_resamples_equal_brute_force() -> None:
    gold, pred = synthetic(40, 60, seed=1)
    sets = apply_threshold(pred, 0.5)
    stats = DocStats(gold, pred, sets)
    W = resample_weights(stats.n, 3, seed=5)
    fast = stats.compute(W)
    for b in range(3):
        g2, p2, s2 = {}, {}, {}
        for i, d in enumerate(stats.docs):
            for r in range(int(W[b, i])):
                g2[f"{d}#{r}"], p2[f"{d}#{r}"], s2[f"{d}#{r}"] = gold[d], sets[d], pred[d]
        assert fast["micro_f1"][b] == pytest.approx(micro_prf(g2, p2)[2])
        assert fast["macro_f1"][b] == pytest.approx(macro_prf(g2, p2)[2])
        assert fast["macro_precision"][b] == pytest.approx(macro_prf(g2, p2)[0])
        assert fast["map"][b] == pytest.approx(mean_average_precision(g2, s2))
        assert fast["ece"][b] == pytest.approx(expected_calibration_error(g2, s2))


def test_intervals_are_seeded_and_bracket_the_estimate() -> None:
    gold, pred = synthetic(120, 200, seed=2)
    stats = DocStats(gold, pred, apply_threshold(pred, 0.5))
    a = bootstrap_cis(stats, n_boot=300, seed=7)
    b = bootstrap_cis(stats, n_boot=300, seed=7)
    assert a == b
    point = stats.point()
    for k in ("micro_f1", "map", "p_at_8", "ece"):
        lo, hi = a[k]
        assert lo <= point[k] <= hi and hi - lo > 0


def test_250_docs_1000_resamples_is_fast() -> None:
    gold, pred = synthetic(250, 2000, seed=3)
    t0 = time.perf_counter()
    report = score(gold, pred, 0.5, n_boot=1000)
    assert time.perf_counter() - t0 < 5.0
    assert report["n_docs"] == 250 and len(report["micro_f1_ci"]) == 2


def test_paired_bootstrap_identical_systems() -> None:
    gold, pred = synthetic(60, 80, seed=4)
    out = paired_bootstrap(gold, pred, pred, 0.5, 0.5, n_boot=200)
    assert out["delta"] == 0.0 and out["p_value"] == 1.0


def test_paired_bootstrap_detects_a_clearly_better_system() -> None:
    gold, good = synthetic(150, 100, seed=5, noise=0.3)
    _, bad = synthetic(150, 100, seed=5, noise=1.0)
    out = paired_bootstrap(gold, good, bad, 0.5, 0.5, metric="micro_f1", n_boot=500, seed=1)
    assert out["delta"] > 0 and out["p_value"] < 0.01
    assert out["delta_ci"][0] > 0
    # the other direction has the opposite sign and the same p-value
    rev = paired_bootstrap(gold, bad, good, 0.5, 0.5, metric="micro_f1", n_boot=500, seed=1)
    assert rev["delta"] == pytest.approx(-out["delta"]) and rev["p_value"] == out["p_value"]
    with pytest.raises(ValueError):
        paired_bootstrap(gold, good, bad, metric="nope")


def test_no_documents() -> None:
    stats = DocStats({}, {}, {})
    assert stats.point()["micro_f1"] == 0.0
    assert resample_weights(0, 5).shape == (5, 0)


def test_macro_interval_contains_the_estimate_with_rare_codes() -> None:
    # many codes seen once and never predicted (F1 0) + a few frequent predicted codes:
    # raw percentile intervals of macro-F1 sit above the observed value; re-centred ones do not
    gold = {f"d{i}": {f"R{i:03d}", "A01"} for i in range(100)}
    pred = {f"d{i}": [("A01", 0.9), ("B01", 0.8)] for i in range(100)}
    stats = DocStats(gold, pred, apply_threshold(pred, 0.5))
    point = stats.point()["macro_f1"]
    lo, hi = bootstrap_cis(stats, n_boot=300, seed=0)["macro_f1"]
    assert lo <= point <= hi
    raw_lo, _ = bootstrap_cis(stats, n_boot=300, seed=0, recentre=())["macro_f1"]
    assert raw_lo > point  # the bias the re-centring removes
