"""evaluation.run: coding a corpus."""

from __future__ import annotations

import gc
from types import SimpleNamespace

from cac.heap import YOUNG_THRESHOLD
from corpora.document import Document
from evaluation.run import code_corpus


class _Recording:
    """A coder answering one suggestion per note, recording the collector's threshold at each call."""

    def __init__(self) -> None:
        self.thresholds: list[int] = []

    def code(self, text: str, **kw):
        self.thresholds.append(gc.get_threshold()[0])
        s = SimpleNamespace(code="R69", system="ICD-10-CM", confidence=0.9, evidence=[], rationale=[])
        return SimpleNamespace(suggestions=[s], candidates=[], excluded=[])


def test_a_corpus_is_coded_in_one_coding_block():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        coder = _Recording()
        docs = [Document(id=f"d{i}", text="Fever.") for i in range(3)]
        ranked, predicted, _ = code_corpus(docs, coder, system="ICD-10-CM", progress=False)
        assert coder.thresholds == [YOUNG_THRESHOLD] * 3  # the batch's block is open at every note
        assert gc.get_threshold() == (700, 10, 10)  # and closed after the last
        assert ranked == {f"d{i}": [("R69", 0.9)] for i in range(3)} and predicted["d0"] == {"R69"}
    finally:
        gc.set_threshold(*before)
