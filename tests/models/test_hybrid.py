"""The bundled default pack on the bundled discharge summary: learned ranking, guideline-correct output.

These assertions hold whatever the trained weights are: they check the rules the
hybrid coder applies after the reranker (:mod:`models.guideline_edits`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cac.codesets.icd10cm import in_ref
from cac.suggest import guidelines
from models.hybrid import HybridCoder
from models.pack import PACKAGE_PACKS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "discharge_summary.txt"


@pytest.fixture(scope="module")
def hybrid(coder):
    return HybridCoder.from_pack(PACKAGE_PACKS / "default", coder)


@pytest.fixture(scope="module")
def result(hybrid):
    return hybrid.code(EXAMPLE.read_text(encoding="utf-8"), setting="inpatient", top_k=40)


def _codes(items, system="ICD-10-CM"):
    return {s.code for s in items if s.system == system}


def test_combination_codes_and_documented_diagnoses(result) -> None:
    dx = _codes(result.suggestions)
    # "Type 2 diabetes mellitus with diabetic chronic kidney disease": the combination code, not E11.9
    assert "E11.22" in dx and not dx & {"E11.9", "E11.8"}
    # "Hypertensive heart and chronic kidney disease" with heart failure: I13.0, never I10 beside it
    assert "I13.0" in dx and "I10" not in dx
    # listed under "Discharge diagnoses": coded whatever the training corpus's habits
    assert "I50.23" in dx
    # CKD stage 3 is documented: the staged code, not N18.9
    assert "N18.9" not in dx and any(c.startswith("N18.3") for c in dx)
    assert "R69" not in dx


def test_negated_and_hypothetical_findings_are_not_suggested(result) -> None:
    assert not _codes(result.suggestions) & {"R07.9", "R50.9", "R05.9", "R05", "I21.9", "J18.9", "R55"}


def test_every_suggestion_is_billable_and_no_excludes1_pair(result, icd10cm) -> None:
    dx = _codes(result.suggestions)
    assert all(icd10cm.is_valid(c) for c in dx)
    for code in dx:
        for _, ref in guidelines.excludes1_refs(icd10cm, code):
            clash = [o for o in dx if o != code and o[0] == ref[0][0] and in_ref(o, ref)]
            assert not clash, (code, clash)


def test_removed_codes_are_explained_and_still_rankable(hybrid, result) -> None:
    held = [s for s in result.candidates if s.flags.get("held_back")]
    assert held and all("held back by a guideline rule" in s.rationale[-1] for s in held)
    assert all(s.confidence < hybrid.reranker.threshold(s.system) for s in held)
    assert not {s.code for s in held} & {s.code for s in result.suggestions}
    excluded = {e.code: e for e in result.excluded}
    assert excluded["E11.9"].replaced_by == "E11.22"


def test_outpatient_visit_follows_the_outpatient_rules(hybrid) -> None:
    text = (EXAMPLE.parent / "outpatient_visit.txt").read_text(encoding="utf-8")
    dx = _codes(hybrid.code(text, setting="outpatient").suggestions)
    # "No nausea, vomiting or diarrhea": nothing of R11 / R19.7, whatever the linear model proposes
    assert not any(c.startswith(("R11", "R19.7")) for c in dx)
    # "Suspected pneumonia" / "bronchitis versus pneumonia" in an outpatient visit: not coded as established
    assert not any(c.startswith(("J18", "J20")) for c in dx)


def test_operative_report_combination_code_absorbs_its_parts(hybrid) -> None:
    text = (EXAMPLE.parent / "operative_report.txt").read_text(encoding="utf-8")
    result = hybrid.code(text, setting="inpatient")
    dx = _codes(result.suggestions)
    assert any(c.startswith("K35.3") for c in dx) and "K65.9" not in dx  # appendicitis with localized peritonitis
    assert "0DTJ4ZZ" in _codes(result.suggestions + result.candidates, "ICD-10-PCS")


def test_negated_findings_rank_as_held_back_candidates_with_their_mention(hybrid, result) -> None:
    """The pack scores what the assertion rules excluded (so it ranks), but never suggests it."""
    assert hybrid.hold == "context"
    text = result.text
    held = {s.code: s for s in result.candidates if s.flags.get("held_back")}
    negated = {e.code for e in result.excluded if e.rule == "context:negated"}
    assert negated & set(held)
    for code in negated & set(held):
        s = held[code]
        assert "context:negated" in s.rationale[-1]
        assert s.confidence < hybrid.reranker.threshold(s.system)
        assert s.evidence and all(text[e.start:e.end] == e.text for e in s.evidence)


def test_unknown_hold_is_refused(hybrid) -> None:
    with pytest.raises(ValueError, match="hold"):
        HybridCoder(hybrid.knowledge, hybrid.linear, hybrid.reranker, hold="sometimes")


def test_a_learned_stem_is_not_suggested_beside_the_code_that_completes_it() -> None:
    from cac.types import Suggestion
    from models.hybrid import _drop_covered_stems

    stem = Suggestion("0FT4", "ICD-10-PCS", "(incomplete ICD-10-PCS code)", 0.66, flags={"incomplete": True})
    other = Suggestion("0DTJ", "ICD-10-PCS", "(incomplete ICD-10-PCS code)", 0.5, flags={"incomplete": True})
    full = Suggestion("0FT44ZZ", "ICD-10-PCS", "Resection of Gallbladder, Percutaneous Endoscopic Approach", 0.69)
    assert _drop_covered_stems([full, stem, other]) == [full, other]
    assert _drop_covered_stems([stem, other]) == [stem, other]


def test_a_learned_stem_of_a_planned_procedure_is_held_back() -> None:
    from cac.types import CodingResult, DocumentInfo, Excluded
    from models.features import knowledge_view
    from models.hybrid import _set_aside_procedures, _stem_of_set_aside

    k = CodingResult(document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
                     excluded=[Excluded("B030ZZZ", "ICD-10-PCS", "MRI of Brain", "planned (plan section)",
                                        "context:hypothetical")])
    kview = knowledge_view(k)
    aside = _set_aside_procedures(kview)
    assert _stem_of_set_aside("ICD-10-PCS:B030", kview, aside).code == "B030ZZZ"
    assert _stem_of_set_aside("ICD-10-PCS:0DTJ", kview, aside) is None
    assert _stem_of_set_aside("ICD-10-CM:B03", kview, aside) is None
