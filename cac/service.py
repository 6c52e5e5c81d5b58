"""Importable functions behind the CLI (the CLI only parses arguments)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cac.config import Settings, get_settings
from cac.errors import Errors, InputError
from cac.io.inputs import Note, parse_note, read_path
from cac.io.outputs import FORMATS, to_fhir, to_json, to_text
from cac.suggest.coder import Coder
from cac.types import CodingResult


@lru_cache(maxsize=2)
def get_coder(settings: Settings | None = None) -> Coder:
    """A process-wide coder (code sets and lexicon load once)."""
    return Coder(settings or get_settings())


def read_note(path: str, settings: Settings | None = None) -> Note:
    settings = settings or get_settings()
    data, stem = read_path(path, settings.max_input_bytes)
    return parse_note(data, settings.max_input_bytes, doc_id=stem)


def code_note(
    note: Note,
    *,
    setting: str | None = None,
    date_of_service: str | None = None,
    top_k: int = 20,
    coder: Any = None,
) -> CodingResult:
    coder = coder or get_coder()
    return coder.code(
        note.text,
        setting=setting,
        date_of_service=date_of_service or note.date_of_service,
        top_k=top_k,
        doc_id=note.id,
    )


def render(result: CodingResult, fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(Errors.E013, value=fmt, allowed=", ".join(FORMATS))
    if fmt == "json":
        return to_json(result)
    if fmt == "fhir":
        return to_fhir(result)
    return to_text(result)


def code_path(
    path: str,
    *,
    setting: str | None = None,
    date_of_service: str | None = None,
    fmt: str = "json",
    top_k: int = 20,
    coder: Any = None,
) -> str:
    """``cac code``: read, validate, code and render one note (``coder``: anything with the
    :class:`Coder` ``code`` interface, e.g. a hybrid coder from a model pack; default: knowledge-only)."""
    if fmt not in FORMATS:
        raise InputError(Errors.E013, value=fmt, allowed=", ".join(FORMATS))
    note = read_note(path)
    result = code_note(note, setting=setting, date_of_service=date_of_service, top_k=top_k, coder=coder)
    return render(result, fmt)
