"""Export gold codes or coder decisions to annotation tools.

* **Prodigy** JSONL (one task per document, ``choice`` + ``spans`` shape)::

    {"text": "...", "meta": {"id": "doc-1"},
     "options": [{"id": "E11.9", "text": "E11.9 (ICD-10-CM)"}, ...],
     "accept": ["E11.9"], "spans": [{"start": 10, "end": 25, "label": "E11.9", "text": "..."}],
     "answer": "accept"}

* **Label Studio** tasks JSON (a list of tasks; ``annotations`` by default,
  ``predictions`` with ``as_predictions=True``)::

    {"data": {"text": "...", "doc_id": "doc-1"},
     "annotations": [{"result": [
        {"id": "E11.9-0", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 10, "end": 25, "text": "...", "labels": ["E11.9"]}},
        {"id": "codes", "from_name": "codes", "to_name": "text", "type": "choices",
         "value": {"choices": ["E11.9"]}}]}]}

  :func:`label_studio_config` gives a matching labelling configuration.

**Decisions** (optional) replace the gold of a document: ``{doc_id: [{"code": ...,
"system": ..., "decision": "accept"|"reject", "spans": [[s, e], ...],
"score": 0.8}, ...]}``.  Accepted codes go to ``accept``/``choices``; rejected ones
stay among the options (Prodigy) or in ``meta.rejected`` so the decision is not
lost.  Spans are written only where they index the exported text (CodiEsp
English documents export their projected English sentences).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import orjson

from .document import Document, normalize_any

Decisions = Mapping[str, Sequence[Mapping[str, Any]]]


def _entries(doc: Document, decisions: Decisions | None) -> list[dict[str, Any]]:
    """``[{"code","system","accept","spans","score"}]`` for one document."""
    if decisions is not None and doc.id in decisions:
        out = []
        for d in decisions[doc.id]:
            code, system = normalize_any(str(d["code"]), d.get("system"))
            verdict = str(d.get("decision", "accept")).lower()
            spans = [tuple(int(x) for x in s) for s in d.get("spans") or []]
            spans = [s for s in spans if 0 <= s[0] <= s[1] <= len(doc.text)]
            out.append(
                {"code": code, "system": system, "accept": verdict in ("accept", "accepted", "true", "yes"), "spans": spans, "score": d.get("score")}
            )
        return out
    return [
        {"code": g.code, "system": g.system, "accept": True, "spans": doc.evidence_spans(g), "score": None} for g in doc.gold
    ]


def to_prodigy(documents: Iterable[Document], decisions: Decisions | None = None) -> list[dict[str, Any]]:
    """Prodigy tasks (one per document) from gold or coder decisions."""
    tasks = []
    for doc in documents:
        entries = _entries(doc, decisions)
        spans = []
        for e in entries:
            if not e["accept"]:
                continue
            for s, t in e["spans"]:
                spans.append({"start": s, "end": t, "label": e["code"], "text": doc.text[s:t]})
        spans.sort(key=lambda x: (x["start"], x["end"], x["label"]))
        meta: dict[str, Any] = {"id": doc.id}
        rejected = [e["code"] for e in entries if not e["accept"]]
        if rejected:
            meta["rejected"] = rejected
        tasks.append(
            {
                "text": doc.text,
                "meta": meta,
                "options": [{"id": e["code"], "text": f"{e['code']} ({e['system']})"} for e in entries],
                "accept": [e["code"] for e in entries if e["accept"]],
                "spans": spans,
                "answer": "accept",
            }
        )
    return tasks


def write_prodigy_jsonl(documents: Iterable[Document], path: str | Path, decisions: Decisions | None = None) -> int:
    """Write Prodigy JSONL; returns the number of tasks."""
    tasks = to_prodigy(documents, decisions)
    with Path(path).open("wb") as fh:
        for t in tasks:
            fh.write(orjson.dumps(t) + b"\n")
    return len(tasks)


def to_label_studio(
    documents: Iterable[Document],
    decisions: Decisions | None = None,
    *,
    as_predictions: bool = False,
    model_version: str = "cac",
) -> list[dict[str, Any]]:
    """Label Studio tasks from gold or coder decisions."""
    tasks = []
    for doc in documents:
        entries = _entries(doc, decisions)
        result: list[dict[str, Any]] = []
        for e in entries:
            if not e["accept"]:
                continue
            for i, (s, t) in enumerate(e["spans"]):
                item: dict[str, Any] = {
                    "id": f"{e['code']}-{i}",
                    "from_name": "label",
                    "to_name": "text",
                    "type": "labels",
                    "value": {"start": s, "end": t, "text": doc.text[s:t], "labels": [e["code"]]},
                }
                if e["score"] is not None:
                    item["score"] = float(e["score"])
                result.append(item)
        accepted = [e["code"] for e in entries if e["accept"]]
        result.append({"id": "codes", "from_name": "codes", "to_name": "text", "type": "choices", "value": {"choices": accepted}})
        data: dict[str, Any] = {"text": doc.text, "doc_id": doc.id}
        rejected = [e["code"] for e in entries if not e["accept"]]
        task: dict[str, Any] = {"data": data, "meta": {"rejected": rejected} if rejected else {}}
        if as_predictions:
            scores = [float(e["score"]) for e in entries if e["accept"] and e["score"] is not None]
            pred: dict[str, Any] = {"model_version": model_version, "result": result}
            if scores:
                pred["score"] = sum(scores) / len(scores)
            task["predictions"] = [pred]
        else:
            task["annotations"] = [{"result": result}]
        tasks.append(task)
    return tasks


def write_label_studio(
    documents: Iterable[Document],
    path: str | Path,
    decisions: Decisions | None = None,
    *,
    as_predictions: bool = False,
) -> int:
    """Write Label Studio tasks JSON (a list); returns the number of tasks."""
    tasks = to_label_studio(documents, decisions, as_predictions=as_predictions)
    Path(path).write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(tasks)


def label_studio_config(codes: Iterable[str]) -> str:
    """A Label Studio labelling configuration matching :func:`to_label_studio`."""
    from xml.sax.saxutils import quoteattr

    values = sorted(set(codes))
    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in values)
    choices = "\n".join(f"    <Choice value={quoteattr(c)}/>" for c in values)
    return (
        "<View>\n"
        '  <Labels name="label" toName="text">\n'
        f"{labels}\n"
        "  </Labels>\n"
        '  <Text name="text" value="$text"/>\n'
        '  <Choices name="codes" toName="text" choice="multiple">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )
