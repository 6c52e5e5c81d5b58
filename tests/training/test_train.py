"""Training end to end on a tiny corpus in cac JSONL: pack contents, hybrid coding, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cac.errors import CorpusError
from corpora.jsonl import read_jsonl
from models.hybrid import HybridCoder
from models.pack import load_pack
from training.cli_support import load_training_corpora, parse_extra, split_dev
from training.train import TrainConfig, train_pack

CONDITIONS = [
    ("Type 2 diabetes mellitus, on metformin.", "E11.9", "ICD-10-CM"),
    ("Essential hypertension, blood pressure 160/95.", "I10", "ICD-10-CM"),
    ("Community acquired pneumonia of the right lower lobe.", "J18.9", "ICD-10-CM"),
    ("Iron deficiency anemia, hemoglobin low.", "D50.9", "ICD-10-CM"),
    ("Laparoscopic appendectomy was performed.", "0DTJ4ZZ", "ICD-10-PCS"),
]
FILLER = ["The patient was seen in clinic.", "Vital signs recorded.", "Plan reviewed with the family.",
          "She is a retired teacher.", "Follow-up in two weeks."]


def make_corpus(path: Path, n: int = 30, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            picks = sorted({i % len(CONDITIONS), int(rng.integers(len(CONDITIONS)))})
            parts = [*rng.choice(FILLER, size=2, replace=False)]
            gold = []
            for j in picks:
                sentence, code, system = CONDITIONS[j]
                start = len(" ".join(parts)) + 1
                parts.append(sentence)
                gold.append({"code": code, "system": system, "spans": [[start, start + len(sentence)]]})
            text = " ".join(parts)
            for g in gold:
                s, e = g["spans"][0]
                assert text[s:e] in [c[0] for c in CONDITIONS]
            fh.write(json.dumps({"id": f"doc{i:02d}", "text": text, "gold": gold}) + "\n")
    return path


CONFIG = TrainConfig(seed=0, n_boot=50, linear={"min_df": 1, "calibration_folds": 3, "min_calibration_positives": 3,
                                                 "max_word_features": 2000, "max_char_features": 2000, "n_jobs": 1},
                     reranker={"min_samples_leaf": 3, "max_iter": 40})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "notes.jsonl")


@pytest.fixture(scope="module")
def pack(corpus, coder, tmp_path_factory):
    train, dev = split_dev(read_jsonl(corpus), 0.3, seed=0)
    out = tmp_path_factory.mktemp("packs") / "tiny"
    return train_pack(train, dev, out, config=CONFIG, knowledge=coder, corpus_info={"corpora": [{"name": "tiny"}]},
                      name="tiny", license="test data", progress=False)


def test_pack_holds_verified_safe_components_and_metrics(pack, coder) -> None:
    again = load_pack(pack.path, code_sets=coder.code_sets.versions())
    assert again.pack_id == pack.pack_id
    assert {Path(f).suffix for f in pack.manifest["files"]} == {".json", ".safetensors"}
    assert set(pack.components) == {"linear", "neighbors", "reranker"}
    assert pack.components["reranker"]["sources"]["k_neighbors"] == CONFIG.k_neighbors
    assert pack.components["reranker"]["sources"]["hold"] == CONFIG.hold == "context"
    dev = pack.metrics["dev"]["diagnosis"]
    assert 0.0 <= dev["map"] <= 1.0 and 0.0 <= dev["threshold"] <= 1.0 and "ece_crossfit" in dev
    # the diagnosis threshold is tuned on the guideline-edited output, and the pack's reranker keeps it
    assert 0.0 <= dev["micro_f1_guideline_edits"] <= 1.0 and "threshold_before_edits" in dev
    assert pack.components["reranker"]["thresholds"]["ICD-10-CM"] == dev["threshold"]
    assert set(pack.metrics["ablation"]["diagnosis"]) == {"knowledge", "linear", "neighbors", "combined"}
    assert pack.manifest["training_data"]["n_train_documents"] == 21
    assert pack.manifest["training_data"]["fingerprint"]
    assert (pack.path / "MODEL_CARD.md").read_text().count("tiny") >= 1


def test_hybrid_coder_suggests_learned_codes_with_evidence(pack, coder) -> None:
    hybrid = HybridCoder.from_pack(pack.path, knowledge=coder)
    text = "Follow-up in two weeks. Iron deficiency anemia, hemoglobin low. Vital signs recorded."
    result = hybrid.code(text, setting="inpatient", doc_id="t1")
    assert result.model == f"cac-hybrid/{pack.pack_id[:12]}"
    ranked = [s.code for s in result.suggestions + result.candidates]
    assert "D50.9" in ranked[:3]
    top = next(s for s in result.suggestions + result.candidates if s.code == "D50.9")
    assert 0.0 <= top.confidence <= 1.0
    assert top.evidence and all(text[e.start:e.end] == e.text for e in top.evidence)
    assert any("anemia" in e.text.lower() for e in top.evidence)
    assert any(r.startswith("reranked from") for r in top.rationale)
    assert any("similar training notes" in r for r in top.rationale)  # the neighbour index voted for it
    assert [s.confidence for s in result.suggestions] == sorted((s.confidence for s in result.suggestions), reverse=True)


def test_negated_condition_is_not_suggested(pack, coder) -> None:
    hybrid = HybridCoder.from_pack(pack.path, knowledge=coder)
    result = hybrid.code("The patient denies hypertension. Vital signs recorded.", setting="inpatient")
    assert "I10" not in {s.code for s in result.suggestions}
    held = [s for s in result.candidates if s.code == "I10"]  # scored and ranked, but held back
    assert not held or (held[0].flags.get("held_back") and held[0].confidence < hybrid.reranker.threshold("ICD-10-CM"))


def test_a_planned_procedure_is_not_suggested_by_the_learned_models(pack, coder) -> None:
    hybrid = HybridCoder.from_pack(pack.path, knowledge=coder)
    done = hybrid.code("Laparoscopic appendectomy was performed.", setting="inpatient")
    assert "0DTJ4ZZ" in {s.code for s in done.suggestions}  # the tiny pack has learned it
    planned = hybrid.code("Assessment: appendicitis.\nPlan: Laparoscopic appendectomy was performed.",
                          setting="inpatient")
    assert "0DTJ4ZZ" not in {s.code for s in planned.suggestions}
    assert any(e.code == "0DTJ4ZZ" and e.rule == "context:hypothetical" for e in planned.excluded)


def test_gold_stems_follow_cac_evaluate(icd10cm) -> None:
    from evaluation.codes import gold_stems
    from training.train import dev_view

    assert gold_stems({"0DTJ", "0DTJ4ZZ"}, "ICD-10-PCS") == ["0DTJ"]
    assert gold_stems({"R05", "I10"}, "ICD-10-CM", icd10cm) == ["R05"]  # R05 is not billable in 2026
    assert gold_stems({"R05"}, "ICD-10-CM") == []  # no release: exact matching
    gold, ranked = dev_view({"d": {"R05", "I10"}, "e": set()}, {"d": [("R05.9", 0.9), ("I10", 0.5)]}, "ICD-10-CM",
                            icd10cm)
    assert set(gold) == {"d"} and ranked["d"] == [("R05", 0.9), ("I10", 0.5)]


def test_placeholder_stems_count_every_code_of_the_code_they_pad(icd10cm) -> None:
    from evaluation.codes import stem_prefix
    from evaluation.run import _prefix_harmonize
    from training.train import stem_representatives

    # T81.4XX (before FY2023) is subdivided at the placeholder's position in 2026: T81.40XA ... T81.49XA
    assert stem_prefix("T81.4XX") == "T81.4" and stem_prefix("W19.XXX") == "W19" and stem_prefix("R05") == "R05"
    assert stem_prefix("0W9GX") == "0W9GX"  # a PCS stem's X is an approach, not a placeholder
    ranked, predicted = _prefix_harmonize({"T81.4XX", "I10"}, [("T81.40XA", 0.8), ("T81.41XA", 0.3), ("I10", 0.5)],
                                          {"T81.40XA", "I10"}, ["T81.4XX"])
    assert ranked == [("T81.4XX", 0.8), ("I10", 0.5)] and predicted == {"T81.4XX", "I10"}
    labels = ["ICD-10-CM:T81.40XA", "ICD-10-CM:T81.41XA"]
    assert stem_representatives(labels, ["T81.4XX"], {}, {"T81.4XX": "T81.40XA"}.get) == {"ICD-10-CM:T81.40XA"}


def test_held_rows_follow_the_rules(coder) -> None:
    from training.train import held_rows

    r = coder.code("The patient denies hypertension. Anemia.", setting="inpatient")
    keys = [(0, "ICD-10-CM:I10"), (0, "ICD-10-CM:D64.9"), (0, "ICD-10-CM:E11.9")]
    assert held_rows(keys, [r], "context").tolist() == [True, False, False]
    assert held_rows(keys, [r], "none").tolist() == [False, False, False]


def test_train_rows_see_code_priors_counted_on_the_other_folds() -> None:
    from corpora.document import Document, GoldCode
    from training.train import out_of_fold_priors

    docs = [Document(id=f"d{i}", text="x", gold=[GoldCode("I10", "ICD-10-CM")] if i < 3 else []) for i in range(8)]
    full = {"ICD-10-CM:I10": 3, "ICD-10-CM:E11.9": 5, "ICD-10-CM:I10*": 4}
    priors = out_of_fold_priors(docs, full, folds=4, seed=0)
    assert len(priors) == 8
    for d, p in zip(docs, priors):
        assert p.get("ICD-10-CM:E11.9") == pytest.approx(5 * 4 / 3)  # no document of this corpus has it
        assert p.get("ICD-10-CM:J45.20") == 0  # unseen stays unseen
        same_fold = sum(1 for e, q in zip(docs, priors) if e.gold and q is p)  # one view per fold
        assert p.get("ICD-10-CM:I10") == pytest.approx((3 - same_fold) * 4 / 3)
        assert p.get("ICD-10-CM:I10*") == pytest.approx((4 - same_fold) * 4 / 3)  # the category key
        if d.gold:  # a gold code's count never includes the note itself
            assert same_fold >= 1 and p.get("ICD-10-CM:I10") <= 2 * 4 / 3
    with pytest.raises(ValueError):
        out_of_fold_priors(docs, full, folds=1, seed=0)


def test_final_threshold_scores_the_guideline_edited_output(pack, coder, corpus) -> None:
    from training.train import final_threshold

    hybrid = HybridCoder.from_pack(pack.path, knowledge=coder)
    docs = [d for d in read_jsonl(corpus) if any(g.system == "ICD-10-CM" for g in d.gold)][:6]
    outputs = hybrid.source_outputs([d.text for d in docs], [coder.code(d.text, top_k=60) for d in docs])
    before = hybrid.reranker.threshold("ICD-10-CM")
    t, f1 = final_threshold(hybrid, outputs, docs, "ICD-10-CM", grid=(0.2, 0.5, 0.99))
    assert t in (0.2, 0.5, 0.99, before) and 0.0 <= f1 <= 1.0
    assert hybrid.reranker.threshold("ICD-10-CM") == before  # the coder is left as it was
    # the F1 it reports is that of the threshold it chose, scored on what combine() suggests
    _, f1_again = final_threshold(hybrid, outputs, docs, "ICD-10-CM", grid=(t,))
    assert f1_again == f1


def test_training_is_reproducible(corpus, coder, pack, tmp_path) -> None:
    train, dev = split_dev(read_jsonl(corpus), 0.3, seed=0)
    again = train_pack(train, dev, tmp_path / "again", config=CONFIG, knowledge=coder,
                       corpus_info={"corpora": [{"name": "tiny"}]}, name="tiny", license="test data", progress=False)
    # the linear model and the reranker's metadata are byte-identical, and so is what the packs suggest
    # (the boosted trees have been seen to differ in rare runs of the whole suite: see the closing note)
    same = ("linear/", "neighbors/", "reranker/reranker.json")
    files_a = {k: v["sha256"] for k, v in pack.manifest["files"].items() if k.startswith(same)}
    files_b = {k: v["sha256"] for k, v in again.manifest["files"].items() if k.startswith(same)}
    assert files_a == files_b and len(files_a) == 5
    a, b = (HybridCoder.from_pack(p.path, knowledge=coder) for p in (pack, again))
    text = "Essential hypertension. Laparoscopic appendectomy was performed."
    assert a.code(text).to_dict()["suggestions"] == b.code(text).to_dict()["suggestions"]


def test_packs_train_without_the_neighbour_index(corpus, coder, tmp_path) -> None:
    from dataclasses import replace

    train, dev = split_dev(read_jsonl(corpus), 0.3, seed=0)
    plain = train_pack(train, dev, tmp_path / "plain", config=replace(CONFIG, k_neighbors=0), knowledge=coder,
                       progress=False)
    assert "neighbors" not in plain.components
    assert "neighbors" not in plain.metrics["ablation"]["diagnosis"]
    hybrid = HybridCoder.from_pack(plain.path, knowledge=coder)
    assert hybrid.neighbors is None and hybrid.k_neighbors == 0
    assert "I10" in {s.code for s in hybrid.code("Essential hypertension, blood pressure 160/95.").suggestions}


def test_output_directory_must_be_new(corpus, coder, pack) -> None:
    train, dev = split_dev(read_jsonl(corpus), 0.3, seed=0)
    with pytest.raises(FileExistsError):
        train_pack(train, dev, pack.path, config=CONFIG, knowledge=coder, progress=False)


def test_extra_corpora_join_training_but_never_dev(corpus, tmp_path) -> None:
    extra = make_corpus(tmp_path / "reviewed.jsonl", n=6, seed=1)
    train, dev, info = load_training_corpora(corpus="jsonl", root=None, path=str(corpus), dev_path=None,
                                             dev_fraction=0.3, extra=[f"jsonl:{extra}"], seed=0)
    assert len(dev) == 9
    assert len(train) == 21 + 6 - sum(d.id in {x.id for x in dev} for d in read_jsonl(extra))
    assert info["corpora"][-1] == {"name": "jsonl", "path": "reviewed.jsonl", "documents": len(train) - 21, "extra": True}


@pytest.mark.parametrize("spec", ["reviewed.jsonl", "csv:x.csv", "jsonl:"])
def test_bad_extra_spec_is_a_clear_error(spec) -> None:
    with pytest.raises(CorpusError):
        parse_extra(spec)


def test_loading_a_pack_settles_the_heap(pack, coder, monkeypatch) -> None:
    import gc

    import cac.heap

    calls = []
    monkeypatch.setattr(cac.heap, "settle", lambda: calls.append(("settled", gc.isenabled())))
    HybridCoder.from_pack(pack.path, knowledge=coder)
    assert calls == [("settled", True)]  # loaded without collections, then frozen out of gc's walks (cac.heap)


def test_one_candidate_per_older_release_stem_is_a_positive() -> None:
    from types import SimpleNamespace

    from models.features import KnowledgeInfo
    from training.train import stem_representatives

    def info(score: float, *rationale: str) -> KnowledgeInfo:
        return KnowledgeInfo(score=score, suggestion=SimpleNamespace(rationale=list(rationale)))

    labels = ["ICD-10-CM:R05.1", "ICD-10-CM:R05.2", "ICD-10-CM:R05.9", "ICD-10-CM:I10"]
    default = {"R05": "R05.9"}.get
    # the subdivision the rules found ("acute cough"), not the siblings they only listed as related
    kview = {"ICD-10-CM:R05.1": info(0.8, "term 'acute cough' -> R05.1"),
             "ICD-10-CM:R05.2": info(0.9, "related to R05.1 (same category)")}
    assert stem_representatives(labels, ["R05"], kview, default) == {"ICD-10-CM:R05.1"}
    # nothing found under the stem: its billable default
    assert stem_representatives(labels, ["R05"], {}, default) == {"ICD-10-CM:R05.9"}
    assert stem_representatives(labels[:2], ["R05"], {}, default) == set()
    assert stem_representatives(labels, [], kview, default) == set()
