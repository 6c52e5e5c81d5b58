"""Corpora: one ``Document`` model, readers, writers and exporters.

``open_corpus(name, ...)`` opens ``codiesp``, ``jsonl``, ``brat`` or ``fhir``
corpora the same way everywhere; see :mod:`corpora.registry`.
"""

from .brat import read_brat, read_brat_document
from .codiesp import codiesp_validity, read_codiesp
from .document import CM, PCS, Document, GoldCode, canonical_system, gold_sets, infer_system, normalize_any
from .export import label_studio_config, to_label_studio, to_prodigy, write_label_studio, write_prodigy_jsonl
from .fhir import read_fhir_ndjson
from .jsonl import read_jsonl, write_jsonl
from .projection import ProjectedSpan, align_sentences, project_spans, split_sentences_en, split_sentences_es
from .registry import CORPORA, open_corpus

__all__ = [
    "CM",
    "PCS",
    "CORPORA",
    "Document",
    "GoldCode",
    "ProjectedSpan",
    "align_sentences",
    "canonical_system",
    "codiesp_validity",
    "gold_sets",
    "infer_system",
    "label_studio_config",
    "normalize_any",
    "open_corpus",
    "project_spans",
    "read_brat",
    "read_brat_document",
    "read_codiesp",
    "read_fhir_ndjson",
    "read_jsonl",
    "split_sentences_en",
    "split_sentences_es",
    "to_label_studio",
    "to_prodigy",
    "write_jsonl",
    "write_label_studio",
    "write_prodigy_jsonl",
]
