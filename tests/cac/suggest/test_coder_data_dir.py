"""The coder with a data directory (PCS Tables, HCPCS) and a customer CPT file, built from fixtures."""

import shutil

import pytest

from cac.config import Settings


@pytest.fixture(scope="module")
def data_coder(tmp_path_factory, fixtures_dir):
    from cac.codesets.registry import CodeSets
    from cac.suggest.coder import Coder

    data = tmp_path_factory.mktemp("data")
    fx = fixtures_dir / "codesets"
    shutil.copy(fx / "icd10pcs_tables_fixture.xml", data / "icd10pcs_tables_2025.xml")
    shutil.copy(fx / "hcpcs_addendum_b_fixture.csv", data / "hcpcs_level2_addendum_2026-04.csv")
    shutil.copy(fx / "cm_neoplasm_table_fixture.xml", data / "icd10cm-neoplasm-April-1-2026-XML.xml")
    settings = Settings(data_dir=data, cache_dir=tmp_path_factory.mktemp("cache"), cpt_file=fx / "cpt_2026_fake.csv")
    return Coder(settings, code_sets=CodeSets.load(settings))


def test_optional_code_sets_are_loaded(data_coder):
    releases = data_coder.code_sets.versions()
    assert releases["ICD-10-PCS"] == ["FY2024", "FY2025"]
    assert "HCPCS" in releases and "CPT" in releases
    assert data_coder.code_sets.newest("CPT").get("00001").title.startswith("FAKE")


def test_operative_report_gets_pcs_from_the_tables(data_coder):
    text = "Procedure performed: Laparoscopic appendectomy.\nThe appendix was resected."
    r = data_coder.code(text, setting="inpatient")  # no date: the newest release of each system
    pcs = [s for s in r.suggestions if s.system == "ICD-10-PCS"]
    assert [s.code for s in pcs] == ["0DTJ4ZZ"]
    assert r.code_sets["ICD-10-PCS"] == "FY2025"
    assert all(text[e.start:e.end] == e.text for e in pcs[0].evidence)


def test_undocumented_approach_is_a_stem_candidate_not_a_guess(data_coder):
    r = data_coder.code("Procedure performed: appendectomy.", setting="inpatient")
    assert not [s for s in r.suggestions if s.system == "ICD-10-PCS"]
    stems = [c for c in r.candidates if c.system == "ICD-10-PCS"]
    assert stems and len(stems[0].code) < 7 and stems[0].alternatives
    assert any("approach" in x for x in stems[0].rationale)


def test_fy2024_date_uses_fy2024_code_sets(data_coder):
    r = data_coder.code("Procedure performed: Laparoscopic appendectomy.", setting="inpatient",
                        date_of_service="2024-03-01")
    assert r.code_sets["ICD-10-PCS"] == "FY2024" and r.code_sets["ICD-10-CM"] == "FY2024"
    assert "0DTJ4ZZ" in [s.code for s in r.suggestions]


def test_no_pcs_when_no_release_covers_the_date(data_coder):
    r = data_coder.code("Procedure performed: Laparoscopic appendectomy.", setting="inpatient",
                        date_of_service="2026-05-01")
    assert "ICD-10-PCS" not in r.code_sets
    assert not [s for s in r.suggestions + r.candidates if s.system == "ICD-10-PCS"]


def test_neoplasm_table_terms_reach_the_lexicon(data_coder):
    assert any(t.source == "neoplasm" for t in data_coder.lexicon.terms)


def test_a_lymph_node_is_the_neoplasm_tables_lymph_gland(data_coder):
    # "lymph, lymphatic channel NEC - gland (secondary) - retroperitoneal": C77.2, not the unspecified C77.9
    r = data_coder.code("Retroperitoneal lymph node metastases from testicular cancer.", setting="inpatient")
    found = {s.code for s in r.suggestions}
    assert "C77.2" in found and "C77.9" not in found
