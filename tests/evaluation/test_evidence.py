"""Evidence metrics against hand-computed values."""

from __future__ import annotations

import pytest

from evaluation import evidence_metrics, sentence_precision, span_prf, split_sentences, token_prf

TEXT = "Patient has type 2 diabetes. Also hypertension noted.\nNo fever."
#       0           12             27  29   34          46     53 54 57   62
TEXTS = {"d1": TEXT}
GOLD = {"d1": {"E11.9": [(12, 27)], "I10": [(34, 46)]}}
PRED = {"d1": {"E11.9": [(12, 27)], "I10": [(29, 46)], "R50.9": [(57, 62)]}}


def test_offsets_are_what_the_comments_say() -> None:
    assert TEXT[12:27] == "type 2 diabetes" and TEXT[34:46] == "hypertension"
    assert TEXT[29:46] == "Also hypertension" and TEXT[57:62] == "fever"


def test_span_exact() -> None:
    # 3 predicted spans, 1 identical to gold -> P 1/3; 2 gold spans, 1 found -> R 1/2
    # F1 = 2 * (1/3) * (1/2) / (1/3 + 1/2) = (1/3) / (5/6) = 2/5
    m = span_prf(GOLD, PRED, "exact")
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((1 / 3, 1 / 2, 2 / 5))
    assert (m["n_pred"], m["n_gold"]) == (3, 2)


def test_span_overlap() -> None:
    # E11.9 and I10 predictions overlap their gold, R50.9 has no gold: P 2/3; both gold found: R 1
    # F1 = 2 * (2/3) / (5/3) = 4/5
    m = span_prf(GOLD, PRED, "overlap")
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))


def test_token_level() -> None:
    # tokens: Patient has type 2 diabetes . Also hypertension noted . No fever .
    # E11.9: gold {type, 2, diabetes} = pred -> TP 3
    # I10: gold {hypertension}, pred {Also, hypertension} -> TP 1
    # R50.9: pred {fever}, no gold -> TP 0
    # P = 4/6, R = 4/4, F1 = 2*(2/3)/(5/3) = 4/5
    m = token_prf(GOLD, PRED, TEXTS)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (m["n_pred"], m["n_gold"]) == (6, 4)


def test_character_level_without_text() -> None:
    # characters: E11.9 15 = 15; I10 gold 12 chars, pred 17 chars, 12 shared; R50.9 5 pred chars
    # P = 27/37, R = 27/27
    m = token_prf(GOLD, PRED)
    assert (m["precision"], m["recall"]) == pytest.approx((27 / 37, 1.0))


def test_sentence_level() -> None:
    # sentences: [0,28) "Patient has type 2 diabetes."  [29,53) "Also hypertension noted."  [54,63) "No fever."
    assert [TEXT[s:e] for s, e in split_sentences(TEXT)] == [
        "Patient has type 2 diabetes.",
        "Also hypertension noted.",
        "No fever.",
    ]
    # E11.9 pred in sentence 0 (gold sentence) ok; I10 pred in sentence 1 (gold) ok; R50.9 no gold -> wrong
    # precision 2/3; gold sentences {0 for E11.9, 1 for I10} both contain a prediction -> recall 1
    m = sentence_precision(GOLD, PRED, texts=TEXTS)
    assert (m["precision"], m["recall"]) == pytest.approx((2 / 3, 1.0))
    # explicit sentences (e.g. CodiEsp English lines) give the same answer
    m2 = sentence_precision(GOLD, PRED, sentences={"d1": split_sentences(TEXT)})
    assert m2 == m


def test_matched_codes_only() -> None:
    # drop R50.9 (no gold): exact P = 1/2, R = 1/2
    m = span_prf(GOLD, PRED, "exact", matched_codes_only=True)
    assert (m["precision"], m["recall"]) == pytest.approx((0.5, 0.5))


def test_evidence_metrics_bundle() -> None:
    out = evidence_metrics(GOLD, PRED, texts=TEXTS)
    assert set(out) == {"span_exact", "span_overlap", "token", "sentence"}
    assert "sentence" not in evidence_metrics(GOLD, PRED)


def test_duplicate_and_empty_spans_are_ignored() -> None:
    m = span_prf({"d": {"A": [(0, 3), (0, 3)]}}, {"d": {"A": [(0, 3), (5, 5)]}}, "exact")
    assert (m["n_pred"], m["n_gold"], m["precision"]) == (1, 1, 1.0)


def test_sentence_precision_ci_brackets_the_value():
    from evaluation.evidence import sentence_precision, sentence_precision_ci

    texts = {"a": "Fever today. Cough too.", "b": "Rash. Pain."}
    gold = {"a": {"R50.9": [(0, 5)]}, "b": {"R21": [(0, 4)]}}
    # a: predicted span in the gold sentence (correct); b: predicted span in the other sentence (wrong)
    pred = {"a": {"R50.9": [(0, 5)]}, "b": {"R21": [(6, 10)]}}
    p = sentence_precision(gold, pred, texts=texts)["precision"]
    assert p == 0.5
    lo, hi = sentence_precision_ci(gold, pred, texts=texts, n_boot=200)
    assert 0.0 <= lo <= p <= hi <= 1.0
