"""Import spaCy without letting thinc import torch.

thinc (spaCy's machine-learning library) imports torch at start-up whenever torch is
installed, for its PyTorch layers: about 1.4 s of a cold ``cac code`` once the test or
retrieval extra has installed torch. cac's pipelines are rule-based on ``spacy.blank``
and never use those layers, so spaCy is imported with torch hidden; torch itself stays
importable afterwards (the dense retriever imports it directly).
"""

from __future__ import annotations

import sys


def import_spacy() -> None:
    """Import spaCy once, with torch hidden from thinc unless something already imported torch."""
    if "spacy" in sys.modules or "torch" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes "import torch" raise ImportError
    try:
        import spacy  # noqa: F401
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
