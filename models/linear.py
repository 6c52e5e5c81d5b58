"""Linear multilabel coder: TF-IDF (words + character n-grams) with one logistic
regression per label and per-label probability calibration.

``CalibratedClassifierCV`` is not multilabel, and most labels have one to three
positive documents, so calibration is composed here: out-of-fold decision
scores (``calibration_folds``) give every label a Platt sigmoid; a label with
fewer than ``min_calibration_positives`` positives borrows the pooled sigmoid of
all labels, and a label with more blends its own fit with the pooled one in
proportion to its evidence (shrinkage).  Weights are pruned to the
``keep_per_label`` largest per label so the model stays small and sparse.

Saved as JSON (vocabularies, labels, params) and safetensors (weights).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from itertools import accumulate, repeat
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from models.base import Ranked, read_model_files, write_model_files

FAMILY = "linear.tfidf_lr.v1"
_SENTENCE = re.compile(r"[^\n.!?;]+[.!?;]?")


_TOKEN = re.compile(r"(?u)\b\w[\w\-]*\b")  # the word vectoriser's token_pattern
_TOKEN_SPLIT = re.compile(r"(?u)(\b\w[\w\-]*\b)")  # the same, captured: re.split keeps the tokens


#: New words in one call from which their character n-grams are looked up as arrays.
_VECTOR_MIN_WORDS = 32

#: Most words whose character n-gram ids :meth:`LinearCoder._words_char_ids` keeps (0.2-0.4 KB each, so at most
#: ~40 MB): notes reuse a few tens of thousands of words; the words met after it is full (record numbers,
#: rare names) are worked out each time instead of growing a long batch run's memory.
CHAR_CACHE_WORDS = 100_000

#: Largest ``rows x features`` table whose n-gram counts :func:`_tfidf_rows` keeps in a dense array.
_DENSE_COUNT_LIMIT = 250_000


def _tfidf_rows(rows: Sequence[np.ndarray], idf: np.ndarray,
                weights: Sequence[np.ndarray] | None = None) -> sp.csr_matrix:
    """CSR TF-IDF (sublinear tf, l2-normalised rows, float32) from each row's feature ids (a feature
    counted once per occurrence, or ``weights`` times: one entry per word type, weighted by its count)."""
    n_rows, n_cols = len(rows), len(idf)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=n_rows)
    if not lengths.sum():
        return sp.csr_matrix((n_rows, n_cols), dtype=np.float32)
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    flat = row_of * n_cols + np.concatenate(rows).astype(np.int64)
    w = None if weights is None else np.concatenate(weights).astype(np.float64)
    if n_rows * n_cols <= _DENSE_COUNT_LIMIT:  # a few documents (prediction): count in a dense array, no sort
        dense = np.bincount(flat, weights=w, minlength=n_rows * n_cols)
        keys = np.flatnonzero(dense)
        counts = dense[keys]
    elif w is None:
        keys, counts = np.unique(flat, return_counts=True)
    else:
        keys, inverse = np.unique(flat, return_inverse=True)
        counts = np.bincount(inverse, weights=w, minlength=len(keys))
    r, cols = np.divmod(keys, n_cols)  # one sort for all rows: sorted by row, then column
    vals = (np.log(counts) + 1.0) * idf[cols]
    norms = np.sqrt(np.bincount(r, weights=vals * vals, minlength=n_rows))
    vals = vals / np.where(norms > 0, norms, 1.0)[r]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((vals.astype(np.float32), cols, indptr), shape=(n_rows, n_cols), dtype=np.float32)


def _grams(tokens: Sequence[str], lo: int, hi: int) -> list[str]:
    """The ``lo``..``hi`` word n-grams of a token list, joined by a space (scikit-learn's order)."""
    grams = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        grams += map(" ".join, zip(*(tokens[k:] for k in range(n))))
    return grams


@lru_cache(maxsize=4)
def _note_tokens(text: str) -> tuple[list[str], np.ndarray]:
    """A note's lower-cased ``_TOKEN`` tokens and their ``(start, end)`` offsets in the lower-cased text
    (cached: the linear and neighbour models and the sentence evidence read the same note in turn;
    callers must not modify the results)."""
    parts = _TOKEN_SPLIT.split(text.lower())  # separator, token, separator, ...: offsets are running lengths
    tokens = parts[1::2]
    ends = np.fromiter(accumulate(map(len, parts)), dtype=np.int64, count=len(parts))[1::2]
    starts = ends - np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    return tokens, np.stack([starts, ends], axis=1)


@lru_cache(maxsize=4)
def _text_grams(text: str, lo: int, hi: int) -> list[str]:
    """:func:`_grams` of a note's tokens (cached, as :func:`_note_tokens`)."""
    return _grams(_note_tokens(text)[0], lo, hi)


def _gram_ids(grams: list[str], vocab: dict[str, int]) -> np.ndarray:
    ids = _all_gram_ids(grams, vocab)
    return ids[ids >= 0]


def _all_gram_ids(grams: list[str], vocab: dict[str, int]) -> np.ndarray:
    """The vocabulary id of every n-gram, -1 for those outside ``vocab`` (positions kept)."""
    return np.fromiter(map(vocab.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))


def word_ngram_ids(texts: Sequence[str], vocab: dict[str, int], ngram_range: tuple[int, int]) -> list[np.ndarray]:
    """Each text's vocabulary ids of its word n-grams (lower-cased ``_TOKEN`` tokens joined by a
    space, as scikit-learn's word analyser makes them); n-grams outside ``vocab`` are dropped."""
    lo, hi = ngram_range
    if len(texts) > 1:  # a training batch: nothing to share
        return [_gram_ids(_grams(_TOKEN.findall(t.lower()), lo, hi), vocab) for t in texts]
    return [_gram_ids(_text_grams(t, lo, hi), vocab) for t in texts]


def sentence_ngram_ids(text: str, spans: Sequence[tuple[int, int]], vocab: dict[str, int],
                       ngram_range: tuple[int, int], note_ids: np.ndarray | None = None) -> list[np.ndarray]:
    """``word_ngram_ids([text[a:b] for a, b in spans], ...)`` for sentence ``spans`` of ``text`` (sorted,
    not overlapping, each ending before a non-word character), read off the note's own n-grams:
    those inside one sentence.  ``note_ids``: :func:`_all_gram_ids` of the note's n-grams, if known."""
    if len(text.lower()) != len(text) or not spans:  # lower-casing moved offsets (rare letters)
        return word_ngram_ids([text[a:b] for a, b in spans], vocab, ngram_range)
    lo, hi = ngram_range
    tokens, offsets = _note_tokens(text)
    n_tok = len(tokens)
    if note_ids is None:
        note_ids = _all_gram_ids(_text_grams(text, lo, hi), vocab)
    if not n_tok:
        return [np.zeros(0, dtype=np.int64) for _ in spans]
    bounds = np.asarray(spans, dtype=np.int64)
    owner = np.searchsorted(bounds[:, 0], offsets[:, 0], side="right") - 1
    inside = (owner >= 0) & (offsets[:, 1] <= bounds[np.maximum(owner, 0), 1])
    outside_before = np.concatenate([[0], np.cumsum(~inside)])  # tokens outside any sentence, so far
    ids_parts, owner_parts = [], []
    offset = 0
    for n in range(lo, hi + 1):  # the blocks of _grams: unigrams, then bigrams, ...
        m = max(n_tok - n + 1, 0)
        if m == 0:
            continue
        k = np.arange(m)
        ok = (owner[k] == owner[k + n - 1]) & (outside_before[k + n] - outside_before[k] == 0)
        ids_parts.append(note_ids[offset:offset + m][ok])
        owner_parts.append(owner[k][ok])
        offset += m
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
    rows_of = np.concatenate(owner_parts) if owner_parts else np.zeros(0, dtype=np.int64)
    known = ids >= 0
    ids, rows_of = ids[known], rows_of[known]
    order = np.argsort(rows_of, kind="stable")
    sizes = np.bincount(rows_of, minlength=len(spans))
    return np.split(ids[order], np.cumsum(sizes)[:-1])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -35.0, 35.0)))


def _platt(scores: np.ndarray, y: np.ndarray, weight: float = 1.0) -> tuple[float, float]:
    """Platt's sigmoid ``p = sigmoid(a*s + b)`` fitted by regularised logistic regression."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return 1.0, float(np.log((y.mean() + 1e-3) / (1.001 - y.mean())))
    lr = LogisticRegression(C=weight, solver="lbfgs", max_iter=200)
    lr.fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_one(X: sp.csr_matrix, y: np.ndarray, C: float, class_weight: str | None, keep: int, seed: int
             ) -> tuple[np.ndarray, np.ndarray, float]:
    """One label's logistic regression: the ``keep`` heaviest weights (indices, values) and the intercept."""
    from sklearn.linear_model import LogisticRegression

    if y.max() == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32), -10.0
    # liblinear shuffles its coordinates; a fixed random_state seeds it for every fit
    lr = LogisticRegression(C=C, class_weight=class_weight, solver="liblinear", dual=True, max_iter=500,
                            random_state=seed)
    lr.fit(X, y)
    w = lr.coef_[0]
    k = min(keep, w.size)
    idx = np.argpartition(-np.abs(w), k - 1)[:k]
    idx = idx[w[idx] != 0]
    return idx.astype(np.int32), w[idx].astype(np.float32), float(lr.intercept_[0])


def _fit_block(X: sp.csr_matrix, Y: np.ndarray, params: tuple) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """:func:`_fit_one` for each column of ``Y``, in order (one worker process's share)."""
    return [_fit_one(X, Y[:, j], *params) for j in range(Y.shape[1])]


class LinearCoder:
    """TF-IDF + per-label logistic regression + per-label Platt calibration."""

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (3, 5),
        max_word_features: int = 40000,
        max_char_features: int = 60000,
        min_df: int = 2,
        C: float = 10.0,
        class_weight: str | None = "balanced",
        min_label_count: int = 1,
        calibration_folds: int = 3,
        min_calibration_positives: int = 8,
        keep_per_label: int = 300,
        seed: int = 0,
        n_jobs: int = 1,
        progress: bool = False,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.min_df = min_df
        self.C = C
        self.class_weight = class_weight
        self.min_label_count = min_label_count
        self.calibration_folds = calibration_folds
        self.min_calibration_positives = min_calibration_positives
        self.keep_per_label = keep_per_label
        self.seed = seed
        self.n_jobs = n_jobs
        self.progress = progress

    # --- parameters -----------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "word_ngrams", "char_ngrams", "max_word_features", "max_char_features", "min_df", "C", "class_weight",
            "min_label_count", "calibration_folds", "min_calibration_positives", "keep_per_label", "seed", "n_jobs")}

    # --- fitting --------------------------------------------------------------------
    def _validate(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> None:
        if len(texts) != len(labels):
            raise ValueError(f"LinearCoder.fit: {len(texts)} texts but {len(labels)} label sets")
        if len(texts) < max(2, self.calibration_folds):
            raise ValueError(f"LinearCoder.fit needs at least {max(2, self.calibration_folds)} documents, got {len(texts)}")
        if not all(isinstance(t, str) for t in texts):
            raise ValueError("LinearCoder.fit: every text must be a str")
        if self.calibration_folds < 2:
            raise ValueError("LinearCoder: calibration_folds must be >= 2")

    def _vectorizers(self, n_docs: int):
        from sklearn.feature_extraction.text import TfidfVectorizer

        min_df = self.min_df if n_docs >= 10 * self.min_df else 1
        word = TfidfVectorizer(ngram_range=tuple(self.word_ngrams), min_df=min_df, max_features=self.max_word_features,
                               sublinear_tf=True, lowercase=True, token_pattern=_TOKEN.pattern, dtype=np.float32)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams), min_df=min_df,
                               max_features=self.max_char_features, sublinear_tf=True, lowercase=True, dtype=np.float32)
        return word, char

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> "LinearCoder":
        """Fit vectorisers, per-label models and per-label calibration on ``texts``/``labels``."""
        self._validate(texts, labels)
        word, char = self._vectorizers(len(texts))
        X = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)], format="csr", dtype=np.float32)
        counts: dict[str, int] = {}
        for ls in labels:
            for lab in set(ls):
                counts[lab] = counts.get(lab, 0) + 1
        kept = sorted(lab for lab, n in counts.items() if n >= self.min_label_count)
        if not kept:
            raise ValueError("LinearCoder.fit: no label occurs often enough (min_label_count)")
        index = {lab: i for i, lab in enumerate(kept)}
        Y = np.zeros((len(texts), len(kept)), dtype=np.int8)
        for r, ls in enumerate(labels):
            for lab in ls:
                if lab in index:
                    Y[r, index[lab]] = 1
        oof = self._out_of_fold(X, Y)
        self.calibration_ = self._calibrate(oof, Y)
        W, b = self._fit_labels(X, Y, desc="linear: fitting labels")
        self.word_vocabulary_ = {t: int(i) for t, i in word.vocabulary_.items()}
        self.word_idf_ = word.idf_.astype(np.float32)
        self.char_vocabulary_ = {t: int(i) for t, i in char.vocabulary_.items()}
        self.char_idf_ = char.idf_.astype(np.float32)
        self.labels_ = kept
        self.label_counts_ = np.array([counts[lab] for lab in kept], dtype=np.int32)
        W.data = np.clip(W.data, -65504, 65504).astype(np.float16).astype(np.float32)  # as the pack stores them
        self.coef_ = W
        self.intercept_ = b
        self._build_vectorizers()
        return self

    def _fit_labels(self, X: sp.csr_matrix, Y: np.ndarray, desc: str) -> tuple[sp.csc_matrix, np.ndarray]:
        """One logistic regression per label; weights pruned to ``keep_per_label``; CSC (features x labels).

        With ``n_jobs > 1`` the labels are split into one block per worker *process*: liblinear seeds and
        draws from the C library's one random generator, which threads would share (and interleave)."""
        params = (self.C, self.class_weight, self.keep_per_label, self.seed)
        if self.n_jobs == 1:
            cols = range(Y.shape[1])
            if self.progress:
                from rich.progress import track

                cols = track(cols, description=desc, transient=True)
            results = [_fit_one(X, Y[:, j], *params) for j in cols]
        else:
            from joblib import Parallel, delayed

            blocks = [b for b in np.array_split(np.arange(Y.shape[1]), self.n_jobs) if len(b)]
            done = Parallel(n_jobs=self.n_jobs, backend="loky", max_nbytes=None)(  # no read-only memmaps
                delayed(_fit_block)(X, Y[:, block], params) for block in blocks)
            results = [r for block_results in done for r in block_results]
        rows, cols_, vals, b = [], [], [], np.zeros(Y.shape[1], dtype=np.float32)
        for j, (idx, w, icpt) in enumerate(results):
            rows.append(idx)
            cols_.append(np.full(len(idx), j, dtype=np.int32))
            vals.append(w)
            b[j] = icpt
        W = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols_))),
                          shape=(X.shape[1], Y.shape[1]), dtype=np.float32)
        return W, b

    def _out_of_fold(self, X: sp.csr_matrix, Y: np.ndarray) -> np.ndarray:
        from sklearn.model_selection import KFold

        oof = np.zeros(Y.shape, dtype=np.float32)
        folds = KFold(n_splits=self.calibration_folds, shuffle=True, random_state=self.seed)
        for k, (tr, te) in enumerate(folds.split(X)):
            W, b = self._fit_labels(X[tr], Y[tr], desc=f"linear: calibration fold {k + 1}/{self.calibration_folds}")
            oof[te] = (X[te] @ W).toarray() + b
        self.oof_scores_ = oof
        return oof

    def _calibrate(self, oof: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """``(n_labels, 2)`` Platt parameters: pooled for rare labels, shrunk towards pooled for the rest."""
        pos = Y.sum(axis=0)
        # pooled fit on every label's scores (negatives subsampled: they are the vast majority)
        rng = np.random.default_rng(self.seed)
        flat_s, flat_y = oof.ravel(), Y.ravel().astype(np.int8)
        neg = np.flatnonzero(flat_y == 0)
        keep = np.concatenate([np.flatnonzero(flat_y == 1), rng.choice(neg, size=min(len(neg), 200000), replace=False)])
        w_neg = len(neg) / max(1, min(len(neg), 200000))
        a_g, b_g = _platt(flat_s[keep], flat_y[keep])
        b_g -= np.log(w_neg)  # undo the negative subsampling in the intercept
        params = np.tile(np.array([a_g, b_g], dtype=np.float32), (Y.shape[1], 1))
        for j in np.flatnonzero(pos >= self.min_calibration_positives):
            a_l, b_l = _platt(oof[:, j], Y[:, j])
            lam = pos[j] / (pos[j] + 2.0 * self.min_calibration_positives)
            params[j] = (lam * a_l + (1 - lam) * a_g, lam * b_l + (1 - lam) * b_g)
        return params

    # --- inference ------------------------------------------------------------------
    def sklearn_vectorizers(self):
        """The fitted ``(word, char)`` scikit-learn vectorisers (inference does not need them)."""
        word, char = self._vectorizers(10**9)
        word.vocabulary_, word.idf_ = self.word_vocabulary_, self.word_idf_
        char.vocabulary_, char.idf_ = self.char_vocabulary_, self.char_idf_
        return word, char

    def _build_vectorizers(self) -> None:
        self._char_cache: dict[str, np.ndarray] = {}
        self._last_note_ids: tuple[str, np.ndarray] | None = None
        self._ascii_codes: tuple[np.ndarray, np.ndarray] | None = None
        self._coef_rows = sp.csr_matrix(self.coef_)  # a document row times CSR weights: ~10x faster than CSC
        self._label_index = {lab: i for i, lab in enumerate(self.labels_)}

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("LinearCoder is not fitted: call fit() or load() first")

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF features of ``texts`` (word block, then character block), as at training time."""
        self._check_fitted()
        return sp.hstack([self._word_tfidf(texts), self._char_tfidf(texts)], format="csr", dtype=np.float32)

    def _words_char_ids(self, words: Sequence[str]) -> list[np.ndarray]:
        """Vocabulary ids of the ``char_wb`` n-grams of each (lower-cased) word, cached: notes reuse the
        same few thousand words, so the character block costs one dictionary look-up per known word.
        The words not seen before are looked up together: as integer arrays when they are many and ASCII
        (:meth:`_ascii_char_ids`), else through one list of n-gram strings."""
        cache = self._char_cache
        found = [cache.get(w) for w in words]
        missing = [i for i, ids in enumerate(found) if ids is None]
        if not missing:
            return found  # type: ignore[return-value]
        lo, hi = self.char_ngrams
        as_arrays = [i for i in missing if words[i].isascii()] \
            if len(missing) >= _VECTOR_MIN_WORDS and lo <= 3 and hi <= 8 else []
        if as_arrays:
            for i, piece in zip(as_arrays, self._ascii_char_ids([words[i] for i in as_arrays])):
                found[i] = piece
        rest = [i for i in missing if found[i] is None]
        if rest:
            for i, piece in zip(rest, self._string_char_ids([words[i] for i in rest])):
                found[i] = piece
        room = CHAR_CACHE_WORDS - len(cache)
        for i in missing[:max(room, 0)]:
            cache[words[i]] = found[i]
        return found  # type: ignore[return-value]

    def _string_char_ids(self, words: Sequence[str]) -> list[np.ndarray]:
        """:meth:`_words_char_ids` of uncached words, the n-grams as strings (scikit-learn's ``char_wb``)."""
        lo, hi = self.char_ngrams
        grams: list[str] = []
        ends: list[int] = []
        for word in words:
            w = f" {word} "
            size = len(w)
            for n in range(lo, hi + 1):
                if size <= n:
                    grams.append(w)
                    break
                grams += [w[k:k + n] for k in range(size - n + 1)]
            ends.append(len(grams))
        ids = np.fromiter(map(self.char_vocabulary_.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        known = ids >= 0
        kept_ends = np.cumsum(known)[np.asarray(ends, dtype=np.int64) - 1]
        return np.split(ids[known], kept_ends[:-1])

    def _ascii_char_ids(self, words: Sequence[str]) -> list[np.ndarray]:
        """:meth:`_words_char_ids` of ASCII words, computed as arrays: each n-gram (up to 8 characters) is
        one integer, 7 bits a character plus its length, looked up in the sorted codes of the vocabulary's
        ASCII n-grams.  Exact, like the dictionary look-up: a code names one string."""
        codes, ids = self._ascii_vocabulary()
        if not words or not len(codes):
            return [np.zeros(0, dtype=np.int64) for _ in words]
        lo, hi = self.char_ngrams
        padded = [f" {w} " for w in words]
        sizes = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
        buf = np.frombuffer("".join(padded).encode("ascii"), dtype=np.uint8).astype(np.int64)
        total = len(buf)
        ends = np.cumsum(sizes)
        end_of = np.repeat(ends, sizes)  # where each position's word ends
        word_of = np.repeat(np.arange(len(words)), sizes)
        buf = np.concatenate([buf, np.zeros(hi, dtype=np.int64)])
        pos = np.arange(total)
        got_ids, got_words = [], []
        for n in range(lo, hi + 1):  # char_wb: every n-gram of the padded word up to its own length
            starts = pos[pos + n <= end_of]
            code = np.zeros(len(starts), dtype=np.int64)
            for k in range(n):
                code |= buf[starts + k] << (7 * k)
            code |= n << (7 * 8)
            at = np.searchsorted(codes, code)
            at = np.minimum(at, len(codes) - 1)
            hit = codes[at] == code
            got_ids.append(ids[at[hit]])
            got_words.append(word_of[starts[hit]])
        all_ids = np.concatenate(got_ids)
        owner = np.concatenate(got_words)
        order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(words))
        return np.split(all_ids[order], np.cumsum(counts)[:-1])

    def _ascii_vocabulary(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted integer codes of the character vocabulary's ASCII n-grams and their ids (built once)."""
        table = self._ascii_codes
        if table is None:
            pairs = []
            for gram, i in self.char_vocabulary_.items():
                if gram.isascii() and len(gram) <= 8:
                    code = len(gram) << (7 * 8)
                    for k, ch in enumerate(gram):
                        code |= ord(ch) << (7 * k)
                    pairs.append((code, i))
            pairs.sort()
            table = self._ascii_codes = (np.asarray([c for c, _ in pairs], dtype=np.int64),
                                         np.asarray([i for _, i in pairs], dtype=np.int64))
        return table

    def _char_tfidf(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Exactly ``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True, norm="l2")`` with the fitted
        vocabulary and idf, computed from cached per-word n-gram ids."""
        rows, weights = [], []
        for text in texts:
            counts = Counter(text.lower().split())  # each word type's n-grams once, weighted by its count
            parts = self._words_char_ids(list(counts))
            rows.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
            weights.append(np.repeat(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)),
                                     [len(p) for p in parts]))
        return _tfidf_rows(rows, self.char_idf_, weights)

    def _word_tfidf(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Exactly the fitted word ``TfidfVectorizer`` (lower-cased tokens of ``_TOKEN``, 1..n-grams
        joined by a space, sublinear tf, idf, l2), without importing scikit-learn."""
        if len(texts) == 1:
            ids = self._note_word_ids(texts[0])
            return _tfidf_rows([ids[ids >= 0]], self.word_idf_)
        return _tfidf_rows(word_ngram_ids(texts, self.word_vocabulary_, self.word_ngrams), self.word_idf_)

    def _note_word_ids(self, text: str) -> np.ndarray:
        """:func:`_all_gram_ids` of a note's word n-grams, kept for the last note (its sentence evidence
        reads them again)."""
        last = self._last_note_ids
        if last is not None and last[0] == text:
            return last[1]
        ids = _all_gram_ids(_text_grams(text, *self.word_ngrams), self.word_vocabulary_)
        self._last_note_ids = (text, ids)  # one tuple: read and replaced atomically
        return ids

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        X = self.transform(texts)
        return (X @ self._coef_rows).toarray() + self.intercept_

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, ``(n_texts, n_labels)``."""
        s = self.decision_function(texts)
        return _sigmoid(self.calibration_[:, 0] * s + self.calibration_[:, 1])

    def predict(self, texts: Sequence[str], top_k: int = 50) -> list[Ranked]:
        proba = self.predict_proba(texts)
        out: list[Ranked] = []
        for row in proba:
            k = min(top_k, row.size)
            idx = np.argpartition(-row, k - 1)[:k] if k else np.zeros(0, dtype=int)
            idx = idx[np.argsort(-row[idx], kind="stable")]
            out.append([(self.labels_[i], float(row[i])) for i in idx])
        return out

    def best_sentences(self, text: str, labels: Sequence[str]) -> dict[str, tuple[int, int]]:
        """For each label, the ``(start, end)`` of the sentence whose word features push its score up most."""
        self._check_fitted()
        spans = [(m.start(), m.end()) for m in _SENTENCE.finditer(text) if m.group().strip()]
        cols = [self._label_index[lab] for lab in labels if lab in self._label_index]
        if not spans or not cols:
            return {}
        # word features only: a fraction of the cost of character n-grams, and words are what a coder reads
        note_ids = self._note_word_ids(text) if len(text.lower()) == len(text) else None
        X = _tfidf_rows(sentence_ngram_ids(text, spans, self.word_vocabulary_, self.word_ngrams, note_ids),
                        self.word_idf_)
        contrib = (X @ self.coef_[: X.shape[1], cols]).toarray()
        best = contrib.argmax(axis=0)
        names = [lab for lab in labels if lab in self._label_index]
        return {lab: spans[int(best[i])] for i, lab in enumerate(names) if contrib[best[i], i] > 0}

    def label_prior(self, label: str) -> int:
        """How many training documents carried ``label`` (0 if unknown); for a category key
        (:func:`models.features.category_key`, ``"ICD-10-CM:E11*"``) the summed count of its labels."""
        if label.endswith("*"):
            return self._category_counts().get(label, 0)
        i = self._label_index.get(label)
        return int(self.label_counts_[i]) if i is not None else 0

    def _category_counts(self) -> dict[str, int]:
        if getattr(self, "_category_counts_cache", None) is None:
            from models.features import category, category_key

            counts: dict[str, int] = {}
            for lab, n in zip(self.labels_, self.label_counts_.tolist()):
                key = category_key(category(lab))
                counts[key] = counts.get(key, 0) + int(n)
            self._category_counts_cache = counts
        return self._category_counts_cache

    # --- persistence ----------------------------------------------------------------
    def save(self, path: str | Path) -> list[Path]:
        self._check_fitted()
        W = self.coef_.tocsc()
        return write_model_files(path, "linear", {
            "family": FAMILY, "params": self.get_params(), "labels": self.labels_, "n_features": int(W.shape[0]),
            "word_vocabulary": self.word_vocabulary_, "char_vocabulary": self.char_vocabulary_,
        }, {
            # half precision: the weights are the pack's largest array, and fit() already rounded them to it
            "coef_data": W.data.astype(np.float16), "coef_indices": W.indices.astype(np.int32),
            "coef_indptr": W.indptr.astype(np.int64), "intercept": self.intercept_.astype(np.float32),
            "calibration": self.calibration_.astype(np.float32), "word_idf": self.word_idf_,
            "char_idf": self.char_idf_, "label_counts": self.label_counts_,
        })

    @classmethod
    def load(cls, path: str | Path) -> "LinearCoder":
        meta, arrays = read_model_files(path, "linear", FAMILY)
        params = meta["params"]
        params["word_ngrams"], params["char_ngrams"] = tuple(params["word_ngrams"]), tuple(params["char_ngrams"])
        self = cls(**params)
        n_labels = len(meta["labels"])
        data = arrays["coef_data"].astype(np.float32)  # half precision in packs from this version on
        self.coef_ = sp.csc_matrix((data, arrays["coef_indices"], arrays["coef_indptr"]), shape=(meta["n_features"], n_labels))
        self.intercept_ = arrays["intercept"]
        self.calibration_ = arrays["calibration"]
        self.word_idf_, self.char_idf_ = arrays["word_idf"], arrays["char_idf"]
        self.label_counts_ = arrays["label_counts"]
        self.labels_ = list(meta["labels"])
        self.word_vocabulary_ = meta["word_vocabulary"]
        self.char_vocabulary_ = meta["char_vocabulary"]
        self._build_vectorizers()
        return self
