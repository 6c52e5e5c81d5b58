from datetime import date

import pytest

from cac.codesets.icd10cm import in_ref, load_tabular, note_code_refs
from cac.codesets.model import Release, normalize_code
from cac.errors import CodeSetError

TABULAR = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.tabular><version>2099</version>
<chapter><name>19</name><desc>Injury (S00-T88)</desc>
<section id="S70-S79"><desc>Injuries to the hip and thigh (S70-S79)</desc>
<diag><name>S72</name><desc>Fracture of femur</desc>
  <excludes1><note>traumatic amputation of hip and thigh (S78.-)</note></excludes1>
  <sevenChrDef><extension char="A">initial encounter for closed fracture</extension>
  <extension char="D">subsequent encounter for closed fracture with routine healing</extension></sevenChrDef>
  <diag><name>S72.9</name><desc>Unspecified fracture of femur</desc>
    <diag><name>S72.90</name><desc>Unspecified fracture of unspecified femur</desc></diag>
  </diag>
</diag></section></chapter>
<chapter><name>4</name><desc>Endocrine (E00-E89)</desc>
<section id="E08-E13"><desc>Diabetes mellitus (E08-E13)</desc>
<diag><name>E11</name><desc>Type 2 diabetes mellitus</desc>
  <inclusionTerm><note>diabetes NOS</note></inclusionTerm>
  <diag><name>E11.9</name><desc>Type 2 diabetes mellitus without complications</desc></diag>
</diag></section></chapter>
</ICD10CM.tabular>"""


@pytest.fixture()
def tiny(tmp_path):
    p = tmp_path / "icd10cm-tabular-2099.xml"
    p.write_text(TABULAR)
    return load_tabular(p, Release("ICD-10-CM", "2099", date(2098, 10, 1), date(2099, 9, 30)))


def test_tabular_fixture_hierarchy_notes_and_seventh_characters(tiny):
    assert tiny["S72"].billable is False
    assert tiny["S72.90"].billable is False  # takes a 7th character
    assert tiny["S72.90XA"].billable and tiny["S72.90XA"].title.endswith("initial encounter for closed fracture")
    assert tiny["S72.90XD"].parent == "S72.90"
    assert tiny["E11.9"].billable and tiny["E11.9"].chapter == "4" and tiny["E11.9"].block == "E08-E13"
    assert tiny["E11"].notes["inclusion"] == ["diabetes NOS"]
    assert tiny["S72"].notes["excludes1"] == ["traumatic amputation of hip and thigh (S78.-)"]


def test_malformed_and_missing_tabular(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<ICD10CM.tabular><chapter>")
    with pytest.raises(CodeSetError, match="E103"):
        load_tabular(bad, Release("ICD-10-CM", "x", date(2020, 1, 1)))
    with pytest.raises(CodeSetError, match="E102"):
        load_tabular(tmp_path / "nope.xml", Release("ICD-10-CM", "x", date(2020, 1, 1)))


def test_embedded_release_counts_and_notes(icd10cm):
    billable = sum(1 for c in icd10cm.billable())
    assert 74_000 < billable < 75_500  # about 74.7k billable codes in April 2026
    assert icd10cm.release.version == "2026-04"
    e11 = icd10cm["E11"]
    assert any("E10" in n for n in e11.notes["excludes1"])
    assert icd10cm["E11.22"].billable and not icd10cm["E11.2"].billable
    assert "use_additional" in icd10cm["E11.22"].notes or "use_additional" in icd10cm["E11"].notes
    assert "S72.001A" in icd10cm and "S06.1X7D" not in icd10cm  # death-at-injury codes allow only A


def test_note_code_refs_and_ranges():
    assert note_code_refs("hypertensive disease (O10-O11, O13-O16)") == [("O10", "O11"), ("O13", "O16")]
    assert note_code_refs("type 1 diabetes mellitus (E10.-)") == [("E10", "E10")]
    assert in_ref("O12.04", ("O10", "O16")) and not in_ref("O20.0", ("O10", "O16"))
    assert in_ref("H35.01", ("H35.0", "H35.0"))


def test_normalize_code():
    assert normalize_code("e1122", "ICD-10-CM") == "E11.22"
    assert normalize_code(" n39.0 ", "ICD-10-CM") == "N39.0"
    assert normalize_code("0dtj4zz", "ICD-10-PCS") == "0DTJ4ZZ"
