"""Code handling shared by the metrics: normalisation, categories and chapters.

Codes are compared in official form (:func:`cac.codesets.model.normalize_code`).
Where a file gives no system, it is inferred from the code's shape
(:func:`corpora.document.infer_system`); :func:`harmonize` then maps every
predicted code onto the gold spelling that has the same dot-free, upper-case
key, so ``E1122`` (a bare CSV code) and ``E11.22`` (gold) are the same code.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from corpora.document import CM, PCS, infer_system, normalize_any

_DATA = Path(__file__).parent / "data" / "icd10_chapters.json"


def code_key(code: str) -> str:
    """Dot-free, upper-case comparison key."""
    return code.strip().upper().replace(".", "").replace(" ", "")


def normalize(code: str, system: str | None = None) -> str:
    """Official form of a code (system inferred when not given)."""
    return normalize_any(code, system)[0]


def category(code: str) -> str:
    """The first three characters (ICD-10-CM category; PCS section/body system/operation)."""
    return code_key(code)[:3]


@lru_cache(maxsize=1)
def _chapters() -> dict:
    return json.loads(_DATA.read_text(encoding="utf-8"))


def chapter_table() -> list[dict[str, str]]:
    """Rows ``{"chapter", "range", "title"}`` for ICD-10-CM chapters and PCS sections."""
    data = _chapters()
    rows = [{"chapter": f"CM {c['chapter']}", "range": f"{c['start']}-{c['end']}", "title": c["title"]} for c in data["icd10cm"]]
    rows += [{"chapter": f"PCS {s['section']}", "range": s["section"], "title": s["title"]} for s in data["icd10pcs"]]
    return rows


def chapter_of(code: str, system: str | None = None) -> str:
    """``"CM 4"`` (ICD-10-CM chapter by category range), ``"PCS B"`` (PCS section) or ``"other"``."""
    key = code_key(code)
    if not key:
        return "other"
    sys_ = system or infer_system(code)
    if sys_ == PCS:
        sections = {s["section"] for s in _chapters()["icd10pcs"]}
        return f"PCS {key[0]}" if key[0] in sections else "other"
    cat = key[:3]
    for c in _chapters()["icd10cm"]:
        if c["start"] <= cat <= c["end"]:
            return f"CM {c['chapter']}"
    return "other"


def harmonize(
    gold: Mapping[str, Iterable[str]],
    *preds: Mapping[str, Iterable] | None,
) -> list[dict | None]:
    """Rewrite predicted codes onto the gold spelling with the same :func:`code_key`
    (codes unknown to gold are normalised, their system inferred).

    Each of ``preds`` is ``{doc: set[code]}`` or ``{doc: [(code, score), ...]}``
    (or ``None``); returns them in the same order and shape.
    """
    spelling: dict[str, str] = {}
    for codes in gold.values():
        for c in codes:
            spelling.setdefault(code_key(c), c)

    def spell(c: str) -> str:
        return spelling.get(code_key(c)) or normalize(c)

    out: list[dict | None] = []
    for pred in preds:
        if pred is None:
            out.append(None)
            continue
        new: dict = {}
        for doc, items in pred.items():
            if isinstance(items, (set, frozenset)):
                new[doc] = {spell(c) for c in items}
            else:
                new[doc] = [
                    (spell(it[0]), *it[1:]) if isinstance(it, (tuple, list)) else spell(it)
                    for it in items
                ]
        out.append(new)
    return out


def rank(items: Sequence) -> list[tuple[str, float]]:
    """Sort ``(code, score)`` pairs by score, highest first (ties keep input order).

    A code listed twice keeps its highest score; a bare code counts as score 1.
    """
    best: dict[str, tuple[int, float]] = {}
    for i, it in enumerate(items):
        code, sc = (it[0], float(it[1])) if isinstance(it, (tuple, list)) else (it, 1.0)
        if code not in best:
            best[code] = (i, sc)
        elif sc > best[code][1]:
            best[code] = (best[code][0], sc)
    ordered = sorted(best.items(), key=lambda kv: (-kv[1][1], kv[1][0]))
    return [(code, sc) for code, (_, sc) in ordered]


__all__ = ["CM", "PCS", "category", "chapter_of", "chapter_table", "code_key", "gold_stems", "harmonize", "normalize",
           "rank", "stem_prefix"]


def gold_stems(gold: Iterable[str], system: str, cs: Any = None) -> list[str]:
    """The gold codes a predicted code counts for when it starts with them (``--pcs-match prefix``,
    ``--cm-match release``): ICD-10-PCS stems (shorter than 7 characters); ICD-10-CM codes of an older
    release that ``cs``, the loaded release, no longer has as billable codes (none without ``cs``)."""
    if system == PCS:
        return [g for g in gold if len(g) < 7]
    return [g for g in gold if cs is not None and not cs.is_valid(g)]


def stem_prefix(stem: str) -> str:
    """What a predicted code must start with to count for a gold stem (:func:`gold_stems`): an ICD-10-CM
    stem written with placeholder X's and no 7th character counts for every code of the code the X's
    pad (T81.4XX, "Infection following a procedure" before FY2023 subdivided it at the placeholder's
    position, for T81.40XA ... T81.49XA; W19.XXX for W19.XXXA); other stems, and ICD-10-PCS stems, whose
    X is an axis value, as they are."""
    if "." not in stem or not stem.endswith("X"):
        return stem
    return stem.rstrip("X").rstrip(".")
