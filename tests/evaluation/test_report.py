"""score(), file readers, evaluate_predictions, compare_reports and the HTML report."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import orjson
import pytest

from cac.errors import CorpusError
from corpora import CM, PCS, Document, GoldCode, write_jsonl
from evaluation import (
    HEADLINE,
    compare_reports,
    evaluate_predictions,
    read_gold,
    read_predictions,
    render_html,
    score,
)

REQUIRED = ["map", "micro_precision", "micro_recall", "micro_f1", "macro_f1", "p_at_8", "ece", "n_docs"]


def test_score_headline_values_and_intervals(gold, scored) -> None:
    r = score(gold, scored, 0.5, n_boot=200, seed=0)
    for k in REQUIRED:
        assert k in r
    for k in REQUIRED[:-1]:
        lo, hi = r[f"{k}_ci"]
        assert lo <= hi
    # hand values (see test_metrics / conftest): MAP 203/270, micro P 1/2, R 3/5, F1 6/11,
    # macro F1 2/7, P@8 5/24, ECE 4.3/9; four documents
    assert r["map"] == pytest.approx(203 / 270, abs=1e-6)
    assert (r["micro_precision"], r["micro_recall"], r["micro_f1"]) == pytest.approx((0.5, 0.6, 6 / 11), abs=1e-6)
    assert r["macro_f1"] == pytest.approx(2 / 7, abs=1e-6)
    assert r["p_at_8"] == pytest.approx(5 / 24, abs=1e-6)
    assert r["ece"] == pytest.approx(4.3 / 9, abs=1e-6)
    assert r["n_docs"] == 4 and r["n_docs_with_gold"] == 3
    assert r["n_gold_codes"] == 5 and r["n_predicted_codes"] == 6 and r["n_scored_pairs"] == 9
    assert r["threshold"] == 0.5 and r["predicted_from"] == "threshold"
    # JSON-ready
    back = json.loads(r.to_json())
    assert back["micro_f1"] == r["micro_f1"]
    assert set(HEADLINE) <= set(r.headline())


def test_score_with_sets_or_listed_codes(gold, scored, predicted) -> None:
    by_sets = score(gold, scored, predicted, n_boot=0)
    assert by_sets["micro_f1"] == pytest.approx(6 / 11, abs=1e-6) and by_sets["micro_f1_ci"] is None
    listed = score(gold, scored, None, n_boot=0)
    # every ranked code predicted: TP 5, FP 4 (E11.65, K21.9, R50.81, Z00.00), FN 0 -> 10/14
    assert listed["micro_f1"] == pytest.approx(10 / 14, abs=1e-6)
    with pytest.raises(TypeError):
        score(gold, scored, "0.5")  # type: ignore[arg-type]


def test_score_tables_and_errors(gold, scored) -> None:
    r = score(gold, scored, 0.5, n_boot=0)
    assert {row["chapter"] for row in r["per_chapter"]} == {"CM 4", "CM 9", "CM 10", "CM 18", "CM 21"}
    assert r.per_code().set_index("code").loc["I10", "tp"] == 2
    assert [e["code"] for e in r["errors"]["false_negatives"]] == ["J18.9", "R50.9"]
    assert r["curves"]["pr"]["recall"][-1] == 1.0
    assert len(r["curves"]["reliability"]) == 10


def test_score_normalises_prediction_spelling() -> None:
    r = score({"d": {"E11.22"}}, {"d": [("e1122", 0.9)]}, 0.5, n_boot=0)
    assert r["micro_f1"] == 1.0


def test_docs_only_in_predictions_are_counted_not_scored(gold, scored) -> None:
    r = score(gold, {**scored, "extra": [("A00.0", 0.9)]}, 0.5, n_boot=0)
    assert r["n_pred_docs_not_in_gold"] == 1 and r["micro_f1"] == pytest.approx(6 / 11, abs=1e-6)


# --------------------------------------------------------------------------- files

NOTE = "Type 2 diabetes. Essential hypertension. Appendectomy."


def write_gold_jsonl(path: Path) -> Path:
    docs = [
        Document(
            "n1",
            NOTE,
            gold=[GoldCode("E11.9", CM, [(0, 15)]), GoldCode("I10", CM, [(17, 39)]), GoldCode("0DTJ4ZZ", PCS, [(41, 53)])],
        ),
        Document("n2", "No findings <b>&.", gold=[GoldCode("R69", CM)]),
    ]
    write_jsonl(docs, path)
    return path


def result(doc_id: str, suggestions, candidates=()) -> dict:
    def item(code, conf, ev=None):
        return {
            "code": code,
            "system": "ICD-10-PCS" if code[0].isdigit() else "ICD-10-CM",
            "title": "",
            "confidence": conf,
            "evidence": [{"start": s, "end": e, "text": NOTE[s:e]} for s, e in (ev or [])],
        }

    return {
        "schema": "cac.suggestions/1",
        "document": {"id": doc_id, "sha256": "0" * 64},
        "suggestions": [item(*s) for s in suggestions],
        "candidates": [item(*c) for c in candidates],
        "excluded": [],
    }


def write_pred_jsonl(path: Path) -> Path:
    lines = [
        result("n1", [("e11.9", 0.9, [(0, 15)]), ("I10", 0.7, [(27, 39)])], [("0DTJ4ZZ", 0.4), ("K35.80", 0.3)]),
        result("n2", [("R52", 0.6)]),
    ]
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    return path


def test_read_predictions_jsonl(tmp_path: Path) -> None:
    p = read_predictions(write_pred_jsonl(tmp_path / "p.jsonl"))
    assert p.predicted == {"n1": {"E11.9", "I10"}, "n2": {"R52"}}
    assert [c for c, _ in p.scored["n1"]] == ["E11.9", "I10", "0DTJ4ZZ", "K35.80"]
    assert p.evidence["n1"]["I10"] == [(27, 39)]
    assert p.systems["0DTJ4ZZ"] == PCS


def test_evaluate_predictions_jsonl(tmp_path: Path) -> None:
    gold = write_gold_jsonl(tmp_path / "g.jsonl")
    pred = write_pred_jsonl(tmp_path / "p.jsonl")
    html_path = tmp_path / "r.html"
    r = evaluate_predictions(pred, gold, n_boot=100, html_path=html_path)
    # suggestions are the predictions: n1 {E11.9, I10} vs gold {E11.9, I10, 0DTJ4ZZ}; n2 {R52} vs {R69}
    # TP 2, FP 1, FN 2 -> P 2/3, R 2/4, F1 4/7
    assert (r["micro_precision"], r["micro_recall"], r["micro_f1"]) == pytest.approx((2 / 3, 0.5, 4 / 7), abs=1e-6)
    # candidates rank: n1 ranking E11.9, I10, 0DTJ4ZZ(+), K35.80 -> AP 1 ; n2 R52 only -> AP 0 ; MAP 1/2
    assert r["map"] == pytest.approx(0.5, abs=1e-6)
    # evidence: E11.9 exact; I10 predicted "hypertension" (27-39) inside gold 17-39 -> overlap only
    ev = r["evidence"]
    assert ev["span_exact"]["precision"] == pytest.approx(0.5) and ev["span_overlap"]["precision"] == pytest.approx(1.0)
    assert r["inputs"]["gold"].endswith("g.jsonl")
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    # re-deciding with a threshold uses the scores, not the file's suggestions
    r2 = evaluate_predictions(pred, gold, threshold=0.35, n_boot=0)
    assert r2["n_predicted_codes"] == 4  # E11.9, I10, 0DTJ4ZZ (n1) + R52 (n2)


def test_evaluate_predictions_csv(tmp_path: Path) -> None:
    gold = tmp_path / "g.csv"
    gold.write_text("doc_id,code\nn1,e11.9\nn1,I10\nn2,R69\n")
    pred = tmp_path / "p.csv"
    with pred.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["doc_id", "code", "score", "system"])
        w.writerows([["n1", "E119", "0.9", ""], ["n1", "K3580", "0.2", ""], ["n2", "R69", "0.8", "ICD-10-CM"]])
    r = evaluate_predictions(pred, gold, n_boot=50)
    # every listed code predicted: TP 2 (E11.9, R69), FP 1 (K35.80), FN 1 (I10): F1 = 4/6
    assert r["micro_f1"] == pytest.approx(2 / 3, abs=1e-6)
    g = read_gold(gold)
    assert g.codes == {"n1": {"E11.9", "I10"}, "n2": {"R69"}}


@pytest.mark.parametrize(
    "content,detail",
    [
        ("doc,code,score\nd,E11.9,1\n", "header"),
        ("doc_id,code,score\nd,E11.9,high\n", "line 2: score 'high'"),
        ("doc_id,code,score\nd,,0.3\n", "line 2: empty code"),
        ("doc_id,code,score\nd,E11.9,0.3,extra\n", "more fields"),
    ],
)
def test_bad_prediction_csv_is_e404(tmp_path: Path, content: str, detail: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(content)
    with pytest.raises(CorpusError) as err:
        read_predictions(path)
    assert err.value.code == "E404" and detail in err.value.message


@pytest.mark.parametrize(
    "line,detail",
    [
        ("{bad", "line 1: invalid JSON"),
        ('{"suggestions": []}', "no document id"),
        ('{"document": {"id": "a"}, "suggestions": [{"code": "E11.9"}]}', "no confidence"),
        ('{"document": {"id": "a"}, "suggestions": [{"confidence": 0.3}]}', "has no code"),
        ('{"document": {"id": "a"}, "suggestions": {}}', "not a list"),
    ],
)
def test_bad_prediction_jsonl_is_e404(tmp_path: Path, line: str, detail: str) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(CorpusError) as err:
        read_predictions(path)
    assert err.value.code == "E404" and detail in err.value.message


def test_missing_files_are_e009(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as err:
        evaluate_predictions(tmp_path / "none.csv", tmp_path / "none.csv")
    assert err.value.code == "E009"


def test_prediction_json_list_and_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "preds"  # no suffix: sniffed
    path.write_text(json.dumps([result("n1", [("E11.9", 0.9)])]))
    assert read_predictions(path).predicted == {"n1": {"E11.9"}}


# --------------------------------------------------------------------------- compare / html


def test_compare_reports(gold, scored, predicted) -> None:
    a = score(gold, scored, 0.5, n_boot=0)
    b = score(gold, scored, None, n_boot=0)
    table = compare_reports(a, b, names=("thr", "all"))
    # micro F1: 6/11 - 10/14
    assert table.loc["micro_f1", "delta"] == pytest.approx(6 / 11 - 10 / 14, abs=1e-5)
    assert list(table.columns) == ["thr", "thr_ci", "all", "all_ci", "delta"]


def test_html_is_self_contained_and_escaped(gold, scored) -> None:
    gold = {**gold, "d<5>": {"A00.0"}}
    report = score(gold, scored, 0.5, n_boot=50)
    texts = {"d1": 'Obese <script>alert("x")</script> & diabetic with pneumonia'}
    ev = {"d1": {"J18.9": [(texts["d1"].index("pneumonia"), len(texts["d1"]))]}}
    page = render_html(report, texts=texts, gold_evidence=ev, title="Eval <1>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Eval &lt;1&gt;" in page and "d&lt;5&gt;" in page
    assert '<mark class="fn">pneumonia</mark>' in page
    assert not re.search(r'src="(?!data:)', page)  # no external resources
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == 3
    assert base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for k in ("micro_f1", "map", "ece"):
        assert f">{k}<" in page


def test_concatenated_indented_cac_outputs(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(result("n1", [("E11.9", 0.9)]), indent=2) + "\n" + json.dumps(result("n2", [("R69", 0.4)]), indent=2))
    assert read_predictions(path).predicted == {"n1": {"E11.9"}, "n2": {"R69"}}
