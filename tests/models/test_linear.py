"""LinearCoder: fit/predict/calibrate on a tiny corpus, evidence sentences, save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import TextRanker
from models.linear import LinearCoder

TOPICS = {
    "ICD-10-CM:E11.9": "The patient has type 2 diabetes mellitus treated with metformin.",
    "ICD-10-CM:I10": "Blood pressure remains high, essential hypertension on lisinopril.",
    "ICD-10-CM:J18.9": "Chest x-ray shows a right lower lobe pneumonia treated with antibiotics.",
}
FILLER = ["She walked to clinic today.", "Vital signs were recorded.", "Follow up in two weeks.",
          "No other complaints.", "Labs were drawn in the morning."]


def corpus(n: int = 24, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    rng = np.random.default_rng(seed)
    labels = list(TOPICS)
    texts, ys = [], []
    for i in range(n):
        chosen = [labels[i % 3]] + ([labels[(i + 1) % 3]] if i % 4 == 0 else [])
        parts = [TOPICS[lab] for lab in chosen] + list(rng.choice(FILLER, size=2, replace=False))
        rng.shuffle(parts)
        texts.append(" ".join(parts))
        ys.append(chosen)
    return texts, ys


@pytest.fixture(scope="module")
def fitted() -> LinearCoder:
    texts, ys = corpus()
    return LinearCoder(min_df=1, calibration_folds=3, min_calibration_positives=4, max_word_features=500,
                       max_char_features=500).fit(texts, ys)


def test_follows_the_model_contract(fitted: LinearCoder) -> None:
    assert isinstance(fitted, TextRanker)
    assert fitted.labels_ == sorted(TOPICS)
    assert LinearCoder().get_params()["C"] == 10.0  # params only stored in __init__


def test_ranks_the_documented_condition_first(fitted: LinearCoder) -> None:
    ranked = fitted.predict(["Known essential hypertension, blood pressure high today.",
                             "Pneumonia of the right lower lobe on chest x-ray."], top_k=3)
    assert ranked[0][0][0] == "ICD-10-CM:I10"
    assert ranked[1][0][0] == "ICD-10-CM:J18.9"
    assert all(0.0 <= p <= 1.0 for r in ranked for _, p in r)
    assert [p for _, p in ranked[0]] == sorted((p for _, p in ranked[0]), reverse=True)


def test_probabilities_are_calibrated_out_of_fold(fitted: LinearCoder) -> None:
    assert fitted.oof_scores_.shape == (24, 3)
    assert fitted.calibration_.shape == (3, 2)
    assert np.all(fitted.calibration_[:, 0] > 0)  # a higher score never means a lower probability


def test_best_sentence_is_the_one_naming_the_condition(fitted: LinearCoder) -> None:
    text = "Follow up in two weeks. The patient has type 2 diabetes mellitus. No other complaints."
    spans = fitted.best_sentences(text, ["ICD-10-CM:E11.9", "ICD-10-CM:UNKNOWN"])
    start, end = spans["ICD-10-CM:E11.9"]
    assert "diabetes" in text[start:end]
    assert "ICD-10-CM:UNKNOWN" not in spans


def test_label_prior_counts_training_documents(fitted: LinearCoder) -> None:
    assert fitted.label_prior("ICD-10-CM:E11.9") == 8 + 2  # 8 own documents, 2 as a second label
    assert fitted.label_prior("ICD-10-CM:Z99.9") == 0
    assert fitted.label_prior("ICD-10-CM:E11*") == 10  # a category key: its codes' summed count
    assert fitted.label_prior("ICD-10-CM:J18*") == fitted.label_prior("ICD-10-CM:J18.9")
    assert fitted.label_prior("ICD-10-CM:Z99*") == 0


def test_save_load_round_trip_predicts_identically(fitted: LinearCoder, tmp_path) -> None:
    written = fitted.save(tmp_path / "linear")
    assert {p.suffix for p in written} == {".json", ".safetensors"}
    again = LinearCoder.load(tmp_path / "linear")
    texts = ["diabetes mellitus type 2 and hypertension"]
    np.testing.assert_allclose(again.predict_proba(texts), fitted.predict_proba(texts), rtol=1e-6)


@pytest.mark.parametrize("texts,labels,match", [
    (["a", "b"], [["x"]], "texts but"),
    (["a"], [["x"]], "at least"),
    (["a", "b", 3], [["x"], ["y"], ["z"]], "str"),
])
def test_fit_validates_its_input(texts, labels, match) -> None:
    with pytest.raises(ValueError, match=match):
        LinearCoder(calibration_folds=2).fit(texts, labels)


def test_unfitted_model_says_so() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearCoder().predict(["x"])


def test_inference_features_equal_scikit_learns(fitted: LinearCoder) -> None:
    texts = ["The patient has type 2 diabetes mellitus.", "", "  ", "Ünïcode\ttabs  and\nnewlines", "ab",
             "Essential hypertension, blood pressure high; pneumonia.", "a well-known x-ray"]
    word, char = fitted.sklearn_vectorizers()
    np.testing.assert_allclose(fitted._char_tfidf(texts).toarray(), char.transform(texts).toarray(), atol=1e-6)
    np.testing.assert_allclose(fitted._word_tfidf(texts).toarray(), word.transform(texts).toarray(), atol=1e-6)
    np.testing.assert_allclose(fitted._char_tfidf(texts).toarray(), fitted._char_tfidf(texts).toarray())  # cached
    for text in texts:  # one note at a time: the dense counting path and the shared n-grams
        np.testing.assert_allclose(fitted._char_tfidf([text]).toarray(), char.transform([text]).toarray(), atol=1e-6)
        np.testing.assert_allclose(fitted._word_tfidf([text]).toarray(), word.transform([text]).toarray(), atol=1e-6)


def test_character_ngrams_as_arrays_equal_scikit_learns(fitted: LinearCoder, monkeypatch) -> None:
    import models.linear as linear

    texts = ["The patient has type 2 diabetes mellitus, x-ray (CT) 5-mg a b", "Ünïcode wörds and naïve café pain",
             "Essential hypertension; blood pressure high. Pneumonia!"]
    _, char = fitted.sklearn_vectorizers()
    monkeypatch.setattr(linear, "_VECTOR_MIN_WORDS", 1)  # every new ASCII word through the array path
    fitted._char_cache.clear()
    for text in texts:
        np.testing.assert_allclose(fitted._char_tfidf([text]).toarray(), char.transform([text]).toarray(), atol=1e-6)
    assert fitted._ascii_codes is not None and len(fitted._ascii_codes[0])


def test_character_ngram_cache_is_bounded(fitted: LinearCoder, monkeypatch) -> None:
    import models.linear as linear

    texts = ["The patient has type 2 diabetes mellitus, x-ray (CT) 5-mg a b", "Essential hypertension; pneumonia!"]
    _, char = fitted.sklearn_vectorizers()
    monkeypatch.setattr(linear, "CHAR_CACHE_WORDS", 4)  # a long batch run's new words stop being kept
    fitted._char_cache.clear()
    for text in texts * 2:
        np.testing.assert_allclose(fitted._char_tfidf([text]).toarray(), char.transform([text]).toarray(), atol=1e-6)
        assert len(fitted._char_cache) == 4
    monkeypatch.setattr(linear, "CHAR_CACHE_WORDS", 0)
    fitted._char_cache.clear()
    np.testing.assert_allclose(fitted._char_tfidf(texts).toarray(), char.transform(texts).toarray(), atol=1e-6)
    assert not fitted._char_cache


def test_counting_paths_agree() -> None:
    rng = np.random.default_rng(0)
    idf = rng.uniform(1, 3, 50)
    rows = [rng.integers(0, 50, 30), np.zeros(0, dtype=np.int64), rng.integers(0, 50, 7)]
    weights = [rng.integers(1, 4, 30).astype(float), np.zeros(0), np.ones(7)]
    repeated = [np.repeat(r, w.astype(int)) for r, w in zip(rows, weights)]
    import models.linear as linear

    dense = linear._tfidf_rows(repeated, idf).toarray()
    assert np.array_equal(linear._tfidf_rows(rows, idf, weights).toarray(), dense)
    limit = linear._DENSE_COUNT_LIMIT
    try:
        linear._DENSE_COUNT_LIMIT = 0  # the sorting path of training batches
        assert np.array_equal(linear._tfidf_rows(repeated, idf).toarray(), dense)
        assert np.array_equal(linear._tfidf_rows(rows, idf, weights).toarray(), dense)
    finally:
        linear._DENSE_COUNT_LIMIT = limit


@pytest.mark.parametrize("text", ["Chest pain. No fever; cough!\nDiabetes type 2? x-ray done", "İstanbul. Ünïcode pain",
                                  "one sentence without a stop"])
def test_sentence_ngrams_equal_each_sentences_own(fitted: LinearCoder, text: str) -> None:
    from models.linear import _SENTENCE, sentence_ngram_ids, word_ngram_ids

    spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]
    vocab = {g: i for i, g in enumerate(["chest", "pain", "no", "fever", "cough", "diabetes", "type", "2", "x-ray",
                                         "chest pain", "type 2", "pain ünïcode", "sentence", "a stop"])}
    together = sentence_ngram_ids(text, spans, vocab, (1, 2))
    alone = [word_ngram_ids([text[a:b]], vocab, (1, 2))[0] for a, b in spans]
    assert [sorted(r.tolist()) for r in together] == [sorted(r.tolist()) for r in alone]


def test_fits_in_parallel_are_reproducible() -> None:
    """liblinear's coordinate shuffling is seeded per fit, so threads cannot reorder its seeds."""
    texts, ys = corpus(60, seed=3)

    def fit() -> LinearCoder:
        np.random.seed(None)  # the global generator must not matter
        return LinearCoder(min_df=1, calibration_folds=3, min_calibration_positives=4, max_word_features=500,
                           max_char_features=500, n_jobs=2).fit(texts, ys)

    a, b = fit(), fit()
    assert (a.coef_ != b.coef_).nnz == 0 and np.array_equal(a.intercept_, b.intercept_)
    assert np.array_equal(a.calibration_, b.calibration_)


@pytest.mark.parametrize("text", ["", "a", "--x-y--", "Ünïcödé wörds-here 12 a_b, İstanbul", "Fever.  No cough;\nHTN x2"])
def test_note_tokens_are_the_token_pattern_matches(text: str) -> None:
    from models.linear import _TOKEN, _note_tokens

    tokens, offsets = _note_tokens(text)
    found = list(_TOKEN.finditer(text.lower()))
    assert tokens == [m.group() for m in found]
    assert offsets.tolist() == [list(m.span()) for m in found]
