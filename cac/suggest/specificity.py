"""Billable specificity: from a matched code to the code a coder would report.

A term may name a category (``E11``) or a code that needs a 7th character
(``S72.90``).  :func:`default_billable` walks down to the code the Index would
give when the documentation adds nothing ("unspecified", "without
complications", the initial encounter); :func:`alternatives` lists the more
specific codes and which detail each needs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

from cac.codesets.model import Code, CodeSet
from cac.types import Alternative

_MISSING_WORDS = (
    (("right", "left", "bilateral"), "laterality"),
    (("stage",), "stage"),
    (("type",), "type"),
    (("initial encounter", "subsequent encounter", "sequela"), "encounter"),
    (("acute", "chronic"), "acuity"),
    (("trimester",), "trimester"),
    (("with ", "without "), "complication or manifestation"),
    (("displaced", "nondisplaced"), "displacement"),
    (("open", "closed"), "open or closed"),
)


#: How many siblings and alternatives a code lists by default (the counts :class:`CodeFacts` keeps).
SIBLINGS_LIMIT = 8
ALTERNATIVES_LIMIT = 5

_TITLE_WORD = re.compile(r"[a-z]+")
#: The side words a title may carry (laterality is one of them, exactly).
SIDES = frozenset({"right", "left", "bilateral"})


def title_words(title: str) -> frozenset[str]:
    return frozenset(_TITLE_WORD.findall(title.lower()))


class CodeFacts:
    """What the specificity walks read of every code, indexed once per code set and cached with the lexicon,
    so walking a family loads no code's row: the codes not valid on a claim (``headers``), each code's 7th
    character where it has one (``seventh``), and the codes whose title names a side (``sided``).

    :meth:`add_defaults` adds the walks' answers for the codes the lexicon's terms name: the billable code
    each gives when the note adds nothing (``defaults``, "" for none); those billable codes with their
    siblings (``targets``: ``code -> "sibling sibling ..."``, "" for none) and which of them can take a
    documented side (``lateral``), have qualifier options (``qualified``) or are unspecified ones
    (``unspecified``); and the more specific alternatives of each code and its default (``alternatives``:
    ``"code default" -> "alternative:missing|missing;..."``, none for most).  Without them
    each answer is walked the first time a note needs it (same answers, ~0.1-0.2 ms each: a batch run's
    first few hundred notes meet thousands of terms for the first time)."""

    __slots__ = ("headers", "seventh", "sided", "defaults", "targets", "lateral", "qualified", "unspecified",
                 "alternatives")

    def __init__(self, headers: frozenset[str], seventh: dict[str, str], sided: frozenset[str],
                 defaults: dict[str, str] | None = None, targets: dict[str, str] | None = None,
                 lateral: frozenset[str] = frozenset(), qualified: frozenset[str] = frozenset(),
                 unspecified: frozenset[str] = frozenset(), alternatives: dict[str, str] | None = None) -> None:
        self.headers = headers
        self.seventh = seventh
        self.sided = sided
        self.defaults = defaults if defaults is not None else {}
        self.targets = targets if targets is not None else {}
        self.lateral = lateral
        self.qualified = qualified
        self.unspecified = unspecified
        self.alternatives = alternatives if alternatives is not None else {}

    @classmethod
    def of(cls, cs: CodeSet) -> "CodeFacts":
        headers: set[str] = set()
        seventh: dict[str, str] = {}
        sided: set[str] = set()
        for c in cs:
            if not c.billable:
                headers.add(c.code)
            if "seventh" in c.attrs:
                seventh[c.code] = c.attrs["seventh"]
            if title_words(c.title) & SIDES:
                sided.add(c.code)
        return cls(frozenset(headers), seventh, frozenset(sided))

    def add_defaults(self, spec: "Specificity", codes: Iterable[str]) -> None:
        """Walk ``spec`` (over this facts' code set, without kept answers yet) once for ``codes`` and keep
        the answers (see the class); they are set together at the end, so every answer is walked."""
        defaults = {code: spec.default_billable(code) or "" for code in sorted(set(codes))}
        targets = {t: " ".join(spec.siblings(t)) for t in sorted({t for t in defaults.values() if t})}
        lateral = frozenset(t for t in targets if spec.has_sides(t))
        qualified = frozenset(t for t in targets if spec.qualifier_options(t))
        unspecified = frozenset(t for t in targets if spec.is_unspecified(t))
        alternatives = {f"{code} {t}": ";".join(f"{a.code}:{'|'.join(a.missing)}" for a in alts)
                        for code, t in defaults.items() if t and (alts := spec.alternatives(code, t))}
        self.defaults, self.targets, self.lateral, self.qualified, self.unspecified, self.alternatives = (
            defaults, targets, lateral, qualified, unspecified, alternatives)

    def to_json(self) -> dict[str, Any]:
        """Compact cached form: code lists as space-separated strings, the 7th characters grouped by value."""
        by_char: dict[str, list[str]] = {}
        for code, char in self.seventh.items():
            by_char.setdefault(char, []).append(code)
        return {"headers": " ".join(sorted(self.headers)), "sided": " ".join(sorted(self.sided)),
                "seventh": {char: " ".join(sorted(codes)) for char, codes in sorted(by_char.items())},
                "defaults": self.defaults, "targets": self.targets, "lateral": " ".join(sorted(self.lateral)),
                "qualified": " ".join(sorted(self.qualified)), "unspecified": " ".join(sorted(self.unspecified)),
                "alternatives": self.alternatives}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CodeFacts":
        seventh = {code: char for char, codes in data["seventh"].items() for code in codes.split()}
        kept = [data.get(k) or {} for k in ("defaults", "targets", "alternatives")]  # read as they are
        if not all(isinstance(k, dict) for k in kept):
            raise TypeError("kept answers are not objects")
        return cls(frozenset(data["headers"].split()), seventh, frozenset(data["sided"].split()), kept[0], kept[1],
                   *(frozenset(data.get(k, "").split()) for k in ("lateral", "qualified", "unspecified")), kept[2])

    @classmethod
    def from_cached(cls, data: Any) -> "CodeFacts | None":
        """:meth:`from_json`, or None when ``data`` is missing or not in that form (the walks then read each
        code's row: slower, same answers)."""
        try:
            return cls.from_json(data)
        except (KeyError, TypeError, AttributeError):
            return None


class Specificity:
    """Walks a code set's hierarchy; children are indexed once per code set."""

    def __init__(self, cs: CodeSet, children: dict[str, list[str]] | None = None,
                 facts: CodeFacts | None = None) -> None:
        self.cs = cs
        self.children = children if children is not None else children_index(cs)
        self.facts = facts  # None: each code's row is read instead
        self.default_billable = lru_cache(maxsize=65536)(self._default_billable)
        self.siblings = lru_cache(maxsize=65536)(self._siblings)  # type: ignore[method-assign]
        self._alternatives = lru_cache(maxsize=65536)(self._alternatives_uncached)
        self.has_sides = lru_cache(maxsize=65536)(self._has_sides)  # type: ignore[method-assign]
        # read for every side and qualifier a mention states: walked once per code
        self._specific_descendants = lru_cache(maxsize=65536)(self._specific_descendants)  # type: ignore[method-assign]
        self._family_root = lru_cache(maxsize=65536)(self._family_root)  # type: ignore[method-assign]
        self.qualifier_options = lru_cache(maxsize=65536)(self._qualifier_options)  # type: ignore[method-assign]
        self.is_unspecified = lru_cache(maxsize=65536)(self._is_unspecified)
        self._lateral_options = lru_cache(maxsize=65536)(self._lateral_options_uncached)

    def _default_billable(self, code: str, seventh: str = "A") -> str | None:
        """The billable code a coder reports for ``code`` when the documentation adds nothing (None when
        every child needs a detail).  A code written with placeholder X's and no 7th character
        (``W19.XXX``, ``S39.94X``, as corpora coded without the encounter have it) is the code the X's pad."""
        if seventh == "A" and self.facts is not None:
            known = self.facts.defaults.get(code)
            if known is not None:
                return known or None
        c = self.cs.get(code)
        if c is None:
            padded = code[:-1].rstrip(".") if code.endswith("X") else ""
            return self._default_billable(padded, seventh) if padded else None
        if c.billable:
            return code
        kids = self.children.get(code, [])
        if not kids:
            return None
        char = self._seventh
        seventh_kids = [k for k in kids if char(k)]
        if seventh_kids:
            pick = next((k for k in seventh_kids if char(k) == seventh), None)
            return pick or next((k for k in seventh_kids if char(k) == "A"), seventh_kids[0])
        pick = self._pick_unspecified(kids)
        if pick is None:
            return None
        return self._default_billable(pick, seventh)

    def _pick_unspecified(self, kids: list[str]) -> str | None:
        """The child a coder reports when the documentation adds nothing; None when every child
        needs a detail (``Z68`` BMI: each child is a value range, none is "unspecified")."""
        # rank on what tells the children apart: "Migraine without aura, intractable" and "..., not
        # intractable" share "without aura", which says nothing about which child is the default
        titles = {k: self.cs[k].title.lower() for k in kids}
        shared = _common_words_prefix(list(titles.values())) if len(kids) > 1 else 0

        def rank(k: str) -> tuple[int, bool, int, int, str]:
            t = titles[k][shared:]
            if "unspecified" in t:
                r = 0
            elif "without" in t or t.startswith("not ") or " not " in t:
                r = 1
            elif " nos" in t:
                r = 2
            elif k.endswith("9"):
                r = 3
            elif k.endswith("0"):
                r = 4
            else:
                r = 5
            # among unspecified children, the one unspecified on the most axes ("of unspecified
            # behavior of unspecified site" over "of unspecified behavior of brain"); "bilateral" is a
            # documented detail, never the default (K40.90 unilateral inguinal hernia, not K40.20)
            return (r, "bilateral" in t, -t.count("unspecified"), len(t), k)

        best = min(map(rank, kids))
        return None if best[0] == 5 else best[-1]

    def _is_unspecified(self, code: str) -> bool:
        """Whether ``code``'s title says it is unspecified ("unspecified", "NOS") (cached)."""
        if self.facts is not None and code in self.facts.targets:
            return code in self.facts.unspecified
        c = self.cs.get(code)
        if c is None:
            return False
        title = c.title.lower()
        return "unspecified" in title or " nos" in title

    def _seventh(self, code: str, default: str | None = None) -> str | None:
        """A code's 7th character (``attrs["seventh"]``), ``default`` when it has none."""
        if self.facts is not None:
            return self.facts.seventh.get(code, default)
        return self.cs[code].attrs.get("seventh", default)

    def billable_descendants(self, code: str, limit: int = 200) -> list[str]:
        out: list[str] = []
        stack = [code]
        children = self.children
        headers = self.facts.headers if self.facts is not None else None
        while stack and len(out) < limit:
            k = stack.pop()
            kids = children.get(k, [])
            if not kids and (k not in headers if headers is not None else self.cs[k].billable):
                out.append(k)
            stack.extend(reversed(kids))
        return out

    def _specific_descendants(self, code: str) -> tuple[str, ...]:
        """The billable codes under ``code`` without a 7th character other than A (cached)."""
        char = self._seventh
        return tuple(k for k in self.billable_descendants(code) if char(k, "A") == "A")

    def _family_root(self, code: str) -> str:
        """``code`` or its nearest ancestor with at least two specific billable descendants (cached)."""
        root = code
        while len(self._specific_descendants(root)) < 2 and self.cs[root].parent:
            root = self.cs[root].parent
        return root

    def _siblings(self, code: str, limit: int = SIBLINGS_LIMIT) -> list[str]:
        """Billable codes sharing the nearest ancestor that has other billable descendants."""
        if limit == SIBLINGS_LIMIT and self.facts is not None:  # kept for the default limit
            kin = self.facts.targets.get(code)
            if kin is not None:
                return kin.split()
        c = self.cs.get(code)
        if c is None or not c.parent:
            return []
        root = self._family_root(c.parent)
        return [k for k in self._specific_descendants(root) if k != code][:limit]

    def _qualifier_options(self, code: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Billable codes of ``code``'s subcategory whose title differs from its own only by qualifiers the
        note would have to state ("intractable", "with status migrainosus") where ``code`` has their
        default ("not intractable", "without ..."): ``(code, the stated qualifiers)`` (cached)."""
        if self.facts is not None and code in self.facts.targets and code not in self.facts.qualified:
            return ()
        c = self.cs.get(code)
        if c is None or "." not in code or len(code) <= 5 or code[:5] not in self.cs:
            return ()
        own = _title_parts(c.title)
        out = []
        for k in self._specific_descendants(code[:5]):
            if k == code:
                continue
            parts = _title_parts(self.cs[k].title)
            stated, dropped = parts - own, own - parts
            if stated and all(not p.startswith(_DEFAULT_FORMS) for p in stated) \
                    and all(p.startswith(_DEFAULT_FORMS) for p in dropped):
                out.append((k, tuple(sorted(stated))))
        return tuple(out)

    def qualified(self, code: str, window: str) -> str | None:
        """The code of :meth:`qualifier_options` whose qualifiers ``window`` (the words at a mention) all
        states, the most qualifiers first; None when it states none. "Intractable migraine without aura":
        G43.009 (not intractable) -> G43.019; "not intractable" or "non-intractable" keeps G43.009."""
        options = self.qualifier_options(code)
        if not options:
            return None
        words = _WORDS.findall(window.lower())
        said = [(len(parts), k) for k, parts in options if all(_states(p, words) for p in parts)]
        return min(said, key=lambda x: (-x[0], x[1]))[1] if said else None

    def _has_sides(self, code: str) -> bool:
        """Whether :meth:`lateral` can ever refine ``code``: its title names no side and a billable code of
        its family does (cached; most codes have no sides, so the note's words need not be read)."""
        if self.facts is not None and code in self.facts.targets:
            return code in self.facts.lateral
        c = self.cs.get(code)
        if c is None or not c.parent or title_words(c.title) & SIDES:
            return False
        root = self._family_root(c.parent)
        if self.facts is not None:
            return not self.facts.sided.isdisjoint(self._specific_descendants(root))
        return any(title_words(self.cs[k].title) & SIDES for k in self._specific_descendants(root))

    def lateral(self, code: str, side: str, context: frozenset[str], neutral: frozenset[str]) -> str | None:
        """The billable code of ``code``'s family that adds the documented ``side`` ("right", "left",
        "bilateral") and nothing the note does not say (``context``: the words around the mention;
        ``neutral``: words a side implies or that restate the default, such as "unilateral"), or None.
        "Osteoarthritis of the right knee": M17.9 -> M17.11 "Unilateral primary osteoarthritis, right knee"
        (M17.31 "post-traumatic" adds a word the note lacks)."""
        for k, added in self._lateral_options(code, side):
            if not added - neutral - context:
                return k
        return None

    def _lateral_options_uncached(self, code: str, side: str) -> tuple[tuple[str, frozenset[str]], ...]:
        """The codes :meth:`lateral` chooses among for ``code`` and ``side``, best first (fewest words beyond
        ``code``'s title, then shortest title, then code), each with the words it adds beside the side
        (found once per code and side: the family's titles are read once, not at every mention)."""
        c = self.cs.get(code)
        if c is None or not c.parent or side not in SIDES:
            return ()
        own = title_words(c.title)
        if own & SIDES:
            return ()
        root = self._family_root(c.parent)
        sided = self.facts.sided if self.facts is not None else None
        ranked: list[tuple[tuple[int, int, str], frozenset[str]]] = []
        for k in self._specific_descendants(root):
            if sided is not None and k not in sided:
                continue  # its title names no side
            words = title_words(self.cs[k].title)
            if side not in words or len(words & SIDES) != 1:
                continue
            ranked.append(((len(words - own), len(self.cs[k].title), k), words - own - {side}))
        ranked.sort(key=lambda r: r[0])
        return tuple((key[2], added) for key, added in ranked)

    def alternatives(self, matched: str, chosen: str, limit: int = ALTERNATIVES_LIMIT) -> list[Alternative]:
        """More specific billable codes than ``chosen`` under the matched code
        (or its parent, when the chosen code is an unspecified one)."""
        return list(self._alternatives(matched, chosen, limit))

    def _alternatives_uncached(self, matched: str, chosen: str, limit: int) -> tuple[Alternative, ...]:
        if limit == ALTERNATIVES_LIMIT and self.facts is not None and chosen \
                and self.facts.defaults.get(matched) == chosen:  # kept for a term's code and its default
            kept = self.facts.alternatives.get(f"{matched} {chosen}")
            if not kept:
                return ()
            return tuple(Alternative(code=k, title=self.cs[k].title, missing=missing.split("|"))
                         for k, _, missing in (a.partition(":") for a in kept.split(";")))
        root = matched
        c = self.cs.get(chosen)
        if matched == chosen:
            if not self.is_unspecified(chosen) or c is None or not c.parent:
                return ()
            root = self._family_root(c.parent)
        chosen_title = (c.title.lower() if c else "")
        out: list[Alternative] = []
        for k in self.billable_descendants(root):
            if k == chosen or self._seventh(k, "A") != "A":
                continue
            title = self.cs[k].title
            lower = title.lower()
            missing = [label for words, label in _MISSING_WORDS
                       if any(w in lower for w in words) and not any(w in chosen_title for w in words)]
            out.append(Alternative(code=k, title=title, missing=missing or ["detail"]))
            if len(out) >= limit:
                break
        return tuple(out)


def _common_words_prefix(titles: list[str]) -> int:
    """Length of the longest whole-word prefix all ``titles`` share."""
    first, n = titles[0], 0
    for i, ch in enumerate(first):
        if any(len(t) <= i or t[i] != ch for t in titles[1:]):
            break
        if not ch.isalnum():
            n = i + 1
    else:
        n = len(first) if all(len(t) == len(first) or not t[len(first)].isalnum() for t in titles[1:]) else n
    return n


def children_index(cs: CodeSet) -> dict[str, list[str]]:
    """``parent -> [children]`` of a code set."""
    children: dict[str, list[str]] = {}
    for code, parent in cs.parents():
        if parent:
            children.setdefault(parent, []).append(code)
    return children


def children_to_json(children: dict[str, list[str]]) -> dict[str, str]:
    """Compact cached form: ``parent -> "child child ..."``."""
    return {k: " ".join(v) for k, v in children.items()}


class ChildrenIndex(dict):
    """``parent -> [children]`` read from the compact cached form on first access."""

    def get(self, key: str, default: list[str] | None = None) -> list[str] | None:  # type: ignore[override]
        value = dict.get(self, key)
        if value is None:
            return default
        if isinstance(value, str):
            value = value.split()
            dict.__setitem__(self, key, value)
        return value

    def __getitem__(self, key: str) -> list[str]:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value


def code_by_seventh(cs: CodeSet, code: str, seventh: str) -> str | None:
    """The sibling extension of a 7th-character code with another 7th character."""
    c: Code | None = cs.get(code)
    if c is None or "seventh" not in c.attrs:
        return None
    other = code[:-1] + seventh
    return other if other in cs else None


_WORDS = re.compile(r"[a-z]+")
#: How a title states a qualifier's default ("not intractable", "without status migrainosus").
_DEFAULT_FORMS = ("not ", "without ", "no ")
_NEGATORS = frozenset({"not", "non", "no", "without"})


def _title_parts(title: str) -> frozenset[str]:
    """A title's comma-separated parts, lower case ("migraine without aura", "not intractable", ...)."""
    return frozenset(p.strip().lower() for p in title.split(",") if p.strip())


def _states(part: str, words: list[str]) -> bool:
    """Whether ``words`` state a qualifier: all its words ("with" aside) occur, its first one not right after
    a negation ("not intractable", "non-intractable")."""
    need = [w for w in _WORDS.findall(part) if w != "with"]
    if not need or not all(w in words for w in need):
        return False
    return any(words[i - 1] not in _NEGATORS for i, w in enumerate(words) if w == need[0] and i > 0) or \
        words[0] == need[0]
