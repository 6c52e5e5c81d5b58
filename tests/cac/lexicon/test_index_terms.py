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
      <term level="1">
        <title>lymph, lymphatic channel NEC</title>
        <cell col="2">C49.9</cell><cell col="3">C79.89</cell><cell col="4">-</cell><cell col="5">D21.9</cell>
        <cell col="6">D48.1</cell><cell col="7">D49.2</cell>
        <term level="2">
          <title>node</title>
          <cell col="2">-</cell><cell col="3">C77.9</cell><cell col="4">-</cell><cell col="5">-</cell>
          <cell col="6">-</cell><cell col="7">-</cell>
          <term level="3">
            <title>primary (any site) NEC</title>
            <cell col="2">C96.9</cell><cell col="3">-</cell><cell col="4">-</cell><cell col="5">-</cell>
            <cell col="6">-</cell><cell col="7">-</cell>
          </term>
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


def test_a_primary_lymph_node_needs_the_word_primary(tmp_path: Path) -> None:
    """'Lymph node, primary (any site) NEC' is C96.9 only when the note says primary (lexicon_rules
    'required_by_source'); the bare 'lymph' site (lymphatic channels) is not indexed ('drop_terms')."""
    from cac.lexicon.build import build_lexicon

    path = tmp_path / "neoplasm.xml"
    path.write_text(NEOPLASM, encoding="utf-8")
    rows = list(index_terms({"neoplasm": path}))
    assert ("secondary malignant neoplasm lymph node", "C77.9", "neoplasm") in rows
    by_code: dict[str, list] = {}
    for t in build_lexicon(_AnyCode(), extra=rows).terms:
        by_code.setdefault(t.code, []).append(t)
    assert by_code["C96.9"] and all("primary" in t.required for t in by_code["C96.9"])
    # a lymph node is the Table's lymph "gland" (normalization.json): one canonical word for both
    assert any(set(t.required) == {"secondary", "malignant", "neoplasm", "lymph", "gland"} for t in by_code["C77.9"])
    # 'lymph' alone stays for the row's other wording ('lymphatic channel'), never as a bare site
    lymph = [t for code in ("C49.9", "D49.2") for t in by_code[code] if "lymph" in t.required]
    assert lymph and all("channel" in t.required for t in lymph)


class _AnyCode:
    """A code set without a Tabular List that accepts every code: the lexicon holds the index terms alone."""

    def __iter__(self):
        return iter(())

    def __contains__(self, code: object) -> bool:
        return True
