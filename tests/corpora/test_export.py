"""Prodigy and Label Studio exports."""

from __future__ import annotations

import json
from pathlib import Path

from corpora import (
    CM,
    PCS,
    Document,
    GoldCode,
    label_studio_config,
    read_codiesp,
    to_label_studio,
    to_prodigy,
    write_label_studio,
    write_prodigy_jsonl,
)

TEXT = "Type 2 diabetes. Appendectomy done."


def docs() -> list[Document]:
    return [
        Document(
            "d1",
            TEXT,
            gold=[GoldCode("E11.9", CM, [(0, 15)]), GoldCode("0DTJ4ZZ", PCS, [(17, 29)]), GoldCode("I10", CM)],
        )
    ]


def test_prodigy_from_gold(tmp_path: Path) -> None:
    (task,) = to_prodigy(docs())
    assert task["text"] == TEXT and task["meta"] == {"id": "d1"} and task["answer"] == "accept"
    assert task["accept"] == ["E11.9", "0DTJ4ZZ", "I10"]
    assert [o["id"] for o in task["options"]] == ["E11.9", "0DTJ4ZZ", "I10"]
    assert task["spans"] == [
        {"start": 0, "end": 15, "label": "E11.9", "text": "Type 2 diabetes"},
        {"start": 17, "end": 29, "label": "0DTJ4ZZ", "text": "Appendectomy"},
    ]
    path = tmp_path / "p.jsonl"
    assert write_prodigy_jsonl(docs(), path) == 1
    assert json.loads(path.read_text().splitlines()[0]) == task


def test_prodigy_from_decisions_keeps_rejections() -> None:
    decisions = {
        "d1": [
            {"code": "e119", "system": "ICD-10-CM", "decision": "accept", "spans": [[0, 15]]},
            {"code": "I10", "decision": "reject"},
        ]
    }
    (task,) = to_prodigy(docs(), decisions)
    assert task["accept"] == ["E11.9"]
    assert [o["id"] for o in task["options"]] == ["E11.9", "I10"]
    assert task["meta"]["rejected"] == ["I10"]
    assert [s["label"] for s in task["spans"]] == ["E11.9"]


def test_label_studio_annotations_and_predictions(tmp_path: Path) -> None:
    (task,) = to_label_studio(docs())
    assert task["data"] == {"text": TEXT, "doc_id": "d1"}
    result = task["annotations"][0]["result"]
    labels = [r for r in result if r["type"] == "labels"]
    assert labels[0]["value"] == {"start": 0, "end": 15, "text": "Type 2 diabetes", "labels": ["E11.9"]}
    choices = [r for r in result if r["type"] == "choices"][0]
    assert choices["value"]["choices"] == ["E11.9", "0DTJ4ZZ", "I10"]

    decisions = {"d1": [{"code": "E11.9", "score": 0.8, "spans": [[0, 15]]}, {"code": "I10", "score": 0.4}]}
    (pred,) = to_label_studio(docs(), decisions, as_predictions=True)
    assert "annotations" not in pred
    assert abs(pred["predictions"][0]["score"] - 0.6) < 1e-9  # mean of 0.8 and 0.4
    assert pred["predictions"][0]["result"][0]["score"] == 0.8

    path = tmp_path / "ls.json"
    assert write_label_studio(docs(), path) == 1
    assert json.loads(path.read_text())[0]["data"]["doc_id"] == "d1"


def test_label_studio_config_escapes_values() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(label_studio_config(["E11.9", 'A"B<']))
    assert [x.get("value") for x in root.iter("Label")] == ['A"B<', "E11.9"]
    assert [x.get("value") for x in root.iter("Choice")] == ['A"B<', "E11.9"]
    assert {x.get("name") for x in root} == {"label", "text", "codes"}


def test_codiesp_english_exports_projected_sentences(fixtures_dir: Path) -> None:
    d1 = next(d for d in read_codiesp(fixtures_dir / "corpora" / "codiesp", "train") if d.id.endswith("0001-1"))
    (task,) = to_prodigy([d1])
    by_label = {s["label"]: s["text"] for s in task["spans"]}
    assert by_label["E11.9"] == "A 45-year-old man with type 2 diabetes mellitus."
