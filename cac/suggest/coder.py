"""The knowledge-driven coder: note in, ranked codes with evidence out.

``Coder().code(text, setting=..., date_of_service=...)`` runs the clinical text
pipeline (sections, sentences, abbreviations, concept matching, context),
turns mentions into the most specific billable codes the documentation
supports, applies the Official Guidelines (context, combination codes,
integral symptoms, Excludes1, 7th characters) and returns a
:class:`cac.types.CodingResult` (schema ``cac.suggestions/1``).
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
import threading
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache
from datetime import date
from importlib import resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from spacy.language import Language
from cac.pipeline.extensions import (ABBREVIATIONS_KEY, CONTEXT_FLAGS, DEFAULT_EXPERIENCER, SECTIONS_KEY,
                                     assertion_record, doc_text, group_spans, release_spans,
                                     section_record_at, span_value)
from spacy.tokens import Doc, Span

from cac import __version__
from cac.codesets.cache import cached_json, fingerprint
from cac.codesets.icd10cm import embedded_tabular_path
from cac.codesets.model import CodeSet
from cac.codesets.registry import CodeSets
from cac.config import Settings, get_settings
from cac.errors import Errors, InputError
from cac.heap import Settler, coding, loading
from cac.lexicon.build import Lexicon, Term, build_lexicon, lexicon_rules
from cac.lexicon.normalize import normalize
from cac.lexicon.matcher import TermMatcher
from cac.suggest import guidelines
from cac.suggest.hits import Hit
from cac.suggest.procedure_link import procedure_hits, make_procedure_coder
from cac.suggest.scoring import held_confidence, term_score
from cac.suggest.values import apply_replacements, value_hits
from cac.suggest.specificity import (SIDES, ChildrenIndex, CodeFacts, Specificity, children_index, children_to_json,
                                     code_by_seventh, title_words)
from cac.types import CodingResult, DocumentInfo, Evidence, Excluded, Setting

log = logging.getLogger(__name__)

MODEL_ID = f"cac-knowledge/{__version__}"
UNCERTAIN_INPATIENT_FACTOR = 0.85
SECONDARY_TARGET_FACTOR = 0.5
PARTIAL_FACTOR = 0.45
SIBLING_FACTOR = 0.3
MAX_TARGETS = 6
MENTION_TARGETS_SIZE = 100_000  # entries of the coder's memo of mention targets (emptied when full)
CONTEXT_HELD_FACTOR = 0.6  # a code the context rules removed (negated, family...) ranks at this share of its score


@lru_cache(maxsize=8)
def _laterality_neutral(side: str) -> frozenset[str]:
    """Words a code may add beside ``side``: the neutral ones and those the side implies (a left side is
    nondominant where the note says nothing of dominance, guideline I.C.6.a)."""
    rules = lexicon_rules()
    implied = rules.get("laterality_implied_words", {}).get(side, ())
    return frozenset([*rules.get("laterality_neutral_words", ()), *implied])


@lru_cache(maxsize=1)
def _side_codes() -> dict[str, dict[str, str]]:
    return dict(lexicon_rules().get("side_codes", {}))


@lru_cache(maxsize=1)
def _side_targets() -> frozenset[str]:
    return frozenset(code for sides in _side_codes().values() for code in sides.values())


@lru_cache(maxsize=65536)
def _title_sides(title: str) -> frozenset[str]:
    """The side words (right, left, bilateral) a code title names."""
    return title_words(title) & SIDES


@lru_cache(maxsize=1)
def _laterality_window() -> int:
    return int(lexicon_rules().get("laterality_window_words", 3))


_AROUND_CHARS = 80  # how far before and after a mention its words are read
_CLAUSE_END = re.compile(r"[.;:\n]")
_ITEM_END = re.compile(r"[.;:\n,]")


def _words_around(m: Mention, before_end: re.Pattern[str] = _CLAUSE_END) -> tuple[list[str], list[str]]:
    """The words before a mention back to ``before_end`` and after it up to the clause end (80 characters
    each way at most)."""
    before = before_end.split(m.note[max(0, m.start - _AROUND_CHARS):m.start])[-1].split()
    after = _CLAUSE_END.split(m.note[m.end:m.end + _AROUND_CHARS])[0].split()
    return before, after


def _documented_side(m: Mention) -> tuple[str, frozenset[str]] | None:
    """The one side (right, left, bilateral) said in a mention or within a few words of it, with the words
    there; None when none is said, or when its clause names another side too ("right worse than left")."""
    region = f"{m.note[max(0, m.start - _AROUND_CHARS):m.start]} {m.text} {m.note[m.end:m.end + _AROUND_CHARS]}"
    if region.isascii():
        low = region.lower()
        if not any(cue in low for cue in _side_cues()):
            return None  # no side word, nor a word read as one ("both"): the usual mention, answered at once
    n = _laterality_window()
    before, after = _words_around(m)
    words = title_words(_bilateral_words(" ".join([*before[-n:], m.text, *after[:n]]))) if n \
        else title_words(_bilateral_words(m.text))
    sides = words & SIDES
    if len(sides) != 1 or len(title_words(_bilateral_words(" ".join([*before, *after]))) & SIDES - sides):
        return None
    return next(iter(sides)), words


@lru_cache(maxsize=1)
def _side_cues() -> tuple[str, ...]:
    """What a text must contain (lower-case) for a side to be read in it: a side word, or a word read as
    "bilateral" before a plural body part."""
    return (*sorted(SIDES), *(w.lower() for w in lexicon_rules().get("laterality_bilateral_words", ())))


@lru_cache(maxsize=1)
def _bilateral_pattern() -> re.Pattern[str] | None:
    """``laterality_bilateral_words`` ("both") before a plural body part ("both knees", "both lower limbs")."""
    words = lexicon_rules().get("laterality_bilateral_words", ())
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\s+(?=(?:(?:lower|upper)\s+)?[a-z]+s\b)",
                      re.IGNORECASE)


def _bilateral_words(text: str) -> str:
    """``text`` with "both" before a plural body part read as "bilateral"."""
    p = _bilateral_pattern()
    return p.sub("bilateral ", text) if p is not None else text


def _mention_window(m: Mention) -> str:
    """A mention with the few words either side of it: before it within its list item ("intractable nausea,
    migraine" does not make the migraine intractable), after it within its clause ("epilepsy, intractable")."""
    n = _laterality_window()
    before, after = _words_around(m, _ITEM_END)
    return " ".join([*before[-n:], m.text, *after[:n]]) if n else m.text


def _head_needed(term: Term) -> bool:
    """Whether a term whose head word is optional needs it named: a short term always ("cranial nerve"
    for "Cranial nerve disorder"); a longer one unless it names a second condition with "with"
    ("hypertension with heart failure" for "Hypertensive heart disease with heart failure"), since
    "white blood cells" (D72.9 "Disorder of white blood cells") or "inferior vena cava" ("Inferior vena
    cava syndrome") are only anatomy without it."""
    return len(term.required) < 3 or " with " not in f" {term.text.lower()} "


@lru_cache(maxsize=1)
def _head_words() -> tuple[frozenset[str], float]:
    """Disease head words a term may leave out, and the score cost when the mention names none."""
    rules = lexicon_rules()
    return frozenset(rules.get("head_words", ())), float(rules.get("missing_head_penalty", 0.0))


def parse_setting(value: str | Setting | None) -> str:
    if value is None:
        return Setting.OUTPATIENT.value
    v = value.value if isinstance(value, Setting) else str(value).strip().lower()
    allowed = [s.value for s in Setting]
    if v not in allowed:
        raise InputError(Errors.E010, value=value, allowed=", ".join(allowed))
    return v


def parse_date(value: str | date | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(Errors.E011, value=value) from None


def _resource_paths() -> list[Path]:
    out = []
    for pkg in ("cac.lexicon", "cac.suggest"):
        base = resources.files(pkg) / "resources"
        out.extend(Path(str(p)) for p in base.iterdir() if p.name.endswith(".json"))
    return sorted(out)


@dataclass(slots=True)
class Mention:
    """What the coder needs of a mention span, read once (each ``span._`` access is costly)."""

    start: int
    end: int
    text: str
    n_tokens: int
    section: str | None
    terms: list[int]
    partial_terms: list[int]
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False
    experiencer: str = "patient"
    triggers: list = field(default_factory=list)
    expansions: str = ""  # what the abbreviations in the mention stand for ("CKD": chronic kidney disease)
    note: str = ""  # the whole note (for the words around the mention)

    @classmethod
    def of(cls, span: Span, text: str) -> "Mention":
        doc = span.doc
        start, end = span.start_char, span.end_char
        table = doc.user_data.get(ABBREVIATIONS_KEY) or {}
        expansions = " ".join(str(table[i][0]) for i in range(span.start, span.end) if i in table) if table else ""
        section = section_record_at(doc, start)
        record = assertion_record(doc, start, end)  # the context flags, read once (not one ``span._`` each)
        flags = (bool(record[f]) for f in CONTEXT_FLAGS) if record is not None else (False,) * len(CONTEXT_FLAGS)
        return cls(
            start, end, text[start:end], len(span), section[0] if section is not None else None,
            span_value(doc, "concept_terms", start, end) or [],
            span_value(doc, "concept_partial_terms", start, end) or [],
            *flags,
            record["experiencer"] if record is not None else DEFAULT_EXPERIENCER,
            list(record["triggers"]) if record is not None else [],
            expansions,
            text,
        )


class Coder:
    """Loads code sets, lexicon and pipeline once; codes any number of notes."""

    def __init__(
        self,
        settings: Settings | None = None,
        code_sets: CodeSets | None = None,
        threshold: float = 0.5,
        vocab_budget: int | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.vocab_budget = self.settings.vocab_budget if vocab_budget is None else vocab_budget
        if self.vocab_budget < 0:
            raise ValueError(f"vocab_budget must be >= 0, got {self.vocab_budget}")
        with loading():  # the loaded data is long-lived: keep it out of the garbage collector's walks
            self.code_sets = code_sets or CodeSets.load(self.settings)
            self.threshold = threshold
            cm = self.code_sets.newest("ICD-10-CM")
            assert cm is not None
            self.cm: CodeSet = cm
            self.lexicon, index, children, facts = self._load_lexicon()
            self.spec = Specificity(cm, children, facts)
            self._term_targets: dict[tuple[int, str], tuple[Term, str | None, str | None, bool, bool]] = {}
            self._target_titles: dict[tuple[int, str, str], tuple[str, bool]] = {}
            self._mention_targets: dict[tuple, tuple[tuple[str, float, str, str], ...]] = {}
            self._sibling_lists: dict[tuple[int, str], list[str]] = {}
            self.matcher = TermMatcher(self.lexicon, index=index)
            self.nlp = self._build_nlp()
            self.procedure_coder = make_procedure_coder(self.code_sets, self.settings)
            self.model_id = MODEL_ID
        self._settler = Settler()  # and so are the caches a run fills
        self._strings_at_load = len(self.nlp.vocab.strings)
        self._lock = threading.RLock()  # re-entrant: a subclass's code() may call this one's

    # --- loading -------------------------------------------------------------
    def _load_lexicon(self) -> tuple[Lexicon, dict, dict[str, list[str]] | None, CodeFacts | None]:
        """The lexicon, its matcher index, and the code set's children index and :class:`CodeFacts` (all
        cached together: built once per code-set release and source version)."""
        import cac.lexicon.build as build_mod
        import cac.lexicon.matcher as matcher_mod
        import cac.lexicon.normalize as norm_mod
        import cac.suggest.specificity as specificity_mod

        import cac.codesets.icd10cm_index as index_reader
        import cac.lexicon.index_terms as index_terms_mod

        files = index_terms_mod.index_files(self.settings.data_dir)
        sources = [embedded_tabular_path(), *_resource_paths(), Path(build_mod.__file__), Path(norm_mod.__file__),
                   Path(matcher_mod.__file__), Path(index_reader.__file__), Path(index_terms_mod.__file__),
                   Path(specificity_mod.__file__), *sorted(files.values())]
        fp = fingerprint(sources, __version__)
        def build() -> dict:
            lex = build_lexicon(self.cm, extra=index_terms_mod.index_terms(files))
            kids, facts = children_index(self.cm), CodeFacts.of(self.cm)
            facts.add_defaults(Specificity(self.cm, kids, facts), (t.code for t in lex.terms))
            return {**lex.to_json(), "index": TermMatcher.build_index(lex),
                    "children": children_to_json(kids), "facts": facts.to_json()}

        data = cached_json(self.settings.cache_dir, "lexicon", fp, build)
        children, facts = data.get("children"), data.get("facts")
        return (Lexicon.from_json(data), data.get("index") or {}, ChildrenIndex(children) if children else None,
                CodeFacts.from_cached(facts))

    def _build_nlp(self) -> Language:
        from cac.pipeline.nlp import build_pipeline
        import cac.pipeline.concepts  # noqa: F401  (registers cac_concepts_v1)

        nlp = build_pipeline()
        nlp.add_pipe("cac_concepts_v1", name="cac_concepts", before="cac_context")
        nlp.get_pipe("cac_concepts").set_matcher(self.matcher)
        return nlp

    # --- coding --------------------------------------------------------------
    def code(
        self,
        text: str,
        *,
        setting: str | Setting | None = None,
        date_of_service: str | date | None = None,
        top_k: int = 20,
        doc_id: str | None = None,
    ) -> CodingResult:
        """Code one note.  ``text`` must already be validated (see ``cac.io.inputs``)."""
        # one note at a time (the pipeline's vocabulary and caches are shared; a zone frees what others
        # would be reading); fewer young-generation collections while it runs (see cac.heap)
        with self._lock, coding(), self._vocab_zone():
            return self._code(text, setting=setting, date_of_service=date_of_service, top_k=top_k,
                              doc_id=doc_id)

    @property
    def strings_learned(self) -> int:
        """Strings the vocabulary has kept from the notes coded so far (see :attr:`vocab_budget`)."""
        return len(self.nlp.vocab.strings) - self._strings_at_load

    def _vocab_zone(self) -> AbstractContextManager:
        """Nothing while the vocabulary is within :attr:`vocab_budget`; past it, a spaCy memory zone for
        the note (its new strings, lexemes and tokenizer-cache entries are freed when it is coded; nothing
        of the doc outlives :meth:`_code`).  A caller's own zone is left alone (zones do not nest)."""
        if self.nlp.vocab.in_memory_zone or self.strings_learned < self.vocab_budget:
            return nullcontext()
        return self.nlp.memory_zone()

    def _code(self, text: str, *, setting: str | Setting | None, date_of_service: str | date | None,
              top_k: int, doc_id: str | None) -> CodingResult:
        setting_v = parse_setting(setting)
        day = parse_date(date_of_service)
        if not isinstance(top_k, int) or top_k < 0:
            raise InputError(Errors.E014, value=top_k)
        chosen = self.code_sets.for_date(day)
        cm = chosen["ICD-10-CM"]
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        info = DocumentInfo(id=doc_id or sha[:16], sha256=sha, setting=setting_v,
                            date_of_service=day.isoformat() if day else None)
        log.info("coding document id=%s sha256=%s chars=%d", info.id, sha[:16], len(text))
        doc = self.nlp(text)
        hits, excluded = self._diagnoses(doc, cm, setting_v)
        stated = value_hits(text, cm, found=hits,
                            sections=[(r[0], r[3], r[4]) for r in doc.user_data.get(SECTIONS_KEY) or ()])
        for h in stated:
            if h.code in hits:
                hits[h.code].merge(h)
            else:
                hits[h.code] = h
        excluded += apply_replacements(hits, stated)
        excluded += guidelines.apply_poisoning_intent(hits, cm, text)
        excluded += guidelines.apply_combinations(hits, cm)
        guidelines.apply_companions(hits, cm)
        excluded += guidelines.apply_superseded_unspecified(hits, cm)
        excluded += guidelines.apply_integral_symptoms(hits)
        excluded += guidelines.apply_excludes1(hits, cm)
        proc_hits, proc_excluded = procedure_hits(self.procedure_coder, doc, chosen)
        release_spans(doc)  # done with the doc: freed on return, not by the cyclic collector (cac.heap)
        excluded += proc_excluded
        ranked = sorted([*hits.values(), *proc_hits], key=lambda h: (-h.score, h.code))
        suggestions = [self._with_alternatives(h).to_suggestion() for h in ranked if h.score >= self.threshold]
        # related and held-back codes rank below the threshold: only those among the top_k are built
        below: list[tuple[float, str, Hit | Callable[[], Hit]]] = [
            (h.score, h.code, h) for h in ranked if h.score < self.threshold]
        below += self._related_candidates(hits, cm, {e.code for e in excluded})
        below += self._held_back(excluded, hits, cm)
        top = heapq.nsmallest(top_k, below, key=lambda c: (-c[0], c[1]))  # = sorted(...)[:top_k]
        candidates = [(self._with_alternatives(c[2]) if isinstance(c[2], Hit) else c[2]()).to_suggestion()
                      for c in top]
        self._settler.tick()
        return CodingResult(
            document=info,
            code_sets={s: cs.release.version for s, cs in chosen.items()},
            model=self.model_id,
            suggestions=suggestions,
            candidates=candidates,
            excluded=excluded,
            text=text,
        )

    def _with_alternatives(self, h: Hit) -> Hit:
        """A diagnosis hit with the more specific codes a coder may choose instead, when it has none yet
        (read only for the codes shown; related and held-back codes list none)."""
        if h.system == "ICD-10-CM" and not h.alternatives:
            h.alternatives = self.spec.alternatives(h.matched or h.code, h.code)
        return h

    def _related_candidates(self, hits: dict[str, Hit], cm: CodeSet, excluded: set[str]
                            ) -> list[tuple[float, str, Callable[[], Hit]]]:
        """Siblings of each suggested code (a coder's next choices), ranked below the
        recommendation threshold: they never become suggestions on their own.  Each is ``(score, code,
        a function building its hit)``: most never reach the candidates shown."""
        out: dict[str, tuple[float, str, Callable[[], Hit]]] = {}
        cap = self.threshold * 0.98
        for h in sorted(hits.values(), key=lambda h: -h.score):
            if h.system != "ICD-10-CM":
                continue
            score = min(cap, h.score * SIBLING_FACTOR)
            for k in self._valid_siblings(cm, h.code):
                if k in hits or k in excluded or k in out:
                    continue
                out[k] = (score, k, lambda k=k, h=h, score=score: Hit(
                    code=k, system="ICD-10-CM", title=cm[k].title, score=score, evidence=h.evidence[:3],
                    rationale=[f"related to {h.code} (same category)"], matched=h.code))
        return list(out.values())

    def _valid_siblings(self, cm: CodeSet, code: str) -> list[str]:
        """``code``'s siblings valid in ``cm``, in order (found once per release and code: ``cm`` is one of
        the coder's own code sets, alive as long as the coder, so its ``id`` names it)."""
        key = (id(cm), code)
        got = self._sibling_lists.get(key)
        if got is None:
            if len(self._sibling_lists) >= MENTION_TARGETS_SIZE:
                self._sibling_lists.clear()
            got = self._sibling_lists[key] = [k for k in self.spec.siblings(code) if cm.is_valid(k)]
        return got

    def _held_back(self, excluded: list[Excluded], hits: dict[str, Hit], cm: CodeSet
                   ) -> list[tuple[float, str, Callable[[], Hit]]]:
        """The diagnoses a rule removed (negated, family, Excludes1, integral symptom...), kept as ranked
        candidates at their own confidence (:data:`CONTEXT_HELD_FACTOR` of it for the context rules), capped
        below the threshold, with the rule that removed them, so a coder can override; they never become
        suggestions (each stays listed in ``excluded``).  Each is ``(score, code, a function building its
        hit)``."""
        best: dict[str, tuple[float, Excluded]] = {}
        for e in excluded:
            if e.system != "ICD-10-CM" or e.code in hits or not cm.is_valid(e.code):
                continue
            factor = CONTEXT_HELD_FACTOR if e.rule.startswith("context:") else 1.0
            score = held_confidence((e.score or 0.0) * factor, self.threshold)
            if e.code in best and best[e.code][0] >= score:
                continue
            best[e.code] = (score, e)
        return [(score, code, lambda e=e, score=score: Hit(
                    code=e.code, system=e.system, title=e.title, score=score, evidence=list(e.evidence),
                    rationale=[f"held back by a guideline rule ({e.rule}: {e.reason})"], matched=e.code,
                    held_back=True))
                for code, (score, e) in best.items()]

    def _diagnoses(self, doc: Doc, cm: CodeSet, setting: str) -> tuple[dict[str, Hit], list[Excluded]]:
        hits: dict[str, Hit] = {}
        excluded: list[Excluded] = []
        text = doc_text(doc)
        seventh = guidelines.encounter_character(text.lower())
        for span in group_spans(doc.spans["mentions"]) if "mentions" in doc.spans else ():
            m = Mention.of(span, text)
            targets = self._targets(m, cm, seventh)
            if not targets:
                continue
            ev = Evidence(m.start, m.end, m.text, m.section)
            for rank, (code, score, term_text, matched) in enumerate(targets):
                if rank:
                    score *= SECONDARY_TARGET_FACTOR
                rationale = [f"term '{term_text}' -> {matched}"]
                title, lateral = self._target_title(cm, code, matched)
                if lateral:
                    rationale.append(f"laterality documented in the note -> {code}")
                hit = Hit(code=code, system="ICD-10-CM", title=title, score=score,
                          evidence=[ev], rationale=rationale, matched=matched)
                outcome, removed = self._apply_context(m, hit, setting, cm)
                if removed is not None:
                    excluded.append(removed)
                if outcome is None:
                    continue
                if outcome.code in hits:
                    hits[outcome.code].merge(outcome)
                else:
                    hits[outcome.code] = outcome
        return hits, excluded

    def _targets(self, m: Mention, cm: CodeSet, seventh: str) -> tuple[tuple[str, float, str, str], ...]:
        """Billable codes a mention supports, best first: (code, score, term, matched code).  Found once per
        release, terms, length, section and encounter character when no word around the mention can change
        them (no side, qualifier or missing head word read: see :meth:`_term_target`)."""
        key = (id(cm), seventh, m.n_tokens, m.section, tuple(m.terms), tuple(m.partial_terms))
        got = self._mention_targets.get(key)
        if got is None:
            got, pure = self._targets_uncached(m, cm, seventh)
            if pure:  # ``cm`` is one of the coder's own code sets, alive as long as the coder: its id names it
                if len(self._mention_targets) >= MENTION_TARGETS_SIZE:
                    self._mention_targets.clear()
                self._mention_targets[key] = got
        return got

    def _targets_uncached(self, m: Mention, cm: CodeSet, seventh: str
                          ) -> tuple[tuple[tuple[str, float, str, str], ...], bool]:
        """:meth:`_targets`, and whether only the mention's terms, length and section decided it."""
        best: dict[str, tuple[float, str, str]] = {}
        pure = True
        n_tokens = m.n_tokens
        partial = set(m.partial_terms)
        heads = _head_words()
        said: set[str] | None = None
        side: tuple[str, frozenset[str]] | None | bool = False  # (documented side, words around), found once
        for tid in [*m.terms, *partial]:
            term, target, fixed, head_check, unspecified = self._term_target(tid, seventh)
            if fixed is not None:  # the usual term: its code does not depend on the words around it
                target = fixed
            elif target is not None:
                pure = False
                table = _side_codes().get(target)
                if table is not None or self.spec.has_sides(target):
                    if side is False:
                        side = _documented_side(m)
                    if side is not None:
                        target = table.get(side[0], target) if table is not None else \
                            self.spec.lateral(target, side[0], side[1], _laterality_neutral(side[0])) or target
                if self.spec.qualifier_options(target):
                    target = self.spec.qualified(target, _mention_window(m)) or target
                if seventh != "A":
                    target = code_by_seventh(self.cm, target, seventh) or target
                unspecified = self.spec.is_unspecified(target) and target != term.code
            if target is None or not cm.is_valid(target):
                continue
            score = term_score(term, n_tokens, 0, m.section)
            if head_check:
                pure = False
                said = set(normalize(f"{m.text} {m.expansions}")) if said is None else said
                if heads[0].isdisjoint(said):  # "cranial nerves" for "Cranial nerve disorder": no disorder named
                    score -= heads[1]
            if tid in partial:
                score *= PARTIAL_FACTOR
            if unspecified:
                score -= 0.02
            if target not in best or score > best[target][0]:
                best[target] = (score, term.text, term.code)
        ordered = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return tuple((code, s, text, matched) for code, (s, text, matched) in ordered[:MAX_TARGETS]), pure

    def _target_title(self, cm: CodeSet, code: str, matched: str) -> tuple[str, bool]:
        """A target code's title, and whether its side came from the note (the code names a side, or is a
        side code of a table, and the term's own code names none); found once per release and pair (``cm``
        is one of the coder's own code sets, alive as long as the coder, so its ``id`` names it)."""
        key = (id(cm), code, matched)
        got = self._target_titles.get(key)
        if got is None:
            title = cm[code].title
            lateral = not _title_sides(cm[matched].title if matched in cm else "") and \
                bool(_title_sides(title) or code in _side_targets())
            got = self._target_titles[key] = (title, lateral)
        return got

    def _term_target(self, tid: int, seventh: str) -> tuple[Term, str | None, str | None, bool, bool]:
        """What a term gives whatever the mention, found once per term and encounter character: ``(term,
        its default billable code, the final code when no word around the mention can change it (side,
        qualifier) else None, whether its missing head word is checked, whether that final code is an
        unspecified one the term did not name)``."""
        key = (tid, seventh)
        got = self._term_targets.get(key)
        if got is None:
            term = self.lexicon.terms[tid]
            target = self.spec.default_billable(term.code, seventh)
            fixed = None
            if target is not None and target not in _side_codes() and not self.spec.has_sides(target) \
                    and not self.spec.qualifier_options(target):
                fixed = (code_by_seventh(self.cm, target, seventh) or target) if seventh != "A" else target
            heads = _head_words()[0]
            head_check = bool(heads) and not heads.isdisjoint(term.optional) and _head_needed(term)
            unspecified = fixed is not None and self.spec.is_unspecified(fixed) and fixed != term.code
            got = self._term_targets[key] = (term, target, fixed, head_check, unspecified)
        return got

    def _history_hit(self, hit: Hit, z: str | None, factor: float, why: str, cm: CodeSet) -> Hit | None:
        """The Z80-Z87 (or status) code replacing a family or past condition, if billable."""
        z = self.spec.default_billable(z) if z else None
        if not z or not cm.is_valid(z):
            return None
        return Hit(code=z, system="ICD-10-CM", title=cm[z].title, score=hit.score * factor, evidence=hit.evidence,
                   rationale=[*hit.rationale, f"{why}: {hit.code} -> {z}"], matched=z)

    def _apply_context(self, m: Mention, hit: Hit, setting: str, cm: CodeSet) -> tuple[Hit | None, Excluded | None]:
        """``(what is coded, what is excluded)`` for a mention's code given its context: a family or past
        condition is reported by its Z80-Z87 code and the condition itself is listed as excluded
        (``replaced_by`` the Z code), so a coder sees why, and the learned models do not restore it."""
        if not (m.negated or m.hypothetical or m.family or m.historical or m.uncertain
                or m.experiencer in ("family", "other")):
            return hit, None  # the usual mention: no context rule applies
        triggers = m.triggers
        why = ", ".join(f"'{t['text']}'" if t.get("text") else str(t.get("source") or t.get("category"))
                        for t in triggers[:3]) or "section"
        if m.negated:
            return None, hit.to_excluded(f"negated ({why}): negative findings are not coded", "context:negated")
        if m.hypothetical:
            return None, hit.to_excluded(f"hypothetical/conditional ({why})", "context:hypothetical")
        if m.family or m.experiencer == "family":
            if guidelines.is_family_history_code(hit.code):  # "family history of diabetes": Z83.3 itself
                hit.rationale.append(f"family history statement ({why})")
                return hit, None
            z_hit = self._history_hit(hit, guidelines.family_history_code(hit.code), 0.9, f"family history ({why})", cm)
            if z_hit is None:
                return None, hit.to_excluded(f"condition of a family member ({why})", "context:family")
            return z_hit, hit.to_excluded(f"condition of a family member ({why}): reported as {z_hit.code}",
                                          "context:family", z_hit.code)
        if m.experiencer == "other":
            return None, hit.to_excluded(f"experienced by someone other than the patient ({why})", "context:experiencer")
        if m.historical and not guidelines.history_is_past(hit.code):
            hit.rationale.append(f"history of an ongoing condition ({why}) coded as current")
            return hit, None
        if m.historical:
            z_hit = self._history_hit(hit, guidelines.personal_history_code(hit.code), 0.85,
                                      f"personal history ({why})", cm)
            if z_hit is None:
                return None, hit.to_excluded(f"historical condition ({why})", "context:historical")
            return z_hit, hit.to_excluded(f"historical condition ({why}): reported as {z_hit.code}",
                                          "context:historical", z_hit.code)
        if m.uncertain:
            if setting == Setting.INPATIENT.value:
                hit.score *= UNCERTAIN_INPATIENT_FACTOR
                hit.uncertain = True
                hit.rationale.append(f"uncertain ({why}) coded as established: inpatient (guideline II.H)")
                return hit, None
            return None, hit.to_excluded(
                f"uncertain diagnosis ({why}) in outpatient setting: code the signs/symptoms (guideline IV.H)",
                "context:uncertain-outpatient")
        return hit, None
