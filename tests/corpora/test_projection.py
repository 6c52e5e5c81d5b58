"""Spanish -> English evidence projection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpora import Document, align_sentences, project_spans, split_sentences_en, split_sentences_es
from corpora.projection import anchors
from corpora.projection_check import main as check_main
from corpora.projection_check import sample_projections


def texts(spans, text):
    return [text[s:e] for s, e in spans]


def test_spanish_splitter_keeps_abbreviations_and_initialisms() -> None:
    t = "Lo vio el Dr. Pérez. T.A. 120/80 mmHg. Potasio 3,6 mEq/l. Fiebre de 8 h. Alta.\nSegunda línea"
    assert texts(split_sentences_es(t), t) == [
        "Lo vio el Dr. Pérez.",
        "T.A. 120/80 mmHg.",
        "Potasio 3,6 mEq/l.",
        "Fiebre de 8 h.",
        "Alta.",
        "Segunda línea",
    ]


def test_spanish_splitter_needs_a_capital_or_digit_after_the_stop() -> None:
    t = "La masa mide 4.5 cm. de diámetro. ¿Dolor? No."
    assert texts(split_sentences_es(t), t) == ["La masa mide 4.5 cm. de diámetro.", "¿Dolor?", "No."]


def test_english_is_one_sentence_per_line() -> None:
    t = "First line.\n\n  Second line.  \nThird"
    assert texts(split_sentences_en(t), t) == ["First line.", "Second line.", "Third"]


def test_anchors_fold_cognates_numbers_and_punctuation() -> None:
    es = anchors("Nefrectomía izquierda: masa de 4,5 cm (TC).")
    en = anchors("Left nephrectomy: 4.5 cm mass (TC).")
    assert "~nefre" in es and "~nefre" in en
    assert es["#4.5"] == en["#4.5"] == 1
    assert es["@TC"] == en["@TC"] == 1
    assert es["!:"] == en["!:"] == 1


def test_alignment_handles_merge_split_and_noise_lines() -> None:
    es = (
        "Varón de 60 años con hipertensión arterial. Ingresa por dolor torácico.\n"
        "Se realizó un ECG que mostró fibrilación auricular. Se inició anticoagulación con heparina. "
        "Evolución favorable.\n"
    )
    # the MT merged two sentences, inserted a "1." line and split nothing else
    en = (
        "A 60-year-old man with arterial hypertension. He was admitted for chest pain.\n"
        "1.\n"
        "An ECG showed atrial fibrillation.\n"
        "Anticoagulation with heparin was started.\n"
        "Favorable evolution.\n"
    )
    al = align_sentences(es, en)
    shapes = [(len(b.es), len(b.en)) for b in al.beads]
    assert shapes == [(2, 1), (0, 1), (1, 1), (1, 1), (1, 1)]
    proj = project_spans(es, en, [(es.index("fibrilación"), es.index("fibrilación") + 11)])
    assert proj[0].sentences == [2]
    assert texts(proj[0].en_spans, en) == ["An ECG showed atrial fibrillation."]
    assert proj[0].aligned


def test_project_spans_accepts_documents_and_multi_sentence_spans() -> None:
    es = "Dolor abdominal. Se practicó apendicectomía. Alta al tercer día."
    en = "Abdominal pain.\nAppendectomy was performed.\nDischarged on the third day."
    a = es.index("Dolor")
    b = es.index("apendicectomía") + len("apendicectomía")
    out = project_spans(Document("x", es, lang="es"), Document("x", en), [(a, b), (es.index("Alta"), es.index("Alta") + 4)])
    assert out[0].sentences == [0, 1] and out[0].es_sentences == [0, 1]
    assert out[1].sentences == [2]
    assert out[0].to_dict()["en_spans"] == [[0, 15], [16, 43]]


def test_dropped_spanish_sentence_falls_back_and_is_flagged() -> None:
    es = "Paciente de 70 años con insuficiencia cardiaca. Sin alergias medicamentosas conocidas ni otros antecedentes relevantes de interés para el caso. Tratado con furosemida 40 mg."
    en = "A 70-year-old patient with heart failure.\nTreated with furosemide 40 mg."
    al = align_sentences(es, en)
    dropped = [b for b in al.beads if not b.en]
    span = (es.index("alergias"), es.index("alergias") + 8)
    (p,) = project_spans(es, en, [span])
    if dropped:  # the DP chose to drop the sentence: neighbour + flag
        assert p.aligned is False and p.sentences
    else:  # or merged it into a neighbour's bead
        assert p.sentences in ([0], [1])


def test_empty_documents() -> None:
    assert project_spans("", "", [(0, 0)])[0].sentences == []


def test_projection_check_prints_sample(fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s.json"
    rc = check_main(["--root", str(fixtures_dir / "corpora" / "codiesp"), "--split", "train", "--n", "3", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.count("ES evidence") == 3 and printed.count("EN projected") == 3
    rows = json.loads(out.read_text())
    assert len(rows) == 3 and all(r["correct"] is None for r in rows)


def test_projection_check_bad_root_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert check_main(["--root", str(tmp_path), "--split", "train", "--n", "1"]) == 1
    assert "E403" in capsys.readouterr().err


def test_sample_is_seeded(fixtures_dir: Path) -> None:
    root = fixtures_dir / "corpora" / "codiesp"
    assert sample_projections(root, "train", 4, seed=3) == sample_projections(root, "train", 4, seed=3)


def test_handcheck_record_is_complete(fixtures_dir: Path) -> None:
    data = json.loads((fixtures_dir / "corpora" / "projection_handcheck.json").read_text())
    items = data["items"]
    assert len([i for i in items if i["sample_seed"] == 2024]) == 30
    for i in items:
        assert {"doc_id", "code", "es_spans", "en_sentences", "correct"} <= set(i)
        assert isinstance(i["correct"], bool)
    agree = sum(i["correct"] for i in items) / len(items)
    assert data["summary"]["all"]["agreement"] == pytest.approx(agree)


@pytest.mark.shared_data
def test_handcheck_projections_still_hold_on_real_data(shared_data_dir: Path, fixtures_dir: Path) -> None:
    """The hand-checked sample must project to the same English sentences today."""
    data = json.loads((fixtures_dir / "corpora" / "projection_handcheck.json").read_text())
    root = shared_data_dir / "codiesp"
    for seed in (2024, 7):
        items = [i for i in data["items"] if i["sample_seed"] == seed]
        sample = sample_projections(root, "train", len(items), seed=seed)
        assert [(s["doc_id"], s["code"], s["en_sentences"]) for s in sample] == [
            (i["doc_id"], i["code"], i["en_sentences"]) for i in items
        ]
