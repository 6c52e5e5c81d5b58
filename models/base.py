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
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

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


def write_model_files(path: str | Path, stem: str, meta: Mapping[str, Any], arrays: Mapping[str, Any]) -> list[Path]:
    """``stem.json`` (``meta``) and ``stem.safetensors`` (numpy ``arrays``) in the directory ``path``."""
    import orjson
    from safetensors.numpy import save_file

    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    weights, meta_path = d / f"{stem}.safetensors", d / f"{stem}.json"
    save_file(dict(arrays), str(weights))
    meta_path.write_bytes(orjson.dumps(dict(meta)))
    return [meta_path, weights]


def read_model_files(path: str | Path, stem: str, family: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, arrays)`` written by :func:`write_model_files`; ValueError unless ``meta["family"] == family``."""
    import orjson
    from safetensors.numpy import load_file

    d = Path(path)
    meta = orjson.loads((d / f"{stem}.json").read_bytes())
    if meta.get("family") != family:
        raise ValueError(f"{d}: not a {family} model")
    return meta, load_file(str(d / f"{stem}.safetensors"))
