"""All custom ``._`` attributes of cac's pipeline, registered in one place.

Components write compact, msgpack-friendly records into ``doc.user_data`` under
spaCy's own extension keys (``("._.", name, start, end)``), once per doc, section,
abbreviation or mention; the public attributes below are getters (and setters)
over those records.  This keeps per-token work out of the hot path and lets
``Doc.to_bytes`` / ``DocBin(store_user_data=True)`` carry the annotations.

Public attributes:

* ``Token._.section`` (``str | None``): canonical section of the token; ``None``
  before the first header.
* ``Token._.expansion`` (``str | None``): expansion of the clinical abbreviation
  starting at this token (lower case).
* ``Token._.expansion_len`` (``int``): tokens the abbreviation covers (``0`` if
  none).
* ``Doc._.sections`` (``list[Section]``): detected sections, in text order.
* ``Doc._.section_at(char)`` (``Section | None``): the section holding a character.
* ``Span._.section`` (``str | None``): section of the span's first token.
* ``Span._.negated`` / ``uncertain`` / ``historical`` / ``family`` /
  ``hypothetical`` (``bool``): ConText assertions.
* ``Span._.experiencer`` (``str``): ``"patient"``, ``"family"`` or ``"other"``.
* ``Span._.other_context`` (``str | None``): e.g. ``"allergy"``.
* ``Span._.context_triggers`` (``list[dict]``): what set the assertions, as
  ``{"category", "text", "start", "end", "direction", "source"}`` (char offsets;
  ``source`` is ``"trigger"`` or ``"section:<name>"``, the latter with ``None``
  text and offsets).

Like spaCy's own span extensions, assertions are keyed by character offsets:
spans with the same offsets share them.  Spans the context step found nothing
for keep the defaults (``False``, ``"patient"``, ``None``, ``[]``).  The raw
records live under the hidden extensions ``cac_sections_data``,
``cac_abbreviations_data`` and ``cac_context_data``.

The module also holds the helpers the components share: JSON rule files,
``doc_text``, ``token_starts``, ``sentence_starts`` and ``group_spans`` (with ``KeptSpanGroup``).
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence
from weakref import WeakKeyDictionary

import numpy
from spacy.attrs import IDX, LENGTH, LOWER, ORTH, SENT_START
from spacy.tokens import Doc, Span, SpanGroup, Token

from cac import scan
from cac.errors import CacError, Errors

SECTIONS_ATTR = "cac_sections_data"
ABBREVIATIONS_ATTR = "cac_abbreviations_data"
CONTEXT_ATTR = "cac_context_data"

SECTIONS_KEY = ("._.", SECTIONS_ATTR, None, None)
ABBREVIATIONS_KEY = ("._.", ABBREVIATIONS_ATTR, None, None)

CONTEXT_FLAGS = ("negated", "uncertain", "historical", "family", "hypothetical")
DEFAULT_EXPERIENCER = "patient"


@dataclass(frozen=True, slots=True)
class Section:
    """One section: its header ``[header_start_char, header_end_char)`` and its
    full extent ``[start_char, end_char)`` (header included)."""

    name: str
    header_start_char: int
    header_end_char: int
    start_char: int
    end_char: int

    @property
    def body_start_char(self) -> int:
        return self.header_end_char

    def to_record(self) -> list[Any]:
        return [self.name, self.header_start_char, self.header_end_char, self.start_char, self.end_char]


_TEXTS: "WeakKeyDictionary[Doc, str]" = WeakKeyDictionary()


def doc_text(doc: Doc) -> str:
    """``doc.text``, computed once per doc (spaCy rebuilds it on every access)."""
    text = _TEXTS.get(doc)
    if text is None:
        text = _TEXTS[doc] = doc.text
    return text


_STARTS: "WeakKeyDictionary[Doc, tuple[numpy.ndarray, list[int] | None]]" = WeakKeyDictionary()


def token_start_array(doc: Doc) -> numpy.ndarray:
    """Each token's start character (``Token.idx``) as an int64 array, read once per doc for all the
    components (read again when the doc's length changed: a retokenized doc); do not modify it."""
    got = _STARTS.get(doc)
    if got is None or len(got[0]) != len(doc):
        array = doc.to_array(IDX).astype(numpy.int64, copy=False) if len(doc) else numpy.zeros(0, numpy.int64)
        got = _STARTS[doc] = (array, None)
    return got[0]


def token_starts(doc: Doc) -> list[int]:
    """:func:`token_start_array` as a list (made once per doc)."""
    array = token_start_array(doc)
    got = _STARTS[doc]
    if got[1] is None:
        got = _STARTS[doc] = (array, array.tolist())
    return got[1]  # type: ignore[return-value]


_LENGTHS: "WeakKeyDictionary[Doc, numpy.ndarray]" = WeakKeyDictionary()
_HASHES: "WeakKeyDictionary[Doc, tuple[int, dict[bool, numpy.ndarray]]]" = WeakKeyDictionary()


def token_length_array(doc: Doc) -> numpy.ndarray:
    """Each token's length in characters as an int64 array, read once per doc (again when the doc's length
    changed); do not modify it."""
    got = _LENGTHS.get(doc)
    if got is None or len(got) != len(doc):
        got = _LENGTHS[doc] = (doc.to_array(LENGTH).astype(numpy.int64, copy=False) if len(doc)
                               else numpy.zeros(0, numpy.int64))
    return got


@lru_cache(maxsize=1)
def _symbol_hashes() -> tuple[dict[int, int], bytes]:
    """spaCy's symbols (strings with fixed ids: "_", "neg", "X"...) as ``{hash: id}``, and the bits
    ``hash & 0xFFFF`` of their hashes (8,192 bytes), for :data:`cac.scan.token_hashes`."""
    from spacy.strings import hash_string
    from spacy.symbols import IDS

    ids = {hash_string(s): i for s, i in IDS.items() if s}
    seen = bytearray(8192)
    for h in ids:
        seen[(h & 0xFFFF) >> 3] |= 1 << (h & 7)
    return ids, bytes(seen)


def token_hash_array(doc: Doc, lower: bool) -> numpy.ndarray:
    """Each token's ORTH hash, or with ``lower`` its LOWER hash, as a uint64 array: what
    ``doc.to_array(ORTH / LOWER)`` gives (cac's pipelines lower-case words with ``str.lower``), made once
    per doc for all the components.  Compiled, it is hashed from the text and the token offsets
    (:data:`cac.scan.token_hashes`), which reads no token; do not modify it."""
    got = _HASHES.get(doc)
    if got is None or got[0] != len(doc):
        got = _HASHES[doc] = (len(doc), {})
    arrays = got[1]
    array = arrays.get(lower)
    if array is None:
        if scan.token_hashes is not None and len(doc):
            raw = scan.token_hashes(doc_text(doc), token_start_array(doc), token_length_array(doc), lower,
                                    *_symbol_hashes())
            array = numpy.frombuffer(raw, dtype=numpy.uint64)
        else:
            array = doc.to_array(LOWER if lower else ORTH).astype(numpy.uint64, copy=False)
        array.flags.writeable = False
        arrays[lower] = array
    return array


_SENTENCES: "WeakKeyDictionary[Doc, tuple[int, list[int]]]" = WeakKeyDictionary()

#: The factories whose components never change sentence starts: ``cac_sentences`` remembers the starts it sets
#: (:func:`remember_sentence_starts`) when only these come after it in the pipeline.
KEEPS_SENTENCES = frozenset({"cac_sections_v1", "cac_sentences_v1", "cac_abbreviations_v1", "cac_concepts_v1",
                             "cac_context_v1"})


def remember_sentence_starts(doc: Doc, starts: list[int]) -> None:
    """Record the sentence starts just set on ``doc`` (sorted token indices, 0 first) for
    :func:`sentence_starts`: only a component that set them, with nothing after it that can change them."""
    _SENTENCES[doc] = (len(doc), starts)


def sentence_starts(doc: Doc) -> list[int]:
    """Token indices that start sentences (``[0]`` when sentences are not set): those ``cac_sentences``
    remembered setting (with only :data:`KEEPS_SENTENCES` components after it; read again when the doc's
    length changed), else read off the doc (~25 µs on 1,500 words); do not modify the list."""
    got = _SENTENCES.get(doc)
    if got is not None and got[0] == len(doc):
        return got[1]
    if len(doc) == 0 or not doc.has_annotation("SENT_START"):
        return [0]
    starts = numpy.flatnonzero(doc.to_array(SENT_START) == 1).tolist()
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return starts


class KeptSpanGroup(SpanGroup):
    """A ``SpanGroup`` that keeps the ``Span`` objects it was made from, for :func:`group_spans`.

    Reading a ``SpanGroup`` makes a new ``Span`` for each of its spans every time (~2 µs each: spaCy builds
    two ``Token`` objects to find a span's characters), and cac reads its mentions three times (ConText,
    the diagnosis coder, the procedure coder's context).  Any change made through the group drops them."""

    def __init__(self, doc: Doc, *, name: str = "", attrs: dict | None = None, spans: Iterable[Span] = ()) -> None:
        kept = list(spans)
        super().__init__(doc, name=name, attrs={} if attrs is None else attrs, spans=kept)
        self._kept: list[Span] | None = kept

    def spans(self) -> Sequence[Span]:
        """The group's spans, without making them again while the group is as it was made."""
        kept = self._kept
        return kept if kept is not None and len(kept) == len(self) else list(self)

    def __setitem__(self, i: int, span: Span) -> None:
        self._kept = None
        super().__setitem__(i, span)

    def __delitem__(self, i: int) -> None:
        self._kept = None
        super().__delitem__(i)

    def __iadd__(self, other: Any) -> "KeptSpanGroup":
        self._kept = None
        return super().__iadd__(other)

    def append(self, span: Span) -> None:
        self._kept = None
        super().append(span)

    def extend(self, spans_or_span_group: Any) -> None:
        self._kept = None
        super().extend(spans_or_span_group)

    def from_bytes(self, bytes_data: bytes) -> "KeptSpanGroup":
        self._kept = None
        return super().from_bytes(bytes_data)


def release_spans(doc: Doc) -> None:
    """Let ``doc`` go the moment its last reference does: the ``Span`` objects a :class:`KeptSpanGroup`
    keeps point back at the doc, so while they are kept the doc and all it holds wait for Python's cyclic
    collector (on 1,500-word notes, collections that found a note's doc took ~0.4 ms a note).  The groups
    stay as they are; only reading them makes their spans again."""
    for group in doc.spans.values():
        if isinstance(group, KeptSpanGroup):
            group._kept = None


def group_spans(group: SpanGroup | Iterable[Span]) -> Iterable[Span]:
    """The spans of a span group: those a :class:`KeptSpanGroup` kept (shared: do not modify them), else the
    group itself."""
    return group.spans() if isinstance(group, KeptSpanGroup) else group


def remember_text(doc: Doc, text: str) -> None:
    """Record the text ``doc`` was made from (``doc_text`` then skips rebuilding it)."""
    _TEXTS[doc] = text


def _section_records(doc: Doc) -> Any:
    return doc.user_data.get(SECTIONS_KEY) or ()


def section_record_at(doc: Doc, char: int) -> Any:
    """The raw record ``[name, hs, he, start, end]`` holding ``char``, or ``None``."""
    records = _section_records(doc)
    if not records:
        return None
    i = bisect_right(records, char, key=lambda r: r[3]) - 1
    if i < 0:
        return None
    record = records[i]
    return record if char < record[4] else None


def _get_sections(doc: Doc) -> list[Section]:
    return [Section(*r) for r in _section_records(doc)]


def _set_sections(doc: Doc, sections: list[Section]) -> None:
    doc.user_data[SECTIONS_KEY] = [s.to_record() for s in sections]


def _section_at(doc: Doc, char: int) -> Section | None:
    record = section_record_at(doc, char)
    return Section(*record) if record is not None else None


def _token_section(token: Token) -> str | None:
    record = section_record_at(token.doc, token.idx)
    return record[0] if record is not None else None


def is_cac_token_section() -> bool:
    """True when ``Token._.section`` is the getter registered here (the record at the token's start)."""
    return Token.has_extension("section") and Token.get_extension("section")[2] is _token_section


def _span_section(span: Span) -> str | None:
    record = section_record_at(span.doc, span.start_char)
    return record[0] if record is not None else None


# --- abbreviations ----------------------------------------------------------


def _abbrev_record(token: Token) -> Any:
    table = token.doc.user_data.get(ABBREVIATIONS_KEY)
    return table.get(token.i) if table else None


def _get_expansion(token: Token) -> str | None:
    record = _abbrev_record(token)
    return record[0] if record is not None else None


def _set_expansion(token: Token, value: str | None) -> None:
    table = token.doc.user_data.setdefault(ABBREVIATIONS_KEY, {})
    if value is None:
        table.pop(token.i, None)
        return
    old = table.get(token.i)
    table[token.i] = [value, old[1] if old is not None else 1]


def _get_expansion_len(token: Token) -> int:
    record = _abbrev_record(token)
    return int(record[1]) if record is not None else 0


def _set_expansion_len(token: Token, value: int) -> None:
    table = token.doc.user_data.setdefault(ABBREVIATIONS_KEY, {})
    old = table.get(token.i)
    if old is None:
        raise ValueError("set token._.expansion before token._.expansion_len")
    table[token.i] = [old[0], int(value)]


# --- context ----------------------------------------------------------------


def context_key(span: Span) -> tuple[str, str, int, int]:
    return ("._.", CONTEXT_ATTR, span.start_char, span.end_char)


def new_context_record() -> dict[str, Any]:
    """A fresh assertion record: nothing asserted, experienced by the patient."""
    record: dict[str, Any] = {flag: False for flag in CONTEXT_FLAGS}
    record["experiencer"] = DEFAULT_EXPERIENCER
    record["other_context"] = None
    record["triggers"] = []
    return record


def _ctx(span: Span) -> Any:
    return assertion_record(span.doc, span.start_char, span.end_char)


def assertion_record(doc: Doc, start_char: int, end_char: int) -> Any:
    """The raw assertion record of the spans at ``[start_char, end_char)`` (keys: the
    ``CONTEXT_FLAGS``, ``experiencer``, ``other_context``, ``triggers``), or ``None`` when the
    context step found nothing there: one look-up where each ``span._`` flag read is one."""
    return span_value(doc, CONTEXT_ATTR, start_char, end_char)


def is_cac_assertion(name: str) -> bool:
    """True when ``Span._.<name>`` is one of the ConText flags registered here (read by
    :func:`assertion_record`), not another pipeline's attribute of the same name."""
    if name not in CONTEXT_FLAGS or not Span.has_extension(name):
        return False
    getter = Span.get_extension(name)[2]
    return getattr(getter, "__module__", None) == __name__


def span_value(doc: Doc, name: str, start_char: int, end_char: int) -> Any:
    """The stored value of a plain (default-valued) span extension ``name`` at those offsets, or
    ``None`` when unset: what ``span._.<name>`` reads, without building the span's ``._`` object."""
    return doc.user_data.get(("._.", name, start_char, end_char))


def set_span_value(doc: Doc, name: str, start_char: int, end_char: int, value: Any) -> None:
    """Store ``value`` as the plain (default-valued, no setter) span extension ``name`` of the span at
    those offsets: what ``span._.<name> = value`` writes, without building the span's ``._`` object."""
    doc.user_data[("._.", name, start_char, end_char)] = value


def _ctx_for_write(span: Span) -> dict[str, Any]:
    key = context_key(span)
    record = span.doc.user_data.get(key)
    if record is None:
        record = span.doc.user_data[key] = new_context_record()
    elif not isinstance(record, dict):  # read back as a tuple-ish structure
        record = span.doc.user_data[key] = dict(record)
    return record


def _flag_getter(flag: str) -> Callable[[Span], bool]:
    def get(span: Span) -> bool:
        record = _ctx(span)
        return bool(record[flag]) if record is not None else False

    return get


def _flag_setter(flag: str) -> Callable[[Span, bool], None]:
    def set_(span: Span, value: bool) -> None:
        _ctx_for_write(span)[flag] = bool(value)

    return set_


def _get_experiencer(span: Span) -> str:
    record = _ctx(span)
    return record["experiencer"] if record is not None else DEFAULT_EXPERIENCER


def _set_experiencer(span: Span, value: str) -> None:
    _ctx_for_write(span)["experiencer"] = value


def _get_other_context(span: Span) -> str | None:
    record = _ctx(span)
    return record["other_context"] if record is not None else None


def _set_other_context(span: Span, value: str | None) -> None:
    _ctx_for_write(span)["other_context"] = value


def _get_triggers(span: Span) -> list[dict[str, Any]]:
    record = _ctx(span)
    return [dict(t) for t in record["triggers"]] if record is not None else []


def _set_triggers(span: Span, value: list[dict[str, Any]]) -> None:
    _ctx_for_write(span)["triggers"] = [dict(t) for t in value]


def register_extensions() -> None:
    """Register every cac extension (idempotent: re-registration overwrites)."""
    Doc.set_extension(SECTIONS_ATTR, default=None, force=True)
    Doc.set_extension(ABBREVIATIONS_ATTR, default=None, force=True)
    Span.set_extension(CONTEXT_ATTR, default=None, force=True)

    Doc.set_extension("sections", getter=_get_sections, setter=_set_sections, force=True)
    Doc.set_extension("section_at", method=_section_at, force=True)
    Token.set_extension("section", getter=_token_section, force=True)
    Span.set_extension("section", getter=_span_section, force=True)

    Token.set_extension("expansion", getter=_get_expansion, setter=_set_expansion, force=True)
    Token.set_extension("expansion_len", getter=_get_expansion_len, setter=_set_expansion_len, force=True)

    for flag in CONTEXT_FLAGS:
        Span.set_extension(flag, getter=_flag_getter(flag), setter=_flag_setter(flag), force=True)
    Span.set_extension("experiencer", getter=_get_experiencer, setter=_set_experiencer, force=True)
    Span.set_extension("other_context", getter=_get_other_context, setter=_set_other_context, force=True)
    Span.set_extension("context_triggers", getter=_get_triggers, setter=_set_triggers, force=True)


# --- rule files -------------------------------------------------------------


def read_rules(source: str | Path | None, default: str) -> tuple[dict[str, Any], str]:
    """Load a JSON rule file: ``source`` or, when empty, the packaged ``default``.

    Returns ``(data, label)``; ``label`` names the file in error messages.
    Raises ``CacError`` E203 (missing) or E201 (not a JSON object).
    """
    if source in (None, "", "default"):
        label = f"cac/pipeline/resources/{default}"
        resource = files("cac.pipeline").joinpath("resources", default)
        try:
            text = resource.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CacError(Errors.E203, path=label) from None
    else:
        path = Path(source)
        label = str(path)
        if not path.is_file():
            raise CacError(Errors.E203, path=label)
        text = path.read_text(encoding="utf-8")
    return parse_rules(text, label), label


def parse_rules(text: str, label: str) -> dict[str, Any]:
    """Parse rule-file text into a JSON object (E201 when malformed)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise rule_error(label, f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise rule_error(label, "top level must be a JSON object")
    return data


def rule_error(label: str, detail: str) -> CacError:
    """A ``CacError`` E201 for a malformed rule file."""
    return CacError(Errors.E201, path=label, detail=detail)


def write_rules(path: Path, name: str, data: dict[str, Any]) -> None:
    """Write a component's rules as pretty JSON to ``path / name``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


register_extensions()
