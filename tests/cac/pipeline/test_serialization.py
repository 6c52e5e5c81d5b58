"""to_disk/from_disk round trips, custom rule files and malformed rules (E201/E203)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from cac.errors import CacError
from cac.pipeline import (
    AbbreviationExpander,
    ContextComponent,
    SectionDetector,
    SentenceSplitter,
    build_pipeline,
)
from tests.cac.pipeline.notes import DISCHARGE_SUMMARY

COMPONENTS = {
    "cac_sections_v1": "section_headers.json",
    "cac_sentences_v1": "sentence_rules.json",
    "cac_abbreviations_v1": "abbreviations.json",
    "cac_context_v1": "context_rules.json",
}


def _annotations(doc: Doc) -> tuple:
    return (
        [(s.name, s.start_char, s.end_char) for s in doc._.sections],
        [t.is_sent_start for t in doc],
        [(t.i, t._.expansion, t._.expansion_len) for t in doc if t._.expansion],
        [(s.start, s._.negated, s._.family, s._.context_triggers) for s in doc.spans.get("mentions", [])],
    )


def _with_mentions(nlp, text: str) -> Doc:
    doc = nlp.make_doc(text)
    for name, proc in nlp.pipeline:
        if name == "cac_context":
            doc.spans["mentions"] = [doc[i : i + 1] for i in range(0, len(doc), 5)]
        doc = proc(doc)
    return doc


@pytest.mark.parametrize("factory", list(COMPONENTS))
def test_component_round_trip(tmp_path: Path, factory: str) -> None:
    nlp = build_pipeline([factory])
    pipe = nlp.pipeline[0][1]
    pipe.to_disk(tmp_path)
    written = tmp_path / COMPONENTS[factory]
    assert written.is_file()
    assert json.loads(written.read_text("utf-8")) == pipe.rules
    other = build_pipeline([factory]).pipeline[0][1]
    assert other.from_disk(tmp_path) is other
    assert other.rules == pipe.rules


def test_whole_pipeline_round_trip(tmp_path: Path) -> None:
    nlp = build_pipeline()
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert loaded.pipe_names == ["cac_sections", "cac_sentences", "cac_abbreviations", "cac_context"]
    assert _annotations(_with_mentions(loaded, DISCHARGE_SUMMARY)) == _annotations(
        _with_mentions(nlp, DISCHARGE_SUMMARY)
    )
    assert "\n" not in loaded.tokenizer.rules  # the faster tokenizer survives saving


def test_from_disk_uses_the_saved_rules(tmp_path: Path) -> None:
    nlp = build_pipeline(["cac_abbreviations_v1"])
    pipe = nlp.get_pipe("cac_abbreviations")
    rules = {"abbreviations": [{"forms": ["XYZ"], "expansion": "xyzzy syndrome"}]}
    (tmp_path / "abbreviations.json").write_text(json.dumps(rules), "utf-8")
    pipe.from_disk(tmp_path)
    doc = nlp("Known XYZ and HTN.")
    assert doc[1]._.expansion == "xyzzy syndrome"
    assert doc[3]._.expansion is None  # the packaged rules were replaced


def test_custom_rules_file_via_config(tmp_path: Path) -> None:
    path = tmp_path / "sections.json"
    path.write_text(json.dumps({"sections": {"plan": ["next steps"]}}), "utf-8")
    nlp = build_pipeline(["cac_sections_v1"], config={"cac_sections_v1": {"rules": str(path)}})
    assert [s.name for s in nlp("Intro\nNext steps: rest\nPlan: x")._.sections] == ["plan"]


def test_docbin_round_trip_keeps_annotations(nlp) -> None:
    doc = _with_mentions(nlp, DISCHARGE_SUMMARY)
    bin_ = DocBin(store_user_data=True)
    bin_.add(doc)
    (back,) = list(DocBin(store_user_data=True).from_bytes(bin_.to_bytes()).get_docs(nlp.vocab))
    assert _annotations(back) == _annotations(doc)
    restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert _annotations(restored) == _annotations(doc)


BLANK = spacy.blank("en")
CLASSES = {
    "cac_sections_v1": SectionDetector,
    "cac_sentences_v1": SentenceSplitter,
    "cac_abbreviations_v1": AbbreviationExpander,
    "cac_context_v1": ContextComponent,
}

MALFORMED = {
    "cac_sections_v1": [
        "{not json",
        "[]",
        json.dumps({"sections": {}}),
        json.dumps({"sections": {"plan": "plan"}}),
        json.dumps({"sections": {"plan": ["plan"], "assessment": ["plan"]}}),
        json.dumps({"sections": {"plan": ["plan"]}, "colon_required": "pe"}),
    ],
    "cac_sentences_v1": [
        "",
        json.dumps({"no_split_after": "dr"}),
        json.dumps({"no_split_before_digit": [1, 2]}),
    ],
    "cac_abbreviations_v1": [
        json.dumps({"abbreviations": {"HTN": "hypertension"}}),
        json.dumps({"abbreviations": [{"forms": [], "expansion": "x"}]}),
        json.dumps({"abbreviations": [{"forms": ["X"], "expansion": ""}]}),
        json.dumps({"abbreviations": [{"forms": ["X"], "expansion": "x", "case": "upper"}]}),
        json.dumps({"ambiguous": [{"forms": ["MS"], "senses": []}]}),
        json.dumps({"ambiguous": [{"forms": ["MS"], "senses": [{"expansion": "x", "cues": "y"}]}]}),
        json.dumps({"ambiguous": [{"forms": ["MS"], "senses": [{"expansion": "x"}], "window": 0}]}),
    ],
    "cac_context_v1": [
        json.dumps({"rules": [{"literal": "no", "category": "NEGATED_EXISTENCE", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": []}),
        json.dumps({"categories": {"NEG": {"negated": "yes"}}, "rules": [{"literal": "no", "category": "NEG", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"flavour": True}}, "rules": [{"literal": "no", "category": "NEG", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"experiencer": "dog"}}, "rules": [{"literal": "no", "category": "NEG", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "no", "category": "NEG", "direction": "sideways"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "no", "category": "OTHER", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "", "category": "NEG", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "no", "category": "NEG", "direction": "forward", "max_scope": 0}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "but", "direction": "terminate", "terminates": ["X"]}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "section_defaults": {"family_history": ["FAM"]}, "rules": [{"literal": "no", "category": "NEG", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "x", "pattern": [{"LOWER": {"REGEX": "("}}], "category": "NEG", "direction": "forward"}]}),
        json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [{"literal": "x", "pattern": [{"NOT_AN_ATTR": "x"}], "category": "NEG", "direction": "forward"}]}),
    ],
}


@pytest.mark.parametrize(
    ("factory", "content"),
    [(factory, content) for factory, items in MALFORMED.items() for content in items],
)
def test_malformed_rules_raise_e201(tmp_path: Path, factory: str, content: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(content, "utf-8")
    with pytest.raises(CacError) as info:
        CLASSES[factory](BLANK, rules=str(path))
    assert info.value.code == "E201"
    assert str(path) in str(info.value)


def test_malformed_rules_from_disk_raise_e201(tmp_path: Path) -> None:
    pipe = build_pipeline(["cac_context_v1"]).get_pipe("cac_context")
    (tmp_path / "context_rules.json").write_text('{"rules": ', "utf-8")
    with pytest.raises(CacError) as info:
        pipe.from_disk(tmp_path)
    assert info.value.code == "E201" and "line 1" in info.value.message


def test_missing_rule_file_raises_e203(tmp_path: Path) -> None:
    with pytest.raises(CacError) as info:
        build_pipeline(["cac_sections_v1"], config={"cac_sections_v1": {"rules": str(tmp_path / "nope.json")}})
    assert info.value.code == "E203"


def _rules_reading(tmp_path: Path, token: dict) -> str:
    path = tmp_path / "rules.json"
    rule = {"literal": "x", "pattern": [{"LOWER": "no"}, token], "category": "NEG", "direction": "forward"}
    path.write_text(json.dumps({"categories": {"NEG": {"negated": True}}, "rules": [rule]}), "utf-8")
    return str(path)


@pytest.mark.parametrize("token", [{"LIKE_NUM": True}, {"norm": "fever"}, {"IS_STOP": False, "OP": "+"}])
def test_context_pattern_reading_an_uncomputed_lexeme_attribute_raises_e201(tmp_path: Path, token: dict) -> None:
    rules = _rules_reading(tmp_path, token)
    with pytest.raises(CacError) as info:
        build_pipeline(["cac_context_v1"], config={"cac_context_v1": {"rules": rules}})
    assert info.value.code == "E201" and next(iter(token)).upper() in info.value.message


def test_context_pattern_reading_a_lexeme_attribute_loads_where_it_is_computed(tmp_path: Path) -> None:
    rules = _rules_reading(tmp_path, {"LIKE_NUM": True})
    nlp = build_pipeline(["cac_context_v1"], config={"cac_context_v1": {"rules": rules}},
                         lexeme_attrs=("LOWER", "LIKE_NUM"))
    found = nlp.get_pipe("cac_context").triggers(nlp("There were no 3 lesions."))
    assert [(t.start, t.end) for t in found] == [(2, 4)]
