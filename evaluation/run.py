"""Run cac over a corpus and score it (``cac evaluate --corpus ...``).

The pipeline codes every document once (progress bar), its ranked output
(``suggestions`` then ``candidates``) becomes the ranking and ``suggestions``
the predicted set, and :func:`evaluation.score` computes the report.  For
procedures, CodiEsp gold often holds 4-character PCS stems: a predicted code
counts for a gold stem it starts with (``pcs_match="prefix"``, the default),
so that a fully specified prediction is not punished for the gold's
incompleteness; ``pcs_match="exact"`` turns that off.  For diagnoses, gold codes
that are not billable in the coder's ICD-10-CM release (CodiEsp was coded with an
older release: R05 "Cough" was subdivided into R05.1-R05.9 in FY2022) are matched
the same way by the codes that subdivide them (``cm_match="release"``, the
default); ``cm_match="exact"`` turns that off.  cac never suggests a code that is
not billable in the release in force, so exact matching would score those gold
codes as unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

from cac.heap import coding
from corpora.document import Document
from corpora.registry import open_corpus
from evaluation.codes import gold_stems, stem_prefix
from evaluation.report import Report, per_document, score

TASK_SYSTEM = {"diagnosis": "ICD-10-CM", "procedure": "ICD-10-PCS"}


def _prefix_harmonize(gold: set[str], ranked: list[tuple[str, float]], predicted: set[str],
                      stems: Iterable[str] | None = None) -> tuple[list[tuple[str, float]], set[str]]:
    """Predicted codes starting with a gold stem count as that stem (``stems``: default, the gold
    codes shorter than 7 characters, i.e. PCS stems); the best score per stem is kept."""
    prefixes = sorted(((stem_prefix(g), g) for g in ((g for g in gold if len(g) < 7) if stems is None else stems)),
                      key=lambda pg: len(pg[0]), reverse=True)
    out: dict[str, float] = {}
    pred_out: set[str] = set()
    for code, s in ranked:
        target = code if code in gold else next((g for p, g in prefixes if code.startswith(p)), code)
        out[target] = max(out.get(target, 0.0), s)
        if code in predicted:
            pred_out.add(target)
    return sorted(out.items(), key=lambda kv: -kv[1]), pred_out


def result_rankings(result: Any, system: str) -> tuple[list[tuple[str, float]], set[str]]:
    """A CodingResult's ranking (``suggestions`` then ``candidates``) and predicted set for one system."""
    items = [s for s in result.suggestions + result.candidates if s.system == system]
    return [(s.code, float(s.confidence)) for s in items], {s.code for s in result.suggestions if s.system == system}


def code_corpus(
    documents: Iterable[Document],
    coder: Any,
    *,
    system: str,
    setting: str = "inpatient",
    top_k: int = 100,
    progress: bool = True,
    notes: dict | None = None,
) -> tuple[dict[str, list[tuple[str, float]]], dict[str, set[str]], dict[str, dict[str, list[tuple[int, int]]]]]:
    """Ranked predictions, predicted sets and evidence for every document.

    ``notes``, when given, is filled with what error analysis needs per document:
    each suggestion's evidence text and rationale, each excluded code's reason
    (the context flag or guideline rule that kept it out)."""
    docs = list(documents)
    ranked: dict[str, list[tuple[str, float]]] = {}
    predicted: dict[str, set[str]] = {}
    evidence: dict[str, dict[str, list[tuple[int, int]]]] = {}
    iterator: Iterable[Document] = docs
    if progress:
        from rich.progress import track

        iterator = track(docs, description=f"coding {len(docs)} documents", transient=True)
    with coding():  # one block for the whole batch (see cac.heap.coding)
        for doc in iterator:
            r = coder.code(doc.text, setting=setting, top_k=top_k, doc_id=doc.id)
            ranked[doc.id], predicted[doc.id] = result_rankings(r, system)
            evidence[doc.id] = {s.code: [(e.start, e.end) for e in s.evidence]
                                for s in r.suggestions if s.system == system}
            if notes is not None:
                notes[doc.id] = {
                    "suggested": {s.code: {"evidence": [e.text for e in s.evidence[:3]], "rationale": s.rationale[:3]}
                                  for s in r.suggestions if s.system == system},
                    "excluded": {e.code: {"reason": e.reason, "rule": e.rule,
                                          "evidence": [v.text for v in e.evidence[:2]]}
                                 for e in r.excluded if e.system == system},
                }
    return ranked, predicted, evidence


def evaluate_corpus(
    coder: Any,
    *,
    corpus: str,
    root: str | Path | None = None,
    split: str | None = None,
    path: str | Path | None = None,
    task: str = "diagnosis",
    setting: str = "inpatient",
    pcs_match: str = "prefix",
    cm_match: str = "release",
    n_boot: int = 1000,
    progress: bool = True,
    html_path: str | Path | None = None,
) -> Report:
    """Code a corpus with ``coder`` and score it against its gold."""
    system = TASK_SYSTEM[task]
    docs = open_corpus(corpus, root=root, split=split, path=path)
    gold = {d.id: {g.code for g in d.gold if g.system == system} for d in docs}
    gold = {k: v for k, v in gold.items() if v}
    docs = [d for d in docs if d.id in gold]
    notes: dict[str, dict] = {}
    ranked, predicted, evidence = code_corpus(docs, coder, system=system, setting=setting, progress=progress, notes=notes)
    if system == "ICD-10-PCS" and pcs_match == "prefix":
        for d in docs:
            ranked[d.id], predicted[d.id] = _prefix_harmonize(gold[d.id], ranked[d.id], predicted[d.id])
    n_release_gold = 0
    cm = _newest(coder, system)
    if system == "ICD-10-CM" and cm_match == "release" and cm is not None:
        for d in docs:
            stems = gold_stems(gold[d.id], system, cm)
            n_release_gold += len(stems)
            if stems:
                ranked[d.id], predicted[d.id] = _prefix_harmonize(gold[d.id], ranked[d.id], predicted[d.id], stems)
    gold_ev: dict[str, dict[str, list]] = {}
    for d in docs:
        for g in d.gold:
            spans = d.evidence_spans(g) if g.system == system else []
            if spans:
                gold_ev.setdefault(d.id, {}).setdefault(g.code, []).extend(tuple(s) for s in spans)
    texts = {d.id: d.text for d in docs}
    report = score(gold, ranked, predicted, n_boot=n_boot, systems={}, gold_evidence=gold_ev or None,
                   pred_evidence=evidence if gold_ev else None, texts=texts)
    report["per_document"] = per_document(gold, ranked, predicted)
    report["error_examples"] = error_examples(report.get("errors") or {}, docs, notes)
    if gold_ev and isinstance(report.get("evidence"), dict) and "sentence" in report["evidence"]:
        from evaluation.evidence import sentence_precision_ci

        report["evidence_sentence_precision"] = report["evidence"]["sentence"]["precision"]
        report["evidence_sentence_precision_ci"] = sentence_precision_ci(gold_ev, evidence, texts=texts, n_boot=n_boot)
    report["task"] = task
    report["corpus"] = {"name": corpus, "split": split, "root": str(root) if root else None, "path": str(path) if path else None}
    report["setting"] = setting
    report["model"] = getattr(coder, "model_id", None)
    report["code_sets"] = _code_set_releases(coder)
    report["lexicon"] = _lexicon_identity(coder)
    report["threshold"] = getattr(coder, "threshold", None)
    report["pcs_match"] = pcs_match if system == "ICD-10-PCS" else None
    report["cm_match"] = cm_match if system == "ICD-10-CM" else None
    if system == "ICD-10-CM":
        report["gold_not_billable_in_release"] = n_release_gold
    if gold_ev:
        report["evidence_gold_level"] = "sentence" if any(
            g.spans_lang not in (None, d.lang) for d in docs for g in d.gold) else "span"
    if html_path is not None:
        from evaluation.htmlreport import render_html

        Path(html_path).write_text(render_html(report, texts=texts, pred_evidence=evidence, gold_evidence=gold_ev,
                                               title=f"cac evaluation: {corpus} {split or ''} {task}"), encoding="utf-8")
    return report


def _lexicon_identity(coder: Any) -> dict[str, Any] | None:
    """The knowledge lexicon the coder (or a hybrid's knowledge coder) matched with: its term count and
    content digest; None for a coder without one (e.g. scored predictions)."""
    lexicon = getattr(getattr(coder, "knowledge", coder), "lexicon", None)
    if lexicon is None or not hasattr(lexicon, "digest"):
        return None
    return {"terms": len(lexicon.terms), "sha256": lexicon.digest()}


def _newest(coder: Any, system: str) -> Any:
    sets = getattr(coder, "code_sets", None)
    return sets.newest(system) if sets is not None and hasattr(sets, "newest") else None


def error_examples(errors: Mapping, docs: list[Document], notes: Mapping[str, dict], per_code: int = 3) -> dict:
    """Top false positives with cac's evidence and rationale; top false negatives with the
    gold evidence and, when cac saw the code but kept it out, the context flag or rule why."""
    by_id = {d.id: d for d in docs}
    out: dict[str, list[dict]] = {"false_positives": [], "false_negatives": []}
    for row in errors.get("false_positives", []):
        ex = [{"doc_id": d, **notes.get(d, {}).get("suggested", {}).get(row["code"], {})} for d in row["doc_ids"][:per_code]]
        out["false_positives"].append({"code": row["code"], "count": row["count"], "examples": ex})
    for row in errors.get("false_negatives", []):
        ex = []
        for d in row["doc_ids"][:per_code]:
            doc = by_id.get(d)
            gold_ev = []
            if doc is not None:
                for g in doc.gold:
                    if g.code == row["code"]:
                        gold_ev = [doc.text[a:b][:200] for a, b in doc.evidence_spans(g)[:2]]
            ex.append({"doc_id": d, "gold_evidence": gold_ev,
                       "cac_excluded": notes.get(d, {}).get("excluded", {}).get(row["code"])})
        out["false_negatives"].append({"code": row["code"], "count": row["count"], "examples": ex})
    return out


def paired_comparison(a: Mapping, b: Mapping, metrics: tuple[str, ...] = ("map", "micro_f1", "macro_f1", "p_at_8"),
                      n_boot: int = 1000) -> dict[str, dict]:
    """Paired bootstrap tests between two reports that carry ``per_document`` on the same gold."""
    from evaluation.bootstrap import paired_bootstrap

    pa, pb = a.get("per_document"), b.get("per_document")
    if not pa or not pb or pa["gold"] != pb["gold"]:
        return {}
    gold = {d: set(v) for d, v in pa["gold"].items()}
    ra = {d: [tuple(x) for x in v] for d, v in pa["ranked"].items()}
    rb = {d: [tuple(x) for x in v] for d, v in pb["ranked"].items()}
    sa = {d: set(v) for d, v in pa["predicted"].items()}
    sb = {d: set(v) for d, v in pb["predicted"].items()}
    return {m: paired_bootstrap(gold, ra, rb, sa, sb, metric=m, n_boot=n_boot) for m in metrics}


def _code_set_releases(coder: Any) -> Mapping[str, list[str]] | None:
    sets = getattr(coder, "code_sets", None)
    if sets is None:
        return None
    return sets.versions()
