"""Ranking and set metrics against hand-computed values (example in conftest.py)."""

from __future__ import annotations

import pytest

from evaluation import (
    average_precision,
    category_micro_f1,
    chapter_of,
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
from evaluation.codes import category, code_key, harmonize, rank

# --------------------------------------------------------------------------- ranking


def test_average_precision_one_document() -> None:
    # gold at ranks 1, 3, 5: (1/1 + 2/3 + 3/5) / 3 = (15 + 10 + 9) / 45 = 34/45
    ranked = ["E11.9", "E11.65", "I10", "K21.9", "J18.9"]
    assert average_precision({"E11.9", "I10", "J18.9"}, ranked) == pytest.approx(34 / 45)
    # a gold code never ranked adds 0 to the sum but counts in the denominator: (1/1) / 2
    assert average_precision({"A", "B"}, ["A", "C"]) == pytest.approx(0.5)
    assert average_precision(set(), ["A"]) is None


def test_map_over_documents_with_gold(gold, scored) -> None:
    # AP d1 = 34/45, d2 = (1/2)/1 = 1/2, d4 = 1; d3 has no gold and is skipped
    # MAP = (34/45 + 1/2 + 1) / 3 = (68 + 45 + 90) / 270 = 203/270
    assert mean_average_precision(gold, scored) == pytest.approx(203 / 270)


def test_precision_and_recall_at_k(gold, scored) -> None:
    # P@5: d1 3/5, d2 1/5, d4 1/5 -> (3 + 1 + 1) / 15 = 1/3
    assert precision_at_k(gold, scored, 5) == pytest.approx(1 / 3)
    # P@8: (3/8 + 1/8 + 1/8) / 3 = 5/24
    assert precision_at_k(gold, scored, 8) == pytest.approx(5 / 24)
    # P@15: (3 + 1 + 1) / 15 / 3 = 1/9
    assert precision_at_k(gold, scored, 15) == pytest.approx(1 / 9)
    # R@5 = R@8 = R@15 = 1: every gold code is ranked within 5
    for k in (5, 8, 15):
        assert recall_at_k(gold, scored, k) == pytest.approx(1.0)
    # P@2: d1 {E11.9, E11.65} 1/2, d2 {R50.81, R50.9} 1/2, d4 {I10} 1/2 -> 1/2
    assert precision_at_k(gold, scored, 2) == pytest.approx(0.5)
    # R@2: d1 1/3, d2 1/1, d4 1/1 -> (1/3 + 2) / 3 = 7/9
    assert recall_at_k(gold, scored, 2) == pytest.approx(7 / 9)


def test_r_precision(gold, scored) -> None:
    # d1: R = 3, top-3 {E11.9, E11.65, I10} -> 2/3; d2: R = 1, top-1 R50.81 -> 0; d4: 1
    # (2/3 + 0 + 1) / 3 = 5/9
    assert r_precision(gold, scored) == pytest.approx(5 / 9)


def test_ranking_resorts_by_score_and_dedups() -> None:
    assert rank([("A", 0.1), ("B", 0.9), ("A", 0.5), ("C", 0.9)]) == [("B", 0.9), ("C", 0.9), ("A", 0.5)]
    # the ranking, not the list order, decides: B (0.9) first
    assert average_precision({"B"}, [c for c, _ in rank([("A", 0.1), ("B", 0.9)])]) == 1.0


# --------------------------------------------------------------------------- sets


def test_micro(gold, predicted) -> None:
    # TP 3, FP 3, FN 2: P = 3/6, R = 3/5, F1 = 2*3 / (2*3 + 3 + 2) = 6/11
    p, r, f = micro_prf(gold, predicted)
    assert (p, r, f) == pytest.approx((0.5, 0.6, 6 / 11))


def test_macro_over_codes_in_gold_or_predictions(gold, predicted) -> None:
    # codes in gold or predictions: E11.9 (F1 1), I10 (F1 1), J18.9, R50.9 (FN only, 0),
    # E11.65, R50.81, Z00.00 (FP only, 0) -> 7 codes; K21.9 is only ranked, not counted.
    # macro P = R = F1 = 2/7
    assert macro_prf(gold, predicted) == pytest.approx((2 / 7, 2 / 7, 2 / 7))


def test_macro_partial_code() -> None:
    # code A: TP 1, FP 1, FN 0 -> P 1/2, R 1, F1 2/3; code B: TP 1 -> 1, 1, 1
    # macro P = 3/4, R = 1, F1 = (2/3 + 1) / 2 = 5/6
    gold = {"x": {"A", "B"}, "y": set()}
    pred = {"x": {"A", "B"}, "y": {"A"}}
    assert macro_prf(gold, pred) == pytest.approx((0.75, 1.0, 5 / 6))


def test_exact_match(gold, predicted) -> None:
    # only d4 ({I10} == {I10}) matches: 1/4
    assert exact_match_ratio(gold, predicted) == pytest.approx(0.25)
    assert exact_match_ratio({"a": set()}, {}) == 1.0  # nothing to code, nothing predicted


def test_category_micro_f1(gold, predicted) -> None:
    # categories  d1 gold {E11, I10, J18} pred {E11, I10}: TP 2, FN 1
    #             d2 gold {R50} pred {R50}: TP 1;  d3 pred {Z00}: FP 1;  d4 {I10}: TP 1
    # TP 4, FP 1, FN 1 -> F1 = 8 / 10
    assert category_micro_f1(gold, predicted) == pytest.approx(0.8)
    assert category("E11.65") == "E11" and code_key(" e11.65 ") == "E1165"


def test_empty_inputs_are_zero_not_errors() -> None:
    assert micro_prf({}, {}) == (0.0, 0.0, 0.0)
    assert macro_prf({"a": set()}, {}) == (0.0, 0.0, 0.0)
    assert mean_average_precision({"a": set()}, {}) == 0.0
    assert precision_at_k({}, {}, 5) == 0.0


# --------------------------------------------------------------------------- tables


def test_per_code_table(gold, predicted) -> None:
    df = per_code_table(gold, predicted).set_index("code")
    assert df.loc["I10", ["support", "predicted", "tp", "fp", "fn"]].tolist() == [2, 2, 2, 0, 0]
    assert df.loc["E11.65", ["support", "predicted", "fp", "precision", "f1"]].tolist() == [0, 1, 1, 0.0, 0.0]
    assert df.loc["J18.9", "recall"] == 0.0 and df.loc["J18.9", "chapter"] == "CM 10"
    assert len(df) == 7
    assert df.index[0] == "I10"  # sorted by support


def test_per_chapter_table(gold, predicted) -> None:
    df = per_chapter_table(gold, predicted).set_index("chapter")
    # CM 4 (E00-E89): E11.9 TP 1, E11.65 FP 1 -> P 1/2, R 1, F1 = 2/3
    assert df.loc["CM 4", ["tp", "fp", "fn"]].tolist() == [1, 1, 0]
    assert df.loc["CM 4", "f1"] == pytest.approx(2 / 3)
    # CM 9 (I00-I99): I10 twice, both right
    assert df.loc["CM 9", "f1"] == 1.0
    # CM 18: R50.9 missed, R50.81 wrong -> 0
    assert df.loc["CM 18", "f1"] == 0.0
    assert list(df.index) == ["CM 4", "CM 9", "CM 10", "CM 18", "CM 21"]  # chapter order


@pytest.mark.parametrize(
    "code,chapter",
    [
        ("A00.0", "CM 1"),
        ("D49.9", "CM 2"),
        ("D50.0", "CM 3"),
        ("H59.0", "CM 7"),
        ("H60.0", "CM 8"),
        ("O9A.1", "CM 15"),
        ("S72.001A", "CM 19"),
        ("T88.7", "CM 19"),
        ("U07.1", "CM 22"),
        ("0DTJ4ZZ", "PCS 0"),
        ("BW40ZZZ", "PCS B"),
        ("BT41", "PCS B"),
    ],
)
def test_chapters(code: str, chapter: str) -> None:
    assert chapter_of(code) == chapter


def test_top_errors(gold, predicted) -> None:
    errs = top_errors(gold, predicted)
    assert [(e["code"], e["count"], e["doc_ids"]) for e in errs["false_positives"]] == [
        ("E11.65", 1, ["d1"]),
        ("R50.81", 1, ["d2"]),
        ("Z00.00", 1, ["d3"]),
    ]
    assert [(e["code"], e["doc_ids"]) for e in errs["false_negatives"]] == [("J18.9", ["d1"]), ("R50.9", ["d2"])]


def test_harmonize_maps_bare_codes_onto_gold_spelling() -> None:
    gold = {"d": {"E11.22", "BW40ZZZ"}}
    scored, sets = harmonize(gold, {"d": [("E1122", 0.9), ("bw40zzz", 0.5)]}, {"d": {"E1122"}})
    assert scored == {"d": [("E11.22", 0.9), ("BW40ZZZ", 0.5)]}
    assert sets == {"d": {"E11.22"}}
