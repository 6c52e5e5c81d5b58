"""A fast local form for imported code sets (orjson files in the cache dir).

Importing the official XML takes seconds; the cache turns a code set into a
compact JSON file keyed by a fingerprint of its source files (path, size,
mtime) and the cache format version, so start-up reads one file.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Callable

import orjson

from cac.codesets.model import Code, CodeSet, LazyCodes, Release
from cac.errors import CodeSetError, Errors

log = logging.getLogger(__name__)

FORMAT_VERSION = "4"


def fingerprint(sources: list[Path], *extra: str) -> str:
    """A short hash of the source files' identity and the cache format."""
    h = hashlib.sha256(FORMAT_VERSION.encode())
    for src in sources:
        st = Path(src).stat()
        h.update(f"{Path(src).resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


#: Cache files kept per key: the most recently used ones (a fingerprint changes with the sources, their
#: place and cac's version, so each upgrade would otherwise leave its files behind).
KEEP_PER_KEY = 3


def cached_json(cache_dir: Path, key: str, fp: str, build: Callable[[], Any]) -> Any:
    """Return the cached JSON value for ``key``/``fp``, building and storing it if absent (and then
    removing all but the :data:`KEEP_PER_KEY` most recently used files of ``key``)."""
    path = Path(cache_dir) / f"{key}-{fp}.json"
    if path.is_file():
        try:
            value = orjson.loads(path.read_bytes())
        except (orjson.JSONDecodeError, OSError) as exc:  # OSError: removed by another process meanwhile
            log.warning("cache %s unreadable (%s); rebuilding", path.name, exc)
        else:
            _touch(path)
            return value
    value = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(orjson.dumps(value))
        tmp.replace(path)
    except OSError as exc:  # a read-only cache dir must not stop coding
        log.warning("cannot write cache %s: %s", path, exc)
    else:
        _prune(path.parent, key)
    return value


def _touch(path: Path) -> None:
    """Mark a cache file as used now (its modification time orders :func:`_prune`)."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache dir
        pass


def _prune(cache_dir: Path, key: str) -> None:
    """Remove all but the :data:`KEEP_PER_KEY` most recently used cache files of ``key``."""
    name = re.compile(re.escape(key) + r"-[0-9a-f]{16}\.json")
    try:
        files = [p for p in cache_dir.glob(f"{glob.escape(key)}-*.json") if name.fullmatch(p.name)]
        files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in files[KEEP_PER_KEY:]:
        try:
            old.unlink()
            log.info("removed the unused cache file %s", old.name)
        except OSError:
            pass


def codeset_to_json(cs: CodeSet) -> dict[str, Any]:
    """Each code's row is stored as a JSON string: the file parses as one flat object
    of strings (fast), and a row is decoded only when its code is read."""
    rows = {}
    for c in cs.codes.values():
        rows[c.code] = orjson.dumps([c.code, c.title, int(c.billable), c.parent, c.chapter, c.block,
                                     c.notes or None, c.seven_chr or None, c.axes or None, c.attrs or None]).decode()
    return {"release": cs.release.to_dict(), "codes": rows}


def codeset_from_json(data: dict[str, Any]) -> CodeSet:
    try:
        r = data["release"]
        release = Release(
            system=r["system"],
            version=r["version"],
            effective_from=date.fromisoformat(r["effective_from"]),
            effective_to=date.fromisoformat(r["effective_to"]) if r.get("effective_to") else None,
            source=r.get("source", ""),
        )
        if not isinstance(data["codes"], dict):
            raise TypeError("codes is not an object")
        codes = LazyCodes(data["codes"], _row_to_code)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CodeSetError(Errors.E107, path="<cache>", detail=repr(exc)) from None
    return CodeSet(release=release, codes=codes)


def _row_to_code(row: str | list) -> Code:
    if isinstance(row, str):
        row = orjson.loads(row)
    code, title, billable, parent, chapter, block, notes, seven, axes, attrs = row
    return Code(code, title, bool(billable), parent, chapter, block, code[:3],
                notes or {}, seven or {}, axes or {}, attrs or {})


def cached_codeset(cache_dir: Path, key: str, sources: list[Path], build: Callable[[], CodeSet]) -> CodeSet:
    """Load a code set through the cache."""
    fp = fingerprint(sources)
    return codeset_from_json(cached_json(cache_dir, key, fp, lambda: codeset_to_json(build())))
