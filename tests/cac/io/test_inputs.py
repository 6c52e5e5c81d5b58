import base64
import json

import pytest

from cac.errors import InputError
from cac.io.inputs import parse_note, validate_text

LIMIT = 1000


def _fhir_docref(text: str, **extra) -> dict:
    return {"resourceType": "DocumentReference", "id": "doc-1", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain",
                                         "data": base64.b64encode(text.encode()).decode()}}], **extra}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "E001"),
        (b"   \n\t ", "E001"),
        (b"\x00\x01binary\x00", "E002"),
        (b"caf\xe9 au lait", "E003"),
        (b"x" * (LIMIT + 1), "E004"),
        (b"{not json", "E005"),
        (b'{"resourceType": "Bundle", "entry": []}', "E006"),
        (b'{"hello": 1}', "E006"),
        (b'{"resourceType": "Patient"}', "E007"),
        (b'{"resourceType": "DocumentReference", "content": [{"attachment": {"data": "!!!"}}]}', "E006"),
        (b'{"resourceType": "DocumentReference", "content": []}', "E008"),
    ],
)
def test_bad_input_gives_one_coded_error(data, code):
    with pytest.raises(InputError) as err:
        parse_note(data, LIMIT)
    assert err.value.code == code
    assert "\n" not in str(err.value)


def test_plain_text_and_bom():
    assert parse_note("\ufeffHypertension.".encode(), LIMIT).text == "Hypertension."


def test_fhir_document_reference_and_bundle():
    ref = _fhir_docref("Patient has asthma.", date="2026-05-01T10:00:00Z")
    note = parse_note(json.dumps(ref).encode(), 10_000)
    assert note.text == "Patient has asthma." and note.id == "doc-1" and note.source == "fhir"
    assert note.date_of_service == "2026-05-01"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": ref}]}
    assert parse_note(json.dumps(bundle).encode(), 10_000).text == "Patient has asthma."


def test_fhir_text_div_is_stripped_of_html():
    ref = {"resourceType": "DocumentReference", "text": {"div": "<div>Fever<br/>and cough &amp; rash</div>"}}
    assert parse_note(json.dumps(ref).encode(), 10_000).text == "Fever\nand cough & rash"


def test_validate_text_api():
    with pytest.raises(InputError, match="E001"):
        validate_text("  ", LIMIT)
    with pytest.raises(InputError, match="E004"):
        validate_text("é" * LIMIT, LIMIT)
    assert validate_text("ok", LIMIT) == "ok"
