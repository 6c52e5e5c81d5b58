"""Knowledge-only confidence of a mention -> code candidate.

A transparent heuristic in [0, 1] from how the term was found: its source
(Index supplement, Tabular title, inclusion term...), how many tokens it has,
how compact the match is, generic one-word terms, and the section.  Learned
calibration (model packs) replaces it when a pack is loaded.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TypeVar

from cac.lexicon.build import Term, lexicon_rules

#: A code a rule held back ranks at most this fraction of the recommendation threshold.
HELD_CAP = 0.98

_P = TypeVar("_P")

SECTION_FACTOR = {
    "diagnoses": 1.12, "assessment": 1.1, "assessment_and_plan": 1.1, "impression": 1.1,
    "postoperative_diagnosis": 1.12, "preoperative_diagnosis": 1.0, "findings": 1.0,
    "history_of_present_illness": 1.0, "chief_complaint": 1.0, "past_medical_history": 0.95,
    "review_of_systems": 0.8, "physical_exam": 0.92, "labs": 0.9, "imaging": 0.95,
    "medications": 0.6, "allergies": 0.5, "indications": 0.95, "plan": 0.9,
}


@lru_cache(maxsize=1)
def _generic_single() -> frozenset[str]:
    return frozenset(lexicon_rules()["generic_single"])


def term_score(term: Term, span_tokens: int, optional_hits: int, section: str | None) -> float:
    """Confidence that ``term`` found at a mention names a codable condition."""
    rules = lexicon_rules()
    base = rules["source_weight"].get(term.source, 0.6)
    n = len(term.required)
    base += 0.04 * min(n - 1, 3)
    base += 0.02 * min(optional_hits, 2)
    base -= 0.03 * max(0, span_tokens - n)
    if n == 1 and term.required[0] in _generic_single():
        base -= 0.40
    base *= SECTION_FACTOR.get(section or "", 1.0)
    return max(0.01, min(0.97, base))


def held_confidence(p: _P, threshold: float) -> _P:
    """The confidence of a code a rule held back (a float or a numpy array of them): its own, capped just
    below ``threshold`` so that it ranks among the candidates and is never suggested; above the cap the
    order of the confidences is kept (no ties), so rankings stay meaningful."""
    cap = threshold * HELD_CAP
    if isinstance(p, float):  # one confidence: plain arithmetic (numpy's scalar path costs microseconds a call)
        return min(p, cap * (0.95 + 0.05 * p))  # type: ignore[return-value]
    import numpy as np

    out = np.minimum(p, cap * (0.95 + 0.05 * np.asarray(p, dtype=float)))
    return float(out) if np.ndim(out) == 0 else out  # type: ignore[return-value]
