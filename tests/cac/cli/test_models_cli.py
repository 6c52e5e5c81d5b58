"""``cac models list|show|diff`` through the CLI entry point, on tiny packs in a temporary folder."""

import json

import pytest

from cac.cli import main
from tests.models.test_pack import ATTRIBUTION, make_pack


@pytest.fixture()
def packs(tmp_path, monkeypatch):
    """Two valid packs (B a child of A) and one tampered pack in $CAC_MODELS_DIR; a private cache dir."""
    from cac.config import get_settings

    d = tmp_path / "packs"
    monkeypatch.setenv("CAC_MODELS_DIR", str(d))
    monkeypatch.setenv("CAC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    a = make_pack(d / "alpha", name="alpha")
    b = make_pack(d / "beta", name="beta", parent=a.pack_id, weight=0.9,
                  metrics={"diagnosis": {"map": 0.45, "micro_f1": 0.35}, "procedure": {"map": 0.2}})
    make_pack(d / "broken", name="broken")
    (d / "broken" / "tfidf" / "vocab.json").write_text("{}")
    yield d, a, b
    get_settings.cache_clear()


def test_list_table_and_json(packs, capsys):
    d, a, b = packs
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and a.pack_id[:12] in out and "invalid: E302" in out
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["alpha"]["status"] == "ok" and rows["beta"]["pack_id_full"] == b.pack_id
    assert rows["beta"]["metrics"]["diagnosis.map"] == 0.45
    assert rows["broken"]["status"].startswith("invalid: E302")


def test_show_by_name_path_and_id_prefix(packs, capsys):
    d, a, _ = packs
    assert main(["models", "show", "alpha"]) == 0
    out = capsys.readouterr().out
    assert a.pack_id in out and "verified" in out and "MODEL_CARD.md" in out and "diagnosis.map" in out
    assert main(["models", "show", a.pack_id[:10], "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["pack_id"] == a.pack_id and manifest["attribution"] == ATTRIBUTION
    assert main(["models", "show", str(d / "alpha"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "alpha"


def test_show_errors_are_one_line(packs, capsys):
    assert main(["models", "show", "missing"]) == 2
    assert capsys.readouterr().err.startswith("error E301:")
    assert main(["models", "show", "broken"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error E302:") and "failed its integrity check" in err and err.count("\n") == 1


def test_diff_table_and_json(packs, capsys):
    _, a, b = packs
    assert main(["models", "diff", "alpha", "beta"]) == 0
    out = capsys.readouterr().out
    assert "diagnosis.map" in out and "+0.0400" in out and "B is a child of A" in out
    assert main(["models", "diff", "alpha", "beta", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["pack_id"] == [a.pack_id, b.pack_id] and d["parent"] == [None, a.pack_id]
    assert d["metrics"]["diagnosis.map"]["delta"] == pytest.approx(0.04)
    assert d["files"]["changed"]
    assert main(["models", "diff", "alpha", "broken"]) == 2
    assert capsys.readouterr().err.startswith("error E302:")
