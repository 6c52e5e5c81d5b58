"""The concept matcher component's note-level helpers."""

from __future__ import annotations

import pytest


def _segments(text: str, sent_toks: list[list[tuple[str, int, int]]]) -> list[list[int]]:
    """``_list_segments`` on sentences of ``(word, start, end)`` tokens."""
    import numpy as np

    import cac.pipeline.concepts as concepts

    starts = np.asarray([a for toks in sent_toks for _, a, _ in toks], dtype=np.int64)
    cuts = list(np.cumsum([len(toks) for toks in sent_toks]))
    return concepts._list_segments(text, starts, cuts)


def test_segment_breaks_skip_notes_without_their_required_literal(monkeypatch):
    import cac.pipeline.concepts as concepts

    rules = {"segment_breaks": ["\\b(?P<at>from)\\b", {"pattern": "\\bmetasta\\w*\\s+(?P<at>to)\\b", "requires": "Metasta"}]}
    monkeypatch.setattr(concepts, "lexicon_rules", lambda: rules)
    concepts._segment_breaks.cache_clear()
    try:
        text = "lung metastases to bone, spread from colon"
        toks = [[(w, text.index(w), text.index(w) + len(w)) for w in ("lung", "metastases", "bone", "colon")]]
        # "to" breaks before "bone" and "from" before "colon" (commas count 1, hard breaks HARD_BREAK)
        segs = _segments(text, toks)[0]
        assert segs[1] == 0 and segs[2] >= concepts.HARD_BREAK and segs[3] >= 2 * concepts.HARD_BREAK
        text = "lung lesion next to bone, spread from colon"  # no "metasta": only the plain pattern applies
        toks = [[(w, text.index(w), text.index(w) + len(w)) for w in ("lung", "bone", "colon")]]
        segs = _segments(text, toks)[0]
        assert segs[1] < concepts.HARD_BREAK <= segs[2]
    finally:
        concepts._segment_breaks.cache_clear()


@pytest.mark.parametrize(("text", "broken"), [
    ("bone metastases of prostate adenocarcinoma", True),  # the tumour after "of" is the primary
    ("lung metastases from colon cancer", True),
    ("metastases of the liver", False),  # "of" a site: where it spread
])
def test_the_metastasis_breaks_keep_the_primary_apart(text: str, broken: bool) -> None:
    import cac.pipeline.concepts as concepts

    words = text.split()
    at = [text.index(w) for w in words]
    segs = _segments(text, [[(w, a, a + len(w)) for w, a in zip(words, at)]])[0]
    assert (segs[-1] >= concepts.HARD_BREAK) == broken


def test_without_clauses_and_list_items_are_read_per_sentence():
    import numpy as np

    import cac.pipeline.concepts as concepts

    text = "Diabetes without complications, stable. Migraine, no aura; asthma without exacerbation"
    words = [(m.group(), m.start(), m.end()) for m in __import__("re").finditer(r"\w+", text)]
    first = [w for w in words if w[1] < text.index("Migraine")]
    sent_toks = [first, words[len(first):]]
    starts = np.asarray([a for toks in sent_toks for _, a, _ in toks], dtype=np.int64)
    cuts = [len(first), len(words)]
    without = concepts._without_positions(text, starts, cuts)
    assert [[sent_toks[i][p][0] for p in sorted(ps)] for i, ps in enumerate(without)] == \
        [["complications"], ["exacerbation"]]
    assert concepts._list_segments(text, starts, cuts) == [[0, 0, 0, 1], [1, 2, 2, 3, 3, 3]]


def test_sentence_bounds_and_expansions_are_the_spans_offsets(nlp):
    import cac.pipeline.concepts as concepts
    from cac.pipeline.extensions import ABBREVIATIONS_KEY

    doc = nlp("Assessment:\nHTN and DM2, stable.  Plan: follow up in 3 months.\n\nCKD stage 3.")
    idx, length = concepts._token_offsets(doc)
    assert concepts._sentence_bounds(doc, idx, length) == [(s.start_char, s.end_char) for s in doc.sents]
    table = doc.user_data.get(ABBREVIATIONS_KEY) or {}
    assert table  # HTN, DM2, CKD
    expected = [(doc[i].idx, doc[i + max(1, int(n)) - 1].idx + len(doc[i + max(1, int(n)) - 1].text), text)
                for i, (text, n) in sorted(table.items())]
    assert concepts._doc_expansions(doc, idx, length) == expected
    assert concepts._sentence_bounds(nlp.make_doc(""), [], []) == []


def test_mention_terms_read_back_through_the_span_extension(coder):
    doc = coder.nlp("Assessment: type 2 diabetes mellitus and essential hypertension.")
    mentions = list(doc.spans["mentions"])
    assert mentions
    for span in mentions:  # written straight into user_data, read back the usual spaCy way
        assert isinstance(span._.concept_terms, list) and span._.concept_terms
        assert span._.concept_partial_terms == []
        assert all(coder.lexicon.terms[t].text for t in span._.concept_terms)


def _offsets(spans):
    return [(s.start, s.end, s.start_char, s.end_char, s.label_) for s in spans]


def test_the_mentions_are_kept_and_read_as_the_group_reads_them(coder):
    from spacy.tokens import Doc, SpanGroup

    from cac.pipeline.extensions import KeptSpanGroup, group_spans

    doc = coder.nlp("Assessment: type 2 diabetes mellitus and essential hypertension. No asthma.")
    group = doc.spans["mentions"]
    assert isinstance(group, KeptSpanGroup) and len(group) >= 3
    kept = group_spans(group)
    assert group_spans(group) is kept and _offsets(kept) == _offsets(group)  # made once, read as spaCy reads them
    plain = SpanGroup(doc, name="plain", spans=list(group))
    assert group_spans(plain) is plain  # any other group is read as it is
    restored = Doc(doc.vocab).from_bytes(doc.to_bytes())  # serializes as a plain group
    assert _offsets(restored.spans["mentions"]) == _offsets(group)
    # (not ``del g[0]``: spaCy's own ``SpanGroup.__delitem__`` corrupts the heap in this version)
    changes = [lambda g: g.__setitem__(0, doc[0:1]), lambda g: g.append(doc[0:1]),
               lambda g: g.extend([doc[1:2]]), lambda g: g.__iadd__([doc[2:3]]),
               lambda g: g.from_bytes(SpanGroup(doc, name="x", spans=[doc[3:4]]).to_bytes())]
    for change in changes:  # a change made through the group drops the kept spans
        g = KeptSpanGroup(doc, name="mentions", spans=list(group))
        change(g)
        assert _offsets(group_spans(g)) == _offsets(g), change


def test_a_released_doc_is_freed_by_reference_counting_and_its_groups_read_as_before(coder):
    import gc
    import weakref

    from cac.pipeline.extensions import group_spans, release_spans

    doc = coder.nlp("Assessment: type 2 diabetes mellitus and essential hypertension. No asthma.")
    before = _offsets(group_spans(doc.spans["mentions"]))
    release_spans(doc)
    assert _offsets(group_spans(doc.spans["mentions"])) == before and len(before) >= 3
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        kept = coder.nlp("Chest pain and fever.")
        released = coder.nlp("Chest pain and fever.")
        release_spans(released)
        refs = weakref.ref(kept), weakref.ref(released)
        del kept, released
        assert refs[0]() is not None  # the kept spans point back at their doc: a cycle
        assert refs[1]() is None  # released: gone with its last reference
    finally:
        if was_enabled:
            gc.enable()
