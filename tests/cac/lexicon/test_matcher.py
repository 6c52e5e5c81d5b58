from hypothesis import given, settings
from hypothesis import strategies as st

from cac.lexicon.build import Lexicon, make_term
from cac.lexicon.matcher import TermMatcher
from cac.lexicon.normalize import normalize


def _lex(*pairs):
    return Lexicon([t for text, code in pairs if (t := make_term(text, code, "title"))])


def test_order_free_match_within_window_and_longest_wins():
    lex = _lex(("Calculus of kidney", "N20.0"), ("Disorder of kidney", "N28.9"), ("Hypertension", "I10"))
    m = TermMatcher(lex, window_slack=2)
    toks = normalize("bilateral kidney stones and hypertension")
    found = {lex.terms[i].code for mm in m.match(toks) for i in mm.term_ids}
    assert found == {"N20.0", "I10"}


def test_tokens_too_far_apart_do_not_match():
    lex = _lex(("Calculus of kidney", "N20.0"))
    m = TermMatcher(lex, window_slack=1)
    toks = normalize("kidney function was normal on ultrasound and later a stone passed")
    assert m.match(toks) == []


def test_terms_reduced_to_one_token_of_long_text_are_dropped():
    assert make_term("Type A blood", "Z67.10", "title") is None
    assert make_term("Fever", "R50.9", "title") is not None


def test_lexicon_from_code_set_has_titles_inclusions_and_supplement(coder):
    sources = {t.source for t in coder.lexicon.terms}
    assert {"title", "inclusion", "supplement"} <= sources
    assert len(coder.lexicon.terms) > 50_000


def test_short_or_plural_looking_acronyms_are_left_to_the_abbreviation_table():
    assert make_term("PIN", "N42.31", "inclusion") is None  # "pin" the word
    assert make_term("PRES", "I67.83", "inclusion") is None  # would fold to "pre"
    assert make_term("FFA", "L66.12", "inclusion") is None
    kept = make_term("CADASIL", "I67.850", "inclusion")
    assert kept is not None and kept.required == ("cadasil",)
    assert make_term("Pin worm infection", "B80", "index") is not None  # only one-acronym terms are concerned


def _codes(lex, matches):
    return {lex.terms[i].code for mm in matches for i in mm.term_ids}


def test_terms_do_not_bridge_list_items_that_match_on_their_own():
    lex = _lex(("Chronic obstructive pulmonary disease", "J44.9"), ("Pulmonary hypertension", "I27.20"),
               ("Hypertension", "I10"), ("Malignant neoplasm of left breast", "C50.912"),
               ("Malignant neoplasm of breast", "C50.919"))
    m = TermMatcher(lex, window_slack=3)
    toks = normalize("chronic obstructive pulmonary disease, hypertension")
    segments = [0, 0, 0, 0, 1]
    assert _codes(lex, m.match(toks, segments=segments)) == {"J44.9", "I10"}
    assert _codes(lex, m.match_many([toks], [segments])[0]) == {"J44.9", "I10"}
    # without list items the words are one bag, but "lung" already belongs to the contiguous COPD match
    assert "I27.20" not in _codes(lex, m.match(toks))
    # a list item that is no match by itself ("left") still completes a term across the comma
    toks = normalize("malignant neoplasm of the breast, left")
    assert _codes(lex, m.match(toks, segments=[0, 0, 0, 1])) == {"C50.912"}


def test_concept_matcher_reads_list_items_from_commas(coder):
    result = coder.code("History of COPD, hypertension and hypercholesterolemia.", setting="inpatient", top_k=5)
    codes = {s.code for s in result.suggestions}
    assert "I10" in codes
    assert not any(c.startswith("I27") for c in codes)


def test_terms_and_sentences_must_agree_on_without():
    lex = _lex(("Hypertensive heart disease without heart failure", "I11.9"),
               ("Hypertensive heart disease with heart failure", "I11.0"), ("Migraine with aura", "G43.1"),
               ("Migraine without aura", "G43.0"))
    m = TermMatcher(lex, window_slack=2)

    def found(text, without=frozenset()):
        toks = normalize(text)
        return {lex.terms[i].code for mm in m.match_many([toks], None, [set(without)])[0] for i in mm.term_ids}

    assert found("hypertensive heart disease with heart failure") == {"I11.0"}
    toks = normalize("migraine without aura")  # "aura" is the token under the note's "without"
    assert found("migraine without aura", {toks.index("aura")}) == {"G43.0"}
    assert found("migraine with aura") == {"G43.1"}


def test_array_screen_keeps_the_set_tests_answers_and_order(monkeypatch):
    import cac.lexicon.matcher as matcher_module

    long = "malignant neoplasm of upper outer quadrant of right female breast"
    lex = _lex(("breast cancer", "C50.919"), (long, "C50.411"), ("right breast pain", "N64.4"),
               ("neoplasm of breast", "D49.3"), ("lymph node involvement of right breast", "R59.0"))
    monkeypatch.setattr(matcher_module, "_SCREEN_WIDTH", 3)  # the long terms take the set-test path
    m = TermMatcher(lex)
    assert m._wide
    sentences = [normalize("right female breast malignant neoplasm, upper outer quadrant"),
                 normalize("lymph node involvement noted; breast pain on the right")]
    in_sents = {t: sum(1 << i for i, s in enumerate(sentences) if t in s) for s in sentences for t in s}
    anchors = sorted(t for t in in_sents if t in m._anchors)
    by_set = [(tid, i) for tok in anchors for tid in m._anchors[tok] for i, s in enumerate(sentences)
              if m._req_sets[tid] <= set(s)]
    assert m._screen(in_sents, len(sentences)) == by_set
    assert any(len(m._req_sets[tid]) > 3 for tid, _ in by_set)
    assert [[lex.terms[t].code for x in ms for t in x.term_ids] for ms in m.match_many(sentences)] == \
        [[lex.terms[t].code for x in m.match(s) for t in x.term_ids] for s in sentences]


def test_the_screen_reads_sentences_past_the_first_64_bits():
    lex = _lex(("Calculus of kidney", "N20.0"), ("Hypertension", "I10"))
    sentences = [normalize("no complaints")] * 70 + [normalize("kidney calculus"), normalize("hypertension")]
    found = TermMatcher(lex).match_many(sentences)
    assert [i for i, ms in enumerate(found) if ms] == [70, 71]
    sentences = [normalize("no complaints")] * 200
    sentences[63], sentences[130], sentences[199] = normalize("hypertension"), normalize("kidney calculus"), \
        normalize("calculus of the kidney and hypertension")
    found = TermMatcher(lex).match_many(sentences)  # four 64-bit chunks
    assert [(i, sorted(lex.terms[t].code for m in ms for t in m.term_ids)) for i, ms in enumerate(found) if ms] == \
        [(63, ["I10"]), (130, ["N20.0"]), (199, ["I10", "N20.0"])]


def test_the_screening_index_is_cached_as_json_and_rebuilt_when_stale():
    import orjson

    lex = _lex(("breast cancer", "C50.919"), ("right breast pain", "N64.4"), ("Hypertension", "I10"))
    index = orjson.loads(orjson.dumps(TermMatcher.build_index(lex)))  # as the lexicon cache stores it
    assert isinstance(index["screen"]["rows"], str)  # base64 int32, not a long JSON list
    sentences = [normalize("pain in the right breast"), normalize("breast cancer and hypertension")]
    codes = lambda m: [[lex.terms[t].code for x in ms for t in x.term_ids] for ms in m.match_many(sentences)]
    assert codes(TermMatcher(lex, index=index)) == codes(TermMatcher(lex)) == [["N64.4"], ["C50.919", "I10"]]
    stale = {**index, "screen": {**index["screen"], "n_terms": 2}}
    assert codes(TermMatcher(lex, index=stale)) == [["N64.4"], ["C50.919", "I10"]]
    other_width = {**index, "screen": {**index["screen"], "width": 4}}  # rows of another width: rebuilt
    assert codes(TermMatcher(lex, index=other_width)) == [["N64.4"], ["C50.919", "I10"]]


def test_a_hard_break_is_never_bridged_and_the_window_prefers_the_pivots_item():
    from cac.lexicon.matcher import HARD_BREAK

    lex = _lex(("Secondary malignant neoplasm of lung", "C78.00"), ("Malignant neoplasm of lung", "C34.90"),
               ("Secondary malignant neoplasm of liver", "C78.7"))
    m = TermMatcher(lex)
    toks = normalize("lung cancer metastasis liver")  # lung malignant neoplasm | secondary malignant neoplasm liver
    cut = toks.index("secondary")
    segments = [0 if i < cut else HARD_BREAK for i in range(len(toks))]
    found = {lex.terms[i].code for mm in m.match(toks, segments=segments) for i in mm.term_ids}
    assert found == {"C34.90", "C78.7"}
    soft = [0 if i < cut else 1 for i in range(len(toks))]  # a comma: the bridge stays unless both sides match
    assert "C34.90" in {lex.terms[i].code for mm in m.match(toks, segments=soft) for i in mm.term_ids}


_SCREEN_TERMS = (("Calculus of kidney", "N20.0"), ("Hypertension", "I10"), ("breast cancer", "C50.919"),
                 ("right breast pain", "N64.4"), ("neoplasm of breast", "D49.3"), ("Chronic kidney disease", "N18.9"),
                 ("Type 2 diabetes mellitus with diabetic chronic kidney disease", "E11.22"), ("Pain", "R52"))
_SCREEN_WORDS = ["kidney", "calculus", "hypertension", "breast", "cancer", "right", "pain", "neoplasm", "chronic",
                 "disease", "type2", "diabetes", "mellitus", "diabetic", "with", "noted", "left"]


@given(st.lists(st.lists(st.sampled_from(_SCREEN_WORDS), max_size=9), max_size=140))
@settings(max_examples=150, deadline=None)
def test_the_compiled_screen_answers_as_the_array_screen_and_the_set_test(sentences):
    from cac import scan

    m = _screen_matcher()
    in_sents = scan.sentence_bits_py(sentences)
    anchors = sorted(t for t in in_sents if t in m._anchors)
    by_set = [(tid, i) for tok in anchors for tid in m._anchors[tok] for i, s in enumerate(sentences)
              if m._req_sets[tid] <= set(s)]
    saved = scan.screen
    try:
        scan.screen = None
        by_arrays = m._screen(in_sents, len(sentences))
    finally:
        scan.screen = saved
    assert by_arrays == by_set
    if saved is not None:
        assert m._screen(in_sents, len(sentences)) == by_set


_MATCHER: list[TermMatcher] = []


def _screen_matcher() -> TermMatcher:
    if not _MATCHER:
        _MATCHER.append(TermMatcher(_lex(*_SCREEN_TERMS)))
    return _MATCHER[0]


def test_the_compiled_screen_refuses_arrays_of_the_wrong_kind():
    import numpy as np
    import pytest

    from cac import scan

    if scan.screen is None:
        pytest.skip("cac._scan was not built (no C compiler at install)")
    m = _screen_matcher()
    args = [dict.fromkeys(m._token_ids, 1), 1, m._token_ids, m._slot_start, m._slot_rows, m._token_rank, m._row_start, m._row_ids,
            m._row_tids]
    assert scan.screen(*args)  # the right arrays: every term's tokens in the one sentence
    for k, bad in ((3, m._slot_start.astype(np.int32)), (7, m._row_ids.astype(np.float64)), (5, m._token_rank[:-1]),
                   (6, m._row_start[:-1]), (6, m._row_start[::-1].copy()), (1, -1), (0, {"kidney": -1})):
        wrong = list(args)
        wrong[k] = bad
        with pytest.raises((TypeError, ValueError)):
            scan.screen(*wrong)


# -- the compiled resolve (cac.scan.resolve) against TermMatcher._resolve, its twin --------------------

_WORDS = ["aura", "migraine", "pain", "cough", "fever", "mass", "left", "chest", "acute"]


@st.composite
def _resolve_cases(draw):
    """Terms of a few words (some "without" another), a sentence of those words, its list items (commas
    and hard breaks) and the positions under a "without", and the terms whose words are all present."""
    from cac.lexicon.build import Term
    from cac.lexicon.matcher import HARD_BREAK

    words = st.sampled_from(_WORDS)
    terms = []
    for _ in range(draw(st.integers(1, 12))):
        required = tuple(draw(st.lists(words, min_size=1, max_size=4, unique=True)))
        optional = tuple(draw(st.lists(words, max_size=2, unique=True)))
        denied = draw(st.lists(words, max_size=2, unique=True))
        text = " ".join(required) + (" without " + " ".join(denied) if denied else "")
        terms.append(Term(required, optional, "X00", "title", text))
    tokens = draw(st.lists(words, max_size=24))
    steps = draw(st.lists(st.sampled_from([0, 0, 0, 1, HARD_BREAK]), min_size=len(tokens), max_size=len(tokens)))
    segments = [sum(steps[:i + 1]) for i in range(len(tokens))] if draw(st.booleans()) else None
    without = set(draw(st.lists(st.integers(0, max(0, len(tokens) - 1)), max_size=4))) if tokens else set()
    present = set(tokens)
    tids = [t for t in draw(st.permutations(range(len(terms)))) if set(terms[t].required) <= present]
    return terms, tokens, segments, without or None, tids, draw(st.integers(0, 3))


@given(_resolve_cases())
@settings(max_examples=600, deadline=None)
def test_compiled_resolve_equals_the_twin(case):
    import pytest

    from cac import scan
    from cac.lexicon.matcher import HARD_BREAK, _positions

    if scan.resolve is None:
        pytest.skip("cac._scan was not built (no C compiler at install)")
    terms, tokens, segments, without, tids, slack = case
    m = TermMatcher(Lexicon(terms), window_slack=slack)
    twin = [(x.positions, x.term_ids, x.optional_hits, x.extent)
            for x in m._resolve(list(tids), _positions(tokens), segments, without)]
    assert scan.resolve(list(tids), tokens, segments, without, m.terms, m._without_cache, m._without_words, slack,
                        HARD_BREAK) == twin


def test_resolve_rejects_bad_arguments():
    import pytest

    from cac import scan

    if scan.resolve is None:
        pytest.skip("cac._scan was not built (no C compiler at install)")
    m = TermMatcher(_lex(("Migraine without aura", "G43.009")), window_slack=1)
    words = list(m.terms[0].required)  # migraine, aura
    args = [[0], words, None, {1}, m.terms, m._without_cache, m._without_words, 1, 1 << 20]
    assert scan.resolve(*args) == [((0, 1), [0], 0, None)]  # "migraine without aura"
    assert scan.resolve(*args[:3], None, *args[4:]) == []  # "migraine ... aura": not without aura
    for k, bad in ((2, [0]), (3, [1]), (8, 0)):  # segments of another length, without not a set, no break
        with pytest.raises((TypeError, ValueError)):
            scan.resolve(*args[:k], bad, *args[k + 1:])
    with pytest.raises(TypeError):
        scan.resolve([0], words, None, None, m.terms, {}, lambda tid: ["aura"], 1, 1 << 20)  # not a frozenset
