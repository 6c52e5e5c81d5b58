"""``cac bench``: throughput, latency percentiles, peak memory and cold start.

Notes of about 1,500 words are built from the CodiEsp background texts when the
data directory has them, else from the bundled examples.  In the same run a
reference limit is measured: a bare ``spacy.blank("en")`` tokenizer plus a
``PhraseMatcher`` over the same lexicon terms, timed just before and just after
the run (the mean is the reference), reported as a ratio, so results stay
comparable across noisy machines.
"""

from __future__ import annotations

import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from cac import scan
from cac.config import Settings, get_settings
from cac.errors import CacError, Errors
from cac.heap import coding

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"  # in a checkout (an installed wheel has none)

#: A short note for the cold start when no example file is at hand.
_COLD_NOTE = ("Chief complaint: cough and fever for three days.\nAssessment: community-acquired pneumonia; "
              "type 2 diabetes mellitus; essential hypertension.\nPlan: amoxicillin, chest x-ray.\n")


def _examples() -> list[Path]:
    """The bundled example notes: beside the package in a checkout, else ``examples/`` in the working directory."""
    for folder in (EXAMPLES, Path.cwd() / "examples"):
        found = sorted(folder.glob("*.txt")) if folder.is_dir() else []
        if found:
            return found
    return []


def build_notes(settings: Settings, n: int, words: int = 1500) -> tuple[list[str], str]:
    """``n`` notes of about ``words`` words each (whole texts joined, the last one cut at the end of the
    sentence that reaches ``words``), and where they came from."""
    texts, source = _source_texts(settings, n)
    return [note for note, _ in _compose(texts, n, words)], source


def _source_texts(settings: Settings, n: int) -> tuple[list[str], str]:
    """The texts ``n`` notes are built from (the CodiEsp background texts, else the bundled examples)."""
    texts: list[str] = []
    source = "bundled examples"
    if settings.data_dir:
        bg = Path(settings.data_dir) / "codiesp" / "background" / "text_files_en"
        if bg.is_dir():
            texts = [p.read_text(encoding="utf-8") for p in sorted(bg.glob("*.txt"))[: n * 8]]
            source = "CodiEsp background (English)"
    if not texts:
        texts = [p.read_text(encoding="utf-8") for p in _examples()]
    if not any(t.split() for t in texts):
        raise CacError(Errors.E501)
    return texts, source


def _compose(texts: list[str], n: int, words: int) -> list[tuple[str, list[int]]]:
    """``n`` notes from ``texts`` taken in turn (again from the first once all are used), each with the
    indices of the texts it holds."""
    notes: list[tuple[str, list[int]]] = []
    i = 0
    while len(notes) < n:
        parts, used, count = [], [], 0
        while count < words:
            k = i % len(texts)
            i += 1
            parts.append(texts[k])
            used.append(k)
            count += len(texts[k].split())
        notes.append((_cut_after("\n\n".join(parts), words), used))
    return notes


def _reusing(composed: list[tuple[str, list[int]]], first: int) -> int:
    """How many of the notes from index ``first`` on hold a text an earlier note of the run held too
    (its words are then in every cache: such a note codes faster than a new one)."""
    seen: set[int] = set()
    count = 0
    for k, (_, used) in enumerate(composed):
        if k >= first and not seen.isdisjoint(used):
            count += 1
        seen.update(used)
    return count


_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


def _cut_after(note: str, words: int) -> str:
    """``note`` up to the end of the sentence or line holding its ``words``-th word (whole texts would
    overshoot the requested length by half a text on average)."""
    for k, m in enumerate(_WORD.finditer(note), 1):
        if k == words:
            end = _SENTENCE_END.search(note, m.end() - 1)
            return note if end is None else note[:end.end()]
    return note


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100 * (len(s) - 1)))))
    return s[k]


#: The fresh process of the cold start: ``cac code``, which at exit writes its peak resident memory (the
#: kernel's ``VmHWM``, in kB: this program's own, from its start; ``ru_maxrss`` would count the bench
#: process it was started from) to the file ``CAC_BENCH_HWM_FILE`` names.
_COLD_PROCESS = """\
import atexit, os

def _peak(path=os.environ.get("CAC_BENCH_HWM_FILE")):
    with open("/proc/self/status", encoding="ascii") as status, open(path, "w", encoding="ascii") as out:
        out.write(next((line.split()[1] for line in status if line.startswith("VmHWM:")), ""))

if os.environ.get("CAC_BENCH_HWM_FILE") and os.path.exists("/proc/self/status"):
    atexit.register(_peak)
from cac.cli import run
run()
"""


def cold_start(settings: Settings, extra_args: Sequence[str] = ()) -> tuple[float | None, float | None]:
    """Wall time of a fresh ``cac code`` process on a small note (caches warm) and its peak resident memory
    in MB (None where the system does not tell); (None, None), with the process's error on stderr, when
    it failed (a failed start is not a fast one)."""
    import os
    import tempfile

    examples = [p for p in _examples() if p.name == "outpatient_visit.txt"]
    with tempfile.TemporaryDirectory() as tmp:
        note = examples[0] if examples else Path(tmp) / "note.txt"
        if not examples:
            note.write_text(_COLD_NOTE, encoding="utf-8")
        hwm = Path(tmp) / "hwm"
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _COLD_PROCESS, "code", str(note), *extra_args],
                              capture_output=True, check=False, env={**os.environ, "CAC_BENCH_HWM_FILE": str(hwm)})
        elapsed = time.perf_counter() - t
        kb = hwm.read_text(encoding="ascii").strip() if hwm.is_file() else ""
    if done.returncode != 0:
        last = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        print(f"cold start failed (exit {done.returncode}): {last[0]}", file=sys.stderr)
        return None, None
    return elapsed, round(int(kb) / 1024, 1) if kb.isdigit() else None


def cold_start_seconds(settings: Settings, extra_args: Sequence[str] = ()) -> float | None:
    """:func:`cold_start`'s wall time alone."""
    return cold_start(settings, extra_args)[0]


def reference_timer(lexicon_texts: list[str]) -> Callable[[list[str]], float]:
    """A function timing the reference (spacy.blank('en') tokenizer + PhraseMatcher over the lexicon terms)
    on notes, in notes/s; the matcher is built once, so the reference can be timed before and after a run."""
    import spacy
    from spacy.matcher import PhraseMatcher

    nlp = spacy.blank("en")
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    patterns = list(nlp.tokenizer.pipe(sorted(set(t.lower() for t in lexicon_texts))))
    matcher.add("TERM", patterns)

    def rate(notes: list[str]) -> float:
        for note in notes[:3]:
            matcher(nlp.make_doc(note))
        t = time.perf_counter()
        for note in notes:
            matcher(nlp.make_doc(note))
        return len(notes) / (time.perf_counter() - t)

    return rate


def run_bench(n: int = 200, words: int = 1500, settings: Settings | None = None, cold: bool = True,
              make_coder: Callable[[], Any] | None = None, cold_args: Sequence[str] = (),
              warmup: int = 5) -> dict[str, Any]:
    """Time ``make_coder()`` (default: the knowledge coder) on ``n`` synthetic notes of ``words`` words,
    after ``warmup`` other notes (untimed: they fill the per-process caches a long batch run has warm,
    such as the tokenizer's vocabulary and the n-gram ids of words already seen), coded one after the
    other in one :func:`cac.heap.coding` block as cac's batch jobs code them;
    ``cold_args`` are passed to the timed fresh ``cac code`` process (e.g. ``--model PACK``)."""
    from cac.suggest.coder import Coder

    settings = settings or get_settings()
    warmup = max(0, warmup)
    texts, source = _source_texts(settings, n + warmup)
    composed = _compose(texts, n + warmup, words)
    reusing = _reusing(composed, warmup)
    warm_notes, notes = [c[0] for c in composed[:warmup]], [c[0] for c in composed[warmup:]]
    t = time.perf_counter()
    coder = make_coder() if make_coder is not None else Coder(settings)
    load_s = time.perf_counter() - t
    for note in warm_notes:
        coder.code(note, setting="inpatient")
    reference = reference_timer([term.text for term in getattr(coder, "knowledge", coder).lexicon.terms])
    ref_before = reference(notes)  # timed before and after the run: the machine's speed drifts
    lat: list[float] = []
    t_all = time.perf_counter()
    with coding():  # as cac's batch jobs code (evaluation, training): one block for the batch (cac.heap)
        for note in notes:
            t0 = time.perf_counter()
            coder.code(note, setting="inpatient")
            lat.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - t_all
    throughput = len(notes) / total
    ref_after = reference(notes)
    cold_s, cold_rss = cold_start(settings, cold_args) if cold else (None, None)
    ref = (ref_before + ref_after) / 2
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "notes": len(notes),
        "warmup_notes": len(warm_notes),
        "words_per_note": round(statistics.mean(len(x.split()) for x in notes)),
        "source": source,
        "timed_notes_reusing_text": reusing,
        "model": coder.model_id,
        "load_s": round(load_s, 3),
        "cold_start_s": _rounded(cold_s),
        "cold_peak_rss_mb": cold_rss,
        "throughput_notes_per_s_per_core": round(throughput, 1),
        "latency_ms_p50": round(_pct(lat, 50), 2),
        "latency_ms_p95": round(_pct(lat, 95), 2),
        "latency_ms_p99": round(_pct(lat, 99), 2),
        "peak_rss_mb": round(peak_mb, 1),
        "reference_notes_per_s": round(ref, 1),
        "reference_before_after": [round(ref_before, 1), round(ref_after, 1)],
        "ratio_to_reference": round(throughput / ref, 3),
        "compiled_scanners": scan.COMPILED,
    }
