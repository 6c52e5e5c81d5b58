"""The tokenizer's affix and URL expressions, skipped for plain words and numbers where none can match."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings as hyp_settings, strategies as st

from cac.pipeline.tokenizer_shortcuts import (
    ASCII_DIGITS,
    ASCII_LETTERS,
    TOKENIZER_EXPRESSIONS,
    PlainTextShortcut,
    _ShortcutCall,
    never_matches,
    never_starts_in,
    shortcut,
)
from cac.pipeline.nlp import build_pipeline

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture(scope="module")
def english():
    return spacy.blank("en").tokenizer


def test_no_english_affix_or_url_rule_matches_a_plain_word_or_number(english):
    ours = build_pipeline().tokenizer
    for name, no_match in TOKENIZER_EXPRESSIONS.items():
        fast = PlainTextShortcut(getattr(english, name), no_match)
        assert fast.skip_letters and fast.skip_digits, name
        assert isinstance(getattr(ours, name), PlainTextShortcut), name


@pytest.mark.parametrize(("pattern", "letters", "digits"), [
    (r"(?<=[0-9])(?:mg|g|%)$|,$|'s$", True, True),  # units need a digit before them
    (r"[a-z]+$", False, True),
    (r"(?<=[a-z])s$", False, True),  # a letter rule behind a letter
    (r"\d+$|\.$", True, False),
    (r"[^,]$", False, False),  # a negated set accepts both
    (r".$", False, False),  # anything unread counts as a possible match
    (r"(?:a|,)$", False, True),
    (r"(?:;|,)+$", True, True),
    (r"(?i)X$", False, False),  # flags it does not read: no claim
    (r"(?<![0-9])x$", False, True),  # a negative lookbehind requires nothing
])
def test_the_analysis_claims_only_what_holds(pattern, letters, digits):
    compiled = re.compile(pattern)
    assert never_matches(compiled, ASCII_LETTERS) is letters
    assert never_matches(compiled, ASCII_DIGITS) is digits


@pytest.mark.parametrize(("pattern", "letters", "digits"), [
    (r"(?<=[0-9])(?:mg|g)$|,$", True, True),  # a unit starts at a letter, but only right after a digit
    (r"[a-z]+,$", False, True),
    (r"(?<=[a-z])s$", False, True),
    (r"x?,$", False, False),  # an optional first part: no claim
    (r"\.$", True, True),
    (r"(?:,|x)$", False, True),
    (r"^US\$", False, True),  # a currency prefix starts with a letter
    (r"$", False, False),  # an empty match starts anywhere
])
def test_where_a_match_can_start(pattern, letters, digits):
    compiled = re.compile(pattern)
    assert never_starts_in(compiled, ASCII_LETTERS) is letters
    assert never_starts_in(compiled, ASCII_DIGITS) is digits


def test_a_suffix_search_starts_after_a_leading_word():
    calls = []

    class Spy:
        def __init__(self, pattern):
            self.__self__ = pattern
            self.__name__ = "search"

        def __call__(self, text, pos=0):
            calls.append(pos)
            return self.__self__.search(text, pos)

    fast = PlainTextShortcut(Spy(re.compile(r"(?<=[0-9])(?:mg|g)$|,$|\.$")))
    assert fast.runs == (string.ascii_letters, string.digits)
    assert fast("pain,").span() == (4, 5) and fast("5mg").span() == (1, 3) and fast("A.").span() == (1, 2)
    assert fast("pain") is None and fast("(x") is None
    assert calls == [4, 1, 1, 0]  # "pain" needs no search; "(x" has no leading run


def test_nothing_to_skip_leaves_the_expression_as_it_was():
    search = re.compile(r".$").search
    assert shortcut(search) is search
    assert shortcut(None) is None


_ALPHABET = "abcXYZ019.,;:'’s%°F()[]\"-+/…é²€mgkµ@: \u00a0"
_TEXTS = (st.text(alphabet=_ALPHABET, min_size=1, max_size=10) | st.text(alphabet="abcxyzXYZ", min_size=1)
          | st.text(alphabet="0123456789", min_size=1) | st.sampled_from(["www.example.com", "http://x.org/a",
                                                                          "a@b.com", "192.168.0.1", "U.S.", "5mg"]))


def _answer(result):
    if result is None:
        return None
    if isinstance(result, re.Match):
        return result.span()
    return [m.span() for m in result]


@pytest.mark.parametrize("name", sorted(TOKENIZER_EXPRESSIONS))
@hyp_settings(max_examples=300, deadline=None)
@given(text=_TEXTS)
def test_each_shortcut_answers_what_its_expression_answers(english, name, text):
    method = getattr(english, name)
    fast = PlainTextShortcut(method, TOKENIZER_EXPRESSIONS[name])
    assert _answer(fast(text)) == _answer(method(text))
    twin = _ShortcutCall(method, fast.no_match, fast.skip_letters, fast.skip_digits, fast.runs)  # pure Python
    assert _answer(twin(text)) == _answer(method(text))


def test_tokens_are_those_of_the_plain_tokenizer():
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.txt"))) + (
        " BP 120/80, HbA1c 7.5%, 5mg x2 daily; t12 fracture (L1-L2). U.S. Dr. Smith's CT... 38°C. 3.5cm, "
        "pt's O2-sat 92%... 'quoted' «x» 10km/h $5 5$ IIIa 2b. ")
    ours = build_pipeline()
    plain = spacy.blank("en")
    plain.tokenizer.rules = ours.tokenizer.rules  # the same special cases: only the suffix search differs
    assert isinstance(ours.tokenizer.suffix_search, PlainTextShortcut)
    assert [t.text for t in ours.make_doc(text)] == [t.text for t in plain.make_doc(text)]


def test_the_tokenizer_serializes_its_expressions():
    nlp = build_pipeline()
    other = spacy.blank("en")
    other.tokenizer.from_bytes(nlp.tokenizer.to_bytes())
    for name in TOKENIZER_EXPRESSIONS:
        assert getattr(other.tokenizer, name).__self__.pattern == getattr(nlp.tokenizer, name).__self__.pattern


def test_the_shortcut_pickles_and_keeps_its_analysis():
    import pickle

    fast = build_pipeline().tokenizer.suffix_search
    again = pickle.loads(pickle.dumps(fast))
    assert type(again) is PlainTextShortcut and again.__self__.pattern == fast.__self__.pattern
    assert (again.skip_letters, again.skip_digits, again.runs) == (fast.skip_letters, fast.skip_digits, fast.runs)
    assert again("pain,").span() == (4, 5) and again("pain") is None


def test_the_twin_reads_runs_and_non_strings_as_the_compiled_call():
    pattern = re.compile(r"(?<=[0-9])(?:mg|g)$|,$")
    twin = _ShortcutCall(pattern.search, None, True, True, (string.ascii_letters, string.digits))
    assert twin("pain") is None and twin("5mg").span() == (1, 3) and twin("pain,").span() == (4, 5)
    assert twin("") is None and twin("é,").span() == (1, 2)
    with pytest.raises(TypeError):
        twin(b"bytes")  # the expression's own error
