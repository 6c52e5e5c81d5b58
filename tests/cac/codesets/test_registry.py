from datetime import date

import pytest

from cac.errors import InputError


def test_release_selection_by_date(code_sets):
    assert code_sets.select("ICD-10-CM", date(2026, 5, 1)).release.version == "2026-04"
    assert code_sets.select("ICD-10-CM", date(2024, 3, 1)).release.version == "FY2024"
    assert code_sets.select("ICD-10-CM", None).release.version == "2026-04"
    assert code_sets.select("ICD-10-CM", date(2019, 1, 1)) is None


def test_date_outside_every_release_is_an_error(code_sets):
    with pytest.raises(InputError, match="E012"):
        code_sets.for_date(date(2019, 1, 1))


def test_codes_new_in_2026_are_not_valid_in_fy2024(code_sets):
    fy24 = code_sets.select("ICD-10-CM", date(2024, 3, 1))
    new26 = code_sets.newest("ICD-10-CM")
    assert new26.is_valid("E11.A") and not fy24.is_valid("E11.A")  # E11.A added Oct 2025
    assert fy24.is_valid("E11.22")


def test_cache_round_trip(tmp_path, icd10cm):
    from cac.codesets.cache import codeset_from_json, codeset_to_json

    back = codeset_from_json(codeset_to_json(icd10cm))
    assert len(back) == len(icd10cm)
    assert back["E11"].notes == icd10cm["E11"].notes
    assert back.release == icd10cm.release
