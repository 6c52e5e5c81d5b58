"""Keep the loaded code sets, lexicon and models out of the cyclic garbage collector's way.

A loaded coder is hundreds of thousands of long-lived Python objects (code-set entries, lexicon
terms, vocabularies).  Coding a note creates many short-lived ones, and every full
collection Python then runs walks all the long-lived ones again: on ~1,500-word
notes that was about a third of the hybrid coder's time per note.  :func:`settle`
runs one collection and then freezes (``gc.freeze``) everything alive, so later
collections only look at objects created after loading.  Frozen objects are still
freed by reference counting; only cycles among them are never collected.  A :class:`Settler`
settles again, ever less often, as a long run's caches grow, and :func:`coding` spaces out the
young-generation collections while a note is coded.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The young generation's collection threshold while a note is coded (Python's default: 700).  Nearly
#: everything a note allocates is freed by reference counting within the note, so collections find
#: little; on ~1,500-word notes they took ~0.45 ms a note at 700 (~3% of the knowledge coder's time),
#: ~0.09 ms at 20,000.
YOUNG_THRESHOLD = 20_000

_lock = threading.Lock()
_coding = 0  # how many coding() blocks are open (threads and nesting)
_saved: tuple[int, ...] = ()


@contextmanager
def loading() -> Iterator[None]:
    """No automatic collections while loading (each would walk everything loaded so far, and loading
    makes no garbage cycles), then :func:`settle`."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
    settle()


def settle() -> None:
    """Collect once, then exempt every object alive now from future collections."""
    gc.collect()
    gc.freeze()


class Settler:
    """Settles again as a long run's caches grow (code objects read, terms parsed, n-gram ids of new
    words): each full collection walks every object created since the last settle, and those caches
    hold hundreds of thousands of entries after a few hundred notes (a full collection then took
    20-40 ms, about 0.7 ms a note on average).  :meth:`tick` once per note settles after ``first``
    notes, then each time the count doubles, then every ``max_every`` notes."""

    def __init__(self, first: int = 50, max_every: int = 10_000) -> None:
        self.max_every = max_every
        self.count = 0
        self.next = first

    def tick(self) -> bool:
        """Count one note; settle when the count reaches the next mark (True when it did)."""
        self.count += 1
        if self.count < self.next:
            return False
        settle()
        self.next = self.count + min(self.count, self.max_every)
        return True


@contextmanager
def coding() -> Iterator[None]:
    """Raise the young generation's threshold to :data:`YOUNG_THRESHOLD` while the block runs (blocks
    may nest and overlap across threads: the first to open raises it, the last to close restores what
    was set before).  A threshold of 0 (automatic collection off) or above it is kept.

    ``Coder.code`` opens one per note.  A batch loop (evaluation, training, the benchmark) opens one
    around the whole loop: each note's own block then nests inside it, and the young-generation
    collection that closing a note's block brings on (restoring Python's threshold while thousands of
    the note's objects are still young, ~0.15 ms a ~1,500-word note) happens once per
    :data:`YOUNG_THRESHOLD` allocations instead."""
    global _coding, _saved
    with _lock:
        if _coding == 0:
            _saved = gc.get_threshold()
            if 0 < _saved[0] < YOUNG_THRESHOLD:
                gc.set_threshold(YOUNG_THRESHOLD, *_saved[1:])
        _coding += 1
    try:
        yield
    finally:
        with _lock:
            _coding -= 1
            if _coding == 0:
                gc.set_threshold(*_saved)
