"""cac_context_v1: every rule category, with positive and negative examples."""

from __future__ import annotations

import pytest

from tests.cac.pipeline.notes import DISCHARGE_SUMMARY

FLAGS = ("negated", "uncertain", "historical", "family", "hypothetical")


def flags(span) -> set[str]:
    return {f for f in FLAGS if getattr(span._, f)}


# --- negation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "targets"),
    [
        ("Negative for fever, chills or nausea.", ("fever", "chills", "nausea")),
        ("He denies chest pain, shortness of breath, and palpitations.", ("chest pain", "shortness of breath", "palpitations")),
        ("No fever, chills, or night sweats.", ("fever", "chills", "night sweats")),
        ("No further episodes of syncope.", ("syncope",)),
        ("CT shows no evidence of pulmonary embolism.", ("pulmonary embolism",)),
        ("Chest pain without radiation.", ("radiation",)),
        ("Patient is free of disease.", ("disease",)),
        ("PE was ruled out by CTA.", ("PE",)),
        ("Inguinal lymphadenopathy was not observed.", ("lymphadenopathy",)),
        ("Pleural effusion was not seen on the film.", ("Pleural effusion",)),
        ("Metastases were not detected.", ("Metastases",)),
        ("Myocardial infarction ruled out.", ("Myocardial infarction",)),
        ("Cultures negative for MRSA.", ("MRSA",)),
        ("He does not have diabetes.", ("diabetes",)),
        ("No history of stroke.", ("stroke",)),
        ("Denied any nausea or vomiting.", ("nausea", "vomiting")),
        ("No relevant history of headache or vomiting.", ("headache", "vomiting")),  # a history of something
        ("The patient has not had fever.", ("fever",)),
        ("Hepatitis B and C serologies negative.", ("Hepatitis B",)),  # the tested agents, before the test
        ("Negative serology for HIV and syphilis.", ("HIV", "syphilis")),
        ("He did not present arthritis.", ("arthritis",)),  # not "X not present"
    ],
)
def test_negation(context_of, text: str, targets: tuple[str, ...]) -> None:
    spans = context_of(text, *targets)
    for target in targets:
        assert spans[target]._.negated, (text, target)
        assert not spans[target]._.uncertain


def test_no_history_of_is_negation_not_history(context_of) -> None:
    span = context_of("No history of stroke.", "stroke")["stroke"]
    assert flags(span) == {"negated"}


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Patient has pneumonia.", "pneumonia"),
        ("No fever. Cough for 3 days.", "Cough"),  # scope ends with the sentence
        ("No fever but has productive cough.", "productive cough"),  # terminator "but"
        ("No fever; cough present.", "cough"),  # terminator ";"
        ("Denies fever, however reports dysuria.", "dysuria"),  # terminator "however"
        ("No chest pain, presents with dyspnea.", "dyspnea"),  # terminator "presents with"
        ("No complaints aside from headache.", "headache"),  # terminator "aside from"
        ("No rash which would suggest cellulitis.", "cellulitis"),  # terminator "which"
        ("- No fever\n- Cough", "Cough"),  # "No" at a bullet applies to its line only
        ("No acute distress\nAbdominal pain", "Abdominal pain"),
        ("Patient is not compliant with his diabetes medications.", "diabetes"),
        ("Gram negative rods, sepsis.", "rods"),  # pseudo: gram negative
        ("No increase in edema.", "edema"),  # pseudo: no increase
        ("No change in his chronic cough.", "chronic cough"),  # pseudo: no change
        ("Not only pneumonia but also sepsis.", "pneumonia"),  # pseudo: not only
        ("Pulmonary embolism not ruled out.", "Pulmonary embolism"),  # pseudo: not ruled out
        ("ER negative breast cancer.", "breast cancer"),  # pseudo: receptor status
        ("Without known allergies, with a history of dyslipidemia and hypertension.", "hypertension"),  # "with"
        ("No evidence of tumor recurrence at present with proteinuria.", "proteinuria"),  # terminator "with"
        ("No fever and was admitted for pneumonia.", "pneumonia"),  # terminator "was admitted"
        ("No cough, dyspnea due to anemia.", "anemia"),  # terminator "due to"
        ("With no relevant medical history, ex-smoker for 15 years.", "ex-smoker"),  # pseudo: no relevant history,
        ("With no history of interest, consulted for a painful tumor.", "tumor"),  # pseudo: history of interest
        ("With no relevant past medical history complained of pelvic pain.", "pelvic pain"),  # terminator "complained"
        ("Her mother, with no relevant history during pregnancy, had been operated on for glaucoma.", "glaucoma"),
        ("CT without intravenous contrast was performed in the follow-up of her bladder neoplasm.", "bladder neoplasm"),
        ("CT of the head without contrast showed a subdural hematoma.", "subdural hematoma"),  # pseudo: contrast
        ("She was managed without adequate pain relief.", "pain"),  # pseudo: relief
        ("With no improvement and persistent drainage associated with fever, he was reoperated.", "fever"),
        ("Urinalysis showed glycosuria, microhematuria and negative nitrites.", "microhematuria"),  # "and negative"
        ("Pneumonia, blood cultures negative.", "Pneumonia"),  # a culture's result is about the specimen
        ("HIV positive, hepatitis C serology negative.", "HIV"),  # the serology's scope is its agents only
    ],
)
def test_not_negated(context_of, text: str, target: str) -> None:
    assert not context_of(text, target)[target]._.negated, text


def test_negation_list_then_terminator(context_of) -> None:
    spans = context_of("Denies fever, chills, but endorses cough and sputum.", "fever", "chills", "cough", "sputum")
    assert spans["fever"]._.negated and spans["chills"]._.negated
    assert not spans["cough"]._.negated and not spans["sputum"]._.negated


def test_backward_negation_is_bounded(context_of) -> None:
    spans = context_of(
        "Acute on chronic heart failure with anemia and pneumonia, pulmonary embolism ruled out.",
        "Acute on chronic heart failure",
        "pulmonary embolism",
    )
    assert spans["pulmonary embolism"]._.negated
    assert not spans["Acute on chronic heart failure"]._.negated


# --- uncertainty --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Rule out MI.", "MI"),
        ("r/o PE.", "PE"),
        ("Possible pneumonia.", "pneumonia"),
        ("Probable viral syndrome.", "viral syndrome"),
        ("Likely community acquired pneumonia.", "community acquired pneumonia"),
        ("Suspected appendicitis.", "appendicitis"),
        ("Mass suspicious for malignancy.", "malignancy"),
        ("Concern for sepsis.", "sepsis"),
        ("Questionable infiltrate.", "infiltrate"),
        ("Osteomyelitis cannot be excluded.", "Osteomyelitis"),
        ("Findings consistent with cholecystitis.", "cholecystitis"),
        ("Pneumonia vs. atelectasis.", "Pneumonia"),
        ("Pneumonia versus atelectasis.", "atelectasis"),
        ("Pneumonia is likely.", "Pneumonia"),
        ("Differential includes lymphoma.", "lymphoma"),
        ("Cannot rule out fracture.", "fracture"),
    ],
)
def test_uncertain(context_of, text: str, target: str) -> None:
    span = context_of(text, target)[target]
    assert span._.uncertain, text
    assert not span._.negated, text


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Pneumonia confirmed on CT.", "Pneumonia"),
        ("Possible discharge tomorrow. Pneumonia improving.", "Pneumonia"),
        ("Likely discharge home; cellulitis improving.", "cellulitis"),
    ],
)
def test_not_uncertain(context_of, text: str, target: str) -> None:
    assert not context_of(text, target)[target]._.uncertain, text


# --- history --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("History of breast cancer, resolved.", "breast cancer"),
        ("History of breast cancer.", "breast cancer"),
        ("h/o DVT.", "DVT"),
        ("s/p appendectomy.", "appendectomy"),
        ("Status post cholecystectomy.", "cholecystectomy"),
        ("Previous stroke.", "stroke"),
        ("Prior MI.", "MI"),
        ("Pneumonia in 2019.", "Pneumonia"),
        ("In 2019 she had a pulmonary embolism.", "pulmonary embolism"),
        ("Kidney stones 5 years ago.", "Kidney stones"),
        ("Pneumonia, resolved.", "Pneumonia"),
    ],
)
def test_historical(context_of, text: str, target: str) -> None:
    assert context_of(text, target)[target]._.historical, text


def test_historical_scope_ends_at_now(context_of) -> None:
    spans = context_of("h/o MI, now with chest pain.", "MI", "chest pain")
    assert spans["MI"]._.historical
    assert not spans["chest pain"]._.historical


def test_past_medical_history_section_is_not_historical_by_itself(context_of) -> None:
    text = "Past Medical History:\n1. HTN\n2. DM2\n3. History of prostate cancer, resolved.\n"
    spans = context_of(text, "HTN", "DM2", "prostate cancer")
    assert not spans["HTN"]._.historical and not spans["DM2"]._.historical
    assert spans["prostate cancer"]._.historical


def test_history_of_present_illness_header_is_not_a_trigger(context_of) -> None:
    span = context_of("History of Present Illness: cough for 3 days.", "cough")["cough"]
    assert not span._.historical


# --- family / experiencer -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Mother had breast cancer.", "breast cancer"),
        ("Father with MI at 60.", "MI"),
        ("Family history of colon cancer.", "colon cancer"),
        ("FHx: diabetes.", "diabetes"),
        ("Brother with schizophrenia.", "schizophrenia"),
        ("Sister has lupus.", "lupus"),
        ("Grandmother died of ovarian cancer.", "ovarian cancer"),
        ("Colon cancer in his father.", "Colon cancer"),
        ("Maternal aunt with breast cancer.", "breast cancer"),
    ],
)
def test_family(context_of, text: str, target: str) -> None:
    span = context_of(text, target)[target]
    assert span._.family, text
    assert span._.experiencer == "family"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Brought in by daughter for confusion.", "confusion"),
        ("Lives with her son. Has dementia.", "dementia"),
        ("Daughter at bedside, patient reports chest pain.", "chest pain"),
        ("Mother states she had a seizure.", "seizure"),
        ("Patient has asthma.", "asthma"),
        # family scope ends where the patient's own history starts
        ("No family history of interest, personal history of nocturnal enuresis.", "nocturnal enuresis"),
        ("No family history of interest and past medical history of maxillary sinusitis.", "maxillary sinusitis"),
        # the patient's presentation ends a family history named before it in the sentence
        ("A woman with a family history of Crohn's disease presented with abdominal pain.", "abdominal pain"),
    ],
)
def test_not_family(context_of, text: str, target: str) -> None:
    span = context_of(text, target)[target]
    assert not span._.family, text
    assert span._.experiencer == "patient"


def test_family_history_section_default(context_of) -> None:
    text = "Family History:\nDiabetes and hypertension.\nSocial History: smokes.\n"
    spans = context_of(text, "Diabetes", "hypertension", "smokes")
    assert spans["Diabetes"]._.family and spans["hypertension"]._.family
    assert not spans["smokes"]._.family
    assert spans["Diabetes"]._.context_triggers[0]["source"] == "section:family_history"


def test_negated_family_history(context_of) -> None:
    span = context_of("No family history of colon cancer.", "colon cancer")["colon cancer"]
    assert span._.family and span._.negated


def test_other_experiencer(context_of) -> None:
    span = context_of("Wife has influenza.", "influenza")["influenza"]
    assert span._.experiencer == "other" and not span._.family


# --- hypothetical ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Return if chest pain recurs.", "chest pain"),
        ("Call if fever develops.", "fever"),
        ("Should she develop shortness of breath, return.", "shortness of breath"),
        ("If symptoms worsen or vomiting occurs, call.", "vomiting"),
        ("In case of bleeding, go to the ED.", "bleeding"),
        ("High risk of falls.", "falls"),
        ("Aspirin to prevent stroke.", "stroke"),
        ("DVT prophylaxis with heparin.", "DVT"),
        ("Influenza vaccine given.", "Influenza"),
        ("Screening for colon cancer.", "colon cancer"),
    ],
)
def test_hypothetical(context_of, text: str, target: str) -> None:
    assert context_of(text, target)[target]._.hypothetical, text


def test_discharge_instructions_section_is_hypothetical(context_of) -> None:
    text = "Hospital Course: pneumonia treated.\nDischarge Instructions:\nWatch for wound infection.\n"
    spans = context_of(text, "pneumonia", "wound infection")
    assert not spans["pneumonia"]._.hypothetical
    assert spans["wound infection"]._.hypothetical


def test_not_hypothetical(context_of) -> None:
    assert not context_of("Chest pain since this morning.", "Chest pain")["Chest pain"]._.hypothetical


# --- allergy ----------------------------------------------------------------------


def test_allergy_context(context_of) -> None:
    assert context_of("Allergic to penicillin.", "penicillin")["penicillin"]._.other_context == "allergy"
    text = "Allergies: sulfa.\nMedications: penicillin."
    spans = context_of(text, "sulfa", "penicillin")
    assert spans["sulfa"]._.other_context == "allergy"
    assert spans["penicillin"]._.other_context is None


# --- explanation records and defaults -------------------------------------------


def test_context_triggers_record_explanations(context_of) -> None:
    text = "He denies chest pain."
    span = context_of(text, "chest pain")["chest pain"]
    (trigger,) = span._.context_triggers
    assert trigger == {
        "category": "NEGATED_EXISTENCE",
        "text": "denies",
        "start": 3,
        "end": 9,
        "direction": "forward",
        "source": "trigger",
    }
    assert text[trigger["start"] : trigger["end"]] == trigger["text"]


def test_unmodified_span_defaults(context_of) -> None:
    span = context_of("Patient has pneumonia.", "pneumonia")["pneumonia"]
    assert flags(span) == set()
    assert span._.experiencer == "patient"
    assert span._.other_context is None
    assert span._.context_triggers == []


def test_flags_can_be_overridden(context_of) -> None:
    span = context_of("Patient has pneumonia.", "pneumonia")["pneumonia"]
    span._.negated = True
    span._.experiencer = "other"
    span._.context_triggers = [{"category": "MANUAL"}]
    assert span._.negated and span._.experiencer == "other"
    assert span._.context_triggers == [{"category": "MANUAL"}]


def test_trigger_overlapping_target_is_ignored(context_of) -> None:
    span = context_of("History of falls.", "History of falls")["History of falls"]
    assert not span._.historical


def test_discharge_summary_end_to_end(context_of) -> None:
    spans = context_of(
        DISCHARGE_SUMMARY,
        "HTN",
        "MI",
        "CABG",
        "chest pain",
        "fever",
        "cough",
        "syncope",
        "prostate cancer",
        "breast cancer",
        "MI",
        "Penicillin",
        "fever",
        "chills",
        "nausea",
        "CHF exacerbation",
        "PE",
        "pneumonia",
        "atelectasis",
        "chest pain",
    )
    got = {k: flags(v) for k, v in spans.items()}
    assert got["HTN"] == set()
    assert got["CABG"] == {"historical"}
    assert got["syncope"] == {"negated"}
    assert got["prostate cancer"] == {"historical"}
    assert got["breast cancer"] == {"family"}
    assert got["MI"] == {"family"}  # the last "MI": "Father had MI at 60."
    assert spans["Penicillin"]._.other_context == "allergy"
    assert got["nausea"] == {"negated"} and got["chills"] == {"negated"}
    assert got["CHF exacerbation"] == set()
    assert got["PE"] == {"negated"}
    assert got["pneumonia"] == {"uncertain"} and got["atelectasis"] == {"uncertain"}
    assert got["chest pain"] == {"hypothetical"}  # the last one: discharge instructions


def test_ents_and_missing_key(nlp) -> None:
    doc = nlp("No fever.")
    assert "mentions" not in doc.spans  # nothing to do, no error
    from cac.pipeline import build_pipeline

    ents_nlp = build_pipeline(config={"cac_context_v1": {"spans_key": "ents"}})
    doc = ents_nlp.make_doc("No fever today.")
    for _, proc in ents_nlp.pipeline[:-1]:
        doc = proc(doc)
    doc.ents = [doc.char_span(3, 8, label="SYMPTOM")]
    doc = ents_nlp.get_pipe("cac_context")(doc)
    assert doc.ents[0]._.negated


def test_max_scope_config(annotate) -> None:
    from cac.pipeline import build_pipeline

    short = build_pipeline(config={"cac_context": {"max_scope": 2}})
    doc = short.make_doc("Denies chest pain, shortness of breath and palpitations.")
    for name, proc in short.pipeline:
        if name == "cac_context":
            doc.spans["mentions"] = [doc[1:3], doc[7:8]]
        doc = proc(doc)
    first, last = doc.spans["mentions"]
    assert first._.negated and not last._.negated


def test_age_phrase_is_not_a_historical_trigger() -> None:
    """'A 56-year-old man with ...' opens most case reports: 'old' must not make mentions historical."""

    from cac.pipeline.nlp import build_pipeline

    nlp = build_pipeline()
    doc = nlp.make_doc("A 56-year-old man with breast cancer.")
    for _, proc in nlp.pipeline[:-1]:
        doc = proc(doc)
    doc.spans["mentions"] = [doc.char_span(doc.text.index("breast"), doc.text.index("."), alignment_mode="expand")]
    doc = nlp.get_pipe("cac_context")(doc)
    assert doc.spans["mentions"][0]._.historical is False


def test_no_phrase_is_a_terminator_in_two_rules() -> None:
    # overlapping matches keep one rule per span: a phrase listed under two terminator rules would
    # silently end only one rule's categories (list it once, with every category it ends)
    import json
    from collections import Counter
    from importlib import resources

    raw = json.loads((resources.files("cac.pipeline") / "resources" / "context_rules.json").read_text())
    phrases = Counter(p.lower() for rule in raw["rules"] if rule.get("direction") == "terminate"
                      for p in (rule["literal"] if isinstance(rule.get("literal"), list) else []))
    assert [p for p, n in phrases.items() if n > 1] == []


def test_assertion_record_reads_what_the_span_flags_say(context_of) -> None:
    from cac.pipeline.extensions import CONTEXT_FLAGS, assertion_record, is_cac_assertion

    spans = context_of("Denies chest pain. Mother had diabetes.", "chest pain", "diabetes")
    for span in spans.values():
        record = assertion_record(span.doc, span.start_char, span.end_char)
        assert record is not None
        assert {f: bool(record[f]) for f in CONTEXT_FLAGS} == {f: getattr(span._, f) for f in CONTEXT_FLAGS}
        assert record["experiencer"] == span._.experiencer
    assert spans["chest pain"]._.negated and spans["diabetes"]._.family
    assert is_cac_assertion("negated") and not is_cac_assertion("section")
