"""TokenPhraseMatcher and the token hashes it reads: spaCy's PhraseMatcher's matches, without reading tokens."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings as hyp_settings, strategies as st
from spacy.attrs import LOWER, ORTH
from spacy.matcher import PhraseMatcher
from spacy.strings import hash_string

from cac import scan
from cac.pipeline import build_pipeline
from cac.pipeline.extensions import _symbol_hashes, doc_text, token_hash_array, token_length_array, token_start_array
from cac.pipeline.phrase_matcher import TokenPhraseMatcher

compiled = pytest.mark.skipif(scan.hash_phrase_find is None, reason="cac._scan is not built")
NLP = build_pipeline([])
WORDS = ["no", "No", "NO", "fever", "Fever", "chest", "pain", "denies", "r/o", "(", ")", ".", ",", "-", "ñandú",
         "İstanbul", "ẞ", "straße", "Σ", "x" * 300, "X" * 9, "HER-2", "neg.", "\n\n", "  ", "12", "3a",
         "_", "neg", "Neg", "X", "x", "case", "CASE", "ROOT"]  # the last: spaCy symbols, with fixed ids


def _both(attr: str, phrases: dict[str, list[str]]) -> tuple[PhraseMatcher, TokenPhraseMatcher]:
    theirs, ours = PhraseMatcher(NLP.vocab, attr=attr), TokenPhraseMatcher(NLP.vocab, attr=attr)
    for key, texts in phrases.items():
        docs = [NLP.make_doc(t) for t in texts]
        theirs.add(key, docs)
        ours.add(key, docs)
    return theirs, ours


@hyp_settings(max_examples=150, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS) | st.text(min_size=1, max_size=6), max_size=60),
       seps=st.lists(st.sampled_from([" ", "", "\n", "  "]), max_size=60),
       phrases=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), min_size=1, max_size=8),
       attr=st.sampled_from(["LOWER", "ORTH"]))
def test_the_matches_are_spacys_in_spacys_order(words, seps, phrases, attr) -> None:
    text = "".join(w + (seps[i] if i < len(seps) else " ") for i, w in enumerate(words))
    theirs, ours = _both(attr, {f"k{i % 3}": [" ".join(p)] for i, p in enumerate(phrases)})
    doc = NLP.make_doc(text)
    found = ours(doc)
    assert sorted(found) == sorted(theirs(doc))
    assert [m[1:] for m in found] == sorted(m[1:] for m in found)  # by start, then end
    assert len(ours) == len(theirs)


@compiled
@hyp_settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80) | st.lists(st.sampled_from(WORDS), max_size=20).map(" ".join))
def test_the_token_hashes_are_what_the_vocabulary_gives(text) -> None:
    doc = NLP.make_doc(text)
    assert token_hash_array(doc, True).tolist() == doc.to_array(LOWER).tolist()
    assert token_hash_array(doc, False).tolist() == doc.to_array(ORTH).tolist()


@compiled
@pytest.mark.parametrize("n", range(0, 20))
def test_the_hash_is_spacys_at_every_length(n) -> None:
    word = "abcdefghijklmnopqrstuvwxyz"[:n]
    raw = scan.token_hashes(word, np.array([0], np.int64), np.array([n], np.int64), False, *_symbol_hashes())
    assert np.frombuffer(raw, np.uint64).tolist() == [hash_string(word) if n else 0]


def test_one_phrase_under_two_keys_gives_its_keys_in_the_order_added() -> None:
    _, ours = _both("LOWER", {"second": ["gram negative"], "first": ["Gram negative", "negative"]})
    found = ours(NLP.make_doc("gram negative rods"))
    names = [(NLP.vocab.strings[k], s, e) for k, s, e in found]
    if scan.hash_phrase_find is not None:
        assert names == [("second", 0, 2), ("first", 0, 2), ("first", 1, 2)]
    else:  # spaCy's own matcher: its hash table's order
        assert sorted(names) == sorted([("second", 0, 2), ("first", 0, 2), ("first", 1, 2)])


def test_it_is_spacys_matcher_without_the_compiled_scanners(monkeypatch) -> None:
    monkeypatch.setattr(scan, "hash_phrase_find", None)
    theirs, ours = _both("ORTH", {"k": ["No fever"]})
    doc = NLP.make_doc("No fever. no fever")
    assert ours._spacy is not None and ours(doc) == theirs(doc) and len(ours(doc)) == 1


def test_an_empty_matcher_or_doc_finds_nothing_and_other_attributes_are_refused() -> None:
    ours = TokenPhraseMatcher(NLP.vocab, attr="LOWER")
    assert len(ours) == 0 and ours(NLP.make_doc("no fever")) == []
    ours.add("k", [NLP.make_doc("fever")])
    assert ours(NLP.make_doc("")) == []
    with pytest.raises(ValueError):
        TokenPhraseMatcher(NLP.vocab, attr="NORM")


@compiled
def test_malformed_arrays_are_refused_not_read() -> None:
    starts, lengths = np.array([0, 3], np.int64), np.array([2, 9], np.int64)
    with pytest.raises(ValueError):
        scan.token_hashes("no fever", starts, lengths, True, *_symbol_hashes())  # past the end of the text
    with pytest.raises(ValueError):
        scan.token_hashes("no fever", starts, lengths[:1], True, *_symbol_hashes())
    with pytest.raises(ValueError):
        scan.token_hashes("no fever", starts, np.array([2, 5], np.int64), True, {}, b"")
    _, ours = _both("LOWER", {"k": ["no fever"]})
    tables = ours._build()
    hashes = token_hash_array(NLP.make_doc("no fever"), True)
    assert [m[1:] for m in scan.hash_phrase_find(hashes, *tables)] == [(0, 2)]
    with pytest.raises(ValueError):
        scan.hash_phrase_find(hashes, tables[0][:-4], *tables[1:])  # not a power of two
    bad_offsets = np.array([0, 5, 9, 9], np.int32).tobytes()  # keys past the end of the key array
    with pytest.raises(ValueError):
        scan.hash_phrase_find(hashes, *tables[:3], bad_offsets, tables[4])


def test_the_doc_arrays_are_read_once_and_follow_a_changed_doc() -> None:
    doc = NLP.make_doc("Chest pain, no fever.")
    assert token_hash_array(doc, True) is token_hash_array(doc, True)
    assert token_length_array(doc).tolist() == [len(t) for t in doc]
    assert not token_hash_array(doc, False).flags.writeable
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[0:2])
    assert token_hash_array(doc, False).tolist() == doc.to_array(ORTH).tolist()
    assert token_length_array(doc).tolist() == [len(t) for t in doc]
    assert doc_text(doc)[token_start_array(doc)[1]:] == ", no fever."


def test_spacys_symbols_keep_their_fixed_ids() -> None:
    doc = NLP.make_doc("_ neg Neg X x case ROOT nsubj fever")
    assert token_hash_array(doc, True).tolist() == doc.to_array(LOWER).tolist()
    assert token_hash_array(doc, False).tolist() == doc.to_array(ORTH).tolist()
    assert token_hash_array(doc, True).tolist()[0] < 1000  # "_": a symbol id, not a string hash
