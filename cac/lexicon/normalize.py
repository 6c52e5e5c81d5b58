"""Clinical text normalization shared by the lexicon and the matcher.

Both code-set terms and note text go through :func:`normalize`, so a term
matches a mention when their canonical token bags agree: lower case, stop words
dropped, spelling variants and adjective forms mapped to one noun (``renal`` ->
``kidney``), clinical synonyms expanded (``carcinoma`` -> ``malignant neoplasm``),
``type 2`` / ``stage IV`` joined into one token, plurals folded.  The rules are
JSON package data (``resources/normalization.json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import orjson

from cac import scan
from cac.scan import WORD_TOKEN as _TOKEN  # words and numbers; "3a" is one token, "5mg" two

_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}
_ROMAN_SUBSTAGE = re.compile(r"(i{1,3}|iv|vi?)([a-d])")
_ROMAN_INITIALS = frozenset("iv")  # the first letters _ROMAN_SUBSTAGE can match


@dataclass(frozen=True)
class NormRules:
    stopwords: frozenset[str]
    weak: frozenset[str]
    joiners: frozenset[str]
    words: dict[str, tuple[str, ...]]
    not_plurals: frozenset[str] = frozenset()
    stage_after: tuple[tuple[str, ...], ...] = ()
    spellings: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=1)
def rules() -> NormRules:
    """The normalization rules (package data, loaded once)."""
    raw = orjson.loads((resources.files("cac.lexicon") / "resources" / "normalization.json").read_bytes())
    return NormRules(
        stopwords=frozenset(raw["stopwords"]),
        weak=frozenset(raw["weak"]),
        joiners=frozenset(raw["keep_numbers_after"]),
        words={k: tuple(v) for k, v in raw["words"].items()},
        not_plurals=frozenset(raw.get("not_plurals", ())),
        stage_after=tuple(tuple(x) for x in raw.get("implied_stage_after", ())),
        spellings=tuple((a, b) for a, b in raw.get("spelling_variants", {}).items() if not a.startswith("_")),
    )


@lru_cache(maxsize=200_000)
def canon_word(word: str) -> tuple[str, ...]:
    """Canonical token(s) for one lower-case word ('' dropped)."""
    return canon_word_uncached(word)


def canon_word_uncached(word: str) -> tuple[str, ...]:
    """:func:`canon_word` without its cache, for callers that keep their own (each word's singular is
    found once, and only for a word ending in "s")."""
    r = rules()
    if word in r.stopwords:
        return ()
    words = r.words
    stem = _stem(word) if len(word) > 3 and word[-1] == "s" else word  # _stem's own first test
    mapped = words.get(word) or words.get(stem)
    if mapped is None:
        for variant, usual in r.spellings:  # British "-aemia": glycaemia -> glycemia, leukaemic -> leukemic
            if variant in word:
                word = word.replace(variant, usual)
                stem = _stem(word)
                mapped = words.get(word) or words.get(stem)
    if mapped is not None:
        return tuple(_stem(m) for m in mapped)
    return (stem,)


def _stem(w: str) -> str:
    """The singular of a plural (edemas -> edema, kidneys -> kidney, hernias -> hernia); words that only
    look plural (pancreas, metastasis, uterus, ...) stay."""
    if len(w) <= 3 or w[-1] != "s":
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ss", "us", "is", "os")) or w in rules().not_plurals:
        return w
    if w.endswith("ses") or w.endswith("xes") or w.endswith("ches"):
        return w[:-2]
    return w[:-1]


def raw_tokens(text: str) -> list[tuple[str, int, int]]:
    """Lower-case word and number tokens with their character offsets (:func:`cac.scan.word_tokens`)."""
    return scan.word_tokens(text)


def _joined(word: str, nxt: str, joiners: frozenset[str]) -> str | None:
    """``type`` + ``2`` -> ``type2`` (``stage`` + ``IV`` -> ``stage4``, ``stage`` + ``3a`` or ``IIIa`` ->
    ``stage3a``), else None."""
    if word not in joiners:
        return None
    num = _ROMAN.get(nxt, nxt if nxt[:1].isdigit() else None)
    if num is None and (m := _ROMAN_SUBSTAGE.fullmatch(nxt)) is not None:
        num = _ROMAN[m.group(1)] + m.group(2)
    return None if num is None else f"{word}{num}"


@lru_cache(maxsize=1)
def context_words() -> frozenset[str]:
    """Words whose canonical form depends on the next or previous word: the joiners ("type" 2) and the
    last word of each ``implied_stage_after`` phrase ("CKD" 3b)."""
    r = rules()
    return r.joiners | frozenset(words[-1] for words in r.stage_after if words)


def normalize_tokens(toks: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Canonical tokens (with the offsets of the words they came from)."""
    usual = scan.canonical_tokens(toks, canon_word, context_words())  # None: a word depends on its neighbour
    if usual is not None:  # the usual sentence: each word on its own
        return usual
    return normalize_in_context(toks)


def normalize_in_context(toks: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """:func:`normalize_tokens` read word by word with each word's neighbours (``type`` 2, ``CKD`` 3b): for
    token lists holding one of the :func:`context_words`."""
    r = rules()
    joiners, stage_after = r.joiners, r.stage_after
    out: list[tuple[str, int, int]] = []
    append = out.append
    i = 0
    n = len(toks)
    while i < n:  # the hot loop of every note: cheap tests first
        w, s, e = toks[i]
        if w in joiners and i + 1 < n:
            joined = _joined(w, toks[i + 1][0], joiners)
            if joined is not None:
                append((joined, s, toks[i + 1][2]))
                i += 2
                continue
        if stage_after and (w[:1].isdigit() or w in _ROMAN
                            or (w[:1] in _ROMAN_INITIALS and _ROMAN_SUBSTAGE.fullmatch(w))):
            staged = _implied_stage(toks, i, stage_after)
            if staged is not None:
                append((staged, s, e))
                i += 1
                continue
        for c in canon_word(w):
            append((c, s, e))
        i += 1
    return out


def _implied_stage(toks: list[tuple[str, int, int]], i: int, after: tuple[tuple[str, ...], ...]) -> str | None:
    """``stage3b`` for the "3b" of "CKD 3b" / "chronic kidney disease 3b" (words in ``after``), else None."""
    for words in after:
        k = len(words)
        if i >= k and tuple(t[0] for t in toks[i - k:i]) == words:
            return _joined("stage", toks[i][0], frozenset({"stage"}))
    return None


def normalize(text: str) -> list[str]:
    """Canonical token list of a term or phrase."""
    return [t for t, _, _ in normalize_tokens(raw_tokens(text))]


def word_counts(text: str) -> dict[str, int]:
    """How many times each canonical word of ``text`` occurs (a canonical word counts once per token it
    comes from; each distinct word is normalized once)."""
    r = rules()
    joiners = r.joiners
    toks = [w.lower() for w in _TOKEN.findall(text)]
    plain: dict[str, int] = {}
    out: dict[str, int] = {}
    i, n = 0, len(toks)
    while i < n:
        w = toks[i]
        joined = _joined(w, toks[i + 1], joiners) if i + 1 < n else None
        if joined is not None:
            out[joined] = out.get(joined, 0) + 1
            i += 2
            continue
        plain[w] = plain.get(w, 0) + 1
        i += 1
    for w, k in plain.items():
        for c in canon_word(w):
            out[c] = out.get(c, 0) + k
    return out


def word_set(text: str) -> frozenset[str]:
    """``frozenset(normalize(text))`` for a long text (a whole note): no offsets, and each distinct word
    is normalized once (the words of :func:`word_counts`)."""
    return frozenset(word_counts(text))


_NOT_MODIFIERS = ("without", "with ", "not ", "except", "no ", "excluding", "due to", "in ", "of ")
_PARENS = re.compile(r"\s*\([^()]*\)")
_BRACKETS = re.compile(r"\s*\[[^\[\]]*\]")


def strip_nonessential(term: str) -> str:
    """Drop nonessential modifiers in parentheses and brackets."""
    return _BRACKETS.sub("", _PARENS.sub("", term)).strip()


def term_variants(term: str) -> list[str]:
    """Surface variants of a code-set term: core (modifiers dropped), full, and
    each parenthesised modifier alternative (``hypertension (arterial) (benign)``
    gives ``hypertension``, ``arterial hypertension``, ``benign hypertension``)."""
    core = strip_nonessential(term)
    variants = [core] if core else []
    mods = re.findall(r"\(([^()]*)\)", term)
    for mod in mods[:8]:
        for alt in re.split(r",|\bor\b", mod):
            alt = alt.strip()
            if alt and len(alt) < 40 and not alt.lower().startswith(_NOT_MODIFIERS):
                variants.append(f"{alt} {core}")
    full = term.replace("(", " ").replace(")", " ")
    if mods and len(mods) == 1:
        variants.append(full)
    seen: set[str] = set()
    return [v for v in variants if not (v in seen or seen.add(v))]
