"""``cac bench`` through the CLI entry point (the measurement itself: tests/cac/test_bench.py)."""

import json

import cac.bench as bench
from cac.cli import main


def _fake_run(reusing: int):
    def run_bench(**kwargs):
        return {"notes": kwargs["n"], "throughput_notes_per_s_per_core": 1.0, "timed_notes_reusing_text": reusing}
    return run_bench


def test_bench_writes_its_figures(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "run_bench", _fake_run(0))
    out = tmp_path / "b.json"
    assert main(["bench", "--notes", "3", "--no-cold", "--knowledge-only", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["notes"] == 3
    assert "warning" not in capsys.readouterr().err


def test_bench_warns_when_timed_notes_reuse_texts(monkeypatch, capsys):
    monkeypatch.setattr(bench, "run_bench", _fake_run(7))
    assert main(["bench", "--notes", "3", "--no-cold", "--knowledge-only"]) == 0
    err = capsys.readouterr().err
    assert "warning: 7 timed notes hold texts of earlier notes" in err
