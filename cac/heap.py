"""Keep the loaded code sets, lexicon and models out of the cyclic garbage collector's way.

A loaded coder is hundreds of thousands of long-lived Python objects (code-set entries, lexicon
terms, vocabularies).  Coding a note creates many short-lived ones, and every full
collection Python then runs walks all the long-lived ones again: on ~1,500-word
notes that was about a third of the hybrid coder's time per note.  :func:`settle`
runs one collection and then freezes (``gc.freeze``) everything alive, so later
collections only look at objects created after loading.  Frozen objects are still
freed by reference counting; only cycles among them are never collected.  A :class:`Settler`
settles again, ever less often, as a long run's caches grow.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
