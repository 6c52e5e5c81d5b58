"""Gradient-boosted trees as plain arrays: saved with safetensors, no pickle-like format.

A fitted scikit-learn ``HistGradientBoostingClassifier`` (binary, numerical features) is
exported node by node into padded ``(n_trees, max_nodes)`` arrays.  :class:`TreeEnsemble`
predicts from them with scikit-learn's compiled tree walker when its (private)
``TreePredictor`` is importable, and otherwise with a numpy walk that follows the same
rule (a missing value follows ``missing_go_to_left``, otherwise ``x <= threshold`` goes
left); both give the same numbers.  Loading executes nothing from the file and avoids
importing skops (a second of start-up).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_FIELDS = ("feature", "threshold", "missing_left", "left", "right", "is_leaf", "value")


class TreeEnsemble:
    """Sum of regression trees plus a baseline, through a sigmoid (binary log-loss boosting)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        missing = [k for k in (*_FIELDS, "baseline", "n_nodes") if k not in arrays]
        if missing:
            raise ValueError(f"tree arrays lack {missing}")
        shapes = {arrays[k].shape for k in _FIELDS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError("tree arrays must share one (n_trees, max_nodes) shape")
        self.feature = arrays["feature"].astype(np.int64)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.missing_left = arrays["missing_left"].astype(bool)
        self.left = arrays["left"].astype(np.int64)
        self.right = arrays["right"].astype(np.int64)
        self.is_leaf = arrays["is_leaf"].astype(bool)
        self.value = arrays["value"].astype(np.float64)
        self.n_nodes = arrays["n_nodes"].astype(np.int64)
        self.baseline = float(np.asarray(arrays["baseline"]).reshape(-1)[0])
        n_trees, width = self.feature.shape
        if self.n_nodes.shape != (n_trees,) or (n_trees and (self.n_nodes.min() < 1 or self.n_nodes.max() > width)):
            raise ValueError("tree arrays: 'n_nodes' disagrees with the node arrays")
        for name in ("left", "right"):
            a = getattr(self, name)
            if a.size and (a.min() < 0 or a.max() >= width):
                raise ValueError(f"tree arrays: '{name}' points outside the tree")
        if self.feature.size and self.feature.min() < 0:
            raise ValueError("tree arrays: negative feature index")
        self.n_features = int(self.feature.max()) + 1 if self.feature.size else 0
        self._compiled = _compiled_predictors(self)

    @classmethod
    def from_sklearn(cls, model: Any) -> "TreeEnsemble":
        return cls(export_sklearn(model))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"feature": self.feature.astype(np.int32), "threshold": self.threshold,
                "missing_left": self.missing_left.astype(np.uint8), "left": self.left.astype(np.int32),
                "right": self.right.astype(np.int32), "is_leaf": self.is_leaf.astype(np.uint8),
                "value": self.value, "n_nodes": self.n_nodes.astype(np.int32), "baseline": np.array([self.baseline])}

    def decision_function(self, X: np.ndarray, compiled: bool = True) -> np.ndarray:
        """Raw boosting score of each row (``compiled=False`` forces the numpy walk)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < self.n_features:
            raise ValueError(f"X must be 2-d with at least {self.n_features} columns")
        if compiled and self._compiled is not None:
            predictors, empty_bitsets, empty_map = self._compiled
            raw = np.full(len(X), self.baseline)
            for p in predictors:
                raw += p.predict(X, known_cat_bitsets=empty_bitsets, f_idx_map=empty_map, n_threads=1)
            return raw
        return self.baseline + self._walk(X)

    def _walk(self, X: np.ndarray) -> np.ndarray:
        n_trees, width = self.feature.shape
        if len(X) == 0 or n_trees == 0:
            return np.zeros(len(X))
        flat = lambda a: a.reshape(-1)  # noqa: E731
        feature, threshold, miss, left, right, leaf, value = (flat(a) for a in (
            self.feature, self.threshold, self.missing_left, self.left, self.right, self.is_leaf, self.value))
        offset = (np.arange(n_trees) * width)[None, :]
        node = np.broadcast_to(offset, (len(X), n_trees)).copy()
        rows = np.arange(len(X))[:, None]
        for _ in range(width):
            at_leaf = leaf[node]
            if at_leaf.all():
                break
            x = X[rows, feature[node]]
            go_left = np.where(np.isnan(x), miss[node], x <= threshold[node])
            nxt = np.where(go_left, left[node], right[node]) + offset
            node = np.where(at_leaf, node, nxt)
        return value[node].sum(axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of the positive class, shape ``(n,)``."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))


def _compiled_predictors(e: TreeEnsemble) -> tuple[list, np.ndarray, np.ndarray] | None:
    """scikit-learn's compiled ``TreePredictor`` per tree, or None where that private API is absent."""
    try:
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE, X_BITSET_INNER_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    except ImportError:  # pragma: no cover - depends on the scikit-learn version
        return None
    try:
        bitsets = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
        predictors = []
        for t, k in enumerate(e.n_nodes):
            nodes = np.zeros(int(k), dtype=PREDICTOR_RECORD_DTYPE)
            nodes["value"], nodes["feature_idx"] = e.value[t, :k], e.feature[t, :k]
            nodes["num_threshold"], nodes["missing_go_to_left"] = e.threshold[t, :k], e.missing_left[t, :k]
            nodes["left"], nodes["right"], nodes["is_leaf"] = e.left[t, :k], e.right[t, :k], e.is_leaf[t, :k]
            predictors.append(TreePredictor(nodes, bitsets, bitsets))
        return predictors, bitsets, np.zeros(0, dtype=np.uint32)
    except (TypeError, ValueError, KeyError):  # pragma: no cover - a changed record layout
        return None


def export_sklearn(model: Any) -> dict[str, np.ndarray]:
    """Padded node arrays of a fitted binary ``HistGradientBoostingClassifier`` (numerical features only)."""
    if getattr(model, "n_trees_per_iteration_", 1) != 1:
        raise ValueError("only binary classifiers can be exported")
    if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
        raise ValueError("categorical features are not supported")
    nodes = [tree.nodes for (tree,) in model._predictors]
    width = max((len(n) for n in nodes), default=1)
    shape = (len(nodes), width)
    out = {"feature": np.zeros(shape, np.int32), "threshold": np.zeros(shape), "missing_left": np.zeros(shape, np.uint8),
           "left": np.zeros(shape, np.int32), "right": np.zeros(shape, np.int32), "is_leaf": np.ones(shape, np.uint8),
           "value": np.zeros(shape), "n_nodes": np.array([len(n) for n in nodes], np.int32)}
    for t, n in enumerate(nodes):
        k = len(n)
        out["feature"][t, :k], out["threshold"][t, :k] = n["feature_idx"], n["num_threshold"]
        out["missing_left"][t, :k], out["left"][t, :k] = n["missing_go_to_left"], n["left"]
        out["right"][t, :k], out["is_leaf"][t, :k], out["value"][t, :k] = n["right"], n["is_leaf"], n["value"]
    out["baseline"] = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)[:1]
    return out
