"""Reranker: learns from candidate features, calibrates on held-out data, saves trees as safetensors + JSON."""

from __future__ import annotations

import numpy as np
import pytest

from cac.errors import ModelPackError
from models.features import FEATURES
from models.reranker import Reranker


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = np.nan  # sources that said nothing
    signal = np.nan_to_num(X[:, FEATURES.index("lin_p")]) + np.nan_to_num(X[:, FEATURES.index("k_score")])
    y = (signal + rng.normal(scale=0.5, size=n) > 0.8).astype(np.int8)
    return X, y


@pytest.fixture(scope="module")
def fitted() -> Reranker:
    X, y = data(3000, 0)
    return Reranker(max_iter=60, min_samples_leaf=10).fit({"ICD-10-CM": X}, {"ICD-10-CM": y})


def test_learns_the_signal_and_ranks_by_it(fitted: Reranker) -> None:
    X, y = data(1000, 1)
    p = fitted.raw_score(X, "ICD-10-CM")
    assert p[y == 1].mean() > p[y == 0].mean() + 0.3


def test_isotonic_calibration_on_held_out_data_lowers_calibration_error(fitted: Reranker) -> None:
    from evaluation.calibration import expected_calibration_error

    Xc, yc = data(2000, 2)
    Xt, yt = data(2000, 3)
    r = Reranker(max_iter=60, min_samples_leaf=10).fit(*({"ICD-10-CM": a} for a in data(3000, 0)))
    r.calibrate(r.raw_score(Xc, "ICD-10-CM"), yc, "ICD-10-CM")
    p = r.predict_proba(Xt, "ICD-10-CM")
    assert np.all((p >= 0) & (p <= 1))
    gold = {str(i): ({"c"} if yt[i] else set()) for i in range(len(yt))}
    scored = {str(i): [("c", float(p[i]))] for i in range(len(yt))}
    assert expected_calibration_error(gold, scored) < 0.06


def test_system_without_both_classes_uses_its_base_rate() -> None:
    X, _ = data(100, 4)
    r = Reranker(min_samples_leaf=5).fit({"ICD-10-PCS": X}, {"ICD-10-PCS": np.zeros(100, dtype=np.int8)})
    assert np.all(r.predict_proba(X[:3], "ICD-10-PCS") == 0.0)


def test_save_load_round_trip(fitted: Reranker, tmp_path) -> None:
    fitted.thresholds_["ICD-10-CM"] = 0.37
    written = fitted.save(tmp_path / "r")
    assert {p.suffix for p in written} == {".json", ".safetensors"}
    again = Reranker.load(tmp_path / "r")
    X, _ = data(50, 5)
    np.testing.assert_allclose(again.predict_proba(X, "ICD-10-CM"), fitted.predict_proba(X, "ICD-10-CM"))
    assert again.threshold("ICD-10-CM") == 0.37


def test_tree_arrays_are_validated_on_load(fitted: Reranker, tmp_path) -> None:
    from safetensors.numpy import load_file, save_file

    fitted.save(tmp_path / "r")
    trees = tmp_path / "r" / "reranker_icd10cm.safetensors"
    arrays = load_file(str(trees))
    arrays["left"] = arrays["left"] + 10_000  # children outside the tree
    save_file(arrays, str(trees))
    with pytest.raises(ModelPackError) as err:
        Reranker.load(tmp_path / "r")
    assert err.value.code == "E304"
    trees.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelPackError):
        Reranker.load(tmp_path / "r")


def test_exported_trees_predict_exactly_like_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from models.trees import TreeEnsemble

    X, y = data(1500, 7)
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(X, y)
    trees = TreeEnsemble.from_sklearn(model)
    Xt, _ = data(200, 8)
    expected = model.predict_proba(Xt)[:, 1]
    np.testing.assert_allclose(trees.predict_proba(Xt), expected, rtol=1e-12)


def test_deep_trees_and_missing_values_walk_exactly_like_scikit_learn() -> None:
    """Trees deeper than the level where finished pairs leave the walk; rows that are all missing."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from models.trees import _COMPACT_FROM_LEVEL, TreeEnsemble

    X, y = data(4000, 11)
    model = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=63, min_samples_leaf=2, random_state=0).fit(X, y)
    trees = TreeEnsemble.from_sklearn(model)
    assert trees._depth > _COMPACT_FROM_LEVEL + 2
    Xt, _ = data(300, 12)
    Xt[:7] = np.nan
    np.testing.assert_allclose(trees.predict_proba(Xt), model.predict_proba(Xt)[:, 1], rtol=1e-12)
    assert trees.predict_proba(Xt[:0]).shape == (0,)


def test_a_tree_that_loops_is_refused() -> None:
    from models.trees import TreeEnsemble, export_sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    arrays = export_sklearn(HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(*data(500, 13)))
    inner = int(np.flatnonzero(arrays["is_leaf"][0] == 0)[-1])
    arrays["left"][0, inner] = 0  # back to the root
    with pytest.raises(ValueError, match="does not end in leaves"):
        TreeEnsemble(arrays)


def test_malformed_metadata_is_a_clear_error(fitted: Reranker, tmp_path) -> None:
    fitted.save(tmp_path / "r")
    (tmp_path / "r" / "reranker.json").write_text("{not json")
    with pytest.raises(ModelPackError) as err:
        Reranker.load(tmp_path / "r")
    assert err.value.code == "E304"


def test_a_source_missing_from_every_row_is_tolerated(tmp_path) -> None:
    X, y = data(400, 6)
    X[:, FEATURES.index("ret_score")] = np.nan  # a pack trained without the retriever
    r = Reranker(max_iter=20, min_samples_leaf=10).fit({"ICD-10-CM": X}, {"ICD-10-CM": y})
    r.save(tmp_path / "r")
    np.testing.assert_allclose(Reranker.load(tmp_path / "r").raw_score(X[:5], "ICD-10-CM"), r.raw_score(X[:5], "ICD-10-CM"))
