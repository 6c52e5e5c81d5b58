"""cac_sentences_v1: lists, headers, wrapped lines and abbreviations."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy.language import Language

from cac.pipeline import build_pipeline
from cac.pipeline.extensions import sentence_starts
from tests.cac.pipeline.notes import DISCHARGE_SUMMARY, OPERATIVE_REPORT


@pytest.fixture(scope="module")
def split():
    nlp = build_pipeline(["cac_sections_v1", "cac_sentences_v1"])

    def run(text: str) -> list[str]:
        return [s.text.strip() for s in nlp(text).sents]

    return run


def test_every_token_gets_is_sent_start(nlp) -> None:
    doc = nlp(DISCHARGE_SUMMARY)
    assert doc.has_annotation("SENT_START")
    assert all(t.is_sent_start is not None for t in doc)
    assert doc[0].is_sent_start


def test_header_is_its_own_sentence(split) -> None:
    assert split("Chief Complaint: chest pain\nHPI: 65 yo man.") == [
        "Chief Complaint:",
        "chest pain",
        "HPI:",
        "65 yo man.",
    ]


def test_section_boundary_starts_a_sentence_even_mid_line(split) -> None:
    assert split("stable and HPI: pain") == ["stable and", "HPI:", "pain"]


def test_inline_numbered_problem_list(split) -> None:
    assert split("Diagnoses: 1. HTN 2. DM2 3. CKD stage 3") == [
        "Diagnoses:",
        "1. HTN",
        "2. DM2",
        "3. CKD stage 3",
    ]
    assert split("Problems include: 1. HTN 2. DM2") == ["Problems include:", "1. HTN", "2. DM2"]


def test_numbered_lines(split) -> None:
    assert split("1. Hypertension. Continue lisinopril.\n2) Diabetes\n3. CKD") == [
        "1. Hypertension.",
        "Continue lisinopril.",
        "2) Diabetes",
        "3. CKD",
    ]


def test_bullets(split) -> None:
    assert split("- CHF\n* COPD\n\u2022 GERD \u2022 OSA\n+ gout") == [
        "- CHF",
        "* COPD",
        "\u2022 GERD",
        "\u2022 OSA",
        "+ gout",
    ]


def test_line_breaks_without_punctuation(split) -> None:
    assert split("Denies fever\nChills present\nCough") == ["Denies fever", "Chills present", "Cough"]


def test_wrapped_lines_continue(split) -> None:
    assert split("He was given 2.5 mg of\nmorphine with relief.") == ["He was given 2.5 mg of\nmorphine with relief."]
    assert split("Patient has HTN,\nDM2 and CKD") == ["Patient has HTN,\nDM2 and CKD"]
    assert split("history of HTN and\nCKD stage 3") == ["history of HTN and\nCKD stage 3"]


def test_lower_case_line_after_punctuation_is_new_sentence(split) -> None:
    assert split("Stable.\nfollow up in 2 weeks") == ["Stable.", "follow up in 2 weeks"]
    assert split("Plan:\nadmit") == ["Plan:", "admit"]


def test_blank_line_always_splits(split) -> None:
    assert split("no acute distress\n\nlungs clear") == ["no acute distress", "lungs clear"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seen by Dr. Smith today.", 1),
        ("Use NSAIDs, e.g. Ibuprofen.", 1),
        ("That is, i.e. Tylenol.", 1),
        ("Metformin 500 mg p.o. b.i.d. with meals.", 1),
        ("Pneumonia vs. Atelectasis on CXR.", 1),
        ("Placed No. 5 catheter.", 1),
        ("Gave 2.5 mg IV.", 1),
        ("Taking 5 mg. daily now.", 1),
        ("He is stable. She is not.", 2),
        ("Metformin 500 mg b.i.d. Follow up in 2 weeks.", 2),
        ("Fever resolved! Cough persists? Will recheck.", 3),
        ("Temp 38.5. Next dose at 6.", 2),
        ("Given aspirin 325 mg. 2 hours later pain resolved.", 2),
    ],
)
def test_periods_and_abbreviations(split, text: str, expected: int) -> None:
    assert len(split(text)) == expected, split(text)


def test_operative_report_sentences(split) -> None:
    sents = split(OPERATIVE_REPORT)
    assert "PREOPERATIVE DIAGNOSIS:" in sents
    assert "Acute appendicitis." in sents
    assert "DESCRIPTION OF PROCEDURE" in sents
    assert any(s.startswith("The patient was brought to the operating room") and s.endswith("supine.") for s in sents)
    assert "After induction of\ngeneral anesthesia, the abdomen was prepped and draped." in sents


def test_works_without_sections() -> None:
    nlp = build_pipeline(["cac_sentences_v1"])
    assert [s.text for s in nlp("One.\nTwo").sents] == ["One.\n", "Two"]


def test_empty_doc(nlp) -> None:
    doc = nlp("")
    assert len(doc) == 0
    assert doc._.sections == []


# the punctuation and inline-number expressions tried only where they can begin find what reading the
# whole note finds
_SENTENCE_PIECES = st.sampled_from(["Fever", "pt", " ", "  ", "\t", "\n", ".", "..", "!", "?", ")", "\"", "'", "]",
                                    "1", "2", "12", "123", "\u0663", "\u00b2", "a", "B", "x.", " 1. HTN", " 2) DM"])


@given(st.lists(_SENTENCE_PIECES, max_size=40).map("".join))
@settings(max_examples=500, deadline=None)
def test_expressions_tried_at_their_places_equal_the_whole_note_reading(text):
    from cac.pipeline.sentences import _INLINE_NUMBER, _SENT_PUNCT, _item_number_places
    from cac.scan import matches_at, positions

    punct = matches_at(_SENT_PUNCT, text, positions(text, ".!?"))
    assert [m.span() for m in punct] == [m.span() for m in _SENT_PUNCT.finditer(text)]
    numbers = matches_at(_INLINE_NUMBER, text, _item_number_places(text))
    assert [m.span() for m in numbers] == [m.span() for m in _INLINE_NUMBER.finditer(text)]


def test_item_number_places_examples():
    from cac.pipeline.sentences import _item_number_places

    text = "HTN 1. DM 12) CKD 123. x 4.5 \u0663. end"
    assert [text[k + 1:k + 3] for k in sorted(_item_number_places(text))] == ["1.", "12", "4.", "\u0663."]


def test_token_offsets_are_read_once_and_shared(nlp) -> None:
    """The splitter's token offsets are the ones every later component reads (``token_starts``): equal to
    ``Token.idx``, read again when the doc's length changes."""
    import numpy

    from cac.pipeline.extensions import token_start_array, token_starts

    doc = nlp(DISCHARGE_SUMMARY)
    array = token_start_array(doc)
    assert array.dtype == numpy.int64 and array.tolist() == [t.idx for t in doc] == token_starts(doc)
    assert token_start_array(doc) is array and token_starts(doc) is token_starts(doc)
    with doc.retokenize() as retokenizer:
        retokenizer.merge(doc[0:3])
    assert token_starts(doc) == [t.idx for t in doc] == token_start_array(doc).tolist()
    empty = nlp.make_doc("")
    assert token_starts(empty) == [] and len(token_start_array(empty)) == 0


@Language.component("test_cac_sentence_mover")
def _move_sentences(doc):
    """A foreign component that starts a sentence at every third token."""
    for token in list(doc)[3::3]:
        token.is_sent_start = True
    return doc


def _read_off(doc) -> list[int]:
    return [0] + [t.i for t in doc[1:] if t.is_sent_start]


def test_the_starts_set_are_remembered_when_nothing_after_can_change_them() -> None:
    nlp = build_pipeline()
    doc = nlp(DISCHARGE_SUMMARY)
    starts = sentence_starts(doc)
    assert starts is sentence_starts(doc) and starts == _read_off(doc) and len(starts) > 5
    with doc.retokenize() as retokenizer:  # a changed doc is read again
        retokenizer.merge(doc[0:3])
    assert sentence_starts(doc) == _read_off(doc)


@pytest.mark.parametrize("late", [False, True])
def test_a_foreign_component_after_the_splitter_is_not_overruled(late) -> None:
    if late:
        nlp = build_pipeline(["cac_sections_v1", "cac_sentences_v1"])
        sentence_starts(nlp(DISCHARGE_SUMMARY))  # remembered while nothing came after
        nlp.add_pipe("test_cac_sentence_mover")
    else:
        nlp = build_pipeline(["cac_sections_v1", "cac_sentences_v1", "test_cac_sentence_mover"])
    doc = nlp(DISCHARGE_SUMMARY)
    assert sentence_starts(doc) == _read_off(doc) and 3 in sentence_starts(doc)
