"""A spaCy ``PhraseMatcher`` on ``LOWER`` or ``ORTH`` that reads no token.

spaCy's ``PhraseMatcher`` reads each token's attribute through the vocabulary, and that read takes
Python's thread state every time: ~50 µs a pass over a 1,500-word note, whatever the phrases, and ConText
and the abbreviations make three such passes.  :class:`TokenPhraseMatcher` finds the same matches in the
tokens' hashes, which :func:`cac.pipeline.extensions.token_hash_array` makes once per doc from the text
and the token offsets, by walking a trie of token hashes in C (:data:`cac.scan.hash_phrase_find`).
Without the compiled scanners it is spaCy's own ``PhraseMatcher``.

The matches are spaCy's, in spaCy's order (by start, then end), except that one phrase added under
several keys gives its keys in the order they were added (spaCy gives them in its hash table's order).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from spacy.attrs import LOWER, ORTH
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from cac import scan
from cac.pipeline.extensions import token_hash_array

_ATTRS = {"LOWER": LOWER, "ORTH": ORTH}
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def edge_slot(token_hash: int, node: int) -> int:
    """Where the edge ``(node, token_hash)`` is first looked for (the sum ``edge_slot`` in ``cac/_scan.c``)."""
    x = (token_hash + node * _GOLDEN) & _MASK64
    return x ^ (x >> 29)


class TokenPhraseMatcher:
    """Phrases of whole tokens on ``attr`` (``"LOWER"`` or ``"ORTH"``): ``matcher(doc) -> [(key, start,
    end)]``, each key as the vocabulary's hash of its name, as spaCy's ``PhraseMatcher`` gives them."""

    def __init__(self, vocab: Vocab, attr: str = "ORTH") -> None:
        if attr not in _ATTRS:
            raise ValueError(f"TokenPhraseMatcher matches on LOWER or ORTH, not {attr!r}")
        self.vocab = vocab
        self.attr = attr
        self._compiled = scan.hash_phrase_find is not None
        self._spacy = None if self._compiled else PhraseMatcher(vocab, attr=attr)
        self._children: list[dict[int, int]] = [{}]  # node -> token hash -> child node (node 0: the root)
        self._keys: list[list[int]] = [[]]  # node -> the keys of the phrase ending there, in the order added
        self._names: set[int] = set()
        self._tables: tuple[bytes, ...] | None = None

    def __len__(self) -> int:
        """How many keys have phrases (as ``len(PhraseMatcher)``)."""
        return len(self._spacy) if self._spacy is not None else len(self._names)

    def add(self, key: str, docs: Iterable[Doc]) -> None:
        """Add the phrases ``docs`` (tokenized as the notes are) under ``key``."""
        docs = list(docs)
        if self._spacy is not None:
            self._spacy.add(key, docs)
            return
        name = self.vocab.strings.add(key)
        for phrase in docs:
            if not len(phrase):
                continue
            node = 0
            for h in phrase.to_array(_ATTRS[self.attr]).tolist():
                child = self._children[node].get(h)
                if child is None:
                    child = self._children[node][h] = len(self._children)
                    self._children.append({})
                    self._keys.append([])
                node = child
            if name not in self._keys[node]:
                self._keys[node].append(name)
            self._names.add(name)
        self._tables = None

    def __call__(self, doc: Doc) -> list[tuple[int, int, int]]:
        if self._spacy is not None:
            return self._spacy(doc)
        if not self._names or not len(doc):
            return []
        tables = self._tables if self._tables is not None else self._build()
        return scan.hash_phrase_find(token_hash_array(doc, self.attr == "LOWER"), *tables)  # type: ignore[misc]

    def _build(self) -> tuple[bytes, ...]:
        """The trie as ``hash_phrase_find`` reads it: an open-addressed edge table at most half full, and each
        node's keys."""
        edges = [(node, h, child) for node, children in enumerate(self._children) for h, child in children.items()]
        size = 1
        while size < 2 * len(edges) + 2:
            size *= 2
        parent, hashes, child_of = [-1] * size, [0] * size, [0] * size
        for node, h, child in edges:
            k = edge_slot(h, node) & (size - 1)
            while parent[k] != -1:
                k = (k + 1) & (size - 1)
            parent[k], hashes[k], child_of[k] = node, h, child
        offsets = np.zeros(len(self._keys) + 1, dtype=np.int32)
        offsets[1:] = np.cumsum([len(k) for k in self._keys])
        keys = np.asarray([k for ks in self._keys for k in ks], dtype=np.uint64)
        self._tables = (np.asarray(parent, dtype=np.int32).tobytes(), np.asarray(hashes, dtype=np.uint64).tobytes(),
                        np.asarray(child_of, dtype=np.int32).tobytes(), offsets.tobytes(), keys.tobytes())
        return self._tables
