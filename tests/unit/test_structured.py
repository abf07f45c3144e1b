"""response_format: what is accepted, and a bad schema refused naming the field at fault."""

import pytest

from tasks.errors import InvalidRequest
from tasks.structured import normalise

PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def test_text_is_free_output_and_json_formats_are_normalised():
    assert normalise(None) is None and normalise({"type": "text"}) is None
    assert normalise({"type": "json_object"}) == {"type": "json_object"}
    spec = {"name": "person", "schema": PERSON, "strict": True, "description": "one person"}
    normalised = normalise({"type": "json_schema", "json_schema": spec})
    assert normalised == {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    assert normalise(normalised) == normalised  # the worker checks the message again


SCHEMA = "response_format.json_schema.schema"


def _spec(**spec) -> dict:
    return {"type": "json_schema", "json_schema": spec}


@pytest.mark.parametrize(
    ("value", "param", "code"),
    [
        ("json", "response_format", "invalid_value"),
        ({"type": "xml"}, "response_format", "invalid_value"),
        ({"type": "json_object", "schema": PERSON}, "response_format.schema", "unknown_field"),
        ({"type": "json_schema"}, "response_format.json_schema", "invalid_value"),
        (_spec(schema=PERSON), "response_format.json_schema", "invalid_value"),
        (_spec(name="p", schema=[]), SCHEMA, "invalid_value"),
        (_spec(name="p", schema={"type": "objekt"}), SCHEMA, "invalid_value"),
        (_spec(name="p", schema={"$ref": "#/nowhere"}), SCHEMA, "invalid_value"),
        (_spec(name="p", schema=PERSON, extra=1), "response_format.json_schema.extra", "unknown_field"),
    ],
)
def test_a_bad_format_is_refused_naming_the_field(value, param, code):
    with pytest.raises(InvalidRequest) as refused:
        normalise(value)
    assert (refused.value.param, refused.value.code) == (param, code)
