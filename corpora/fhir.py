"""FHIR NDJSON corpus reader (plain-dict parsing, R4/R5 shapes).

Each line is a ``Bundle`` or a ``DocumentReference``:

* **text**: every ``DocumentReference`` contributes its
  ``content[].attachment.data`` (base64, decoded as UTF-8; ``text/*`` or no
  content type) or, failing that, its narrative ``text.div`` stripped of HTML.
  Several notes in one Bundle are joined with a blank line (their offsets are in
  ``metadata["parts"]``).  No text at all -> E402.
* **gold**: ``Condition`` and ``Procedure`` resources (Bundle entries, or
  ``contained`` in a DocumentReference) whose ``code.coding[]`` has system
  ``http://hl7.org/fhir/sid/icd-10-cm`` (ICD-10-CM) or
  ``http://www.cms.gov/Medicare/Coding/ICD10`` (ICD-10-PCS).  Conditions with
  ``verificationStatus`` ``refuted``/``entered-in-error`` are not gold; they are
  listed in ``metadata["excluded_gold"]`` so nothing disappears silently.  Other
  code systems (SNOMED CT...) are counted in ``metadata["other_codings"]``.

The document id is the Bundle's ``id`` (else the first DocumentReference's).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cac.errors import CorpusError, Errors

from .document import Document, GoldCode, canonical_system, normalize
from .jsonl import iter_jsonl

_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"}
_NOT_GOLD = {"refuted", "entered-in-error"}


class _Stripper(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(div: str) -> str:
    """Plain text of an XHTML narrative (block elements become line breaks)."""
    parser = _Stripper()
    parser.feed(div)
    parser.close()
    text = html.unescape("".join(parser.parts))
    lines = [re.sub(r"[ \t\r\f\v]+", " ", ln).strip() for ln in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _doc_text(res: dict, path: Path, line: int) -> str | None:
    for content in res.get("content") or []:
        att = (content or {}).get("attachment") or {}
        data = att.get("data")
        ctype = (att.get("contentType") or "text/plain").lower()
        if data and ctype.startswith("text/"):
            try:
                raw = base64.b64decode(data, validate=True).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise CorpusError(Errors.E402, path=path, line=line, detail="attachment data is not base64 UTF-8 text") from None
            if "html" in ctype:
                raw = strip_html(raw)
            if raw.strip():
                return raw
    div = (res.get("text") or {}).get("div")
    if isinstance(div, str) and div.strip():
        stripped = strip_html(div)
        if stripped:
            return stripped
    return None


def _codes(res: dict, meta: dict) -> list[GoldCode]:
    rtype = res.get("resourceType")
    status = (((res.get("verificationStatus") or {}).get("coding") or [{}])[0] or {}).get("code")
    out: list[GoldCode] = []
    for coding in ((res.get("code") or {}).get("coding")) or []:
        if not isinstance(coding, dict) or not coding.get("code"):
            continue
        system = canonical_system(coding.get("system"))
        if system is None:
            meta["other_codings"] = meta.get("other_codings", 0) + 1
            continue
        code = normalize(str(coding["code"]), system)
        if status in _NOT_GOLD:
            meta.setdefault("excluded_gold", []).append({"code": code, "system": system, "reason": status})
            continue
        gmeta = {"resource": rtype}
        if res.get("id"):
            gmeta["resource_id"] = res["id"]
        out.append(GoldCode(code=code, system=system, text=coding.get("display"), metadata=gmeta))
    return out


def _merge(gold: list[GoldCode]) -> list[GoldCode]:
    seen: dict[tuple[str, str], GoldCode] = {}
    for g in gold:
        seen.setdefault((g.system, g.code), g)
    return list(seen.values())


def document_from_resource(res: Any, path: Path, line: int, lang: str = "en") -> Document:
    """One NDJSON line (a Bundle or DocumentReference) as a :class:`Document`."""
    if not isinstance(res, dict):
        raise CorpusError(Errors.E402, path=path, line=line, detail="line is not a JSON object")
    rtype = res.get("resourceType")
    if rtype == "Bundle":
        resources = [(e or {}).get("resource") for e in res.get("entry") or []]
        resources = [r for r in resources if isinstance(r, dict)]
    elif rtype == "DocumentReference":
        resources = [res] + [r for r in res.get("contained") or [] if isinstance(r, dict)]
    else:
        raise CorpusError(
            Errors.E402, path=path, line=line, detail=f"resourceType {rtype!r} is not supported (expected Bundle or DocumentReference)"
        )
    meta: dict[str, Any] = {"corpus": "fhir"}
    texts: list[tuple[str, str]] = []
    gold: list[GoldCode] = []
    first_ref_id = None
    for r in resources:
        kind = r.get("resourceType")
        if kind == "DocumentReference":
            first_ref_id = first_ref_id or r.get("id")
            t = _doc_text(r, path, line)
            if t is not None:
                texts.append((r.get("id") or "", t))
            date = r.get("date") or ((r.get("context") or {}).get("period") or {}).get("start")
            if date and "date" not in meta:
                meta["date"] = date
            if r is not res:  # a Bundle's note: its contained resources were not listed yet
                for c in r.get("contained") or []:
                    if isinstance(c, dict) and c.get("resourceType") in ("Condition", "Procedure"):
                        gold.extend(_codes(c, meta))
        elif kind in ("Condition", "Procedure"):
            gold.extend(_codes(r, meta))
    if not texts:
        raise CorpusError(Errors.E402, path=path, line=line, detail="no DocumentReference with text (attachment data or text.div)")
    doc_id = res.get("id") if rtype == "Bundle" and res.get("id") else first_ref_id
    if not doc_id:
        raise CorpusError(Errors.E402, path=path, line=line, detail="neither the Bundle nor its DocumentReference has an id")
    if len(texts) == 1:
        text = texts[0][1]
    else:
        pieces, parts, pos = [], [], 0
        for ref_id, t in texts:
            parts.append({"id": ref_id, "start": pos, "end": pos + len(t)})
            pieces.append(t)
            pos += len(t) + 2
        text = "\n\n".join(pieces)
        meta["parts"] = parts
    return Document(id=str(doc_id), text=text, lang=lang, metadata=meta, gold=_merge(gold))


def read_fhir_ndjson(path: str | Path, lang: str = "en") -> list[Document]:
    """Read FHIR NDJSON (one Bundle or DocumentReference per line)."""
    path = Path(path)
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path):
        doc = document_from_resource(obj, path, lineno, lang)
        if doc.id in seen:
            raise CorpusError(Errors.E402, path=path, line=lineno, detail=f"duplicate document id (first on line {seen[doc.id]})")
        seen[doc.id] = lineno
        docs.append(doc)
    return docs
