"""Train every learned model and write a model pack (``cac train``).

Recipe (seeded, reproducible):

1. the knowledge coder codes every train and dev document (it has no fitted state);
2. the linear model is fitted on train (+ any extra corpora); its out-of-fold
   probabilities stand in for it on the train documents, so the reranker learns
   from scores like those it will see on new notes;
3. the nearest-neighbour index stores the train documents; each train document
   is scored against the others (leave-one-out);
4. optionally the dense retriever is fine-tuned on (evidence sentence, code) and
   (synonym, code) pairs, and indexes every billable code;
5. the reranker is fitted on the train candidate tables, then calibrated
   (isotonic) and thresholded on dev;
6. dev is scored for every source alone and combined (the ablation), and the
   pack is written with its metrics, training-data fingerprint and model card.

Dev is used for calibration and thresholds, so the combined model's dev
calibration error is in-sample; ``ece_crossfit`` (calibrate on one half of dev,
measure on the other, and back) is the honest figure and is reported beside it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from corpora.document import Document
from evaluation.codes import gold_stems, stem_prefix
from cac.heap import coding
from cac.suggest.scoring import held_confidence
from models.base import label_of
from models.features import (FEATURES, SYSTEMS, SourceOutputs, candidate_table, category, category_key, gated,
                             is_positive, knowledge_view, note_words)
from models.hybrid import KNOWLEDGE_TOP_K, HybridCoder, PriorLookup, TitleLookup
from models.linear import LinearCoder, _sigmoid
from models.reranker import Reranker

log = logging.getLogger(__name__)

TASKS = {"ICD-10-CM": "diagnosis", "ICD-10-PCS": "procedure"}
CODIESP_ATTRIBUTION = (
    "Trained on CodiEsp (Miranda-Escalada A., Gonzalez-Agirre A., Armengol-Estapé J., Krallinger M., "
    "'Overview of automatic clinical coding: annotations, guidelines, and solutions for non-English "
    "clinical cases at CodiEsp track of CLEF eHealth 2020', CEUR-WS 2696, 2020), English translation, "
    "licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)."
)


@dataclass
class TrainConfig:
    """Everything that decides what ``train_pack`` builds (stored in the pack)."""

    seed: int = 0
    setting: str = "inpatient"
    k_linear: int = 300
    k_retrieval: int = 20
    k_neighbors: int = 60
    prior_folds: int = 5  # train rows see code priors counted on the other folds (out_of_fold_priors)
    final_threshold: bool = True  # tune the diagnosis threshold on the guideline-edited dev output
    gate: str = "none"  # rule exclusions that remove a code from the learned layer's candidates
    hold: str = "context"  # ... that keep a scored code below the threshold (ranked, never suggested)
    retrieval: bool = False
    retrieval_fine_tune: bool = True
    retrieval_epochs: int = 1
    retrieval_max_pairs: int = 8000
    retrieval_systems: tuple[str, ...] = ("ICD-10-CM",)
    linear: dict = field(default_factory=dict)
    neighbors: dict = field(default_factory=dict)
    reranker: dict = field(default_factory=dict)
    n_boot: int = 1000


@dataclass
class Stage:
    """Progress reporting: ``report(stage, detail)``; default logs."""

    report: Callable[[str, str], None] = lambda stage, detail: log.info("train: %s %s", stage, detail)


def _labels(doc: Document) -> list[str]:
    return sorted({label_of(g.system, g.code) for g in doc.gold if g.system in SYSTEMS})


def _gold(doc: Document, system: str) -> set[str]:
    return {g.code for g in doc.gold if g.system == system}


def _top(row: np.ndarray, labels: Sequence[str], k: int) -> dict[str, float]:
    k = min(k, row.size)
    idx = np.argpartition(-row, k - 1)[:k]
    return {labels[i]: float(row[i]) for i in idx}


def _best(scores: dict, k: int, score: Callable[[Any], float] = lambda v: v) -> dict:
    """The ``k`` best-scored entries of a source's ``label -> value`` output (ties in insertion order)."""
    return dict(sorted(scores.items(), key=lambda kv: -score(kv[1]))[:k])


def knowledge_results(coder: Any, docs: Sequence[Document], setting: str, progress: bool) -> list[Any]:
    it: Any = docs
    if progress:
        from rich.progress import track

        it = track(docs, description=f"knowledge coder: {len(docs)} documents", transient=True)
    with coding():  # one block for the whole batch (see cac.heap.coding)
        return [coder.code(d.text, setting=setting, top_k=KNOWLEDGE_TOP_K, doc_id=d.id) for d in it]


def out_of_fold_priors(docs: Sequence[Document], prior: Mapping[str, int], folds: int, seed: int
                       ) -> list[Mapping[str, float]]:
    """Each training document's view of the code priors (``label -> number of training documents``):
    counted on the other folds only and rescaled to the whole set (``k / (k - 1)``), so a train row
    looks like a new note's row, where the prior never counts the note itself.  With the in-sample
    count every gold code of a train note has a prior of at least 1 (the reranker learns that unseen
    codes are never right), and leave-one-out counts leak the other way (a count one below the
    code's total marks the gold rows)."""
    if folds < 2:
        raise ValueError(f"prior_folds must be >= 2, got {folds}")
    fold = np.random.default_rng(seed).permutation(len(docs)) % folds
    per_fold: list[dict[str, int]] = [{} for _ in range(folds)]
    for d, k in zip(docs, fold):
        for lab in _labels(d):
            for key in (lab, category_key(category(lab))):
                per_fold[k][key] = per_fold[k].get(key, 0) + 1
    scale = folds / (folds - 1)
    views = [_FoldPrior(prior, own, scale) for own in per_fold]
    return [views[k] for k in fold]


class _FoldPrior:
    """``label -> prior`` without one fold's documents (see :func:`out_of_fold_priors`)."""

    def __init__(self, prior: Mapping[str, int], own: Mapping[str, int], scale: float) -> None:
        self.prior, self.own, self.scale = prior, own, scale

    def get(self, label: str, default: float = 0) -> float:
        n = self.prior.get(label, 0)
        return (n - self.own.get(label, 0)) * self.scale if n else default


def candidate_sets(hybrid: HybridCoder, outputs: Sequence[SourceOutputs], docs: Sequence[Document],
                   priors: Sequence[Mapping[str, float]] | None = None
                   ) -> dict[str, tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]]:
    """``system -> (X, y, [(doc index, label)])`` over all documents; ``priors`` gives each document its
    own code priors (:func:`out_of_fold_priors`, for the training documents), else the model's."""
    out: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in SYSTEMS}
    shared = PriorLookup(hybrid)
    default_billable = getattr(getattr(hybrid.knowledge, "spec", None), "default_billable", None)
    for i, (o, d) in enumerate(zip(outputs, docs)):
        prior = priors[i] if priors is not None else shared
        kview = knowledge_view(o.knowledge)
        sets = hybrid._code_sets(o.knowledge)
        o = hybrid.release_outputs(o, kview, sets)
        words = note_words(o.text)
        for system in SYSTEMS:
            titles = TitleLookup(sets.get(system), system)
            labels, X = candidate_table(o, system, prior=prior, titles=titles, words=words, knowledge=kview,
                                        gate=hybrid.gate)
            gold = _gold(d, system)
            stems = gold_stems(gold, system, sets.get(system))
            xs, ys, keys = out[system]
            xs.append(X)
            if system == "ICD-10-PCS":
                ys.extend(int(is_positive(lab, gold, stems)) for lab in labels)
            else:
                reps = stem_representatives(labels, stems, kview, default_billable)
                ys.extend(int(lab.partition(":")[2] in gold or lab in reps) for lab in labels)
            keys.extend((i, lab) for lab in labels)
    return {s: (np.vstack(xs) if xs else np.zeros((0, len(FEATURES)), np.float32), np.asarray(ys, dtype=np.int8), keys)
            for s, (xs, ys, keys) in out.items()}


def stem_representatives(labels: Sequence[str], stems: Sequence[str], kview: Mapping[str, Any],
                         default_billable: Callable[[str], str | None] | None = None) -> set[str]:
    """The one candidate per ICD-10-CM gold stem (a code of an older release that the loaded one
    subdivides: CodiEsp's R05) that is a training positive: the subdivision the rules found in the note
    (their most confident, not a sibling they only listed as related), else the stem's billable default
    (R05.9).  Counting every subdivision positive taught the reranker to suggest all of them at once
    (R05.1, R05.2, R05.3... for one cough); ``cac evaluate`` credits one code per stem."""
    out: set[str] = set()
    for stem in stems:
        prefix = stem_prefix(stem)
        under = [lab for lab in labels if lab.partition(":")[2].startswith(prefix)]
        if not under:
            continue
        found = [lab for lab in under if (info := kview.get(lab)) is not None and info.suggestion is not None
                 and not any("related to" in r for r in info.suggestion.rationale)]
        if found:
            out.add(max(found, key=lambda lab: kview[lab].score))
            continue
        default = default_billable(stem) if default_billable is not None else None
        pick = next((lab for lab in under if lab.partition(":")[2] == default), None)
        if pick is not None:
            out.add(pick)
    return out


def _ranked(keys: list[tuple[int, str]], scores: np.ndarray, docs: Sequence[Document]) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {d.id: [] for d in docs}
    for (i, lab), s in zip(keys, scores):
        out[docs[i].id].append((lab.partition(":")[2], float(s)))
    return {k: sorted(v, key=lambda cs: -cs[1]) for k, v in out.items()}


def _harmonized(gold: dict[str, set[str]], ranked: dict[str, list[tuple[str, float]]], system: str, cs: Any = None
                ) -> dict[str, list[tuple[str, float]]]:
    from evaluation.run import _prefix_harmonize

    out = {}
    for d, r in ranked.items():
        stems = gold_stems(gold.get(d, set()), system, cs)
        out[d] = _prefix_harmonize(gold.get(d, set()), r, set(), stems)[0] if stems else r
    return out


DevView = tuple[dict[str, set[str]], dict[str, list[tuple[str, float]]]]


def dev_view(gold: dict[str, set[str]], ranked: dict[str, list[tuple[str, float]]], system: str,
             cs: Any = None) -> DevView:
    """``(gold, ranked)`` restricted to documents with gold of ``system``, predictions mapped onto the
    gold stems they specialise (:func:`gold_stems` with the loaded release ``cs``, as ``cac evaluate``
    scores them)."""
    gold = {d: g for d, g in gold.items() if g}
    return gold, _harmonized(gold, {d: ranked.get(d, []) for d in gold}, system, cs)


def evaluate_ranked(view: DevView, threshold: float, n_boot: int) -> dict[str, Any]:
    """Headline metrics with CIs for one source on dev (a :func:`dev_view`)."""
    from evaluation.report import score

    gold, ranked = view
    predicted = {d: {c for c, s in r if s >= threshold} for d, r in ranked.items()}
    rep = score(gold, ranked, predicted, n_boot=n_boot)
    keep = ("map", "micro_precision", "micro_recall", "micro_f1", "macro_f1", "p_at_8", "ece", "n_docs")
    out = {k: rep[k] for k in keep if k in rep}
    out.update({f"{k}_ci": rep[f"{k}_ci"] for k in ("map", "micro_f1", "ece") if f"{k}_ci" in rep})
    out["threshold"] = threshold
    return out


def tuned_threshold(view: DevView) -> float:
    """The micro-F1-optimal threshold on a :func:`dev_view`."""
    from evaluation.thresholds import tune_threshold

    return tune_threshold(*view)


#: Diagnosis thresholds tried on the final, guideline-edited output (:func:`final_threshold`).
FINAL_THRESHOLD_GRID = tuple(round(0.15 + 0.025 * i, 3) for i in range(19))


def final_threshold(hybrid: HybridCoder, outputs: Sequence[SourceOutputs], docs: Sequence[Document], system: str,
                    cs: Any = None, grid: Sequence[float] = FINAL_THRESHOLD_GRID) -> tuple[float, float]:
    """``(threshold, micro-F1)``: the ``system`` threshold that maximises micro-F1 of what ``cac code``
    suggests on ``docs`` (dev), guideline edits and held-back codes included, scored as ``cac evaluate``
    scores it.  The edits act on the codes above the threshold (a combination code replaces its parts,
    an integral symptom leaves...), so the pre-edit optimum is not the product's.  Ties keep the higher
    threshold; the reranker's current threshold is among those tried."""
    from evaluation.metrics import micro_prf
    from evaluation.run import _prefix_harmonize, result_rankings

    gold = {d.id: _gold(d, system) for d in docs if _gold(d, system)}
    keep = [i for i, d in enumerate(docs) if d.id in gold]
    stems = {docs[i].id: gold_stems(gold[docs[i].id], system, cs) for i in keep}
    # the reranker's scores do not depend on the threshold: each note is scored once
    scored = {i: hybrid.score_candidates(*hybrid.prepared(outputs[i])) for i in keep}
    saved = hybrid.reranker.thresholds_[system]
    best = (-1.0, saved)
    try:
        for t in sorted({*grid, saved}, reverse=True):
            hybrid.reranker.thresholds_[system] = t
            predicted = {}
            for i in keep:
                d = docs[i]
                ranked, pred = result_rankings(hybrid.combine(outputs[i], top_k=0, scored=scored[i]), system)
                predicted[d.id] = _prefix_harmonize(gold[d.id], ranked, pred, stems[d.id])[1] if stems[d.id] else pred
            f1 = micro_prf(gold, predicted)[2]
            if f1 > best[0]:
                best = (f1, t)
    finally:
        hybrid.reranker.thresholds_[system] = saved
    return best[1], best[0]


def held_rows(keys: list[tuple[int, str]], results: Sequence[Any], hold: str) -> np.ndarray:
    """Which candidate rows the rules hold back (:func:`models.features.gated` with ``hold``)."""
    if hold == "none":
        return np.zeros(len(keys), dtype=bool)
    views = {i: knowledge_view(results[i]) for i in {i for i, _ in keys}}
    return np.array([gated(views[i].get(lab), hold) for i, lab in keys], dtype=bool)


def crossfit_ece(reranker: Reranker, raw: np.ndarray, y: np.ndarray, keys: list[tuple[int, str]],
                 docs: Sequence[Document], system: str, seed: int, cs: Any = None) -> float:
    """ECE of isotonic calibration fitted on one half of the dev documents and measured on the other."""
    from evaluation.calibration import expected_calibration_error

    rng = np.random.default_rng(seed)
    half = rng.permutation(len(docs)) < len(docs) // 2
    doc_of = np.array([i for i, _ in keys])
    if doc_of.size == 0:
        return math.nan
    calibrated = np.zeros(len(raw))
    probe = Reranker()
    probe.calibration_ = {}
    for side in (True, False):
        fit_rows, apply_rows = half[doc_of] == side, half[doc_of] != side
        probe.calibrate(raw[fit_rows], y[fit_rows], system)
        calibrated[apply_rows] = probe.calibrated(raw[apply_rows], system)
    return float(expected_calibration_error(*dev_view({d.id: _gold(d, system) for d in docs},
                                                       _ranked(keys, calibrated, docs), system, cs)))


def train_pack(
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    output: str | Path,
    *,
    config: TrainConfig | None = None,
    knowledge: Any = None,
    corpus_info: dict | None = None,
    parent_pack_id: str | None = None,
    name: str = "cac-hybrid",
    license: str = "",
    attribution: str = "",
    progress: bool = True,
    stage: Stage | None = None,
) -> Any:
    """Train on ``train_docs``, calibrate/threshold/evaluate on ``dev_docs``, write the pack to ``output``."""
    from models.pack import finalize_pack, training_fingerprint

    config = config or TrainConfig()
    stage = stage or Stage()
    t0 = time.perf_counter()
    train_docs, dev_docs = list(train_docs), list(dev_docs)
    if len(train_docs) < 3 or not dev_docs:
        raise ValueError(f"training needs at least 3 train and 1 dev document (got {len(train_docs)} and {len(dev_docs)})")
    if not any(_labels(d) for d in train_docs):
        raise ValueError("no train document carries an ICD-10-CM or ICD-10-PCS gold code")
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: choose a new output directory")
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    np.random.seed(config.seed)

    if knowledge is None:
        from cac.service import get_coder

        knowledge = get_coder()
    stage.report("knowledge", f"coding {len(train_docs)} train + {len(dev_docs)} dev documents")
    t = time.perf_counter()
    k_train = knowledge_results(knowledge, train_docs, config.setting, progress)
    k_dev = knowledge_results(knowledge, dev_docs, config.setting, progress)
    timings["knowledge_s"] = time.perf_counter() - t

    stage.report("linear", f"fitting TF-IDF + logistic regression on {len(train_docs)} documents")
    t = time.perf_counter()
    params = {"seed": config.seed, "progress": progress, "n_jobs": 2, **config.linear}
    linear = LinearCoder(**params).fit([d.text for d in train_docs], [_labels(d) for d in train_docs])
    oof = _sigmoid(linear.calibration_[:, 0] * linear.oof_scores_ + linear.calibration_[:, 1])
    lin_train = [_top(row, linear.labels_, config.k_linear) for row in oof]
    lin_dev = [dict(r) for r in linear.predict([d.text for d in dev_docs], top_k=max(config.k_linear, 100))]
    timings["linear_s"] = time.perf_counter() - t

    neighbors = None
    nb_train: list[dict] = [{} for _ in train_docs]
    nb_dev: list[dict] = [{} for _ in dev_docs]
    if config.k_neighbors > 0:
        from models.neighbors import NeighborCoder

        stage.report("neighbors", f"indexing {len(train_docs)} documents for nearest-neighbour votes")
        t = time.perf_counter()
        neighbors = NeighborCoder(**{"seed": config.seed, **config.neighbors}).fit(
            [d.text for d in train_docs], [_labels(d) for d in train_docs])
        nb_train = [dict(neighbors.top(row, config.k_neighbors)) for row in neighbors.oof_]
        nb_dev = [dict(r) for r in neighbors.predict([d.text for d in dev_docs], top_k=max(config.k_neighbors, 100))]
        timings["neighbors_s"] = time.perf_counter() - t

    retrieval = None
    ret_train: list[dict] = [{} for _ in train_docs]
    ret_dev: list[dict] = [{} for _ in dev_docs]
    if config.retrieval:
        stage.report("retrieval", "fine-tuning and indexing the dense retriever")
        t = time.perf_counter()
        retrieval = fit_retrieval(knowledge, train_docs, config, progress)
        ret_train = [{lab: (s, span) for lab, s, span in r}
                     for r in retrieval.predict_with_evidence([d.text for d in train_docs], top_k=config.k_retrieval)]
        ret_dev = [{lab: (s, span) for lab, s, span in r}
                   for r in retrieval.predict_with_evidence([d.text for d in dev_docs], top_k=100)]
        timings["retrieval_s"] = time.perf_counter() - t

    stage.report("reranker", "fitting on train candidates, calibrating and thresholding on dev")
    t = time.perf_counter()
    hybrid = HybridCoder(knowledge, linear, Reranker(**{"seed": config.seed, **config.reranker}), retrieval, neighbors,
                         k_linear=config.k_linear, k_retrieval=config.k_retrieval, k_neighbors=config.k_neighbors,
                         gate=config.gate, hold=config.hold)
    train_out = [SourceOutputs(d.text, k, lin, ret, nb)
                 for d, k, lin, ret, nb in zip(train_docs, k_train, lin_train, ret_train, nb_train)]
    dev_out = [SourceOutputs(d.text, k, _best(lin, config.k_linear), _best(ret, config.k_retrieval, lambda v: v[0]),
                             _best(nb, config.k_neighbors))
               for d, k, lin, ret, nb in zip(dev_docs, k_dev, lin_dev, ret_dev, nb_dev)]
    priors = out_of_fold_priors(train_docs, PriorLookup(hybrid), config.prior_folds, config.seed)
    tr_sets = candidate_sets(hybrid, train_out, train_docs, priors)
    dv_sets = candidate_sets(hybrid, dev_out, dev_docs)
    reranker = hybrid.reranker.fit({s: v[0] for s, v in tr_sets.items()}, {s: v[1] for s, v in tr_sets.items()})
    metrics: dict[str, Any] = {"dev": {}, "ablation": {}, "candidate_recall": {}}
    for system in SYSTEMS:
        X, y, keys = dv_sets[system]
        task = TASKS[system]
        gold = {d.id: _gold(d, system) for d in dev_docs}
        raw = reranker.raw_score(X, system)
        reranker.calibrate(raw, y, system)
        final = reranker.calibrated(raw, system)
        held = held_rows(keys, k_dev, config.hold)
        # the threshold is tuned on the codes that can be suggested; held codes then rank just below it
        cs = knowledge.code_sets.newest(system)
        reranker.thresholds_[system] = tuned_threshold(dev_view(gold, _ranked(keys, np.where(held, -1.0, final),
                                                                               dev_docs), system, cs))
        final = np.where(held, held_confidence(final, reranker.thresholds_[system]), final)
        view = dev_view(gold, _ranked(keys, final, dev_docs), system, cs)
        dev = evaluate_ranked(view, reranker.thresholds_[system], config.n_boot)
        dev["ece_crossfit"] = crossfit_ece(reranker, raw, y, keys, dev_docs, system, config.seed, cs)
        metrics["dev"][task] = dev
        n_gold = sum(len(g) for g in gold.values())
        found = {(dev_docs[i].id, lab) for (i, lab), yy in zip(keys, y) if yy}
        metrics["candidate_recall"][task] = len(found) / max(1, n_gold)
        metrics["ablation"][task] = ablation(system, gold, dev_docs, k_dev, lin_dev, ret_dev, config, dev, nb_dev, cs)
    if config.final_threshold:
        # the product applies the guideline edits to the reranked diagnoses: tune their threshold on that output
        stage.report("threshold", "tuning the diagnosis threshold on the guideline-edited dev output")
        hybrid.reranker = reranker
        cm = knowledge.code_sets.newest("ICD-10-CM")
        before = reranker.thresholds_["ICD-10-CM"]
        reranker.thresholds_["ICD-10-CM"], f1 = final_threshold(hybrid, dev_out, dev_docs, "ICD-10-CM", cm)
        metrics["dev"]["diagnosis"]["threshold_before_edits"] = before
        metrics["dev"]["diagnosis"]["threshold"] = reranker.thresholds_["ICD-10-CM"]
        metrics["dev"]["diagnosis"]["micro_f1_guideline_edits"] = f1
    timings["reranker_s"] = time.perf_counter() - t

    stage.report("pack", f"writing {out}")
    linear.save(out / "linear")
    reranker.save(out / "reranker")
    components: dict[str, Any] = {
        "linear": {"path": "linear", "family": "linear.tfidf_lr.v1", "labels": len(linear.labels_),
                   "params": linear.get_params()},
        "reranker": {"path": "reranker", "family": "reranker.hgb_isotonic.v1", "thresholds": reranker.thresholds_,
                     "sources": {"knowledge": knowledge.model_id, "k_linear": config.k_linear, "gate": config.gate,
                                 "hold": config.hold,
                                 "k_retrieval": config.k_retrieval if retrieval is not None else 0,
                                 "k_neighbors": config.k_neighbors if neighbors is not None else 0},
                     "params": reranker.get_params()},
    }
    if neighbors is not None:
        neighbors.save(out / "neighbors")
        components["neighbors"] = {"path": "neighbors", "family": "neighbors.tfidf_knn.v1",
                                   "labels": len(neighbors.labels_), "params": neighbors.get_params()}
    if retrieval is not None:
        retrieval.save(out / "retrieval")
        components["retrieval"] = {"path": "retrieval", "family": "retrieval.dense_minilm.v1",
                                   "labels": len(retrieval.labels_), "fine_tuned": bool(retrieval.fine_tuned_)}
    timings["total_s"] = time.perf_counter() - t0
    metrics["timings"] = {k: round(v, 1) for k, v in timings.items()}
    releases = {s: knowledge.code_sets.newest(s).release.version for s in SYSTEMS}
    all_train = list(train_docs)
    training_data = {
        **(corpus_info or {}),
        "n_train_documents": len(train_docs), "n_dev_documents": len(dev_docs),
        "fingerprint": training_fingerprint(all_train),
        "dev_fingerprint": training_fingerprint(dev_docs),
        "config": asdict(config),
    }
    limits = [
        "Dev metrics: calibration and thresholds are tuned on dev, so dev ECE is in-sample; "
        "ece_crossfit (two-fold on dev) is the honest estimate.",
        "Learned sources only know codes seen in training; unseen codes come from the knowledge "
        "coder" + (" and the dense retriever." if retrieval is not None else "."),
        "Trained on translated Spanish clinical case reports; notes from other settings "
        "(US discharge summaries, operative reports) differ in style and code mix: evaluate before use.",
        "PCS gold in CodiEsp is often a 4-character stem; such labels are suggested flagged 'incomplete'.",
    ]
    pack = finalize_pack(out, name=name, code_sets=releases, training_data=training_data, metrics=metrics,
                         components=components, parent_pack_id=parent_pack_id, license=license,
                         attribution=attribution, limits=limits)
    log.info("train: wrote pack %s (%s) in %.0f s", pack.pack_id[:12], out, timings["total_s"])
    return pack


def ablation(system: str, gold: dict[str, set[str]], docs: Sequence[Document], k_dev: Sequence[Any],
             lin_dev: Sequence[dict], ret_dev: Sequence[dict], config: TrainConfig, combined: dict,
             nb_dev: Sequence[dict] = (), cs: Any = None) -> dict[str, Any]:
    """Each source alone on dev (its own threshold tuned on dev) beside the combined model."""
    from evaluation.report import score
    from evaluation.run import _prefix_harmonize, result_rankings

    keep = ("map", "micro_f1", "ece", "map_ci", "micro_f1_ci")
    g = {k: v for k, v in gold.items() if v}
    kr, kp = {}, {}
    for d, r in zip(docs, k_dev):
        if d.id in g:
            kr[d.id], kp[d.id] = result_rankings(r, system)
            stems = gold_stems(g[d.id], system, cs)
            if stems:
                kr[d.id], kp[d.id] = _prefix_harmonize(g[d.id], kr[d.id], kp[d.id], stems)
    rep = score(g, kr, kp, n_boot=config.n_boot)
    out: dict[str, Any] = {"knowledge": {k: rep[k] for k in keep if k in rep}}
    prefix = system + ":"
    sources = {"linear": {d.id: [(lab[len(prefix):], p) for lab, p in lin.items() if lab.startswith(prefix)]
                          for d, lin in zip(docs, lin_dev)}}
    for name, outputs, value_of in (("retrieval", ret_dev, lambda v: v[0]), ("neighbors", nb_dev, lambda v: v)):
        if any(lab.startswith(prefix) for out in outputs for lab in out):
            sources[name] = {d.id: [(lab[len(prefix):], value_of(v)) for lab, v in out.items() if lab.startswith(prefix)]
                             for d, out in zip(docs, outputs)}
    for name, ranked in sources.items():
        view = dev_view(gold, {k: sorted(v, key=lambda kv: -kv[1]) for k, v in ranked.items()}, system, cs)
        res = evaluate_ranked(view, tuned_threshold(view), config.n_boot)
        out[name] = {k: res[k] for k in (*keep, "threshold") if k in res}
    out["combined"] = {k: combined[k] for k in keep if k in combined}
    return out


def fit_retrieval(knowledge: Any, train_docs: Sequence[Document], config: TrainConfig, progress: bool) -> Any:
    """Fine-tune (optionally) and index the dense retriever over every billable CM and PCS code."""
    from models.retrieval import DenseRetriever, entries_from_code_set, pairs_from_documents

    entries = []
    synonym_pairs = []
    for system in config.retrieval_systems:
        cs = knowledge.code_sets.newest(system)
        rows = entries_from_code_set(cs, billable_only=True, max_per_code=3)
        entries.extend(rows)
        first: dict[str, str] = {}
        for label, text in rows:
            if label in first:
                synonym_pairs.append((text, label))  # (synonym, code): teaches the vocabulary
            else:
                first[label] = text
    pairs = pairs_from_documents(train_docs, systems=config.retrieval_systems)
    rng = np.random.default_rng(config.seed)
    n_syn = min(len(synonym_pairs), max(0, config.retrieval_max_pairs - len(pairs)))
    if n_syn:
        pick = rng.choice(len(synonym_pairs), size=n_syn, replace=False)
        pairs = pairs + [synonym_pairs[i] for i in sorted(pick)]
    model = DenseRetriever(fine_tune=config.retrieval_fine_tune and bool(pairs), epochs=config.retrieval_epochs,
                           max_pairs=config.retrieval_max_pairs, seed=config.seed, progress=progress)
    return model.fit(pairs, entries)
