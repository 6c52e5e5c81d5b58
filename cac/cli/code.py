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
    model: Annotated[Optional[str], typer.Option(help="Model pack (path, name or id); default: the installed default pack")] = None,
    knowledge_only: Annotated[bool, typer.Option("--knowledge-only", help="Ignore model packs: the knowledge-driven pipeline alone")] = False,
    allow_release_mismatch: Annotated[bool, typer.Option(help="Use a pack built for other code-set releases")] = False,
) -> None:
    """Suggest codes for one clinical note, with confidence and evidence."""
    from cac.cli.coder_choice import choose_coder
    from cac.errors import Errors, InputError
    from cac.io.outputs import FORMATS
    from cac.service import code_note, read_note, render

    if fmt not in FORMATS:
        raise InputError(Errors.E013, value=fmt, allowed=", ".join(FORMATS))
    note = read_note(path)  # bad input is reported before any model loads
    coder = choose_coder(model, knowledge_only=knowledge_only, allow_release_mismatch=allow_release_mismatch)
    result = code_note(note, setting=setting, date_of_service=date_of_service, top_k=top_k, coder=coder)
    typer.echo(render(result, fmt))
