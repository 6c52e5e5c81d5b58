"""The code-set data model: one ``Code`` per code, one ``CodeSet`` per release."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterator


@dataclass(slots=True)
class Code:
    """One code of one release.

    ``code`` is the official form (ICD-10-CM dotted, e.g. ``E11.22``; PCS 7
    characters; HCPCS/CPT 5 characters).  ``billable`` is True for codes valid
    on a claim (ICD-10-CM leaves, every PCS/HCPCS/CPT code).  ``notes`` holds the
    instructional notes keyed by kind: ``inclusion``, ``includes``,
    ``excludes1``, ``excludes2``, ``code_first``, ``use_additional``,
    ``code_also``, ``seven_chr_note``; ``seven_chr`` maps 7th characters to
    their meaning where the code's category defines them.  ``axes`` holds PCS axis
    values (position -> label).
    """

    code: str
    title: str
    billable: bool = True
    parent: str | None = None
    chapter: str | None = None
    block: str | None = None
    category: str | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)
    seven_chr: dict[str, str] = field(default_factory=dict)
    axes: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Release:
    """A dated release of a code system."""

    system: str
    version: str
    effective_from: date
    effective_to: date | None = None
    source: str = ""

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "system": self.system,
            "version": self.version,
            "effective_from": self.effective_from.isoformat(),
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "source": self.source,
        }


class LazyCodes(dict):
    """``code -> Code`` built from cached rows on first access (fast start-up)."""

    def __init__(self, rows: dict[str, Any], make: "Callable[[Any], Code]") -> None:
        super().__init__(rows)
        self._make = make

    def __getitem__(self, key: str) -> Code:
        value = dict.__getitem__(self, key)
        if not isinstance(value, Code):
            value = self._make(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key: str, default: "Code | None" = None) -> "Code | None":  # type: ignore[override]
        value = dict.get(self, key)  # one frame: coding a note reads thousands of codes
        if value is None:
            return default
        if not isinstance(value, Code):
            value = self._make(value)
            dict.__setitem__(self, key, value)
        return value

    def values(self):  # type: ignore[override]
        return (self[k] for k in self)

    def items(self):  # type: ignore[override]
        return ((k, self[k]) for k in self)

    def parent_of(self, key: str) -> str | None:
        return self[key].parent


@dataclass
class CodeSet:
    """All codes of one release of one system, keyed by official code."""

    release: Release
    codes: dict[str, Code] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return self.release.system

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __getitem__(self, code: str) -> Code:
        return self.codes[code]

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes.values())

    def __len__(self) -> int:
        return len(self.codes)

    def get(self, code: str) -> Code | None:
        return self.codes.get(code)

    def parents(self) -> Iterator[tuple[str, str | None]]:
        """``(code, parent)`` for every code, without materializing lazily loaded codes."""
        if isinstance(self.codes, LazyCodes):
            return ((k, self.codes.parent_of(k)) for k in self.codes)
        return ((c.code, c.parent) for c in self.codes.values())

    def billable(self) -> Iterator[Code]:
        return (c for c in self.codes.values() if c.billable)

    def is_valid(self, code: str) -> bool:
        """True if ``code`` exists and may be reported on a claim."""
        c = self.codes.get(code)
        return c is not None and c.billable


def normalize_code(code: str, system: str) -> str:
    """Official upper-case form: dotted for ICD-10-CM (``e1122`` -> ``E11.22``)."""
    raw = code.strip().upper().replace(" ", "")
    if system == "ICD-10-CM":
        raw = raw.replace(".", "")
        return raw if len(raw) <= 3 else f"{raw[:3]}.{raw[3:]}"
    return raw.replace(".", "")


class DeferredCodeSet(CodeSet):
    """A release whose codes load on first use (older releases rarely asked for)."""

    def __init__(self, release: Release, loader: Callable[[], CodeSet]) -> None:  # noqa: D107
        self.release = release
        self._loader = loader
        self._codes: dict[str, Code] | None = None

    @property  # type: ignore[override]
    def codes(self) -> dict[str, Code]:
        if self._codes is None:
            self._codes = self._loader().codes
        return self._codes
