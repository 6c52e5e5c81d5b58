"""``cac bench``: the repeatable speed benchmark."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from cac.cli import app


@app.command("bench")
def bench_command(
    n: Annotated[int, typer.Option("--notes", "-n", help="How many ~1,500-word notes to code")] = 200,
    words: Annotated[int, typer.Option(help="Words per note")] = 1500,
    json_out: Annotated[Optional[str], typer.Option("--json", help="Also write the results to this JSON file")] = None,
    cold: Annotated[bool, typer.Option(help="Also time a fresh `cac code` process")] = True,
    model: Annotated[Optional[str], typer.Option(help="Model pack (path, name or id); default: the installed default pack")] = None,
    knowledge_only: Annotated[bool, typer.Option("--knowledge-only", help="Benchmark the knowledge-driven pipeline alone")] = False,
    warmup: Annotated[int, typer.Option(help="Other notes coded first, untimed (a batch run's caches are warm)")] = 5,
) -> None:
    """Throughput (notes/s/core), latency p50/p95/p99, peak RSS, cold start, and the ratio to a
    bare spaCy tokenizer + PhraseMatcher reference on the same notes."""
    import orjson
    from rich.console import Console
    from rich.table import Table

    from cac.bench import run_bench
    from cac.cli.coder_choice import choose_coder

    cold_args = ["--knowledge-only"] if knowledge_only else (["--model", model] if model else [])
    res = run_bench(n=n, words=words, cold=cold, cold_args=cold_args,
                    make_coder=lambda: choose_coder(model, knowledge_only=knowledge_only), warmup=warmup)
    table = Table(title="cac bench (single process = one core)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in res.items():
        table.add_row(k, str(v))
    Console().print(table)
    if res["timed_notes_reusing_text"]:
        print(f"warning: {res['timed_notes_reusing_text']} timed notes hold texts of earlier notes (the source "
              "texts ran out): their words are in every cache, so they code faster than new notes would; "
              "lower --notes or --warmup", file=sys.stderr)
    if json_out:
        with open(json_out, "wb") as fh:
            fh.write(orjson.dumps(res, option=orjson.OPT_INDENT_2))
