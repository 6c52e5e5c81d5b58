"""The hybrid coder: knowledge-driven candidates + learned models, reranked and calibrated.

:class:`HybridCoder` has the knowledge coder's interface (``code(text, setting=...,
date_of_service=..., top_k=..., doc_id=...) -> CodingResult``), so the CLI, the API
and the evaluation toolkit use either one.  For each document it

1. runs the knowledge coder (guideline-aware suggestions, candidates, exclusions);
2. asks the linear model, the nearest training documents and the dense
   retriever (each when the pack has one) for their top codes;
3. scores the union with the :class:`models.reranker.Reranker` (one calibrated
   probability per code) and splits suggestions from candidates at the threshold
   tuned on dev.

Evidence for each code comes from the best-supporting source: the knowledge
coder's mentions, else the retriever's best sentence, else the sentence that
raises the linear model's score most.  HCPCS and CPT suggestions (no training
data) pass through from the knowledge coder unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from cac.heap import coding, loading
from cac.suggest.coder import parse_date
from cac.types import CodingResult, Evidence, Suggestion
from cac.suggest.scoring import held_confidence
from models.base import label_of
from models.features import GATES, SYSTEMS, SourceOutputs, candidate_table, category, gated, knowledge_view, note_words
from models.guideline_edits import (billable_labels, documented_floor, edit_suggestions, hold_denied_qualifiers,
                                    release_sources, transfer_replaced)
from models.linear import LinearCoder
from models.reranker import Reranker

log = logging.getLogger(__name__)

KNOWLEDGE_TOP_K = 120  # the knowledge coder's ranked codes the reranker sees (train-CV MAP: 60 -> 120 +0.003, 200 no better)


class HybridCoder:
    """Knowledge coder + linear model (+ retriever) -> reranker -> calibrated suggestions."""

    def __init__(
        self,
        knowledge: Any,
        linear: LinearCoder | None,
        reranker: Reranker,
        retrieval: Any = None,
        neighbors: Any = None,
        *,
        k_linear: int = 30,
        k_retrieval: int = 20,
        k_neighbors: int = 40,
        gate: str = "context",
        hold: str = "none",
        category_guard: bool = False,
        guideline_edits: bool = True,
        model_id: str = "cac-hybrid",
        pack: Any = None,
    ) -> None:
        self.knowledge = knowledge
        self.linear = linear
        self._prior_table: dict[str, int] | None = None
        self._static_cache: dict[tuple[str, str | None], dict[str, tuple]] = {}  # candidate_table's
        self.reranker = reranker
        self.retrieval = retrieval
        self.neighbors = neighbors
        self.k_linear = k_linear
        self.k_retrieval = k_retrieval
        self.k_neighbors = k_neighbors
        if hold not in GATES:
            raise ValueError(f"hold must be one of {GATES}, got {hold!r}")
        self.gate = gate
        self.hold = hold
        self.category_guard = category_guard
        self.guideline_edits = guideline_edits
        self.model_id = model_id
        self.pack = pack

    # --- what the evaluation toolkit and CLI read ---------------------------------------------
    @property
    def code_sets(self) -> Any:
        return self.knowledge.code_sets

    @property
    def threshold(self) -> dict[str, float]:
        return {s: self.reranker.threshold(s) for s in SYSTEMS}

    @classmethod
    def from_pack(cls, path: str | Path, knowledge: Any = None, *, allow_release_mismatch: bool = False,
                  guideline_edits: bool = True) -> "HybridCoder":
        """Load a verified pack (hash, code-set releases) and wrap ``knowledge`` (default: the process coder)."""
        from models.pack import load_pack, resolve_pack

        if knowledge is None:
            from cac.service import get_coder

            knowledge = get_coder()
        with loading():  # the models are long-lived too (see cac.heap)
            pack = load_pack(resolve_pack(path), code_sets=knowledge.code_sets.versions(),
                             allow_release_mismatch=allow_release_mismatch)
            comps = pack.components
            linear = LinearCoder.load(pack.path / comps["linear"]["path"]) if "linear" in comps else None
            reranker = Reranker.load(pack.path / comps["reranker"]["path"])
            retrieval = None
            if "retrieval" in comps:
                from models.retrieval import DenseRetriever

                retrieval = DenseRetriever.load(pack.path / comps["retrieval"]["path"])
            neighbors = None
            if "neighbors" in comps:
                from models.neighbors import NeighborCoder

                neighbors = NeighborCoder.load(pack.path / comps["neighbors"]["path"])
            cfg = comps["reranker"].get("sources", {})
            coder = cls(knowledge, linear, reranker, retrieval, neighbors, k_linear=int(cfg.get("k_linear", 30)),
                        k_retrieval=int(cfg.get("k_retrieval", 20)), k_neighbors=int(cfg.get("k_neighbors", 0)),
                        gate=str(cfg.get("gate", "context")), hold=str(cfg.get("hold", "none")),
                        guideline_edits=guideline_edits,
                        model_id=f"cac-hybrid/{pack.pack_id[:12]}", pack=pack)
        return coder

    # --- sources ---------------------------------------------------------------------------------
    def source_outputs(self, texts: Sequence[str], results: Sequence[Any]) -> list[SourceOutputs]:
        """Every source's output for a batch of documents (knowledge results already computed)."""
        linear: list[dict[str, float]] = [{} for _ in texts]
        if self.linear is not None and self.k_linear > 0:
            linear = [dict(r) for r in self.linear.predict(list(texts), top_k=self.k_linear)]
        retrieved: list[dict[str, tuple[float, tuple[int, int]]]] = [{} for _ in texts]
        if self.retrieval is not None and self.k_retrieval > 0:
            retrieved = [{lab: (s, span) for lab, s, span in r}
                         for r in self.retrieval.predict_with_evidence(list(texts), top_k=self.k_retrieval)]
        near: list[dict[str, float]] = [{} for _ in texts]
        if self.neighbors is not None and self.k_neighbors > 0:
            near = [dict(r) for r in self.neighbors.predict(list(texts), top_k=self.k_neighbors)]
        return [SourceOutputs(text=t, knowledge=r, linear=lin, retrieval=ret, neighbors=nb)
                for t, r, lin, ret, nb in zip(texts, results, linear, retrieved, near)]

    def prior(self, label: str) -> int:
        """Training documents with ``label``, or the summed count of a :func:`models.features.category_key`."""
        return self.linear.label_prior(label) if self.linear is not None else 0

    def prior_table(self) -> dict[str, int]:
        """:meth:`prior` of every label and category key with a count, as one dict (built once)."""
        table = self._prior_table
        if table is None:
            table = {}
            if self.linear is not None:
                table = {lab: int(n) for lab, n in zip(self.linear.labels_, self.linear.label_counts_.tolist()) if n}
                table.update((k, n) for k, n in self.linear._category_counts().items() if n)
            self._prior_table = table
        return table

    # --- coding ----------------------------------------------------------------------------------
    def code(self, text: str, *, setting: Any = None, date_of_service: Any = None, top_k: int = 20,
             doc_id: str | None = None) -> CodingResult:
        """Code one note (``text`` already validated, as for the knowledge coder)."""
        with coding():  # fewer young-generation collections (see cac.heap)
            result = self.knowledge.code(text, setting=setting, date_of_service=date_of_service,
                                         top_k=max(top_k, KNOWLEDGE_TOP_K), doc_id=doc_id)
            return self.combine(self.source_outputs([text], [result])[0], top_k=top_k)

    def release_outputs(self, outputs: SourceOutputs, kview: dict, sets: dict) -> SourceOutputs:
        """The learned sources' labels of an older ICD-10-CM release read as the codes the rules found
        under them in the note (:func:`models.guideline_edits.release_sources`)."""
        spec = getattr(self.knowledge, "spec", None)
        return release_sources(outputs, kview, sets.get("ICD-10-CM"), getattr(spec, "default_billable", None))

    def score_candidates(self, outputs: SourceOutputs, kview: dict | None = None, sets: dict | None = None
                         ) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        """``system -> (labels, features, calibrated probabilities)`` for one document."""
        kview = knowledge_view(outputs.knowledge) if kview is None else kview
        sets = self._code_sets(outputs.knowledge) if sets is None else sets
        out = {}
        words = note_words(outputs.text)
        for system in SYSTEMS:
            cs = sets.get(system)
            key = (system, cs.release.version if cs is not None else None)
            titles = TitleLookup(cs, system)  # read once per label: the static cache keeps what it gives
            labels, X = candidate_table(outputs, system, prior=self.prior_table(), titles=titles, knowledge=kview,
                                        gate=self.gate, words=words, static=self._static_cache.setdefault(key, {}))
            out[system] = (labels, X, self.reranker.predict_proba(X, system))
        return out

    def prepared(self, outputs: SourceOutputs) -> tuple[SourceOutputs, dict, dict]:
        """``(outputs, knowledge view, code sets)`` of a document as :meth:`combine` ranks it: the learned
        labels of an older release read as the rules' codes (:meth:`release_outputs`)."""
        kview = knowledge_view(outputs.knowledge)
        sets = self._code_sets(outputs.knowledge)
        return self.release_outputs(outputs, kview, sets), kview, sets

    def combine(self, outputs: SourceOutputs, *, top_k: int = 20, scored: dict | None = None) -> CodingResult:
        """One CodingResult from every source's output for a document; ``scored`` is the
        :meth:`score_candidates` of its :meth:`prepared` outputs when the caller has them already
        (threshold tuning combines each dev note once per threshold)."""
        result = outputs.knowledge
        outputs, kview, sets = self.prepared(outputs)
        suggestions: list[Suggestion] = []
        candidates: list[Suggestion] = []
        chosen: list[tuple[str, list[int], list[int], list[str], np.ndarray]] = []
        need_lin: list[str] = []
        received: dict[str, str] = {}
        edited_out: list[Any] = []
        held_back: dict[str, tuple[float, str]] = {}  # label -> (probability, why) of codes the rules removed
        alias: dict[str, str] = {}
        if scored is None:
            scored = self.score_candidates(outputs, kview, sets)
        for system, (labels, _, proba) in scored.items():
            if self.hold != "none":
                labels, proba = self._hold_back(labels, proba, kview, held_back)
            if self.guideline_edits and system == "ICD-10-CM":
                labels, proba, received, edited_out, held, alias = self._edit_ranking(
                    labels, proba, kview, sets.get(system), top_k, outputs.text)
                _merge_held(held_back, held)
                need_lin += list(alias.values())
            cut = self.reranker.threshold(system)
            order = np.argsort(-proba, kind="stable")
            above = [i for i in order if proba[i] >= cut]
            below = [i for i in order if proba[i] < cut][:top_k]
            chosen.append((system, above, below, labels, proba))
            need_lin += [labels[i] for i in [*above, *below]
                         if _no_mention(kview.get(labels[i])) and labels[i] not in outputs.retrieval]
        held_back = dict(sorted(held_back.items(), key=lambda kv: -kv[1][0])[:top_k])
        need_lin += [lab for lab in held_back if _no_mention(kview.get(lab))]
        # one pass over the note's sentences finds the linear evidence for every system
        lin_spans = self.linear.best_sentences(outputs.text, need_lin) if need_lin and self.linear else {}
        lin_spans.update({new: lin_spans[old] for new, old in alias.items() if old in lin_spans and new not in lin_spans})
        for system, above, below, labels, proba in chosen:
            if self.category_guard and system == "ICD-10-CM":
                above, held = self._guard_categories(above, labels, kview)
                below = sorted([*held, *below], key=lambda i: -proba[i])
            for idxs, bucket in ((above, suggestions), (below, candidates)):
                for i in idxs:
                    lab = labels[i]
                    bucket.append(self._suggestion(lab, float(proba[i]), outputs, kview, sets.get(system), lin_spans))
                    if lab in received:
                        bucket[-1].rationale.append(received[lab])
        if self.guideline_edits:
            suggestions, edited, demoted = edit_suggestions(suggestions, sets.get("ICD-10-CM"))
            edited_out += edited
            why = {e.code: f"{e.rule}: {e.reason}" for e in edited}
            candidates += [self._held(s, why[s.code]) for s in demoted]
        candidates += [self._held(self._suggestion(lab, p, outputs, kview, sets.get(lab.partition(":")[0]), lin_spans),
                                  w) for lab, (p, w) in held_back.items()]
        suggestions = _drop_covered_stems(suggestions)
        suggested_labels = {label_of(s.system, s.code) for s in suggestions}
        candidates = [s for s in candidates if label_of(s.system, s.code) not in suggested_labels]
        suggestions += [s for s in result.suggestions if s.system not in SYSTEMS]
        candidates += [s for s in result.candidates if s.system not in SYSTEMS]
        excluded = [e for e in result.excluded if label_of(e.system, e.code) not in suggested_labels] + edited_out
        suggestions.sort(key=lambda s: -s.confidence)
        candidates.sort(key=lambda s: -s.confidence)
        return CodingResult(document=result.document, code_sets=result.code_sets, model=self.model_id,
                            suggestions=suggestions, candidates=candidates[:top_k], excluded=excluded, text=result.text)

    # --- helpers ---------------------------------------------------------------------------------
    def _edit_ranking(self, labels: list[str], proba: np.ndarray, kview: dict, cs: Any, top_k: int, text: str = ""
                      ) -> tuple[list[str], np.ndarray, dict[str, str], list[Any], dict[str, tuple[float, str]],
                                 dict[str, str]]:
        """The diagnosis ranking after the guideline edits that precede the threshold (billable defaults,
        the diagnostic-statement floor, replaced codes): ``(labels, proba, label -> why it was raised,
        new exclusions, the top_k removed labels -> (probability, why), billable label -> learned label)``."""
        spec = getattr(self.knowledge, "spec", None)
        billable = billable_labels(labels, proba, kview, cs, getattr(spec, "default_billable", None))
        held = {lab: (p, "not a billable code of the release") for lab, p in billable.invalid.items()}
        _merge_held(held, billable.held)
        proba, raised = documented_floor(billable.labels, billable.proba, kview)
        moved = transfer_replaced(billable.labels, proba, kview, cs)
        _merge_held(held, moved.held)
        moved.labels, moved.proba, denied = hold_denied_qualifiers(moved.labels, moved.proba, kview, cs, text)
        _merge_held(held, denied)
        # only the most probable can make the candidate list (``top_k``): evidence for those alone
        held = dict(sorted(held.items(), key=lambda kv: -kv[1][0])[:top_k])
        return moved.labels, moved.proba, {**raised, **moved.received}, moved.excluded, held, billable.alias

    def _hold_back(self, labels: list[str], proba: np.ndarray, kview: dict, held: dict[str, tuple[float, str]]
                   ) -> tuple[list[str], np.ndarray]:
        """Codes the rules excluded (``self.hold``: assertion rules, or all rules) with no mention supporting
        them leave the ranking for ``held`` (label -> (probability, why)): the learned layer scores them, so
        they rank among the candidates, but it never overrides the rules."""
        keep: list[int] = []
        aside = _set_aside_procedures(kview)
        for i, lab in enumerate(labels):
            if gated(kview.get(lab), self.hold):
                ex = kview[lab].excluded
                _merge_held(held, {lab: (float(proba[i]), f"{ex.rule}: {ex.reason}")})
            elif self.hold != "none" and (ex := _stem_of_set_aside(lab, kview, aside)) is not None:
                # the learned stem B030 of "Plan: MRI brain" (B030ZZZ, set aside as planned)
                _merge_held(held, {lab: (float(proba[i]), f"{ex.rule}: {ex.reason}")})
            else:
                keep.append(i)
        return ([labels[i] for i in keep], proba[keep]) if len(keep) < len(labels) else (labels, proba)

    def _held(self, s: Suggestion, why: str) -> Suggestion:
        """A code the guideline rules removed, kept as a ranked candidate (below the threshold) for override."""
        p = s.confidence
        s.confidence = held_confidence(p, self.reranker.threshold(s.system))
        s.rationale = [*s.rationale, f"held back by a guideline rule ({why}); learned probability {p:.2f}"]
        s.flags = {**s.flags, "held_back": True}
        return s

    @staticmethod
    def _guard_categories(above: list[int], labels: list[str], kview: dict) -> tuple[list[int], list[int]]:
        """Guideline guard: a diagnosis only the learned models propose does not become a suggestion
        when the rules suggested another code of its category (the rules chose the specific or
        combination code the documentation supports, e.g. E11.22 over E11.9); it stays a candidate."""
        rule_cats = {category(lab) for lab, info in kview.items() if info.suggested}
        keep, held = [], []
        for i in above:
            info = kview.get(labels[i])
            learned_only = info is None or not info.suggested
            (held if learned_only and category(labels[i]) in rule_cats else keep).append(i)
        return keep, held

    def _code_sets(self, result: Any) -> dict[str, Any]:
        day = parse_date(result.document.date_of_service) if result is not None else None
        return self.knowledge.code_sets.for_date(day)

    def _suggestion(self, label: str, p: float, outputs: SourceOutputs, kview: dict, cs: Any,
                    lin_spans: dict[str, tuple[int, int]]) -> Suggestion:
        system, _, code = label.partition(":")
        info = kview.get(label)
        base = info.suggestion if info is not None else None
        text = outputs.text
        rationale: list[str] = []
        if base is not None:
            evidence = list(base.evidence)
            rationale.extend(base.rationale)
        elif info is not None and info.excluded is not None and info.excluded.evidence:
            evidence = list(info.excluded.evidence)  # the mention the rules excluded
        else:
            evidence = []
            span = outputs.retrieval[label][1] if label in outputs.retrieval else lin_spans.get(label)
            if span is not None:
                evidence = [Evidence(span[0], span[1], text[span[0]:span[1]])]
        parts = []
        if label in outputs.linear:
            parts.append(f"linear model {outputs.linear[label]:.2f}")
        if label in outputs.retrieval:
            parts.append(f"retrieval cosine {outputs.retrieval[label][0]:.2f}")
        if label in outputs.neighbors:
            parts.append(f"similar training notes {outputs.neighbors[label]:.2f}")
        if base is not None:
            parts.append(f"knowledge {base.confidence:.2f}")
        rationale.append("reranked from " + ", ".join(parts) if parts else "reranked")
        flags: dict[str, Any] = {}
        entry = cs.get(code) if cs is not None else None
        title = base.title if base is not None else (entry.title if entry is not None else "")
        if cs is not None and not cs.is_valid(code):
            flags["incomplete"] = True
            rationale.append("not a complete billable code in the loaded release: choose the remaining characters")
            title = title or f"(incomplete {system} code)"
        if info is not None and info.excluded is not None:
            rationale.append(f"note: the rules also found {info.excluded.reason}")
        return Suggestion(code=code, system=system, title=title, confidence=p, evidence=evidence,
                          rationale=rationale, alternatives=list(base.alternatives) if base is not None else [],
                          flags=flags)


def _set_aside_procedures(kview: Mapping[str, Any]) -> dict[str, Any]:
    """``label -> Excluded`` of the procedures the rules set aside by context (planned, past, negated)."""
    return {lab: info.excluded for lab, info in kview.items()
            if not lab.startswith("ICD-10-CM:") and info.suggestion is None and info.excluded is not None
            and any(r.startswith("context:") for r in info.rules)}


def _stem_of_set_aside(label: str, kview: Mapping[str, Any], aside: Mapping[str, Any]) -> Any:
    """The set-aside procedure a learned label is a stem of (and no documented procedure starts with it)."""
    if not aside or label.startswith("ICD-10-CM:") or label in kview and kview[label].suggestion is not None:
        return None
    found = next((ex for lab, ex in aside.items() if lab != label and lab.startswith(label)), None)
    if found is None:
        return None
    done = any(lab.startswith(label) and info.suggestion is not None for lab, info in kview.items())
    return None if done else found


def _drop_covered_stems(suggestions: list[Suggestion]) -> list[Suggestion]:
    """An incomplete learned code (a PCS stem such as 0FT4) is not suggested beside a complete code of the
    same system that completes it (0FT44ZZ): the complete code says all it says."""
    complete = [(s.system, s.code) for s in suggestions if not s.flags.get("incomplete")]
    return [s for s in suggestions if not s.flags.get("incomplete")
            or not any(sys_ == s.system and code != s.code and code.startswith(s.code) for sys_, code in complete)]


def _merge_held(into: dict[str, tuple[float, str]], new: Mapping[str, tuple[float, str]]) -> None:
    """Add held-back codes (label -> (probability, why)), keeping each label's most probable entry."""
    for lab, entry in new.items():
        if lab not in into or entry[0] > into[lab][0]:
            into[lab] = entry


def _no_mention(info: Any) -> bool:
    """True when the knowledge coder has no span for a code (its evidence must come from a learned source)."""
    return info is None or (info.suggestion is None and (info.excluded is None or not info.excluded.evidence))


class TitleLookup:
    """Lazy ``label -> title`` view of a code set."""

    def __init__(self, cs: Any, system: str) -> None:
        self.cs, self.prefix = cs, system + ":"

    def get(self, label: str, default: str = "") -> str:
        if self.cs is None:
            return default
        entry = self.cs.get(label[len(self.prefix):])
        return entry.title if entry is not None else default


class PriorLookup:
    """Lazy ``label -> training count`` view of the linear model."""

    def __init__(self, coder: HybridCoder) -> None:
        self.coder = coder

    def get(self, label: str, default: int = 0) -> int:
        return self.coder.prior_table().get(label) or default
