"""Nearest-neighbour documents: codes of the most similar training notes.

A note resembles the training notes that describe the same conditions, and
their codes are good candidates even when no single word predicts a code (the
linear model) or names it (the knowledge coder).  Each document is a TF-IDF
vector (word uni- and bigrams, sublinear tf, l2) pruned to its
``keep_per_doc`` heaviest terms; a new note's ``n_neighbors`` most cosine-similar
training documents vote for their codes with weight ``similarity ** power``,
normalised by the total weight, so a score is the weighted share of neighbours
that carry the code.

``oof_`` after ``fit``: each training document scored against all the others
(leave-one-out), the stand-in the reranker learns from.

Saved as JSON (vocabulary, labels, params) and safetensors (idf, document
vectors, label matrix); nothing executes code on load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from models.base import Ranked, read_model_files, write_model_files
from models.linear import _TOKEN, _tfidf_rows, word_ngram_ids

FAMILY = "neighbors.tfidf_knn.v1"


class NeighborCoder:
    """k-nearest training documents by TF-IDF cosine; codes scored by similarity-weighted votes."""

    def __init__(
        self,
        *,
        n_neighbors: int = 10,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 2,
        max_features: int = 30000,
        keep_per_doc: int = 300,
        power: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.keep_per_doc = keep_per_doc
        self.power = power
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "n_neighbors", "ngram_range", "min_df", "max_features", "keep_per_doc", "power", "seed")}

    # --- fitting --------------------------------------------------------------------
    def _validate(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"NeighborCoder.fit: {len(texts)} texts but {len(labels)} label sets")
        if len(texts) < 2:
            raise ValueError(f"NeighborCoder.fit needs at least 2 documents, got {len(texts)}")
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("NeighborCoder.fit: every text must be a str")
        if self.n_neighbors < 1 or self.keep_per_doc < 1:
            raise ValueError("NeighborCoder: n_neighbors and keep_per_doc must be >= 1")
        if self.power <= 0:
            raise ValueError("NeighborCoder: power must be > 0")

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> "NeighborCoder":
        """Index the training documents and their labels; compute the leave-one-out ``oof_`` scores."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._validate(texts, labels)
        min_df = self.min_df if len(texts) >= 10 * self.min_df else 1
        vec = TfidfVectorizer(ngram_range=tuple(self.ngram_range), min_df=min_df, max_features=self.max_features,
                              sublinear_tf=True, lowercase=True, token_pattern=_TOKEN.pattern, dtype=np.float32)
        X = vec.fit_transform(texts)
        self.vocabulary_ = {t: int(i) for t, i in vec.vocabulary_.items()}
        self.idf_ = vec.idf_.astype(np.float32)
        self.docs_ = self._prune(X.tocsr())
        self.docs_.data = self.docs_.data.astype(np.float16).astype(np.float32)  # as saved: fit == load
        self.labels_ = sorted({lab for ls in labels for lab in ls})
        index = {lab: i for i, lab in enumerate(self.labels_)}
        rows = [r for r, ls in enumerate(labels) for lab in set(ls)]
        cols = [index[lab] for ls in labels for lab in set(ls)]
        self.doc_labels_ = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                         shape=(len(texts), len(self.labels_)), dtype=np.float32)
        sims = (self.docs_ @ self.docs_.T).toarray()
        np.fill_diagonal(sims, -1.0)  # leave one out: a document is not its own neighbour
        self.oof_ = self._vote(sims)
        return self

    def _prune(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Each row's ``keep_per_doc`` largest weights, re-normalised to unit length."""
        X = X.astype(np.float32)
        data, indices, indptr = [], [], [0]
        for r in range(X.shape[0]):
            a, b = X.indptr[r], X.indptr[r + 1]
            vals, cols = X.data[a:b], X.indices[a:b]
            if len(vals) > self.keep_per_doc:
                top = np.argpartition(-vals, self.keep_per_doc - 1)[:self.keep_per_doc]
                top.sort()
                vals, cols = vals[top], cols[top]
            norm = float(np.sqrt((vals * vals).sum()))
            data.append(vals / norm if norm > 0 else vals)
            indices.append(cols)
            indptr.append(indptr[-1] + len(vals))
        return sp.csr_matrix((np.concatenate(data) if data else np.zeros(0, np.float32),
                              np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
                             shape=X.shape, dtype=np.float32)

    def _vote(self, sims: np.ndarray) -> np.ndarray:
        """``(n, n_labels)`` similarity-weighted share of the top neighbours carrying each label."""
        k = min(self.n_neighbors, sims.shape[1])
        out = np.zeros((sims.shape[0], len(self.labels_)), dtype=np.float32)
        for r, row in enumerate(sims):
            nb = np.argpartition(-row, k - 1)[:k]
            w = np.clip(row[nb], 0.0, None) ** self.power
            total = float(w.sum())
            if total <= 0:
                continue
            out[r] = (w / total) @ self.doc_labels_[nb].toarray()
        return out

    # --- inference ------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "docs_"):
            raise RuntimeError("NeighborCoder is not fitted: call fit() or load() first")

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Unit-length TF-IDF vectors of ``texts`` in the training vocabulary (as ``fit`` built them)."""
        self._check_fitted()
        rows = word_ngram_ids(texts, self.vocabulary_, self.ngram_range)
        return self._prune(_tfidf_rows(rows, self.idf_))

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        """``(n_texts, n_labels)`` neighbour votes."""
        self._check_fitted()
        docs_t = getattr(self, "_docs_t", None)
        if docs_t is None or docs_t.shape[1] != self.docs_.shape[0]:
            docs_t = self._docs_t = self.docs_.T.tocsr()  # transposed once, not per call
        return self._vote((self.transform(texts) @ docs_t).toarray())

    def predict(self, texts: Sequence[str], top_k: int = 50) -> list[Ranked]:
        return [self.top(row, top_k) for row in self.predict_scores(texts)]

    def top(self, row: np.ndarray, top_k: int) -> Ranked:
        """The ``top_k`` labels of one score row with a positive vote, best first."""
        nz = np.flatnonzero(row > 0)
        if top_k < len(nz):
            nz = nz[np.argpartition(-row[nz], top_k - 1)[:top_k]]
        nz = nz[np.argsort(-row[nz], kind="stable")]
        return [(self.labels_[i], float(row[i])) for i in nz]

    # --- persistence ----------------------------------------------------------------
    def save(self, path: str | Path) -> list[Path]:
        self._check_fitted()
        L = self.doc_labels_.tocsr()
        return write_model_files(path, "neighbors", {
            "family": FAMILY, "params": self.get_params(), "labels": self.labels_,
            "n_docs": int(self.docs_.shape[0]), "vocabulary": self.vocabulary_,
        }, {
            "idf": self.idf_, "docs_data": self.docs_.data.astype(np.float16),
            "docs_indices": self.docs_.indices.astype(np.int32), "docs_indptr": self.docs_.indptr.astype(np.int64),
            "labels_indices": L.indices.astype(np.int32), "labels_indptr": L.indptr.astype(np.int64),
        })

    @classmethod
    def load(cls, path: str | Path) -> "NeighborCoder":
        meta, arrays = read_model_files(path, "neighbors", FAMILY)
        params = dict(meta["params"])
        params["ngram_range"] = tuple(params["ngram_range"])
        self = cls(**params)
        self.vocabulary_ = meta["vocabulary"]
        self.labels_ = list(meta["labels"])
        self.idf_ = arrays["idf"]
        n_docs = int(meta["n_docs"])
        self.docs_ = sp.csr_matrix((arrays["docs_data"].astype(np.float32), arrays["docs_indices"], arrays["docs_indptr"]),
                                   shape=(n_docs, len(self.idf_)), dtype=np.float32)
        idx = arrays["labels_indices"]
        self.doc_labels_ = sp.csr_matrix((np.ones(len(idx), dtype=np.float32), idx, arrays["labels_indptr"]),
                                         shape=(n_docs, len(self.labels_)), dtype=np.float32)
        return self
