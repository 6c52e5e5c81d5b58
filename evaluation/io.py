"""Readers for ``--predictions FILE --gold FILE``.

Predictions
    * **cac JSONL**: one ``cac code --format json`` object per line
      (``{"document": {"id": ...}, "suggestions": [...], "candidates": [...]}``; a
      top-level ``id``/``doc_id`` is accepted too, as are a file holding one JSON
      list of such objects and indented objects simply concatenated).  Every code in ``suggestions`` is *predicted*; ``candidates``
      only add to the ranking.  Scores are ``confidence`` (or ``score``).
      Suggestion ``evidence`` ``[{start, end}]`` becomes predicted evidence.
    * **CSV** with header ``doc_id,code,score`` (more columns, e.g. ``system``, are
      allowed): every listed code is predicted; scores give the ranking.

Gold
    * **cac JSONL** (the :mod:`corpora.jsonl` format): codes, evidence spans that
      index the document text (projected sentences for CodiEsp English) and texts.
    * **CSV** with header ``doc_id,code`` (optional ``system``).

Codes are normalised to official form (system from the file, else inferred).  A
``.tsv`` file is read like CSV with tabs.  Unreadable content raises
``CorpusError`` E404 (E402 with a line number for gold JSONL).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cac.errors import CorpusError, Errors
from corpora.document import normalize_any
from corpora.jsonl import read_jsonl

Span = tuple[int, int]


@dataclass
class Predictions:
    scored: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    predicted: dict[str, set[str]] = field(default_factory=dict)
    evidence: dict[str, dict[str, list[Span]]] = field(default_factory=dict)
    systems: dict[str, str] = field(default_factory=dict)


@dataclass
class GoldData:
    codes: dict[str, set[str]] = field(default_factory=dict)
    evidence: dict[str, dict[str, list[Span]]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    systems: dict[str, str] = field(default_factory=dict)
    # "sentence" when gold evidence was projected to sentences (CodiEsp English)
    evidence_level: str = "span"


def _bad(path: Path, detail: str) -> CorpusError:
    return CorpusError(Errors.E404, path=path, detail=detail)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv",):
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "json"
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip()
    return "json" if head[:1] in (b"{", b"[") else "csv"


def _open(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CorpusError(Errors.E009, path=p)
    return p


def _rows(path: Path, kind: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if kind == "tsv" else ",")
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [r for r in required if r not in header]
    if missing:
        raise _bad(path, f"header must name {', '.join(required)} (missing {', '.join(missing)})")
    reader.fieldnames = header
    out = []
    for row in reader:
        lineno = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        if None in row:  # more cells than header names
            raise _bad(path, f"line {lineno}: more fields than the header")
        clean = {k: (v or "").strip() for k, v in row.items()}
        for r in required:
            if not clean.get(r):
                raise _bad(path, f"line {lineno}: empty {r}")
        out.append((lineno, clean))
    return out


def _json_records(path: Path) -> list[tuple[int, Any]]:
    raw = path.read_bytes()
    stripped = raw.lstrip()
    if stripped.startswith(b"["):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise _bad(path, f"invalid JSON ({err.msg})") from None
        return list(enumerate(data, start=1))
    out = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((lineno, orjson.loads(line)))
        except orjson.JSONDecodeError as err:
            stream = _json_stream(raw)  # pretty-printed objects one after another?
            if stream is not None:
                return stream
            raise _bad(path, f"line {lineno}: invalid JSON ({err.msg})") from None
    return out


def _json_stream(raw: bytes) -> list[tuple[int, Any]] | None:
    """Concatenated (e.g. indented ``cac code --format json``) objects, or ``None``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    pos, out = 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        out.append((len(out) + 1, obj))


def _score(value: Any, path: Path, where: str) -> float:
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise _bad(path, f"{where}: score {value!r} is not a number") from None
    if math.isnan(s):
        raise _bad(path, f"{where}: score is NaN")
    return s


def read_predictions(path: str | Path) -> Predictions:
    """Read predictions (cac JSONL or ``doc_id,code,score`` CSV)."""
    p = _open(path)
    kind = _kind(p)
    out = Predictions()
    if kind in ("csv", "tsv"):
        for lineno, row in _rows(p, kind, ("doc_id", "code", "score")):
            code, system = normalize_any(row["code"], row.get("system") or None)
            doc = row["doc_id"]
            out.scored.setdefault(doc, []).append((code, _score(row["score"], p, f"line {lineno}")))
            out.predicted.setdefault(doc, set()).add(code)
            out.systems.setdefault(code, system)
        return out
    seen: set[str] = set()
    for lineno, obj in _json_records(p):
        where = f"record {lineno}"
        if not isinstance(obj, dict):
            raise _bad(p, f"{where}: not a JSON object")
        doc_obj = obj.get("document") if isinstance(obj.get("document"), dict) else {}
        doc = doc_obj.get("id", obj.get("id", obj.get("doc_id")))
        if doc is None or str(doc).strip() == "":
            raise _bad(p, f"{where}: no document id (document.id)")
        doc = str(doc)
        if doc in seen:
            raise _bad(p, f"{where}: duplicate document id")
        seen.add(doc)
        ranked = out.scored.setdefault(doc, [])
        predicted = out.predicted.setdefault(doc, set())
        for key in ("suggestions", "candidates"):
            items = obj.get(key)
            items = [] if items is None else items
            if not isinstance(items, list):
                raise _bad(p, f"{where}: {key!r} is not a list")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"].strip():
                    raise _bad(p, f"{where}: a {key[:-1]} has no code")
                conf = item.get("confidence", item.get("score"))
                if conf is None:
                    raise _bad(p, f"{where}: a {key[:-1]} has no confidence")
                code, system = normalize_any(item["code"], item.get("system"))
                ranked.append((code, _score(conf, p, where)))
                out.systems.setdefault(code, system)
                if key == "suggestions":
                    predicted.add(code)
                    spans = []
                    for ev in item.get("evidence") or []:
                        if isinstance(ev, dict) and isinstance(ev.get("start"), int) and isinstance(ev.get("end"), int):
                            spans.append((ev["start"], ev["end"]))
                    if spans:
                        out.evidence.setdefault(doc, {}).setdefault(code, []).extend(spans)
    return out


def read_gold(path: str | Path) -> GoldData:
    """Read gold (cac JSONL corpus or ``doc_id,code`` CSV)."""
    p = _open(path)
    kind = _kind(p)
    out = GoldData()
    if kind in ("csv", "tsv"):
        for _, row in _rows(p, kind, ("doc_id", "code")):
            code, system = normalize_any(row["code"], row.get("system") or None)
            out.codes.setdefault(row["doc_id"], set()).add(code)
            out.systems.setdefault(code, system)
        return out
    for doc in read_jsonl(p):
        out.codes[doc.id] = {g.code for g in doc.gold}
        out.texts[doc.id] = doc.text
        for g in doc.gold:
            out.systems.setdefault(g.code, g.system)
            spans = doc.evidence_spans(g)
            if spans and g.spans_lang not in (None, doc.lang):
                out.evidence_level = "sentence"
            if spans:
                out.evidence.setdefault(doc.id, {}).setdefault(g.code, []).extend(tuple(s) for s in spans)
    return out
