"""``cac models``: list, inspect and compare model packs (thin wrappers over :mod:`models.pack`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cac.cli import app

models_app = typer.Typer(help="Model packs: list the installed ones, show one (verified), diff two.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    if v is None:
        return "-"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(map(_fmt, v))
    return str(v)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _row(table: Any, *cells: Any) -> None:
    """Add a row of plain text (no rich markup is read from pack metadata)."""
    from rich.text import Text

    table.add_row(*(Text(c if isinstance(c, str) else _fmt(c)) for c in cells))


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


@models_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON")] = False,
) -> None:
    """Every pack in models/packs/, the cache's models/ and $CAC_MODELS_DIR (invalid ones say why)."""
    from rich.console import Console
    from rich.table import Table

    from models.pack import list_packs, search_dirs

    rows = list_packs()
    if as_json:
        _echo_json(rows)
        return
    table = Table(title="model packs (" + ", ".join(str(d) for d in search_dirs()) + ")")
    for col in ("name", "pack id", "created", "code sets", "headline metrics", "size", "status"):
        table.add_column(col)
    table.add_column("path", overflow="fold")
    for r in rows:
        _row(table, r["name"], r["pack_id"], _fmt(r["created"]), _lines(r["code_sets"]), _lines(r["metrics"]),
                      _size(r["size"]), " ".join(r["status"].split(" ", 2)[:2]), r["path"])
    console = Console()
    console.print(table)
    for r in rows:
        if r["status"] != "ok":
            console.print(f"{r['path']}: {r['status']}", markup=False, highlight=False, soft_wrap=True)
    if not rows:
        console.print("no model packs found")


def _lines(d: dict) -> str:
    return "\n".join(f"{k} {_fmt(v)}" for k, v in d.items()) or "-"


@models_app.command("show")
def show_command(
    pack: Annotated[str, typer.Argument(help="Pack directory, name or pack-id prefix")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the verified manifest as JSON")] = False,
) -> None:
    """Verify one pack and summarise its manifest."""
    from rich.console import Console
    from rich.table import Table

    from models.pack import flatten, load_pack, resolve_pack

    mp = load_pack(resolve_pack(pack))
    if as_json:
        _echo_json(mp.manifest)
        return
    m = mp.manifest
    td = m.get("training_data") or {}
    table = Table(title=f"{mp.name} (verified)", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in (
        ("pack id", mp.pack_id), ("parent", mp.parent_pack_id), ("created", mp.created),
        ("cac version", m.get("cac_version")), ("code sets", mp.code_sets),
        ("training data", {k: v for k, v in td.items() if k != "fingerprint"}),
        ("training fingerprint", td.get("fingerprint")),
        ("components", {n: (c.get("family") if isinstance(c, dict) else c) for n, c in mp.components.items()}),
        ("files", f"{len(m['files'])} ({_size(sum(f['size'] for f in m['files'].values()))})"),
        ("license", m.get("license")), ("attribution", m.get("attribution")),
        ("path", mp.path), ("model card", mp.card_path),
    ):
        _row(table, key, _fmt(value))
    for key, value in sorted(flatten(mp.metrics).items()):
        _row(table, f"metric {key}", _fmt(value))
    Console().print(table)


def _diff_rows(d: dict) -> list[tuple[str, str, str, str, str]]:
    rows = [("pack", "pack_id", d["pack_id"][0], d["pack_id"][1], ""),
            ("pack", "parent", _fmt(d["parent"][0]), _fmt(d["parent"][1]),
             "B is a child of A" if d["b_is_child_of_a"] else "")]
    rows += [("code set", s, _fmt(v["a"]), _fmt(v["b"]), "") for s, v in d["code_sets"].items()]
    rows += [("metric", k, _fmt(v["a"]), _fmt(v["b"]), "" if v["delta"] is None else f"{v['delta']:+.4f}")
             for k, v in d["metrics"].items()]
    rows += [("training data", k, _fmt(v["a"]), _fmt(v["b"]), "") for k, v in d["training_data"].items()]
    c = d["components"]
    rows += [("component", n, "", "present", "added") for n in c["added"]]
    rows += [("component", n, "present", "", "removed") for n in c["removed"]]
    rows += [("component", f"{n}.{p}".rstrip("."), _fmt(v["a"]), _fmt(v["b"]), "changed")
             for n, params in c["changed"].items() for p, v in params.items()]
    f = d["files"]
    rows += [("file", rel, "", "present", "added") for rel in f["added"]]
    rows += [("file", rel, "present", "", "removed") for rel in f["removed"]]
    rows += [("file", rel, "", "", "changed") for rel in f["changed"]]
    return rows


@models_app.command("diff")
def diff_command(
    a: Annotated[str, typer.Argument(help="Pack A (directory, name or pack-id prefix)")],
    b: Annotated[str, typer.Argument(help="Pack B")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the differences as JSON")] = False,
) -> None:
    """What changed from pack A to pack B (both verified first; metric deltas are B - A)."""
    from rich.console import Console
    from rich.table import Table

    from models.pack import diff_packs, load_pack, resolve_pack

    d = diff_packs(load_pack(resolve_pack(a)), load_pack(resolve_pack(b)))
    if as_json:
        _echo_json(d)
        return
    table = Table(title=f"A = {d['name'][0]}   B = {d['name'][1]}")
    for col in ("section", "key", "A", "B", "change"):
        table.add_column(col)
    for row in _diff_rows(d):
        _row(table, *row)
    Console().print(table)
