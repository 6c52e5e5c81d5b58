"""Candidate codes from every source, and the features the reranker scores them by.

One document's raw source outputs (:class:`SourceOutputs`: the knowledge coder's
:class:`cac.types.CodingResult`, the linear model's calibrated probabilities, the
retriever's cosines with their best sentences) become a candidate table: the
union of every source's codes for a system, one row of :data:`FEATURES` each.

Absent values (a source that did not propose the code) are NaN, which the
gradient-boosted reranker treats as "missing" natively.  Feature names are part
of a saved reranker: :func:`check_features` refuses a pack built with another list.
"""

from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from models.base import label_of

#: Systems the learned layer ranks (HCPCS/CPT suggestions pass through from the knowledge coder).
SYSTEMS = ("ICD-10-CM", "ICD-10-PCS")

#: Sections whose evidence usually states a codable diagnosis / a history / a performed procedure.
_DX_SECTIONS = {"assessment", "plan", "assessment_and_plan", "impression", "diagnoses", "preoperative_diagnosis",
                "postoperative_diagnosis", "hospital_course", "chief_complaint", "indications"}
_HISTORY_SECTIONS = {"past_medical_history", "past_surgical_history", "family_history", "social_history",
                     "medications", "allergies"}
_PROCEDURE_SECTIONS = {"procedure", "findings", "anesthesia", "specimens", "estimated_blood_loss", "complications"}

#: ``Excluded.rule`` prefixes -> feature name.
_EXCLUSION_FLAGS = (
    ("context:negated", "ex_negated"),
    ("context:family", "ex_family"),
    ("context:historical", "ex_historical"),
    ("context:hypothetical", "ex_hypothetical"),
    ("context:uncertain", "ex_uncertain"),
    ("context:experiencer", "ex_other_person"),
)

FEATURES: tuple[str, ...] = (
    # knowledge-driven coder
    "k_score", "k_suggested", "k_rank", "k_n_evidence", "k_sibling", "k_uncertain", "k_history_code",
    "k_sec_dx", "k_sec_history", "k_sec_procedure", "k_same_category",
    "ex_negated", "ex_family", "ex_historical", "ex_hypothetical", "ex_uncertain", "ex_other_person", "ex_guideline",
    "ex_score",
    # linear model
    "lin_p", "lin_rank", "lin_category_max",
    # dense retrieval
    "ret_score", "ret_rank", "ret_gap",
    # nearest training documents
    "knn_score", "knn_rank",
    # code knowledge: prior, specificity, hierarchy agreement
    "prior_log", "prior_category_log", "seen_in_training", "code_length", "unspecified", "n_sources", "n_sources_category",
    "doc_log_chars", "title_overlap", "knn_category",
    # where the code sits in its classification (chapter or section letter, the next two characters)
    "code_chapter", "code_block",
)
_COLUMNS: dict[str, int] = {name: i for i, name in enumerate(FEATURES)}


def check_features(names: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``names`` is this version's :data:`FEATURES`."""
    if tuple(names) != FEATURES:
        missing = sorted(set(FEATURES) - set(names))
        extra = sorted(set(names) - set(FEATURES))
        raise ValueError(f"reranker feature list differs from this cac's (missing {missing}, unknown {extra})")


@lru_cache(maxsize=100_000)
def _title_words(title: str) -> frozenset[str]:
    """Canonical content words of a code title (as the lexicon normalizes them)."""
    from cac.lexicon.normalize import normalize, rules

    weak = rules().weak
    return frozenset(t for t in normalize(title) if t not in weak and not t.isdigit())


@lru_cache(maxsize=4)
def note_word_counts(text: str) -> dict[str, int]:
    """:func:`cac.lexicon.normalize.word_counts` of a note (cached: the candidate features and the
    guideline edits read the same note in turn; callers must not modify the result)."""
    from cac.lexicon.normalize import word_counts

    return word_counts(text)


def note_words(text: str) -> frozenset[str]:
    """Canonical words of a note, for :func:`candidate_table`'s title features (once per note)."""
    return frozenset(note_word_counts(text))


@lru_cache(maxsize=100_000)
def _title_info(title: str) -> tuple[frozenset[str], float]:
    """``(_title_words(title), 1.0 if the title says "unspecified" else 0.0)``."""
    return _title_words(title), float("unspecified" in title.lower())


def category(label: str) -> str:
    """Hierarchy key of a label: the 3-character ICD-10-CM category / PCS section-body-operation."""
    cat = _CATEGORIES.get(label)
    if cat is None:
        system, _, code = label.partition(":")
        cat = f"{system}:{code[:3]}"
        if len(_CATEGORIES) < 200_000:
            _CATEGORIES[label] = cat
    return cat


_CATEGORIES: dict[str, str] = {}  # label -> category (labels repeat in every note)


def category_key(cat: str) -> str:
    """The key under which a prior mapping answers for a whole :func:`category` (the summed training
    counts of its codes): ``"ICD-10-CM:E11*"``; no code contains ``*``."""
    return cat + "*"


@dataclass
class SourceOutputs:
    """What each source said about one document (any source may be missing)."""

    text: str
    knowledge: Any = None  # cac.types.CodingResult
    linear: Mapping[str, float] = field(default_factory=dict)  # label -> calibrated probability (top-K)
    retrieval: Mapping[str, tuple[float, tuple[int, int]]] = field(default_factory=dict)  # label -> (cos, span)
    neighbors: Mapping[str, float] = field(default_factory=dict)  # label -> neighbour vote (top-K)


@dataclass
class KnowledgeInfo:
    """The knowledge coder's view of one label."""

    score: float = math.nan
    suggested: bool = False
    rank: int | None = None
    suggestion: Any = None  # the Suggestion, for evidence and title
    rules: set[str] = field(default_factory=set)
    excluded: Any = None  # the first Excluded entry
    excluded_score: float = math.nan  # the best confidence the rules had for it before excluding it


def knowledge_view(result: Any) -> dict[str, KnowledgeInfo]:
    """``label -> KnowledgeInfo`` from a CodingResult (suggestions, candidates and exclusions)."""
    out: dict[str, KnowledgeInfo] = {}
    if result is None:
        return out
    rank_by_system: dict[str, int] = {}
    for suggested, items in ((True, result.suggestions), (False, result.candidates)):
        for s in items:
            if s.flags.get("held_back"):  # removed by a rule: the exclusion below is what the learned layer sees
                continue
            label = label_of(s.system, s.code)
            info = out.setdefault(label, KnowledgeInfo())
            if info.suggestion is not None:
                continue
            rank_by_system[s.system] = rank_by_system.get(s.system, 0) + 1
            info.score, info.suggested, info.rank, info.suggestion = float(s.confidence), suggested, rank_by_system[s.system], s
    for e in result.excluded:
        info = out.setdefault(label_of(e.system, e.code), KnowledgeInfo())
        info.rules.add(e.rule)
        if info.excluded is None:
            info.excluded = e
        if e.score is not None and not info.excluded_score >= e.score:
            info.excluded_score = e.score
    return out


def _sections(info: KnowledgeInfo) -> tuple[float, float, float]:
    if info.suggestion is None or not info.suggestion.evidence:
        return math.nan, math.nan, math.nan
    secs = {e.section for e in info.suggestion.evidence if e.section}
    return (float(bool(secs & _DX_SECTIONS)), float(bool(secs & _HISTORY_SECTIONS)),
            float(bool(secs & _PROCEDURE_SECTIONS)))


#: Which knowledge-coder exclusions keep a code out of the learned layer's candidates (see :func:`gated`).
GATES = ("none", "context", "all")


def gated(info: KnowledgeInfo | None, gate: str) -> bool:
    """True when the rules excluded the code and found no mention supporting it: with ``gate="context"``
    for assertion rules (negated, family, historical, hypothetical, uncertain in outpatient care, another
    person), with ``"all"`` for guideline rules too (Excludes1, integral symptoms, combination codes).
    A gated code stays in ``excluded`` with its reason; the learned models never override the rules."""
    if gate == "none" or info is None or not info.rules or info.suggestion is not None:
        return False
    return gate == "all" or any(r.startswith("context:") for r in info.rules)


def candidate_table(
    outputs: SourceOutputs,
    system: str,
    *,
    prior: Mapping[str, float],
    titles: Mapping[str, str] | None = None,
    knowledge: Mapping[str, KnowledgeInfo] | None = None,
    gate: str = "context",
    words: frozenset[str] | None = None,
    static: dict[str, tuple] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Candidate labels of ``system`` for one document and their ``(n, len(FEATURES))`` features.

    ``prior`` maps a label to its number of training documents (out-of-fold and rescaled, for a
    training row), and a :func:`category_key` to its category's summed count; ``titles`` a label
    to its code title (for the "unspecified" flag); ``knowledge`` a precomputed
    :func:`knowledge_view`; ``gate`` which rule exclusions remove a code from the candidates
    (:func:`gated`); ``words`` the note's :func:`note_words` (computed here when not given); ``static`` a
    cache of the features that depend on the label alone, kept across notes by a caller whose ``prior``
    and ``titles`` do not change (a loaded coder; not training, whose priors differ by note)."""
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
    kview = knowledge if knowledge is not None else knowledge_view(outputs.knowledge)
    prefix = system + ":"
    k_labels = [lab for lab in kview if lab.startswith(prefix) and not gated(kview[lab], gate)]
    lin = {lab: p for lab, p in outputs.linear.items() if lab.startswith(prefix) and not gated(kview.get(lab), gate)}
    ret = {lab: v for lab, v in outputs.retrieval.items()
           if lab.startswith(prefix) and not gated(kview.get(lab), gate)}
    knn = {lab: v for lab, v in outputs.neighbors.items()
           if lab.startswith(prefix) and not gated(kview.get(lab), gate)}
    lin_order = sorted(lin, key=lambda lab: -lin[lab])  # each source's labels, best first
    ret_order = sorted(ret, key=lambda lab: -ret[lab][0])
    knn_order = sorted(knn, key=lambda lab: -knn[lab])
    labels = list(dict.fromkeys([*k_labels, *lin_order, *ret_order, *knn_order]))
    if not labels:
        return [], np.zeros((0, len(FEATURES)), dtype=np.float32)
    lin_rank = {lab: i + 1 for i, lab in enumerate(lin_order)}
    ret_rank = {lab: i + 1 for i, lab in enumerate(ret_order)}
    knn_rank = {lab: i + 1 for i, lab in enumerate(knn_order)}
    ret_top = max((v[0] for v in ret.values()), default=math.nan)
    k_cats: dict[str, int] = {}
    for lab in k_labels:
        if kview[lab].suggested:
            k_cats[category(lab)] = k_cats.get(category(lab), 0) + 1
    knn_cat: dict[str, float] = {}
    for lab, v in knn.items():
        knn_cat[category(lab)] = knn_cat.get(category(lab), 0.0) + v
    lin_top: dict[str, list] = {}  # category -> [best label, best p, second p], from the linear model
    for lab in lin_order:
        p = lin[lab]
        top = lin_top.setdefault(category(lab), [lab, p, None])
        if top[0] != lab and top[2] is None:
            top[2] = p
    cats_by_source = [{category(lab) for lab in k_labels if kview[lab].suggestion is not None},
                      set(lin_top), {category(lab) for lab in ret}, {category(lab) for lab in knn}]
    n_sources_of: dict[str, int] = {}  # category -> how many sources name a code of it
    for cats in cats_by_source:
        for c in cats:
            n_sources_of[c] = n_sources_of.get(c, 0) + 1
    doc_len = math.log1p(len(outputs.text))
    titles = titles or {}
    words = note_words(outputs.text) if words is None else words
    col = _COLUMNS
    # every row starts as a copy of this template (a list, not a numpy row: item assignment is
    # ~5x cheaper); most candidates come from one learned source and touch few columns
    template = [math.nan] * len(FEATURES)
    for _, name in _EXCLUSION_FLAGS:
        template[col[name]] = 0.0
    template[col["ex_guideline"]] = 0.0
    template[col["doc_log_chars"]] = doc_len
    c_k_same, c_lin_p, c_lin_rank, c_lin_cat = (col[n] for n in ("k_same_category", "lin_p", "lin_rank",
                                                                 "lin_category_max"))
    c_ret_score, c_ret_rank, c_ret_gap, c_knn_score, c_knn_rank = (col[n] for n in (
        "ret_score", "ret_rank", "ret_gap", "knn_score", "knn_rank"))
    c_prior, c_seen, c_len, c_unspec, c_title, c_knn_cat, c_n_src, c_n_src_cat = (col[n] for n in (
        "prior_log", "seen_in_training", "code_length", "unspecified", "title_overlap", "knn_category",
        "n_sources", "n_sources_category"))
    c_prior_cat, c_chapter, c_block = col["prior_category_log"], col["code_chapter"], col["code_block"]
    cat_prior: dict[str, float] = {}
    flags = [(rule_prefix, col[name]) for rule_prefix, name in _EXCLUSION_FLAGS]
    c_guideline, c_ex_score = col["ex_guideline"], col["ex_score"]
    n_prefix = len(prefix)
    rows: list[list[float]] = []
    for lab in labels:
        row = template.copy()
        rows.append(row)
        info = kview.get(lab)
        cat = category(lab)
        has_k = info is not None and info.suggestion is not None
        if has_k:
            row[col["k_score"]] = info.score
            row[col["k_suggested"]] = float(info.suggested)
            row[col["k_rank"]] = info.rank
            row[col["k_n_evidence"]] = len(info.suggestion.evidence)
            said = " ".join(info.suggestion.rationale).lower()  # the rationale, joined once
            row[col["k_sibling"]] = float("related to" in said)
            row[col["k_uncertain"]] = float("uncertain" in said)
            row[col["k_history_code"]] = float("personal history" in said or "family history" in said)
            row[col["k_sec_dx"]], row[col["k_sec_history"]], row[col["k_sec_procedure"]] = _sections(info)
        row[c_k_same] = k_cats.get(cat, 0) - (1 if info is not None and info.suggested else 0)
        if info is not None and info.rules:
            rules = info.rules
            for rule_prefix, c in flags:
                row[c] = float(any(r_.startswith(rule_prefix) for r_ in rules))
            row[c_guideline] = float(any(not r_.startswith("context:") for r_ in rules))
            row[c_ex_score] = info.excluded_score
        p_lin = lin.get(lab)
        if p_lin is not None:
            row[c_lin_p] = p_lin
            row[c_lin_rank] = lin_rank[lab]
        top = lin_top.get(cat)  # the best linear probability of another code of the same category
        other = None if top is None else (top[1] if top[0] != lab else top[2])
        row[c_lin_cat] = 0.0 if other is None else other
        in_ret = lab in ret
        if in_ret:
            row[c_ret_score] = ret[lab][0]
            row[c_ret_rank] = ret_rank[lab]
            row[c_ret_gap] = ret_top - ret[lab][0]
        v_knn = knn.get(lab)
        if v_knn is not None:
            row[c_knn_score] = v_knn
            row[c_knn_rank] = knn_rank[lab]
        fixed = static.get(lab) if static is not None else None
        if fixed is None:  # what depends on the label alone (and the priors and titles)
            n_prior = float(prior.get(lab, 0))
            if cat not in cat_prior:
                cat_prior[cat] = math.log1p(float(prior.get(category_key(cat), 0)))
            tw, unspec = _title_info(titles.get(lab, ""))
            chapter, block = code_position(lab[n_prefix:])
            fixed = (math.log1p(n_prior), float(n_prior > 0), cat_prior[cat], len(lab[n_prefix:].replace(".", "")),
                     unspec, tw, chapter, block)
            if static is not None and len(static) < 200_000:
                static[lab] = fixed
        row[c_prior], row[c_seen], row[c_prior_cat], row[c_len], row[c_unspec], tw, row[c_chapter], row[c_block] = fixed
        row[c_title] = len(tw & words) / len(tw) if tw else math.nan  # share of the title's words in the note
        row[c_knn_cat] = knn_cat.get(cat, 0.0) - (v_knn or 0.0)
        row[c_n_src] = float(has_k) + float(p_lin is not None) + float(in_ret) + float(v_knn is not None)
        row[c_n_src_cat] = float(n_sources_of.get(cat, 0))
    return labels, np.asarray(rows, dtype=np.float32)


def code_position(code: str) -> tuple[float, float]:
    """``(code_chapter, code_block)``: the ordinal of a code's first character (the ICD-10-CM chapter
    letter, the PCS section) and of its next two (``R50.9`` -> block ``'5','0'``; PCS body system and
    operation), so the trees can learn what a part of the classification is like from its neighbours
    (codes in one block share conventions).  Ordinals keep "R50" between "R40" and "R60"."""
    c = code.replace(".", "")
    chapter = float(ord(c[0])) if c else math.nan
    block = float(ord(c[1]) * 128 + ord(c[2])) if len(c) >= 3 else math.nan
    return chapter, block


def is_positive(label: str, gold: set[str], stems: Collection[str] | None = None) -> bool:
    """Training target: the label is gold, or it specialises one of the gold ``stems`` (default: the PCS
    gold codes shorter than 7 characters; for ICD-10-CM, the gold codes an older release made billable
    that the loaded release subdivides, as ``cac evaluate --cm-match release`` scores them)."""
    system, _, code = label.partition(":")
    if code in gold:
        return True
    if stems is None:
        stems = [g for g in gold if len(g) < 7] if system == "ICD-10-PCS" else []
    return any(code.startswith(g) for g in stems)
