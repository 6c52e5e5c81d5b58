"""Customer-supplied CPT files (fixtures hold FAKE placeholder descriptors only)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cac.codesets.cpt import cpt_category, load_cpt, version_from_filename
from cac.errors import CodeSetError


@pytest.fixture(scope="module")
def codesets(fixtures_dir: Path) -> Path:
    return fixtures_dir / "codesets"


def test_csv_with_header(codesets: Path) -> None:
    cs = load_cpt(codesets / "cpt_2026_fake.csv")
    assert cs.system == "CPT" and cs.release.version == "2026"
    assert (cs.release.effective_from, cs.release.effective_to) == (date(2026, 1, 1), date(2026, 12, 31))
    assert cs.release.source == "customer-supplied licensed file (cpt_2026_fake.csv)"
    assert len(cs) == 5
    assert cs["00001"].title == "FAKE placeholder procedure one"  # long descriptor preferred over short
    assert cs["00002"].title == "FAKE placeholder procedure two, with a comma"
    assert [cs[c].category for c in ("00001", "0000F", "0000T", "0000U")] == ["I", "II", "III", "PLA"]
    assert all(c.billable for c in cs)


def test_tsv_and_ama_layout(codesets: Path) -> None:
    tsv = load_cpt(codesets / "cpt_fake_2025.tsv")
    assert tsv.release.version == "2025" and set(tsv.codes) == {"00001", "00003"}
    ama = load_cpt(codesets / "LONGULT_fake_2026.txt")
    assert ama["00002"].title == "FAKE placeholder procedure two"  # tab separated
    assert ama["00004"].title == "FAKE placeholder procedure four, long text"  # space separated


def test_version_parameter_and_dates(codesets: Path) -> None:
    cs = load_cpt(codesets / "cpt_fake_2025.tsv", version="2025-Q3", effective_from=date(2025, 7, 1))
    assert cs.release.version == "2025-Q3" and cs.release.effective_from == date(2025, 7, 1)
    assert cs.release.effective_to is None


def test_malformed_code_names_the_line(codesets: Path) -> None:
    with pytest.raises(CodeSetError) as err:
        load_cpt(codesets / "cpt_2026_bad.csv")
    assert err.value.code == "E106"
    assert "line 3" in str(err.value) and "99X01" in str(err.value)


@pytest.mark.parametrize(
    ("name", "text", "detail"),
    [
        ("cpt_2026.csv", "", "empty"),
        ("cpt_2026.csv", "foo,bar\n1,2\n", "no header"),
        ("cpt_2026.csv", "code,description\n00001\n", "line 2: 1 column"),
        ("cpt_2026.csv", "code,description\n00001,\n", "no descriptor"),
        ("cpt.csv", "code,description\n00001,FAKE placeholder\n", "release year"),
        ("LONGULT_2026.txt", "0001 FAKE too short\n", "no header"),
    ],
)
def test_bad_files_are_e106(tmp_path: Path, name: str, text: str, detail: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CodeSetError, match=detail) as err:
        load_cpt(path)
    assert err.value.code == "E106"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CodeSetError) as err:
        load_cpt(tmp_path / "cpt_2026.csv")
    assert err.value.code == "E102"


def test_helpers() -> None:
    assert version_from_filename(Path("LONGULT_2026.txt")) == "2026"
    assert version_from_filename(Path("LONGULT.txt")) is None
    assert cpt_category("1234F") == "II" and cpt_category("12345") == "I"
