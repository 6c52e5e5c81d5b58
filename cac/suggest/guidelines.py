"""ICD-10-CM Official Guidelines applied to candidate codes (rules are JSON data).

- context: negated and hypothetical mentions are not coded; family history
  becomes Z80-Z84, personal history Z85-Z87 (or the status code); uncertain
  diagnoses are coded as established for inpatient stays and not coded for
  outpatient visits (their signs and symptoms are coded instead, from their own
  mentions);
- combination codes for presumed causal links (diabetes "with", hypertension
  with CKD and/or heart failure);
- symptoms integral to a confirmed diagnosis are not coded separately;
- Excludes1 pairs are not suggested together (the weaker is excluded);
- 7th characters for injuries by encounter.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache
from importlib import resources
from typing import Any

import orjson

from cac.codesets.icd10cm import note_code_refs
from cac.codesets.model import CodeSet
from cac.suggest.hits import Hit
from cac.suggest.specificity import title_words
from cac.types import Excluded


@lru_cache(maxsize=1)
def guideline_rules() -> dict[str, Any]:
    return orjson.loads((resources.files("cac.suggest") / "resources" / "guideline_rules.json").read_bytes())


def _by_prefix(table: dict[str, str], code: str) -> str | None:
    plain = code
    for n in range(len(plain), -1, -1):
        hit = table.get(plain[:n])
        if hit is not None:
            return hit
    return None


def family_history_code(code: str) -> str | None:
    """Z80-Z84 code for a condition documented in a family member (None: no family history code)."""
    return _by_prefix(guideline_rules()["family_history"], code) or None


@lru_cache(maxsize=1)
def _family_history_categories() -> frozenset[str]:
    return frozenset(z[:3] for z in guideline_rules()["family_history"].values() if z)


def is_family_history_code(code: str) -> bool:
    """Whether ``code`` is itself a family history code (a category the ``family_history`` table gives:
    Z80-Z84), which a family member's mention documents rather than excludes."""
    return code[:3] in _family_history_categories()


def personal_history_code(code: str) -> str | None:
    """Z85-Z87 (or status) code for a condition the patient had before."""
    return _by_prefix(guideline_rules()["personal_history"], code)


def history_is_past(code: str) -> bool:
    """Whether 'history of' this condition means it is over (personal history Z code)
    rather than an ongoing condition documented with its history."""
    return any(code.startswith(p) for p in guideline_rules()["history_resolves"])


def encounter_character(text_lower: str) -> str:
    """7th character for injuries: A (active treatment) unless the note says otherwise."""
    for char, cues in guideline_rules()["encounter_cues"].items():
        if any(c in text_lower for c in cues):
            return char
    return "A"


def _matches(code: str, prefixes: list[str] | tuple[str, ...]) -> bool:
    return code.startswith(tuple(prefixes))


_CAUSAL_LINK = "presumed causal link, ICD-10-CM guideline I.A.15"


@lru_cache(maxsize=1)
def _combination_rules() -> tuple[tuple[dict[str, Any], tuple[tuple[str, ...], ...]], ...]:
    """The ``combinations`` rules, each with its ``when`` groups as tuples of prefixes (read once)."""
    return tuple((rule, tuple(tuple(g) for g in rule["when"])) for rule in guideline_rules()["combinations"])


@lru_cache(maxsize=1)
def _combination_prefix_lengths() -> frozenset[int]:
    """The lengths of the code prefixes the ``combinations`` rules name (the only ones looked up)."""
    return frozenset(len(p) for _, groups in _combination_rules() for g in groups for p in g)


def apply_combinations(hits: dict[str, Hit], cs: CodeSet) -> list[Excluded]:
    """Replace co-occurring codes by the combination code the guidelines direct."""
    excluded: list[Excluded] = []
    lengths = _combination_prefix_lengths()
    index = _certain_by_prefix(hits, lengths)
    for rule, groups in _combination_rules():
        found = []
        for prefixes in groups:
            match = _starting_with(index, prefixes)
            if not match:
                break
            found.append(match)
        else:
            target = rule["code"]
            if not cs.is_valid(target):
                continue
            parts = [hits[c] for group in found for c in group]
            combined = Hit(
                code=target,
                system="ICD-10-CM",
                title=cs[target].title,
                score=max(h.score for h in parts),
                evidence=[e for h in parts for e in h.evidence],
                rationale=[f"combination rule {rule['id']}: " + " + ".join(g[0] for g in found)],
                matched=target,
            )
            for i in rule["drop"]:
                for c in found[i]:
                    if c in hits and c != target:
                        excluded.append(hits.pop(c).to_excluded(
                            f"combined into {target} ({rule.get('reason', _CAUSAL_LINK)})",
                            f"combination:{rule['id']}", target))
            if target in hits:
                combined.merge(hits[target])
            hits[target] = combined
            index = _certain_by_prefix(hits, lengths)
    return excluded


def _certain_by_prefix(hits: dict[str, Hit], lengths: Collection[int] | None = None
                       ) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Every prefix (``""`` to the whole code; only those of ``lengths`` when given) of each certain hit's
    code -> those codes, and each code's place among the hits: a rule's prefixes are then looked up, not
    tested against every hit."""
    index: dict[str, list[str]] = {}
    place: dict[str, int] = {}
    for k, (c, h) in enumerate(hits.items()):
        if not h.uncertain:
            place[c] = k
            for n in range(len(c) + 1) if lengths is None else (n for n in lengths if n <= len(c)):
                index.setdefault(c[:n], []).append(c)
    return index, place


def _starting_with(index: tuple[dict[str, list[str]], dict[str, int]], prefixes: tuple[str, ...]) -> list[str]:
    """The certain hits' codes starting with one of ``prefixes``, in the hits' order (as
    ``[c for c, h in hits.items() if c.startswith(prefixes) and not h.uncertain]``)."""
    by_prefix, place = index
    lists = [codes for p in prefixes if (codes := by_prefix.get(p))]
    if len(lists) == 1:
        return list(lists[0])
    return sorted({c for codes in lists for c in codes}, key=place.__getitem__)


def apply_companions(hits: dict[str, Hit], cs: CodeSet) -> None:
    """Add the code a found code must be reported with when the note gives none of its alternatives
    (severe sepsis R65.2- brings A41.9 when no systemic infection is coded): ``companions`` rules."""
    for rule in guideline_rules().get("companions", ()):
        when = rule["when"] if isinstance(rule["when"], str) else tuple(rule["when"])
        found = [h for c, h in hits.items() if c.startswith(when) and not h.uncertain]
        target = rule["add"]
        if not found or target in hits or not cs.is_valid(target):
            continue
        if any(c.startswith(tuple(rule["unless"])) for c in hits):
            continue
        best = max(found, key=lambda h: h.score)
        hits[target] = Hit(code=target, system="ICD-10-CM", title=cs[target].title, score=best.score * 0.95,
                           evidence=list(best.evidence), rationale=[f"{rule['reason']} (rule {rule['id']})"],
                           matched=target)


@lru_cache(maxsize=1)
def _intent_cues() -> list[tuple[str, re.Pattern[str]]]:
    rules = guideline_rules().get("poisoning_intent", {})
    return [(char, re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![\w-])", re.IGNORECASE))
            for char, phrases in rules.get("cues", {}).items()]


def apply_poisoning_intent(hits: dict[str, Hit], cs: CodeSet, text: str) -> list[Excluded]:
    """A poisoning or toxic-effect code (T36-T65, 6th character 1-4) takes the intent the note states
    ("intentional overdose", "suicide attempt" -> 2; "assault" -> 3); the Table of Drugs defaults to
    accidental.  With a self-harm poisoning, suicide attempt NOS (T14.91-) and the suicidal ideation it
    acted on (R45.851, Excludes1 suicide attempt) are not coded (``self_harm_covers``)."""
    rules = guideline_rules().get("poisoning_intent")
    if not rules:
        return []
    categories = tuple(rules["categories"])
    targets = [c for c in hits if c.startswith(categories) and len(c) >= 7 and c[6] in "1234"]
    intent = next((char for char, cue in _intent_cues() if cue.search(text)), None) if targets else None
    excluded: list[Excluded] = []
    if intent is None:
        return excluded
    for code in targets:
        new = code[:6] + intent + code[7:]
        if new == code or not cs.is_valid(new):
            continue
        hit = hits.pop(code)
        hit.rationale.append(f"intent stated in the note: {code} -> {new}")
        hit.code, hit.title = new, cs[new].title
        if new in hits:
            hits[new].merge(hit)
        else:
            hits[new] = hit
    self_harm = [c for c in hits if c.startswith(categories) and len(c) >= 7 and c[6] == "2"]
    covered = tuple(rules.get("self_harm_covers", ()))
    for code in [c for c in hits if covered and c.startswith(covered)] if self_harm else []:
        excluded.append(hits.pop(code).to_excluded(
            f"the suicide attempt is coded by its method ({self_harm[0]}, intentional self-harm)", "specificity",
            self_harm[0]))
    return excluded


def apply_integral_symptoms(hits: dict[str, Hit]) -> list[Excluded]:
    """Drop symptom codes integral to a confirmed diagnosis in the same document."""
    table = guideline_rules()["integral_symptoms"]
    keys = tuple(table)
    excluded: list[Excluded] = []
    # a symptom is an R code or a code the table names as one (H92.0 otalgia)
    confirmed = [c for c, h in hits.items() if not h.uncertain and not c.startswith("R") and not c.startswith(keys)]
    for code in [c for c in hits if c.startswith(keys)]:
        prefix = next((p for p in table if code.startswith(p)), None)
        if prefix is None:
            continue
        cause = next((d for d in confirmed if _matches(d, table[prefix])), None)
        if cause is not None:
            excluded.append(hits.pop(code).to_excluded(
                f"symptom integral to confirmed diagnosis {cause} (guideline I.B.5)", "integral-symptom", cause))
    return excluded


_WITHOUT = re.compile(r"\bwithout\b", re.IGNORECASE)


def apply_excludes1(hits: dict[str, Hit], cs: CodeSet) -> list[Excluded]:
    """Resolve each Excludes1 pair among the hits.

    A note on code A that names B ("R68.83 Chills: Excludes1 chills with fever (R50.9)") says that
    condition is coded to B, so B is kept, unless B is much less confident than A
    (``excludes1_named_min_ratio``: a weak reading does not displace a strong one).  When the notes
    exclude each other (type 1 and type 2 diabetes), or B is that weak, the more confident code is
    kept (on a tie, a specific one over one whose title says "unspecified"), except that when A's note
    names B for the case *without* A's condition ("Fever: Excludes1 chills without fever (R68.83)"),
    A is kept: both documented, the condition is present."""
    pairs = _excludes1_pairs(hits, cs)
    if not pairs:
        return []
    notes = {(a, b): note for a, b, note in pairs}  # which code's note names which code

    def strength(code: str) -> tuple[float, bool]:
        entry = cs.get(code)
        return (hits[code].score, entry is None or "unspecified" not in entry.title.lower())

    ratio = float(guideline_rules().get("excludes1_named_min_ratio", 0.0))
    decisions = []  # (winner, loser, note)
    for a, b, note in pairs:
        if (b, a) in notes:
            # R50.9 Fever: "Excludes1 chills without fever (R68.83)"; R68.83 Chills: "chills with fever
            # (R50.9)": the code a note names for the case *without* its own condition cannot stand beside it
            here, there = bool(_WITHOUT.search(note)), bool(_WITHOUT.search(notes[(b, a)]))
            if here != there:
                decisions.append((a, b, note) if here else (b, a, note))
                continue
        mutual_or_weak = (b, a) in notes or hits[b].score < ratio * hits[a].score
        if mutual_or_weak and strength(a) >= strength(b):
            decisions.append((a, b, note))
        else:
            decisions.append((b, a, note))
    decisions.sort(key=lambda d: (tuple(-v for v in strength(d[0])), d[0], d[1]))
    excluded: list[Excluded] = []
    for winner, loser, note in decisions:
        if winner in hits and loser in hits:
            excluded.append(hits.pop(loser).to_excluded(f"Excludes1 with {winner}: {note}", "excludes1", winner))
    return excluded


def _excludes1_pairs(hits: dict[str, Hit], cs: CodeSet) -> list[tuple[str, str, str]]:
    """``(code holding the note, the code it names, note)`` for every Excludes1 note of a hit (its own or an
    ancestor's) whose range holds another hit, codes in sorted order, named codes in the hits' order."""
    by_letter: dict[str, list[tuple[str, str]]] = {}  # (code, code without its dot); a range never crosses a letter
    for code in hits:
        by_letter.setdefault(code[:1], []).append((code, code.replace(".", "")))
    pairs: list[tuple[str, str, str]] = []
    for code in sorted(hits):
        for note, letter, f, l in _plain_excludes1_refs(cs, code):
            others = by_letter.get(letter)
            if others:  # in_plain_range(p, f, l), written out (one call per code of the letter)
                pairs += [(code, o, note) for o, p in others if o != code
                          and (p.startswith(f) or p.startswith(l) or (f <= p[:len(f)] and p[:len(l)] <= l))]
    return pairs


#: Words that say how specific a title is, not what it is about.
_GENERIC_TITLE_WORDS = frozenset({"unspecified", "nos", "other", "uncomplicated", "without", "with", "of", "and", "or",
                                  "the", "in", "site", "part", "specified", "complications", "complication", "type"})


def _own_words(cs: CodeSet, c: Any) -> frozenset[str]:
    """What a code's title names beyond its category's title (generic words aside)."""
    category = cs.get(c.category) if c.category else None
    return _title_own_words(c.title, category.title if category is not None and category.code != c.code else "")


@lru_cache(maxsize=65536)
def _title_own_words(title: str, category_title: str) -> frozenset[str]:
    """The words of ``title`` beyond those of ``category_title`` and the generic ones."""
    base = title_words(category_title) if category_title else frozenset()
    return title_words(title) - base - _GENERIC_TITLE_WORDS


_Refs = list[tuple[str, tuple[str, str]]]  # (note, code range)
_PlainRefs = tuple[tuple[str, str, str, str], ...]  # (note, letter, first, last), bounds without dots
_EXCLUDES1_CACHE: dict[tuple[int, str], tuple[_Refs, _PlainRefs]] = {}


def _excludes1_entry(cs: CodeSet, code: str) -> tuple[_Refs, _PlainRefs]:
    """A code's Excludes1 references as :func:`excludes1_refs` gives them and as ``(note, letter, first,
    last)`` with the range's bounds without dots (cached together): its own notes', then its parent's (read
    once for all its descendants)."""
    key = (id(cs), code)
    got = _EXCLUDES1_CACHE.get(key)
    if got is None:
        c = cs.get(code)
        refs: _Refs = []
        if c is not None:
            refs = [(note, ref) for note in c.notes.get("excludes1", ()) for ref in note_code_refs(note)]
            if c.parent:
                refs += excludes1_refs(cs, c.parent)
        plain = tuple((note, ref[0][:1], ref[0].replace(".", ""), ref[1].replace(".", "")) for note, ref in refs)
        if len(_EXCLUDES1_CACHE) > 200_000:
            _EXCLUDES1_CACHE.clear()
        got = _EXCLUDES1_CACHE[key] = (refs, plain)
    return got


def excludes1_refs(cs: CodeSet, code: str) -> _Refs:
    """``(note, code range)`` pairs of a code's Excludes1 notes and its ancestors' (cached)."""
    return _excludes1_entry(cs, code)[0]


def _plain_excludes1_refs(cs: CodeSet, code: str) -> _PlainRefs:
    """:func:`excludes1_refs` as ``(note, letter, first, last)``, the range's bounds without dots (cached)."""
    return _excludes1_entry(cs, code)[1]


@lru_cache(maxsize=65536)
def superseded_by(code: str) -> tuple[str, ...]:
    """The code prefixes that document ``code``'s condition more specifically, from the ``superseded``
    table (R52 pain NOS: R07 chest pain, R10 abdominal pain, ...); empty when the table names none
    (cached: the hybrid coder asks for every learned label of every note)."""
    table = guideline_rules()["superseded"]
    found = table.get(code)
    if found is None:
        found = next((v for k, v in table.items() if k.endswith("*") and code.startswith(k[:-1])), ())
    return tuple(found)


def apply_superseded_unspecified(hits: dict[str, Hit], cs: CodeSet) -> list[Excluded]:
    """An unspecified code is not reported beside a more specific code of its category,
    nor a not-otherwise-specified code beside the specific one (``superseded`` table)."""
    excluded: list[Excluded] = []
    for key, specific in guideline_rules()["superseded"].items():
        generics = [c for c in hits if c.startswith(key[:-1])] if key.endswith("*") else [key] if key in hits else []
        for generic in generics:
            better = next((o for o in hits if o != generic and _matches(o, specific) and not hits[o].uncertain), None)
            if better is not None:
                excluded.append(hits.pop(generic).to_excluded(
                    f"not otherwise specified; {better} documents the condition more specifically", "specificity",
                    better))
    by_category: dict[str, list[str]] = {}  # the hits of each category, in the hits' order
    for code in hits:
        by_category.setdefault(code[:3], []).append(code)
    codes = cs.codes
    for code in list(hits):
        same = by_category[code[:3]]
        if len(same) < 2 or code not in hits:  # nothing of its category can specify it
            continue
        c = codes.get(code)
        if c is None or "unspecified" not in c.title.lower():
            continue
        # the specific code must be about what the unspecified one names beyond its category: E11.65
        # (with hyperglycemia) does not specify E11.40 (with diabetic neuropathy, unspecified)
        named = _own_words(cs, c)

        def specifies(o: str) -> bool:
            oc = cs.get(o)
            if oc is None:
                return False
            more = "unspecified" not in oc.title.lower() or _own_words(cs, oc) > named  # J18.1 lobar, for J18.9
            about = oc.parent == c.parent or named <= title_words(oc.title)
            return more and about

        better = [o for o in same if o != code and o in hits and o.startswith("Z") == code.startswith("Z")
                  and hits[o].score >= hits[code].score * 0.8 and specifies(o)]
        if better:
            excluded.append(hits.pop(code).to_excluded(
                f"less specific than {better[0]} documented in the same note", "specificity", better[0]))
    return excluded
