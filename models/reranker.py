"""Reranker: one calibrated probability per candidate code, from every source's features.

Per system (ICD-10-CM, ICD-10-PCS) a histogram gradient-boosting classifier
scores the candidate table of :mod:`models.features` (a fixed number of boosting
rounds on every train row by default: early stopping holds out random rows, which
splits a note's candidates between fitting and validation, and scored no better in
5-fold cross-validation on train); an isotonic map fitted on
held-out data (dev) turns its scores into calibrated probabilities, and a decision
threshold (also tuned on dev) splits suggestions from candidates.

Saved as ``reranker.json`` (params, feature list, isotonic points, thresholds)
plus one ``reranker_<system>.safetensors`` per system holding the boosted trees as
node arrays (:mod:`models.trees`): nothing in a pack can run code when loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cac.errors import Errors, ModelPackError
from models.features import FEATURES, check_features
from models.trees import TreeEnsemble

FAMILY = "reranker.hgb_isotonic.v1"
_META = "reranker.json"


def _trees_name(system: str) -> str:
    return f"reranker_{system.replace('-', '').lower()}.safetensors"


class Reranker:
    """Gradient-boosted trees over candidate features, isotonic-calibrated per system."""

    def __init__(
        self,
        *,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        min_samples_leaf: int = 20,
        l2_regularization: float = 5.0,
        early_stopping: bool = False,
        seed: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("max_iter", "learning_rate", "max_leaf_nodes", "min_samples_leaf",
                                              "l2_regularization", "early_stopping", "seed")}

    # --- fitting ----------------------------------------------------------------------------------
    def fit(self, X: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> "Reranker":
        """``X[system]`` ``(n, len(FEATURES))`` and ``y[system]`` 0/1 targets, for each system."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        if not X:
            raise ValueError("Reranker.fit: no system has candidates")
        self.models_: dict[str, Any] = {}
        self.base_rate_: dict[str, float] = {}
        self.empty_columns_: dict[str, list[int]] = {}
        self.n_trees_: dict[str, int] = {}
        for system in sorted(X):
            Xs, ys = np.asarray(X[system], dtype=np.float32), np.asarray(y[system], dtype=np.int8)
            if Xs.ndim != 2 or Xs.shape[1] != len(FEATURES) or len(Xs) != len(ys):
                raise ValueError(f"Reranker.fit: {system}: X must be (n, {len(FEATURES)}) with one target per row")
            self.base_rate_[system] = float(ys.mean()) if len(ys) else 0.0
            if len(ys) < 2 * self.min_samples_leaf or ys.min() == ys.max():
                continue  # too little to learn from: the base rate stands in
            model = HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
                early_stopping=self.early_stopping, validation_fraction=0.15, n_iter_no_change=20,
                random_state=self.seed)
            self.empty_columns_[system] = [int(j) for j in np.flatnonzero(np.isnan(Xs).all(axis=0))]
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=1, user_api="openmp"):  # parallel histogram sums vary in the last bit
                model.fit(self._filled(Xs, system), ys)
            self.models_[system] = TreeEnsemble.from_sklearn(model)
            self.n_trees_[system] = len(model._predictors)
        self.calibration_: dict[str, tuple[list[float], list[float]]] = {}
        self.thresholds_: dict[str, float] = {system: 0.5 for system in X}
        self.features_ = FEATURES
        return self

    def raw_score(self, X: np.ndarray, system: str) -> np.ndarray:
        """Uncalibrated probability of each row (the base rate for a system without a model)."""
        self._check_fitted()
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return np.zeros(0, dtype=np.float64)
        model = self.models_.get(system)
        if model is None:
            return np.full(len(X), self.base_rate_.get(system, 0.0))
        return model.predict_proba(self._filled(X, system))

    def _filled(self, X: np.ndarray, system: str) -> np.ndarray:
        """Features no training row had (a source the pack lacks) are set to a constant, not left missing."""
        cols = self.empty_columns_.get(system)
        if not cols:
            return X
        X = X.copy()
        X[:, cols] = -1.0
        return X

    def calibrate(self, scores: np.ndarray, y: np.ndarray, system: str) -> None:
        """Fit the isotonic map raw score -> probability on held-out ``scores``/``y``."""
        from sklearn.isotonic import IsotonicRegression

        scores, y = np.asarray(scores, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if len(scores) == 0 or y.min() == y.max():
            self.calibration_.pop(system, None)
            return
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
        self.calibration_[system] = ([float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_])

    def calibrated(self, scores: np.ndarray, system: str) -> np.ndarray:
        """Map raw scores through the system's isotonic calibration (identity when none).

        A tiny share of the raw score is added so codes tied on a calibration step keep
        their model order (ranking metrics are unaffected by the calibration)."""
        scores = np.asarray(scores, dtype=np.float64)
        points = self.calibration_.get(system)
        if points is None:
            return scores
        xs, ys = points
        return np.clip(np.interp(scores, xs, ys) + 1e-4 * scores, 0.0, 1.0)

    def predict_proba(self, X: np.ndarray, system: str) -> np.ndarray:
        """Calibrated probability of each candidate row."""
        return self.calibrated(self.raw_score(X, system), system)

    def threshold(self, system: str) -> float:
        return float(self.thresholds_.get(system, 0.5))

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError("Reranker is not fitted: call fit() or load() first")

    # --- persistence ------------------------------------------------------------------------------
    def save(self, path: str | Path) -> list[Path]:
        from safetensors.numpy import save_file

        self._check_fitted()
        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        written = []
        for system, model in sorted(self.models_.items()):
            target = d / _trees_name(system)
            save_file(model.arrays(), str(target), metadata={"family": FAMILY, "system": system})
            written.append(target)
        meta = {
            "family": FAMILY, "params": self.get_params(), "features": list(FEATURES),
            "systems": sorted(self.base_rate_), "models": {s: _trees_name(s) for s in sorted(self.models_)},
            "base_rate": self.base_rate_, "thresholds": self.thresholds_, "empty_columns": self.empty_columns_,
            "calibration": {s: {"x": xs, "y": ys} for s, (xs, ys) in sorted(self.calibration_.items())},
        }
        (d / _META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return [d / _META, *written]

    @classmethod
    def load(cls, path: str | Path) -> "Reranker":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        d = Path(path)
        try:
            meta = json.loads((d / _META).read_text(encoding="utf-8"))
            if meta.get("family") != FAMILY:
                raise ValueError(f"family {meta.get('family')!r} is not {FAMILY!r}")
            check_features(meta["features"])
            self = cls(**meta["params"])
            self.models_ = {}
            for system, name in meta["models"].items():
                self.models_[system] = TreeEnsemble(load_file(str(d / Path(name).name)))
            self.base_rate_ = {k: float(v) for k, v in meta["base_rate"].items()}
            self.thresholds_ = {k: float(v) for k, v in meta["thresholds"].items()}
            self.empty_columns_ = {k: [int(j) for j in v] for k, v in meta.get("empty_columns", {}).items()}
            self.calibration_ = {s: (list(v["x"]), list(v["y"])) for s, v in meta["calibration"].items()}
            self.features_ = FEATURES
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            raise ModelPackError(Errors.E304, path=d, detail=f"reranker: {exc}") from None
        return self
