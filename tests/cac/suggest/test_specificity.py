"""cac.suggest.specificity: the code facts index gives the walks exactly what reading each code's row gives."""

from __future__ import annotations

import orjson
import pytest

from cac.suggest.specificity import CodeFacts, Specificity


@pytest.fixture(scope="module")
def facts(icd10cm) -> CodeFacts:
    return CodeFacts.of(icd10cm)


def test_code_facts_read_each_code(icd10cm, facts):
    assert "E11" in facts.headers and "E11.9" not in facts.headers  # a category; a billable code
    assert facts.seventh.get("S72.001A") == "A" and facts.seventh.get("S72.001D") == "D"
    assert "E11.9" not in facts.seventh
    assert "M17.11" in facts.sided and "M17.9" not in facts.sided  # "..., right knee"; no side named
    assert len(facts.headers) == sum(not c.billable for c in icd10cm)


def test_code_facts_survive_their_cached_form(facts):
    again = CodeFacts.from_json(orjson.loads(orjson.dumps(facts.to_json())))
    assert again.headers == facts.headers and again.seventh == facts.seventh and again.sided == facts.sided
    for broken in (None, {}, {"headers": "E11", "sided": ""}, {"headers": 1, "sided": "", "seventh": {}}, []):
        assert CodeFacts.from_cached(broken) is None  # the walks then read each code's row


def test_the_walks_agree_with_and_without_the_facts(icd10cm, facts):
    indexed, plain = Specificity(icd10cm, facts=facts), Specificity(icd10cm)
    codes = sorted(icd10cm.codes)
    families = [c for c in codes if c.startswith(("M17", "S72.0", "G43.0", "H10", "E11", "O09", "T36.0", "M80.0"))]
    sample = sorted(set(codes[::97] + families[::3]))
    assert len(sample) > 1000
    found = {"sides": 0, "lateral": 0, "seventh": 0}
    for code in sample:
        assert indexed.billable_descendants(code) == plain.billable_descendants(code), code
        assert indexed._specific_descendants(code) == plain._specific_descendants(code), code
        for seventh in ("A", "D", "S"):
            assert indexed.default_billable(code, seventh) == plain.default_billable(code, seventh), code
        assert indexed.has_sides(code) == plain.has_sides(code), code
        found["sides"] += indexed.has_sides(code)
        found["seventh"] += indexed.default_billable(code, "D") not in (None, indexed.default_billable(code, "A"))
        assert indexed.siblings(code) == plain.siblings(code), code
        assert indexed.alternatives(code, code) == plain.alternatives(code, code), code
        for side in ("right", "left", "bilateral"):
            words = frozenset({"knee", "hip", "eye", "primary"})
            got = indexed.lateral(code, side, words, frozenset())
            assert got == plain.lateral(code, side, words, frozenset()), code
            found["lateral"] += got is not None
    assert all(found.values()), found  # each walk was exercised where it finds something


def test_unspecified_codes_are_read_from_their_titles(icd10cm):
    spec = Specificity(icd10cm)
    assert spec.is_unspecified("J18.9") and not spec.is_unspecified("E11.9")  # "..., unspecified organism"
    assert not spec.is_unspecified("NOT-A-CODE")
    assert spec.is_unspecified("J18.9") is spec.is_unspecified("J18.9")  # read once


def test_the_walks_agree_with_the_defaults_kept_for_the_lexicons_codes(icd10cm):
    codes = sorted(icd10cm.codes)
    families = [c for c in codes if c.startswith(("M17", "S72.0", "G43.0", "H10", "E11", "O09", "T36.0", "J18"))]
    sample = sorted(set(codes[::97] + families[::3]))
    kept = CodeFacts.of(icd10cm)
    kept.add_defaults(Specificity(icd10cm, facts=kept), sample)
    again = CodeFacts.from_json(orjson.loads(orjson.dumps(kept.to_json())))
    for name in ("defaults", "targets", "lateral", "qualified", "unspecified", "alternatives"):
        assert getattr(again, name) == getattr(kept, name), name
    assert all((kept.targets, kept.lateral, kept.qualified, kept.unspecified, kept.alternatives))
    assert any(kept.targets.values()) and "" in kept.targets.values()  # codes with siblings and without
    assert "" in kept.defaults.values()  # a code whose children all need a detail: no default
    indexed, plain = Specificity(icd10cm, facts=again), Specificity(icd10cm, facts=CodeFacts.of(icd10cm))
    for code in sorted(set(sample) | set(kept.targets)):
        for seventh in ("A", "D", "S"):
            assert indexed.default_billable(code, seventh) == plain.default_billable(code, seventh), code
        assert indexed.has_sides(code) == plain.has_sides(code), code
        assert indexed.qualifier_options(code) == plain.qualifier_options(code), code
        assert indexed.is_unspecified(code) == plain.is_unspecified(code), code
        assert indexed.siblings(code) == plain.siblings(code), code
        default = kept.defaults.get(code)
        for matched, chosen in ((code, code), (code, default)) if default else ((code, code),):
            assert indexed.alternatives(matched, chosen) == plain.alternatives(matched, chosen), (matched, chosen)


def test_kept_defaults_are_read_instead_of_walking(icd10cm):
    facts = CodeFacts.of(icd10cm)
    facts.defaults = {"E11": "E11.65"}  # not what the walk gives: shows the kept answer is the one read
    facts.targets, facts.unspecified = {"E11.65": ""}, frozenset({"E11.65"})
    spec = Specificity(icd10cm, facts=facts)
    assert spec.default_billable("E11") == "E11.65" and spec.is_unspecified("E11.65")
    assert spec.siblings("E11.65") == [] and spec.alternatives("E11", "E11.65") == []  # none kept for it
    facts.targets = {"E11.65": "E11.9"}
    facts.alternatives = {"E11 E11.65": "E11.9:type|stage"}
    spec = Specificity(icd10cm, facts=facts)
    assert spec.siblings("E11.65") == ["E11.9"]
    assert [(a.code, a.title, a.missing) for a in spec.alternatives("E11", "E11.65")] == [
        ("E11.9", icd10cm["E11.9"].title, ["type", "stage"])]
    assert spec.default_billable("E11", "D") == Specificity(icd10cm).default_billable("E11", "D")  # "A" only
    old = CodeFacts.of(icd10cm).to_json()
    for key in ("defaults", "targets", "lateral", "qualified", "unspecified", "alternatives"):
        del old[key]
    assert CodeFacts.from_cached(old).defaults == {}  # an older cached form: the walks answer
    assert CodeFacts.from_cached({**old, "defaults": "E11 E11.9"}) is None  # not in this form


def _lateral_reference(spec: Specificity, code: str, side: str, context: frozenset[str], neutral: frozenset[str]):
    """``Specificity.lateral`` as first written: every specific code of the family read at each call."""
    from cac.suggest.specificity import SIDES, title_words

    c = spec.cs.get(code)
    if c is None or not c.parent or side not in SIDES:
        return None
    own = title_words(c.title)
    if own & SIDES:
        return None
    best = None
    for k in spec._specific_descendants(spec._family_root(c.parent)):
        words = title_words(spec.cs[k].title)
        if side not in words or len(words & SIDES) != 1 or words - own - {side} - neutral - context:
            continue
        key = (len(words - own), len(spec.cs[k].title), k)
        if best is None or key < best[0]:
            best = (key, k)
    return best[1] if best is not None else None


def test_lateral_ranks_the_family_once_and_answers_as_a_full_read(icd10cm, facts):
    spec = Specificity(icd10cm, facts=facts)
    codes = sorted(icd10cm.codes)
    families = [c for c in codes if c.startswith(("M17", "H10", "M80.0", "S72.0", "H54"))]
    sample = sorted(set(codes[::211] + families[::2]))
    contexts = [frozenset(), frozenset({"knee", "primary"}), frozenset({"eye", "acute", "chronic", "hip"}),
                frozenset({"post", "traumatic", "knee", "secondary", "upper", "lower", "initial", "encounter"})]
    neutrals = [frozenset(), frozenset({"unilateral", "dominant", "nondominant"})]
    found = 0
    for code in sample:
        for side in ("right", "left", "bilateral", "both"):
            for context in contexts:
                for neutral in neutrals:
                    got = spec.lateral(code, side, context, neutral)
                    assert got == _lateral_reference(spec, code, side, context, neutral), (code, side, context)
                    found += got is not None
    assert found > 50  # sided codes were found, not only None
