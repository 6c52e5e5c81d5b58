"""Procedure coding inside the coder: builds the PCS coder and turns findings into hits.

The PCS coder uses the CMS Tables, Index and Definitions when the data
directory has them (cached as JSON), else the embedded FY2024 PCS titles.
HCPCS / CPT codes come from the loaded descriptor files by term overlap.  A PCS
finding whose axes are not all documented is reported as a ranked candidate
with the stem as its code, the missing axes in its rationale and the valid
completions as alternatives: cac never guesses an axis.
"""

from __future__ import annotations

from dataclasses import dataclass

from cac.pipeline.extensions import doc_text, section_record_at
from spacy.tokens import Doc

from cac.codesets.cache import cached_json, fingerprint
from cac.codesets.model import CodeSet
from cac.codesets.optional_sets import find_files
from cac.codesets.registry import CodeSets
from cac.config import Settings
from cac.suggest.hits import Hit
from cac.types import Alternative, Evidence, Excluded

INCOMPLETE_CAP = 0.45


@dataclass
class ProcedureCoders:
    pcs: object | None
    descriptors: object | None


def make_procedure_coder(code_sets: CodeSets, settings: Settings) -> ProcedureCoders:
    """The PCS coder and the HCPCS/CPT descriptor matcher for the loaded code sets."""
    from cac.codesets import icd10pcs
    from cac.suggest.procedures import DescriptorMatcher, ProcedureCoder

    cache = settings.cache_dir
    tables = index = definitions = None
    tpaths = find_files(settings.data_dir, "icd10pcs_tables_*.xml")[-1:]
    if tpaths:
        p = tpaths[0]
        tables = icd10pcs.PcsTables.from_dict(
            cached_json(cache, "pcs-tables", fingerprint([p]), lambda: icd10pcs.load_pcs_tables(p).to_dict()))
        for ip in find_files(settings.data_dir, "icd10pcs_index_*.xml")[-1:]:
            rows = cached_json(cache, "pcs-index", fingerprint([ip]),
                               lambda: [e.to_dict() for e in icd10pcs.load_pcs_index(ip)])
            index = [icd10pcs.PcsIndexEntry.from_dict(r) for r in rows]
        for dp in find_files(settings.data_dir, "icd10pcs_definitions_*.xml")[-1:]:
            definitions = icd10pcs.load_pcs_definitions(dp)
    titles = None if tables is not None else code_sets.select("ICD-10-PCS", None)
    pcs = ProcedureCoder(tables=tables, titles=titles, index=index, definitions=definitions)
    desc_sets = [cs for s in ("HCPCS", "CPT") if (cs := code_sets.newest(s)) is not None]
    descriptors = DescriptorMatcher(desc_sets) if desc_sets else None
    return ProcedureCoders(pcs=pcs, descriptors=descriptors)


def procedure_hits(coders: ProcedureCoders | None, doc: Doc, chosen: dict[str, CodeSet]
                   ) -> tuple[list[Hit], list[Excluded]]:
    """Findings of the procedure coders as hits, validated against the chosen releases, and the PCS codes
    of procedures the note mentions only as planned, past or negated (set aside by a context rule)."""
    if coders is None:
        return [], []
    findings = []
    aside = []
    if coders.pcs is not None and "ICD-10-PCS" in chosen:
        found, aside = coders.pcs.code_with_exclusions(doc)
        findings.extend(found)
    if coders.descriptors is not None:
        findings.extend(f for f in coders.descriptors(doc) if f.system in chosen)
    hits: dict[str, Hit] = {}
    text = doc_text(doc)  # spaCy rebuilds doc.text on every access
    for f in findings:
        cs = chosen.get(f.system)
        if cs is None:
            continue
        complete = getattr(f, "complete", True)
        if complete and not cs.is_valid(f.code):
            continue
        evidence = [Evidence(s, e, text[s:e], _section(doc, s)) for s, e in f.evidence]
        rationale = list(f.rationale)
        score = _score(f)
        if not complete:
            rationale.append("not coded to 7 characters: " + ", ".join(f.missing) + " not documented")
        alts = [Alternative(code=c, title=t, missing=list(f.missing)) for c, t in f.alternatives]
        hit = Hit(code=f.code, system=f.system, title=f.title, score=score, evidence=evidence,
                  rationale=rationale, matched=f.code, alternatives=alts)
        if f.code in hits:
            hits[f.code].merge(hit)
        else:
            hits[f.code] = hit
    excluded = []
    for a in aside:
        f = a.finding
        cs = chosen.get(f.system)
        if cs is None or f.code in hits or (f.complete and not cs.is_valid(f.code)):
            continue
        evidence = [Evidence(s, e, text[s:e], _section(doc, s)) for s, e in f.evidence]
        excluded.append(Excluded(f.code, f.system, f.title, a.reason, a.rule, evidence,
                                 score=_score(f)))
    return list(hits.values()), excluded


def _score(finding: object) -> float:
    """A finding's confidence; a PCS stem (axes not documented) at most :data:`INCOMPLETE_CAP`."""
    score = float(finding.confidence)  # type: ignore[attr-defined]
    return score if getattr(finding, "complete", True) else min(score, INCOMPLETE_CAP)


def _section(doc: Doc, char: int) -> str | None:
    """The name of the section holding ``char`` (the record ``doc._.section_at`` reads, without making its
    ``Section``)."""
    if Doc.has_extension("section_at"):
        record = section_record_at(doc, char)
        return record[0] if record is not None else None
    return None
