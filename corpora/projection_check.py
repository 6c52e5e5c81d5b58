"""Print projected CodiEsp-X evidence for a person to check by eye.

    python -m corpora.projection_check --root /work/shared/data/codiesp --split train --n 20

For a seeded random sample of evidence references, prints the code, the Spanish
evidence text, the Spanish sentence it sits in and the English sentence(s) it was
projected onto (see :mod:`corpora.projection`).  ``--json FILE`` also writes the
sample as a JSON list ready for hand judgement (``"correct": null`` to fill in).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from cac.errors import CacError

from .codiesp import read_codiesp
from .projection import align_sentences, project_with


def sample_projections(root: str | Path, split: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """A seeded sample of ``n`` evidence references with their projection."""
    docs_es = {d.id: d for d in read_codiesp(root, split, lang="es")}
    docs_en = {d.id: d for d in read_codiesp(root, split, lang="en", project_evidence=False)}
    refs: list[tuple[str, str, str, dict]] = []
    for doc_id in sorted(docs_es):
        for g in docs_es[doc_id].gold:
            for ref in g.metadata.get("references", []):
                refs.append((doc_id, g.code, g.system, ref))
    rng = random.Random(seed)
    chosen = rng.sample(refs, min(n, len(refs)))
    out = []
    for doc_id, code, system, ref in chosen:
        es, en = docs_es[doc_id].text, docs_en[doc_id].text
        alignment = align_sentences(es, en)
        spans = [tuple(s) for s in ref["spans"] if s[1] > s[0]] or [tuple(ref["spans"][0])]
        proj = project_with(alignment, spans)
        es_sents = sorted({k for p in proj for k in p.es_sentences})
        en_sents = sorted({k for p in proj for k in p.sentences})
        out.append(
            {
                "doc_id": doc_id,
                "code": code,
                "system": system,
                "es_text": ref["text"],
                "es_spans": [list(s) for s in spans],
                "es_sentence": " ".join(es[s:e] for s, e in (alignment.es_sentences[k] for k in es_sents)),
                "en_sentences": en_sents,
                "projected_en": " ".join(en[s:e] for s, e in (alignment.en_sentences[k] for k in en_sents)),
                "aligned": all(p.aligned for p in proj),
                "correct": None,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corpora.projection_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="CodiEsp folder (holding train/ and dev/)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", dest="json_path", default=None, help="also write the sample as JSON here")
    args = parser.parse_args(argv)
    try:
        sample = sample_projections(args.root, args.split, args.n, args.seed)
    except CacError as err:
        print(f"error {err}", file=sys.stderr)
        return 1
    for i, rec in enumerate(sample, start=1):
        print(f"[{i}] {rec['doc_id']}  {rec['system']} {rec['code']}{'' if rec['aligned'] else '  (unaligned: fallback)'}")
        print(f"    ES evidence : {rec['es_text']}")
        print(f"    ES sentence : {rec['es_sentence']}")
        print(f"    EN projected: {rec['projected_en']}")
        print()
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(sample, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
