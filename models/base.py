"""The small contract every model family in :mod:`models` follows.

A *label* is ``"SYSTEM:CODE"`` (``"ICD-10-CM:E11.9"``, ``"ICD-10-PCS:0DTJ4ZZ"``):
one model can rank diagnosis and procedure codes without their spellings
colliding.  A ranking is a list of ``(label, score)`` pairs, best first.

Each family stores its hyper-parameters in ``__init__`` (nothing else happens
there), validates its input in ``fit`` and keeps fitted state in attributes
ending in ``_`` (the scikit-learn conventions).  ``save`` writes only
safetensors / JSON files into a directory and returns their paths;
``load`` reads them back without executing code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

Ranked = list[tuple[str, float]]

SEP = ":"


def label_of(system: str, code: str) -> str:
    """``"ICD-10-CM:E11.9"`` from its parts."""
    return f"{system}{SEP}{code}"


def split_label(label: str) -> tuple[str, str]:
    """``("ICD-10-CM", "E11.9")`` from ``"ICD-10-CM:E11.9"``."""
    system, _, code = label.partition(SEP)
    return system, code


@runtime_checkable
class TextRanker(Protocol):
    """Fit on documents with label sets; rank labels for new documents."""

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> "TextRanker": ...

    def predict(self, texts: Sequence[str], top_k: int = 50) -> list[Ranked]: ...

    def save(self, path: str | Path) -> list[Path]: ...

    @classmethod
    def load(cls, path: str | Path) -> "TextRanker": ...
