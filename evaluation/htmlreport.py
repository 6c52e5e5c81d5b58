"""A self-contained HTML report (plots embedded as base64 PNG, no external assets).

Sections: headline table with bootstrap intervals, precision-recall curve,
reliability diagram, per-chapter F1 bars, worst codes, top false positives and
negatives, and example errors with their evidence highlighted (when the note
texts are given).  Every piece of text - codes, ids, note text - is HTML-escaped.
Plots use matplotlib's Agg canvas directly (no pyplot, no global backend change).
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .bootstrap import HEADLINE
from .calibration import reliability_diagram

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.plots img{max-width:48%;margin-right:1%}
mark.fp{background:#f8c4c4}mark.fn{background:#c4d8f8}
.snip{font-family:ui-monospace,Menlo,monospace;font-size:.85rem;white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.5rem}
.muted{color:#777;font-size:.85rem}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.4f}"
    return _e(x)


def _png(fig: Figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _pr_figure(curve: Mapping[str, Sequence[float]]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if curve.get("recall"):
        ax.plot(curve["recall"], curve["precision"], color="#4C72B0")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("micro recall")
    ax.set_ylabel("micro precision")
    ax.set_title("Precision-recall (all score cuts)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _chapter_figure(rows: Sequence[Mapping[str, Any]]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    labels = [str(r["chapter"]) for r in rows]
    f1 = [r.get("f1") or 0.0 for r in rows]
    ax.bar(range(len(rows)), f1, color="#55A868")
    for i, r in enumerate(rows):
        ax.text(i, (r.get("f1") or 0.0) + 0.01, str(r.get("support", "")), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("micro F1")
    ax.set_title("F1 per chapter (numbers: gold support)")
    fig.tight_layout()
    return fig


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str], left: Sequence[str] = ()) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{_e(c)}</th>' for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if isinstance(v, list):
                v = ", ".join(str(x) for x in v)
            cells.append(f'<td class="{"l" if c in left else ""}">{_fmt(v)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _snippet(text: str, spans: Sequence[Sequence[int]], cls: str, width: int = 160) -> str:
    spans = sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans if int(e) > int(s))
    if not spans:
        return ""
    lo = max(0, spans[0][0] - width)
    hi = min(len(text), spans[0][1] + width)
    parts = ["…" if lo > 0 else ""]
    pos = lo
    for s, e in spans:
        if e <= pos or s >= hi:
            continue
        s = max(s, pos)
        parts.append(_e(text[pos:s]))
        parts.append(f'<mark class="{cls}">{_e(text[s:min(e, hi)])}</mark>')
        pos = min(e, hi)
    parts.append(_e(text[pos:hi]))
    parts.append("…" if hi < len(text) else "")
    return "".join(parts)


def _examples(
    report: Mapping[str, Any],
    texts: Mapping[str, str] | None,
    pred_evidence: Mapping | None,
    gold_evidence: Mapping | None,
    max_examples: int,
) -> str:
    errors = report.get("errors") or {}
    out = []
    per_kind = max(1, max_examples // 2)  # half false positives, half false negatives
    for kind, key, ev, cls in (
        ("false positive", "false_positives", pred_evidence, "fp"),
        ("false negative", "false_negatives", gold_evidence, "fn"),
    ):
        n = 0
        for row in errors.get(key, []):
            for doc in row.get("doc_ids", [])[:2]:
                if n >= per_kind:
                    break
                spans = ((ev or {}).get(doc) or {}).get(row["code"]) or []
                text = (texts or {}).get(doc)
                snip = _snippet(text, spans, cls) if text and spans else ""
                detail = f'<div class="snip">{snip}</div>' if snip else '<div class="muted">no evidence span available</div>'
                out.append(f"<h3>{_e(kind)}: {_e(row['code'])} in {_e(doc)}</h3>{detail}")
                n += 1
    return "".join(out) or '<p class="muted">no errors to show</p>'


def render_html(
    report: Mapping[str, Any],
    *,
    texts: Mapping[str, str] | None = None,
    pred_evidence: Mapping | None = None,
    gold_evidence: Mapping | None = None,
    title: str = "cac evaluation",
    max_examples: int = 10,
) -> str:
    """The report as one self-contained HTML page."""
    level = (report.get("bootstrap") or {}).get("level", 0.95)
    head_rows = []
    for k in HEADLINE:
        if k in report:
            ci = report.get(f"{k}_ci")
            head_rows.append({"metric": k, "value": report[k], f"{int(level * 100)}% CI": f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else None})
    counts = {k: report.get(k) for k in ("n_docs", "n_docs_with_gold", "n_gold_codes", "n_predicted_codes", "n_scored_pairs", "predicted_from", "threshold")}
    curves = report.get("curves") or {}
    plots = [
        f'<img alt="precision-recall curve" src="{_png(_pr_figure(curves.get("pr") or {}))}">',
        f'<img alt="reliability diagram" src="{_png(reliability_diagram(table=curves.get("reliability") or []))}">',
    ]
    chapters = report.get("per_chapter") or []
    chapter_plot = f'<img alt="F1 per chapter" src="{_png(_chapter_figure(chapters))}">' if chapters else ""
    errors = report.get("errors") or {}
    evidence = report.get("evidence") or {}
    ev_rows = [{"level": k, **v} for k, v in evidence.items()]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<p class="muted">' + " · ".join(f"{_e(k)}: {_fmt(v)}" for k, v in counts.items()) + "</p>",
        "<h2>Headline metrics</h2>",
        _table(head_rows, ["metric", "value", f"{int(level * 100)}% CI"], left=["metric"]),
        f'<p class="muted">Intervals: percentile bootstrap over documents ({_e((report.get("bootstrap") or {}).get("n_boot"))} resamples).</p>',
        '<h2>Curves</h2><div class="plots">' + "".join(plots) + "</div>",
    ]
    if chapters:
        parts += [
            "<h2>Per chapter</h2>",
            chapter_plot,
            _table(chapters, ["chapter", "title", "codes", "support", "predicted", "tp", "fp", "fn", "precision", "recall", "f1"], left=["chapter", "title"]),
        ]
    parts += [
        "<h2>Worst codes</h2>",
        _table(report.get("worst_codes") or [], ["code", "chapter", "support", "predicted", "tp", "fp", "fn", "precision", "recall", "f1"], left=["code", "chapter"]),
        "<h2>Top false positives</h2>",
        _table(errors.get("false_positives") or [], ["code", "count", "doc_ids"], left=["code", "doc_ids"]),
        "<h2>Top false negatives</h2>",
        _table(errors.get("false_negatives") or [], ["code", "count", "doc_ids"], left=["code", "doc_ids"]),
    ]
    if ev_rows:
        parts += ["<h2>Evidence</h2>", _table(ev_rows, ["level", "precision", "recall", "f1", "n_pred", "n_gold"], left=["level"])]
    parts += [
        "<h2>Example errors</h2>",
        _examples(report, texts, pred_evidence, gold_evidence, max_examples),
        "</body></html>",
    ]
    return "\n".join(parts)
