"""cac_sections_v1: headers, section extents and token/span section attributes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import spacy

from cac.pipeline import Section, build_pipeline
from cac.pipeline.sections import SectionDetector, normalize_header
from tests.cac.pipeline.notes import DISCHARGE_SUMMARY, OPERATIVE_REPORT


@pytest.fixture(scope="module")
def sections_nlp() -> spacy.language.Language:
    return build_pipeline(["cac_sections_v1"])


def names(doc) -> list[str]:
    return [s.name for s in doc._.sections]


def headers(doc) -> list[str]:
    return [doc.text[s.header_start_char : s.header_end_char] for s in doc._.sections]


def test_operative_report_sections(sections_nlp) -> None:
    doc = sections_nlp(OPERATIVE_REPORT)
    assert names(doc) == [
        "other",  # OPERATIVE REPORT title line
        "other",  # DATE OF SERVICE
        "preoperative_diagnosis",
        "postoperative_diagnosis",
        "procedure",
        "other",  # SURGEON
        "anesthesia",
        "indications",
        "findings",
        "estimated_blood_loss",
        "specimens",
        "complications",
        "procedure",  # DESCRIPTION OF PROCEDURE, on its own line without colon
        "disposition",
    ]
    assert "PROCEDURE(S) PERFORMED:" in headers(doc)


def test_discharge_summary_sections(sections_nlp) -> None:
    doc = sections_nlp(DISCHARGE_SUMMARY)
    assert names(doc) == [
        "other",
        "chief_complaint",
        "history_of_present_illness",
        "past_medical_history",
        "past_surgical_history",
        "family_history",
        "social_history",
        "allergies",
        "review_of_systems",
        "physical_exam",
        "vital_signs",
        "hospital_course",
        "diagnoses",
        "discharge_instructions",
        "follow_up",
    ]


def test_sections_are_contiguous_and_cover_the_rest_of_the_note(sections_nlp) -> None:
    doc = sections_nlp(DISCHARGE_SUMMARY)
    sections = doc._.sections
    for prev, nxt in zip(sections, sections[1:]):
        assert prev.end_char == nxt.start_char
    assert sections[-1].end_char == len(doc.text)
    for s in sections:
        assert s.start_char == s.header_start_char <= s.header_end_char <= s.end_char


def test_token_and_span_sections(sections_nlp) -> None:
    text = "Patient seen today.\nAssessment: pneumonia\nPlan: antibiotics"
    doc = sections_nlp(text)
    first = doc[0]
    assert first._.section is None  # text before any header
    pneumonia = next(t for t in doc if t.text == "pneumonia")
    assert pneumonia._.section == "assessment"
    header = next(t for t in doc if t.text == "Assessment")
    assert header._.section == "assessment"
    assert doc[-1]._.section == "plan"
    assert doc[pneumonia.i : pneumonia.i + 1]._.section == "assessment"
    at = doc._.section_at(pneumonia.idx)
    assert isinstance(at, Section) and at.name == "assessment"
    assert doc._.section_at(0) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("CHIEF COMPLAINT: chest pain", "chief_complaint"),
        ("chief complaint: chest pain", "chief_complaint"),
        ("HPI: 65 yo", "history_of_present_illness"),
        ("1. Preoperative diagnosis: appendicitis", "preoperative_diagnosis"),
        ("2) POSTOP DIAGNOSIS: same", "postoperative_diagnosis"),
        ("- Allergies: none", "allergies"),
        ("\u2022 Medications: aspirin", "medications"),
        ("IV. PLAN: discharge", "plan"),
        ("Assessment and Plan:", "assessment_and_plan"),
        ("A/P: stable", "assessment_and_plan"),
        ("Assessment & Plan: stable", "assessment_and_plan"),
        ("Impression: no acute process", "impression"),
        ("Discharge Diagnoses:", "diagnoses"),
        ("Final diagnosis: sepsis", "diagnoses"),
        ("Problem list:", "diagnoses"),
        ("Procedures performed: EGD", "procedure"),
        ("Operation: ORIF", "procedure"),
        ("EBL: 50 mL", "estimated_blood_loss"),
        ("Return precautions: fever", "discharge_instructions"),
        ("Follow-up: 2 weeks", "follow_up"),
        ("Brief Hospital Course:", "hospital_course"),
        ("Review of Systems", "review_of_systems"),
        ("PHYSICAL EXAMINATION", "physical_exam"),
        ("Vital signs: stable", "vital_signs"),
        ("Labs: pending", "labs"),
        ("Imaging: CXR clear", "imaging"),
        ("Specimens: none", "specimens"),
        ("Complications: none", "complications"),
        ("Indications: pain", "indications"),
        ("Findings: normal", "findings"),
        ("Anesthesia: MAC", "anesthesia"),
        ("Disposition: home", "disposition"),
        ("Social History: no tobacco", "social_history"),
        ("FHx: CAD", "family_history"),
        ("PSH: appendectomy", "past_surgical_history"),
        ("PMH: HTN", "past_medical_history"),
        ("Chief Complaint/Reason for Visit: cough", "chief_complaint"),
    ],
)
def test_header_forms(sections_nlp, line: str, expected: str) -> None:
    doc = sections_nlp(f"Intro text.\n{line}\nmore text")
    assert names(doc) == [expected], (line, names(doc))


@pytest.mark.parametrize(
    "text",
    [
        "He has a history of falls.\nhistory of present illness is long",  # lower-case bare line
        "Problems:\n1. HTN\n2. PE\nPE",  # "PE" alone is content, not physical exam
        "The plan: discussed with patient\n",  # "the plan" is no header
        "Time: 10:30\nNote: called family",  # label: value fields
        "Patient has HTN",
    ],
)
def test_non_headers(sections_nlp, text: str) -> None:
    doc = sections_nlp(text)
    assert [n for n in names(doc) if n not in ("diagnoses",)] == []


def test_inline_caps_headers(sections_nlp) -> None:
    doc = sections_nlp("CC: chest pain HPI: 65M with pain. ASSESSMENT: ACS. PLAN: admit")
    assert names(doc) == ["chief_complaint", "history_of_present_illness", "assessment", "plan"]


def test_inline_headers_need_capitals_and_a_colon(sections_nlp) -> None:
    doc = sections_nlp("Seen today. Plan: admit. The ASSESSMENT was done")
    assert names(doc) == []


def test_unknown_caps_title_line_is_other(sections_nlp) -> None:
    doc = sections_nlp("Assessment: fine\n\nDISCHARGE CONDITION\nStable\n\nACUTE MI\nmore")
    assert names(doc) == ["assessment", "disposition", "other"]
    doc = sections_nlp("Assessment: fine\n1. ACUTE MI\n2. HEART FAILURE\n")
    assert names(doc) == ["assessment"]


def test_unknown_caps_headers_off_in_all_caps_notes(sections_nlp) -> None:
    text = "PATIENT SEEN IN CLINIC TODAY.\n\nACUTE BRONCHITIS\nCOUGH FOR TWO WEEKS.\n"
    assert names(sections_nlp(text)) == []


def test_options_can_be_switched_off() -> None:
    nlp = build_pipeline(
        ["cac_sections_v1"],
        config={"cac_sections_v1": {"inline_caps_headers": False, "unknown_caps_headers": False}},
    )
    doc = nlp("WEEKLY SUMMARY\n\nCC: pain HPI: 65M")
    assert names(doc) == ["chief_complaint"]


def test_normalize_header() -> None:
    assert normalize_header("Procedure(s)  Performed:") == "procedure performed"
    assert normalize_header("A&P") == "a and p"
    assert normalize_header("Assessment / Plan") == "assessment/plan"
    assert normalize_header("Follow-up") == "follow up"


def test_find_without_spacy() -> None:
    detector = SectionDetector(spacy.blank("en"))
    found = detector.find("x\nPlan: rest")
    assert found == [Section("plan", 2, 7, 2, 12)]
    assert found[0].body_start_char == 7
    assert "assessment_and_plan" in detector.section_names


# the inline-header expression read only before colons finds what reading the whole note finds
_HEADER_PIECES = st.sampled_from(["HPI", "PLAN", "ASSESSMENT AND PLAN", "A/P", "PMH", "ROS", " ", "  ", "\t", ":",
                                  " :", "\n", ". ", "pt ", "Fever", "X", "-", "&", "/", "B" * 30, " " * 60])


@given(st.lists(_HEADER_PIECES, max_size=40).map("".join))
@settings(max_examples=400, deadline=None)
def test_inline_headers_read_before_colons_equal_the_whole_note_reading(text):
    from cac.pipeline.sections import _INLINE_HEADER, inline_header_matches

    whole = [(m.span(), m.group("head")) for m in _INLINE_HEADER.finditer(text)]
    assert [(m.span(), m.group("head")) for m in inline_header_matches(text)] == whole


def test_inline_header_windows_examples():
    from cac.pipeline.sections import inline_header_matches

    text = "Seen today. ASSESSMENT AND PLAN: rest. " + "X" * 70 + " " + "A" * 51 + "B:" + " Vitals   PLAN    :"
    heads = [m.group("head") for m in inline_header_matches(text)]
    assert heads == ["ASSESSMENT AND PLAN", "A" * 51 + "B", "PLAN"]  # the longest head and a spaced colon
    assert inline_header_matches("no colon HERE") == [] and inline_header_matches(":") == []
