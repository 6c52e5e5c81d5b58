"""ICD-10-CM Tabular List importer.

The embedded default is the April 1 2026 Tabular List XML shipped inside the PyPI
package ``simple-icd-10-cm`` (read as package data; the package's own parser is
not used because it is slow to import).  Any CDC tabular XML of the same schema
(``icd10cm-tabular-*.xml``) can be imported with :func:`load_tabular`.

Seventh-character extensions are generated from ``sevenChrDef`` notes, as the
official code files list them (``S72.001A`` ...): a code that takes a 7th
character is itself not billable; its extensions are.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
import importlib.util
from pathlib import Path

from cac.codesets.model import Code, CodeSet, Release
from cac.codesets.xmlfile import parse_xml
from cac.errors import CodeSetError, Errors

NOTE_KINDS = {
    "inclusionTerm": "inclusion",
    "includes": "includes",
    "excludes1": "excludes1",
    "excludes2": "excludes2",
    "codeFirst": "code_first",
    "useAdditionalCode": "use_additional",
    "codeAlso": "code_also",
    "notes": "notes",
    "sevenChrNote": "seven_chr_note",
}

APRIL_2026 = Release(
    system="ICD-10-CM",
    version="2026-04",
    effective_from=date(2026, 4, 1),
    effective_to=date(2026, 9, 30),
    source="simple-icd-10-cm 1.5.0 (CDC ICD-10-CM Tabular List, April 1 2026)",
)


def embedded_tabular_path() -> Path:
    """Path of the Tabular List XML inside the ``simple-icd-10-cm`` package."""
    # Located without importing the package: its import parses the XML (seconds).
    spec = importlib.util.find_spec("simple_icd_10_cm")
    if spec is None or not spec.submodule_search_locations:
        raise CodeSetError(Errors.E102, path="simple_icd_10_cm/data/icd10cm-tabular-*.xml")
    base = Path(next(iter(spec.submodule_search_locations))) / "data"
    for entry in sorted(base.glob("icd10c*.xml")):
        return entry
    raise CodeSetError(Errors.E102, path=str(base / "icd10cm-tabular-*.xml"))


def load_embedded() -> CodeSet:
    """The default ICD-10-CM release (April 1 2026)."""
    tabular = embedded_tabular_path()
    code_list = next(tabular.parent.glob("code-list-*.txt"), None)
    return load_tabular(tabular, APRIL_2026, code_list=code_list)


def load_tabular(path: Path, release: Release, code_list: Path | None = None) -> CodeSet:
    """Parse a CDC ICD-10-CM Tabular List XML into a :class:`CodeSet`.

    ``code_list`` (one undotted code per line, as in the CDC order files) drops
    generated 7th-character extensions that the official list does not contain
    (some categories allow only some encounters).
    """
    root = parse_xml(path, "ICD10CM.tabular")
    codes: dict[str, Code] = {}
    for chapter in root.iter("chapter"):
        chap = _text(chapter, "name")
        for section in chapter.iter("section"):
            block = section.get("id") or ""
            for diag in section.findall("diag"):
                _walk(diag, codes, chap, block, parent=None, seven={})
    if code_list is not None:
        listed = {line.strip() for line in Path(code_list).read_text().splitlines()}
        for name in [c for c, v in codes.items() if "seventh" in v.attrs]:
            if name.replace(".", "") not in listed:
                del codes[name]
    return CodeSet(release=release, codes=codes)


def _walk(
    node: ET.Element,
    codes: dict[str, Code],
    chapter: str,
    block: str,
    parent: str | None,
    seven: dict[str, str],
) -> None:
    name = _text(node, "name")
    title = _text(node, "desc")
    notes: dict[str, list[str]] = {}
    for tag, kind in NOTE_KINDS.items():
        for el in node.findall(tag):
            texts = [_flat(n) for n in el.iter("note")]
            if tag == "inclusionTerm" and not texts:
                texts = [_flat(el)]
            if texts:
                notes.setdefault(kind, []).extend(t for t in texts if t)
    own_seven = _seven_chr(node)
    if own_seven:
        seven = own_seven
    children = node.findall("diag")
    code = Code(
        code=name,
        title=title,
        billable=not children and not seven,
        parent=parent,
        chapter=chapter,
        block=block,
        category=name[:3],
        notes=notes,
        seven_chr=own_seven,
    )
    codes[name] = code
    for child in children:
        _walk(child, codes, chapter, block, parent=name, seven=seven)
    if not children and seven:
        base = name.replace(".", "")
        base = base.ljust(6, "X")
        for char, meaning in seven.items():
            ext = f"{base[:3]}.{base[3:]}{char}"
            codes[ext] = Code(
                code=ext,
                title=f"{title}, {meaning}",
                billable=True,
                parent=name,
                chapter=chapter,
                block=block,
                category=name[:3],
                attrs={"seventh": char},
            )


def _seven_chr(node: ET.Element) -> dict[str, str]:
    out: dict[str, str] = {}
    for el in node.findall("sevenChrDef"):
        for ext in el.findall("extension"):
            char = ext.get("char")
            if char:
                out[char] = " ".join((ext.text or "").split())
    return out


def _text(node: ET.Element, tag: str) -> str:
    el = node.find(tag)
    return " ".join((el.text or "").split()) if el is not None else ""


def _flat(el: ET.Element) -> str:
    return " ".join("".join(el.itertext()).split())


_REF = re.compile(r"\(([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z-]{1,4})?-?(?:\s*[-,–]\s*[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z-]{1,4})?-?)*)\)")


def note_code_refs(note: str) -> list[tuple[str, str]]:
    """Code ranges a note refers to, as ``(first, last)`` prefixes.

    ``"type 1 diabetes mellitus (E10.-)"`` -> ``[("E10", "E10")]``;
    ``"... (O10-O11, O13-O16)"`` -> ``[("O10","O11"), ("O13","O16")]``.
    """
    refs: list[tuple[str, str]] = []
    for group in _REF.findall(note):
        for part in re.split(r"\s*,\s*", group):
            bounds = [b.strip().rstrip("-").rstrip(".") for b in re.split(r"\s*[-–]\s*(?=[A-Z])", part)]
            bounds = [b for b in bounds if b]
            if bounds:
                refs.append((bounds[0], bounds[-1]))
    return refs


def in_ref(code: str, ref: tuple[str, str]) -> bool:
    """True if ``code`` falls in the referenced range (prefix-inclusive)."""
    first, last = ref
    return in_plain_range(code.replace(".", ""), first.replace(".", ""), last.replace(".", ""))


def in_plain_range(plain: str, f: str, l: str) -> bool:
    """:func:`in_ref` on codes written without dots: ``plain`` in the range ``f``-``l``."""
    if plain.startswith(f) or plain.startswith(l):
        return True
    return f <= plain[: len(f)] and plain[: len(l)] <= l
