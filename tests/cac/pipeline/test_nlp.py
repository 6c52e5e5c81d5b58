"""build_pipeline: order, names, aliases, inserting a concept matcher, speed."""

from __future__ import annotations

import functools
import statistics
import time

import pytest
from hypothesis import given, settings as hyp_settings, strategies as st
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from cac.errors import CacError
from cac.pipeline import DEFAULT_COMPONENTS, PIPE_NAMES, build_pipeline, default_pipeline, register_extensions
from tests.cac.pipeline.notes import long_note

PIPES = ["cac_sections", "cac_sentences", "cac_abbreviations", "cac_context"]


@Language.component("test_cac_fake_concepts")
def fake_concepts(doc: Doc) -> Doc:
    """Stands in for the concept matcher: one mention per word 'fever'."""
    doc.spans["mentions"] = [doc[t.i : t.i + 1] for t in doc if t.lower_ == "fever"]
    return doc


def test_default_pipeline_order_and_names(nlp) -> None:
    assert nlp.pipe_names == PIPES
    assert nlp.lang == "en"
    assert [PIPE_NAMES[f] for f in DEFAULT_COMPONENTS] == PIPES


def test_dotted_aliases_and_canonical_order() -> None:
    nlp = build_pipeline(["cac.context.v1", "cac.sections.v1", "cac.sentences.v1"])
    assert nlp.pipe_names == ["cac_sections", "cac_sentences", "cac_context"]


def test_unknown_component_raises_e204() -> None:
    with pytest.raises(CacError) as info:
        build_pipeline(["cac_nonsense_v1"])
    assert info.value.code == "E204"


def test_extra_component_goes_in_the_concept_slot() -> None:
    nlp = build_pipeline([*DEFAULT_COMPONENTS, "test_cac_fake_concepts"])
    assert nlp.pipe_names == ["cac_sections", "cac_sentences", "cac_abbreviations", "test_cac_fake_concepts", "cac_context"]
    doc = nlp("No fever.\nFever since Monday.")
    first, second = doc.spans["mentions"]
    assert first._.negated and not second._.negated


def test_insert_concept_matcher_by_hand() -> None:
    nlp = build_pipeline()
    nlp.add_pipe("test_cac_fake_concepts", name="cac_concepts", before="cac_context")
    assert nlp.pipe_names == ["cac_sections", "cac_sentences", "cac_abbreviations", "cac_concepts", "cac_context"]
    doc = nlp("Denies fever.")
    assert doc.spans["mentions"][0]._.negated


def test_config_by_pipe_name() -> None:
    nlp = build_pipeline(config={"cac_context": {"spans_key": "concepts"}})
    assert nlp.get_pipe("cac_context").spans_key == "concepts"


def test_default_pipeline_is_cached() -> None:
    assert default_pipeline() is default_pipeline()


def test_extensions_registered_idempotently() -> None:
    register_extensions()
    register_extensions()
    for name in ("section", "expansion", "expansion_len"):
        assert Token.has_extension(name)
    for name in ("sections", "section_at"):
        assert Doc.has_extension(name)
    for name in ("negated", "uncertain", "historical", "family", "hypothetical", "experiencer",
                 "other_context", "context_triggers", "section"):
        assert Span.has_extension(name)


def test_tokenization_unchanged_by_speedup(nlp) -> None:
    import spacy

    text = "a.\n\n\tb\t.\r\n c  d\n\n\n e.\n\nf\u00a0g \n\t x"
    plain = [(t.text, t.whitespace_, t.norm_) for t in spacy.blank("en")(text)]
    assert [(t.text, t.whitespace_) for t in nlp(text)] == [p[:2] for p in plain]
    assert [(t.text, t.whitespace_, t.norm_) for t in build_pipeline(lexeme_attrs=None)(text)] == plain


def test_speed_1500_words(nlp) -> None:
    """The target is well under 10 ms on one core; the bound here is loose so
    that a busy CI machine does not fail it (see the report for measurements)."""
    text = long_note(1500)
    nlp.add_pipe("test_cac_fake_concepts", name="speed_mentions", before="cac_context")
    try:
        for _ in range(3):
            nlp(text)
        times = []
        for _ in range(15):
            start = time.perf_counter()
            doc = nlp(text)
            times.append(time.perf_counter() - start)
    finally:
        nlp.remove_pipe("speed_mentions")
    assert len(doc) > 2000
    assert statistics.median(times) < 0.05


def test_pipeline_pickles() -> None:
    import pickle

    nlp = pickle.loads(pickle.dumps(build_pipeline()))
    doc = nlp("Chief complaint: cough.\nPlan: home")
    assert [s.name for s in doc._.sections] == ["chief_complaint", "plan"]


def test_pipe_matches_call(nlp) -> None:
    texts = ["No fever.\nPlan: rest", "HPI: 60M with HTN."]
    piped = [[(s.name, s.start_char) for s in d._.sections] for d in nlp.pipe(texts)]
    called = [[(s.name, s.start_char) for s in nlp(t)._.sections] for t in texts]
    assert piped == called


def test_only_the_lexeme_attributes_cac_reads_are_computed() -> None:
    nlp = build_pipeline()
    doc = nlp("Zyxquorb HTN, 42 mg.")  # words new to the vocabulary
    assert [t.lower_ for t in doc][:2] == ["zyxquorb", "htn"]
    assert not doc[3].like_num  # not computed
    assert doc[0].norm_ == ""  # nothing in cac reads NORM
    full = build_pipeline(lexeme_attrs=None)
    assert full("Qwertzuiopx 42")[1].like_num
    assert build_pipeline(lexeme_attrs=("LOWER", "NORM"))("Xyzzyplugh HTN")[0].norm_ == "xyzzyplugh"
    with pytest.raises(ValueError):
        build_pipeline(lexeme_attrs=("NOT_AN_ATTR",))


@functools.lru_cache(maxsize=1)
def _blank_english() -> Language:
    import spacy

    return spacy.blank("en")


@functools.lru_cache(maxsize=1)
def _with_norm() -> Language:
    return build_pipeline(lexeme_attrs=("LOWER", "NORM"))


@hyp_settings(max_examples=300, deadline=None)
@given(word=st.text(min_size=1, max_size=8) | st.sampled_from(["’s", "'S", "US$", "—", "--", "„", "İI", "ẞß", "Σ"]))
def test_the_kept_lexeme_getters_run_no_python_and_answer_as_spacys(word) -> None:
    from spacy.attrs import LOWER, NORM

    ours, theirs = _with_norm().vocab.lex_attr_getters, _blank_english().vocab.lex_attr_getters
    assert ours[LOWER] is str.lower and type(ours[NORM]).__name__ == "builtin_function_or_method"
    assert ours[LOWER](word) == theirs[LOWER](word) and ours[NORM](word) == theirs[NORM](word)


def test_an_unknown_lexeme_getter_is_kept_as_it_is() -> None:
    from cac.pipeline.nlp import _compiled_getter

    def shout(string: str) -> str:
        return string.upper()

    assert _compiled_getter(shout) is shout


def test_the_tokenizer_keeps_the_chunks_of_a_long_batch_run():
    from cac.pipeline.nlp import TOKENIZER_CACHE_SIZE, build_pipeline

    nlp = build_pipeline([])
    assert nlp.tokenizer.max_cache_size >= TOKENIZER_CACHE_SIZE > 10_000  # spaCy's default fills in ~40 notes
    words = [f"w{i}x," for i in range(12_000)]  # more distinct chunks than spaCy's default keeps
    doc = nlp.make_doc(" ".join(words))
    assert [t.text for t in doc[:4]] == ["w0x", ",", "w1x", ","] and len(doc) == 24_000
