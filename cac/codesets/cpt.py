"""Importer for a customer-supplied, licensed CPT file.

CPT descriptors are copyrighted by the AMA: cac ships none.  A licensee points
``CAC_CPT_FILE`` at its own file, either

* a CSV/TSV (or ``;`` / ``|`` separated) file with a header naming a code
  column (``code``, ``cpt_code``, ``CPT Code``, ``HCPCS``...) and a descriptor
  column (``long_descriptor``, ``description``, ``short_descriptor``...), or
* the AMA data-file layout (``LONGULT.txt``, ``MEDU.txt``, ``SHORTU.txt``):
  one ``CODE<tab or spaces>DESCRIPTOR`` per line, no header.

Malformed input raises :class:`~cac.errors.CodeSetError` ``E106`` naming the line.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

from cac.codesets.hcpcs import decode_file
from cac.codesets.model import Code, CodeSet, Release
from cac.errors import CodeSetError, Errors

SYSTEM = "CPT"
CPT_CODE = re.compile(r"^\d{4}[0-9FTU]$")

_CODE_COLUMNS = ("code", "cptcode", "cpt", "hcpcs", "hcpcscode", "hcpc", "procedurecode", "cptcd")
# Preferred first: the long descriptor says the most.
_DESCRIPTOR_COLUMNS = (
    "longdescriptor", "longdescription", "descriptor", "description", "cptdescriptor", "mediumdescriptor",
    "mediumdescription", "consumerfriendlydescriptor", "clinicianconsumerdescriptor", "shortdescriptor",
    "shortdescription", "desc",
)
_DELIMITERS = ("\t", ",", ";", "|")
_CATEGORY = {"F": "II", "T": "III", "U": "PLA"}


def _malformed(path: Path, detail: str) -> CodeSetError:
    return CodeSetError(Errors.E106, path=str(path), detail=detail)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def cpt_category(code: str) -> str:
    """``"I"``, ``"II"`` (…F), ``"III"`` (…T) or ``"PLA"`` (…U)."""
    return _CATEGORY.get(code[-1], "I")


def _header(line: str) -> tuple[str, int, int] | None:
    """(delimiter, code column, descriptor column) if ``line`` is a recognised header."""
    for delim in _DELIMITERS:
        cols = [_key(c) for c in next(csv.reader([line], delimiter=delim))]
        if len(cols) < 2:
            continue
        code_col = next((cols.index(c) for c in _CODE_COLUMNS if c in cols), None)
        desc_col = next((cols.index(c) for c in _DESCRIPTOR_COLUMNS if c in cols), None)
        if code_col is not None and desc_col is not None:
            return delim, code_col, desc_col
    return None


def _add(codes: dict[str, Code], raw_code: str, descriptor: str, path: Path, lineno: int) -> None:
    code = raw_code.strip().upper()
    descriptor = " ".join(descriptor.split())
    if not CPT_CODE.match(code):
        raise _malformed(path, f"line {lineno}: {code[:12]!r} is not a CPT code (4 digits + digit/F/T/U)")
    if not descriptor:
        raise _malformed(path, f"line {lineno}: code {code} has no descriptor")
    if code not in codes:  # files with several descriptors per code: keep the first
        category = cpt_category(code)
        codes[code] = Code(code, descriptor, True, category=category, attrs={"cpt_category": category})


def _read_codes(path: Path, text: str) -> dict[str, Code]:
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise _malformed(path, "file is empty")
    codes: dict[str, Code] = {}
    header = _header(lines[first])
    if header is None:
        if not re.match(r"^\s*\w{5}\b", lines[first]) or _key(lines[first].split()[0]) in _CODE_COLUMNS:
            raise CodeSetError(
                Errors.E106, path=str(path),
                detail="no header with a code and a descriptor column, and not 'CODE DESCRIPTOR' lines",
            )
        for lineno, line in enumerate(lines, 1):
            if line.strip():
                raw, _, descriptor = line.strip().partition("\t") if "\t" in line else line.strip().partition(" ")
                _add(codes, raw, descriptor, path, lineno)
        return codes
    delim, code_col, desc_col = header
    reader = csv.reader(io.StringIO("\n".join(lines[first + 1 :])), delimiter=delim)
    for offset, row in enumerate(reader):
        lineno = first + 2 + offset
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(code_col, desc_col):
            needed = max(code_col, desc_col) + 1
            raise _malformed(path, f"line {lineno}: {len(row)} column(s), expected at least {needed}")
        _add(codes, row[code_col], row[desc_col], path, lineno)
    return codes


def version_from_filename(path: Path) -> str | None:
    """The release year named in the file name (``cpt_2026_longult.txt`` -> ``"2026"``)."""
    match = re.search(r"(?<!\d)(20\d\d)(?!\d)", Path(path).name)
    return match.group(1) if match else None


def load_cpt(
    path: Path,
    version: str | None = None,
    effective_from: date | None = None,
    effective_to: date | None = None,
) -> CodeSet:
    """Read a licensed CPT file into a :class:`CodeSet`.

    The release is ``version`` or the year in the file name; CPT releases run
    January 1 to December 31 of that year unless dates are given.
    """
    path = Path(path)
    if not path.is_file():
        raise CodeSetError(Errors.E102, path=str(path))
    name = version or version_from_filename(path)
    if not name:
        raise _malformed(path, "cannot tell the release year from the file name; pass version=")
    year = re.match(r"(20\d\d)", name)
    if effective_from is None:
        if not year:
            raise _malformed(path, f"version {name!r} names no year; pass effective_from=")
        effective_from = date(int(year.group(1)), 1, 1)
        effective_to = effective_to or date(int(year.group(1)), 12, 31)
    codes = _read_codes(path, decode_file(path))
    if not codes:
        raise _malformed(path, "no code rows")
    release = Release(SYSTEM, name, effective_from, effective_to, f"customer-supplied licensed file ({path.name})")
    return CodeSet(release, codes)
