"""``cac code``: the output contract and one-line errors, through the real entry point."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_cli(*args, stdin=None, env_extra=None, tmp_cache=None):
    import os

    env = dict(os.environ)
    if tmp_cache:
        env["CAC_CACHE_DIR"] = str(tmp_cache)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", "from cac.cli import run; run()", *args], input=stdin,
                          capture_output=True, cwd=ROOT, env=env, timeout=300)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-cache")


def test_code_example_json(cache):
    p = run_cli("code", "examples/discharge_summary.txt", "--setting", "inpatient", tmp_cache=cache)
    assert p.returncode == 0, p.stderr.decode()
    d = json.loads(p.stdout)
    text = (ROOT / "examples/discharge_summary.txt").read_text()
    assert d["schema"] == "cac.suggestions/1" and d["document"]["id"] == "discharge_summary"
    assert d["suggestions"]
    for s in d["suggestions"] + d["candidates"]:
        for e in s["evidence"]:
            assert text[e["start"]:e["end"]] == e["text"]


def test_code_fhir_and_text_formats(cache):
    p = run_cli("code", "examples/outpatient_visit.txt", "--format", "fhir", tmp_cache=cache)
    assert p.returncode == 0, p.stderr.decode()
    b = json.loads(p.stdout)
    assert b["resourceType"] == "Bundle"
    cond = [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert cond and cond[0]["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert cond[0]["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
    p = run_cli("code", "examples/outpatient_visit.txt", "--format", "text", tmp_cache=cache)
    assert p.returncode == 0 and b"Suggestions" in p.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (["code", "-"], b"", "E001"),
        (["code", "-"], b"\x00\x00\x00", "E002"),
        (["code", "-"], b"\xff\xfe bad", "E003"),
        (["code", "-"], b'{"resourceType": "Bundle"', "E005"),
        (["code", "missing-file.txt"], None, "E009"),
        (["code", "-", "--setting", "er"], b"asthma", "E010"),
        (["code", "-", "--date-of-service", "2019-01-01"], b"asthma", "E012"),
        (["code", "-", "--format", "xml"], b"asthma", "E013"),
    ],
)
def test_bad_input_is_one_line_no_traceback(args, stdin, code, cache):
    p = run_cli(*args, stdin=stdin, tmp_cache=cache)
    err = p.stderr.decode()
    assert p.returncode != 0
    assert err.startswith(f"error {code}:") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_oversized_input(cache):
    p = run_cli("code", "-", stdin=b"a" * 2000, env_extra={"CAC_MAX_INPUT_BYTES": "1000"}, tmp_cache=cache)
    assert p.returncode != 0 and p.stderr.decode().startswith("error E004:")


def test_output_does_not_depend_on_the_process(cache):
    # string hashing is randomised per process: nothing cac suggests may depend on set/dict hash order
    runs = [run_cli("code", "examples/discharge_summary.txt", "--setting", "inpatient", tmp_cache=cache,
                    env_extra={"PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    assert all(p.returncode == 0 for p in runs), runs[0].stderr.decode()
    assert runs[0].stdout == runs[1].stdout
