"""Domain types shared by every part of cac (plain dataclasses, JSON-ready)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class CodeSystem(str, Enum):
    ICD10CM = "ICD-10-CM"
    ICD10PCS = "ICD-10-PCS"
    HCPCS = "HCPCS"
    CPT = "CPT"


class Setting(str, Enum):
    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"


@dataclass(slots=True)
class Evidence:
    """A span of the note supporting a code; ``text == note[start:end]``."""

    start: int
    end: int
    text: str
    section: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Alternative:
    """A more specific code the documentation could support, and what it lacks."""

    code: str
    title: str
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Suggestion:
    code: str
    system: str
    title: str
    confidence: float
    evidence: list[Evidence] = field(default_factory=list)
    rationale: list[str] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "system": self.system,
            "title": self.title,
            "confidence": round(float(self.confidence), 4),
            "evidence": [e.to_dict() for e in self.evidence],
            "rationale": list(self.rationale),
            "alternatives": [a.to_dict() for a in self.alternatives],
            "flags": dict(self.flags),
        }


@dataclass(slots=True)
class Excluded:
    """A code a rule kept out of the suggestions, with the reason (for override)."""

    code: str
    system: str
    title: str
    reason: str
    rule: str
    evidence: list[Evidence] = field(default_factory=list)
    replaced_by: str | None = None  # the code a guideline rule reports instead (combination, more specific...)
    score: float | None = None  # the confidence the code had before the rule removed it (not serialized)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "system": self.system,
            "title": self.title,
            "reason": self.reason,
            "rule": self.rule,
            "evidence": [e.to_dict() for e in self.evidence],
            "replaced_by": self.replaced_by,
        }


@dataclass(slots=True)
class DocumentInfo:
    id: str
    sha256: str
    setting: str = Setting.OUTPATIENT.value
    date_of_service: str | None = None


@dataclass(slots=True)
class CodingResult:
    """What ``cac code`` returns for one document (schema ``cac.suggestions/1``)."""

    document: DocumentInfo
    code_sets: dict[str, str]
    model: str
    suggestions: list[Suggestion] = field(default_factory=list)
    candidates: list[Suggestion] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    text: str = ""

    SCHEMA = "cac.suggestions/1"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.SCHEMA,
            "document": {
                "id": self.document.id,
                "sha256": self.document.sha256,
                "setting": self.document.setting,
                "date_of_service": self.document.date_of_service,
            },
            "code_sets": dict(self.code_sets),
            "model": self.model,
            "suggestions": [s.to_dict() for s in self.suggestions],
            "candidates": [s.to_dict() for s in self.candidates],
            "excluded": [e.to_dict() for e in self.excluded],
        }
