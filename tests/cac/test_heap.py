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
    import cac.heap as heap

    calls = []
    monkeypatch.setattr(heap, "settle", lambda: calls.append(("settled", gc.isenabled())))
    coder_module.Coder(coder.settings, code_sets=coder.code_sets)
    assert calls == [("settled", True)]  # once, after loading, with automatic collections back on


def test_no_automatic_collection_while_loading():
    import cac.heap as heap

    with heap.loading():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.loading():
            pass
        assert not gc.isenabled()  # a caller's own setting is kept
    finally:
        gc.enable()


def test_a_long_run_settles_again_as_its_caches_grow(monkeypatch):
    import cac.heap as heap

    marks: list[int] = []
    settler = heap.Settler(first=3, max_every=8)
    monkeypatch.setattr(heap, "settle", lambda: marks.append(settler.count))
    assert [settler.tick() for _ in range(40)].count(True) == len(marks)
    assert marks == [3, 6, 12, 20, 28, 36]  # doubling, then every max_every notes


def test_coding_ticks_the_coders_settler(coder):
    before = coder._settler.count
    coder.code("Fever.", setting="outpatient")
    assert coder._settler.count == before + 1


def test_coding_spaces_out_young_collections_and_restores_the_threshold():
    import cac.heap as heap

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        with heap.coding():
            assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, 10, 10)
            with heap.coding():  # nested (or another thread's): the outermost block restores
                pass
            assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(0)  # automatic collection off: kept off
        with heap.coding():
            assert gc.get_threshold()[0] == 0
        gc.set_threshold(50_000, 10, 10)  # a higher threshold of the caller's: kept
        with heap.coding():
            assert gc.get_threshold()[0] == 50_000
    finally:
        gc.set_threshold(*before)


def test_the_threshold_is_restored_when_coding_fails(coder):
    import cac.heap as heap

    before = gc.get_threshold()
    try:
        coder.code("Fever.", top_k=-1)
    except Exception:
        pass
    assert gc.get_threshold() == before
    seen = []
    original = coder._code

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold()[0])
        return original(*args, **kwargs)

    coder._code = spy
    try:
        coder.code("Fever.", setting="outpatient")
    finally:
        del coder._code
    assert seen == [max(before[0], heap.YOUNG_THRESHOLD)] and gc.get_threshold() == before
