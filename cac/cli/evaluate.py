"""``cac evaluate``: score cac (or any system's predictions) against gold."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cac.cli import app
from cac.errors import CorpusError, Errors

evaluate_app = typer.Typer(help="Score the pipeline on a corpus, or any predictions file against gold.",
                           invoke_without_command=True, no_args_is_help=False)
app.add_typer(evaluate_app, name="evaluate")

HEADLINE = ("map", "micro_precision", "micro_recall", "micro_f1", "macro_f1", "p_at_8", "ece",
            "evidence_sentence_precision", "n_docs")


def _print_headline(report: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("metric", "value", "95% CI"):
        table.add_column(col)
    for k in HEADLINE:
        if k in report:
            ci = report.get(f"{k}_ci")
            v = report[k]
            table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v),
                          f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
    Console().print(table)


def _write_json(report: dict, path: str) -> None:
    import orjson

    with open(path, "wb") as fh:
        fh.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=_default))


def _default(obj: object) -> object:
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict(orient="records") if obj.__class__.__name__ == "DataFrame" else to_dict()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


@evaluate_app.callback()
def evaluate_command(
    ctx: typer.Context,
    corpus: Annotated[Optional[str], typer.Option(help="codiesp | jsonl | brat | fhir")] = None,
    root: Annotated[Optional[str], typer.Option(help="Corpus root (CodiEsp: the folder with train/ dev/)")] = None,
    split: Annotated[Optional[str], typer.Option(help="train | dev (CodiEsp)")] = None,
    path: Annotated[Optional[str], typer.Option(help="Corpus file or folder (jsonl, brat, fhir)")] = None,
    task: Annotated[str, typer.Option(help="diagnosis | procedure")] = "diagnosis",
    model: Annotated[Optional[str], typer.Option(help="Model pack (path, name or id); default: the installed default pack")] = None,
    knowledge_only: Annotated[bool, typer.Option("--knowledge-only", help="Score the knowledge-driven pipeline alone")] = False,
    allow_release_mismatch: Annotated[bool, typer.Option(help="Use a pack built for other code-set releases")] = False,
    guideline_edits: Annotated[bool, typer.Option(help="Apply the ICD-10-CM guideline rules to the pack's reranked codes (as cac code does); --no-guideline-edits lets the training corpus's conventions stand")] = True,
    cm_match: Annotated[str, typer.Option(help="release: a gold diagnosis code not billable in the loaded release (coded with an older one) is matched by the codes that subdivide it | exact")] = "release",
    setting: Annotated[str, typer.Option(help="inpatient | outpatient")] = "inpatient",
    predictions: Annotated[Optional[str], typer.Option(help="Predictions file: cac JSONL or CSV doc_id,code,score")] = None,
    gold: Annotated[Optional[str], typer.Option(help="Gold file: cac JSONL or CSV doc_id,code")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Write the full report as JSON")] = None,
    html_out: Annotated[Optional[str], typer.Option("--html", help="Write a self-contained HTML report")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals")] = 1000,
) -> None:
    """cac evaluate --corpus codiesp --root DIR --split dev --task diagnosis | --predictions F --gold F"""
    if ctx.invoked_subcommand is not None:
        return
    if predictions or gold:
        if not (predictions and gold):
            raise CorpusError(Errors.E404, path=predictions or gold, detail="--predictions and --gold go together")
        from evaluation.report import evaluate_predictions

        report = evaluate_predictions(predictions, gold, n_boot=n_boot, html_path=html_out)
        title = f"{predictions} vs {gold}"
    elif corpus:
        if task not in ("diagnosis", "procedure"):
            raise CorpusError(Errors.E404, path=str(task), detail="--task must be diagnosis or procedure")
        if cm_match not in ("release", "exact"):
            raise CorpusError(Errors.E404, path=str(cm_match), detail="--cm-match must be release or exact")
        from cac.cli.coder_choice import choose_coder
        from evaluation.run import evaluate_corpus

        coder = choose_coder(model, knowledge_only=knowledge_only, allow_release_mismatch=allow_release_mismatch,
                             guideline_edits=guideline_edits)
        report = evaluate_corpus(coder, corpus=corpus, root=root, split=split, path=path, task=task,
                                 setting=setting, cm_match=cm_match, n_boot=n_boot, html_path=html_out)
        title = f"{corpus} {split or path or ''} {task}"
    else:
        typer.echo("give --corpus ... or --predictions FILE --gold FILE (see cac evaluate --help)", err=True)
        raise typer.Exit(2)
    _print_headline(report, title)
    if json_out:
        _write_json(report, json_out)


@evaluate_app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="Report JSON A (from cac evaluate --json)")],
    b: Annotated[str, typer.Argument(help="Report JSON B")],
) -> None:
    """Side-by-side headline metrics of two reports (with intervals and deltas)."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from evaluation.report import compare_reports

    from evaluation.run import paired_comparison

    ra, rb = (orjson.loads(open(p, "rb").read()) for p in (a, b))
    df = compare_reports(ra, rb, names=("A", "B"))
    tests = paired_comparison(ra, rb)
    if tests:
        df["paired_p"] = [tests[m]["p_value"] if m in tests else None for m in df.index]
        df["delta_ci"] = [tests[m]["delta_ci"] if m in tests else None for m in df.index]
    table = Table(title=f"A = {a}   B = {b}")
    table.add_column("metric")
    for col in df.columns:
        table.add_column(str(col))
    for idx, row in df.iterrows():
        table.add_row(str(idx), *[_fmt(v) for v in row])
    Console().print(table)
    if not tests:
        Console().print("no paired test: the reports do not carry per-document results on the same gold documents")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:.4f}" for x in v) + "]"
    return str(v)
