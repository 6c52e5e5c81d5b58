"""Lexicon terms from the CDC index tables (small fixtures in the CDC XML layout)."""

from __future__ import annotations

from pathlib import Path

from cac.lexicon.index_terms import index_terms

NEOPLASM = """<?xml version="1.0" encoding="utf-8"?>
<ICD10CM.index>
  <version>2026</version>
  <indexHeading>
    <head col="1">Neoplasm</head><head col="2">Malignant Primary</head><head col="3">Malignant Secondary</head>
    <head col="4">Ca in situ</head><head col="5">Benign</head><head col="6">Uncertain Behavior</head>
    <head col="7">Unspecified Behavior</head>
  </indexHeading>
  <letter>
    <title>N</title>
    <mainTerm>
      <title>Neoplasm, neoplastic</title>
      <term level="1">
        <title>Meckel diverticulum, malignant</title>
        <cell col="2">C17.3</cell><cell col="3">C78.4</cell><cell col="4">-</cell><cell col="5">-</cell>
        <cell col="6">-</cell><cell col="7">-</cell>
      </term>
      <term level="1">
        <title>skin NOS</title>
        <term level="2">
          <title>site unspecified</title>
          <cell col="2">C44.90</cell><cell col="3">C79.2</cell><cell col="4">D04.9</cell><cell col="5">D23.9</cell>
          <cell col="6">D48.5</cell><cell col="7">D49.2</cell>
        </term>
      </term>
    </mainTerm>
  </letter>
</ICD10CM.index>
"""


def test_a_site_that_adds_no_word_gives_no_term(tmp_path: Path) -> None:
    path = tmp_path / "neoplasm.xml"
    path.write_text(NEOPLASM, encoding="utf-8")
    terms = {text: code for text, code, _ in index_terms({"neoplasm": path})}
    assert terms["secondary malignant neoplasm Meckel diverticulum"] == "C78.4"
    # "Meckel's diverticulum, malignant": the comma is no alternative, and "malignant" names no site
    assert not any(text.endswith("neoplasm malignant") for text in terms)
    assert "secondary malignant neoplasm skin NOS site unspecified" in terms
    assert not any(text.endswith("site unspecified") and "skin" not in text for text in terms)
