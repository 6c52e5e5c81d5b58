"""``cac_context_v1``: ConText-style assertions on mention spans.

Every span in ``doc.spans[spans_key]`` (``"ents"``: ``doc.ents``) gets
``._.negated``, ``._.uncertain``, ``._.historical``, ``._.family``,
``._.hypothetical``, ``._.experiencer``, ``._.other_context`` and
``._.context_triggers`` (see :mod:`cac.pipeline.extensions`).

Triggers, terminators and pseudo-triggers come from
``resources/context_rules.json``; literals, and token patterns made only of
literal tokens (expanded at load time), are matched with one phrase matcher on
lower-cased tokens (:class:`cac.pipeline.phrase_matcher.TokenPhraseMatcher`, spaCy's ``PhraseMatcher``'s
matches); literal patterns with ``*`` or ``+`` are walked from their
first word (:mod:`cac.pipeline.token_patterns`); any other token pattern falls
back to a (slower) spaCy ``Matcher``.
Only sentences holding a mention get scopes computed.  Overlapping matches
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

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from spacy.attrs import IDS
from spacy.errors import MatchPatternError
from spacy.lang.lex_attrs import LEX_ATTRS
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from cac.pipeline.phrase_matcher import TokenPhraseMatcher
from cac.pipeline.token_patterns import LiteralPatternMatcher, literal_steps, literal_token
from cac.pipeline.extensions import (
    CONTEXT_ATTR,
    CONTEXT_FLAGS,
    SECTIONS_KEY,
    doc_text,
    group_spans,
    new_context_record,
    parse_rules,
    read_rules,
    rule_error,
    sentence_starts,
    write_rules,
)

RULES_FILE = "context_rules.json"
TRIGGER_DIRECTIONS = ("forward", "backward", "bidirectional")
DIRECTIONS = TRIGGER_DIRECTIONS + ("terminate", "pseudo")
EXPERIENCERS = {"patient": 0, "other": 1, "family": 2}  # precedence when several apply
_PRIORITY = {"pseudo": 0, "terminate": 1}


@dataclass(frozen=True, slots=True)
class ContextRule:
    """One rule: a trigger (with category), a terminator or a pseudo-trigger.

    ``literal`` names the rule (the first literal of its group)."""

    literal: str
    direction: str
    category: str | None = None
    max_scope: int | None = None
    max_scope_backward: int | None = None
    terminates: frozenset[str] | None = None  # None: every category

    def ends(self, category: str) -> bool:
        return self.terminates is None or category in self.terminates


@dataclass(slots=True)
class Trigger:
    """A rule matched in a doc, with its scope (token offsets, end exclusive)."""

    start: int
    end: int
    rule: ContextRule
    scope_start: int
    scope_end: int
    sentence: int
    start_char: int = -1  # filled in when the trigger is first reported
    end_char: int = -1

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
        phrase = TokenPhraseMatcher(self.nlp.vocab, attr="LOWER")
        exact = TokenPhraseMatcher(self.nlp.vocab, attr="ORTH")
        literal = LiteralPatternMatcher(self.nlp.vocab)
        matcher = Matcher(self.nlp.vocab)
        by_key: dict[int, ContextRule] = {}
        for i, item in enumerate(items):
            literals, pattern, fields = self._parse_rule(item, f"rules[{i}]", categories, label)
            key = f"cac_ctx_{i}"
            by_key[self.nlp.vocab.strings.add(key)] = ContextRule(literals[0], **fields)
            if pattern is None:
                phrase.add(key, [self.nlp.make_doc(lit) for lit in literals])
                continue
            phrases = _pattern_phrases(pattern)
            if phrases is not None:
                attr, word_lists = phrases
                target = phrase if attr == "LOWER" else exact
                target.add(key, [Doc(self.nlp.vocab, words=words) for words in word_lists])
                continue
            if all(literal_steps(p, self.nlp.vocab) for p in pattern):
                for p in pattern:
                    literal.add(key, p)
                continue
            unread = _uncomputed_attrs(pattern, self.nlp.vocab)
            if unread:
                raise rule_error(label, f"rules[{i}]: the pattern reads {', '.join(unread)}, which this pipeline "
                                        "does not compute for words (build_pipeline(lexeme_attrs=...) must list it)")
            try:
                matcher.add(key, _expand_first_token(pattern))
            except (MatchPatternError, ValueError, TypeError, KeyError, re.error) as err:
                raise rule_error(label, f"rules[{i}]: invalid token pattern ({type(err).__name__})") from None
        self.rules = data
        self.categories = categories
        self.section_defaults = {k: tuple(v) for k, v in defaults.items()}
        self._by_key = by_key
        self._priority = {key: _PRIORITY.get(rule.direction, 2) for key, rule in by_key.items()}
        self._matchers = [m for m in (phrase, exact, literal, matcher) if len(m)]

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
        if not isinstance(literals, list) or not literals or not all(_nonblank(x) for x in literals):
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
        found = self._triggers(doc, sentence_starts(doc))
        for trigger in found:
            words = doc[trigger.start : trigger.end]
            trigger.start_char, trigger.end_char = words.start_char, words.end_char
        return found

    def _triggers(self, doc: Doc, starts: list[int], sentences: set[int] | None = None) -> list[Trigger]:
        found = [(s, e, key) for matcher in self._matchers for key, s, e in matcher(doc)]
        if not found:
            return []
        by_key, priority = self._by_key, self._priority
        # longest first, then pseudo and terminating triggers, then leftmost; ties in the order found (the
        # index keeps the sort stable, and tuples sort without a key function)
        order = sorted([(s - e, priority[key], s, i) for i, (s, e, key) in enumerate(found)])
        taken = bytearray(len(doc))
        kept = []
        for _, _, _, i in order:
            s, e, key = found[i]
            rule = by_key[key]
            if any(taken[s:e]):
                continue
            taken[s:e] = b"\x01" * (e - s)
            if rule.direction != "pseudo":
                kept.append((s, e, rule))
        kept.sort(key=lambda m: m[0])
        return self._with_scopes(doc, kept, starts, sentences)

    def _with_scopes(
        self,
        doc: Doc,
        kept: list[tuple[int, int, ContextRule]],
        starts: list[int],
        sentences: set[int] | None,
    ) -> list[Trigger]:
        n = len(doc)
        sentence_of = [bisect_right(starts, s) - 1 for s, _, _ in kept]
        terminators: dict[int, list[tuple[int, int, ContextRule]]] = {}
        for match, k in zip(kept, sentence_of):
            if match[2].direction == "terminate":
                terminators.setdefault(k, []).append(match)
        out: list[Trigger] = []
        for (s, e, rule), k in zip(kept, sentence_of):
            if sentences is not None and k not in sentences:
                continue
            if rule.direction == "terminate":
                out.append(Trigger(s, e, rule, s, s, k))
                continue
            sent_start = starts[k]
            sent_end = starts[k + 1] if k + 1 < len(starts) else n
            terms = terminators.get(k, ())
            category = rule.category or ""
            scope_start, scope_end = s, e
            limit = rule.max_scope or self.max_scope
            if rule.direction in ("forward", "bidirectional"):
                scope_end = sent_end
                for ts, _, term in terms:
                    if ts >= e and term.ends(category):
                        scope_end = ts
                        break
                if limit:
                    scope_end = min(scope_end, e + limit)
            if rule.direction in ("backward", "bidirectional"):
                scope_start = sent_start
                for _, te, term in reversed(terms):
                    if te <= s and term.ends(category):
                        scope_start = te
                        break
                back_limit = rule.max_scope_backward or limit
                if back_limit:
                    scope_start = max(scope_start, s - back_limit)
            out.append(Trigger(s, e, rule, scope_start, scope_end, k))
        return out

    # --- annotation ---------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        targets = self._targets(doc)
        if not targets:
            return doc
        starts = sentence_starts(doc)
        located = []
        sentences: set[int] = set()
        for span in targets:
            start, end = span.start, span.end
            first = bisect_right(starts, start) - 1
            last = bisect_right(starts, max(end - 1, start)) - 1
            located.append((start, end, span.start_char, span.end_char, first, last))
            sentences.update(range(first, last + 1))
        by_sentence: dict[int, list[Trigger]] = {}
        for trigger in self._triggers(doc, starts, sentences):
            if trigger.rule.direction != "terminate":
                by_sentence.setdefault(trigger.sentence, []).append(trigger)
        text = doc_text(doc)
        user_data = doc.user_data
        records = user_data.get(SECTIONS_KEY) or ()
        section_starts = [r[3] for r in records]
        for start, end, start_char, end_char, first, last in located:
            near = by_sentence.get(first, []) if first == last else [
                t for k in range(first, last + 1) for t in by_sentence.get(k, ())
            ]
            s = bisect_right(section_starts, start_char) - 1
            section = records[s][0] if s >= 0 and start_char < records[s][4] else None
            record = self._assert(doc, text, start, end, section, near)
            key = ("._.", CONTEXT_ATTR, start_char, end_char)
            if record is None:
                user_data.pop(key, None)
            else:
                user_data[key] = record
        return doc

    def _targets(self, doc: Doc) -> Iterable[Span]:
        if self.spans_key == "ents":
            return doc.ents
        return group_spans(doc.spans[self.spans_key]) if self.spans_key in doc.spans else ()

    def _assert(
        self, doc: Doc, text: str, start: int, end: int, section: str | None, triggers: list[Trigger]
    ) -> dict[str, Any] | None:
        """The assertion record of a target; ``None`` when nothing applies."""
        record: dict[str, Any] | None = None
        if section in self.section_defaults:
            record = new_context_record()
            for category in self.section_defaults[section]:
                self._apply(record, category)
                record["triggers"].append(
                    {"category": category, "text": None, "start": None, "end": None,
                     "direction": None, "source": f"section:{section}"}
                )
        for trigger in triggers:
            if not trigger.modifies(start, end):
                continue
            if record is None:
                record = new_context_record()
            if trigger.start_char < 0:
                words = doc[trigger.start : trigger.end]
                trigger.start_char, trigger.end_char = words.start_char, words.end_char
            category = trigger.rule.category or ""
            self._apply(record, category)
            record["triggers"].append(
                {"category": category, "text": text[trigger.start_char : trigger.end_char],
                 "start": trigger.start_char, "end": trigger.end_char,
                 "direction": trigger.rule.direction, "source": "trigger"}
            )
        return record

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


_MAX_PHRASES = 50_000


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _pattern_phrases(patterns: list[list[dict[str, Any]]]) -> tuple[str, list[list[str]]] | None:
    """Token patterns made only of literal tokens (one string, or ``{"IN": [...]}``,
    optionally ``"OP": "?"``) as the word lists they can match, for a
    ``PhraseMatcher``; ``None`` when a pattern needs the (slower) ``Matcher``."""
    attr: str | None = None
    out: list[list[str]] = []
    for pattern in patterns:
        options: list[list[str | None]] = []
        for token in pattern:
            parsed = literal_token(token)
            if parsed is None or parsed[2] not in (None, "?") or attr not in (None, parsed[0]):
                return None
            attr, words, op = parsed
            options.append([*words, *([None] if op == "?" else [])])
        combos: list[list[str]] = [[]]
        for choice in options:
            combos = [c + [w] if w is not None else c for c in combos for w in choice]
            if len(combos) > _MAX_PHRASES:
                return None
        out.extend(c for c in combos if c)
    return (attr, out) if attr is not None and out else None


def _uncomputed_attrs(patterns: list[list[dict[str, Any]]], vocab: Vocab) -> list[str]:
    """The lexeme attributes (``LIKE_NUM``, ``NORM``, ``IS_STOP``...) that ``patterns`` read and ``vocab``
    does not compute for new words (``build_pipeline`` computes only those cac reads): such a pattern
    would silently never match."""
    computed = vocab.lex_attr_getters or {}
    out: list[str] = []
    for pattern in patterns:
        for token in pattern:
            for name in token if isinstance(token, dict) else ():
                attr = IDS.get(name.upper()) if isinstance(name, str) else None
                if attr in LEX_ATTRS and attr not in computed and name.upper() not in out:
                    out.append(name.upper())
    return out


def _expand_first_token(patterns: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """Split ``{"LOWER": {"IN": [...]}}`` on a pattern's first token into one
    pattern per value: plain string values are matched natively, while set
    predicates would run in Python at every token of every doc."""
    out: list[list[dict[str, Any]]] = []
    for pattern in patterns:
        first = pattern[0] if pattern and isinstance(pattern[0], dict) else None
        if first is None or len(first) != 1 or "OP" in first:
            out.append(pattern)
            continue
        (attr, value), = first.items()
        if isinstance(value, dict) and set(value) == {"IN"} and isinstance(value["IN"], list):
            out.extend([{attr: v}] + pattern[1:] for v in value["IN"])
        else:
            out.append(pattern)
    return out


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
