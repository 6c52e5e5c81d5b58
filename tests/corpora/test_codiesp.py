"""CodiEsp reader and validity report (synthetic fixture in the CodiEsp layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cac.errors import CorpusError
from corpora import CM, PCS, codiesp_validity, open_corpus, read_codiesp


@pytest.fixture()
def root(fixtures_dir: Path) -> Path:
    return fixtures_dir / "corpora" / "codiesp"


@pytest.fixture()
def copy(root: Path, tmp_path: Path) -> Path:
    shutil.copytree(root, tmp_path / "codiesp")
    return tmp_path / "codiesp"


def by_id(docs):
    return {d.id: d for d in docs}


def test_reads_english_by_default_with_normalised_codes(root: Path) -> None:
    docs = by_id(read_codiesp(root, "train"))
    assert sorted(docs) == ["S0000-TEST000001-1", "S0000-TEST000002-1", "S0000-TEST000003-1"]
    d1 = docs["S0000-TEST000001-1"]
    assert d1.lang == "en"
    assert d1.text.startswith("A 45-year-old man")
    assert d1.codes(CM) == {"E11.9", "R10.9", "K80.20"}
    # PCS: upper case, no dot, 4-character stems kept as given
    assert d1.codes(PCS) == {"BW40ZZZ", "0FT4"}
    # a document without any gold is still read
    assert docs["S0000-TEST000003-1"].gold == []


def test_spanish_text_and_spans_index_it(root: Path) -> None:
    d1 = by_id(read_codiesp(root, "train", lang="es"))["S0000-TEST000001-1"]
    assert d1.lang == "es"
    g = {x.code: x for x in d1.gold}
    e11 = g["E11.9"]
    assert e11.spans_lang == "es"
    assert [d1.text[s:e] for s, e in e11.spans] == ["diabetes mellitus tipo 2"]
    # two X references for 0FT4 (one discontinuous) -> spans flattened, references kept
    assert [d1.text[s:e] for s, e in g["0FT4"].spans] == ["colecistectomía", "laparoscópica"]
    assert len(g["0FT4"].metadata["references"]) == 2
    assert g["0FT4"].metadata["sources"] == ["P", "X"]
    # Spanish documents are not projected
    assert "projected_spans" not in e11.metadata


def test_english_documents_get_projected_sentences(root: Path) -> None:
    d1 = by_id(read_codiesp(root, "train"))["S0000-TEST000001-1"]
    g = {x.code: x for x in d1.gold}
    # the Spanish spans stay (they index the Spanish text) ...
    assert g["E11.9"].spans_lang == "es"
    # ... and the English sentence holding the evidence is attached
    (s, e), = g["E11.9"].metadata["projected_spans"]
    assert d1.text[s:e] == "A 45-year-old man with type 2 diabetes mellitus."
    assert d1.evidence_spans(g["E11.9"]) == [(s, e)]
    (s, e), = g["0FT4"].metadata["projected_spans"]
    assert d1.text[s:e] == "Laparoscopic cholecystectomy was performed."
    assert g["0FT4"].metadata["projection_aligned"] is True


def test_projection_can_be_switched_off(root: Path) -> None:
    d1 = by_id(read_codiesp(root, "train", project_evidence=False))["S0000-TEST000001-1"]
    assert all("projected_spans" not in g.metadata for g in d1.gold)
    # without projection the Spanish spans do not index the English text
    assert all(d1.evidence_spans(g) == [] for g in d1.gold)


def test_validity_report_counts_and_keeps_invalid_codes(root: Path) -> None:
    docs = read_codiesp(root, "train")
    valid_cm = {"E11.9", "R10.9", "R50.9", "J18.9"}.__contains__  # K80.20 and R05 "unknown"
    valid_pcs = lambda c: len(c) == 7  # noqa: E731  stems are not valid PCS codes
    report = codiesp_validity(docs, valid_cm, valid_pcs, mark=True)
    assert report["n_documents"] == 3
    # CM: 3 + 3 gold codes, 2 invalid (K80.20, R05)
    assert report[CM]["n"] == 6 and report[CM]["invalid"] == 2
    assert report[CM]["invalid_rate"] == pytest.approx(2 / 6)
    assert sorted(c for c, _ in report[CM]["examples"]) == ["K80.20", "R05"]
    # PCS: BW40ZZZ, 0FT4, BW03ZZZ -> one stem, invalid
    assert report[PCS]["n"] == 3 and report[PCS]["invalid"] == 1 and report[PCS]["stems"] == 1
    assert report["n_gold"] == 9 and report["n_invalid"] == 3
    # nothing dropped; flags set
    assert sum(len(d.gold) for d in docs) == 9
    flags = {g.code: g.metadata["valid"] for d in docs for g in d.gold}
    assert flags["K80.20"] is False and flags["E11.9"] is True


def test_missing_split_is_e403(root: Path) -> None:
    with pytest.raises(CorpusError) as err:
        read_codiesp(root, "test")
    assert err.value.code == "E403"


def test_malformed_tsv_line_is_e402_with_line_number(copy: Path) -> None:
    path = copy / "train" / "trainD.tsv"
    lines = path.read_text().splitlines()
    lines.insert(2, "S0000-TEST000001-1 e11.9 no-tabs")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError) as err:
        read_codiesp(copy, "train")
    assert err.value.code == "E402"
    assert err.value.kwargs["line"] == 3
    assert "trainD.tsv" in str(err.value)


def test_bad_offsets_are_e402(copy: Path) -> None:
    path = copy / "train" / "trainX.tsv"
    path.write_text(path.read_text() + "S0000-TEST000001-1\tDIAGNOSTICO\te11.9\tdiabetes\tabc def\n")
    with pytest.raises(CorpusError) as err:
        read_codiesp(copy, "train")
    assert err.value.code == "E402" and err.value.kwargs["line"] == 11


def test_bad_label_is_e402(copy: Path) -> None:
    path = copy / "train" / "trainX.tsv"
    path.write_text(path.read_text() + "S0000-TEST000001-1\tOTRO\te11.9\tdiabetes\t21 29\n")
    with pytest.raises(CorpusError) as err:
        read_codiesp(copy, "train")
    assert err.value.code == "E402"


def test_gold_without_text_is_not_lost_silently(copy: Path) -> None:
    path = copy / "train" / "trainD.tsv"
    path.write_text(path.read_text() + "S9999-MISSING-1\ta00.0\n")
    with pytest.raises(CorpusError) as err:
        read_codiesp(copy, "train")
    assert err.value.code == "E402"
    assert "S9999-MISSING-1" in err.value.message


def test_x_only_code_is_kept(copy: Path) -> None:
    path = copy / "train" / "trainX.tsv"
    path.write_text(path.read_text() + "S0000-TEST000002-1\tDIAGNOSTICO\tr50.81\tfiebre\t21 27\n")
    d2 = by_id(read_codiesp(copy, "train"))["S0000-TEST000002-1"]
    assert "R50.81" in d2.codes(CM)


def test_registry_opens_codiesp(root: Path) -> None:
    docs = open_corpus("codiesp", root=root, split="train", lang="es")
    assert len(docs) == 3 and docs[0].lang == "es"


def test_registry_default_root_from_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAC_DATA_DIR", str(root.parent))
    assert len(open_corpus("codiesp", split="train")) == 3


@pytest.mark.shared_data
def test_real_codiesp_dev_counts(shared_data_dir: Path) -> None:
    """The real dev split: 250 documents, every D/P row kept (2,677 D + 817 P)."""
    docs = read_codiesp(shared_data_dir / "codiesp", "dev", lang="es")
    assert len(docs) == 250
    assert sum(len(d.codes(CM)) for d in docs) == 2677
    assert sum(len(d.codes(PCS)) for d in docs) == 817
    # X offsets index the Spanish text (SOURCE.md: all but a couple match)
    refs = [(d, r) for d in docs for g in d.gold for r in g.metadata.get("references", [])]
    ok = sum(
        " ".join(d.text[s:e] for s, e in r["spans"]).lower() == r["text"].lower() for d, r in refs
    )
    assert ok / len(refs) > 0.99
