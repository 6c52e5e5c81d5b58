"""Guideline edits on the hybrid coder's diagnosis codes.

The learned models rank codes by what coders chose in their training data; the
ICD-10-CM Official Guidelines still decide which codes may be reported, and
together with which.  The hybrid coder therefore runs the knowledge coder's own
rules (:mod:`cac.suggest.guidelines`, rules as JSON data) again, in two places:

0. :func:`release_sources`, before the reranker: a learned label of an older release reads as the
   code under it that the rules found in the note; then :func:`billable_labels`: a learned label
   that is not a billable code of the release (a category, or a code of an older release such as
   R05 before it was subdivided, or one written with placeholder X's but no 7th character, such as
   W19.XXX) becomes the billable code the hierarchy defaults to (R05.9, W19.XXXA), or, when there
   is none, a ranked candidate only: a non-billable code is never suggested.  A default the
   assertion rules excluded (R05.9 in "denies cough") is dropped.
1. :func:`documented_floor`, before the threshold: a diagnosis the rules found in the
   provider's diagnostic statement (discharge / final diagnoses, assessment, impression,
   postoperative diagnosis) is at least as probable as the rules say, whatever the training
   corpus's habits (guideline I.A.19: the provider's statement that the condition exists decides);
   then :func:`transfer_replaced`: a code the rules replaced
   (by a combination code, or by a more specific code of the same condition)
   hands its probability to its replacement and leaves the ranking; a code the
   rules excluded for another guideline reason (Excludes1, a symptom integral to
   a confirmed diagnosis) leaves the ranking.  It stays in ``excluded``, with its
   reason, for a coder to override.  Assertion exclusions (negated, family...)
   of the code itself are handled earlier, by the pack's ``hold`` (or, in older packs,
   ``gate``) setting (:func:`models.features.gated`); here a learned code of a category
   whose every mention the assertion rules excluded leaves the ranking too ("No nausea,
   vomiting": R11.11 negated by the rules, R11.10 proposed by the linear model), and so does a
   generic code whose specific forms the rules found only to exclude them ("denies chest pain":
   R07.9 negated, a learned R52 pain NOS).
   Every code that leaves the ranking is ``held`` (its probability and the reason), so
   the hybrid coder still ranks it, below the threshold.
2. :func:`edit_suggestions`, over the codes above the threshold, many of which
   the rules never saw: combination codes, superseded unspecified codes,
   integral symptoms and Excludes1 pairs, exactly as for the knowledge coder.
   A removed code moves to ``excluded`` with the rule and its replacement.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from cac.lexicon.matcher import WITHOUT_CLAUSE
from cac.lexicon.normalize import normalize, word_counts
from cac.suggest import guidelines
from cac.suggest.hits import Hit
from cac.types import Excluded, Suggestion
from models.base import label_of
from models.features import KnowledgeInfo, SourceOutputs, _title_words, gated, note_word_counts

#: Sections that hold the provider's diagnostic statement.
STATEMENT_SECTIONS = frozenset({"diagnoses", "assessment", "assessment_and_plan", "impression", "postoperative_diagnosis"})
#: Rule families whose exclusion names a replacement that reports the same condition better.
TRANSFER_RULES = ("combination:", "specificity")
CM = "ICD-10-CM"


@dataclass
class Billable:
    """The ranking after :func:`billable_labels`."""

    labels: list[str]
    proba: np.ndarray
    alias: dict[str, str] = field(default_factory=dict)  # billable label -> the learned label it came from
    invalid: dict[str, float] = field(default_factory=dict)  # label with no billable default -> probability
    held: dict[str, tuple[float, str]] = field(default_factory=dict)  # default the rules excluded -> (p, why)


def release_sources(outputs: SourceOutputs, kview: Mapping[str, KnowledgeInfo], cs: Any,
                    default_billable: Any = None) -> SourceOutputs:
    """Rule 0 for the learned sources, before the reranker: a learned diagnosis label that is not a billable
    code of ``cs`` (a code of the training corpus's older release, such as R05 before it was subdivided)
    reads as the code under it that the rules found in the note (their most confident), so both sources'
    evidence meets on one candidate; else as the billable code the hierarchy defaults to
    (``default_billable``); else it stays, for :func:`billable_labels`."""
    if cs is None:
        return outputs

    found = sorted((k, info.score) for k, info in kview.items() if info.suggestion is not None)
    keys = [k for k, _ in found]

    def found_under(lab: str) -> list[tuple[float, str]]:
        """``(score, label)`` of the codes the rules found under ``lab`` (a sorted range of ``keys``)."""
        out = []
        for i in range(bisect_left(keys, lab), len(keys)):
            k = keys[i]
            if not k.startswith(lab):
                break
            if k != lab:
                out.append((found[i][1], k))
        return out

    def mapped(scores: Mapping[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for lab, p in scores.items():
            system, _, code = lab.partition(":")
            if system == CM and not cs.is_valid(code):
                under = found_under(lab)
                if under:
                    lab = max(under)[1]
                elif default_billable is not None:
                    target = default_billable(code)
                    lab = label_of(CM, target) if target is not None and cs.is_valid(target) else lab
            if p > out.get(lab, -1.0):
                out[lab] = p
        return out

    return replace(outputs, linear=mapped(outputs.linear), neighbors=mapped(outputs.neighbors))


def billable_labels(labels: Sequence[str], proba: np.ndarray, kview: Mapping[str, KnowledgeInfo], cs: Any,
                    default_billable: Any) -> Billable:
    """Map diagnosis labels that are not billable in ``cs`` to ``default_billable(code)`` (max probability
    when the billable code is already ranked); see the module docstring."""
    out = Billable([], np.zeros(0))
    if cs is None or default_billable is None:
        out.labels, out.proba = list(labels), np.asarray(proba, dtype=float)
        return out
    merged: dict[str, float] = {}
    for lab, p in zip(labels, np.asarray(proba, dtype=float).tolist()):
        system, _, code = lab.partition(":")
        if system != CM or cs.is_valid(code):
            merged[lab] = max(p, merged.get(lab, 0.0))
            continue
        target = default_billable(code)
        if target is None or not cs.is_valid(target):
            out.invalid[lab] = p
            continue
        new = label_of(CM, target)
        if gated(kview.get(new), "context"):
            ex = kview[new].excluded
            if p > out.held.get(new, (-1.0, ""))[0]:
                out.held[new] = (p, f"{ex.rule}: {ex.reason}")
            continue
        if new not in merged or p > merged[new]:
            out.alias.setdefault(new, lab)
        merged[new] = max(p, merged.get(new, 0.0))
    out.labels, out.proba = list(merged), np.asarray(list(merged.values()), dtype=float)
    return out


def documented_floor(labels: Sequence[str], proba: np.ndarray, kview: Mapping[str, KnowledgeInfo]
                     ) -> tuple[np.ndarray, dict[str, str]]:
    """Raise each diagnosis the rules suggested from the provider's diagnostic statement to the rules'
    confidence; returns the probabilities and ``label -> why`` for the codes raised."""
    p = np.asarray(proba, dtype=float).copy()
    why: dict[str, str] = {}
    for i, lab in enumerate(labels):
        info = kview.get(lab)
        if not lab.startswith(CM + ":") or info is None or not info.suggested or info.score <= p[i]:
            continue
        sections = {e.section for e in info.suggestion.evidence if e.section}
        if sections & STATEMENT_SECTIONS:
            why[lab] = (f"guideline: documented in the provider's diagnostic statement ({', '.join(sorted(sections & STATEMENT_SECTIONS))}); "
                        f"learned {p[i]:.2f}, rules {info.score:.2f}")
            p[i] = info.score
    return p, why


def _guideline_exclusion(info: KnowledgeInfo | None) -> Excluded | None:
    """The knowledge coder's guideline (non-assertion) exclusion of a code it did not otherwise propose."""
    if info is None or info.suggestion is not None or info.excluded is None:
        return None
    if any(r.startswith("context:") for r in info.rules):
        return None
    return info.excluded


@dataclass
class Transfer:
    """The ranking after :func:`transfer_replaced`."""

    labels: list[str]
    proba: np.ndarray
    received: dict[str, str] = field(default_factory=dict)  # label -> why it received a probability
    excluded: list[Excluded] = field(default_factory=list)  # new exclusions (learned unspecified codes)
    held: dict[str, tuple[float, str]] = field(default_factory=dict)  # dropped label -> (its probability, why)


def transfer_replaced(
    labels: Sequence[str], proba: np.ndarray, kview: Mapping[str, KnowledgeInfo], cs: Any = None
) -> Transfer:
    """Drop diagnosis labels the rules excluded or documented more specifically; a replaced code's
    probability goes to its replacement.

    Two cases: (a) the knowledge coder excluded the code by a guideline rule (a replaced code's
    probability goes to the combination or more specific code); (b) only the learned models propose
    an unspecified code while the rules suggested a more specific code of the same category from
    the documentation (N18.9 beside N18.30 for "CKD stage 3"): the specific code takes its place.
    Dropped labels are listed in ``held`` with their probability, so a caller can still rank them
    (below its threshold) for a coder to override."""
    p = np.asarray(proba, dtype=float).copy()
    index = {lab: i for i, lab in enumerate(labels)}
    drop: set[int] = set()
    out = Transfer([], p)

    def give(i: int, j: int | None, why: str) -> None:
        if j is not None and j not in drop and p[i] > p[j]:
            p[j] = p[i]
            out.received[labels[j]] = f"guideline: reported instead of {why}; learned {p[i]:.2f}"

    specific = _rule_specific(labels, kview, cs)
    assertions = _assertions(kview)
    negated = _context_only(assertions, lambda code: code[:3])
    negated_blocks = _context_only(assertions, lambda code: _block(cs, code))
    only_excluded: dict[tuple[str, ...], bool] = {}
    for i, lab in enumerate(labels):
        if not lab.startswith(CM + ":"):
            continue
        info = kview.get(lab)
        if info is None or info.suggestion is None:
            code = lab.partition(":")[2]
            group = ("category" if code[:3] in negated else
                     "block" if _block(cs, code) in negated_blocks else None)
            if group is None and (prefixes := guidelines.superseded_by(code)):
                if prefixes not in only_excluded:  # one scan of the rules' findings per table row and note
                    only_excluded[prefixes] = _only_excluded(assertions, prefixes)
                if only_excluded[prefixes]:
                    group = "specific forms"  # "denies chest pain": R07.9 negated, a learned R52 restates it
            if group is not None:
                # "No nausea, vomiting": R11.11 negated by the rules, R11.10 learned -> not coded;
                # "her brother has type 1 diabetes": E10.9 family history, E11.9 learned -> not coded
                drop.add(i)
                out.held[lab] = (float(p[i]), f"context: the rules excluded every mention of its {group} "
                                              "(negated, family, hypothetical...)")
                continue
        exc = _guideline_exclusion(info)
        if exc is not None:
            drop.add(i)
            out.held[lab] = (float(p[i]), f"{exc.rule}: {exc.reason}")
            if exc.replaced_by and exc.rule.startswith(TRANSFER_RULES):
                give(i, index.get(label_of(CM, exc.replaced_by)), f"{exc.code} ({exc.rule})")
            continue
        better = _more_specific(lab, kview, cs, specific) if lab.partition(":")[2][:3] in specific else None
        if better is not None:
            drop.add(i)
            code = lab.partition(":")[2]
            exc = Excluded(code, CM, _title(cs, code), f"unspecified; the documentation supports the more "
                           f"specific {better.partition(':')[2]} (found by the rules)", "specificity",
                           [], better.partition(":")[2])
            out.held[lab] = (float(p[i]), f"{exc.rule}: {exc.reason}")
            give(i, index.get(better), f"{code} (specificity)")
            out.excluded.append(exc)
    keep = [i for i in range(len(labels)) if i not in drop]
    out.labels, out.proba = [labels[i] for i in keep], p[keep]
    return out


#: Where the denied finding of a "without ..." clause ends: the place it is looked for follows
#: ("without tumor thrombus in renal vein" denies a thrombus, not the vein).
_DENIED_UNTIL = re.compile(r"\b(?:in|at|on|within|into|from|with)\b", re.IGNORECASE)


def hold_denied_qualifiers(labels: Sequence[str], proba: np.ndarray, kview: Mapping[str, KnowledgeInfo], cs: Any,
                           text: str) -> tuple[list[str], np.ndarray, dict[str, tuple[float, str]]]:
    """Learned diagnosis codes the rules did not find whose title asserts a word the note names only under
    a "without" ("Brief psychotic disorder" beside "depression without psychotic features"; K40.30 "with
    obstruction" beside "hernia without obstruction") leave the ranking: ``(labels, proba, held)``.  A
    title's own "without ..." words are not asserted (K40.90 "without obstruction" stays); a clause denies
    its finding, not the place it names (:data:`_DENIED_UNTIL`)."""
    clauses = list(WITHOUT_CLAUSE.finditer(text))
    if not clauses or cs is None:
        return list(labels), proba, {}
    denied: set[str] = set()
    for m in clauses:
        denied.update(normalize(_DENIED_UNTIL.split(m.group(1), maxsplit=1)[0]))
    asserting: dict[int, frozenset[str]] = {}  # learned codes whose title asserts a denied word
    for i, lab in enumerate(labels):
        info = kview.get(lab)
        if lab.startswith(CM + ":") and (info is None or info.suggestion is None):
            said = _asserted_words(_title(cs, lab.partition(":")[2])) & denied
            if said:
                asserting[i] = said
    if not asserting:
        return list(labels), proba, {}
    # a word the note says outside its "without" clauses is not only denied: more mentions in the
    # whole note than inside the clauses
    counts, inside = note_word_counts(text), word_counts(" ".join(m.group(0) for m in clauses))
    elsewhere = {w for said in asserting.values() for w in said if counts.get(w, 0) > inside.get(w, 0)}
    held: dict[str, tuple[float, str]] = {}
    for i, said in asserting.items():
        only = sorted(said - elsewhere)
        if only:
            held[labels[i]] = (float(proba[i]), f"context: the note says 'without {only[0]}' "
                                                "and the code's title asserts it")
    if not held:
        return list(labels), proba, {}
    keep = [i for i, lab in enumerate(labels) if lab not in held]
    return [labels[i] for i in keep], proba[keep], held


@lru_cache(maxsize=100_000)
def _asserted_words(title: str) -> frozenset[str]:
    """A code title's content words outside its own "without ..." clauses."""
    return _title_words(WITHOUT_CLAUSE.sub(" ", title))


def _assertions(kview: Mapping[str, KnowledgeInfo]) -> tuple[list[str], list[str]]:
    """The rules' ICD-10-CM codes of a note: those they suggested, and those they found only to exclude
    by assertion (negated, family, hypothetical...), read once per note."""
    supported: list[str] = []
    denied: list[str] = []
    for lab, info in kview.items():
        system, _, code = lab.partition(":")
        if system != CM:
            continue
        if info.suggestion is not None:
            supported.append(code)
        elif any(r.startswith("context:") for r in info.rules):
            denied.append(code)
    return supported, denied


def _context_only(assertions: tuple[list[str], list[str]], group: Callable[[str], str | None]) -> set[str]:
    """Groups of ICD-10-CM codes (``group(code)``: a category, a block; None for none) in which the rules
    found mentions only to exclude them by assertion (``assertions``: :func:`_assertions`): a learned code
    of such a group without support of its own restates them."""
    supported, denied = assertions
    excluded = {key for code in denied if (key := group(code)) is not None}
    return excluded - {key for code in supported if (key := group(code)) is not None}


def _only_excluded(assertions: tuple[list[str], list[str]], prefixes: tuple[str, ...]) -> bool:
    """Whether the rules found codes starting with ``prefixes`` only to exclude them by assertion (none
    suggested): a generic code they document more specifically (R52 for R07) then restates the denial."""
    supported, denied = assertions
    return bool(prefixes) and any(c.startswith(prefixes) for c in denied) and \
        not any(c.startswith(prefixes) for c in supported)


#: ICD-10-CM chapters whose blocks group unlike findings (symptoms; external causes; health-status
#: factors): only the category rule applies there.
_HETEROGENEOUS_CHAPTERS = frozenset({"18", "20", "21"})


def _block(cs: Any, code: str) -> str | None:
    """The code's block (E08-E13 diabetes, I10-I1A hypertension, S00-S09 head injuries...), outside
    :data:`_HETEROGENEOUS_CHAPTERS`: the brother's type 1 diabetes (E10.9) makes a learned E11.9 a restatement."""
    if cs is None:
        return None
    key = (cs.release.system, cs.release.version, code)
    if key in _BLOCKS:
        return _BLOCKS[key]
    entry = cs.get(code)
    block = None if entry is None or not entry.block or entry.chapter in _HETEROGENEOUS_CHAPTERS else entry.block
    if len(_BLOCKS) < 200_000:
        _BLOCKS[key] = block
    return block


_BLOCKS: dict[tuple[str, str, str], str | None] = {}  # (system, release, code) -> :func:`_block`


def _title(cs: Any, code: str) -> str:
    entry = cs.get(code) if cs is not None else None
    return entry.title if entry is not None else ""


def _unspecified(cs: Any, code: str) -> bool:
    return "unspecified" in _title(cs, code).lower()


def _rule_specific(labels: Sequence[str], kview: Mapping[str, KnowledgeInfo], cs: Any) -> dict[str, list[str]]:
    """``category -> labels`` of the diagnosis codes the rules suggested (candidates to replace an unspecified one)."""
    out: dict[str, list[str]] = {}
    if cs is None:
        return out
    for lab in labels:
        info = kview.get(lab)
        if lab.startswith(CM + ":") and info is not None and info.suggested:
            out.setdefault(lab.partition(":")[2][:3], []).append(lab)
    return out


def _more_specific(lab: str, kview: Mapping[str, KnowledgeInfo], cs: Any,
                   specific: Mapping[str, list[str]]) -> str | None:
    """A rule-suggested code of ``lab``'s category that documents it more specifically, when only the
    learned models propose ``lab`` and its title says "unspecified"."""
    info = kview.get(lab)
    if info is not None and info.suggested:
        return None
    code = lab.partition(":")[2]
    options = [o for o in specific.get(code[:3], ()) if o != lab]
    if not options or not _unspecified(cs, code):
        return None
    better = [o for o in options
              if not _unspecified(cs, o.partition(":")[2]) or len(o.partition(":")[2]) > len(code)]
    return max(better, key=lambda o: kview[o].score) if better else None


def _uncertain(s: Suggestion) -> bool:
    return any("uncertain" in r and "coded as established" in r for r in s.rationale)


def edit_suggestions(suggestions: list[Suggestion], cs: Any
                     ) -> tuple[list[Suggestion], list[Excluded], list[Suggestion]]:
    """Apply the combination, companion, superseded-unspecified, integral-symptom and Excludes1 rules to the
    ICD-10-CM suggestions (other systems pass through); returns the suggestions, what was excluded,
    and the excluded codes' suggestions (for a caller that still ranks them as candidates)."""
    if cs is None:
        return suggestions, [], []
    others = [s for s in suggestions if s.system != CM]
    original = {s.code: s for s in suggestions if s.system == CM}
    hits = {code: Hit(code=code, system=CM, title=s.title, score=float(s.confidence), evidence=list(s.evidence),
                      rationale=list(s.rationale), matched=code, alternatives=list(s.alternatives),
                      uncertain=_uncertain(s))
            for code, s in original.items()}
    excluded = guidelines.apply_combinations(hits, cs)
    guidelines.apply_companions(hits, cs)
    excluded += guidelines.apply_superseded_unspecified(hits, cs)
    excluded += guidelines.apply_integral_symptoms(hits)
    excluded += guidelines.apply_excludes1(hits, cs)
    out: list[Suggestion] = []
    for code, hit in hits.items():
        # a combination code is as probable as the most probable code it replaces (no more)
        parts = [original[e.code].confidence for e in excluded
                 if e.replaced_by == code and e.rule.startswith("combination:") and e.code in original]
        s = original.get(code)
        if s is None:  # a combination code the rules added
            s = hit.to_suggestion()
            s.confidence = float(max(parts, default=min(1.0, hit.score)))
        else:
            s.rationale = hit.rationale
            s.evidence = sorted(hit.evidence, key=lambda e: e.start)
            s.confidence = float(max([s.confidence, *parts]))
        out.append(s)
    for e in excluded:
        e.reason += " (applied to the reranked codes)"
    removed = [e for e in excluded if e.code not in hits]
    return [*out, *others], removed, [original[e.code] for e in removed if e.code in original]
