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


def test_a_key_keeps_only_its_most_recently_used_cache_files(tmp_path):
    import os

    from cac.codesets.cache import KEEP_PER_KEY, cached_json

    other = tmp_path / "lexicon-index-0123456789abcdef.json"  # another key sharing the prefix
    other.write_text("{}")
    for k in range(KEEP_PER_KEY + 2):
        fp = f"{k:016x}"
        assert cached_json(tmp_path, "lexicon", fp, lambda k=k: {"k": k}) == {"k": k}
        os.utime(tmp_path / f"lexicon-{fp}.json", (1_000 + k, 1_000 + k))  # older ones first
    assert cached_json(tmp_path, "lexicon", f"{0:016x}", lambda: {"k": "rebuilt"}) == {"k": "rebuilt"}
    kept = sorted(p.name for p in tmp_path.glob("lexicon-*.json"))
    assert other.name in kept and f"lexicon-{0:016x}.json" in kept  # just rebuilt: the newest
    assert len([n for n in kept if n != other.name]) == KEEP_PER_KEY
    assert cached_json(tmp_path, "lexicon", f"{KEEP_PER_KEY + 1:016x}", lambda: "unused") == {"k": KEEP_PER_KEY + 1}
