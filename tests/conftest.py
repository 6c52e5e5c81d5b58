"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real reference data (``CAC_DATA_DIR``); tests needing it skip when absent."""
    value = os.environ.get("CAC_DATA_DIR")
    path = Path(value) if value else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip("real reference data not available: set CAC_DATA_DIR to ../shared/data")
    return path


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory):
    """Settings with a private cache dir (the real data dir when present)."""
    from cac.config import Settings

    data = os.environ.get("CAC_DATA_DIR")
    return Settings(cache_dir=tmp_path_factory.mktemp("cac-cache"), data_dir=Path(data) if data and Path(data).is_dir() else None)


@pytest.fixture(scope="session")
def code_sets(settings):
    from cac.codesets.registry import CodeSets

    return CodeSets.load(settings)


@pytest.fixture(scope="session")
def icd10cm(code_sets):
    return code_sets.newest("ICD-10-CM")


@pytest.fixture(scope="session")
def coder(settings, code_sets):
    from cac.suggest.coder import Coder

    return Coder(settings, code_sets=code_sets)
