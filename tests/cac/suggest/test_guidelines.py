import pytest
from hypothesis import given, settings as hyp_settings, strategies as st

from cac.suggest import guidelines
from cac.suggest.hits import Hit


def hit(code, score=0.8, uncertain=False):
    return Hit(code=code, system="ICD-10-CM", title=code, score=score, uncertain=uncertain)


def test_every_code_named_in_the_rules_is_billable(icd10cm):
    rules = guidelines.guideline_rules()
    for table in ("family_history", "personal_history"):
        for prefix, code in rules[table].items():
            assert code == "" or icd10cm.is_valid(code), (table, prefix, code)  # "": no history code
    for rule in rules["combinations"]:
        assert icd10cm.is_valid(rule["code"]), rule["id"]


def test_history_tables_use_longest_prefix():
    assert guidelines.family_history_code("C50.911") == "Z80.3"
    assert guidelines.family_history_code("C71.9") == "Z80.8"
    assert guidelines.family_history_code("C99") == "Z80.9"
    assert guidelines.family_history_code("R63.4") is None  # a relative's symptom is no family history
    assert guidelines.family_history_code("L40.0") == "Z84.89"
    assert guidelines.personal_history_code("I21.9") == "I25.2"


def test_combination_replaces_and_keeps_the_right_codes(icd10cm):
    hits = {"E11.9": hit("E11.9"), "N18.30": hit("N18.30"), "I10": hit("I10")}
    ex = guidelines.apply_combinations(hits, icd10cm)
    assert {"E11.22", "N18.30", "I12.9"} <= set(hits) and "E11.9" not in hits and "I10" not in hits
    assert {e.code for e in ex} == {"E11.9", "I10"}


def test_uncertain_codes_do_not_trigger_combinations(icd10cm):
    hits = {"E11.9": hit("E11.9"), "N18.9": hit("N18.9", uncertain=True)}
    guidelines.apply_combinations(hits, icd10cm)
    assert "E11.22" not in hits


def test_excludes1_notes_that_exclude_each_other_keep_the_stronger_code(icd10cm):
    hits = {"E11.9": hit("E11.9", 0.9), "E10.9": hit("E10.9", 0.6)}
    ex = guidelines.apply_excludes1(hits, icd10cm)
    assert set(hits) == {"E11.9"} and ex[0].code == "E10.9" and ex[0].rule == "excludes1"
    hits = {"E11.9": hit("E11.9", 0.6), "E10.9": hit("E10.9", 0.9)}
    guidelines.apply_excludes1(hits, icd10cm)
    assert set(hits) == {"E10.9"}


def test_excludes1_keeps_the_code_the_note_names(icd10cm):
    # J90 "Pleural effusion NEC": Excludes1 malignant pleural effusion (J91.0) -> J91.0 is the code for it
    hits = {"J90": hit("J90", 0.9), "J91.0": hit("J91.0", 0.7)}
    ex = guidelines.apply_excludes1(hits, icd10cm)
    assert set(hits) == {"J91.0"} and ex[0].code == "J90" and ex[0].replaced_by == "J91.0"
    # a much weaker reading of the named code does not displace a strong one
    hits = {"C64.2": hit("C64.2", 0.86), "C65.2": hit("C65.2", 0.38)}
    guidelines.apply_excludes1(hits, icd10cm)
    assert set(hits) == {"C64.2"}
    # F32 "Depressive episode": Excludes1 recurrent depressive disorder (F33.-)
    hits = {"F32.A": hit("F32.A", 0.9), "F33.1": hit("F33.1", 0.6)}
    guidelines.apply_excludes1(hits, icd10cm)
    assert set(hits) == {"F33.1"}


def test_encounter_character():
    assert guidelines.encounter_character("seen for subsequent encounter, routine healing") == "D"
    assert guidelines.encounter_character("sequela of burn") == "S"
    assert guidelines.encounter_character("fell today") == "A"


def test_poisoning_takes_the_stated_intent(icd10cm):
    hits = {"T39.1X1A": hit("T39.1X1A", 0.7), "T14.91XA": hit("T14.91XA"), "R45.851": hit("R45.851")}
    ex = guidelines.apply_poisoning_intent(hits, icd10cm, "Intentional overdose of acetaminophen, a suicide attempt.")
    assert set(hits) == {"T39.1X2A"} and hits["T39.1X2A"].title.endswith("intentional self-harm, initial encounter")
    assert {(e.code, e.replaced_by) for e in ex} == {("T14.91XA", "T39.1X2A"), ("R45.851", "T39.1X2A")}
    hits = {"T39.1X1A": hit("T39.1X1A")}
    assert guidelines.apply_poisoning_intent(hits, icd10cm, "Unintentional ingestion; unintentional weight loss.") == []
    assert set(hits) == {"T39.1X1A"}
    hits = {"T39.1X1A": hit("T39.1X1A")}
    guidelines.apply_poisoning_intent(hits, icd10cm, "He was assaulted and poisoned.")
    assert set(hits) == {"T39.1X3A"}


def test_a_symptom_outside_chapter_r_can_be_integral(icd10cm):
    hits = {"H92.01": hit("H92.01"), "H66.001": hit("H66.001")}
    ex = guidelines.apply_integral_symptoms(hits)
    assert set(hits) == {"H66.001"} and ex[0].code == "H92.01" and ex[0].rule == "integral-symptom"


@pytest.mark.parametrize(("other", "integral"), [
    ("J18.9", True), ("A41.9", True), ("B99.9", True), ("B01.9", True),  # acute infections: fever is routine
    ("B20", False), ("B18.2", False), ("B07.9", False), ("B96.20", False),  # HIV, chronic hepatitis C, warts,
])                                                                          # an organism code: not routine
def test_fever_is_integral_to_acute_infections_only(icd10cm, other, integral):
    hits = {"R50.9": hit("R50.9"), other: hit(other)}
    guidelines.apply_integral_symptoms(hits)
    assert ("R50.9" not in hits) is integral


def test_edema_is_integral_to_heart_failure_only(icd10cm):
    hits = {"R60.0": hit("R60.0"), "I50.23": hit("I50.23")}
    guidelines.apply_integral_symptoms(hits)
    assert set(hits) == {"I50.23"}
    hits = {"R60.0": hit("R60.0"), "L03.116": hit("L03.116")}
    guidelines.apply_integral_symptoms(hits)
    assert set(hits) == {"R60.0", "L03.116"}


def test_excludes1_note_naming_a_code_for_the_case_without_keeps_the_condition(icd10cm):
    # R50 Fever: "Excludes1 chills without fever (R68.83)"; R68.83 Chills: "Excludes1 chills with fever (R50.9)".
    # Fever and chills both documented: chills with fever is R50.9, whichever reading is more confident
    for fever, chills in ((0.9, 0.6), (0.6, 0.9), (0.8, 0.8)):
        hits = {"R50.9": hit("R50.9", fever), "R68.83": hit("R68.83", chills)}
        ex = guidelines.apply_excludes1(hits, icd10cm)
        assert set(hits) == {"R50.9"} and ex[0].code == "R68.83" and ex[0].replaced_by == "R50.9"


def test_cystitis_with_hematuria_is_one_code(icd10cm):
    hits = {"N30.00": hit("N30.00"), "R31.9": hit("R31.9", 0.7)}
    ex = guidelines.apply_combinations(hits, icd10cm)
    assert set(hits) == {"N30.01"}
    assert {e.code for e in ex} == {"N30.00", "R31.9"} and all(e.replaced_by == "N30.01" for e in ex)
    hits = {"N30.90": hit("N30.90")}  # no hematuria documented: the cystitis code stands
    guidelines.apply_combinations(hits, icd10cm)
    assert set(hits) == {"N30.90"}


_CODES = st.text(alphabet="EIJ0129.", min_size=1, max_size=6)


@hyp_settings(max_examples=200, deadline=None)
@given(codes=st.dictionaries(_CODES, st.booleans(), max_size=8),
       prefixes=st.lists(st.text(alphabet="EIJ0129.", max_size=4), min_size=1, max_size=3))
def test_prefix_lookup_equals_testing_every_hit(codes, prefixes):
    hits = {c: Hit(code=c, system="ICD-10-CM", title=c, score=0.5, uncertain=u) for c, u in codes.items()}
    expected = [c for c, h in hits.items() if c.startswith(tuple(prefixes)) and not h.uncertain]
    index = guidelines._certain_by_prefix(hits)
    assert guidelines._starting_with(index, tuple(prefixes)) == expected
    only = guidelines._certain_by_prefix(hits, {len(p) for p in prefixes})  # only the lengths looked up
    assert guidelines._starting_with(only, tuple(prefixes)) == expected


def test_combination_rules_look_up_only_prefix_lengths_they_name():
    lengths = guidelines._combination_prefix_lengths()
    assert lengths == {len(p) for _, groups in guidelines._combination_rules() for g in groups for p in g}
    index, _ = guidelines._certain_by_prefix({"E11.65": hit("E11.65")}, lengths)
    assert set(index) == {"E11.65"[:n] for n in lengths}


# -- the Excludes1 and specificity edits read indexes: same answers as testing every pair of hits --------------

_CATEGORIES = ("E10", "E11", "E13", "R50", "R68", "J18", "J44", "J45", "I10", "I11", "I50", "N18", "N30", "R31",
               "K21", "K29", "D64", "D50", "R52", "R10", "R07", "C34", "C78", "C79", "C80", "Z86", "Z87")


def _pool(icd10cm):
    return sorted(c.code for c in icd10cm if c.code[:3] in _CATEGORIES)


def _excludes1_pairs_every_hit(hits, cs):
    """The pairs ``apply_excludes1`` resolves, found by testing every hit against every range."""
    from cac.codesets.icd10cm import in_plain_range

    pairs = []
    for code in sorted(hits):
        for note, ref in guidelines.excludes1_refs(cs, code):
            f, l = ref[0].replace(".", ""), ref[1].replace(".", "")
            pairs += [(code, o, note) for o in hits if o[:1] == ref[0][:1] and o != code
                      and in_plain_range(o.replace(".", ""), f, l)]
    return pairs


def _unspecified_every_hit(hits, cs):
    """``apply_superseded_unspecified``'s second rule, testing every hit against every other."""
    out = []
    for code in list(hits):
        c = cs.get(code)
        if c is None or "unspecified" not in c.title.lower() or code not in hits:
            continue
        named = guidelines._own_words(cs, c)

        def specifies(o):
            oc = cs.get(o)
            if oc is None:
                return False
            more = "unspecified" not in oc.title.lower() or guidelines._own_words(cs, oc) > named
            return more and (oc.parent == c.parent or named <= guidelines.title_words(oc.title))

        better = [o for o in hits if o != code and o[:3] == code[:3] and o.startswith("Z") == code.startswith("Z")
                  and hits[o].score >= hits[code].score * 0.8 and specifies(o)]
        if better:
            hits.pop(code)
            out.append((code, better[0]))
    return out


@hyp_settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_excludes1_pairs_equal_testing_every_hit(icd10cm, data):
    pool = _pool(icd10cm)
    codes = data.draw(st.lists(st.sampled_from(pool), max_size=12, unique=True))
    scores = data.draw(st.lists(st.sampled_from([0.3, 0.5, 0.6, 0.8, 0.9]), min_size=len(codes), max_size=len(codes)))
    hits = {c: hit(c, s) for c, s in zip(codes, scores)}
    assert guidelines._excludes1_pairs(hits, icd10cm) == _excludes1_pairs_every_hit(hits, icd10cm)


def test_excludes1_pairs_of_a_family(icd10cm):
    hits = {c: hit(c) for c in ("E11.9", "I10", "E10.9", "E11.65", "R50.9", "R68.83")}
    pairs = guidelines._excludes1_pairs(hits, icd10cm)
    assert pairs == _excludes1_pairs_every_hit(hits, icd10cm)
    assert {(a, b) for a, b, _ in pairs} >= {("E10.9", "E11.9"), ("E11.9", "E10.9")}


@hyp_settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_unspecified_edit_equals_testing_every_hit(icd10cm, data):
    pool = [c for c in _pool(icd10cm) if c[:3] not in ("C80", "C79", "R52", "D49")]  # no superseded-table rows
    pool = [c for c in pool if not any(k.rstrip("*") and c.startswith(k.rstrip("*")) or c == k
                                       for k in guidelines.guideline_rules()["superseded"])]
    codes = data.draw(st.lists(st.sampled_from(pool), max_size=12, unique=True))
    scores = data.draw(st.lists(st.sampled_from([0.3, 0.5, 0.6, 0.8, 0.9]), min_size=len(codes), max_size=len(codes)))
    hits = {c: hit(c, s) for c, s in zip(codes, scores)}
    expected_hits = dict(hits)
    expected = _unspecified_every_hit(expected_hits, icd10cm)
    excluded = guidelines.apply_superseded_unspecified(hits, icd10cm)
    assert [(e.code, e.replaced_by) for e in excluded] == expected
    assert list(hits) == list(expected_hits)


def _excludes1_notes(cs, code):
    """Excludes1 notes of a code and all its ancestors, walking up the parents."""
    notes = []
    c = cs.get(code)
    while c is not None:
        notes.extend(c.notes.get("excludes1", ()))
        c = cs.get(c.parent) if c.parent else None
    return notes


def test_excludes1_refs_read_each_ancestor_once_and_equal_its_notes(icd10cm):
    from cac.codesets.icd10cm import note_code_refs

    for code in ("E11.9", "E10.65", "R50.9", "R68.83", "J45.909", "N18.6", "I50.9", "K21.9"):
        expected = [(note, ref) for note in _excludes1_notes(icd10cm, code) for ref in note_code_refs(note)]
        assert guidelines.excludes1_refs(icd10cm, code) == expected
    assert guidelines.excludes1_refs(icd10cm, "NOT.A.CODE") == []
