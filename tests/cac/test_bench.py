from cac.bench import build_notes, run_bench


def test_notes_are_about_the_requested_length(settings):
    notes, source = build_notes(settings, 3, words=300)
    assert len(notes) == 3 and all(len(n.split()) >= 300 for n in notes) and source


def test_bench_reports_every_figure(settings):
    res = run_bench(n=4, words=200, settings=settings, cold=False)
    for key in ("throughput_notes_per_s_per_core", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
                "peak_rss_mb", "reference_notes_per_s", "ratio_to_reference", "load_s"):
        assert res[key] > 0
