"""Fixtures for the pipeline tests: one shared pipeline and a mention helper."""

from __future__ import annotations

from typing import Callable

import pytest
from spacy.language import Language
from spacy.tokens import Doc, Span

from cac.pipeline import build_pipeline


@pytest.fixture(scope="session")
def nlp() -> Language:
    return build_pipeline()


def _locate(text: str, phrases: tuple[str, ...]) -> list[tuple[int, int]]:
    """Char offsets of each phrase, searched left to right (repeat a phrase to
    target its next occurrence)."""
    found: list[tuple[int, int]] = []
    cursor = 0
    for phrase in phrases:
        start = text.find(phrase, cursor)
        if start < 0:
            start = text.find(phrase)
        assert start >= 0, f"{phrase!r} not in test text"
        found.append((start, start + len(phrase)))
        cursor = start + len(phrase)
    return found


@pytest.fixture(scope="session")
def annotate(nlp: Language) -> Callable[..., tuple[Doc, list[Span]]]:
    """Run the pipeline with the given phrases as ``doc.spans["mentions"]``."""

    def run(text: str, *phrases: str) -> tuple[Doc, list[Span]]:
        doc = nlp.make_doc(text)
        for name, proc in nlp.pipeline:
            if name == "cac_context":
                spans = [doc.char_span(s, e, alignment_mode="expand") for s, e in _locate(text, phrases)]
                doc.spans["mentions"] = spans
            doc = proc(doc)
        return doc, list(doc.spans["mentions"])

    return run


@pytest.fixture(scope="session")
def context_of(annotate: Callable[..., tuple[Doc, list[Span]]]) -> Callable[..., dict[str, Span]]:
    """Like ``annotate`` but returns ``{phrase: span}`` (last occurrence wins)."""

    def run(text: str, *phrases: str) -> dict[str, Span]:
        _, spans = annotate(text, *phrases)
        return dict(zip(phrases, spans))

    return run
