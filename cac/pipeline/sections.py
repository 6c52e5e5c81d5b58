"""``cac_sections_v1``: section detection for clinical notes and operative reports.

Header variants come from ``resources/section_headers.json`` (canonical name ->
variants).  One precompiled regex proposes a candidate header per line; the
candidate text is normalised and looked up in a dict, so the cost does not grow
with the number of variants.  Results go to ``doc._.sections`` (and, lazily,
``token._.section``); text before the first header has no section (``None``).

Recognised forms:

* at line start, case-insensitive, optionally numbered or bulleted
  (``1.``, ``2)``, ``IV.``, ``A)``, ``-``, ``*``, ``•``, ``#``), followed by ``:``
  (text may follow on the same line) or by the end of the line (then the header
  must start with a capital, and a numbered one must be ALL CAPS);
* mid-line ALL-CAPS headers followed by ``:`` (``... CC: pain HPI: ...``) when
  ``inline_caps_headers`` is on;
* unknown ALL-CAPS title lines (``DISCHARGE CONDITION``) after a blank line,
  as section ``"other"``, when ``unknown_caps_headers`` is on and the note is
  not written in capitals throughout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from spacy.language import Language
from spacy.tokens import Doc

from cac.pipeline.extensions import (
    SECTIONS_KEY,
    Section,
    doc_text,
    parse_rules,
    read_rules,
    rule_error,
    write_rules,
)
from cac.scan import positions

RULES_FILE = "section_headers.json"

_LINE_HEADER = re.compile(
    r"^[ \t]*"
    r"(?P<prefix>(?:\(?\d{1,2}[.)]|\(?[IVXivx]{1,4}[.)]|[A-Za-z][.)]|[-*\u2022#>]+)[ \t]*)?"
    r"(?P<head>[A-Za-z][^:\n\r]{0,59}+)(?:(?P<colon>:)|(?=[\r\n]|\Z))",
    re.MULTILINE,
)
_INLINE_HEADER = re.compile(r"[ \t](?P<head>[A-Z][A-Z/&\- ]{0,50}?[A-Z])[ \t]*:")
_NEEDS_NORMALIZING = re.compile(r"[^a-z ]|  ")
_CAPS_TITLE = re.compile(r"[A-Z][A-Z &/'\-]*[A-Z]")
_PLURAL_SUFFIX = re.compile(r"\((?:e?s)\)")
_AROUND_SLASH = re.compile(r"\s*/\s*")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\S+")
#: The longest an inline header's ``[ \t]`` and head may run before its colon's spaces (1 + 52).
_INLINE_REACH = 53


def inline_header_matches(text: str) -> list[re.Match[str]]:
    """``list(_INLINE_HEADER.finditer(text))``, read only in the stretches before each colon a match can
    end at (it ends at a colon, and its start lies at most the colon's run of spaces and tabs plus
    :data:`_INLINE_REACH` characters before it), not from every space of the note."""
    windows: list[list[int]] = []
    for colon in positions(text, ":"):  # in order
        k = colon
        while k > 0 and text[k - 1] in " \t":
            k -= 1
        start = max(0, k - _INLINE_REACH)
        if windows and start <= windows[-1][1]:
            windows[-1][1] = colon + 1
        else:
            windows.append([start, colon + 1])
    return [m for a, b in windows for m in _INLINE_HEADER.finditer(text, a, b)]


_DELETE_LOWER = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz")
_DELETE_UPPER = str.maketrans("", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def normalize_header(text: str) -> str:
    """Canonical lookup form of a header text (see the rule file's description)."""
    text = _PLURAL_SUFFIX.sub("", text.lower()).replace("&", " and ").replace("-", " ")
    text = _AROUND_SLASH.sub("/", text)
    return _SPACES.sub(" ", text).strip(" \t:.")


def _mostly_upper(text: str) -> bool:
    lower = len(text) - len(text.translate(_DELETE_LOWER))
    upper = len(text) - len(text.translate(_DELETE_UPPER))
    return upper > 2 * lower


class SectionDetector:
    """Finds section headers and stores ``doc._.sections``."""

    def __init__(
        self,
        nlp: Language,
        name: str = "cac_sections",
        *,
        rules: str | None = None,
        inline_caps_headers: bool = True,
        unknown_caps_headers: bool = True,
    ) -> None:
        self.name = name
        self.inline_caps_headers = inline_caps_headers
        self.unknown_caps_headers = unknown_caps_headers
        data, label = read_rules(rules, RULES_FILE)
        self._load(data, label)

    # --- rules --------------------------------------------------------------

    def _load(self, data: dict[str, Any], label: str) -> None:
        sections = data.get("sections")
        if not isinstance(sections, dict) or not sections:
            raise rule_error(label, "'sections' must be a non-empty object of name -> list of headers")
        lookup: dict[str, str] = {}
        for name, variants in sections.items():
            if not isinstance(variants, list) or not all(isinstance(v, str) and v.strip() for v in variants):
                raise rule_error(label, f"section {name!r} must map to a list of non-empty strings")
            for variant in variants:
                key = normalize_header(variant)
                if lookup.get(key, name) != name:
                    other = lookup[key]
                    raise rule_error(label, f"header {variant!r} is listed under {other!r} and {name!r}")
                lookup[key] = name
        colon_required = data.get("colon_required", [])
        if not isinstance(colon_required, list) or not all(isinstance(v, str) for v in colon_required):
            raise rule_error(label, "'colon_required' must be a list of strings")
        self.rules = data
        self.lookup = lookup
        self.colon_required = {normalize_header(v) for v in colon_required}

    @property
    def section_names(self) -> list[str]:
        return sorted(set(self.lookup.values()))

    # --- detection ----------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        doc.user_data[SECTIONS_KEY] = [s.to_record() for s in self.find(doc_text(doc))]
        return doc

    def find(self, text: str) -> list[Section]:
        """The sections of ``text``, in order (no spaCy objects needed)."""
        headers = dict(self._line_headers(text))
        if self.inline_caps_headers:
            for start, header in self._inline_headers(text):
                headers.setdefault(start, header)
        sections: list[Section] = []
        ordered = sorted(headers.items())
        last_end = -1
        kept: list[tuple[int, int, str]] = []
        for start, (end, name) in ordered:
            if start < last_end:
                continue
            kept.append((start, end, name))
            last_end = end
        for i, (start, end, name) in enumerate(kept):
            stop = kept[i + 1][0] if i + 1 < len(kept) else len(text)
            sections.append(Section(name, start, end, start, stop))
        return sections

    @staticmethod
    def _key(head: str) -> str:
        key = head.lower()
        return normalize_header(key) if _NEEDS_NORMALIZING.search(key) else key

    def _line_headers(self, text: str) -> Iterable[tuple[int, tuple[int, str]]]:
        mostly_upper: bool | None = None
        for m in _LINE_HEADER.finditer(text):
            head = m.group("head").rstrip(" \t")
            key = self._key(head)
            name = self.lookup.get(key)
            colon = m.group("colon") is not None
            prefix = m.group("prefix")
            start = m.start("prefix") if prefix else m.start("head")
            end = m.end("colon") if colon else m.start("head") + len(head)
            if name is not None:
                if colon:
                    yield start, (end, name)
                elif key not in self.colon_required and head[0].isupper() and (not prefix or head.isupper()):
                    yield start, (end, name)
                continue
            if not self.unknown_caps_headers or prefix or not _CAPS_TITLE.fullmatch(head.rstrip()):
                continue
            words = len(head.split())
            if words > 6 or (not colon and words < 2) or len(key) < 4:
                continue
            line_end = text.find("\n", m.end())
            if colon and text[m.end() : line_end if line_end >= 0 else len(text)].strip():
                continue  # "LABEL: value" lines are fields, not titles
            line_start = text.rfind("\n", 0, m.start()) + 1
            if line_start > 0 and text[text.rfind("\n", 0, line_start - 1) + 1 : line_start].strip():
                continue  # the previous line is not blank
            if mostly_upper is None:
                mostly_upper = _mostly_upper(text)
            if not mostly_upper:
                yield start, (end, "other")

    def _inline_headers(self, text: str) -> Iterable[tuple[int, tuple[int, str]]]:
        for m in inline_header_matches(text):
            head_start = m.start("head")
            line_start = text.rfind("\n", 0, head_start) + 1
            before = text[line_start:head_start].rstrip()
            if not before:
                continue  # at line start: handled by the line rule
            head = m.group("head")
            words = [(w.start(), w.group()) for w in _WORD.finditer(head)]
            after_punct = before[-1] in ".!?;"
            for k in range(len(words)):
                key = self._key(" ".join(w for _, w in words[k:]))
                name = self.lookup.get(key)
                if name is None:
                    continue
                if after_punct or key not in self.colon_required:
                    yield head_start + words[k][0], (m.end(), name)
                break

    # --- serialization ------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        write_rules(Path(path), RULES_FILE, self.rules)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "SectionDetector":
        file = Path(path) / RULES_FILE
        data = parse_rules(file.read_text(encoding="utf-8"), str(file))
        self._load(data, str(file))
        return self


@Language.factory(
    "cac_sections_v1",
    default_config={"rules": None, "inline_caps_headers": True, "unknown_caps_headers": True},
    assigns=["doc._.sections", "token._.section"],
)
def make_section_detector(
    nlp: Language,
    name: str,
    rules: str | None,
    inline_caps_headers: bool,
    unknown_caps_headers: bool,
) -> SectionDetector:
    """Section detection from JSON header rules (``rules``: a file; ``None``: packaged)."""
    return SectionDetector(
        nlp,
        name,
        rules=rules,
        inline_caps_headers=inline_caps_headers,
        unknown_caps_headers=unknown_caps_headers,
    )
