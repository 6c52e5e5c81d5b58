"""brat standoff reader (``.txt`` + ``.ann`` pairs).

Gold codes come from normalisation lines attached to text-bound annotations::

    T1	Diagnosis 10 25	type 2 diabetes
    T2	Diagnosis 40 48;52 60	...
    N1	Reference T1 ICD10CM:E11.9	diabetes
    N2	Reference T2 ICD-10-PCS:0DTJ4ZZ	appendectomy

The database prefix picks the system (``ICD10CM``/``ICD-10-CM``/``ICD10`` ->
ICD-10-CM; ``ICD10PCS``/``ICD-10-PCS`` -> ICD-10-PCS); the code gets the spans of
its text-bound annotation.  Normalisations to other databases (UMLS...) are kept
in ``metadata["other_normalizations"]``; ``A``/``M`` attributes on an entity are
copied onto its gold code's metadata.  Relations, events and ``#`` notes are
allowed and ignored.  Anything unreadable raises ``CorpusError`` E402 with the
``.ann`` line number.
"""

from __future__ import annotations

import re
from pathlib import Path

from cac.errors import CorpusError, Errors

from .document import Document, GoldCode, canonical_system, normalize

_SPANS = re.compile(r"^\d+ \d+(?:;\d+ \d+)*$")


def _read_text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def read_brat_document(txt_path: str | Path, ann_path: str | Path | None = None, lang: str = "en") -> Document:
    """Read one ``.txt``/``.ann`` pair as a :class:`Document` (id = file stem)."""
    txt_path = Path(txt_path)
    ann_path = Path(ann_path) if ann_path else txt_path.with_suffix(".ann")
    if not txt_path.is_file():
        raise CorpusError(Errors.E009, path=txt_path)
    text = _read_text(txt_path)
    entities: dict[str, tuple[str, list[tuple[int, int]], str, int]] = {}
    norms: list[tuple[int, str, str, str]] = []  # (line, target, db, id)
    attrs: list[tuple[int, str, str, str | None]] = []
    lines = _read_text(ann_path).splitlines() if ann_path.is_file() else []

    def bad(lineno: int, detail: str) -> CorpusError:
        return CorpusError(Errors.E402, path=ann_path, line=lineno, detail=detail)

    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        ident = line.split("\t", 1)[0]
        kind = ident[:1]
        if kind == "T":
            parts = line.split("\t")
            if len(parts) < 2:
                raise bad(lineno, "text-bound annotation needs 'ID<TAB>Type start end[;start end]<TAB>text'")
            head = parts[1].split(" ", 1)
            if len(head) != 2 or not _SPANS.match(head[1].strip()):
                raise bad(lineno, "text-bound annotation offsets are not 'start end[;start end]'")
            spans = [tuple(int(x) for x in seg.split()) for seg in head[1].strip().split(";")]
            for s, e in spans:
                if e < s or e > len(text):
                    raise bad(lineno, f"span {s} {e} is outside the text ({len(text)} characters)")
            entities[ident] = (head[0], spans, parts[2] if len(parts) > 2 else "", lineno)  # type: ignore[assignment]
        elif kind == "N":
            parts = line.split("\t")
            fields = parts[1].split() if len(parts) > 1 else []
            if len(fields) != 3 or ":" not in fields[2]:
                raise bad(lineno, "normalization needs 'ID<TAB>Reference T# DB:ID'")
            db, _, ref = fields[2].partition(":")
            if not ref:
                raise bad(lineno, "normalization has an empty ID")
            norms.append((lineno, fields[1], db, ref))
        elif kind in ("A", "M"):
            parts = line.split("\t")
            fields = parts[1].split() if len(parts) > 1 else []
            if len(fields) not in (2, 3):
                raise bad(lineno, "attribute needs 'ID<TAB>Name T# [value]'")
            attrs.append((lineno, fields[1], fields[0], fields[2] if len(fields) == 3 else None))
        elif kind in ("R", "E", "*", "#"):
            continue
        else:
            raise bad(lineno, f"unknown annotation kind {kind!r}")

    gold: dict[tuple[str, str], GoldCode] = {}
    entity_codes: dict[str, list[GoldCode]] = {}
    others: list[dict] = []
    for lineno, target, db, ref in norms:
        if target not in entities:
            raise CorpusError(Errors.E402, path=ann_path, line=lineno, detail=f"normalization refers to unknown annotation {target}")
        label, spans, etext, _ = entities[target]
        system = canonical_system(db)
        if system is None:
            others.append({"db": db, "id": ref, "target": target, "spans": [list(s) for s in spans]})
            continue
        code = normalize(ref, system)
        key = (system, code)
        if key not in gold:
            gold[key] = GoldCode(code=code, system=system, text=etext or None, metadata={"labels": [label]})
        g = gold[key]
        g.spans = sorted(set(g.spans) | {(s, e) for s, e in spans})
        if label not in g.metadata["labels"]:
            g.metadata["labels"].append(label)
        entity_codes.setdefault(target, []).append(g)
    for lineno, target, name, value in attrs:
        if target not in entities:
            raise CorpusError(Errors.E402, path=ann_path, line=lineno, detail=f"attribute refers to unknown annotation {target}")
        for g in entity_codes.get(target, []):
            g.metadata.setdefault("attributes", {})[name] = value if value is not None else True
    meta: dict = {"corpus": "brat", "path": str(txt_path)}
    if others:
        meta["other_normalizations"] = others
    return Document(id=txt_path.stem, text=text, lang=lang, metadata=meta, gold=list(gold.values()))


def read_brat(path: str | Path, lang: str = "en") -> list[Document]:
    """Read a brat folder (every ``.txt`` with its ``.ann``) or one ``.txt``/``.ann`` file."""
    path = Path(path)
    if path.is_dir():
        txts = sorted(path.rglob("*.txt"))
        anns = {p.with_suffix(".txt") for p in path.rglob("*.ann")}
        orphan = sorted(anns - set(txts))
        if orphan:
            raise CorpusError(Errors.E402, path=orphan[0].with_suffix(".ann"), line=0, detail="annotation file has no .txt")
        docs = []
        for t in txts:
            doc = read_brat_document(t, lang=lang)
            doc.id = t.relative_to(path).with_suffix("").as_posix()  # unique even in sub-folders
            docs.append(doc)
        return docs
    if path.suffix == ".ann":
        return [read_brat_document(path.with_suffix(".txt"), path, lang=lang)]
    if path.is_file():
        return [read_brat_document(path, lang=lang)]
    raise CorpusError(Errors.E009, path=path)
