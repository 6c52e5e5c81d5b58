"""Codes read from what the note states: a value (body mass index Z68.-, weeks of gestation Z3A.-), a
long-term drug therapy (Z79.-) or an allergy status (Z88.-, Z91.0-).

The rules are package data (``resources/value_rules.json``): a regular expression, and either the code
of each range of the value its first group captures, one fixed code, or a code per agent its first
group names.  In a medication list section the drug name alone is enough (``list_pattern``; in an
allergies list, the agent).  A code not billable in the release in use is skipped; a statement in a
family or social history section, after a family member in its sentence, or after a negation
("stopped warfarin") gives nothing.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Iterable, Sequence

import orjson

from cac import scan
from cac.codesets.model import CodeSet
from cac.suggest.hits import Hit
from cac.types import Evidence, Excluded


@dataclass(frozen=True)
class ValueRule:
    id: str
    pattern: re.Pattern[str]
    ranges: tuple[tuple[float, float, str], ...]
    score: float
    reason: str
    requires_any: tuple[str, ...] = ()
    unless_any: tuple[str, ...] = ()
    code: str | None = None  # a fixed code (no value read)
    list_pattern: re.Pattern[str] | None = None  # enough inside a medication list section
    keywords: tuple[str, ...] = ()  # lower-case substrings, one of which every match contains
    negated_before: re.Pattern[str] | None = None  # this rule's own negation words, beside the shared ones
    list_sections: frozenset[str] = frozenset()  # where list_pattern is enough (default: medication sections)
    replaces: tuple[str, ...] = ()  # codes (prefixes) a mention inside this rule's match no longer gives
    agents: tuple[tuple[re.Pattern[str], str], ...] = ()  # (agent, code): codes by what group 1 names
    window: int | None = None  # every match lies within this many characters of a keyword (None: unknown)

    def codes(self) -> tuple[str, ...]:
        """Every fixed code the rule can give."""
        return tuple(code for _, code in self.agents) or ((self.code,) if self.code else ())

    def readings(self, match: re.Match[str]) -> list[tuple[str | None, str, int]]:
        """``(code, what was read, where the evidence ends)`` of each statement in a match: one, or with
        ``agents`` one per agent named in group 1 (a list match of ``list_pattern`` is one agent)."""
        if not self.agents:
            code, read = self.code_for(match)
            return [(code, read, match.end())]
        if match.re is self.list_pattern:
            start, segment = match.start(), match.group()
        else:
            start, segment = match.start(1), match.group(1)
        out = []
        for agent, code in self.agents:
            for m in agent.finditer(segment):
                out.append((code, m.group(), start + m.end()))
                break  # one reading per code and match
        return out

    def may_match(self, lowered: str, present: set[str] | None = None) -> bool:
        """False when the lower-cased note holds none of the rule's keywords (so neither pattern can match);
        ``present``: the keywords found in it, when already known (see :func:`all_keywords`)."""
        if present is not None:
            return not self.keywords or not present.isdisjoint(self.keywords)
        return not self.keywords or any(k in lowered for k in self.keywords)

    def code_for(self, match: re.Match[str]) -> tuple[str | None, str]:
        """The code a match gives, and what was read."""
        if self.code is not None:
            return self.code, match.group(1) if match.groups() else match.group()
        try:
            value = float(match.group(1))
        except (TypeError, ValueError, IndexError):
            return None, ""
        return next((code for low, high, code in self.ranges if low <= value <= high), None), f"{value:g}"


@lru_cache(maxsize=1)
def _raw() -> dict:
    return orjson.loads((resources.files("cac.suggest") / "resources" / "value_rules.json").read_bytes())


@dataclass(frozen=True)
class _Scope:
    skip_sections: frozenset[str]
    other_person: re.Pattern[str]
    negated: re.Pattern[str]
    medication_sections: frozenset[str]


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    words = list(words)
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b" if words else r"(?!)", re.IGNORECASE)


def _negation(words: Iterable[str]) -> re.Pattern[str]:
    """One of ``words``, then at most two more words, at the end of the text before a match."""
    return re.compile(r"(?:" + _alternation(words).pattern + r")\W+(?:\w+\W+){0,2}$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _scope() -> _Scope:
    raw = _raw()
    return _Scope(frozenset(raw.get("skip_sections", ())), _alternation(raw.get("other_person_words", ())),
                  _negation(raw.get("negated_before", ())), frozenset(raw.get("medication_sections", ())))


_SENTENCE_START = re.compile(r"[.!?\n][^.!?\n]*$")


@lru_cache(maxsize=1)
def value_rules() -> tuple[ValueRule, ...]:
    return tuple(ValueRule(
        r["id"], re.compile(r["pattern"], re.IGNORECASE),
        tuple((float(a), float(b), str(c)) for a, b, c in r.get("ranges", ())),
        float(r["score"]), r["reason"], tuple(r.get("requires_any", ())), tuple(r.get("unless_any", ())),
        r.get("code"), re.compile(r["list_pattern"], re.IGNORECASE) if r.get("list_pattern") else None,
        tuple(k.lower() for k in r.get("keywords", ())),
        _negation(r["negated_before"]) if r.get("negated_before") else None,
        frozenset(r.get("list_sections", ())), tuple(r.get("replaces", ())),
        tuple((re.compile(rf"\b(?:{alt})\b", re.IGNORECASE), str(code)) for alt, code in r.get("agents", ())),
        int(r["window"]) if r.get("window") else None,
    ) for r in _raw()["rules"])


@lru_cache(maxsize=1)
def all_keywords() -> tuple[str, ...]:
    """Every rule's keywords, once each (a note is searched for all of them in one pass)."""
    return tuple(dict.fromkeys(k for rule in value_rules() for k in rule.keywords))


@lru_cache(maxsize=1)
def _replacing_rules() -> dict[str, ValueRule]:
    """``code -> rule`` for the codes of the rules with ``replaces`` (built once, not per note)."""
    return {code: r for r in value_rules() if r.replaces for code in r.codes()}


def apply_replacements(hits: dict[str, Hit], found: Iterable[Hit]) -> list[Excluded]:
    """Hits of a rule's ``replaces`` codes whose every mention lies inside what that rule read leave
    ``hits`` ("allergic to penicillin": the status Z88.0, not T78.40XA, an allergic reaction now)."""
    by_code = _replacing_rules()
    excluded: list[Excluded] = []
    for h in found:
        rule = by_code.get(h.code)
        if rule is None:
            continue
        spans = [(e.start, e.end) for e in h.evidence]
        for code in [c for c in hits if c.startswith(rule.replaces) and c != h.code]:
            ev = hits[code].evidence
            if ev and all(any(a <= e.start and e.end <= b for a, b in spans) for e in ev):
                excluded.append(hits.pop(code).to_excluded(
                    f"named in what rule {rule.id} reads as {h.code}", f"value:{rule.id}", h.code))
    return excluded


def value_hits(text: str, cm: CodeSet, section_at: Callable[[int], str | None] | None = None,
               found: Iterable[str] = (), sections: Sequence[tuple[str, int, int]] | None = None) -> list[Hit]:
    """One hit per code the note's statements give; ``found`` are the codes already found in the note (a
    rule with ``requires_any`` scores half without one of them; one with ``unless_any`` gives nothing
    beside one of those).  ``sections``: the note's sections as ``(name, start, end)`` in order, where
    ``section_at`` (derived from them when not given) reads a statement's section; a list pattern is then
    read inside its sections only, not over the note."""
    if section_at is None and sections is not None:
        section_at = _section_lookup(sections)
    out: dict[str, Hit] = {}
    found = tuple(found)
    scope = _scope()
    lowered = text.lower()
    present = scan.found_in(lowered, all_keywords())
    for rule in value_rules():
        if not rule.may_match(lowered, present):
            continue
        if rule.unless_any and any(c.startswith(rule.unless_any) for c in found):
            continue
        factor = 1.0 if not rule.requires_any or any(c.startswith(rule.requires_any) for c in found) else 0.5
        for m in _matches(rule, text, section_at, scope, lowered, sections):
            readings = [r for r in rule.readings(m) if r[0] is not None and cm.is_valid(r[0])]
            if not readings:
                continue
            section = section_at(m.start()) if section_at is not None else None
            before = text[max(0, m.start() - 40):m.start()]
            if (section in scope.skip_sections or _said_of_another_person(text, m.start(), scope.other_person)
                    or scope.negated.search(before) or (rule.negated_before and rule.negated_before.search(before))):
                continue
            for code, read, end in readings:
                ev = Evidence(m.start(), end, text[m.start():end], section)
                if code in out:
                    if len(out[code].evidence) < 3:
                        out[code].evidence.append(ev)
                    continue
                why = f"{rule.reason}: {read} -> {code} (rule {rule.id})"
                if factor < 1.0:
                    why += "; no associated diagnosis found, so only a candidate"
                out[code] = Hit(code=code, system="ICD-10-CM", title=cm[code].title, score=rule.score * factor,
                                evidence=[ev], rationale=[why], matched=code)
    return list(out.values())


def _section_lookup(sections: Sequence[tuple[str, int, int]]) -> Callable[[int], str | None]:
    """The name of the section ``(name, start, end)`` holding a character, or None."""
    starts = [a for _, a, _ in sections]

    def section_at(char: int) -> str | None:
        i = bisect_right(starts, char) - 1
        return sections[i][0] if i >= 0 and char < sections[i][2] else None

    return section_at


#: How far after its header (a keyword of the rule) a rule's own list section is read.
LIST_WINDOW = 1000


def _matches(rule: ValueRule, text: str, section_at: Callable[[int], str | None] | None,
             scope: _Scope, lowered: str, sections: Sequence[tuple[str, int, int]] | None = None
             ) -> list[re.Match[str]]:
    positions = _keyword_positions(rule, lowered) if rule.keywords else []
    if rule.window and rule.keywords:
        # a rule whose matches lie near a keyword reads only the text around the keywords, not the note
        found = [m for a, b in _windows(text, positions, rule.window, rule.window)
                 for m in rule.pattern.finditer(text, a, b)]
    else:
        found = list(rule.pattern.finditer(text))
    wanted = rule.list_sections or scope.medication_sections
    if rule.list_pattern is None or section_at is None or not wanted:
        return found
    taken = [(m.start(), m.end()) for m in found]
    if rule.list_sections and rule.keywords:
        # the rule's own sections are headed by one of its keywords ("Allergies:"): read the text after
        # each keyword only, not the whole note, with the long list of agents
        windows = _windows(text, positions, 0, LIST_WINDOW)
        listed = (m for a, b in windows for m in rule.list_pattern.finditer(text, a, b))
    elif sections is not None:  # only the list sections' text, each cut at a word's end
        windows = [[a, b] for name, a, b in sections if name in wanted and b > a]
        listed = (m for a, b in _word_ends(text, windows) for m in rule.list_pattern.finditer(text, a, b))
    else:
        listed = rule.list_pattern.finditer(text)
    found += [m for m in listed if section_at(m.start()) in wanted and not any(a <= m.start() < b for a, b in taken)]
    return found


def _keyword_positions(rule: ValueRule, lowered: str) -> list[int]:
    """Where the rule's keywords occur in the lower-cased note, in order."""
    return sorted(set(scan.positions(lowered, rule.keywords)))


def _windows(text: str, positions: list[int], before: int, after: int) -> list[list[int]]:
    """``[start, end)`` of the text from ``before`` characters ahead of each position to ``after`` past it,
    overlapping ones merged; an end inside a word moves to the word's end (a regex must not read a cut
    word's end as a word boundary)."""
    windows: list[list[int]] = []
    n = len(text)
    for i in positions:
        a, b = max(0, i - before), min(n, i + after)
        if windows and a <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], b)
        else:
            windows.append([a, b])
    return _word_ends(text, windows)


def _word_ends(text: str, windows: list[list[int]]) -> list[list[int]]:
    """``windows`` with an end inside a word moved to the word's end."""
    n = len(text)
    for w in windows:
        end = w[1]
        while end < n and text[end].isalnum():
            end += 1
        w[1] = end
    return windows


def _said_of_another_person(text: str, start: int, words: re.Pattern[str]) -> bool:
    """A family member or other person is named earlier in the statement's sentence ("her mother had ...")."""
    before = text[max(0, start - 200):start]
    cut = _SENTENCE_START.search(before)
    return words.search(before[cut.start() + 1:] if cut else before) is not None
