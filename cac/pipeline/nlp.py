"""Build cac's spaCy pipeline: ``spacy.blank("en")`` plus the clinical components.

Order and pipe names::

    cac_sections_v1       -> "cac_sections"
    cac_sentences_v1      -> "cac_sentences"
    cac_abbreviations_v1  -> "cac_abbreviations"
    cac_concepts_v1       -> "cac_concepts"   (only when asked for: it needs a matcher)
    cac_context_v1        -> "cac_context"

spaCy forbids "." in factory names, so the factories are ``cac_<name>_v1``; the
dotted spellings (``"cac.sections.v1"``) are accepted as aliases here.  To add a
component by hand, put it before the context step, which reads its mentions::

    nlp.add_pipe("cac_concepts_v1", name="cac_concepts", before="cac_context")
"""

from __future__ import annotations

import importlib
from functools import lru_cache, partial
from typing import Any, Callable, Mapping, Sequence

import spacy
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from cac.errors import CacError, Errors
from cac.pipeline import abbreviations, context, sections, sentences  # noqa: F401  (register factories)
from cac.pipeline.extensions import remember_text
from cac.pipeline.tokenizer_shortcuts import TOKENIZER_EXPRESSIONS, shortcut

SECTIONS = "cac_sections_v1"
SENTENCES = "cac_sentences_v1"
ABBREVIATIONS = "cac_abbreviations_v1"
CONCEPTS = "cac_concepts_v1"
CONTEXT = "cac_context_v1"

PIPE_NAMES: dict[str, str] = {
    SECTIONS: "cac_sections",
    SENTENCES: "cac_sentences",
    ABBREVIATIONS: "cac_abbreviations",
    CONCEPTS: "cac_concepts",
    CONTEXT: "cac_context",
}
ORDER: tuple[str, ...] = tuple(PIPE_NAMES)
DEFAULT_COMPONENTS: tuple[str, ...] = (SECTIONS, SENTENCES, ABBREVIATIONS, CONTEXT)
ALIASES: dict[str, str] = {f"cac.{f[4:-3]}.v1": f for f in ORDER}
CONCEPTS_MODULE = "cac.pipeline.concepts"
#: The lexeme attributes cac's components read (the PhraseMatchers match on LOWER); spaCy computes every
#: other one (norm, shape, stop word, like_url...) with a Python function for each new word of a note, which
#: made up about a quarter of tokenizing a 1,500-word note.  NORM is left out too (nothing in cac reads
#: it; ~0.7% of coding a note): ``token.norm_`` is then empty except where a tokenizer exception sets it.
#: A ConText rule pattern that reads an attribute not computed is refused when the rules are loaded.
LEXEME_ATTRS: tuple[str, ...] = ("LOWER",)
#: Whitespace-separated chunks the tokenizer keeps the tokens of (spaCy's default is 10,000: a batch run fills
#: that within about 40 notes, and from then on every chunk not among those is split by the affix rules
#: again, about 2 ms of a 1,500-word note).  An entry takes well under 100 bytes.
TOKENIZER_CACHE_SIZE = 500_000


def concepts_available() -> bool:
    """Whether the concept matcher (``cac.pipeline.concepts``) is installed."""
    if Language.has_factory(CONCEPTS):
        return True
    try:
        importlib.import_module(CONCEPTS_MODULE)
    except ModuleNotFoundError as err:
        if err.name == CONCEPTS_MODULE:
            return False
        raise
    return Language.has_factory(CONCEPTS)


def build_pipeline(
    components: Sequence[str] | None = None,
    *,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    lexeme_attrs: Sequence[str] | None = LEXEME_ATTRS,
) -> Language:
    """A blank English pipeline with cac's components.

    ``components``: factory names (``None``: ``DEFAULT_COMPONENTS``, i.e. all but
    the concept matcher, which the caller adds with its matcher attached).  cac's
    own run in ``ORDER`` whatever order is given; any other registered factory
    is placed in the concept slot, before ``cac_context``, in the order given.
    ``config``: per-component settings, keyed by factory or pipe name.
    ``lexeme_attrs``: the lexical attributes computed for new words (``None``: all of spaCy's; a
    component added by hand that reads, say, ``token.like_num`` needs it listed).
    """
    wanted = _resolve(components)
    settings = {ALIASES.get(k, k): dict(v) for k, v in (config or {}).items()}
    nlp = spacy.blank("en")
    if lexeme_attrs is not None:
        _keep_lexeme_attrs(nlp, lexeme_attrs)
    _configure_tokenizer(nlp)
    _remember_text(nlp)
    for factory in wanted:
        name = PIPE_NAMES.get(factory, factory)
        cfg = settings.get(factory) or settings.get(name) or {}
        nlp.add_pipe(factory, name=name, config=cfg)
    return nlp


@lru_cache(maxsize=1)
def default_pipeline() -> Language:
    """The process-wide default pipeline (built once; do not modify it)."""
    return build_pipeline()


def _keep_lexeme_attrs(nlp: Language, names: Sequence[str]) -> None:
    """Compute only the lexical attributes ``names`` for words new to the vocabulary."""
    from spacy.attrs import IDS

    unknown = [n for n in names if n.upper() not in IDS]
    if unknown:
        raise ValueError(f"unknown lexeme attributes: {unknown}")
    keep = {IDS[n.upper()] for n in names}
    nlp.vocab.lex_attr_getters = {k: _compiled_getter(g) for k, g in nlp.vocab.lex_attr_getters.items() if k in keep}


class _LookupOrLower(dict):  # type: ignore[type-arg]
    """A lookup table whose ``__getitem__`` gives a missing string lower-cased (``__missing__`` is
    ``str.lower`` itself: no Python frame is made for a word not in the table)."""

    __missing__ = staticmethod(str.lower)


def _compiled_getter(getter: Callable[[str], Any]) -> Callable[[str], Any]:
    """``getter`` as a call that runs no Python code, where it is one of spaCy's two that cac keeps and the
    answers are the same: ``lower`` (``string.lower()``) becomes ``str.lower``, and NORM's "the lookup
    table's entry, else ``lower``" (one table) a :class:`_LookupOrLower`'s ``__getitem__``.  spaCy calls
    them for each word new to the vocabulary (a 1,500-word note brings ~100)."""
    from spacy.lang.lex_attrs import lower
    from spacy.util import _get_attr_unless_lookup

    if getter is lower:
        return str.lower
    if (isinstance(getter, partial) and getter.func is _get_attr_unless_lookup and not getter.keywords
            and len(getter.args) == 2 and getter.args[0] is lower and len(getter.args[1]) == 1
            and type(getter.args[1][0]) is dict):
        return _LookupOrLower(getter.args[1][0]).__getitem__
    return getter


def _configure_tokenizer(nlp: Language) -> None:
    """Replace ``nlp``'s tokenizer, in one go (each of spaCy's tokenizer setters reloads every special
    case, ~40 ms), by one with the same rules and expressions except:

    - no ``"\n"``/``"\t"`` special cases: they do not change the tokens (whitespace runs become one
      ``SPACE`` token either way) but make spaCy re-scan the doc for special cases wherever a line ends
      in punctuation, about 30x slower tokenization on typical notes;
    - the prefix, suffix, infix and URL expressions answer at once for plain words and numbers, where
      they provably cannot match (:mod:`cac.pipeline.tokenizer_shortcuts`);
    - a cache of :data:`TOKENIZER_CACHE_SIZE` chunks.
    """
    old = nlp.tokenizer
    rules = {k: v for k, v in (old.rules or {}).items() if k not in ("\n", "\t")}
    fast = {name: shortcut(getattr(old, name), no_match) for name, no_match in TOKENIZER_EXPRESSIONS.items()}
    nlp.tokenizer = Tokenizer(nlp.vocab, rules=rules, token_match=old.token_match,
                              faster_heuristics=old.faster_heuristics,
                              max_cache_size=max(old.max_cache_size, TOKENIZER_CACHE_SIZE), **fast)


class _TextRememberingMakeDoc:
    """``Language.make_doc`` that also records the text (see ``_remember_text``)."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp

    def __call__(self, text: str) -> Doc:
        doc = Language.make_doc(self.nlp, text)
        remember_text(doc, text)
        return doc


def _remember_text(nlp: Language) -> None:
    """Let components reuse the note text instead of rebuilding ``doc.text``
    (0.5 ms per 1,500 words).  Only this instance is patched; a pipeline loaded
    with ``spacy.load`` works the same, a little slower."""
    nlp.make_doc = _TextRememberingMakeDoc(nlp)  # type: ignore[method-assign]


def _resolve(components: Sequence[str] | None) -> list[str]:
    if components is None:
        return list(DEFAULT_COMPONENTS)
    names = [ALIASES.get(c, c) for c in components]
    if CONCEPTS in names:
        concepts_available()
    for name in names:
        if not Language.has_factory(name):
            raise CacError(Errors.E204, name=name, allowed=", ".join(ORDER))
    ours = sorted((n for n in names if n in PIPE_NAMES), key=ORDER.index)
    extra = [n for n in names if n not in PIPE_NAMES]
    before_context = [n for n in ours if n != CONTEXT]
    return before_context + extra + ([CONTEXT] if CONTEXT in ours else [])
