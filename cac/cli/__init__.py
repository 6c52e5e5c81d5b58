"""The ``cac`` command line (typer).  Commands are thin wrappers over importable
functions; every :class:`cac.errors.CacError` is printed as one line."""

from __future__ import annotations

import logging
import os
import sys

import typer

from cac.errors import CacError

app = typer.Typer(name="cac", help="Computer-aided coding: ICD-10-CM / ICD-10-PCS / HCPCS / CPT suggestions with evidence.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _register() -> None:
    from cac.cli import code  # noqa: F401

    for optional in ("cac.cli.evaluate", "cac.cli.bench", "cac.cli.models", "cac.cli.train"):
        try:
            __import__(optional)
        except ModuleNotFoundError as exc:
            if exc.name != optional:
                raise


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    logging.basicConfig(level=os.environ.get("CAC_LOG_LEVEL", "WARNING"), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    _register()
    try:
        app(args=argv, standalone_mode=False)
    except CacError as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
        if os.environ.get("CAC_DEBUG"):
            raise
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        typer.echo(f"error E999: internal error ({type(exc).__name__}); rerun with CAC_DEBUG=1 for details", err=True)
        return 1
    return 0


def run() -> None:
    sys.exit(main())
