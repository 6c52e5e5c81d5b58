"""Codes read from a value the note states: body mass index (Z68.-), weeks of gestation (Z3A.-).

The rules are package data (``resources/value_rules.json``): a regular expression whose first
group is the number, and the code of each range of values.  A value whose code is not billable in
the release in use is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable

import orjson

from cac.codesets.model import CodeSet
from cac.suggest.hits import Hit
from cac.types import Evidence


@dataclass(frozen=True)
class ValueRule:
    id: str
    pattern: re.Pattern[str]
    ranges: tuple[tuple[float, float, str], ...]
    score: float
    reason: str
    requires_any: tuple[str, ...] = ()

    def code_for(self, value: float) -> str | None:
        return next((code for low, high, code in self.ranges if low <= value <= high), None)


@lru_cache(maxsize=1)
def _raw() -> dict:
    return orjson.loads((resources.files("cac.suggest") / "resources" / "value_rules.json").read_bytes())


@lru_cache(maxsize=1)
def _other_person() -> tuple[frozenset[str], re.Pattern[str]]:
    raw = _raw()
    words = "|".join(re.escape(w) for w in raw.get("other_person_words", ()))
    return frozenset(raw.get("skip_sections", ())), re.compile(rf"\b(?:{words})\b" if words else r"(?!)", re.IGNORECASE)


_SENTENCE_START = re.compile(r"[.!?\n][^.!?\n]*$")


@lru_cache(maxsize=1)
def value_rules() -> tuple[ValueRule, ...]:
    raw = _raw()
    return tuple(ValueRule(r["id"], re.compile(r["pattern"], re.IGNORECASE),
                           tuple((float(a), float(b), str(c)) for a, b, c in r["ranges"]),
                           float(r["score"]), r["reason"], tuple(r.get("requires_any", ())))
                 for r in raw["rules"])


def value_hits(text: str, cm: CodeSet, section_at: Callable[[int], str | None] | None = None,
               found: Iterable[str] = ()) -> list[Hit]:
    """One hit per code a stated value gives; ``found`` are the codes already found in the note (a rule
    with ``requires_any`` scores half without one of them)."""
    out: dict[str, Hit] = {}
    found = tuple(found)
    skip_sections, other_person = _other_person()
    for rule in value_rules():
        factor = 1.0 if not rule.requires_any or any(c.startswith(rule.requires_any) for c in found) else 0.5
        for m in rule.pattern.finditer(text):
            try:
                value = float(m.group(1))
            except (TypeError, ValueError):
                continue
            code = rule.code_for(value)
            if code is None or not cm.is_valid(code):
                continue
            section = section_at(m.start()) if section_at is not None else None
            if section in skip_sections or _said_of_another_person(text, m.start(), other_person):
                continue
            ev = Evidence(m.start(), m.end(), text[m.start():m.end()], section)
            if code in out:
                out[code].evidence.append(ev)
                continue
            why = f"{rule.reason}: {value:g} -> {code} (rule {rule.id})"
            if factor < 1.0:
                why += "; no associated diagnosis found, so only a candidate"
            out[code] = Hit(code=code, system="ICD-10-CM", title=cm[code].title, score=rule.score * factor,
                            evidence=[ev], rationale=[why], matched=code)
    return list(out.values())


def _said_of_another_person(text: str, start: int, words: re.Pattern[str]) -> bool:
    """A family member or other person is named earlier in the value's sentence ("her mother had ...")."""
    before = text[max(0, start - 200):start]
    cut = _SENTENCE_START.search(before)
    return words.search(before[cut.start() + 1:] if cut else before) is not None
