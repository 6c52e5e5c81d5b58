"""cac.scan: the compiled scanners give exactly what their Python twins give."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cac import scan
from cac.lexicon.normalize import context_words, canon_word

# letters, digits and the characters around them in notes, plus non-ASCII ones (some lower-case to ASCII:
# the Kelvin sign to "k"; "İ" to two characters) and one outside the BMP
ALPHABET = "aAbBcCdDeEiIvVzZ0123456789.,;:-()/ \n\téÉİ\u212aΩ𝔸"
texts = st.text(alphabet=ALPHABET, max_size=60)
words = st.sampled_from(["the", "a", "an", "of", "type", "2", "stage", "iv", "renal", "kidneys", "pain", "mass",
                         "carcinoma", "ckd", "3b", "lung", "diabetes"])

#: The procedure coder's word expression before alnum_runs replaced it (the reference for the twin).
CONTENT_WORD = re.compile(r"(?<![a-z0-9])(?!(?:a|an|of|the)(?![a-z0-9]))[a-z0-9]+")
STOPWORDS = frozenset({"the", "a", "an", "of"})


def _native():
    try:
        from cac import _scan as native
    except ImportError:
        pytest.skip("cac._scan was not built (no C compiler at install)")
    return native


@given(texts)
@settings(max_examples=400, deadline=None)
def test_alnum_runs_twin_matches_the_old_expression(text):
    lower = text.lower()
    found = list(CONTENT_WORD.finditer(lower))
    assert scan.alnum_runs_py(lower, STOPWORDS) == ([m.start() for m in found], [m.end() for m in found],
                                                    [m.group() for m in found])


@given(texts)
@settings(max_examples=400, deadline=None)
def test_compiled_word_tokens_equal_the_twin(text):
    assert _native().word_tokens(text) == scan.word_tokens_py(text)


@given(texts)
@settings(max_examples=400, deadline=None)
def test_compiled_alnum_runs_equal_the_twin(text):
    lower = text.lower()
    assert _native().alnum_runs(lower, STOPWORDS) == scan.alnum_runs_py(lower, STOPWORDS)


#: Lower-case words that end like plurals, and the like ("-ies", "-ss", "-us", "-is", short words).
plural_texts = st.lists(st.sampled_from(["ies", "s", "ss", "us", "is", "es", "y", "a", "b", "1", "ie"]), max_size=6
                        ).map("".join)


@given(st.lists(plural_texts | texts, max_size=8).map(" ".join))
@settings(max_examples=400, deadline=None)
def test_compiled_alnum_runs_fold_plurals_as_the_twin(text):
    lower = text.lower()
    assert _native().alnum_runs(lower, STOPWORDS, True) == scan.alnum_runs_py(lower, STOPWORDS, True)


def test_singular_examples():
    from cac.suggest.procedures import normalize_word

    pairs = {"arteries": "artery", "stents": "stent", "ties": "tie", "glass": "glass", "status": "status",
             "iris": "iris", "bus": "bus", "gas": "gas", "ies": "ies", "1ies": "1ie", "x": "x", "": ""}
    for word, one in pairs.items():
        assert scan.singular_py(word) == one and normalize_word(word) == one
    words = list(pairs)
    for fn in (scan.alnum_runs_py, scan.alnum_runs):
        assert fn(" ".join(words), frozenset({"the"}), True)[2] == [pairs[w] for w in words if w]


@given(st.lists(words, max_size=12))
@settings(max_examples=300, deadline=None)
def test_compiled_canonical_tokens_equal_the_twin(sentence):
    toks = [(w, i * 10, i * 10 + len(w)) for i, w in enumerate(sentence)]
    context = context_words()
    assert _native().canonical_tokens(toks, canon_word, context) == scan.canonical_tokens_py(toks, canon_word, context)


@given(st.lists(st.lists(words, max_size=8), max_size=70))
@settings(max_examples=200, deadline=None)
def test_compiled_sentence_bits_equal_the_twin(sentences):
    assert _native().sentence_bits(sentences) == scan.sentence_bits_py(sentences)


def test_word_tokens_examples():
    for fn in (scan.word_tokens_py, scan.word_tokens):
        assert fn("Stage IIIa, 3a and 5mg; 1.5b x2b") == [
            ("stage", 0, 5), ("iiia", 6, 10), ("3a", 12, 14), ("and", 15, 18), ("5", 19, 20), ("mg", 20, 22),
            ("1.5b", 24, 28), ("x", 29, 30), ("2b", 30, 32)]
        assert fn("") == [] and fn("  é—") == []


def test_canonical_tokens_examples():
    for fn in (scan.canonical_tokens_py, scan.canonical_tokens):
        toks = [("renal", 0, 5), ("masses", 6, 12)]
        assert fn(toks, canon_word, context_words()) == [("kidney", 0, 5), ("mass", 6, 12)]
        assert fn([("type", 0, 4), ("2", 5, 6)], canon_word, context_words()) is None  # "type 2": read together
        assert fn([], canon_word, context_words()) == []


@given(st.lists(words | st.text(alphabet="abc", max_size=3), max_size=30),
       st.dictionaries(st.text(alphabet="abc", max_size=3), st.integers(-2**40, 2**40), max_size=10))
@settings(max_examples=300, deadline=None)
def test_compiled_word_ids_equal_the_twin(word_list, index):
    native = _native()
    assert native.word_ids(word_list, index, -1) == scan.word_ids_py(word_list, index, -1)
    assert native.word_ids(tuple(word_list), index, 7) == scan.word_ids_py(word_list, index, 7)


def test_word_ids_examples():
    import numpy as np

    ids = np.frombuffer(scan.word_ids(["stent", "of", "artery"], {"stent": 3, "artery": 0}, -1), dtype=np.int64)
    assert ids.tolist() == [3, -1, 0]


needles = st.text(alphabet="abcAé ,.\u212a𝔸", max_size=4)


@given(st.text(alphabet="abcAé ,.\n\u212a𝔸", max_size=80), st.lists(needles, max_size=12).map(tuple))
@settings(max_examples=500, deadline=None)
def test_compiled_found_in_equals_the_twin(text, keys):
    native = _native()
    assert native.found_in(text, keys) == scan.found_in_py(text, keys) == {k for k in keys if k in text}


def test_found_in_examples():
    keys = ("bmi", "wk", "allerg", "", "warfarin", "x", "n allergy", "on warfarin daily, bmi 31!")
    text = "on warfarin daily, bmi 31; no known allergy"
    assert scan.found_in(text, keys) == {"bmi", "allerg", "", "warfarin", "n allergy"}
    assert scan.found_in("", ("", "a")) == {""}
    assert scan.found_in("aaa", ("aa", "aa", "aaaa")) == {"aa"}  # each needle found once; too long: absent
    with pytest.raises(TypeError):
        scan.found_in("text", ["a", "list"])
    with pytest.raises(TypeError):
        scan.found_in("text", ("a", 1))


def test_matches_at_tries_its_places_in_order_without_overlaps():
    pattern = re.compile(r"a+b")
    text = "aab xab aaab"
    places = [9, 0, 1, 5, 5, 8, 10]  # any order, repeats; 1 and 9-10 lie inside earlier matches
    assert [m.span() for m in scan.matches_at(pattern, text, places)] == [m.span() for m in pattern.finditer(text)]
    assert scan.matches_at(pattern, text, [4]) == []


def test_compiled_scanners_refuse_bad_arguments():
    native = _native()
    with pytest.raises(TypeError):
        native.word_tokens(b"bytes")
    with pytest.raises(TypeError):
        native.alnum_runs("text", ["a", "list"])
    with pytest.raises(TypeError):
        native.canonical_tokens([("a", 0)], canon_word, frozenset())
    with pytest.raises(TypeError):
        native.canonical_tokens([("a", 0, 1)], lambda w: [w], frozenset())  # canon must give a tuple
    with pytest.raises(ValueError):
        native.canonical_tokens([("a", 0, 1)], lambda w: (_ for _ in ()).throw(ValueError("x")), frozenset())
    with pytest.raises(TypeError):
        native.sentence_bits([1, 2])
    with pytest.raises(TypeError):
        native.word_ids(["a"], {"a": "not an int"}, -1)
    with pytest.raises(TypeError):
        native.word_ids(["a"], [("a", 1)], -1)  # the index must be a dict
    with pytest.raises(TypeError):
        native.found_in(b"bytes", ("a",))
    with pytest.raises(TypeError):
        native.PlainShortcut(re.compile("x").search, None, True, True, ("é",))  # runs must be ASCII
    with pytest.raises(TypeError):
        native.PlainShortcut("not callable", None, True, True, ())
    fast = native.PlainShortcut(re.compile("x").search, None, True, True, ())
    with pytest.raises(TypeError):
        fast("x", 1)
    with pytest.raises(TypeError):
        fast(text="x")
    with pytest.raises(RuntimeError):
        native.PlainShortcut.__new__(native.PlainShortcut)("x")  # never initialized


def test_ci_runs_the_compiled_scanners_where_a_compiler_is():
    """CI must prove the compiled path: with a C compiler on the machine, the install builds it."""
    if not os.environ.get("CI") or os.environ.get("CAC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("checked in CI only")
    if not (shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")):
        pytest.skip("no C compiler on this machine")
    assert scan.COMPILED, "cac._scan was not built or not importable (install with pip install -e)"


def test_pure_python_switch():
    code = "import cac.scan as s; print(s.COMPILED, s.word_tokens is s.word_tokens_py)"
    env = {**os.environ, "CAC_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


# words that start, end or interrupt the expressions finditer_from serves, and case traps ("ı", "ſ", "İ")
clause_words = st.sampled_from(["without", "WITHOUT", "Without", "xwithout", "withoutx", "with", "and", "band",
                                "metastases", "METASTATIC", "metastasis", "to", "from", "of", "into", "the", "lung",
                                "cancer", "primary", "pain", "a", "wıthout", "metaſtases", "İ", ",", ";", ".", "\n",
                                "(", "-", "  ", "é"])
clause_texts = st.lists(clause_words, max_size=14).map(" ".join) | st.lists(clause_words, max_size=10).map("".join)


def _spans(matches):
    return [(m.span(), m.groups()) for m in matches]


@given(clause_texts)
@settings(max_examples=500, deadline=None)
def test_finditer_from_equals_finditer_for_the_note_expressions(text):
    from cac.lexicon.matcher import WITHOUT_CLAUSE
    from cac.pipeline.concepts import _segment_breaks

    assert _spans(scan.finditer_from(WITHOUT_CLAUSE, text, ("without",))) == _spans(WITHOUT_CLAUSE.finditer(text))
    for pattern, _, begins in _segment_breaks():
        assert begins  # each rule names the words its matches begin with
        assert _spans(scan.finditer_from(pattern, text, begins, text.lower())) == _spans(pattern.finditer(text))


def test_finditer_from_examples():
    p = re.compile(r"\bwithout\b([^,;]*)", re.IGNORECASE)
    text = "xwithout a, Without b without c; WITHOUT"
    assert [m.span() for m in scan.finditer_from(p, text, ["without"])] == [(12, 31), (33, 40)]
    # "ı" matches "i" case-insensitively although "ı".lower() is not "i": the whole text is searched then
    assert [m.group() for m in scan.finditer_from(p, "a wıthout b", ["without"])] == ["wıthout b"]
    with pytest.raises(ValueError):
        scan.finditer_from(p, text, [""])


@st.composite
def concept_inputs(draw):
    """A text of note-like words and what the concept matcher passes with it: sentence bounds (in order,
    some cutting through words), abbreviation expansions (sorted, some over several words) and header ranges."""
    text = draw(st.lists(words | texts, max_size=12).map(" ".join))
    n = len(text)
    cut = sorted(set(draw(st.lists(st.integers(0, n), max_size=6))) | {0, n})
    bounds = [(a, b) for a, b in zip(cut, cut[1:]) if draw(st.booleans()) or b - a > 3]
    places = sorted(draw(st.lists(st.integers(0, max(0, n - 1)), max_size=4, unique=True)))
    expansions = [(a, min(n, a + draw(st.integers(1, 6))), draw(words | texts)) for a in places]
    heads = sorted(draw(st.lists(st.integers(0, n), max_size=4, unique=True)))
    headers = [(a, a + draw(st.integers(0, 8))) for a in heads]
    return text, bounds, expansions, headers


@given(concept_inputs())
@settings(max_examples=500, deadline=None)
def test_compiled_concept_tokens_equal_the_twin(inputs):
    from cac.lexicon.normalize import normalize_in_context
    from cac.pipeline.concepts import _concept_tokens_py

    args = (*inputs, canon_word, context_words(), normalize_in_context)
    expected = _native().concept_tokens(*args)
    assert expected == _concept_tokens_py(*args)
    memo = {"renal": ("kidney",)}  # a dict canon: a memo, read as canon[word] (a plain dict: every word in it)
    memo_args = (*inputs, _Memo(memo), context_words(), normalize_in_context)
    assert _native().concept_tokens(*memo_args) == _concept_tokens_py(*memo_args)


class _Memo(dict):
    """A canon memo as the concept matcher's: filled from canon_word on a miss."""

    def __missing__(self, word):
        forms = self[word] = canon_word(word)
        return forms


def test_concept_tokens_read_a_dict_canon_as_a_memo():
    from cac.lexicon.normalize import normalize_in_context
    from cac.pipeline.concepts import _CANON, _CanonMemo, _concept_tokens_py

    text = "Renal mass, left kidneys."
    args = ([(0, len(text))], [], [])
    for fn in {_concept_tokens_py, scan.concept_tokens or _concept_tokens_py}:
        memo = _Memo({"renal": ("nephro",)})  # an entry is used as it stands
        got = fn(text, *args, memo, context_words(), normalize_in_context)
        assert got[0] == [["nephro", *canon_word("mass"), *canon_word("left"), *canon_word("kidneys")]]
        assert set(memo) == {"renal", "mass", "left", "kidneys"}  # the misses were filled
        with pytest.raises(KeyError):  # a plain dict has no __missing__: a word not in it is an error
            fn(text, *args, {"renal": ("kidney",)}, context_words(), normalize_in_context)
    bounded = _CanonMemo()
    bounded.MAX = 2
    for w in ("a", "b", "c"):
        assert bounded[w] == canon_word(w)
    assert len(bounded) == 1  # emptied when full
    assert isinstance(_CANON, _CanonMemo)


def test_concept_tokens_examples():
    from cac.lexicon.normalize import normalize_in_context
    from cac.pipeline.concepts import _concept_tokens_py

    text = "HPI: Type 2 DM with renal failure. Pt has CKD 3b"
    bounds = [(0, 34), (35, len(text))]
    expansions = [(text.index("DM"), text.index("DM") + 2, "diabetes mellitus")]
    headers = [(0, 4)]
    for fn in {_concept_tokens_py, scan.concept_tokens or _concept_tokens_py}:
        forms, starts, ends, cuts = fn(text, bounds, expansions, headers, canon_word, context_words(),
                                       normalize_in_context)
        expanded = [*canon_word("diabetes"), *canon_word("mellitus")]
        assert forms[0][:3] == ["type2", *expanded]  # the header left out; "type 2" joined
        assert "kidney" in forms[0] and forms[1][-1] == "stage3b"
        assert cuts == [len(forms[0]), len(forms[0]) + len(forms[1])]
        starts_, ends_ = memoryview(starts).cast("q").tolist(), memoryview(ends).cast("q").tolist()
        assert (starts_[1], ends_[1]) == expansions[0][:2]  # the expansion's words stand at the abbreviation
        assert text[starts_[0]:ends_[0]] == "Type 2"
        assert len(starts_) == len(ends_) == cuts[-1]
        assert fn(text, [], [], [], canon_word, context_words(), normalize_in_context) == ([], b"", b"", [])


def test_concept_tokens_rejects_bad_arguments():
    native = _native()
    canon = (canon_word, context_words(), lambda toks: toks)
    with pytest.raises(TypeError):
        native.concept_tokens("ab", [(0,)], [], [], *canon)
    with pytest.raises(TypeError):
        native.concept_tokens("ab", [(0, 2)], [(0, 1, 5)], [], *canon)  # an expansion must be a str
    with pytest.raises(TypeError):
        native.concept_tokens("ab", [(0, 2)], [], [], lambda w: [w], *canon[1:])  # canon must give a tuple
    with pytest.raises(TypeError):
        native.concept_tokens("ab", [(0, 2)], [], [], canon_word, [], canon[2])  # context must be a set
