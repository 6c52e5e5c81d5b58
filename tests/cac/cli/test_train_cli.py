"""``cac train`` / ``cac code --model`` / ``cac evaluate --model`` through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from cac.cli import main
from tests.training.test_train import make_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-train")
    corpus = make_corpus(d / "notes.jsonl", n=30)
    extra = make_corpus(d / "reviewed.jsonl", n=5, seed=3)
    out = d / "pack"
    code = main(["train", "--corpus", "jsonl", "--path", str(corpus), "--extra", f"jsonl:{extra}",
                 "--output", str(out), "--quiet", "--n-boot", "20", "--name", "cli-tiny"])
    assert code == 0
    return d, corpus, out


def test_train_writes_a_loadable_pack_with_the_extra_corpus(trained, capsys) -> None:
    _, _, out = trained
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "cli-tiny"
    assert [c.get("extra", False) for c in manifest["training_data"]["corpora"]] == [False, True]
    assert main(["models", "show", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pack_id"] == manifest["pack_id"]


def test_code_with_model_uses_the_pack(trained, capsys) -> None:
    d, _, out = trained
    note = d / "note.txt"
    note.write_text("Iron deficiency anemia, hemoglobin low. Follow-up in two weeks.", encoding="utf-8")
    assert main(["code", str(note), "--model", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert result["model"] == f"cac-hybrid/{manifest['pack_id'][:12]}"
    assert "D50.9" in [s["code"] for s in result["suggestions"] + result["candidates"]]


def test_default_pack_is_used_unless_knowledge_only(trained, capsys, monkeypatch) -> None:
    from cac.config import get_settings

    d, _, out = trained
    note = d / "note2.txt"
    note.write_text("Essential hypertension.", encoding="utf-8")
    monkeypatch.setenv("CAC_MODEL_PACK", str(out))
    get_settings.cache_clear()
    try:
        assert main(["code", str(note)]) == 0
        assert json.loads(capsys.readouterr().out)["model"].startswith("cac-hybrid/")
        assert main(["code", str(note), "--knowledge-only"]) == 0
        assert json.loads(capsys.readouterr().out)["model"].startswith("cac-knowledge/")
    finally:
        get_settings.cache_clear()


def test_evaluate_with_model_reports_the_pack(trained, capsys, tmp_path) -> None:
    _, corpus, out = trained
    report = tmp_path / "r.json"
    assert main(["evaluate", "--corpus", "jsonl", "--path", str(corpus), "--model", str(out),
                 "--n-boot", "20", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["model"].startswith("cac-hybrid/") and 0.0 <= data["map"] <= 1.0
    assert data["threshold"]["ICD-10-CM"] == json.loads((out / "manifest.json").read_text())[
        "components"]["reranker"]["thresholds"]["ICD-10-CM"]


def test_missing_or_tampered_pack_is_a_clear_error(trained, capsys, tmp_path) -> None:
    d, _, out = trained
    note = d / "note3.txt"
    note.write_text("Essential hypertension.", encoding="utf-8")
    assert main(["code", str(note), "--model", str(tmp_path / "nope")]) == 2
    assert "E301" in capsys.readouterr().err
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    (bad / "reranker" / "reranker.json").write_text((bad / "reranker" / "reranker.json").read_text().replace("0.", "0.9", 1))
    assert main(["code", str(note), "--model", str(bad)]) == 2
    assert "E302" in capsys.readouterr().err


def test_train_refuses_bad_arguments(tmp_path, capsys) -> None:
    assert main(["train", "--corpus", "jsonl", "--output", str(tmp_path / "p")]) == 2
    assert "--path" in capsys.readouterr().err
    assert main(["train", "--corpus", "jsonl", "--path", "x.jsonl", "--extra", "bogus",
                 "--output", str(tmp_path / "p")]) == 2
