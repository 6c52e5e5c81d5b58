"""NeighborCoder: votes of the most similar training notes, leave-one-out scores, save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from models.base import TextRanker
from models.neighbors import NeighborCoder
from tests.models.test_linear import corpus


@pytest.fixture(scope="module")
def fitted() -> NeighborCoder:
    texts, ys = corpus()
    return NeighborCoder(n_neighbors=3, min_df=1).fit(texts, ys)


def test_follows_the_model_contract(fitted: NeighborCoder) -> None:
    assert isinstance(fitted, TextRanker)
    assert set(fitted.get_params()) == {"n_neighbors", "ngram_range", "min_df", "max_features", "keep_per_doc",
                                        "power", "seed"}


def test_similar_notes_vote_for_their_codes(fitted: NeighborCoder) -> None:
    ranked = fitted.predict(["Type 2 diabetes mellitus, metformin continued."], top_k=3)[0]
    assert ranked[0][0] == "ICD-10-CM:E11.9"
    assert ranked[0][1] > 0.5
    assert all(0.0 < s <= 1.0 for _, s in ranked)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_votes_are_weighted_shares_of_the_neighbours(fitted: NeighborCoder) -> None:
    scores = fitted.predict_scores(["Chest x-ray shows pneumonia treated with antibiotics."])[0]
    # each neighbour's weight is split over no label twice: a label's score is at most 1
    assert scores.max() <= 1.0 + 1e-6
    assert scores.sum() >= 1.0 - 1e-6  # every neighbour carries at least one label


def test_leave_one_out_scores_never_use_the_document_itself() -> None:
    texts = ["alpha beta gamma", "alpha beta gamma", "delta epsilon zeta"]
    model = NeighborCoder(n_neighbors=1, min_df=1).fit(texts, [["X:1"], ["X:2"], ["X:3"]])
    # document 0's only neighbour is its twin (document 1), never itself
    assert model.labels_ == ["X:1", "X:2", "X:3"]
    assert model.oof_[0].tolist() == [0.0, 1.0, 0.0]
    assert model.oof_[1].tolist() == [1.0, 0.0, 0.0]


def test_top_keeps_only_positive_votes(fitted: NeighborCoder) -> None:
    row = np.zeros(len(fitted.labels_), dtype=np.float32)
    row[1] = 0.25
    assert fitted.top(row, 10) == [(fitted.labels_[1], 0.25)]


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="texts but"):
        NeighborCoder().fit(["a"], [])
    with pytest.raises(ValueError, match="at least 2"):
        NeighborCoder().fit(["a"], [["X:1"]])
    with pytest.raises(ValueError, match="power"):
        NeighborCoder(power=0).fit(["a b", "c d"], [["X:1"], ["X:2"]])
    with pytest.raises(RuntimeError, match="not fitted"):
        NeighborCoder().predict(["x"])


def test_save_load_round_trip(fitted: NeighborCoder, tmp_path) -> None:
    files = fitted.save(tmp_path / "nb")
    assert sorted(p.suffix for p in files) == [".json", ".safetensors"]
    loaded = NeighborCoder.load(tmp_path / "nb")
    notes = ["Essential hypertension on lisinopril.", "Right lower lobe pneumonia."]
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_allclose(loaded.predict_scores(notes), fitted.predict_scores(notes), atol=1e-6)


def test_load_refuses_another_family(fitted: NeighborCoder, tmp_path) -> None:
    fitted.save(tmp_path / "nb")
    meta = tmp_path / "nb" / "neighbors.json"
    meta.write_text(meta.read_text().replace("neighbors.tfidf_knn.v1", "other.v1"))
    with pytest.raises(ValueError, match="not a neighbors"):
        NeighborCoder.load(tmp_path / "nb")
