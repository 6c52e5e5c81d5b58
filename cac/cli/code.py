"""``cac code``: code one note."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cac.cli import app


@app.command("code")
def code_command(
    path: Annotated[str, typer.Argument(help="Note file (plain UTF-8 text or FHIR R4 JSON), or - for stdin")],
    setting: Annotated[str, typer.Option(help="inpatient | outpatient (uncertain diagnoses follow the setting's guideline)")] = "outpatient",
    date_of_service: Annotated[Optional[str], typer.Option("--date-of-service", help="YYYY-MM-DD; selects the code-set release")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json | fhir | text")] = "json",
    top_k: Annotated[int, typer.Option("--top-k", help="How many candidates below the threshold to list")] = 20,
) -> None:
    """Suggest codes for one clinical note, with confidence and evidence."""
    from cac.service import code_path

    typer.echo(code_path(path, setting=setting, date_of_service=date_of_service, fmt=fmt, top_k=top_k))
