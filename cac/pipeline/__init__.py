"""cac's spaCy pipeline: sections, sentences, abbreviations, (concepts), context.

Importing this package registers the extensions and the component factories
(``cac_sections_v1``, ``cac_sentences_v1``, ``cac_abbreviations_v1``,
``cac_context_v1``); import it before ``spacy.load`` of a saved cac pipeline.
"""

from __future__ import annotations

from cac.spacy_import import import_spacy

import_spacy()  # before any spaCy import: thinc must not import torch (cac.spacy_import)

from cac.pipeline.abbreviations import AbbreviationExpander
from cac.pipeline.context import ContextComponent, ContextRule, Trigger
from cac.pipeline.extensions import Section, register_extensions
from cac.pipeline.nlp import (
    DEFAULT_COMPONENTS,
    ORDER,
    PIPE_NAMES,
    build_pipeline,
    concepts_available,
    default_pipeline,
)
from cac.pipeline.sections import SectionDetector
from cac.pipeline.sentences import SentenceSplitter

__all__ = [
    "AbbreviationExpander",
    "ContextComponent",
    "ContextRule",
    "DEFAULT_COMPONENTS",
    "ORDER",
    "PIPE_NAMES",
    "Section",
    "SectionDetector",
    "SentenceSplitter",
    "Trigger",
    "build_pipeline",
    "concepts_available",
    "default_pipeline",
    "register_extensions",
]
