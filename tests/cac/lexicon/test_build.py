"""Lexicon building: default ("without ...") forms of titles."""

import pytest

from cac.lexicon.build import default_title


def test_default_title_drops_without_clauses_and_keeps_the_other_axes():
    assert default_title("Hepatitis A without hepatic coma") == "Hepatitis A"
    assert default_title("Hyperuricemia without signs of inflammatory arthritis and tophaceous disease") == "Hyperuricemia"
    assert (default_title("Diverticulosis of large intestine without perforation or abscess with bleeding")
            == "Diverticulosis of large intestine with bleeding")
    assert default_title("Unilateral femoral hernia, without obstruction or gangrene, recurrent") == "Unilateral femoral hernia, recurrent"
    assert default_title("Essential (primary) hypertension") is None


def test_default_forms_reach_the_lexicon_only_where_no_term_names_them(coder):
    defaults = [t for t in coder.lexicon.terms if t.source == "title_default"]
    assert defaults, "no default title forms were indexed"
    e790 = [t for t in defaults if t.code == "E79.0"]
    assert e790 and e790[0].required == ("hyperuricemia",)
    # "Type 2 diabetes mellitus" is already the E11 category's own title: no default form for E11.9
    assert not any(t.code == "E11.9" for t in defaults)
    result = coder.code("He has hyperuricemia treated with allopurinol.", setting="inpatient", top_k=5)
    assert "E79.0" in {s.code for s in result.suggestions}


@pytest.mark.parametrize("sentence, code", [
    ("She had a right hemiparesis.", "G81.91"),
    ("Hyperreflexia in both lower limbs.", "R29.2"),
    ("He is anticoagulated with acenocoumarol.", "Z79.01"),
    ("Ultrasound showed bilateral nephrolithiasis.", "N20.0"),
    ("CT showed liver metastases.", "C78.7"),
    ("Laboratory tests showed lymphopenia.", "D72.810"),
    ("Diagnosis of surgical wound infection.", "T81.40XA"),
])
def test_index_supplement_names_what_the_tabular_wording_misses(coder, sentence: str, code: str):
    result = coder.code(sentence, setting="inpatient", top_k=5)
    assert code in {s.code for s in result.suggestions}


@pytest.mark.parametrize("sentence, code", [
    ("The cardiac axis was normal.", "S12.1"),  # 'Axis' is an inclusion term only under the C2 fracture heading
    ("He suffered a cardiac arrest.", "Z65.3"),  # 'Arrest' under 'Problems related to other legal circumstances'
    ("Growth of the lesion was seen in the midbrain.", "D49"),  # the colloquial "'growth' NOS" of D49
])
def test_heading_dependent_inclusion_terms_are_not_indexed(coder, sentence: str, code: str):
    result = coder.code(sentence, setting="inpatient", top_k=10)
    assert not any(s.code.startswith(code) for s in result.suggestions + result.candidates)


def test_wound_alone_is_a_generic_word(coder):
    """'Wound NOS' (T14.8) is an injury; in notes 'the wound' is mostly a surgical wound: a candidate only."""
    result = coder.code("The surgical wound was clean and dry.", setting="inpatient", top_k=10)
    assert not any(s.code.startswith("T14") for s in result.suggestions)


def test_the_digest_names_the_terms_not_where_they_were_loaded_from():
    from cac.lexicon.build import Lexicon, Term

    terms = [Term(("diabetes", "mellitus"), ("type",), "E11.9", "title", "Type 2 diabetes mellitus"),
             Term(("asthma",), (), "J45.909", "title", "Asthma")]
    built = Lexicon(list(terms))
    loaded = Lexicon.from_json(built.to_json())  # rows stay unparsed until read
    assert loaded.digest() == built.digest() and len(built.digest()) == 16
    assert loaded.terms[0] == terms[0] and loaded.digest() == built.digest()  # a parsed row: same digest
    assert Lexicon(terms[::-1]).digest() != built.digest()
    changed = Term(("asthma",), (), "J45.20", "title", "Asthma")
    assert Lexicon([terms[0], changed]).digest() != built.digest()
