"""Lexicon terms from the CDC ICD-10-CM index files in the data directory.

- main Alphabetic Index: each entry with a code gives its path as a term
  ("Diabetes, diabetic" / "with" / "chronic kidney disease" -> E11.22);
- Neoplasm Table: each site row gives one term per behaviour column
  ("malignant neoplasm <site>", "secondary malignant neoplasm <site>",
  "carcinoma in situ <site>", "benign neoplasm <site>", "neoplasm of uncertain
  behavior <site>", "neoplasm <site>");
- Table of Drugs and Chemicals: "poisoning by <substance>" (accidental) and
  "adverse effect of <substance>".
The External Cause Index is not used for text matching (chapter 20 codes come
from registration data).  Codes printed with a trailing dash name a category
that the specificity step completes.
"""

from __future__ import annotations

from itertools import islice, product
from pathlib import Path
from typing import Iterator

from cac.codesets.icd10cm_index import find_index_files, iter_index

NEOPLASM_COLUMNS = {
    "Malignant Primary": "malignant neoplasm {site}",
    "Malignant Secondary": "secondary malignant neoplasm {site}",
    "Ca in situ": "carcinoma in situ {site}",
    "Benign": "benign neoplasm {site}",
    "Uncertain Behavior": "neoplasm of uncertain behavior {site}",
    "Unspecified Behavior": "neoplasm {site}",
}
DRUG_COLUMNS = {
    "Poisoning Accidental (unintentional)": "poisoning by {site}",
    "Adverse effect": "adverse effect of {site}",
}


def index_files(data_dir: Path | None) -> dict[str, Path]:
    """The index files the lexicon uses (empty without a data directory)."""
    if data_dir is None or not Path(data_dir).is_dir():
        return {}
    return {k: v for k, v in find_index_files(Path(data_dir)).items() if k in ("index", "neoplasm", "drug")}


def index_terms(files: dict[str, Path]) -> Iterator[tuple[str, str, str]]:
    """``(term text, code, source)`` from the index files."""
    if "index" in files:
        for e in iter_index(files["index"], "index"):
            if e.code:
                for text in _alternatives(e.path):
                    yield text, e.code, "index"
    for table, columns, source in (("neoplasm", NEOPLASM_COLUMNS, "neoplasm"), ("drug", DRUG_COLUMNS, "drug")):
        if table not in files:
            continue
        for e in iter_index(files[table], table):
            parts = e.path[1:] if table == "neoplasm" else e.path
            if not parts:
                continue
            for site in _alternatives(parts):
                for column, template in columns.items():
                    cell = e.cell_code(column)
                    if cell is not None and _names_a_site(template, site):
                        yield template.format(site=site), cell[0], source


def _names_a_site(template: str, site: str) -> bool:
    """False when the site adds no word to its column's phrase: in "Meckel's diverticulum, malignant" the
    comma does not separate alternatives, and "secondary malignant neoplasm malignant" would match every
    "metastatic"; weak words ("site") do not count, since a match need not have them."""
    from cac.lexicon.normalize import normalize, rules

    return not set(normalize(site)) - rules().weak <= set(normalize(template.format(site="")))


def _alternatives(path: tuple[str, ...], limit: int = 4) -> list[str]:
    """Index titles list alternative wordings with commas ("abdomen, abdominal"):
    one phrase per combination of alternatives (at most ``limit``)."""
    options = [[a.strip() for a in part.split(",") if a.strip()] or [part] for part in path]
    return [" ".join(combo) for combo in islice(product(*options), limit)]
