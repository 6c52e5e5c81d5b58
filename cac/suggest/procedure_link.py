"""Bridge between the procedure coder and the suggestion list (filled in below)."""

from __future__ import annotations

from typing import Any

from spacy.tokens import Doc

from cac.codesets.model import CodeSet
from cac.codesets.registry import CodeSets
from cac.config import Settings
from cac.suggest.hits import Hit


def make_procedure_coder(code_sets: CodeSets, settings: Settings) -> Any | None:
    return None


def procedure_hits(coder: Any | None, doc: Doc, chosen: dict[str, CodeSet]) -> list[Hit]:
    return []
