"""The note scanners that read every character of every note: compiled when they can be, Python otherwise.

Two passes over the whole note are plain character scans that ``re`` runs one match object at a time:
the lexicon's word tokens (:func:`word_tokens`) and the procedure coder's words (:func:`alnum_runs`,
in the singular on request); a third maps every word token to its canonical forms
(:func:`canonical_tokens`), and a fourth notes the sentences each canonical token occurs in
(:func:`sentence_bits`).  ``cac._scan`` (C, built at install when a compiler is there; ``setup.py``) does each several times faster and gives
exactly what the Python twin below gives (tests compare them on generated text).  It also holds two
array counts whose twins stay where they are used: the term screen (:data:`screen`, twin in
``TermMatcher._screen``), the term matches of a sentence (:data:`resolve`, twin ``TermMatcher._resolve``),
the concept matcher's sentence tokens (:data:`concept_tokens`, twin in
``cac.pipeline.concepts``), the procedure phrase trie walk (:data:`phrase_find`, twin
``_PhraseIndex._find_py``) and the HCPCS/CPT descriptor count (:data:`descriptor_counts`, twin in
``DescriptorMatcher._scored``) with the words' ids it counts (:func:`word_ids`); the call of the
tokenizer's expression shortcut (:data:`PlainShortcut`, twin ``tokenizer_shortcuts._ShortcutCall``); and
the tokens' spaCy hashes and phrase matches (:data:`token_hashes`, :data:`hash_phrase_find`, whose twins are
spaCy's ``Doc.to_array`` and ``PhraseMatcher``).
Without it, or with ``CAC_PURE_PYTHON=1`` in the environment, the twins run.  :data:`COMPILED` says which.

:func:`finditer_from` (Python only) runs a case-insensitive expression only where the words its matches
begin with occur, where ``re`` would try it at every character of the note.
"""

from __future__ import annotations

import os
import re
from itertools import repeat
from collections.abc import Callable, Iterable, Sequence, Set

#: The lexicon's word tokens: ASCII letters, or a number with its decimals and one sub-stage letter
#: ("stage 3a", "grade 2b": "3a" is one token, "5mg" is two).
WORD_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+(?:\.[0-9]+)?(?:[A-Da-d](?![A-Za-z]))?")
_ALNUM_RUN = re.compile(r"[a-z0-9]+")


def word_tokens_py(text: str) -> list[tuple[str, int, int]]:
    """Lower-case :data:`WORD_TOKEN` tokens of ``text`` with their character offsets."""
    return [(m.group().lower(), m.start(), m.end()) for m in WORD_TOKEN.finditer(text)]


def singular_py(word: str) -> str:
    """The procedure coder's singular of a lower-case word (``arteries`` -> ``artery``, ``stents`` ->
    ``stent``; ``-ss``, ``-us`` and ``-is`` words stay)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def alnum_runs_py(text: str, skip: Set[str], fold: bool = False) -> tuple[list[int], list[int], list[str]]:
    """``(starts, ends, words)`` of the maximal runs of ``[a-z0-9]`` in ``text`` (lower case already),
    leaving out the runs that are in ``skip``; with ``fold``, each word is its :func:`singular_py`."""
    found = [m for m in _ALNUM_RUN.finditer(text) if m.group() not in skip]
    words = [m.group() for m in found]
    return [m.start() for m in found], [m.end() for m in found], list(map(singular_py, words)) if fold else words


def canonical_tokens_py(toks: list[tuple[str, int, int]], canon: Callable[[str], tuple[str, ...]],
                        context: Set[str]) -> list[tuple[str, int, int]] | None:
    """``[(c, s, e) for w, s, e in toks for c in canon(w)]``, or None when a word of ``toks`` is in
    ``context`` (its canonical form then depends on the words around it)."""
    if not context.isdisjoint([t[0] for t in toks]):
        return None
    return [(c, s, e) for w, s, e in toks for c in canon(w)]


def sentence_bits_py(sentences: Sequence[Sequence[str]]) -> dict[str, int]:
    """Each token of ``sentences`` with the sentences holding it, as the bits of an int (bit i: sentence i)."""
    bits: dict[str, int] = {}
    get = bits.get
    for i, toks in enumerate(sentences):
        bit = 1 << i
        for tok in set(toks):
            bits[tok] = get(tok, 0) | bit
    return bits


#: Characters that break reading a case-insensitive match's start off ``text.lower()``: Python's ``re``
#: equates "ı" with "i" and "ſ" with "s" (``str.lower`` does not), and ``str.lower`` makes "İ" two characters.
_CASE_TRAPS = ("\u0131", "\u017f", "\u0130")


def finditer_from(pattern: re.Pattern[str], text: str, starts: Sequence[str],
                  lower: str | None = None) -> list[re.Match[str]]:
    """``list(pattern.finditer(text))`` for an expression (case-insensitive or not) whose every match
    begins with one of the lower-case words ``starts``: it is tried only where one of them occurs in
    ``lower`` (``text.lower()``), where ``re`` would try a case-insensitive expression at every character.
    ``pattern.match(text, k)`` reads the text before ``k`` as ``finditer`` does (``\\b``, lookbehinds)."""
    if not starts or not all(starts):
        raise ValueError("finditer_from() needs non-empty start words")
    if any(c in text for c in _CASE_TRAPS):
        return list(pattern.finditer(text))
    lower = text.lower() if lower is None else lower
    return matches_at(pattern, text, positions(lower, set(starts)))


def positions(text: str, needles: Iterable[str]) -> list[int]:
    """Where each of the (non-empty) ``needles`` occurs in ``text``, needle after needle."""
    places: list[int] = []
    for needle in needles:
        k = text.find(needle)
        while k >= 0:
            places.append(k)
            k = text.find(needle, k + 1)
    return places


def matches_at(pattern: re.Pattern[str], text: str, places: Iterable[int]) -> list[re.Match[str]]:
    """``list(pattern.finditer(text))`` for an expression that never matches empty and whose every match
    begins at one of ``places`` (any order, repeats allowed): tried there only, in order, skipping the
    places inside an earlier match (finditer's matches do not overlap)."""
    out: list[re.Match[str]] = []
    done = 0  # where the last match ended
    for k in sorted(set(places)):
        if k >= done and (m := pattern.match(text, k)) is not None:
            out.append(m)
            done = m.end()
    return out


def word_ids_py(words: Sequence[str], index: dict[str, int], missing: int) -> bytes:
    """The native int64 bytes of ``[index.get(w, missing) for w in words]`` (each word's id in ``index``)."""
    import numpy as np

    return np.fromiter(map(index.get, words, repeat(missing)), dtype=np.int64, count=len(words)).tobytes()


def found_in_py(text: str, needles: tuple[str, ...]) -> set[str]:
    """The needles that occur in ``text`` (each as a substring)."""
    if not isinstance(needles, tuple) or not all(isinstance(k, str) for k in needles):
        raise TypeError("found_in() needs a tuple of str needles")
    return {k for k in needles if k in text}


word_tokens = word_tokens_py
word_ids = word_ids_py
found_in = found_in_py
alnum_runs = alnum_runs_py
canonical_tokens = canonical_tokens_py
sentence_bits = sentence_bits_py
#: The term screen's array test in C (its twin is the numpy code of ``TermMatcher._screen``); None when
#: not compiled.
screen: Callable[..., list[tuple[int, int]]] | None = None
#: The concept matcher's canonical tokens of every sentence in C (its twin is
#: ``cac.pipeline.concepts._concept_tokens_py``); None when not compiled.
concept_tokens: Callable[..., tuple[list[list[str]], bytes, bytes, list[int]]] | None = None
#: One sentence's term matches in C (its twin is ``TermMatcher._resolve``); None when not compiled.
resolve: Callable[..., list[tuple[tuple[int, ...], list[int], int, tuple[int, int] | None]]] | None = None
#: The procedure coder's phrase trie walk in C (its twin is ``_PhraseIndex._find_py``); None when not compiled.
phrase_find: Callable[..., list] | None = None
#: The HCPCS/CPT descriptor count in C (its twin is the numpy code of ``DescriptorMatcher._scored``).
descriptor_counts: Callable[..., dict[int, list[tuple[int, float, int]]]] | None = None
#: Each token's spaCy ORTH or LOWER hash from the text and the token offsets, in C (its twin is
#: ``doc.to_array``: see ``cac.pipeline.extensions.token_hash_array``); None when not compiled.
token_hashes: Callable[..., bytes] | None = None
#: A token-hash phrase trie's matches in C (its twin is spaCy's ``PhraseMatcher``: see
#: ``cac.pipeline.phrase_matcher``); None when not compiled.
hash_phrase_find: Callable[..., list[tuple[int, int, int]]] | None = None
#: The tokenizer expression shortcut's call in C (its twin is
#: ``cac.pipeline.tokenizer_shortcuts._ShortcutCall``); None when not compiled.
PlainShortcut: type | None = None
COMPILED = False
if os.environ.get("CAC_PURE_PYTHON", "") in ("", "0"):
    try:
        from cac._scan import (  # type: ignore[no-redef]  # noqa: F401, F811
            PlainShortcut, alnum_runs, canonical_tokens, concept_tokens, descriptor_counts, found_in, hash_phrase_find,
            phrase_find, resolve, screen, sentence_bits, token_hashes, word_ids, word_tokens)
    except ImportError:  # built without a C compiler: the twins above run
        pass
    else:
        COMPILED = True
