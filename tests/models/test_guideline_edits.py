"""Guideline edits on the reranked diagnosis codes: the learned layer never overrides the coding rules."""

from __future__ import annotations

import numpy as np
import pytest

from cac.types import CodingResult, DocumentInfo, Evidence, Excluded, Suggestion
from models.features import knowledge_view
from models.guideline_edits import (billable_labels, documented_floor, edit_suggestions, hold_denied_qualifiers,
                                    transfer_replaced)

CM = "ICD-10-CM"
TEXT = "Type 2 diabetes with diabetic chronic kidney disease stage 3. Pleural effusion. Illness."


def _ev(a: int, b: int) -> Evidence:
    return Evidence(a, b, TEXT[a:b])


def _knowledge() -> CodingResult:
    """What the rules said: E11.22 and N18.30 suggested; E11.9 combined into E11.22; J18.9 negated."""
    return CodingResult(
        document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
        suggestions=[Suggestion("E11.22", CM, "Type 2 diabetes mellitus with diabetic chronic kidney disease", 0.84,
                                [_ev(0, 52)]),
                     Suggestion("N18.30", CM, "Chronic kidney disease, stage 3 unspecified", 0.78, [_ev(29, 60)])],
        excluded=[Excluded("E11.9", CM, "Type 2 diabetes mellitus without complications", "combined into E11.22",
                           "combination:diabetes-ckd", [_ev(0, 15)], "E11.22"),
                  Excluded("R06.02", CM, "Shortness of breath", "integral", "integral-symptom", [], "J90"),
                  Excluded("J18.9", CM, "Pneumonia, unspecified organism", "negated", "context:negated")],
        text=TEXT)


def test_replaced_codes_hand_their_probability_to_the_replacement(icd10cm) -> None:
    labels = [f"{CM}:{c}" for c in ("E11.9", "E11.22", "N18.9", "N18.30", "R06.02", "J90", "D64.9")]
    proba = np.array([0.99, 0.15, 0.83, 0.01, 0.6, 0.9, 0.4])
    moved = transfer_replaced(labels, proba, knowledge_view(_knowledge()), icd10cm)
    got, received, excluded = dict(zip(moved.labels, moved.proba.tolist())), moved.received, moved.excluded
    # the combination code takes the learned probability of the code it replaces
    assert f"{CM}:E11.9" not in got and got[f"{CM}:E11.22"] == pytest.approx(0.99)
    assert "E11.9" in received[f"{CM}:E11.22"]
    # a learned unspecified code gives way to the specific code the rules found in the note
    assert f"{CM}:N18.9" not in got and got[f"{CM}:N18.30"] == pytest.approx(0.83)
    assert [(e.code, e.rule, e.replaced_by) for e in excluded] == [("N18.9", "specificity", "N18.30")]
    # excluded by a guideline without a replacement of the same condition: dropped, nothing transferred
    assert f"{CM}:R06.02" not in got and got[f"{CM}:J90"] == pytest.approx(0.9)
    # codes the rules said nothing about are untouched
    assert got[f"{CM}:D64.9"] == pytest.approx(0.4)
    # what was dropped stays rankable, with its probability and the reason
    assert moved.held[f"{CM}:E11.9"][0] == pytest.approx(0.99) and "combination" in moved.held[f"{CM}:E11.9"][1]
    assert set(moved.held) == {f"{CM}:E11.9", f"{CM}:N18.9", f"{CM}:R06.02"}


def test_rules_suggesting_the_code_themselves_keep_it(icd10cm) -> None:
    k = _knowledge()
    k.suggestions.append(Suggestion("N18.9", CM, "Chronic kidney disease, unspecified", 0.5, [_ev(29, 51)]))
    moved = transfer_replaced([f"{CM}:N18.9", f"{CM}:N18.30"], np.array([0.8, 0.1]), knowledge_view(k), icd10cm)
    assert f"{CM}:N18.9" in moved.labels and not moved.excluded and not moved.held


def _s(code: str, p: float, title: str = "") -> Suggestion:
    return Suggestion(code, CM, title or code, p, [_ev(0, 15)], [f"reranked {code}"])


def test_final_suggestions_follow_combination_and_superseded_rules(icd10cm) -> None:
    suggestions = [_s("E11.9", 0.95), _s("N18.30", 0.7), _s("I10", 0.9), _s("R69", 0.8), _s("J90", 0.85),
                   Suggestion("0DTJ4ZZ", "ICD-10-PCS", "Resection of Appendix", 0.9)]
    out, excluded, demoted = edit_suggestions(suggestions, icd10cm)
    codes = {s.code: s for s in out}
    assert {s.code for s in demoted} == {"E11.9", "I10", "R69"}
    # diabetes + CKD -> E11.22 (as probable as the code it replaces); hypertension + CKD -> I12.9
    assert "E11.22" in codes and codes["E11.22"].confidence == pytest.approx(0.95)
    assert "I12.9" in codes and "I10" not in codes and "E11.9" not in codes
    # "illness, unspecified" is not reported beside a documented diagnosis
    assert "R69" not in codes
    why = {e.code: (e.rule, e.replaced_by) for e in excluded}
    assert why["E11.9"] == ("combination:diabetes-ckd", "E11.22")
    assert why["R69"][0] == "specificity"
    assert "0DTJ4ZZ" in codes  # other systems pass through


def test_excludes1_pairs_keep_the_code_the_note_names(icd10cm) -> None:
    out, excluded, _ = edit_suggestions([_s("J90", 0.9), _s("J91.0", 0.7)], icd10cm)
    assert [s.code for s in out] == ["J91.0"]
    assert excluded[0].code == "J90" and excluded[0].rule == "excludes1" and excluded[0].replaced_by == "J91.0"


def test_without_a_code_set_nothing_changes() -> None:
    suggestions = [_s("E11.9", 0.9), _s("N18.30", 0.7)]
    assert edit_suggestions(suggestions, None) == (suggestions, [], [])


def test_learned_codes_of_older_releases_become_billable_codes(icd10cm) -> None:
    from cac.suggest.specificity import Specificity

    spec = Specificity(icd10cm)
    k = _knowledge()
    k.excluded.append(Excluded("R05.9", CM, "Cough, unspecified", "negated", "context:negated"))
    labels = [f"{CM}:{c}" for c in ("R51", "R51.9", "R05", "M54.5", "Z99.999", "0DTJ")]
    out = billable_labels(labels, np.array([0.7, 0.2, 0.9, 0.6, 0.5, 0.4]), knowledge_view(k), icd10cm,
                          spec.default_billable)
    got = dict(zip(out.labels, out.proba.tolist()))
    # R51 "Headache" was subdivided in FY2021: its learned probability goes to R51.9
    assert f"{CM}:R51" not in got and got[f"{CM}:R51.9"] == pytest.approx(0.7)
    assert out.alias[f"{CM}:R51.9"] == f"{CM}:R51"
    assert got[f"{CM}:M54.50"] == pytest.approx(0.6)
    # "denies cough": the billable default is negated, so the learned R05 is not suggested at all
    assert f"{CM}:R05" not in got and f"{CM}:R05.9" not in got
    assert out.held[f"{CM}:R05.9"][0] == pytest.approx(0.9) and "context:negated" in out.held[f"{CM}:R05.9"][1]
    # not a code of the release at all: never suggested, only rankable
    assert out.invalid == {f"{CM}:Z99.999": 0.5, f"{CM}:0DTJ": 0.4}


def test_learned_codes_written_without_their_7th_character_get_the_initial_encounter(icd10cm) -> None:
    from cac.suggest.specificity import Specificity

    spec = Specificity(icd10cm)
    # CodiEsp writes W19.XXX, S39.94X, T81.4XX: placeholder X's, no 7th character, not codes of the release
    labels = [f"{CM}:{c}" for c in ("W19.XXX", "S39.94X", "T81.4XX", "R74.0")]
    out = billable_labels(labels, np.array([0.8, 0.6, 0.5, 0.4]), knowledge_view(_knowledge()), icd10cm,
                          spec.default_billable)
    got = dict(zip(out.labels, out.proba.tolist()))
    assert got[f"{CM}:W19.XXXA"] == pytest.approx(0.8) and out.alias[f"{CM}:W19.XXXA"] == f"{CM}:W19.XXX"
    assert got[f"{CM}:S39.94XA"] == pytest.approx(0.6)
    assert got[f"{CM}:T81.40XA"] == pytest.approx(0.5)  # T81.4 was subdivided: its unspecified child
    # R74.0 was split into R74.01 / R74.02 with no unspecified child: rankable only, never suggested
    assert out.invalid == {f"{CM}:R74.0": 0.4}


def test_the_providers_diagnostic_statement_sets_a_floor() -> None:
    text = "Discharge diagnoses: acute on chronic systolic heart failure. Hospital course: anemia."
    k = CodingResult(
        document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
        suggestions=[Suggestion("I50.23", CM, "Acute on chronic systolic heart failure", 0.88,
                                [Evidence(21, 60, text[21:60], "diagnoses")]),
                     Suggestion("D64.9", CM, "Anemia, unspecified", 0.87, [Evidence(79, 85, text[79:85], "hospital_course")])],
        text=text)
    labels = [f"{CM}:I50.23", f"{CM}:D64.9"]
    p, why = documented_floor(labels, np.array([0.01, 0.02]), knowledge_view(k))
    assert p.tolist() == pytest.approx([0.88, 0.02])
    assert list(why) == [f"{CM}:I50.23"] and "diagnostic statement" in why[f"{CM}:I50.23"]


def test_a_learned_code_restating_a_negated_finding_is_held_back(icd10cm) -> None:
    k = _knowledge()  # J18.9 negated; nothing else of J18 found by the rules
    k.excluded.append(Excluded("R11.11", CM, "Vomiting without nausea", "negated", "context:negated"))
    labels = [f"{CM}:{c}" for c in ("J18.1", "R11.10", "E11.22")]
    moved = transfer_replaced(labels, np.array([0.7, 0.6, 0.8]), knowledge_view(k), icd10cm)
    assert moved.labels == [f"{CM}:E11.22"]
    assert set(moved.held) == {f"{CM}:J18.1", f"{CM}:R11.10"}  # rankable below the threshold, never suggested
    assert moved.held[f"{CM}:R11.10"][0] == pytest.approx(0.6) and "context" in moved.held[f"{CM}:R11.10"][1]
    # a category the rules also support keeps its learned codes
    k.suggestions.append(Suggestion("R11.2", CM, "Nausea with vomiting, unspecified", 0.8, [_ev(0, 5)]))
    moved = transfer_replaced(labels, np.array([0.7, 0.6, 0.8]), knowledge_view(k), icd10cm)
    assert f"{CM}:R11.10" in moved.labels and f"{CM}:J18.1" not in moved.labels


def test_a_learned_code_restating_a_relatives_condition_in_another_category_is_held_back(icd10cm) -> None:
    """ "Her brother has type 1 diabetes": the rules report Z83.3 and exclude E10.9 (family); a learned E11.9
    (same block E08-E13, another category) restates it.  Symptom blocks are left to the category rule."""
    k = CodingResult(
        document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
        suggestions=[Suggestion("Z83.3", CM, "Family history of diabetes mellitus", 0.8, [_ev(0, 10)])],
        excluded=[Excluded("E10.9", CM, "Type 1 diabetes mellitus without complications", "family member",
                           "context:family", [_ev(0, 10)], "Z83.3"),
                  Excluded("R06.02", CM, "Shortness of breath", "negated", "context:negated")],
        text=TEXT)
    labels = [f"{CM}:{c}" for c in ("E11.9", "R05.9", "I10")]
    moved = transfer_replaced(labels, np.array([0.7, 0.6, 0.5]), knowledge_view(k), icd10cm)
    assert moved.labels == [f"{CM}:R05.9", f"{CM}:I10"]  # R00-R09 holds unlike symptoms: R05 stays
    assert "block" in moved.held[f"{CM}:E11.9"][1]
    # once the rules support a diabetes code of the patient, the block is no longer only the relative's
    k.suggestions.append(Suggestion("E11.65", CM, "Type 2 diabetes mellitus with hyperglycemia", 0.8, [_ev(0, 5)]))
    moved = transfer_replaced(labels, np.array([0.7, 0.6, 0.5]), knowledge_view(k), icd10cm)
    assert f"{CM}:E11.9" in moved.labels


def test_learned_labels_of_an_older_release_meet_the_rules_code_before_reranking(icd10cm) -> None:
    from models.features import SourceOutputs
    from models.guideline_edits import release_sources

    k = _knowledge()
    k.suggestions.append(Suggestion("R05.1", CM, "Acute cough", 0.7, [_ev(0, 5)]))
    out = SourceOutputs(TEXT, k, linear={f"{CM}:R05": 0.6, f"{CM}:E11.9": 0.5, f"{CM}:R51": 0.4},
                        neighbors={f"{CM}:R05": 0.3, f"{CM}:R05.1": 0.5})
    got = release_sources(out, knowledge_view(k), icd10cm, default_billable=lambda code: {"R51": "R51.9"}.get(code))
    # R05 (billable before FY2022) reads as the R05.x code the rules found in the note
    assert got.linear == {f"{CM}:R05.1": 0.6, f"{CM}:E11.9": 0.5, f"{CM}:R51.9": 0.4}
    assert got.neighbors == {f"{CM}:R05.1": 0.5}  # the best score per code
    assert out.linear[f"{CM}:R05"] == 0.6  # the input is not modified
    assert release_sources(out, knowledge_view(k), None) is out


def test_learned_codes_asserting_what_the_note_denies_are_held_back(icd10cm) -> None:
    text = "Inguinal hernia without obstruction or gangrene. Depression without psychotic features."
    labels = [f"{CM}:{c}" for c in ("K40.90", "K40.30", "F23", "F32.9")]
    proba = np.array([0.9, 0.5, 0.6, 0.4])
    kview = knowledge_view(CodingResult(document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
                                        suggestions=[], text=text))
    kept, p, held = hold_denied_qualifiers(labels, proba, kview, icd10cm, text)
    assert kept == [f"{CM}:K40.90", f"{CM}:F32.9"] and p.tolist() == [0.9, 0.4]
    assert set(held) == {f"{CM}:K40.30", f"{CM}:F23"} and held[f"{CM}:F23"][0] == pytest.approx(0.6)
    assert "without psychotic" in held[f"{CM}:F23"][1]
    # said elsewhere without a "without": nothing is held
    again = text + " Later a brief psychotic episode; the hernia showed obstruction."
    assert hold_denied_qualifiers(labels, proba, kview, icd10cm, again)[0] == labels
    # a clause denies its finding, not the place it names: the vein's thrombosis is not denied
    site = "Renal mass without evidence of tumor thrombus in renal vein or vena cava."
    kview = knowledge_view(CodingResult(document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
                                        suggestions=[], text=site))
    vein = [f"{CM}:I82.90"]
    assert hold_denied_qualifiers(vein, np.array([0.5]), kview, icd10cm, site)[0] == vein


def test_a_learned_generic_code_restating_a_negated_specific_one_is_held_back(icd10cm) -> None:
    """ "He denies chest pain": R07.9 negated by the rules; a learned R52 (pain NOS, which R07 documents
    more specifically) restates the denial.  With a pain the rules do support, R52 is left to the edits."""
    k = _knowledge()
    k.excluded.append(Excluded("R07.9", CM, "Chest pain, unspecified", "negated", "context:negated"))
    labels = [f"{CM}:{c}" for c in ("R52", "E11.22")]
    moved = transfer_replaced(labels, np.array([0.6, 0.8]), knowledge_view(k), icd10cm)
    assert moved.labels == [f"{CM}:E11.22"] and "specific forms" in moved.held[f"{CM}:R52"][1]
    k.suggestions.append(Suggestion("R10.9", CM, "Unspecified abdominal pain", 0.8, [_ev(0, 5)]))
    moved = transfer_replaced(labels, np.array([0.6, 0.8]), knowledge_view(k), icd10cm)
    assert f"{CM}:R52" in moved.labels
