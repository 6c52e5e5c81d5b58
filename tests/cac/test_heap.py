"""cac.heap: loaded coders are exempt from cyclic garbage collection."""

import gc

import cac.suggest.coder as coder_module
from cac.heap import settle


def test_settle_freezes_what_is_alive_and_keeps_collecting_new_objects():
    kept = [{"term": i} for i in range(1000)]
    before = gc.get_freeze_count()
    settle()
    assert gc.get_freeze_count() >= before + len(kept)
    # objects made afterwards are still tracked and their cycles collected as usual
    cycle: list = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_loading_a_coder_settles_the_heap(coder, monkeypatch):
    calls = []
    monkeypatch.setattr(coder_module, "settle", lambda: calls.append("settled"))
    coder_module.Coder(coder.settings, code_sets=coder.code_sets)
    assert calls == ["settled"]
