"""HCPCS Level II importers.

* :func:`load_hcpcs_addendum_b` -- a CSV cut of the CMS OPPS Addendum B
  (``code,short_descriptor,opps_status_indicator,payment_rate,source``).
  Addendum B lists only codes relevant to OPPS; status indicator ``D``
  (discontinued) marks codes that are not billable.
* :func:`load_hcpcs_anweb` -- the CMS quarterly alpha-numeric HCPCS file
  (``HCPC20xx_<MON>_ANWEB*.txt``), 320-column fixed-width records: the
  complete Level II code set with long and short descriptors.
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from cac.codesets.model import Code, CodeSet, Release
from cac.errors import CodeSetError, Errors

SYSTEM = "HCPCS"
LEVEL2_CODE = re.compile(r"^[A-V]\d{4}$")
DISCONTINUED_STATUS = "D"

_QUARTER_MONTHS = {"JAN": 1, "APR": 4, "JUL": 7, "OCT": 10}


def _malformed(path: Path, detail: str) -> CodeSetError:
    return CodeSetError(Errors.E103, path=str(path), detail=detail)


def decode_file(path: Path) -> str:
    """Text of a code file: UTF-8 (with or without BOM), else Windows-1252 as CMS files often are."""
    path = Path(path)
    if not path.is_file():
        raise CodeSetError(Errors.E102, path=str(path))
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def quarter_release(version: str, source: str) -> Release:
    """A quarterly HCPCS release: ``"2026-04"`` runs 2026-04-01 .. 2026-06-30."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", version.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise CodeSetError(Errors.E103, path=source, detail=f"release version {version!r} is not YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    last_month = month + 2 if month + 2 <= 12 else 12
    end = date(year, last_month, calendar.monthrange(year, last_month)[1])
    return Release(SYSTEM, f"{year:04d}-{month:02d}", date(year, month, 1), end, source)


# --------------------------------------------------------------------------
# OPPS Addendum B (CSV)
# --------------------------------------------------------------------------

_ADDENDUM_COLUMNS = ("code", "short_descriptor", "opps_status_indicator")


def load_hcpcs_addendum_b(path: Path, version: str | None = None) -> CodeSet:
    """Read the Addendum B CSV; the release is named by its ``source`` column (or ``version``)."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(decode_file(path)))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in _ADDENDUM_COLUMNS if c not in header]
    if missing:
        raise _malformed(path, f"missing column(s) {', '.join(missing)}")
    reader.fieldnames = header
    codes: dict[str, Code] = {}
    sources: Counter[str] = Counter()
    for lineno, row in enumerate(reader, 2):
        code = (row.get("code") or "").strip().upper()
        if not LEVEL2_CODE.match(code):
            raise _malformed(path, f"line {lineno}: {code[:20]!r} is not a HCPCS Level II code")
        status = (row.get("opps_status_indicator") or "").strip().upper()
        attrs = {"opps_status_indicator": status, "short_descriptor": (row.get("short_descriptor") or "").strip()}
        if rate := (row.get("payment_rate") or "").strip():
            attrs["payment_rate"] = rate
        if src := (row.get("source") or "").strip():
            sources[src] += 1
        billable = status != DISCONTINUED_STATUS
        codes[code] = Code(code, attrs["short_descriptor"], billable, category=code[0], attrs=attrs)
    if not codes:
        raise _malformed(path, "no code rows")
    name = version or (sources.most_common(1)[0][0] if sources else None)
    if not name:
        raise _malformed(path, "no 'source' column value names the release; pass version=")
    return CodeSet(quarter_release(name, f"CMS OPPS Addendum B ({path.name})"), codes)


# --------------------------------------------------------------------------
# Quarterly alpha-numeric file (fixed width)
# --------------------------------------------------------------------------

# 1-based inclusive column ranges of the CMS HCPCS contractor record layout.
_FIELDS = {
    "code": (1, 5),
    "sequence": (6, 10),
    "record_id": (11, 11),
    "long_description": (12, 91),
    "short_description": (92, 119),
    "betos": (257, 259),
    "add_date": (269, 276),
    "action_effective_date": (277, 284),
    "termination_date": (285, 292),
    "action_code": (293, 293),
}
PROCEDURE_FIRST, PROCEDURE_NEXT, MODIFIER_FIRST, MODIFIER_NEXT = "3", "4", "7", "8"


@dataclass(slots=True)
class HcpcsRecord:
    """One HCPCS code or modifier with its continuation lines joined."""

    code: str
    is_modifier: bool
    long_description: str
    short_description: str
    action_code: str = ""
    add_date: date | None = None
    action_effective_date: date | None = None
    termination_date: date | None = None
    betos: str = ""


def _field(line: str, name: str) -> str:
    start, end = _FIELDS[name]
    return line[start - 1 : end].strip()


def _date(raw: str, path: Path, lineno: int) -> date | None:
    if not raw.strip("0 "):
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise _malformed(path, f"line {lineno}: bad date {raw!r} (expected YYYYMMDD)") from None


def iter_anweb_records(path: Path) -> Iterator[HcpcsRecord]:
    """Records of a quarterly HCPCS fixed-width file, continuation lines joined."""
    path = Path(path)
    current: HcpcsRecord | None = None
    for lineno, line in enumerate(decode_file(path).splitlines(), 1):
        if not line.strip():
            continue
        rid = _field(line, "record_id")
        code = _field(line, "code").upper()
        if rid in (PROCEDURE_FIRST, MODIFIER_FIRST):
            if current is not None:
                yield current
            if rid == PROCEDURE_FIRST and not re.fullmatch(r"[A-Z0-9]\d{3}[A-Z0-9]", code):
                raise _malformed(path, f"line {lineno}: {code!r} is not a HCPCS code")
            if rid == MODIFIER_FIRST and not re.fullmatch(r"[A-Z0-9]{2}", code):
                raise _malformed(path, f"line {lineno}: {code!r} is not a HCPCS modifier")
            current = HcpcsRecord(
                code,
                rid == MODIFIER_FIRST,
                _field(line, "long_description"),
                _field(line, "short_description"),
                _field(line, "action_code"),
                _date(_field(line, "add_date"), path, lineno),
                _date(_field(line, "action_effective_date"), path, lineno),
                _date(_field(line, "termination_date"), path, lineno),
                _field(line, "betos"),
            )
        elif rid in (PROCEDURE_NEXT, MODIFIER_NEXT):
            if current is None or current.code != code:
                raise _malformed(path, f"line {lineno}: continuation line without a first line for {code!r}")
            current.long_description = f"{current.long_description} {_field(line, 'long_description')}".strip()
        else:
            raise _malformed(path, f"line {lineno}: unknown record identification code {rid!r}")
    if current is not None:
        yield current


def version_from_filename(path: Path) -> str | None:
    """``HCPC2026_APR_ANWEB_v2.txt`` -> ``"2026-04"`` (None if the name does not tell)."""
    match = re.search(r"(20\d\d)[_-]?(JAN|APR|JUL|OCT)", Path(path).name.upper())
    return f"{match.group(1)}-{_QUARTER_MONTHS[match.group(2)]:02d}" if match else None


def load_hcpcs_anweb(path: Path, version: str | None = None) -> CodeSet:
    """Read the quarterly alpha-numeric HCPCS file (Level II codes only).

    The release (``version`` "YYYY-MM", else read from the file name) runs to
    the end of its quarter.  A code terminated before the release starts, or
    discontinued (action code ``D``) without a termination date, is kept but
    not billable.
    Modifiers are in :func:`load_hcpcs_modifiers`.
    """
    path = Path(path)
    name = version or version_from_filename(path)
    if not name:
        raise _malformed(path, "cannot tell the release from the file name; pass version='YYYY-MM'")
    release = quarter_release(name, f"CMS HCPCS quarterly file ({path.name})")
    codes: dict[str, Code] = {}
    for rec in iter_anweb_records(path):
        if rec.is_modifier or not LEVEL2_CODE.match(rec.code):
            continue
        terminated = rec.termination_date is not None and rec.termination_date < release.effective_from
        attrs = {"short_descriptor": rec.short_description, "action_code": rec.action_code}
        for key in ("add_date", "action_effective_date", "termination_date"):
            if (value := getattr(rec, key)) is not None:
                attrs[key] = value.isoformat()
        if rec.betos:
            attrs["betos"] = rec.betos
        # a discontinued code stays valid until its termination date
        billable = not terminated and not (rec.action_code == DISCONTINUED_STATUS and rec.termination_date is None)
        title = rec.long_description or rec.short_description
        codes[rec.code] = Code(rec.code, title, billable, category=rec.code[0], attrs=attrs)
    if not codes:
        raise _malformed(path, "no HCPCS Level II records")
    return CodeSet(release, codes)


def load_hcpcs_modifiers(path: Path) -> dict[str, str]:
    """Modifier -> long description from the quarterly alpha-numeric file."""
    return {rec.code: rec.long_description for rec in iter_anweb_records(path) if rec.is_modifier}
