"""Loaders for the code sets beyond the embedded ICD-10-CM (wired to importers below)."""

from __future__ import annotations

from typing import Callable

from cac.codesets.model import CodeSet
from cac.config import Settings


def loaders(settings: Settings) -> list[Callable[[], CodeSet | None]]:
    return []
