"""``cac train``: train every learned model and write a model pack (thin wrapper over :mod:`training`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cac.cli import app


@app.command("train")
def train_command(
    output: Annotated[str, typer.Option(help="Directory of the new pack (must not exist or be empty)")],
    corpus: Annotated[str, typer.Option(help="codiesp | jsonl | brat | fhir")] = "codiesp",
    root: Annotated[Optional[str], typer.Option(help="CodiEsp: the folder with train/ and dev/ (default: $CAC_DATA_DIR/codiesp)")] = None,
    path: Annotated[Optional[str], typer.Option(help="jsonl | brat | fhir: the corpus file or folder (split by --dev-fraction)")] = None,
    dev_path: Annotated[Optional[str], typer.Option("--dev-path", help="jsonl | brat | fhir: a separate dev corpus")] = None,
    dev_fraction: Annotated[float, typer.Option(help="Share of a single corpus held out as dev (seeded)")] = 0.2,
    extra: Annotated[Optional[list[str]], typer.Option(help="More training documents, FORMAT:FILE (jsonl:reviewed.jsonl); repeatable")] = None,
    seed: Annotated[int, typer.Option(help="Seed for every random choice (reproducible packs)")] = 0,
    retrieval: Annotated[bool, typer.Option("--retrieval/--no-retrieval", help="Also train the dense retriever (needs the retrieval extra)")] = False,
    fine_tune: Annotated[bool, typer.Option("--fine-tune/--no-fine-tune", help="Fine-tune the retriever's encoder")] = True,
    k_linear: Annotated[int, typer.Option(help="Candidates the linear model adds per document")] = 300,
    k_retrieval: Annotated[int, typer.Option(help="Candidates the retriever adds per document")] = 20,
    k_neighbors: Annotated[int, typer.Option(help="Candidates the nearest training documents add per document (0: no neighbour index)")] = 60,
    name: Annotated[str, typer.Option(help="Pack name (shown by cac models list)")] = "cac-hybrid",
    parent: Annotated[Optional[str], typer.Option(help="Parent pack (path or id) this one retrains")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the dev confidence intervals")] = 1000,
    quiet: Annotated[bool, typer.Option(help="No progress output")] = False,
) -> None:
    """Train on a corpus (+ extra corpora), calibrate and threshold on dev, evaluate, write a pack."""
    from rich.console import Console

    from training.cli_support import print_summary, run_training

    console = Console(stderr=True)
    pack = run_training(output=output, corpus=corpus, root=root, path=path, dev_path=dev_path,
                        dev_fraction=dev_fraction, extra=extra or [], seed=seed, retrieval=retrieval,
                        fine_tune=fine_tune, k_linear=k_linear, k_retrieval=k_retrieval, k_neighbors=k_neighbors, name=name, parent=parent, n_boot=n_boot,
                        progress=not quiet, console=None if quiet else console)
    print_summary(pack, Console())
