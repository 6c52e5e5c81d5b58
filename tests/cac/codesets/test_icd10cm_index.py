"""CDC ICD-10-CM index XML family: Alphabetic Index, Neoplasm and Drug Tables, External Cause Index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cac.codesets.icd10cm_index import (
    IndexEntry,
    find_index_files,
    iter_index,
    load_alphabetic_index,
    load_drug_table,
    load_external_cause_index,
    load_neoplasm_table,
    split_code,
)
from cac.errors import CodeSetError


@pytest.fixture(scope="module")
def codesets(fixtures_dir: Path) -> Path:
    return fixtures_dir / "codesets"


def _by_path(entries: list[IndexEntry]) -> dict[tuple[str, ...], IndexEntry]:
    return {e.path: e for e in entries}


def test_alphabetic_index(codesets: Path) -> None:
    entries = load_alphabetic_index(codesets / "cm_index_table_fixture.xml")
    assert len(entries) == 15
    terms = _by_path(entries)
    abasia = terms[("Abasia",)]
    assert abasia.nemod == ["-astasia", "hysterical"] and abasia.code == "F44.4" and abasia.level == 0
    assert terms[("Abdomen, abdominal",)].see_also == "condition"
    assert terms[("Abdomen, abdominal",)].code is None
    assert terms[("Abandonment",)].see == "Maltreatment"
    deep = terms[("Appendicitis", "with", "perforation NOS")]
    assert deep.code == "K35.32" and deep.level == 2 and deep.table == "index"
    assert terms[("Appendicitis", "acute")].nemod == ["catarrhal", "fulminating"]
    type2 = terms[("Diabetes, diabetic", "type 2")]
    assert (type2.code, type2.incomplete) == ("E11", True)
    femur = terms[("Fracture, traumatic", "femur, femoral")]
    assert (femur.code, femur.incomplete) == ("S72.9", True)


def test_neoplasm_table_cells_by_heading(codesets: Path) -> None:
    entries = load_neoplasm_table(codesets / "cm_neoplasm_table_fixture.xml")
    terms = _by_path(entries)
    top = terms[("Neoplasm, neoplastic",)]
    assert top.cells["Malignant Primary"] == "C80.1" and top.table == "neoplasm"
    abdomen = terms[("Neoplasm, neoplastic", "abdomen, abdominal")]
    assert abdomen.cells["Malignant Secondary"] == "C79.8-"
    assert abdomen.cell_code("Malignant Secondary") == ("C79.8", True)
    assert abdomen.cell_code("Benign") == ("D36.7", False)
    tissue = terms[("Neoplasm, neoplastic", "abdomen, abdominal", "wall", "connective tissue")]
    assert "Ca in situ" not in tissue.cells and tissue.cell_code("Ca in situ") is None  # "-" = no code
    assert terms[("Neoplasm, neoplastic", "abdomen, abdominal", "wall")].see_also == "Neoplasm, abdomen, wall, skin"
    assert terms[("Neoplasm, neoplastic", "accessory sinus")].see == "Neoplasm, sinus"


def test_drug_table(codesets: Path) -> None:
    terms = _by_path(load_drug_table(codesets / "cm_drug_table_fixture.xml"))
    d24 = terms[("2,4-D",)]
    assert d24.nemod == ["dichlorophen-oxyacetic acid"]
    assert d24.cells == {
        "Poisoning Accidental (unintentional)": "T60.3X1",
        "Poisoning Intentional self-harm": "T60.3X2",
        "Poisoning Assault": "T60.3X3",
        "Poisoning Undetermined": "T60.3X4",
    }
    assert terms[("Acetaminophen",)].cells["Underdosing"] == "T39.1X6"
    assert terms[("Acetylsalicylic acid",)].see == "Aspirin"


def test_external_cause_index(codesets: Path) -> None:
    terms = _by_path(load_external_cause_index(codesets / "cm_eindex_table_fixture.xml"))
    abandonment = terms[("Abandonment NEC",)]  # text after the nonessential modifiers stays in the title
    assert abandonment.nemod == ["causing exposure to weather conditions", "with intent to injure or kill"]
    assert terms[("Accident", "aircraft")].see_also == "Accident, transport, aircraft"
    assert (terms[("Accident", "lightning")].code, terms[("Accident", "lightning")].incomplete) == ("T75.0", True)
    assert (terms[("Strangulation",)].code, terms[("Strangulation",)].incomplete) == ("T71", True)


def test_entry_round_trips_through_json(codesets: Path) -> None:
    for entry in iter_index(codesets / "cm_neoplasm_table_fixture.xml", "neoplasm"):
        assert IndexEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


def test_split_code() -> None:
    assert split_code("C79.8-") == ("C79.8", True)
    assert split_code("E11.-") == ("E11", True)
    assert split_code(" K35.80 ") == ("K35.80", False)


def test_find_index_files_picks_the_newest(tmp_path: Path, codesets: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    # The fixtures are named *_fixture.xml; copies get the CDC names the finder looks for.
    for table in ("drug", "index"):
        shutil.copy(codesets / f"cm_{table}_table_fixture.xml", tmp_path / "a" / "b" / f"icd10cm-{table}-April-1-2026-XML.xml")
    shutil.copy(codesets / "cm_drug_table_fixture.xml", tmp_path / "icd10cm-drug-October-1-2025-XML.xml")
    (tmp_path / "icd10cm-tabular-April-1-2026.xml").write_text("<x/>", encoding="utf-8")
    found = find_index_files(tmp_path)
    assert set(found) == {"drug", "index"}
    assert found["drug"].name == "icd10cm-drug-April-1-2026-XML.xml"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(CodeSetError) as err:
        find_index_files(tmp_path / "missing")
    assert err.value.code == "E105"
    with pytest.raises(CodeSetError) as err:
        load_drug_table(tmp_path / "missing.xml")
    assert err.value.code == "E102"
    bad = tmp_path / "bad.xml"
    bad.write_text("<ICD10CM.index><letter><mainTerm><title>x</title>", encoding="utf-8")
    with pytest.raises(CodeSetError) as err:
        load_alphabetic_index(bad)
    assert err.value.code == "E103"
    wrong = tmp_path / "wrong.xml"
    wrong.write_text("<ICD10CM.tabular/>", encoding="utf-8")
    with pytest.raises(CodeSetError, match="root element"):
        load_alphabetic_index(wrong)
    with pytest.raises(CodeSetError) as err:
        list(iter_index(wrong, "tabular"))
    assert err.value.code == "E010"


@pytest.mark.shared_data
def test_real_index_tables(shared_data_dir: Path) -> None:
    found = find_index_files(shared_data_dir)
    assert {"drug", "neoplasm", "eindex"} <= set(found)
    drug = load_drug_table(found["drug"])
    neoplasm = load_neoplasm_table(found["neoplasm"])
    eindex = load_external_cause_index(found["eindex"])
    assert (len(drug), len(neoplasm), len(eindex)) == (7430, 1940, 8090)
    assert sum(len(e.cells) for e in drug) == 40036
    assert sum(e.code is not None for e in eindex) == 6686
    assert _by_path(neoplasm)[("Neoplasm, neoplastic",)].cells["Malignant Primary"] == "C80.1"


def test_essential_words_inside_nemod_stay_in_the_title() -> None:
    import xml.etree.ElementTree as ET

    from cac.codesets.icd10cm_index import _title

    # the CDC Neoplasm Table prints the site "cystic duct" as cystic<nemod>(bile) duct (common)</nemod>
    title, nemod = _title(ET.fromstring("<title>cystic<nemod>(bile) duct (common)</nemod></title>"))
    assert title == "cystic duct" and nemod == ["bile", "common"]
    title, nemod = _title(ET.fromstring("<title>Abdomen<nemod>(wall)</nemod></title>"))
    assert title == "Abdomen" and nemod == ["wall"]
