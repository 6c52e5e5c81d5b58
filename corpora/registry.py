"""One way to open every corpus: ``open_corpus(name, root=..., split=..., path=...)``.

===========  =====================================================================
name         arguments
===========  =====================================================================
codiesp      ``root`` (the CodiEsp folder; default ``$CAC_DATA_DIR/codiesp``),
             ``split`` (``train``/``dev``), ``lang`` (``en`` default, or ``es``)
jsonl        ``path`` to a cac JSONL file
brat         ``path`` to a brat folder or one ``.txt``/``.ann`` file
fhir         ``path`` to a FHIR NDJSON file (Bundles / DocumentReferences)
===========  =====================================================================

Unknown names raise ``CorpusError`` E401; missing arguments E402/E403/E009.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from cac.errors import CorpusError, Errors

from .brat import read_brat
from .codiesp import read_codiesp
from .document import Document
from .fhir import read_fhir_ndjson
from .jsonl import read_jsonl


def _default_codiesp_root() -> Path:
    value = os.environ.get("CAC_DATA_DIR")
    if not value:
        try:  # the project's settings, when they are importable
            from cac.config import get_settings

            data_dir = get_settings().data_dir
            value = str(data_dir) if data_dir else None
        except Exception:  # pragma: no cover - settings are optional here
            value = None
    if not value:
        raise CorpusError(Errors.E105, path="(unset)")
    return Path(value) / "codiesp"


def _codiesp(root, split, path, lang) -> list[Document]:
    base = Path(root) if root else (Path(path) if path else _default_codiesp_root())
    if not split:
        raise CorpusError(Errors.E403, split=split, root=base)
    return read_codiesp(base, split, lang=lang)


def _needs_path(reader: Callable[..., list[Document]], name: str, with_lang: bool = True):
    def opener(root, split, path, lang) -> list[Document]:
        target = path or root
        if not target:
            raise CorpusError(Errors.E009, path=f"(no path given for corpus {name!r})")
        return reader(target, lang=lang) if with_lang else reader(target)

    return opener


CORPORA: dict[str, Callable[..., list[Document]]] = {
    "codiesp": _codiesp,
    "jsonl": _needs_path(read_jsonl, "jsonl", with_lang=False),
    "brat": _needs_path(read_brat, "brat"),
    "fhir": _needs_path(read_fhir_ndjson, "fhir"),
}


def open_corpus(
    name: str,
    *,
    root: str | Path | None = None,
    split: str | None = None,
    path: str | Path | None = None,
    lang: str = "en",
) -> list[Document]:
    """Open a corpus by name (see the module docstring for the arguments)."""
    key = (name or "").strip().lower()
    if key not in CORPORA:
        raise CorpusError(Errors.E401, name=name, allowed=", ".join(sorted(CORPORA)))
    return CORPORA[key](root, split, path, lang)
