"""``cac_context_v1``: ConText-style assertions on mention spans.

Every span in ``doc.spans[spans_key]`` (``"ents"``: ``doc.ents``) gets
``._.negated``, ``._.uncertain``, ``._.historical``, ``._.family``,
``._.hypothetical``, ``._.experiencer``, ``._.other_context`` and
``._.context_triggers`` (see :mod:`cac.pipeline.extensions`).

Triggers, terminators and pseudo-triggers come from
``resources/context_rules.json``; literals are matched with one ``PhraseMatcher``
on lower-cased tokens, token patterns with one ``Matcher``.  Overlapping matches
keep the longest (ties: pseudo, then terminator), so a pseudo-trigger such as
"no increase" or "not ruled out" silences the trigger inside it.  A trigger's
scope runs forward and/or backward within its sentence, stops at the first
terminator that applies to its category and at ``max_scope`` tokens; a mention
is modified when it overlaps the scope (and not the trigger itself).  Section
defaults (``family_history`` -> FAMILY, ...) apply to every mention in the
section.  Mentions under Past Medical History are deliberately *not* historical
by default: chronic conditions listed there are current for coding purposes.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy
from spacy.attrs import SENT_START
from spacy.errors import MatchPatternError
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span

from cac.pipeline.extensions import (
    CONTEXT_FLAGS,
    context_key,
    new_context_record,
    parse_rules,
    read_rules,
    rule_error,
    section_record_at,
    write_rules,
)

RULES_FILE = "context_rules.json"
TRIGGER_DIRECTIONS = ("forward", "backward", "bidirectional")
DIRECTIONS = TRIGGER_DIRECTIONS + ("terminate", "pseudo")
EXPERIENCERS = {"patient": 0, "other": 1, "family": 2}  # precedence when several apply
_PRIORITY = {"pseudo": 0, "terminate": 1}


@dataclass(frozen=True, slots=True)
class ContextRule:
    """One rule: a trigger (with category), a terminator or a pseudo-trigger."""

    literal: str
    direction: str
    category: str | None = None
    max_scope: int | None = None
    max_scope_backward: int | None = None
    terminates: frozenset[str] | None = None  # None: every category

    def ends(self, category: str) -> bool:
        return self.terminates is None or category in self.terminates


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule matched in a doc, with its scope (token offsets, end exclusive)."""

    start: int
    end: int
    rule: ContextRule
    scope_start: int
    scope_end: int

    def modifies(self, start: int, end: int) -> bool:
        """Whether a target ``[start, end)`` lies (partly) in scope, off the trigger."""
        if start < self.end and self.start < end:
            return False
        return start < self.scope_end and self.scope_start < end


class ContextComponent:
    """Assigns ConText assertions to the mentions in ``doc.spans[spans_key]``."""

    def __init__(
        self,
        nlp: Language,
        name: str = "cac_context",
        *,
        spans_key: str = "mentions",
        rules: str | None = None,
        max_scope: int | None = None,
    ) -> None:
        self.name = name
        self.nlp = nlp
        self.spans_key = spans_key
        self.max_scope = max_scope
        data, label = read_rules(rules, RULES_FILE)
        self._load(data, label)

    # --- rules --------------------------------------------------------------

    def _load(self, data: dict[str, Any], label: str) -> None:
        categories = self._parse_categories(data.get("categories"), label)
        defaults = data.get("section_defaults", {})
        if not isinstance(defaults, dict) or not all(
            isinstance(v, list) and all(c in categories for c in v) for v in defaults.values()
        ):
            raise rule_error(label, "'section_defaults' must map section names to lists of known categories")
        items = data.get("rules")
        if not isinstance(items, list) or not items:
            raise rule_error(label, "'rules' must be a non-empty list")
        phrase = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        matcher = Matcher(self.nlp.vocab)
        by_key: dict[int, list[ContextRule]] = {}
        for i, item in enumerate(items):
            literals, pattern, fields = self._parse_rule(item, f"rules[{i}]", categories, label)
            key = f"cac_ctx_{i}"
            rules = [ContextRule(lit, **fields) for lit in literals]
            by_key[self.nlp.vocab.strings.add(key)] = rules
            if pattern is not None:
                try:
                    matcher.add(key, pattern)
                except (MatchPatternError, ValueError, TypeError) as err:
                    raise rule_error(label, f"rules[{i}]: invalid token pattern ({type(err).__name__})") from None
            else:
                phrase.add(key, [self.nlp.make_doc(lit) for lit in literals])
        self.rules = data
        self.categories = categories
        self.section_defaults = {k: tuple(v) for k, v in defaults.items()}
        self._by_key = by_key
        self._phrase = phrase
        self._matcher = matcher

    @staticmethod
    def _parse_categories(value: Any, label: str) -> dict[str, dict[str, Any]]:
        if not isinstance(value, dict) or not value:
            raise rule_error(label, "'categories' must be a non-empty object of category -> attributes")
        for category, attrs in value.items():
            if not isinstance(attrs, dict) or not attrs:
                raise rule_error(label, f"category {category!r} must map to an object of attributes")
            for attr, attr_value in attrs.items():
                if attr in CONTEXT_FLAGS:
                    ok = isinstance(attr_value, bool)
                elif attr == "experiencer":
                    ok = attr_value in EXPERIENCERS
                elif attr == "other_context":
                    ok = attr_value is None or isinstance(attr_value, str)
                else:
                    ok = False
                if not ok:
                    raise rule_error(label, f"category {category!r}: bad attribute {attr!r}")
        return value

    @staticmethod
    def _parse_rule(
        item: Any, where: str, categories: dict[str, Any], label: str
    ) -> tuple[list[str], list[list[dict[str, Any]]] | None, dict[str, Any]]:
        if not isinstance(item, dict):
            raise rule_error(label, f"{where} must be an object")
        literal = item.get("literal")
        literals = [literal] if isinstance(literal, str) else literal
        if not isinstance(literals, list) or not literals or not all(isinstance(x, str) and x.strip() for x in literals):
            raise rule_error(label, f"{where}: 'literal' must be a non-empty string or list of strings")
        direction = item.get("direction")
        if direction not in DIRECTIONS:
            raise rule_error(label, f"{where}: 'direction' must be one of {', '.join(DIRECTIONS)}")
        category = item.get("category")
        if direction in TRIGGER_DIRECTIONS and category not in categories:
            raise rule_error(label, f"{where}: 'category' must be one of {', '.join(categories)}")
        fields: dict[str, Any] = {"direction": direction, "category": category}
        for scope_key in ("max_scope", "max_scope_backward"):
            scope = item.get(scope_key)
            if scope is not None and (not isinstance(scope, int) or isinstance(scope, bool) or scope < 1):
                raise rule_error(label, f"{where}: {scope_key!r} must be a positive integer")
            fields[scope_key] = scope
        terminates = item.get("terminates")
        if terminates is not None:
            if not isinstance(terminates, list) or not all(c in categories for c in terminates):
                raise rule_error(label, f"{where}: 'terminates' must list known categories")
            terminates = frozenset(terminates)
        fields["terminates"] = terminates
        pattern = item.get("pattern")
        if pattern is not None:
            if not isinstance(pattern, list) or not pattern:
                raise rule_error(label, f"{where}: 'pattern' must be a non-empty list")
            pattern = pattern if isinstance(pattern[0], list) else [pattern]
            literals = literals[:1]
        return literals, pattern, fields

    # --- matching -----------------------------------------------------------

    def triggers(self, doc: Doc) -> list[Trigger]:
        """Triggers and terminators kept after overlap resolution, with scopes."""
        found = [(s, e, key) for key, s, e in self._phrase(doc)]
        found += [(s, e, key) for key, s, e in self._matcher(doc)]
        if not found:
            return []
        candidates = []
        for s, e, key in found:
            rules = self._by_key[key]
            rule = rules[0] if len(rules) == 1 else _rule_for(rules, doc[s:e].text.lower())
            candidates.append((s, e, rule))
        candidates.sort(key=lambda m: (m[0] - m[1], _PRIORITY.get(m[2].direction, 2), m[0]))
        taken = numpy.zeros(len(doc), dtype=bool)
        kept = []
        for s, e, rule in candidates:
            if taken[s:e].any():
                continue
            taken[s:e] = True
            if rule.direction != "pseudo":
                kept.append((s, e, rule))
        kept.sort(key=lambda m: m[0])
        return self._with_scopes(doc, kept)

    def _with_scopes(self, doc: Doc, kept: list[tuple[int, int, ContextRule]]) -> list[Trigger]:
        starts = _sentence_starts(doc)
        n = len(doc)
        terminators = [(s, e, r) for s, e, r in kept if r.direction == "terminate"]
        out: list[Trigger] = []
        for s, e, rule in kept:
            k = bisect_right(starts, s) - 1
            sent_start = starts[k]
            sent_end = starts[k + 1] if k + 1 < len(starts) else n
            if rule.direction == "terminate":
                out.append(Trigger(s, e, rule, s, s))
                continue
            category = rule.category or ""
            scope_start, scope_end = s, e
            limit = rule.max_scope or self.max_scope
            if rule.direction in ("forward", "bidirectional"):
                scope_end = sent_end
                for ts, _, term in terminators:
                    if ts >= e and term.ends(category):
                        scope_end = min(scope_end, ts)
                        break
                if limit:
                    scope_end = min(scope_end, e + limit)
            if rule.direction in ("backward", "bidirectional"):
                scope_start = sent_start
                for ts, te, term in reversed(terminators):
                    if te <= s and term.ends(category):
                        scope_start = max(scope_start, te)
                        break
                back_limit = rule.max_scope_backward or limit
                if back_limit:
                    scope_start = max(scope_start, s - back_limit)
            out.append(Trigger(s, e, rule, scope_start, scope_end))
        return out

    # --- annotation ---------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        targets = self._targets(doc)
        if not targets:
            return doc
        triggers = [t for t in self.triggers(doc) if t.rule.direction != "terminate"]
        for span in targets:
            self._assert(doc, span, triggers)
        return doc

    def _targets(self, doc: Doc) -> Iterable[Span]:
        if self.spans_key == "ents":
            return doc.ents
        return doc.spans[self.spans_key] if self.spans_key in doc.spans else ()

    def _assert(self, doc: Doc, span: Span, triggers: list[Trigger]) -> None:
        record = new_context_record()
        section = section_record_at(doc, span.start_char)
        if section is not None:
            for category in self.section_defaults.get(section[0], ()):
                self._apply(record, category)
                record["triggers"].append(
                    {"category": category, "text": None, "start": None, "end": None,
                     "direction": None, "source": f"section:{section[0]}"}
                )
        for trigger in triggers:
            if trigger.scope_start >= span.end:
                break
            if not trigger.modifies(span.start, span.end):
                continue
            category = trigger.rule.category or ""
            self._apply(record, category)
            first, last = doc[trigger.start], doc[trigger.end - 1]
            record["triggers"].append(
                {"category": category, "text": doc.text[first.idx : last.idx + len(last)],
                 "start": first.idx, "end": last.idx + len(last),
                 "direction": trigger.rule.direction, "source": "trigger"}
            )
        doc.user_data[context_key(span)] = record

    def _apply(self, record: dict[str, Any], category: str) -> None:
        for attr, value in self.categories[category].items():
            if attr == "experiencer":
                if EXPERIENCERS[value] > EXPERIENCERS[record["experiencer"]]:
                    record["experiencer"] = value
            else:
                record[attr] = value

    # --- serialization ------------------------------------------------------

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        write_rules(Path(path), RULES_FILE, self.rules)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "ContextComponent":
        file = Path(path) / RULES_FILE
        self._load(parse_rules(file.read_text(encoding="utf-8"), str(file)), str(file))
        return self


def _rule_for(rules: list[ContextRule], text: str) -> ContextRule:
    """The rule of a literal group (they share every field but the literal)."""
    return rules[0]


def _sentence_starts(doc: Doc) -> list[int]:
    if len(doc) == 0 or not doc.has_annotation("SENT_START"):
        return [0]
    values = doc.to_array(SENT_START)
    starts = numpy.flatnonzero(values == 1).tolist()
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    return starts


@Language.factory(
    "cac_context_v1",
    default_config={"spans_key": "mentions", "rules": None, "max_scope": None},
    assigns=[
        "span._.negated",
        "span._.uncertain",
        "span._.historical",
        "span._.family",
        "span._.hypothetical",
        "span._.experiencer",
        "span._.other_context",
        "span._.context_triggers",
    ],
)
def make_context(
    nlp: Language, name: str, spans_key: str, rules: str | None, max_scope: int | None
) -> ContextComponent:
    """ConText assertions (``rules``: a JSON file; ``None``: packaged)."""
    return ContextComponent(nlp, name, spans_key=spans_key, rules=rules, max_scope=max_scope)
