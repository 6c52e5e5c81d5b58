"""``cac evaluate`` and ``cac evaluate compare`` through the CLI entry point."""

import json

import pytest

from cac.cli import main


@pytest.fixture()
def files(tmp_path):
    gold = tmp_path / "gold.csv"
    gold.write_text("doc_id,code\nd1,E11.9\nd1,I10\nd2,J45.909\n")
    a = tmp_path / "a.csv"
    # d1: E11.9 (rank 1, gold), R52 (rank 2, not gold), I10 missing -> AP = (1/1)/2 = 0.5
    # d2: J45.909 at rank 1 -> AP = 1.0 ; MAP = 0.75
    a.write_text("doc_id,code,score\nd1,E11.9,0.9\nd1,R52,0.8\nd2,J45.909,0.7\n")
    b = tmp_path / "b.csv"
    b.write_text("doc_id,code,score\nd1,I10,0.9\nd2,R05.9,0.6\n")
    return tmp_path, gold, a, b


def test_predictions_against_gold_writes_headline_json(files, capsys):
    tmp, gold, a, _ = files
    out = tmp / "a.json"
    assert main(["evaluate", "--predictions", str(a), "--gold", str(gold), "--json", str(out), "--n-boot", "50"]) == 0
    rep = json.loads(out.read_text())
    for key in ("map", "micro_precision", "micro_recall", "micro_f1", "macro_f1", "p_at_8", "ece", "n_docs"):
        assert key in rep
    assert rep["map"] == pytest.approx(0.75)
    assert rep["micro_precision"] == pytest.approx(2 / 3) and rep["micro_recall"] == pytest.approx(2 / 3)
    assert len(rep["micro_f1_ci"]) == 2
    assert "map" in capsys.readouterr().out


def test_compare_two_reports_with_paired_test(files, capsys):
    tmp, gold, a, b = files
    for name, pred in (("a", a), ("b", b)):
        assert main(["evaluate", "--predictions", str(pred), "--gold", str(gold),
                     "--json", str(tmp / f"{name}.json"), "--n-boot", "50"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "compare", str(tmp / "a.json"), str(tmp / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "paired_p" in out and "delta" in out


def test_predictions_without_gold_is_a_one_line_error(files, capsys):
    _, _, a, _ = files
    assert main(["evaluate", "--predictions", str(a)]) == 2
    assert capsys.readouterr().err.startswith("error E404:")


def test_corpus_run_on_fixture(coder, fixtures_dir):
    from evaluation.run import evaluate_corpus

    rep = evaluate_corpus(coder, corpus="codiesp", root=fixtures_dir / "corpora" / "codiesp", split="train",
                          task="diagnosis", n_boot=20, progress=False)
    assert rep["n_docs"] >= 1 and 0.0 <= rep["map"] <= 1.0
    assert rep["model"] == coder.model_id and "ICD-10-CM" in rep["code_sets"]
    assert rep["lexicon"] == {"terms": len(coder.lexicon.terms), "sha256": coder.lexicon.digest()}
    assert set(rep["per_document"]["gold"]) == set(rep["per_document"]["ranked"])


def test_error_examples_carry_evidence_and_exclusion_reasons(coder, fixtures_dir):
    from evaluation.run import evaluate_corpus

    rep = evaluate_corpus(coder, corpus="codiesp", root=fixtures_dir / "corpora" / "codiesp", split="train",
                          task="diagnosis", n_boot=20, progress=False)
    ex = rep["error_examples"]
    assert set(ex) == {"false_positives", "false_negatives"}
    for row in ex["false_negatives"]:
        assert row["examples"] and {"doc_id", "gold_evidence", "cac_excluded"} <= set(row["examples"][0])
    for row in ex["false_positives"]:
        assert "evidence" in row["examples"][0] and "rationale" in row["examples"][0]


def test_gold_of_an_older_release_is_matched_by_its_subdivisions(coder, tmp_path):
    """CodiEsp-style gold "R05" (billable before FY2022) and cac's R05.x (billable now): matched by
    default (cm_match="release"), not with cm_match="exact"."""
    import json as _json

    from evaluation.run import evaluate_corpus

    corpus = tmp_path / "old.jsonl"
    corpus.write_text(_json.dumps({"id": "d1", "text": "Persistent cough for three weeks. Essential hypertension.",
                                   "gold": [{"code": "R05", "system": "ICD-10-CM"},
                                            {"code": "I10", "system": "ICD-10-CM"}]}) + "\n", encoding="utf-8")
    text = "Persistent cough for three weeks. Essential hypertension."
    suggested = {s.code for s in coder.code(text).suggestions}
    assert "I10" in suggested and any(c.startswith("R05.") for c in suggested)  # R05.3 "chronic cough"
    release = evaluate_corpus(coder, corpus="jsonl", path=corpus, task="diagnosis", n_boot=10, progress=False)
    exact = evaluate_corpus(coder, corpus="jsonl", path=corpus, task="diagnosis", n_boot=10, progress=False,
                            cm_match="exact")
    assert release["gold_not_billable_in_release"] == 1 and release["cm_match"] == "release"
    assert release["micro_recall"] == pytest.approx(1.0)
    assert exact["micro_recall"] == pytest.approx(0.5)
