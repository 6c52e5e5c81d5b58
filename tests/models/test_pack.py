"""Model packs: round trip, tamper evidence, refused formats, code-set releases, lineage, diff."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cac.errors import ModelPackError
from models.pack import (ALLOWED_SUFFIXES, MANIFEST, MODEL_CARD, default_pack_path, diff_packs, finalize_pack,
                         list_packs, load_pack, pack_id_of, resolve_pack, search_dirs, training_fingerprint)

CREATED = "2026-04-01T12:00:00Z"
ATTRIBUTION = "CodiEsp corpus (Miranda-Escalada et al., CLEF eHealth 2020), CC BY 4.0"
CODE_SETS = {"ICD-10-CM": "2026-04", "ICD-10-PCS": "FY2025"}
METRICS = {"diagnosis": {"map": 0.41, "micro_f1": 0.33}, "procedure": {"map": 0.2}}


@dataclass
class Gold:
    system: str
    code: str


@dataclass
class Doc:
    id: str
    text: str
    gold: list = field(default_factory=list)


DOCS = [Doc("d1", "type 2 diabetes with nephropathy", [Gold("ICD-10-CM", "E11.21")]),
        Doc("d2", "hypertension", [Gold("ICD-10-CM", "I10"), Gold("ICD-10-PCS", "0DTJ4ZZ")])]


def write_components(root: Path, weight: float = 0.5) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tfidf").mkdir(exist_ok=True)
    (root / "tfidf" / "vocab.json").write_text(json.dumps({"diabetes": 0, "hypertension": 1}))
    try:
        import numpy as np
        from safetensors.numpy import save_file
    except ImportError:
        (root / "tfidf" / "weights.json").write_text(json.dumps([[weight, 1.0]]))
    else:
        save_file({"coef": np.array([[weight, 1.0]], dtype=np.float32)}, str(root / "tfidf" / "weights.safetensors"))


def make_pack(root: Path, *, metrics: dict | None = None, parent: str | None = None, weight: float = 0.5,
              name: str = "tiny", code_sets: dict | None = None):
    write_components(root, weight)
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
                   and p.name not in (MANIFEST, MODEL_CARD))
    return finalize_pack(
        root, name=name, code_sets=code_sets or CODE_SETS,
        training_data={"fingerprint": training_fingerprint(DOCS), "corpora": ["codiesp:train"], "n_documents": len(DOCS)},
        metrics=METRICS if metrics is None else metrics,
        components={"tfidf": {"family": "tfidf-linear", "files": files, "params": {"C": 1.0, "ngram": [1, 2]}}},
        parent_pack_id=parent, license="CC BY 4.0", attribution=ATTRIBUTION,
        limits=["Trained on Spanish case reports translated to English", "No outpatient notes"], created=CREATED)


def assert_error(code: str, fn, *args, **kwargs) -> ModelPackError:
    with pytest.raises(ModelPackError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    return info.value


# --- round trip ---------------------------------------------------------------------------


def test_round_trip(tmp_path):
    pack = make_pack(tmp_path / "p")
    loaded = load_pack(tmp_path / "p")
    assert loaded.pack_id == pack.pack_id == pack_id_of(tmp_path / "p")
    assert len(loaded.pack_id) == 64
    m = loaded.manifest
    for key in ("schema", "pack_id", "parent_pack_id", "name", "created", "code_sets", "training_data", "metrics",
                "components", "environment", "license", "attribution", "cac_version", "files"):
        assert key in m
    assert m["schema"] == "cac.modelpack/1" and m["created"] == CREATED and m["parent_pack_id"] is None
    assert loaded.code_sets == CODE_SETS and loaded.metrics["diagnosis"]["map"] == 0.41
    assert {"python", "platform", "cac", "numpy", "scipy", "scikit-learn", "spacy"} <= set(m["environment"])
    assert all(set(v) == {"sha256", "size"} for v in m["files"].values())
    assert "tfidf/vocab.json" in m["files"]
    assert loaded.file("tfidf/vocab.json").read_text().startswith("{")
    assert_error("E308", loaded.file, "../outside.json")
    card = loaded.card_path.read_text()
    assert ATTRIBUTION in card and "CC BY 4.0" in card and "0.4100" in card and "diagnosis.map" in card
    assert loaded.pack_id in card and "2026-04" in card and "No outpatient notes" in card


def test_safetensors_weights_are_loadable(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    pack = load_pack(make_pack(tmp_path / "p").path)
    assert safetensors.load_file(str(pack.file("tfidf/weights.safetensors")))["coef"].shape == (1, 2)


# --- tamper evidence ------------------------------------------------------------------------


def weight_file(root: Path) -> Path:
    return next(p for p in (root / "tfidf").iterdir() if p.name.startswith("weights"))


def test_one_changed_byte_is_detected(tmp_path):
    make_pack(tmp_path / "p")
    w = weight_file(tmp_path / "p")
    data = bytearray(w.read_bytes())
    data[-1] ^= 0x01
    w.write_bytes(bytes(data))
    err = assert_error("E302", load_pack, tmp_path / "p")
    assert "failed its integrity check" in err.message and w.name in err.message


def test_unlisted_and_missing_files_are_detected(tmp_path):
    make_pack(tmp_path / "p")
    (tmp_path / "p" / "extra.json").write_text("{}")
    assert "unlisted file 'extra.json'" in assert_error("E302", load_pack, tmp_path / "p").message
    (tmp_path / "p" / "extra.json").unlink()
    load_pack(tmp_path / "p")
    (tmp_path / "p" / "tfidf" / "vocab.json").unlink()
    assert "missing file 'tfidf/vocab.json'" in assert_error("E302", load_pack, tmp_path / "p").message


def test_edited_manifest_metadata_is_detected(tmp_path):
    make_pack(tmp_path / "p")
    mf = tmp_path / "p" / MANIFEST
    m = json.loads(mf.read_text())
    m["metrics"]["diagnosis"]["map"] = 0.99
    mf.write_text(json.dumps(m))
    assert "pack_id does not match" in assert_error("E302", load_pack, tmp_path / "p").message


def test_edited_file_hash_in_manifest_is_detected(tmp_path):
    """Re-recording a tampered file's digest still breaks the pack id."""
    make_pack(tmp_path / "p")
    (tmp_path / "p" / "tfidf" / "vocab.json").write_text('{"evil": 0}')
    mf = tmp_path / "p" / MANIFEST
    m = json.loads(mf.read_text())
    from hashlib import sha256

    data = (tmp_path / "p" / "tfidf" / "vocab.json").read_bytes()
    m["files"]["tfidf/vocab.json"] = {"sha256": sha256(data).hexdigest(), "size": len(data)}
    mf.write_text(json.dumps(m))
    assert_error("E302", load_pack, tmp_path / "p")


def test_error_messages_never_carry_file_contents(tmp_path):
    make_pack(tmp_path / "p")
    (tmp_path / "p" / "tfidf" / "vocab.json").write_text('{"SECRET-PATIENT-NAME": 0}')
    assert "SECRET" not in str(assert_error("E302", load_pack, tmp_path / "p"))


@pytest.mark.parametrize("name", ["model.pkl", "model.pickle", "model.joblib", "model.pt", "w.bin", "w.npy", "README"])
def test_disallowed_files_are_refused_when_loading(tmp_path, name):
    make_pack(tmp_path / "p")
    (tmp_path / "p" / name).write_bytes(b"\x80\x04K\x01.")
    assert_error("E305", load_pack, tmp_path / "p")


def test_pickle_is_refused_when_finalizing(tmp_path):
    write_components(tmp_path / "p")
    (tmp_path / "p" / "tfidf" / "model.PKL").write_bytes(b"\x80\x04K\x01.")
    err = assert_error("E305", make_pack, tmp_path / "p")
    assert "model.PKL" in err.message and all(s in err.message for s in ALLOWED_SUFFIXES)
    assert not (tmp_path / "p" / MANIFEST).exists()


def test_symlinks_are_refused(tmp_path):
    make_pack(tmp_path / "p")
    (tmp_path / "outside.json").write_text("{}")
    (tmp_path / "p" / "link.json").symlink_to(tmp_path / "outside.json")
    assert_error("E306", load_pack, tmp_path / "p")


def test_missing_and_malformed_packs(tmp_path):
    assert_error("E301", load_pack, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert "no manifest.json" in assert_error("E304", load_pack, tmp_path / "empty").message
    (tmp_path / "empty" / MANIFEST).write_text("{not json")
    assert_error("E304", load_pack, tmp_path / "empty")
    (tmp_path / "empty" / MANIFEST).write_text(json.dumps({"schema": "cac.modelpack/99", "pack_id": "x", "files": {}}))
    assert "unknown schema" in assert_error("E304", load_pack, tmp_path / "empty").message
    assert_error("E301", finalize_pack, tmp_path / "nope", name="x", code_sets={}, training_data={}, metrics={},
                 components={})


def test_component_must_name_files_in_the_pack(tmp_path):
    write_components(tmp_path / "p")
    assert_error("E304", finalize_pack, tmp_path / "p", name="x", code_sets={}, training_data={}, metrics={},
                 components={"a": {"family": "f", "files": ["gone.safetensors"]}})


# --- code-set releases -----------------------------------------------------------------------


def test_code_set_release_mismatch(tmp_path):
    make_pack(tmp_path / "p")
    load_pack(tmp_path / "p", code_sets=dict(CODE_SETS))
    load_pack(tmp_path / "p", code_sets={"ICD-10-CM": {"FY2024", "2026-04"}, "ICD-10-PCS": ["FY2025"], "HCPCS": "2026-04"})
    err = assert_error("E303", load_pack, tmp_path / "p", code_sets={"ICD-10-CM": "FY2024", "ICD-10-PCS": "FY2025"})
    assert "ICD-10-CM 2026-04" in err.message and "ICD-10-CM FY2024" in err.message
    assert_error("E303", load_pack, tmp_path / "p", code_sets={"ICD-10-CM": "2026-04"})  # PCS not loaded
    assert load_pack(tmp_path / "p", code_sets={"ICD-10-CM": "FY2024"}, allow_release_mismatch=True).code_sets == CODE_SETS


# --- ids, lineage, fingerprints ---------------------------------------------------------------


def test_pack_id_is_deterministic_and_records_parent(tmp_path):
    a = make_pack(tmp_path / "a")
    b = make_pack(tmp_path / "b")
    assert a.pack_id == b.pack_id
    assert json.loads((tmp_path / "a" / MANIFEST).read_text()) == json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert make_pack(tmp_path / "c", weight=0.7).pack_id != a.pack_id
    child = make_pack(tmp_path / "d", parent=a.pack_id)
    assert child.pack_id != a.pack_id and load_pack(tmp_path / "d").parent_pack_id == a.pack_id
    assert a.pack_id in (tmp_path / "d" / MODEL_CARD).read_text()


def test_refinalize_is_idempotent(tmp_path):
    a = make_pack(tmp_path / "a")
    assert make_pack(tmp_path / "a").pack_id == a.pack_id


def test_training_fingerprint_is_order_independent_and_gold_sensitive():
    fp = training_fingerprint(DOCS)
    assert fp == training_fingerprint(list(reversed(DOCS)))
    reordered_gold = [DOCS[0], Doc("d2", DOCS[1].text, list(reversed(DOCS[1].gold)))]
    assert fp == training_fingerprint(reordered_gold)
    changed = [Doc("d1", DOCS[0].text, [Gold("ICD-10-CM", "E11.22")]), DOCS[1]]
    assert training_fingerprint(changed) != fp
    assert training_fingerprint([Doc("d1", DOCS[0].text + " ", DOCS[0].gold), DOCS[1]]) != fp
    assert training_fingerprint([{"id": "d1", "text": DOCS[0].text, "gold": [{"system": "ICD-10-CM", "code": "E11.21"}]},
                                 DOCS[1]]) == fp


def test_non_finite_metrics_become_null(tmp_path):
    pack = make_pack(tmp_path / "p", metrics={"diagnosis": {"map": float("nan"), "micro_f1": 0.5}})
    assert load_pack(pack.path).metrics["diagnosis"] == {"map": None, "micro_f1": 0.5}


# --- finding and comparing ---------------------------------------------------------------------


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    from cac.config import Settings

    d = tmp_path / "packs"
    d.mkdir()
    monkeypatch.setenv("CAC_MODELS_DIR", str(d))
    return d, Settings(cache_dir=tmp_path / "cache")


def test_search_list_and_resolve(models_dir):
    d, settings = models_dir
    dirs = search_dirs(settings)
    assert dirs[0].as_posix().endswith("models/packs") and dirs[1] == settings.cache_dir / "models" and dirs[2] == d
    good = make_pack(d / "good", name="good-pack")
    make_pack(d / "bad", name="bad-pack")
    (d / "bad" / "tfidf" / "vocab.json").write_text("{}")
    rows = {r["path"]: r for r in list_packs(settings)}
    g, b = rows[str(d / "good")], rows[str(d / "bad")]
    assert g["status"] == "ok" and g["pack_id"] == good.pack_id[:12] and g["pack_id_full"] == good.pack_id
    assert g["metrics"] == {"diagnosis.map": 0.41, "diagnosis.micro_f1": 0.33, "procedure.map": 0.2}
    assert g["size"] > 0 and g["code_sets"] == CODE_SETS and g["created"] == CREATED
    assert b["status"].startswith("invalid: E302") and b["name"] == "bad-pack"
    assert resolve_pack("good", settings) == d / "good"
    assert resolve_pack("good-pack", settings) == d / "good"
    assert resolve_pack(good.pack_id[:8], settings) == d / "good"
    assert resolve_pack(str(d / "good"), settings) == d / "good"
    assert_error("E301", resolve_pack, "nothing-like-it", settings)


def test_ambiguous_reference(models_dir):
    d, settings = models_dir
    make_pack(d / "one", name="same", weight=0.1)
    make_pack(d / "two", name="same", weight=0.2)
    assert_error("E307", resolve_pack, "same", settings)


def test_default_pack_path(tmp_path):
    from cac.config import Settings

    assert default_pack_path(Settings(cache_dir=tmp_path, model_pack=tmp_path)) == tmp_path
    assert_error("E301", default_pack_path, Settings(cache_dir=tmp_path, model_pack=tmp_path / "missing"))
    bundled = Path(__file__).resolve().parents[2] / "models" / "packs" / "default"
    expected = bundled if (bundled / MANIFEST).is_file() else None
    assert default_pack_path(Settings(cache_dir=tmp_path)) == expected


def test_diff_packs(tmp_path):
    a = make_pack(tmp_path / "a")
    b = make_pack(tmp_path / "b", parent=a.pack_id, weight=0.9, code_sets={"ICD-10-CM": "2026-04", "HCPCS": "2026-04"},
                  metrics={"diagnosis": {"map": 0.5, "micro_f1": 0.33}, "procedure": {"map": 0.1}, "note": "x"})
    (tmp_path / "b" / "extra.txt").write_text("notes")
    b = finalize_pack(tmp_path / "b", name="tiny2", code_sets={"ICD-10-CM": "2026-04", "HCPCS": "2026-04"},
                      training_data={**a.manifest["training_data"], "n_documents": 3, "fingerprint": "f" * 64},
                      metrics=b.metrics,
                      components={"tfidf": {**a.components["tfidf"], "params": {"C": 2.0, "ngram": [1, 2]}},
                                  "rules": {"family": "rules", "files": ["extra.txt"]}},
                      parent_pack_id=a.pack_id, created=CREATED)
    d = diff_packs(a, load_pack(b.path))
    assert d["pack_id"] == (a.pack_id, b.pack_id) and d["parent"] == (None, a.pack_id) and d["b_is_child_of_a"]
    assert d["code_sets"] == {"HCPCS": {"a": None, "b": "2026-04"}, "ICD-10-PCS": {"a": "FY2025", "b": None}}
    assert d["metrics"]["diagnosis.map"]["delta"] == pytest.approx(0.09)
    assert d["metrics"]["diagnosis.micro_f1"]["delta"] == 0
    assert d["metrics"]["procedure.map"]["delta"] == pytest.approx(-0.1) and "note" not in d["metrics"]
    assert d["components"]["added"] == ["rules"] and d["components"]["removed"] == []
    assert d["components"]["changed"]["tfidf"] == {"params.C": {"a": 1.0, "b": 2.0}}
    assert d["files"]["added"] == ["extra.txt"]
    assert d["files"]["changed"] == [weight_file(tmp_path / "b").relative_to(tmp_path / "b").as_posix()]
    assert set(d["training_data"]) == {"fingerprint", "n_documents"}
    json.dumps(d)
