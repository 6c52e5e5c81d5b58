"""Suggestion pipeline: mentions to codes, guideline rules, procedures."""

from cac.spacy_import import import_spacy

import_spacy()  # before any spaCy import: thinc must not import torch (cac.spacy_import)
