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
