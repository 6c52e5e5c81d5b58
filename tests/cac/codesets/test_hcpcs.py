"""HCPCS Level II importers: OPPS Addendum B CSV and the quarterly fixed-width file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cac.codesets.hcpcs import (
    iter_anweb_records,
    load_hcpcs_addendum_b,
    load_hcpcs_anweb,
    load_hcpcs_modifiers,
    quarter_release,
    version_from_filename,
)
from cac.errors import CodeSetError

ANWEB = "HCPC2026_APR_ANWEB_fixture.txt"


@pytest.fixture(scope="module")
def codesets(fixtures_dir: Path) -> Path:
    return fixtures_dir / "codesets"


def test_addendum_b(codesets: Path) -> None:
    cs = load_hcpcs_addendum_b(codesets / "hcpcs_addendum_b_fixture.csv")
    assert cs.system == "HCPCS" and cs.release.version == "2026-04"
    assert (cs.release.effective_from, cs.release.effective_to) == (date(2026, 4, 1), date(2026, 6, 30))
    assert len(cs) == 6
    assert cs["A4206"].title == "Syringe w/needle, 1 cc"  # quoted comma
    assert cs["G0008"].attrs["payment_rate"] == "35.50"
    assert cs["G0008"].attrs["opps_status_indicator"] == "S"
    assert not cs["Q9950"].billable and cs.is_valid("J1100") and not cs.is_valid("Q9950")


def test_addendum_b_version_override(codesets: Path) -> None:
    cs = load_hcpcs_addendum_b(codesets / "hcpcs_addendum_b_fixture.csv", version="2026-07")
    assert cs.release.version == "2026-07"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("code,short_descriptor\nA0021,x\n", "missing column"),
        ("code,short_descriptor,opps_status_indicator,payment_rate,source\n99213,x,V,,2026-04\n", "line 2"),
        ("code,short_descriptor,opps_status_indicator,payment_rate,source\n", "no code rows"),
        ("code,short_descriptor,opps_status_indicator\nA0021,x,E1\n", "pass version="),
    ],
)
def test_addendum_b_errors(tmp_path: Path, text: str, detail: str) -> None:
    path = tmp_path / "addb.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CodeSetError, match=detail) as err:
        load_hcpcs_addendum_b(path)
    assert err.value.code == "E103"


def test_quarterly_file(codesets: Path) -> None:
    cs = load_hcpcs_anweb(codesets / ANWEB)
    assert cs.release.version == "2026-04"
    assert (cs.release.effective_from, cs.release.effective_to) == (date(2026, 4, 1), date(2026, 6, 30))
    assert set(cs.codes) == {"A0021", "A4206", "E0100", "G9999", "J1100"}  # modifiers are kept apart
    assert cs["A0021"].title == "Ambulance service, outside state per mile, transport (medicaid only)"
    assert cs["A0021"].attrs["short_descriptor"] == "Outside state ambulance serv"
    assert cs["E0100"].title.endswith("with tip, continuation line of the long description")
    assert not cs["G9999"].billable  # terminated 2026-03-31, before the release
    assert cs["J1100"].billable and cs["J1100"].attrs["termination_date"] == "2026-06-30"
    assert cs["A4206"].attrs["add_date"] == "1984-01-01" and cs["A4206"].attrs["betos"] == "D1A"


def test_modifiers(codesets: Path) -> None:
    mods = load_hcpcs_modifiers(codesets / ANWEB)
    assert set(mods) == {"LT", "RT"} and mods["LT"].startswith("Left side")


def test_version_from_filename() -> None:
    assert version_from_filename(Path("HCPC2026_APR_ANWEB_v2.txt")) == "2026-04"
    assert version_from_filename(Path("HCPC2025_OCT_ANWEB.txt")) == "2025-10"
    assert version_from_filename(Path("hcpcs.txt")) is None


def test_quarter_release() -> None:
    assert quarter_release("2026-10", "x").effective_to == date(2026, 12, 31)
    with pytest.raises(CodeSetError, match="YYYY-MM"):
        quarter_release("April 2026", "x")


def test_quarterly_file_errors(tmp_path: Path, codesets: Path) -> None:
    unnamed = tmp_path / "hcpcs.txt"
    unnamed.write_text((codesets / ANWEB).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(CodeSetError, match="pass version="):
        load_hcpcs_anweb(unnamed)
    assert len(load_hcpcs_anweb(unnamed, version="2026-04")) == 5
    orphan = tmp_path / "HCPC2026_JAN_orphan.txt"
    orphan.write_text("A0021001004continuation without a first line\n", encoding="utf-8")
    with pytest.raises(CodeSetError, match="line 1: continuation"):
        list(iter_anweb_records(orphan))
    bad = tmp_path / "HCPC2026_JAN_bad.txt"
    bad.write_text("A0021001009Some text\n", encoding="utf-8")
    with pytest.raises(CodeSetError, match="record identification code '9'"):
        load_hcpcs_anweb(bad)


@pytest.mark.shared_data
def test_real_addendum_b(shared_data_dir: Path) -> None:
    folder = shared_data_dir / "hcpcs_level2_opps_addendumB_2026_04"
    cs = load_hcpcs_addendum_b(folder / "hcpcs_level2_addendumB_2026-04.csv")
    assert len(cs) == 7511 and cs.release.version == "2026-04"
    assert all(c.code[0] in "ABCDEGHJKLMPQRSTUV" for c in cs)
