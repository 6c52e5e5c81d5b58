"""CodiEsp (CLEF eHealth 2020) reader and a code-validity report.

Layout under ``root`` (see ``shared/data/codiesp/SOURCE.md``)::

    {split}/{split}D.tsv      doc_id <TAB> code            (diagnoses, lower case)
    {split}/{split}P.tsv      doc_id <TAB> code            (procedures, often 4-char stems)
    {split}/{split}X.tsv      doc_id <TAB> DIAGNOSTICO|PROCEDIMIENTO <TAB> code <TAB> text <TAB> "s e[;s e]"
    {split}/text_files_en/{doc_id}.txt   English MT, one sentence per line
    {split}/text_files_es/{doc_id}.txt   Spanish original (``text_files`` upstream)

Codes are CIE-10-ES 2018 (the Spanish edition of ICD-10-CM/PCS); they are
normalised to official upper-case form (``q62.11`` -> ``Q62.11``, ``bt41`` ->
``BT41``) and kept even when the loaded US release does not know them (the
:func:`codiesp_validity` report counts those).  X evidence offsets index the
**Spanish** text: every ``GoldCode`` gets ``spans_lang="es"``; English
documents additionally get the evidence projected to English sentences
(``metadata["projected_spans"]`` / ``["projected_sentences"]``, see
:mod:`corpora.projection`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from cac.errors import CorpusError, Errors

from .document import CM, PCS, Document, GoldCode, normalize
from .projection import align_sentences, project_with

_LABELS = {"DIAGNOSTICO": CM, "PROCEDIMIENTO": PCS}
RELEASE = "CIE-10-ES 2018"


def _text_dir(split_dir: Path, lang: str) -> Path:
    for name in (f"text_files_{lang}", *(["text_files"] if lang == "es" else [])):
        if (split_dir / name).is_dir():
            return split_dir / name
    raise CorpusError(Errors.E403, split=f"{split_dir.name}/text_files_{lang}", root=split_dir.parent)


def _read_tsv(path: Path, n_fields: int) -> Iterable[tuple[int, list[str]]]:
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != n_fields or not all(p.strip() for p in parts[:3]):
                raise CorpusError(
                    Errors.E402, path=path, line=lineno, detail=f"expected {n_fields} tab-separated fields, got {len(parts)}"
                )
            yield lineno, parts


def _parse_offsets(value: str, path: Path, lineno: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    try:
        for piece in value.split(";"):
            a, b = piece.split()
            s, e = int(a), int(b)
            if s < 0 or e < s:
                raise ValueError
            spans.append((s, e))
    except ValueError:
        raise CorpusError(Errors.E402, path=path, line=lineno, detail="reference-position is not 'start end[;start end]'") from None
    return spans


def read_codiesp(
    root: str | Path,
    split: str,
    lang: str = "en",
    *,
    project_evidence: bool | None = None,
) -> list[Document]:
    """Read one CodiEsp split as :class:`Document` objects (sorted by id).

    ``lang`` is ``"en"`` (machine translation, the default) or ``"es"``.
    ``project_evidence`` (default: on for English) projects the Spanish evidence
    spans onto English sentences.  Every gold code of D, P and X is kept.
    """
    if lang not in ("en", "es"):
        raise CorpusError(Errors.E010, value=lang, allowed="en, es")
    root = Path(root)
    split_dir = root / split
    if not split_dir.is_dir():
        raise CorpusError(Errors.E403, split=split, root=root)
    project = (lang == "en") if project_evidence is None else bool(project_evidence and lang == "en")

    text_dir = _text_dir(split_dir, lang)
    es_dir = _text_dir(split_dir, "es") if project else None
    texts: dict[str, Path] = {p.stem: p for p in sorted(text_dir.glob("*.txt"))}

    # gold: (doc, system, code) -> GoldCode, in file order
    gold: dict[str, dict[tuple[str, str], GoldCode]] = {}
    where: dict[str, tuple[Path, int]] = {}

    def add(doc: str, system: str, raw: str, path: Path, lineno: int, source: str) -> GoldCode:
        code = normalize(raw, system)
        if not code:
            raise CorpusError(Errors.E402, path=path, line=lineno, detail="empty code")
        per_doc = gold.setdefault(doc, {})
        where.setdefault(doc, (path, lineno))
        key = (system, code)
        if key not in per_doc:
            per_doc[key] = GoldCode(code=code, system=system, metadata={"sources": [source]})
        elif source not in per_doc[key].metadata["sources"]:
            per_doc[key].metadata["sources"].append(source)
        return per_doc[key]

    for suffix, system in (("D", CM), ("P", PCS)):
        path = split_dir / f"{split}{suffix}.tsv"
        for lineno, (doc, raw) in _read_tsv(path, 2):
            add(doc.strip(), system, raw, path, lineno, suffix)

    xpath = split_dir / f"{split}X.tsv"
    for lineno, (doc, label, raw, ref, pos) in _read_tsv(xpath, 5):
        system = _LABELS.get(label.strip().upper())
        if system is None:
            raise CorpusError(Errors.E402, path=xpath, line=lineno, detail=f"label {label!r} is not DIAGNOSTICO or PROCEDIMIENTO")
        g = add(doc.strip(), system, raw, xpath, lineno, "X")
        segs = _parse_offsets(pos, xpath, lineno)
        g.metadata.setdefault("references", []).append({"text": ref, "spans": [list(s) for s in segs]})
        if g.text is None:
            g.text = ref
        g.spans_lang = "es"
        g.spans = sorted(set(g.spans) | {s for s in segs if s[1] > s[0]})

    missing = sorted(set(gold) - set(texts))
    if missing:
        path, lineno = where[missing[0]]
        raise CorpusError(
            Errors.E402, path=path, line=lineno, detail=f"{len(missing)} document(s) with gold but no text file, e.g. {missing[0]}"
        )

    docs: list[Document] = []
    for doc_id, path in texts.items():
        text = path.read_text(encoding="utf-8")
        codes = list(gold.get(doc_id, {}).values())
        meta = {"corpus": "codiesp", "split": split, "release": RELEASE, "source_lang": "es", "path": str(path)}
        if project and es_dir is not None:
            es_path = es_dir / f"{doc_id}.txt"
            meta["es_path"] = str(es_path)
            with_spans = [g for g in codes if g.spans]
            if with_spans and es_path.is_file():
                alignment = align_sentences(es_path.read_text(encoding="utf-8"), text)
                for g in with_spans:
                    proj = project_with(alignment, g.spans)
                    sents = sorted({k for p in proj for k in p.sentences})
                    g.metadata["projected_sentences"] = sents
                    g.metadata["projected_spans"] = [list(alignment.en_sentences[k]) for k in sents]
                    g.metadata["projection_aligned"] = all(p.aligned for p in proj)
        docs.append(Document(id=doc_id, text=text, lang=lang, metadata=meta, gold=codes))
    return docs


def codiesp_validity(
    documents: Iterable[Document],
    valid_cm: Callable[[str], bool],
    valid_pcs: Callable[[str], bool],
    *,
    mark: bool = False,
    examples: int = 20,
) -> dict:
    """Count gold codes that are not valid in the loaded release (they are kept).

    Returns ``{"n_documents", "n_gold", "n_invalid", "ICD-10-CM": {...},
    "ICD-10-PCS": {...}}`` where each system entry has ``n`` (gold code
    occurrences), ``n_unique``, ``invalid`` (occurrences), ``invalid_unique``,
    ``invalid_rate`` and ``examples`` (most frequent invalid codes with counts);
    PCS also counts ``stems`` (codes shorter than the 7 characters a PCS code
    needs, as CodiEsp-P often gives).  With ``mark=True`` every gold code gets
    ``metadata["valid"]``.
    """
    checks = {CM: valid_cm, PCS: valid_pcs}
    counts = {s: Counter() for s in checks}
    bad = {s: Counter() for s in checks}
    stems = 0
    n_docs = 0
    for doc in documents:
        n_docs += 1
        for g in doc.gold:
            check = checks.get(g.system)
            if check is None:
                continue
            counts[g.system][g.code] += 1
            ok = bool(check(g.code))
            if mark:
                g.metadata["valid"] = ok
            if not ok:
                bad[g.system][g.code] += 1
            if g.system == PCS and len(g.code) < 7:
                stems += 1
    out: dict = {"n_documents": n_docs}
    for system in checks:
        n = sum(counts[system].values())
        inv = sum(bad[system].values())
        out[system] = {
            "n": n,
            "n_unique": len(counts[system]),
            "invalid": inv,
            "invalid_unique": len(bad[system]),
            "invalid_rate": (inv / n) if n else 0.0,
            "examples": [[c, k] for c, k in bad[system].most_common(examples)],
        }
    out[PCS]["stems"] = stems
    out["n_gold"] = out[CM]["n"] + out[PCS]["n"]
    out["n_invalid"] = out[CM]["invalid"] + out[PCS]["invalid"]
    return out
