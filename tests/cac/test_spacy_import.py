"""spaCy is imported with torch hidden from thinc, and torch stays importable."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import cac.pipeline
import thinc.compat
assert "spacy" in sys.modules
assert not thinc.compat.has_torch, "thinc imported torch"
assert "torch" not in sys.modules, "torch was imported with spaCy"
try:
    import torch
except ImportError:
    print("no torch installed")
else:
    assert torch.tensor([1.0]).sum().item() == 1.0
    print("torch importable")
"""


def test_spacy_import_leaves_torch_out_and_importable() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("torch importable", "no torch installed")


def test_import_spacy_is_a_no_op_once_spacy_or_torch_is_loaded() -> None:
    from cac.spacy_import import import_spacy

    before = dict(sys.modules)
    import_spacy()  # spaCy is loaded in the test process already
    assert sys.modules.get("torch", 0) is not None
    assert set(sys.modules) >= set(before)
