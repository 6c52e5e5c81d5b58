"""Codes read from stated values: BMI (Z68.-) and weeks of gestation (Z3A.-)."""

from __future__ import annotations

import pytest

from cac import scan
from cac.suggest.values import all_keywords, value_hits, value_rules


def codes(result):
    return {s.code for s in result.suggestions}


@pytest.mark.parametrize(("text", "code"), [
    ("BMI 42", "Z68.41"), ("BMI of 31.5 kg/m2", "Z68.31"), ("body mass index: 19.2", "Z68.1"),
    ("BMI 75", "Z68.45"), ("28 weeks pregnant", "Z3A.28"), ("34+2/7 weeks gestation", "Z3A.34"),
    ("6 weeks of gestation", "Z3A.01"), ("44 weeks gestation", "Z3A.49"),
])
def test_values_map_to_their_range(icd10cm, text, code):
    hits = value_hits(text, icd10cm, found=["E66.9"])
    assert [h.code for h in hits] == [code]
    h = hits[0]
    assert text[h.evidence[0].start:h.evidence[0].end] == h.evidence[0].text and h.rationale


@pytest.mark.parametrize("text", ["BMI 85th percentile", "BMI was not measured", "2 weeks ago", "pregnancy test",
                                  "Her mother had 38 weeks of gestation.", "His wife is 20 weeks pregnant."])
def test_no_value_no_code(icd10cm, text):
    assert value_hits(text, icd10cm, found=["E66.9"]) == []


def test_every_range_code_is_billable(icd10cm):
    for rule in value_rules():
        for _, _, code in rule.ranges:
            assert icd10cm.is_valid(code), (rule.id, code)


def test_a_bmi_is_suggested_beside_its_associated_diagnosis_only(coder):
    r = coder.code("Morbid obesity, BMI 42.", setting="outpatient")
    assert {"E66.01", "Z68.41"} <= codes(r)
    r = coder.code("Exam: weight 70 kg, BMI: 22.4.", setting="outpatient")
    assert "Z68.22" not in codes(r) and "Z68.22" in {c.code for c in r.candidates}


def test_weeks_of_gestation_replace_the_unspecified_weeks_code(coder):
    r = coder.code("G2P1 at 34+2/7 weeks gestation.", setting="inpatient")
    assert "Z3A.34" in codes(r) and "Z3A.00" not in codes(r)


@pytest.mark.parametrize(("text", "expected"), [
    ("A-fib on Eliquis.", {"Z79.01"}),
    ("Type 2 diabetes on insulin and metformin.", {"Z79.4", "Z79.84"}),
    ("Medications:\n1. Aspirin 81 mg daily\n2. Clopidogrel 75 mg daily", {"Z79.82", "Z79.02"}),
    ("Maintained on acenocoumarol for atrial fibrillation.", {"Z79.01"}),
    ("Chronic oral anticoagulation with warfarin.", {"Z79.01"}),
])
def test_long_term_drug_therapy_gives_its_status_code(coder, text, expected):
    assert expected <= codes(coder.code(text, setting="outpatient"))


@pytest.mark.parametrize("text", ["He stopped warfarin last year.", "Not on anticoagulation.", "Her mother is on warfarin.",
                                  "Anticoagulant therapy was given in the acute phase.",
                                  "Aspirin allergy; allergic to aspirin.", "Family history: father on insulin."])
def test_stopped_negated_or_anothers_drugs_give_none(coder, text):
    assert not any(c.startswith("Z79") for c in codes(coder.code(text, setting="outpatient")))


def test_insulin_status_is_not_coded_with_type_1_diabetes(coder):
    c = codes(coder.code("Type 1 diabetes on insulin pump.", setting="outpatient"))
    assert "E10.9" in c and "Z79.4" not in c


def test_every_rule_names_keywords_its_patterns_contain():
    import json
    from importlib import resources

    headers = json.loads((resources.files("cac.pipeline") / "resources" / "section_headers.json").read_text())["sections"]
    for rule in value_rules():
        assert rule.keywords, rule.id
        sources = [rule.pattern.pattern.lower()]
        if rule.list_pattern and not rule.list_sections:
            sources.append(rule.list_pattern.pattern.lower())
        for section in rule.list_sections:  # a list match lies under one of the section's headers
            sources += [h.lower() for h in headers[section]]
        for src in sources:
            assert any(k in src for k in rule.keywords), (rule.id, src)


@pytest.mark.parametrize(("text", "code"), [("on Eliquis", "Z79.01"), ("BODY MASS INDEX 42", "Z68.41"),
                                            ("taking METFORMIN daily", "Z79.84")])
def test_keywords_prefilter_any_letter_case(icd10cm, text, code):
    assert code in {h.code for h in value_hits(text, icd10cm, found=["E66.9"])}


def test_a_rule_without_its_keywords_is_skipped(icd10cm):
    rule = next(r for r in value_rules() if r.id == "long-term-anticoagulant")
    assert rule.may_match("on warfarin") and not rule.may_match("on metoprolol")
    # with the keywords found in one pass over the note: the same answers
    for text in ("on warfarin", "on metoprolol"):
        present = scan.found_in(text, all_keywords())
        assert rule.may_match(text, present) == rule.may_match(text)
    assert set(rule.keywords) <= set(all_keywords()) and len(set(all_keywords())) == len(all_keywords())


@pytest.mark.parametrize("text", ["History of coronary artery disease, s/p CABG in 2015.",
                                  "Status post coronary artery bypass grafting.", "Prior CABG x3."])
def test_a_past_coronary_bypass_gives_its_status_code(coder, text):
    assert "Z95.1" in codes(coder.code(text, setting="outpatient"))


@pytest.mark.parametrize("text", ["No prior CABG.", "Denies previous coronary artery bypass.", "He underwent CABG today.",
                                  "Her father is status post CABG."])
def test_no_status_code_for_a_denied_current_or_anothers_bypass(coder, text):
    assert "Z95.1" not in codes(coder.code(text, setting="outpatient"))


@pytest.mark.parametrize(("text", "code"), [
    ("A 46-year-old hysterectomized patient presented with flank pain.", "Z90.710"),
    ("History of previous total hysterectomy for leiomyomas.", "Z90.710"),
    ("In 2002 she was included in a regular haemodialysis programme.", "Z99.2"),
    ("End-stage renal disease, on hemodialysis three times a week.", "Z99.2"),
])
def test_a_stated_status_gives_its_status_code(coder, text, code):
    assert code in codes(coder.code(text, setting="outpatient"))


@pytest.mark.parametrize(("text", "code"), [
    ("She underwent a hysterectomy today.", "Z90.710"),  # the procedure of this stay, not a status
    ("Her mother is status post hysterectomy.", "Z90.710"),
    ("Acute kidney injury that required hemodialysis for a week.", "Z99.2"),  # temporary dialysis
    ("Hemodialysis was stopped; no dialysis dependence.", "Z99.2"),
])
def test_no_status_code_for_a_current_procedure_anothers_or_a_denied_one(coder, text, code):
    assert code not in codes(coder.code(text, setting="outpatient"))


def test_every_fixed_code_is_billable(icd10cm):
    for rule in value_rules():
        for code in rule.codes():
            assert icd10cm.is_valid(code), (rule.id, code)
    assert "Z88.0" in next(r for r in value_rules() if r.id == "allergy-status").codes()


@pytest.mark.parametrize(("text", "expected"), [
    ("She is allergic to codeine.", {"Z88.5"}),
    ("History of allergy to procaine and streptomycin.", {"Z88.4", "Z88.1"}),
    ("Severe allergy to peanuts.", {"Z91.010"}),
    ("ALLERGIES: Penicillin (rash), sulfa drugs, latex.\nHPI: cough.", {"Z88.0", "Z88.2", "Z91.040"}),
    ("Allergy to IV contrast.", {"Z91.041"}),
])
def test_an_allergy_history_gives_its_status_code_not_an_allergic_reaction(coder, text, expected):
    c = codes(coder.code(text, setting="outpatient"))
    assert expected <= c
    assert not any(x.startswith(("T78.4", "Z91.89")) for x in c)


@pytest.mark.parametrize("text", ["No known allergy to penicillin.", "Denies allergies to latex.",
                                  "NKDA. Takes aspirin daily.", "Her mother is allergic to penicillin."])
def test_no_allergy_status_when_denied_none_or_anothers(coder, text):
    assert not any(x.startswith(("Z88", "Z91.0")) for x in codes(coder.code(text, setting="outpatient")))


def test_an_allergic_reaction_now_stays_a_reaction(coder):
    """Only mentions inside what an allergy-status rule read are replaced ('replaces')."""
    r = coder.code("Allergic reaction to a bee sting this morning, treated with epinephrine.", setting="outpatient")
    assert "Z91.030" not in codes(r) and not [e for e in r.excluded if e.rule.startswith("value:")]


@pytest.mark.parametrize("text", ["Rheumatoid arthritis under chronic corticosteroid treatment.",
                                  "Corticosteroid-dependent COPD.", "She is on prednisone 5 mg daily."])
def test_long_term_systemic_steroids_give_z79_52(coder, text):
    assert "Z79.52" in codes(coder.code(text, setting="outpatient"))


@pytest.mark.parametrize("text", ["Corticosteroid therapy was started at 1 mg/kg/day.",
                                  "Treated with intravenous corticosteroid boluses.", "On inhaled steroids for asthma.",
                                  "He stopped prednisone last year.", "No adverse effects on corticoid treatment."])
def test_a_course_started_here_or_inhaled_steroids_are_no_long_term_systemic_use(coder, text):
    r = coder.code(text, setting="outpatient")
    assert "Z79.52" not in codes(r) and "Z79.52" not in {c.code for c in r.candidates if c.confidence >= 0.5}


def test_a_bare_allergy_mention_is_no_allergic_reaction_encounter(coder):
    assert "T78.40XA" not in codes(coder.code("History of allergies.", setting="outpatient"))
    assert "T78.40XA" not in codes(coder.code("Hypersensitivity to sounds and textures.", setting="outpatient"))
    assert not any(c.startswith("T78") for c in codes(coder.code("This adverse effect is described with high doses.",
                                                                  setting="outpatient")))
    assert "T78.40XA" in codes(coder.code("Allergic reaction to contrast.", setting="outpatient"))


def test_windowed_rules_read_what_the_whole_note_gives(icd10cm, monkeypatch):
    import dataclasses

    import cac.suggest.values as values

    filler = "The patient was seen on the ward and the plan was discussed. " * 40
    text = (filler + "BMI of 41. " + filler + "She remains on long-term warfarin for atrial fibrillation. " + filler
            + "Takes aspirin daily; home prednisone 5 mg. 32 weeks of gestation. " + filler[:500] + "on ASA")
    windowed = values.value_hits(text, icd10cm, found=["E66.9"])
    assert all(r.window for r in values.value_rules() if r.keywords)
    whole = tuple(dataclasses.replace(r, window=None) for r in values.value_rules())
    monkeypatch.setattr(values, "value_rules", lambda: whole)
    plain = values.value_hits(text, icd10cm, found=["E66.9"])
    key = lambda hits: sorted((h.code, [(e.start, e.end) for e in h.evidence]) for h in hits)  # noqa: E731
    assert key(windowed) == key(plain)
    assert {"Z68.41", "Z79.01", "Z79.82", "Z79.52", "Z3A.32"} <= {h.code for h in windowed}


def test_list_patterns_read_inside_the_list_sections_only_as_over_the_whole_note(icd10cm):
    import cac.suggest.values as values

    head = "History: asthma; prednisone was tapered off in 2019.\n"
    meds = "Medications:\nwarfarin 5 mg\nprednisone 10 mg\n"
    text = head + meds + "Plan: review warfarin dosing.\n"
    sections = [("history", 0, len(head)), ("medications", len(head), len(head) + len(meds)),
                ("plan", len(head) + len(meds), len(text))]
    section_at = lambda char: next((n for n, a, b in sections if a <= char < b), None)  # noqa: E731
    key = lambda hits: sorted((h.code, [(e.start, e.end) for e in h.evidence]) for h in hits)  # noqa: E731
    by_sections = values.value_hits(text, icd10cm, section_at, sections=sections)
    assert key(by_sections) == key(values.value_hits(text, icd10cm, section_at))
    assert key(by_sections) == key(values.value_hits(text, icd10cm, sections=sections))  # section_at derived
    assert {"Z79.01", "Z79.52"} <= {h.code for h in by_sections}
    assert all(len(head) <= e.start < len(head) + len(meds) for h in by_sections for e in h.evidence)
