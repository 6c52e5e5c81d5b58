"""Reading a note: plain UTF-8 text or FHIR R4 ``DocumentReference`` / ``Bundle`` JSON.

Every problem becomes a one-line :class:`cac.errors.InputError`: empty,
binary, invalid UTF-8, over the size limit, malformed JSON or FHIR.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from cac.errors import Errors, InputError

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TAGS = re.compile(r"<[^>]+>")


@dataclass(slots=True)
class Note:
    """A note ready for coding."""

    text: str
    id: str | None = None
    source: str = "text"  # "text" | "fhir"
    date_of_service: str | None = None


def read_path(path: str, max_bytes: int) -> tuple[bytes, str | None]:
    """Raw bytes of a file (``-`` for stdin) and a document id from its name."""
    if path == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
        return data, None
    p = Path(path)
    if not p.is_file():
        raise InputError(Errors.E009, path=path)
    size = p.stat().st_size
    if size > max_bytes:
        raise InputError(Errors.E004, size=size, limit=max_bytes)
    return p.read_bytes(), p.stem


def parse_note(data: bytes, max_bytes: int, doc_id: str | None = None) -> Note:
    """Validate raw bytes and return the note (FHIR detected automatically)."""
    if len(data) > max_bytes:
        raise InputError(Errors.E004, size=len(data), limit=max_bytes)
    text = decode_text(data)
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        return parse_fhir(stripped, doc_id)
    return Note(text=text, id=doc_id)


def decode_text(data: bytes) -> str:
    """UTF-8 text, refusing empty, binary and undecodable input."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise InputError(Errors.E001)
    sample = data[:65536]
    if b"\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise InputError(Errors.E002)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(Errors.E003, offset=exc.start) from None
    if not text.strip():
        raise InputError(Errors.E001)
    return text


def validate_text(text: str, max_bytes: int) -> str:
    """The same checks for text handed over by the Python API or HTTP."""
    if not isinstance(text, str):
        raise InputError(Errors.E001)
    data = text.encode("utf-8", errors="surrogatepass")
    if len(data) > max_bytes:
        raise InputError(Errors.E004, size=len(data), limit=max_bytes)
    if not text.strip():
        raise InputError(Errors.E001)
    if "\x00" in text[:65536] or len(_CONTROL.findall(data[:65536])) > max(8, min(len(data), 65536) // 100):
        raise InputError(Errors.E002)
    return text


def parse_fhir(raw: str, doc_id: str | None = None) -> Note:
    """Text of a FHIR R4 DocumentReference, or of the DocumentReferences in a Bundle."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(Errors.E005, detail=str(exc).split("\n")[0]) from None
    if not isinstance(obj, dict):
        raise InputError(Errors.E006, detail="top level is not a JSON object")
    rtype = obj.get("resourceType")
    if rtype is None:
        raise InputError(Errors.E006, detail="no resourceType")
    if rtype == "DocumentReference":
        refs = [obj]
    elif rtype == "Bundle":
        entries = obj.get("entry") or []
        if not isinstance(entries, list):
            raise InputError(Errors.E006, detail="Bundle.entry is not a list")
        refs = [e.get("resource") for e in entries
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                and e["resource"].get("resourceType") == "DocumentReference"]
        if not refs:
            raise InputError(Errors.E006, detail="Bundle has no DocumentReference entry")
    else:
        raise InputError(Errors.E007, rtype=rtype)
    texts = [_document_text(r) for r in refs]
    text = "\n\n".join(t for t in texts if t)
    if not text.strip():
        raise InputError(Errors.E008)
    first = refs[0]
    rid = first.get("id") if isinstance(first.get("id"), str) else None
    day = first.get("date") if isinstance(first.get("date"), str) else None
    context = first.get("context") if isinstance(first.get("context"), dict) else {}
    period = context.get("period") if isinstance(context.get("period"), dict) else {}
    if isinstance(period.get("start"), str):
        day = period["start"]
    return Note(text=text, id=rid or doc_id, source="fhir", date_of_service=day[:10] if day else None)


def _document_text(ref: dict) -> str:
    content = ref.get("content")
    if content is not None and not isinstance(content, list):
        raise InputError(Errors.E006, detail="DocumentReference.content is not a list")
    parts: list[str] = []
    for item in content or []:
        att = item.get("attachment") if isinstance(item, dict) else None
        if not isinstance(att, dict):
            raise InputError(Errors.E006, detail="content without attachment")
        ctype = str(att.get("contentType") or "text/plain")
        if "data" in att:
            try:
                raw = base64.b64decode(str(att["data"]), validate=True)
            except (binascii.Error, ValueError):
                raise InputError(Errors.E006, detail="attachment.data is not valid base64") from None
            body = decode_text(raw)
            parts.append(_strip_html(body) if "html" in ctype else body)
    if not parts:
        div = (ref.get("text") or {}).get("div") if isinstance(ref.get("text"), dict) else None
        if isinstance(div, str):
            parts.append(_strip_html(div))
    return "\n\n".join(parts)


def _strip_html(markup: str) -> str:
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", markup)
    return html.unescape(_TAGS.sub("", markup)).strip()
