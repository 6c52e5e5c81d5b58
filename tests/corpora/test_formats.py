"""cac JSONL, brat standoff, FHIR NDJSON readers and the registry."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cac.errors import CorpusError
from corpora import (
    CM,
    PCS,
    Document,
    GoldCode,
    canonical_system,
    infer_system,
    normalize_any,
    open_corpus,
    read_brat,
    read_fhir_ndjson,
    read_jsonl,
    write_jsonl,
)
from corpora.fhir import strip_html

# --------------------------------------------------------------------------- systems


@pytest.mark.parametrize(
    "code,system",
    [
        ("E11.9", CM),
        ("e119", CM),
        ("R52", CM),
        ("S72001A", CM),
        ("0DTJ4ZZ", PCS),
        ("bt41", PCS),  # second character not a digit: PCS
        ("B211ZZZ", PCS),  # PCS imaging with Z qualifiers
        ("3E02329", PCS),
    ],
)
def test_infer_system(code: str, system: str) -> None:
    assert infer_system(code) == system


def test_canonical_system_aliases() -> None:
    assert canonical_system("http://hl7.org/fhir/sid/icd-10-cm") == CM
    assert canonical_system("http://www.cms.gov/Medicare/Coding/ICD10") == PCS
    assert canonical_system("ICD10CM") == CM and canonical_system("icd-10-pcs") == PCS
    assert canonical_system("http://snomed.info/sct") is None
    assert normalize_any("e1122") == ("E11.22", CM)
    assert normalize_any("0dtj4zz", "ICD10PCS") == ("0DTJ4ZZ", PCS)


# --------------------------------------------------------------------------- JSONL


def test_jsonl_round_trip(tmp_path: Path) -> None:
    docs = [
        Document(
            "d1",
            "Type 2 diabetes. Appendectomy.",
            metadata={"source": "x"},
            gold=[GoldCode("E11.9", CM, [(0, 15)]), GoldCode("0DTJ4ZZ", PCS, [(17, 29)], text="Appendectomy")],
        ),
        Document("d2", "Nothing.", lang="es"),
    ]
    path = tmp_path / "c.jsonl"
    assert write_jsonl(docs, path) == 2
    back = read_jsonl(path)
    assert [d.to_dict() for d in back] == [d.to_dict() for d in docs]


def test_jsonl_normalises_codes_and_infers_systems(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps({"id": 7, "text": "abc", "gold": [{"code": "e1122"}, "0dtj4zz", {"code": "q6211", "system": "ICD10CM"}]}) + "\n\n"
    )
    (doc,) = read_jsonl(path)
    assert doc.id == "7"
    assert [(g.code, g.system) for g in doc.gold] == [("E11.22", CM), ("0DTJ4ZZ", PCS), ("Q62.11", CM)]


@pytest.mark.parametrize(
    "line,detail",
    [
        ("{not json", "invalid JSON"),
        ('["a list"]', "not a JSON object"),
        ('{"text": "x"}', "'id'"),
        ('{"id": "a"}', "'text'"),
        ('{"id": "a", "text": "x", "gold": [{"system": "ICD-10-CM"}]}', "no 'code'"),
        ('{"id": "a", "text": "abc", "gold": [{"code": "E11.9", "spans": [[0, 10]]}]}', "outside the text"),
        ('{"id": "a", "text": "abc", "gold": [{"code": "E11.9", "spans": [[0]]}]}', "pair"),
        ('{"id": "a", "text": "abc", "gold": "E11.9"}', "not a list"),
    ],
)
def test_jsonl_malformed_lines_are_e402_with_line(tmp_path: Path, line: str, detail: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "text": "fine"}\n' + line + "\n")
    with pytest.raises(CorpusError) as err:
        read_jsonl(path)
    assert err.value.code == "E402"
    assert err.value.kwargs["line"] == 2
    assert detail in err.value.message


def test_jsonl_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n')
    with pytest.raises(CorpusError, match="duplicate"):
        read_jsonl(path)


def test_spans_in_another_language_are_not_bounds_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "short", "gold": [{"code": "E11.9", "spans": [[100, 120]], "spans_lang": "es"}]}))
    (doc,) = read_jsonl(path)
    assert doc.gold[0].spans == [(100, 120)] and doc.evidence_spans(doc.gold[0]) == []


# --------------------------------------------------------------------------- brat

BRAT_TXT = "Patient with type 2 diabetes and a laparoscopic appendectomy.\n"
BRAT_ANN = (
    "T1\tDiagnosis 13 28\ttype 2 diabetes\n"
    "T2\tProcedure 35 47;48 60\tlaparoscopic appendectomy\n"
    "T3\tDiagnosis 20 28\tdiabetes\n"
    "N1\tReference T1 ICD10CM:e11.9\ttype 2 diabetes\n"
    "N2\tReference T2 ICD-10-PCS:0dtj4zz\tappendectomy\n"
    "N3\tReference T3 ICD10CM:E11.9\tdiabetes\n"
    "N4\tReference T1 UMLS:C0011860\tdiabetes\n"
    "A1\tNegated T3\n"
    "R1\tRel Arg1:T1 Arg2:T2\n"
    "#1\tAnnotatorNotes T1\tchecked\n"
)


def write_brat(folder: Path, name: str = "note1", ann: str = BRAT_ANN) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(BRAT_TXT)
    (folder / f"{name}.ann").write_text(ann)


def test_brat_reads_normalizations(tmp_path: Path) -> None:
    write_brat(tmp_path)
    (doc,) = read_brat(tmp_path)
    assert doc.id == "note1"
    g = {x.code: x for x in doc.gold}
    assert set(g) == {"E11.9", "0DTJ4ZZ"}
    assert g["0DTJ4ZZ"].system == PCS
    # both mentions of E11.9 contribute spans; discontinuous T2 keeps both pieces
    assert [doc.text[s:e] for s, e in g["E11.9"].spans] == ["type 2 diabetes", "diabetes"]
    assert [doc.text[s:e] for s, e in g["0DTJ4ZZ"].spans] == ["laparoscopic", "appendectomy"]
    assert g["E11.9"].metadata["attributes"] == {"Negated": True}
    assert doc.metadata["other_normalizations"][0]["db"] == "UMLS"


def test_brat_single_file_and_subfolders(tmp_path: Path) -> None:
    write_brat(tmp_path / "a")
    write_brat(tmp_path / "b", "note1")
    assert [d.id for d in read_brat(tmp_path)] == ["a/note1", "b/note1"]
    assert len(read_brat(tmp_path / "a" / "note1.ann")) == 1
    assert len(read_brat(tmp_path / "a" / "note1.txt")) == 1


@pytest.mark.parametrize(
    "bad,line",
    [
        ("T9\tDiagnosis 10\tx\n", 11),
        ("T9\tDiagnosis 10 500\tx\n", 11),
        ("N9\tReference T99 ICD10CM:E11.9\tx\n", 11),
        ("N9\tReference T1 E11.9\tx\n", 11),
        ("Q1\twhat\n", 11),
    ],
)
def test_brat_malformed_lines_are_e402(tmp_path: Path, bad: str, line: int) -> None:
    write_brat(tmp_path, ann=BRAT_ANN + bad)
    with pytest.raises(CorpusError) as err:
        read_brat(tmp_path)
    assert err.value.code == "E402" and err.value.kwargs["line"] == line


def test_brat_ann_without_txt_is_reported(tmp_path: Path) -> None:
    write_brat(tmp_path)
    (tmp_path / "orphan.ann").write_text("")
    with pytest.raises(CorpusError, match="no .txt"):
        read_brat(tmp_path)


# --------------------------------------------------------------------------- FHIR

NOTE = "Assessment: type 2 diabetes. Plan: laparoscopic appendectomy."


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def bundle(**over) -> dict:
    b = {
        "resourceType": "Bundle",
        "id": "enc-1",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "DocumentReference",
                    "id": "note-1",
                    "date": "2025-01-02",
                    "content": [{"attachment": {"contentType": "text/plain", "data": b64(NOTE)}}],
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "c1",
                    "code": {
                        "coding": [
                            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "e11.9", "display": "Type 2 diabetes"},
                            {"system": "http://snomed.info/sct", "code": "44054006"},
                        ]
                    },
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "c2",
                    "verificationStatus": {"coding": [{"code": "refuted"}]},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
                }
            },
            {
                "resource": {
                    "resourceType": "Procedure",
                    "id": "p1",
                    "code": {"coding": [{"system": "http://www.cms.gov/Medicare/Coding/ICD10", "code": "0DTJ4ZZ"}]},
                }
            },
        ],
    }
    b.update(over)
    return b


def write_ndjson(path: Path, *objs) -> Path:
    path.write_text("\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n")
    return path


def test_fhir_bundle(tmp_path: Path) -> None:
    (doc,) = read_fhir_ndjson(write_ndjson(tmp_path / "b.ndjson", bundle()))
    assert doc.id == "enc-1" and doc.text == NOTE
    assert [(g.code, g.system) for g in doc.gold] == [("E11.9", CM), ("0DTJ4ZZ", PCS)]
    assert doc.metadata["excluded_gold"] == [{"code": "I10", "system": CM, "reason": "refuted"}]
    assert doc.metadata["other_codings"] == 1
    assert doc.metadata["date"] == "2025-01-02"


def test_fhir_document_reference_with_div_and_contained(tmp_path: Path) -> None:
    ref = {
        "resourceType": "DocumentReference",
        "id": "note-2",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Chest pain &amp; <b>fever</b></p><p>R/O MI</p><script>x</script></div>'},
        "contained": [{"resourceType": "Condition", "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "R07.9"}]}}],
    }
    (doc,) = read_fhir_ndjson(write_ndjson(tmp_path / "r.ndjson", ref))
    assert doc.id == "note-2"
    assert doc.text == "Chest pain & fever\n\nR/O MI"
    assert doc.codes() == {"R07.9"}


def test_strip_html() -> None:
    assert strip_html("<div>a<br/>b &lt;c&gt;</div>") == "a\nb <c>"


def test_fhir_several_notes_are_joined(tmp_path: Path) -> None:
    b = bundle()
    b["entry"].append({"resource": {"resourceType": "DocumentReference", "id": "note-9", "content": [{"attachment": {"data": b64("Second note.")}}]}})
    (doc,) = read_fhir_ndjson(write_ndjson(tmp_path / "b.ndjson", b))
    assert doc.text == NOTE + "\n\nSecond note."
    p = doc.metadata["parts"][1]
    assert doc.text[p["start"] : p["end"]] == "Second note."


@pytest.mark.parametrize(
    "obj,detail",
    [
        ("{oops", "invalid JSON"),
        ({"resourceType": "Patient", "id": "x"}, "not supported"),
        ({"resourceType": "DocumentReference", "id": "x"}, "no DocumentReference with text"),
        ({"resourceType": "DocumentReference", "id": "x", "content": [{"attachment": {"data": "***"}}]}, "base64"),
        ({"resourceType": "DocumentReference", "content": [{"attachment": {"data": b64("t")}}]}, "id"),
    ],
)
def test_fhir_malformed_lines_are_e402(tmp_path: Path, obj, detail: str) -> None:
    path = write_ndjson(tmp_path / "bad.ndjson", bundle(), obj)
    with pytest.raises(CorpusError) as err:
        read_fhir_ndjson(path)
    assert err.value.code == "E402" and err.value.kwargs["line"] == 2
    assert detail in err.value.message


# --------------------------------------------------------------------------- registry


def test_open_corpus_by_name(tmp_path: Path) -> None:
    write_jsonl([Document("a", "x")], tmp_path / "c.jsonl")
    write_brat(tmp_path / "brat")
    write_ndjson(tmp_path / "f.ndjson", bundle())
    assert [d.id for d in open_corpus("jsonl", path=tmp_path / "c.jsonl")] == ["a"]
    assert [d.id for d in open_corpus("brat", path=tmp_path / "brat")] == ["note1"]
    assert [d.id for d in open_corpus("FHIR", path=tmp_path / "f.ndjson")] == ["enc-1"]


def test_unknown_corpus_is_e401() -> None:
    with pytest.raises(CorpusError) as err:
        open_corpus("mimic")
    assert err.value.code == "E401"
    assert "codiesp" in err.value.message


def test_missing_path_is_e009(tmp_path: Path) -> None:
    with pytest.raises(CorpusError) as err:
        open_corpus("jsonl", path=tmp_path / "nope.jsonl")
    assert err.value.code == "E009"
    with pytest.raises(CorpusError):
        open_corpus("brat")
