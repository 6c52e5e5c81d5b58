"""The concept matcher component's note-level helpers."""

from __future__ import annotations


def test_segment_breaks_skip_notes_without_their_required_literal(monkeypatch):
    import cac.pipeline.concepts as concepts

    rules = {"segment_breaks": ["\\b(?P<at>from)\\b", {"pattern": "\\bmetasta\\w*\\s+(?P<at>to)\\b", "requires": "Metasta"}]}
    monkeypatch.setattr(concepts, "lexicon_rules", lambda: rules)
    concepts._segment_breaks.cache_clear()
    try:
        text = "lung metastases to bone, spread from colon"
        toks = [[(w, text.index(w), text.index(w) + len(w)) for w in ("lung", "metastases", "bone", "colon")]]
        # "to" breaks before "bone" and "from" before "colon" (commas count 1, hard breaks HARD_BREAK)
        segs = concepts._list_segments(text, toks)[0]
        assert segs[1] == 0 and segs[2] >= concepts.HARD_BREAK and segs[3] >= 2 * concepts.HARD_BREAK
        text = "lung lesion next to bone, spread from colon"  # no "metasta": only the plain pattern applies
        toks = [[(w, text.index(w), text.index(w) + len(w)) for w in ("lung", "bone", "colon")]]
        segs = concepts._list_segments(text, toks)[0]
        assert segs[1] < concepts.HARD_BREAK <= segs[2]
    finally:
        concepts._segment_breaks.cache_clear()
