"""Gradient-boosted trees as plain arrays: saved with safetensors, no pickle-like format.

A fitted scikit-learn ``HistGradientBoostingClassifier`` (binary, numerical features) is
exported node by node into padded ``(n_trees, max_nodes)`` arrays.  :class:`TreeEnsemble`
predicts from them with a numpy walk that follows scikit-learn's rule (a missing value
follows ``missing_go_to_left``, otherwise ``x <= threshold`` goes left) and gives the same
numbers.  The walk moves every (row, tree) pair down one level per step, all trees at
once; leaves point to themselves, and pairs that reached a leaf drop out of the arrays
after the first few levels.  On the reranker's ~200-row candidate tables it is as fast
as calling scikit-learn's compiled walker tree by tree, and prediction imports neither
scikit-learn (1.2-1.5 s of every cold start) nor skops.  Loading executes nothing from the
file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Levels walked by every (row, tree) pair before those at a leaf are dropped from the arrays.
_COMPACT_FROM_LEVEL = 8
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
        self._prepare_walk()

    @classmethod
    def from_sklearn(cls, model: Any) -> "TreeEnsemble":
        return cls(export_sklearn(model))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"feature": self.feature.astype(np.int32), "threshold": self.threshold,
                "missing_left": self.missing_left.astype(np.uint8), "left": self.left.astype(np.int32),
                "right": self.right.astype(np.int32), "is_leaf": self.is_leaf.astype(np.uint8),
                "value": self.value, "n_nodes": self.n_nodes.astype(np.int32), "baseline": np.array([self.baseline])}

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Raw boosting score of each row."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < self.n_features:
            raise ValueError(f"X must be 2-d with at least {self.n_features} columns")
        return self.baseline + self._walk(X)

    def _walk(self, X: np.ndarray) -> np.ndarray:
        n, n_cols = X.shape
        n_trees = len(self._roots)
        if n == 0 or n_trees == 0:
            return np.zeros(n)
        node = np.tile(self._roots, n)  # flat node index of each (row, tree) pair, row-major
        base = np.repeat(np.arange(n, dtype=np.intp) * n_cols, n_trees)  # the row's offset in X.ravel()
        flat = X.ravel()
        has_nan = bool(np.isnan(flat).any())
        final = np.empty_like(node)
        live = np.arange(node.size)  # positions of the pairs still walking
        for level in range(self._depth):
            x = flat.take(base + self._walk_feature.take(node))
            go_left = x <= self._walk_threshold.take(node)
            if has_nan:
                go_left |= np.isnan(x) & self._walk_missing_left.take(node)
            node = self._child.take(2 * node + go_left)
            if level >= _COMPACT_FROM_LEVEL:
                done = self._leaf.take(node)
                if done.any():
                    final[live[done]] = node[done]
                    keep = ~done
                    live, node, base = live[keep], node[keep], base[keep]
                    if not live.size:
                        break
        final[live] = node
        return self._leaf_value.take(final).reshape(n, n_trees).sum(axis=1)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probability of the positive class, shape ``(n,)``."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))

    def _prepare_walk(self) -> None:
        """Flat arrays for :meth:`_walk` (leaves point to themselves), and the deepest leaf's level;
        raises ValueError for a tree that does not end in leaves (a cycle)."""
        n_trees, width = self.feature.shape
        offset = (np.arange(n_trees, dtype=np.intp) * width)[:, None]
        leaf = self.is_leaf.reshape(-1)
        idx = np.arange(n_trees * width, dtype=np.intp)
        left = (self.left.astype(np.intp) + offset).reshape(-1)
        right = (self.right.astype(np.intp) + offset).reshape(-1)
        # child[2 * i + go_left]: the right child, then the left one
        self._child = np.stack([np.where(leaf, idx, right), np.where(leaf, idx, left)], axis=1).reshape(-1)
        self._walk_feature = np.where(leaf, 0, self.feature.reshape(-1)).astype(np.intp)
        self._walk_threshold = np.where(leaf, np.inf, self.threshold.reshape(-1))
        self._walk_missing_left = self.missing_left.reshape(-1) & ~leaf
        self._leaf = leaf
        self._leaf_value = self.value.reshape(-1)
        self._roots = offset[:, 0].copy()
        frontier, depth = np.unique(self._roots), 0
        while frontier.size:
            frontier = frontier[~leaf[frontier]]
            if not frontier.size:
                break
            depth += 1
            if depth > width:
                raise ValueError("tree arrays: a tree does not end in leaves")
            frontier = np.unique(np.concatenate([left[frontier], right[frontier]]))
        self._depth = depth


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
