"""Rendering a :class:`CodingResult`: JSON (``cac.suggestions/1``), FHIR R4 Bundle, text."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from cac.types import CodingResult, Suggestion

FORMATS = ("json", "fhir", "text")

SYSTEM_URIS = {
    "ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD-10-PCS": "http://www.cms.gov/Medicare/Coding/ICD10",
    "HCPCS": "urn:oid:2.16.840.1.113883.6.285",
    "CPT": "http://www.ama-assn.org/go/cpt",
}
EXT_SUGGESTION = "https://github.com/cac-coding/cac/fhir/StructureDefinition/suggestion"


def to_json(result: CodingResult, indent: bool = True) -> str:
    opts = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(result.to_dict(), option=opts).decode()


def to_fhir_dict(result: CodingResult) -> dict[str, Any]:
    """A FHIR R4 Bundle (collection) of provisional Condition / Procedure resources."""
    from fhir.resources.R4B.bundle import Bundle

    entries = []
    for s in result.suggestions:
        resource = _procedure(s, result) if s.system != "ICD-10-CM" else _condition(s, result)
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": resource})
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "meta": {"tag": [{"system": "https://github.com/cac-coding/cac", "code": result.model}]},
        "identifier": {"system": "urn:cac:document-sha256", "value": result.document.sha256},
        "entry": entries,
    }
    Bundle.model_validate(bundle)  # raises if we ever emit invalid FHIR
    return bundle


def to_fhir(result: CodingResult) -> str:
    return orjson.dumps(to_fhir_dict(result), option=orjson.OPT_INDENT_2).decode()


def _extension(s: Suggestion) -> dict[str, Any]:
    ext: list[dict[str, Any]] = [{"url": "confidence", "valueDecimal": round(float(s.confidence), 4)}]
    for e in s.evidence:
        sub = [{"url": "start", "valueInteger": e.start}, {"url": "end", "valueInteger": e.end}]
        if e.section:
            sub.append({"url": "section", "valueString": e.section})
        ext.append({"url": "evidence", "extension": sub})
    return {"url": EXT_SUGGESTION, "extension": ext}


def _coding(s: Suggestion) -> dict[str, Any]:
    return {"coding": [{"system": SYSTEM_URIS[s.system], "code": s.code, "display": s.title}], "text": s.title}


def _subject_note(result: CodingResult) -> dict[str, Any]:
    return {"display": f"document {result.document.id}"}


def _condition(s: Suggestion, result: CodingResult) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "extension": [_extension(s)],
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "provisional"}]},
        "code": _coding(s),
        "subject": _subject_note(result),
    }


def _procedure(s: Suggestion, result: CodingResult) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "extension": [_extension(s), {"url": EXT_SUGGESTION + "-status", "valueCode": "provisional"}],
        "status": "unknown",
        "code": _coding(s),
        "subject": _subject_note(result),
    }


def to_text(result: CodingResult, width: int = 110) -> str:
    """A readable table; evidence highlighted with ``«»``."""
    from io import StringIO

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    buf = StringIO()
    console = Console(file=buf, width=width, force_terminal=False, color_system=None)
    doc = result.document
    console.print(f"document {doc.id}  sha256 {doc.sha256[:16]}  setting {doc.setting}  model {result.model}")
    console.print("code sets: " + ", ".join(f"{k} {v}" for k, v in result.code_sets.items()))
    table = Table(title="Suggestions", show_lines=False)
    for col in ("code", "system", "conf", "title", "evidence"):
        table.add_column(col)
    for s in result.suggestions:
        ev = "; ".join(f"«{e.text}» ({e.section or '-'})" for e in s.evidence[:3])
        table.add_row(s.code, s.system, f"{s.confidence:.2f}", escape(s.title), escape(ev))
    console.print(table)
    if result.candidates:
        console.print("candidates: " + ", ".join(
            f"{c.code} {c.confidence:.2f}" + (" (held back)" if c.flags.get("held_back") else "")
            for c in result.candidates[:10]))
    if result.excluded:
        ex = Table(title="Excluded by rules")
        for col in ("code", "reason", "evidence"):
            ex.add_column(col)
        for e in result.excluded:
            ex.add_row(e.code, escape(e.reason), escape("; ".join(f"«{v.text}»" for v in e.evidence[:2])))
        console.print(ex)
    if result.text:
        console.print("note with evidence highlighted:")
        console.print(highlight(result.text, result.suggestions), markup=False, highlight=False)
    return buf.getvalue()


def highlight(text: str, suggestions: list[Suggestion]) -> str:
    """The note with every evidence span wrapped in ``«»``."""
    spans = sorted({(e.start, e.end) for s in suggestions for e in s.evidence})
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, pos = [], 0
    for a, b in merged:
        out.append(text[pos:a])
        out.append(f"«{text[a:b]}»")
        pos = b
    out.append(text[pos:])
    return "".join(out)
