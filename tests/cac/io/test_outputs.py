"""Text rendering of a coding result."""

from cac.io.outputs import to_text
from cac.types import CodingResult, DocumentInfo, Suggestion


def test_text_marks_held_back_candidates() -> None:
    r = CodingResult(
        document=DocumentInfo(id="d", sha256="0" * 64), code_sets={"ICD-10-CM": "2026-04"}, model="k",
        suggestions=[], excluded=[], text="No pneumonia. Cough.",
        candidates=[Suggestion("R05.9", "ICD-10-CM", "Cough, unspecified", 0.4),
                    Suggestion("J18.9", "ICD-10-CM", "Pneumonia, unspecified organism", 0.3,
                               flags={"held_back": True})])
    out = to_text(r)
    assert "J18.9 0.30 (held back)" in out and "R05.9 0.40," in out
