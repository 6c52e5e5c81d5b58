"""Keep the loaded code sets, lexicon and models out of the cyclic garbage collector's way.

A loaded coder is hundreds of thousands of long-lived Python objects (code-set entries, lexicon
terms, vocabularies).  Coding a note creates many short-lived ones, and every full
collection Python then runs walks all the long-lived ones again: on ~1,500-word
notes that was about a third of the hybrid coder's time per note.  :func:`settle`
runs one collection and then freezes (``gc.freeze``) everything alive, so later
collections only look at objects created after loading.  Frozen objects are still
freed by reference counting; only cycles among them are never collected.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect once, then exempt every object alive now from future collections."""
    gc.collect()
    gc.freeze()
