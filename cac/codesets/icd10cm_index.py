"""Importer for the CDC ICD-10-CM index XML family.

The Alphabetic Index to Diseases and Injuries (``icd10cm-index-*.xml``), the
External Cause Index (``icd10cm-eindex-*.xml``), the Neoplasm Table
(``icd10cm-neoplasm-*.xml``) and the Table of Drugs and Chemicals
(``icd10cm-drug-*.xml``) share one schema: ``<letter>/<mainTerm>`` with a
``<title>`` (nonessential modifiers in ``<nemod>``), then ``<code>``,
``<cell col=N>`` (tables), ``<see>``, ``<seeAlso>`` and nested
``<term level=N>``.  :func:`iter_index` walks any of them, one
:class:`IndexEntry` per term.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from cac.errors import CodeSetError, Errors

TABLES = ("index", "neoplasm", "drug", "eindex")
_NONE_CELLS = frozenset({"", "-", "--", "\u2014"})
_NEMOD_GROUP = re.compile(r"\(([^()]*)\)")
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august",
     "september", "october", "november", "december"), 1)}


@dataclass(slots=True)
class IndexEntry:
    """One main term or subterm.

    ``path`` holds the term titles from the main term down (nonessential
    modifiers removed, they are in ``nemod``).  ``code`` is the code as printed
    without a trailing dash; ``incomplete`` is True when the index printed one
    (``C79.8-``: more characters are needed).  ``cells`` maps a table's column
    heading to its code (dash kept, empty cells left out).
    """

    path: tuple[str, ...]
    nemod: list[str] = field(default_factory=list)
    code: str | None = None
    incomplete: bool = False
    cells: dict[str, str] = field(default_factory=dict)
    see: str | None = None
    see_also: str | None = None
    manif: str | None = None
    table: str = "index"

    @property
    def level(self) -> int:
        """0 for a main term, N for a ``<term level=N>``."""
        return len(self.path) - 1

    @property
    def title(self) -> str:
        return self.path[-1]

    def cell_code(self, column: str) -> tuple[str, bool] | None:
        """(code, incomplete) of a table column, or None when the cell is empty."""
        raw = self.cells.get(column)
        return split_code(raw) if raw else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": list(self.path), "nemod": self.nemod, "code": self.code, "incomplete": self.incomplete,
            "cells": self.cells, "see": self.see, "see_also": self.see_also, "manif": self.manif, "table": self.table,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndexEntry:
        return cls(
            tuple(data["path"]), list(data.get("nemod", [])), data.get("code"), bool(data.get("incomplete")),
            dict(data.get("cells", {})), data.get("see"), data.get("see_also"), data.get("manif"),
            data.get("table", "index"),
        )


def split_code(raw: str) -> tuple[str, bool]:
    """``"C79.8-"`` -> ``("C79.8", True)``; ``"E11.-"`` -> ``("E11", True)``; ``"C80.1"`` -> ``("C80.1", False)``."""
    raw = raw.strip()
    return (raw[:-1].rstrip(" ."), True) if raw.endswith("-") else (raw, False)


def _text(elem: ET.Element | None) -> str | None:
    if elem is None:
        return None
    text = " ".join("".join(elem.itertext()).split())
    return text or None


def _title(elem: ET.Element | None) -> tuple[str, list[str]]:
    """(title without nonessential modifiers, the modifiers one by one)."""
    if elem is None:
        return "", []
    words = [elem.text or ""]
    nemod: list[str] = []
    for child in elem:
        if child.tag == "nemod":
            text = "".join(child.itertext())
            groups = _NEMOD_GROUP.findall(text) or [text]
            nemod.extend(" ".join(g.split()) for g in groups)
            if groups != [text]:
                # words outside the parentheses are essential though the file puts them in <nemod>:
                # "cystic<nemod>(bile) duct (common)</nemod>" is the site "cystic duct"
                words.append(" " + _NEMOD_GROUP.sub(" ", text) + " ")
        else:
            words.append("".join(child.itertext()))
        words.append(child.tail or "")
    return " ".join("".join(words).split()), [m for m in nemod if m]


def _entry(elem: ET.Element, parent: tuple[str, ...], heads: Mapping[str, str], table: str) -> IndexEntry:
    title, nemod = _title(elem.find("title"))
    code: str | None = None
    incomplete = False
    if raw := (elem.findtext("code") or "").strip():
        code, incomplete = split_code(raw)
    elif raw := (elem.findtext("subcat") or elem.findtext("seecat") or "").strip():
        code, incomplete = split_code(raw)[0], True  # "see subcategory / category": more characters needed
    cells: dict[str, str] = {}
    for cell in elem.findall("cell"):
        value = (cell.text or "").strip()
        if value not in _NONE_CELLS:
            col = cell.get("col", "")
            cells[heads.get(col, col)] = value
    return IndexEntry(
        parent + (title,), nemod, code, incomplete, cells,
        _text(elem.find("see")), _text(elem.find("seeAlso")), _text(elem.find("manif")), table,
    )


def _walk(elem: ET.Element, parent: tuple[str, ...], heads: Mapping[str, str], table: str) -> Iterator[IndexEntry]:
    entry = _entry(elem, parent, heads, table)
    yield entry
    for child in elem.findall("term"):
        yield from _walk(child, entry.path, heads, table)


def iter_index(path: Path, table: str = "index") -> Iterator[IndexEntry]:
    """Every term of one CDC index XML file, main terms first, depth first.

    Streams the file (``iterparse``), so the 10 MB Alphabetic Index does not
    have to be held in memory as a tree.
    """
    if table not in TABLES:
        raise CodeSetError(Errors.E010, value=table, allowed=", ".join(TABLES))
    path = Path(path)
    if not path.is_file():
        raise CodeSetError(Errors.E102, path=str(path))
    heads: dict[str, str] = {}
    seen_root = False
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if event == "start":
                if not seen_root:
                    if elem.tag != "ICD10CM.index":
                        raise CodeSetError(Errors.E103, path=str(path), detail=f"root element is <{elem.tag}>")
                    seen_root = True
                continue
            if elem.tag == "head":
                heads[elem.get("col", "")] = " ".join((elem.text or "").split())
            elif elem.tag == "mainTerm":
                yield from _walk(elem, (), heads, table)
                elem.clear()
    except ET.ParseError as exc:
        raise CodeSetError(Errors.E103, path=str(path), detail=str(exc)) from None


def load_index(path: Path, table: str = "index") -> list[IndexEntry]:
    """All entries of one index file as a list."""
    return list(iter_index(path, table))


def load_alphabetic_index(path: Path) -> list[IndexEntry]:
    """The Alphabetic Index to Diseases and Injuries (``icd10cm-index-*.xml``)."""
    return load_index(path, "index")


def load_external_cause_index(path: Path) -> list[IndexEntry]:
    """The External Cause of Injuries Index (``icd10cm-eindex-*.xml``)."""
    return load_index(path, "eindex")


def load_neoplasm_table(path: Path) -> list[IndexEntry]:
    """The Neoplasm Table (``icd10cm-neoplasm-*.xml``); codes are in ``cells``."""
    return load_index(path, "neoplasm")


def load_drug_table(path: Path) -> list[IndexEntry]:
    """The Table of Drugs and Chemicals (``icd10cm-drug-*.xml``); codes are in ``cells``."""
    return load_index(path, "drug")


def _release_key(path: Path) -> tuple[int, int, int, str]:
    """Sort key from a CDC file name such as ``icd10cm-drug-April-1-2026-XML.xml``."""
    match = re.search(r"([A-Za-z]+)-(\d{1,2})-(\d{4})", path.name)
    if not match:
        year = re.search(r"(\d{4})", path.name)
        return (int(year.group(1)) if year else 0, 0, 0, path.name)
    month, day, year = match.groups()
    return (int(year), _MONTHS.get(month.lower(), 0), int(day), path.name)


def find_index_files(data_dir: Path) -> dict[str, Path]:
    """The newest file of each index table found anywhere under ``data_dir``.

    Matches ``icd10cm-<table>-*.xml`` (``<table>`` one of :data:`TABLES`).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CodeSetError(Errors.E105, path=str(data_dir))
    found: dict[str, Path] = {}
    for path in data_dir.rglob("icd10cm-*.xml"):
        kind = path.name.split("-")[1].lower()
        if kind in TABLES and (kind not in found or _release_key(path) > _release_key(found[kind])):
            found[kind] = path
    return found
