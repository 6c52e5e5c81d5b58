import gc

from cac import scan
from cac.bench import build_notes, run_bench
from cac.heap import YOUNG_THRESHOLD


def test_notes_are_about_the_requested_length(settings):
    notes, source = build_notes(settings, 3, words=300)
    assert len(notes) == 3 and all(300 <= len(n.split()) < 400 for n in notes) and source


def test_a_note_is_cut_at_the_end_of_the_sentence_reaching_the_length():
    from cac.bench import _cut_after

    note = "One two three. Four five six seven.\nEight nine. Ten"
    assert _cut_after(note, 2) == "One two three."
    assert _cut_after(note, 4) == "One two three. Four five six seven."
    assert _cut_after(note, 9) == "One two three. Four five six seven.\nEight nine."
    assert _cut_after(note, 50) == note


def test_bench_reports_every_figure(settings):
    res = run_bench(n=4, words=200, settings=settings, cold=False)
    for key in ("throughput_notes_per_s_per_core", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
                "peak_rss_mb", "reference_notes_per_s", "ratio_to_reference", "load_s"):
        assert res[key] > 0
    assert res["compiled_scanners"] is scan.COMPILED  # which scanners gave the figures
    before, after = res["reference_before_after"]
    assert min(before, after) <= res["reference_notes_per_s"] <= max(before, after)


def test_warmup_notes_are_coded_first_and_not_timed(settings):
    coded: list[str] = []
    thresholds: list[int] = []

    class Counting:
        model_id = "counting"

        def __init__(self) -> None:
            from cac.suggest.coder import Coder
            self.knowledge = Coder(settings)

        def code(self, text: str, **kw):
            coded.append(text)
            thresholds.append(gc.get_threshold()[0])
            return self.knowledge.code(text, **kw)

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        res = run_bench(n=3, words=100, settings=settings, cold=False, make_coder=Counting, warmup=2)
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
    assert res["notes"] == 3 and res["warmup_notes"] == 2
    assert len(coded) == 5  # 2 warm-up notes, then the 3 timed ones
    # the timed notes are coded one after the other in one batch block, as cac's batch jobs code them
    assert thresholds[:2] == [700, 700] and thresholds[2:] == [YOUNG_THRESHOLD] * 3


def test_without_any_note_the_bench_says_so(settings, monkeypatch, tmp_path):
    import pytest

    import cac.bench as bench
    from cac.errors import CacError

    monkeypatch.setattr(bench, "EXAMPLES", tmp_path / "none")  # an installed wheel: no examples beside it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CacError, match="E501"):
        build_notes(settings.model_copy(update={"data_dir": None}), 2)


def test_a_failed_cold_start_is_no_time(settings, monkeypatch, capsys):
    import subprocess

    import cac.bench as bench

    monkeypatch.setattr(bench.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a[0], 2, b"", b"error E009: input file not found"))
    assert bench.cold_start_seconds(settings) is None
    assert "E009" in capsys.readouterr().err


def test_the_cold_start_runs_without_the_examples(settings, monkeypatch, tmp_path):
    import cac.bench as bench

    seen = []
    monkeypatch.setattr(bench, "EXAMPLES", tmp_path / "none")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, **k: seen.append(open(cmd[4]).read()) or
                        __import__("subprocess").CompletedProcess(cmd, 0, b"", b""))
    assert bench.cold_start_seconds(settings) is not None and "pneumonia" in seen[0]


def test_timed_notes_reusing_an_earlier_notes_text_are_counted():
    from cac.bench import _compose, _reusing

    texts = ["one two three four.", "five six seven eight.", "nine ten eleven twelve."]
    composed = _compose(texts, 5, words=4)  # one text a note: the fourth note starts the texts again
    assert [used for _, used in composed] == [[0], [1], [2], [0], [1]]
    assert _reusing(composed, first=0) == 2
    assert _reusing(composed, first=2) == 2  # warm-up notes' texts count as seen
    assert _reusing(composed[:3], first=1) == 0


def test_bench_reports_reused_texts(settings):
    res = run_bench(n=2, words=100, settings=settings, cold=False, warmup=0)
    assert res["timed_notes_reusing_text"] == 0


def test_the_cold_start_processs_peak_memory_is_reported(settings, monkeypatch):
    import cac.bench as bench

    monkeypatch.setattr(bench, "cold_start", lambda *a, **k: (1.5, 300.0))
    res = run_bench(n=2, words=100, settings=settings, cold=True, warmup=0)
    assert res["cold_start_s"] == 1.5 and res["cold_peak_rss_mb"] == 300.0
    res = run_bench(n=2, words=100, settings=settings, cold=False, warmup=0)
    assert res["cold_start_s"] is None and res["cold_peak_rss_mb"] is None


def test_the_cold_start_reads_the_fresh_processs_own_peak_memory(settings, monkeypatch):
    """Not the bench process's (a child's ``ru_maxrss`` starts from its parent's): this process holds a
    block far larger than a fresh ``cac code`` needs, which must not show in the figure."""
    import sys

    import cac.bench as bench

    if not sys.platform.startswith("linux"):
        import pytest
        pytest.skip("VmHWM is read from /proc")
    block = bytearray(2 * 2**30)
    block[::4096] = b"1" * len(block[::4096])  # resident
    seconds, peak = bench.cold_start(settings)
    del block
    assert seconds is not None and peak is not None
    assert 50 < peak < 2048
