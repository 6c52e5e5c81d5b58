"""Candidate tables: the union of every source's codes, with flags from the knowledge coder."""

from __future__ import annotations

import math

import numpy as np

from cac.types import CodingResult, DocumentInfo, Evidence, Excluded, Suggestion
from models.features import FEATURES, SourceOutputs, candidate_table, category, check_features, is_positive

TEXT = "Assessment: type 2 diabetes. No pneumonia. Mother had breast cancer."


def result() -> CodingResult:
    ev = Evidence(12, 27, TEXT[12:27], "assessment")
    return CodingResult(
        document=DocumentInfo(id="d", sha256="0" * 64), code_sets={}, model="k",
        suggestions=[Suggestion("E11.9", "ICD-10-CM", "Type 2 diabetes mellitus without complications", 0.9, [ev],
                                ["term 'type 2 diabetes' -> E11.9"])],
        candidates=[Suggestion("E11.8", "ICD-10-CM", "Type 2 diabetes mellitus with unspecified complications", 0.2,
                               [ev], ["related to E11.9 (same category)"])],
        excluded=[Excluded("J18.9", "ICD-10-CM", "Pneumonia, unspecified organism", "negated", "context:negated"),
                  Excluded("E11.65", "ICD-10-CM", "x", "Excludes1", "excludes1:E11.9")],
        text=TEXT)


def row(labels, X, label):
    return dict(zip(FEATURES, X[labels.index(label)]))


def test_union_of_sources_with_knowledge_flags() -> None:
    out = SourceOutputs(TEXT, result(), linear={"ICD-10-CM:E11.9": 0.7, "ICD-10-CM:C50.919": 0.3,
                                                "ICD-10-PCS:0DTJ4ZZ": 0.5},
                        retrieval={"ICD-10-CM:E11.9": (0.8, (12, 27)), "ICD-10-CM:E11.65": (0.6, (12, 27))})
    labels, X = candidate_table(out, "ICD-10-CM", prior={"ICD-10-CM:E11.9": 9, "ICD-10-CM:E11*": 12},
                                titles={"ICD-10-CM:J18.9": "Pneumonia, unspecified organism"}, gate="none")
    assert X.shape == (len(labels), len(FEATURES))
    assert set(labels) == {"ICD-10-CM:E11.9", "ICD-10-CM:E11.8", "ICD-10-CM:J18.9", "ICD-10-CM:E11.65",
                           "ICD-10-CM:C50.919"}  # PCS is its own table
    e119 = row(labels, X, "ICD-10-CM:E11.9")
    assert e119["k_suggested"] == 1 and e119["k_score"] == np.float32(0.9) and e119["k_sec_dx"] == 1
    assert e119["lin_p"] == np.float32(0.7) and e119["ret_rank"] == 1 and e119["n_sources"] == 3
    assert math.isclose(e119["prior_log"], math.log1p(9), rel_tol=1e-6) and e119["seen_in_training"] == 1
    e1165 = row(labels, X, "ICD-10-CM:E11.65")  # unseen code of a seen category
    assert e1165["prior_log"] == 0 and math.isclose(e1165["prior_category_log"], math.log1p(12), rel_tol=1e-6)
    j189 = row(labels, X, "ICD-10-CM:J18.9")
    assert j189["ex_negated"] == 1 and j189["ex_guideline"] == 0 and math.isnan(j189["k_score"])
    assert j189["unspecified"] == 1 and j189["n_sources"] == 0
    assert row(labels, X, "ICD-10-CM:E11.65")["ex_guideline"] == 1
    e118 = row(labels, X, "ICD-10-CM:E11.8")
    assert e118["k_sibling"] == 1 and e118["k_suggested"] == 0 and e118["k_same_category"] == 1
    assert math.isnan(row(labels, X, "ICD-10-CM:C50.919")["ret_score"])
    # share of the title's content words in the note ("organism" is a weak word): 'pneumonia'
    assert j189["title_overlap"] == np.float32(1.0)
    labels, X = candidate_table(out, "ICD-10-CM", prior={}, titles={"ICD-10-CM:E11.9": "Type 2 diabetes mellitus "
                                "without complications"}, gate="none")
    assert 0.0 < row(labels, X, "ICD-10-CM:E11.9")["title_overlap"] < 1.0  # no 'complications' in the note
    assert math.isnan(e119["title_overlap"])  # no title known


def test_neighbour_votes_add_candidates_with_score_and_rank() -> None:
    out = SourceOutputs(TEXT, result(), neighbors={"ICD-10-CM:I10": 0.6, "ICD-10-CM:E11.9": 0.3,
                                                   "ICD-10-CM:J18.9": 0.5, "ICD-10-PCS:0DTJ4ZZ": 0.4})
    labels, X = candidate_table(out, "ICD-10-CM", prior={}, gate="context")
    assert "ICD-10-CM:I10" in labels
    assert "ICD-10-CM:J18.9" not in labels  # negated by the rules: the neighbours are gated like every source
    i10, e119 = row(labels, X, "ICD-10-CM:I10"), row(labels, X, "ICD-10-CM:E11.9")
    assert i10["knn_score"] == np.float32(0.6) and i10["knn_rank"] == 1 and i10["n_sources"] == 1
    assert e119["knn_rank"] == 2 and e119["n_sources"] == 2
    assert math.isnan(row(labels, X, "ICD-10-CM:E11.8")["knn_score"])
    assert e119["knn_category"] == 0.0 and row(labels, X, "ICD-10-CM:E11.8")["knn_category"] == np.float32(0.3)


def test_empty_document_gives_an_empty_table() -> None:
    labels, X = candidate_table(SourceOutputs("x"), "ICD-10-PCS", prior={})
    assert labels == [] and X.shape == (0, len(FEATURES))


def test_targets_accept_pcs_stems_and_exact_codes() -> None:
    assert is_positive("ICD-10-PCS:0DTJ4ZZ", {"0DTJ"})
    assert is_positive("ICD-10-CM:E11.9", {"E11.9"})
    assert not is_positive("ICD-10-CM:E11.9", {"E11"})  # no prefix credit for diagnoses
    # ... unless the gold code is one the loaded release subdivides (CodiEsp's R05 "Cough" is R05.1-R05.9 now)
    assert is_positive("ICD-10-CM:R05.9", {"R05"}, stems=["R05"])
    assert not is_positive("ICD-10-CM:R06.9", {"R05"}, stems=["R05"])
    assert category("ICD-10-CM:E11.9") == "ICD-10-CM:E11"


def test_feature_list_is_checked() -> None:
    check_features(FEATURES)
    try:
        check_features(FEATURES[:-1])
    except ValueError as exc:
        assert FEATURES[-1] in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a shorter feature list was accepted")


def test_rule_exclusions_gate_the_learned_sources() -> None:
    out = SourceOutputs(TEXT, result(), linear={"ICD-10-CM:J18.9": 0.9, "ICD-10-CM:E11.65": 0.5,
                                                "ICD-10-CM:E11.9": 0.8})
    labels, _ = candidate_table(out, "ICD-10-CM", prior={}, gate="context")
    assert "ICD-10-CM:J18.9" not in labels  # negated, no supporting mention: the linear model cannot bring it back
    assert "ICD-10-CM:E11.65" in labels and "ICD-10-CM:E11.9" in labels
    labels, _ = candidate_table(out, "ICD-10-CM", prior={}, gate="all")
    assert "ICD-10-CM:E11.65" not in labels  # guideline (Excludes1) exclusions gated too
    labels, _ = candidate_table(out, "ICD-10-CM", prior={}, gate="none")
    assert {"ICD-10-CM:J18.9", "ICD-10-CM:E11.65"} <= set(labels)
    try:
        candidate_table(out, "ICD-10-CM", prior={}, gate="sometimes")
    except ValueError as exc:
        assert "gate" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an unknown gate was accepted")


def test_category_agreement_is_the_best_other_code_of_the_category() -> None:
    rng = np.random.default_rng(0)
    lin = {f"ICD-10-CM:{c}{i}": float(rng.random()) for c in ("E11.", "I10.", "J18.") for i in range(6)}
    lin["ICD-10-CM:R52"] = 0.5  # alone in its category
    labels, X = candidate_table(SourceOutputs("x", None, lin), "ICD-10-CM", prior={})
    j = FEATURES.index("lin_category_max")
    for lab, row in zip(labels, X):
        naive = max([p for o, p in lin.items() if o != lab and category(o) == category(lab)], default=0.0)
        assert abs(row[j] - naive) < 1e-6, lab


def test_category_guard_holds_back_learned_only_codes_of_a_rule_chosen_category() -> None:
    from models.features import knowledge_view
    from models.hybrid import HybridCoder

    kview = knowledge_view(result())  # the rules suggested E11.9
    labels = ["ICD-10-CM:E11.65", "ICD-10-CM:E11.9", "ICD-10-CM:I10"]
    keep, held = HybridCoder._guard_categories([0, 1, 2], labels, kview)
    assert [labels[i] for i in keep] == ["ICD-10-CM:E11.9", "ICD-10-CM:I10"]
    assert [labels[i] for i in held] == ["ICD-10-CM:E11.65"]


def test_held_back_candidates_are_seen_as_exclusions_only() -> None:
    from models.features import knowledge_view

    r = result()
    r.candidates.insert(0, Suggestion("J18.9", "ICD-10-CM", "Pneumonia, unspecified organism", 0.3, [],
                                   ["held back by a guideline rule (context:negated: negated)"],
                                   flags={"held_back": True}))
    info = knowledge_view(r)["ICD-10-CM:J18.9"]
    assert info.suggestion is None and math.isnan(info.score) and info.rules == {"context:negated"}
    assert knowledge_view(r)["ICD-10-CM:E11.8"].rank == 2  # ranks count the rules' own codes only


def test_code_position_orders_codes_by_their_place_in_the_classification() -> None:
    from models.features import code_position

    r50, r40, r60 = (code_position(c) for c in ("R50.9", "R40.20", "R60.0"))
    assert r50[0] == r40[0] == ord("R") and r40[1] < r50[1] < r60[1]
    assert code_position("0DTJ4ZZ")[0] == ord("0")
    assert code_position("R5")[0] == ord("R") and math.isnan(code_position("R5")[1])
    out = SourceOutputs(TEXT, result(), linear={"ICD-10-CM:C50.919": 0.3})
    labels, X = candidate_table(out, "ICD-10-CM", prior={}, gate="none")
    c50 = row(labels, X, "ICD-10-CM:C50.919")
    assert (c50["code_chapter"], c50["code_block"]) == code_position("C50.919")
