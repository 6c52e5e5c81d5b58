"""The corpus data model: one :class:`Document` with its gold codes.

Every reader in :mod:`corpora` returns ``list[Document]``; every writer/exporter
takes one.  Gold codes are kept in official form (ICD-10-CM dotted, PCS upper
case without dots, see :func:`cac.codesets.model.normalize_code`) and are never
dropped: a code that is not valid in the loaded release is still gold (see
:func:`corpora.codiesp.codiesp_validity` for the report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cac.codesets.model import normalize_code

CM = "ICD-10-CM"
PCS = "ICD-10-PCS"
SYSTEMS = (CM, PCS)

Span = tuple[int, int]


def normalize(code: str, system: str) -> str:
    """Official form of ``code`` in ``system`` (a thin wrapper over cac's normaliser)."""
    return normalize_code(code, system)


_PCS_SECTIONS = set("0123456789BCDFGHX")


def infer_system(code: str) -> str:
    """Best guess of the system of a bare code (used only when none is given).

    A dot means ICD-10-CM; a leading digit, or a non-digit second character,
    means PCS (every ICD-10-CM code has a digit second); a 7-character code in a
    PCS section with a ``Z`` qualifier/device value is PCS; the rest is ICD-10-CM.
    Dot-free codes valid in both forms (``D001``) are ambiguous and read as CM.
    """
    raw = code.strip().upper().replace(" ", "")
    if "." in raw:
        return CM
    if not raw:
        return CM
    if raw[0].isdigit():
        return PCS
    if len(raw) >= 2 and not raw[1].isdigit():
        return PCS
    if len(raw) == 7 and raw[0] in _PCS_SECTIONS and "Z" in raw[3:]:
        return PCS
    return CM


FHIR_CM = "http://hl7.org/fhir/sid/icd-10-cm"
FHIR_PCS = "http://www.cms.gov/Medicare/Coding/ICD10"

_SYSTEM_ALIASES = {
    "icd10cm": CM,
    "icd10": CM,
    "cie10": CM,
    "diagnosis": CM,
    "d": CM,
    "icd10pcs": PCS,
    "pcs": PCS,
    "procedure": PCS,
    "p": PCS,
    FHIR_CM.lower(): CM,
    FHIR_PCS.lower(): PCS,
    "http://hl7.org/fhir/sid/icd-10-pcs": PCS,
    "http://www.cms.gov/medicare/coding/icd10pcs": PCS,
}


def canonical_system(value: str | None) -> str | None:
    """``ICD-10-CM``/``ICD-10-PCS`` for the usual spellings and URIs, else ``None``."""
    if not value:
        return None
    v = value.strip()
    if v in SYSTEMS:
        return v
    low = v.lower().rstrip("/")
    if low in _SYSTEM_ALIASES:
        return _SYSTEM_ALIASES[low]
    squashed = low.replace("-", "").replace("_", "").replace(" ", "")
    return _SYSTEM_ALIASES.get(squashed)


def normalize_any(code: str, system: str | None = None) -> tuple[str, str]:
    """``(official_code, system)``, inferring the system when not given or unknown."""
    sys_ = canonical_system(system) or infer_system(code)
    return normalize_code(code, sys_), sys_


@dataclass(slots=True)
class GoldCode:
    """One gold code of one document.

    ``spans`` are ``(start, end)`` character offsets of the evidence (several
    references are flattened, sorted and de-duplicated; the grouping is kept in
    ``metadata["references"]``).  ``spans_lang`` names the language of the text the
    spans index: ``None`` means the document's own ``text``; CodiEsp evidence
    indexes the Spanish original, so English CodiEsp documents carry
    ``spans_lang="es"`` and, where projected, the English sentence offsets in
    ``metadata["projected_spans"]`` (see :mod:`corpora.projection`).
    """

    code: str
    system: str = CM
    spans: list[Span] = field(default_factory=list)
    text: str | None = None
    spans_lang: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "system": self.system, "spans": [list(s) for s in self.spans]}
        if self.text is not None:
            out["text"] = self.text
        if self.spans_lang is not None:
            out["spans_lang"] = self.spans_lang
        if self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass(slots=True)
class Document:
    """A note with its gold codes (possibly none)."""

    id: str
    text: str
    lang: str = "en"
    metadata: dict[str, Any] = field(default_factory=dict)
    gold: list[GoldCode] = field(default_factory=list)

    def codes(self, system: str | None = None) -> set[str]:
        """The set of gold codes (optionally of one system)."""
        return {g.code for g in self.gold if system is None or g.system == system}

    def evidence_spans(self, gold: GoldCode) -> list[Span]:
        """Spans of ``gold`` that index *this* document's text.

        The gold's own spans when they index ``text``; projected English sentence
        spans for CodiEsp English documents; otherwise none.
        """
        if gold.spans_lang in (None, self.lang):
            return list(gold.spans)
        projected = gold.metadata.get("projected_spans") or []
        return [tuple(s) for s in projected]  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "lang": self.lang,
            "metadata": self.metadata,
            "gold": [g.to_dict() for g in self.gold],
        }


def gold_sets(documents: list[Document], system: str | None = None) -> dict[str, set[str]]:
    """``{doc_id: set(codes)}`` for evaluation (every document, even without gold)."""
    return {d.id: d.codes(system) for d in documents}
