"""What ``cac train`` does, as importable functions: read the corpora, train, summarise."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cac.errors import CorpusError, Errors
from corpora.document import Document
from corpora.registry import open_corpus
from training.train import CODIESP_ATTRIBUTION, Stage, TrainConfig, train_pack


def parse_extra(spec: str) -> tuple[str, str]:
    """``"jsonl:FILE"`` -> ``("jsonl", "FILE")`` (E404 for anything else)."""
    fmt, sep, file = spec.partition(":")
    if not sep or fmt not in ("jsonl", "brat", "fhir") or not file:
        raise CorpusError(Errors.E404, path=spec, detail="--extra takes FORMAT:FILE with FORMAT jsonl, brat or fhir")
    return fmt, file


def split_dev(docs: Sequence[Document], fraction: float, seed: int) -> tuple[list[Document], list[Document]]:
    """A seeded train/dev split of one corpus (at least one document each side)."""
    if not 0.0 < fraction < 1.0:
        raise CorpusError(Errors.E404, path=str(fraction), detail="--dev-fraction must be between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(docs))
    n_dev = min(len(docs) - 1, max(1, int(round(fraction * len(docs)))))
    dev = {int(i) for i in order[:n_dev]}
    return [d for i, d in enumerate(docs) if i not in dev], [d for i, d in enumerate(docs) if i in dev]


def load_training_corpora(*, corpus: str, root: str | None, path: str | None, dev_path: str | None,
                          dev_fraction: float, extra: Sequence[str], seed: int
                          ) -> tuple[list[Document], list[Document], dict[str, Any]]:
    """``(train, dev, corpus_info)`` from the CLI's corpus options."""
    info: dict[str, Any] = {"corpora": []}
    if corpus == "codiesp":
        if path or dev_path:
            raise CorpusError(Errors.E404, path=path or dev_path, detail="CodiEsp is read from --root (train/ and dev/)")
        train = open_corpus("codiesp", root=root, split="train")
        dev = open_corpus("codiesp", root=root, split="dev")
        info["corpora"].append({"name": "codiesp", "split": "train", "documents": len(train), "license": "CC BY 4.0"})
        info["dev"] = {"name": "codiesp", "split": "dev", "documents": len(dev)}
    else:
        if not path:
            raise CorpusError(Errors.E404, path=corpus, detail=f"--corpus {corpus} needs --path")
        docs = open_corpus(corpus, path=path)
        if dev_path:
            train, dev = docs, open_corpus(corpus, path=dev_path)
            info["dev"] = {"name": corpus, "path": Path(dev_path).name, "documents": len(dev)}
        else:
            train, dev = split_dev(docs, dev_fraction, seed)
            info["dev"] = {"name": corpus, "path": Path(path).name, "held_out_fraction": dev_fraction,
                           "documents": len(dev)}
        info["corpora"].append({"name": corpus, "path": Path(path).name, "documents": len(train)})
    dev_ids = {d.id for d in dev}
    for spec in extra:
        fmt, file = parse_extra(spec)
        docs = [d for d in open_corpus(fmt, path=file) if d.id not in dev_ids]
        train = [*train, *docs]
        info["corpora"].append({"name": fmt, "path": Path(file).name, "documents": len(docs), "extra": True})
    return list(train), list(dev), info


def run_training(*, output: str, corpus: str, root: str | None, path: str | None, dev_path: str | None,
                 dev_fraction: float, extra: Sequence[str], seed: int, retrieval: bool, fine_tune: bool,
                 name: str, k_linear: int = 300, k_retrieval: int = 20, k_neighbors: int = 60, parent: str | None, n_boot: int, progress: bool, console: Any = None) -> Any:
    """Read the corpora, train, write the pack; returns the :class:`models.pack.ModelPack`."""
    from models.pack import load_pack, resolve_pack

    train, dev, info = load_training_corpora(corpus=corpus, root=root, path=path, dev_path=dev_path,
                                             dev_fraction=dev_fraction, extra=extra, seed=seed)
    parent_id = load_pack(resolve_pack(parent)).pack_id if parent else None
    config = TrainConfig(seed=seed, retrieval=retrieval, retrieval_fine_tune=fine_tune, n_boot=n_boot,
                         k_linear=k_linear, k_retrieval=k_retrieval, k_neighbors=k_neighbors)

    def report(stage: str, detail: str) -> None:
        if console is not None:
            console.print(f"[bold]{stage}[/bold]: {detail}")

    is_codiesp = corpus == "codiesp"
    return train_pack(train, dev, output, config=config, corpus_info=info, parent_pack_id=parent_id, name=name,
                      license="CC BY 4.0 (training data)" if is_codiesp else "",
                      attribution=CODIESP_ATTRIBUTION if is_codiesp else "", progress=progress,
                      stage=Stage(report))


def print_summary(pack: Any, console: Any) -> None:
    """Dev metrics and the ablation table of a freshly trained pack."""
    from rich.table import Table

    m = pack.metrics
    console.print(f"pack {pack.pack_id[:16]} written to {pack.path} "
                  f"({m.get('timings', {}).get('total_s', '?')} s)")
    table = Table(title="dev: each source alone and combined (95% CI)")
    for col in ("task", "source", "MAP", "micro-F1", "ECE"):
        table.add_column(col)
    for task, rows in (m.get("ablation") or {}).items():
        for source, r in rows.items():
            table.add_row(task, source, _ci(r, "map"), _ci(r, "micro_f1"), _fmt(r.get("ece")))
    console.print(table)
    for task, r in (m.get("dev") or {}).items():
        console.print(f"{task}: threshold {r.get('threshold', float('nan')):.3f}, ECE {r.get('ece', float('nan')):.3f} "
                      f"(cross-fitted {r.get('ece_crossfit', float('nan')):.3f}), "
                      f"candidate recall {m.get('candidate_recall', {}).get(task, float('nan')):.3f}")


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "-"


def _ci(r: dict, key: str) -> str:
    ci = r.get(f"{key}_ci")
    return f"{_fmt(r.get(key))} [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else _fmt(r.get(key))
