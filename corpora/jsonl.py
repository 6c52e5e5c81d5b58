"""cac JSONL corpus format: one document per line.

::

    {"id": "doc-1", "text": "...", "lang": "en", "metadata": {...},
     "gold": [{"code": "E11.9", "system": "ICD-10-CM", "spans": [[10, 25]]}, ...]}

``lang``, ``metadata``, ``gold`` and a gold's ``spans``/``system``/``text``/
``spans_lang``/``metadata`` are optional (a missing system is inferred from the
code's shape).  Codes are normalised to official form on reading.  Blank lines are
skipped; any other unreadable line raises ``CorpusError`` E402 naming the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from cac.errors import CorpusError, Errors

from .document import Document, GoldCode, normalize_any


def _bad(path: Path | str, line: int, detail: str) -> CorpusError:
    return CorpusError(Errors.E402, path=path, line=line, detail=detail)


def _spans(value: Any, path: Path | str, line: int, limit: int | None) -> list[tuple[int, int]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(path, line, "'spans' is not a list")
    out = []
    for item in value:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in item)
        ):
            raise _bad(path, line, "a span is not a [start, end] pair of integers")
        s, e = int(item[0]), int(item[1])
        if s < 0 or e < s or (limit is not None and e > limit):
            raise _bad(path, line, f"span [{s}, {e}] is outside the text")
        out.append((s, e))
    return out


def document_from_dict(obj: Any, path: Path | str = "<memory>", line: int = 1) -> Document:
    """Validate one decoded JSONL object into a :class:`Document`."""
    if not isinstance(obj, dict):
        raise _bad(path, line, "line is not a JSON object")
    doc_id = obj.get("id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise _bad(path, line, "missing or empty 'id'")
    text = obj.get("text")
    if not isinstance(text, str):
        raise _bad(path, line, "missing 'text' (a string)")
    lang = obj.get("lang") or "en"
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _bad(path, line, "'metadata' is not an object")
    gold_raw = obj.get("gold") or []
    if not isinstance(gold_raw, list):
        raise _bad(path, line, "'gold' is not a list")
    gold: list[GoldCode] = []
    for g in gold_raw:
        if isinstance(g, str):
            g = {"code": g}
        if not isinstance(g, dict) or not isinstance(g.get("code"), str) or not g["code"].strip():
            raise _bad(path, line, "a gold entry has no 'code'")
        code, system = normalize_any(g["code"], g.get("system"))
        spans_lang = g.get("spans_lang")
        limit = len(text) if spans_lang in (None, lang) else None
        gmeta = g.get("metadata") or {}
        if not isinstance(gmeta, dict):
            raise _bad(path, line, "a gold entry's 'metadata' is not an object")
        gtext = g.get("text")
        gold.append(
            GoldCode(
                code=code,
                system=system,
                spans=_spans(g.get("spans"), path, line, limit),
                text=gtext if isinstance(gtext, str) else None,
                spans_lang=spans_lang,
                metadata=dict(gmeta),
            )
        )
    return Document(id=doc_id, text=text, lang=str(lang), metadata=dict(metadata), gold=gold)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line_number, decoded_object)`` for every non-blank line (E402 on bad JSON)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(Errors.E009, path=path)
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                raise _bad(path, lineno, f"invalid JSON ({err.msg})") from None


def read_jsonl(path: str | Path) -> list[Document]:
    """Read a cac JSONL corpus (ids must be unique)."""
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        doc = document_from_dict(obj, path, lineno)
        if doc.id in seen:
            raise _bad(path, lineno, f"duplicate document id (first on line {seen[doc.id]})")
        seen[doc.id] = lineno
        docs.append(doc)
    return docs


def write_jsonl(documents: Iterable[Document], path: str | Path) -> int:
    """Write documents as cac JSONL; returns the number written."""
    n = 0
    with Path(path).open("wb") as fh:
        for doc in documents:
            fh.write(orjson.dumps(doc.to_dict()))
            fh.write(b"\n")
            n += 1
    return n
