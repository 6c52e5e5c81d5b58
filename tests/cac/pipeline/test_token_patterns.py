"""The literal token-pattern matcher agrees with spaCy's Matcher, and the ConText rules use it."""

from __future__ import annotations

import pytest
import spacy
from spacy.matcher import Matcher

from cac.pipeline.token_patterns import MAX_SPAN, LiteralPatternMatcher, literal_steps

PATTERNS = {
    "star": [{"LOWER": {"IN": ["no", "without"]}}, {"LOWER": {"IN": ["relevant", "prior", "known"]}, "OP": "*"},
             {"LOWER": "history"}],
    "plus": [{"LOWER": "very"}, {"LOWER": "very", "OP": "+"}, {"LOWER": "ill"}],
    "optional": [{"ORTH": "ER"}, {"ORTH": "-", "OP": "?"}, {"ORTH": "negative"}],
    "trailing_star": [{"LOWER": "pain"}, {"LOWER": {"IN": ["severe", "mild"]}, "OP": "*"}],
}
TEXT = ("No relevant prior history. Without history of note. no known relevant history, no history. "
        "He was very very very ill. ER-negative and ER negative, er negative. pain severe mild severe.")


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def _spacy(nlp, doclike):
    m = Matcher(nlp.vocab)
    for key, pattern in PATTERNS.items():
        m.add(key, [pattern])
    return sorted(m(doclike))


def _ours(nlp, doclike):
    m = LiteralPatternMatcher(nlp.vocab)
    for key, pattern in PATTERNS.items():
        assert m.add(key, pattern)
    assert len(m) == len(PATTERNS)
    return sorted(m(doclike))


def test_same_matches_as_spacy_matcher(nlp):
    doc = nlp(TEXT)
    ours = _ours(nlp, doc)
    assert ours == _spacy(nlp, doc)
    keys = {nlp.vocab.strings[k] for k, _, _ in ours}
    assert keys == set(PATTERNS)


def test_same_matches_on_a_span(nlp):
    doc = nlp(TEXT)
    span = doc[5:30]
    assert _ours(nlp, span) == _spacy(nlp, span)
    assert _ours(nlp, span)  # the span holds matches


def test_non_literal_patterns_are_refused(nlp):
    m = LiteralPatternMatcher(nlp.vocab)
    assert literal_steps([{"IS_DIGIT": True}], nlp.vocab) is None
    assert literal_steps([{"LOWER": "a", "OP": "?"}, {"LOWER": "b"}], nlp.vocab) is None  # optional first token
    assert literal_steps([{"LOWER": "a"}, {"ORTH": "B"}], nlp.vocab) is None  # two attributes
    assert literal_steps([{"LOWER": "a", "OP": "{2}"}], nlp.vocab) is None
    assert not m.add("digits", [{"IS_DIGIT": True}]) and len(m) == 0


def test_long_runs_stop_at_max_span(nlp):
    m = LiteralPatternMatcher(nlp.vocab)
    m.add("run", [{"LOWER": "no"}, {"LOWER": "relevant", "OP": "*"}, {"LOWER": "history"}])
    doc = nlp("no " + "relevant " * 5000 + "history")  # no recursion error, no match beyond the span cap
    assert m(doc) == []
    doc = nlp("no " + "relevant " * (MAX_SPAN - 2) + "history")
    assert [(s, e) for _, s, e in m(doc)] == [(0, MAX_SPAN)]


def test_context_rules_need_no_spacy_matcher():
    from cac.pipeline.nlp import build_pipeline

    ctx = build_pipeline().get_pipe("cac_context")
    assert not any(isinstance(m, Matcher) for m in ctx._matchers)
    assert any(isinstance(m, LiteralPatternMatcher) for m in ctx._matchers)


def test_word_numbers_by_low_bits_equal_a_search():
    import numpy as np

    from cac.pipeline.token_patterns import _Coded

    base = [(1 << 40) + 7, (2 << 40) + 9, 12345, (5 << 50) + 0xABCD]
    coded = _Coded({h: [(1, [(frozenset({h}), None)])] for h in base})
    assert coded.by_low is not None
    noise = [(3 << 40) + 7, 9, 0, (1 << 63) + 12345, *base]  # same low bits as a word, or none
    array = np.asarray(noise * 3, dtype=np.uint64)
    place, known = coded.number(array)
    coded.by_low = None  # the search
    place_s, known_s = coded.number(array)
    assert known.tolist() == known_s.tolist() == [False] * 4 + [True] * 4 + ([False] * 4 + [True] * 4) * 2
    assert place[known].tolist() == place_s[known_s].tolist()
    assert [coded.words[p] for p in place[known].tolist()] == [h for h in array.tolist() if h in base]


def test_words_sharing_low_bits_are_searched():
    from cac.pipeline.token_patterns import _Coded

    coded = _Coded({(1 << 40) + 7: [(1, [(frozenset({(1 << 40) + 7, (2 << 40) + 7}), None)])]})
    assert coded.by_low is None
