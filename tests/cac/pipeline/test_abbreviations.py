"""cac_abbreviations_v1: expansions, case rules, multi-token forms, ambiguity."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest


def expansions(nlp, text: str) -> list[tuple[str, str, int]]:
    doc = nlp(text)
    return [(t.text, t._.expansion, t._.expansion_len) for t in doc if t._.expansion]


def expansion_of(nlp, text: str, word: str) -> str | None:
    doc = nlp(text)
    return next(t._.expansion for t in doc if t.text == word)


def test_rule_file_has_the_common_abbreviations() -> None:
    data = json.loads(files("cac.pipeline").joinpath("resources", "abbreviations.json").read_text("utf-8"))
    forms = {f for item in data["abbreviations"] + data["ambiguous"] for f in item["forms"]}
    required = (
        "HTN DM DM2 T2DM DM1 T1DM IDDM NIDDM CHF HFrEF HFpEF COPD CKD ESRD AKI MI STEMI NSTEMI CAD AFib A-fib "
        "AF UTI GERD OSA CVA TIA DVT PE PNA URI BPH HLD OA RA SOB CP N/V LBP PVD PAD HIV HCV HBV TB MRSA "
        "SBO CABG PCI ORIF TURP EGD BMI ASHD MS PT"
    ).split() + ["GI bleed", "HTN crisis"]
    assert not [f for f in required if f not in forms]
    assert len(data["abbreviations"]) >= 80


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("Hx of HTN.", "HTN", "hypertension"),
        ("Hx of htn.", "htn", "hypertension"),
        ("Known DM2 on metformin.", "DM2", "type 2 diabetes mellitus"),
        ("Known T2DM.", "T2DM", "type 2 diabetes mellitus"),
        ("T1DM since childhood.", "T1DM", "type 1 diabetes mellitus"),
        ("Known IDDM.", "IDDM", "insulin-dependent diabetes mellitus"),
        ("Acute CHF exacerbation.", "CHF", "congestive heart failure"),
        ("HFrEF with EF 25%.", "HFrEF", "heart failure with reduced ejection fraction"),
        ("Severe COPD.", "COPD", "chronic obstructive pulmonary disease"),
        ("ESRD on HD.", "ESRD", "end stage renal disease"),
        ("NSTEMI last year.", "NSTEMI", "non-st elevation myocardial infarction"),
        ("s/p CABG x3.", "CABG", "coronary artery bypass graft"),
        ("Had an EGD.", "EGD", "esophagogastroduodenoscopy"),
        ("BMI 41.", "BMI", "body mass index"),
        ("MRSA bacteremia.", "MRSA", "methicillin resistant staphylococcus aureus"),
        ("New AFib.", "AFib", "atrial fibrillation"),
        ("New afib.", "afib", "atrial fibrillation"),
    ],
)
def test_single_token_expansions(nlp, text: str, word: str, expected: str) -> None:
    assert expansion_of(nlp, text, word) == expected
    doc = nlp(text)
    token = next(t for t in doc if t.text == word)
    assert token._.expansion_len == 1


def test_multi_token_forms_put_expansion_on_first_token(nlp) -> None:
    found = expansions(nlp, "A-fib with RVR, N/V, GI bleed and HTN crisis, type 2 DM.")
    assert ("A", "atrial fibrillation", 3) in found
    assert ("N", "nausea and vomiting", 3) in found
    assert ("GI", "gastrointestinal bleeding", 2) in found
    assert ("HTN", "hypertensive crisis", 2) in found  # longest match wins over "HTN"
    assert ("type", "type 2 diabetes mellitus", 3) in found
    doc = nlp("A-fib")
    assert doc[1]._.expansion is None and doc[1]._.expansion_len == 0


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Possible PE on CT.", "PE"),
        ("History of MI.", "MI"),
        ("Paroxysmal AF.", "AF"),
        ("Knee OA.", "OA"),
    ],
)
def test_upper_case_only_forms_match_upper_case(nlp, text: str, word: str) -> None:
    assert expansion_of(nlp, text, word) is not None


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("Ear pe tube placed.", "pe"),
        ("He ran 3 mi today.", "mi"),
        ("af", "af"),
        ("Oa", "Oa"),
        ("Wearing a pad.", "pad"),
        ("One cap daily.", "cap"),
    ],
)
def test_lower_case_lookalikes_are_not_abbreviations(nlp, text: str, word: str) -> None:
    assert expansion_of(nlp, text, word) is None


def test_no_expansion_inside_section_headers(nlp) -> None:
    doc = nlp("PE: lungs clear.\nAssessment: PE ruled out.")
    pes = [t for t in doc if t.text == "PE"]
    assert pes[0]._.expansion is None  # the physical-exam header
    assert pes[1]._.expansion == "pulmonary embolism"


@pytest.mark.parametrize(
    ("text", "word", "expected"),
    [
        ("MS on ocrelizumab.", "MS", "multiple sclerosis"),
        ("Severe MS on echo, mitral valve area 1.0.", "MS", "mitral stenosis"),
        ("MS 4 mg IV prn.", "MS", "morphine sulfate"),
        ("Known MS.", "MS", None),
        ("PT eval recommended.", "PT", "physical therapy"),
        ("PT/INR elevated.", "PT", "prothrombin time"),
        ("PT today.", "PT", None),
        ("SpO2 95% on RA.", "RA", "room air"),
        ("RA on methotrexate.", "RA", "rheumatoid arthritis"),
        ("History of RA.", "RA", None),
        ("c/o CP and SOB.", "CP", "chest pain"),
        ("CP since birth, spastic diplegia.", "CP", "cerebral palsy"),
        ("No CVA tenderness.", "CVA", "costovertebral angle"),
        ("History of CVA with residual weakness.", "CVA", "cerebrovascular accident"),
        ("Breast CA s/p lumpectomy.", "CA", "cancer"),
        ("CA 8.9 mg/dL.", "CA", "calcium"),
        ("OA of both knees.", "OA", "osteoarthritis"),
        ("Visual acuity 1.0 in both eyes (OA).", "OA", "both eyes"),  # oculus ambo
        ("History of OA.", "OA", "osteoarthritis"),
    ],
)
def test_ambiguous_abbreviations_resolved_conservatively(nlp, text: str, word: str, expected: str | None) -> None:
    assert expansion_of(nlp, text, word) == expected


def test_cues_do_not_cross_sentences(nlp) -> None:
    assert expansion_of(nlp, "Discussed with PT.\nINR 2.0.", "PT") is None


def test_expansion_can_be_set_by_hand(nlp) -> None:
    doc = nlp("Pt has XYZ.")
    token = doc[2]
    token._.expansion = "something"
    assert token._.expansion == "something" and token._.expansion_len == 1
    token._.expansion_len = 2
    assert token._.expansion_len == 2
    token._.expansion = None
    assert token._.expansion is None and token._.expansion_len == 0
