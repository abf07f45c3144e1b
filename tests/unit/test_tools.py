"""Tool calls in the Hermes format: found in an answer, replayed, and forced by a grammar."""

import json

from llguidance import LLMatcher

from tasks import tools

WEATHER = {
    "name": "get_weather",
    "description": "",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "description": "", "parameters": {"type": "object", "properties": {}}}


def test_calls_are_parsed_out_of_the_answer_and_the_rest_is_the_content():
    text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    content, calls = tools.parse_calls(text, (WEATHER, TIME))
    assert content == "Let me check."
    assert [c["function"]["name"] for c in calls] == ["get_weather"] and calls[0]["type"] == "function"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"} and calls[0]["id"].startswith("call_")
    two = text + '\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    assert len(tools.parse_calls(two, (WEATHER, TIME))[1]) == 2
    assert tools.parse_calls(two, (WEATHER, TIME))[0] == "Let me check."


def test_what_is_not_a_valid_call_of_a_known_tool_stays_text():
    for text in (
        "<tool_call>\nnot json\n</tool_call>",
        '<tool_call>{"name": "launch", "arguments": {}}</tool_call>',
        "hi",
    ):
        assert tools.parse_calls(text, (WEATHER,)) == (text, [])


def test_a_replayed_call_parses_back_to_itself():
    replayed = tools.call_text("get_weather", '{"city": "Oslo"}')
    _, calls = tools.parse_calls(replayed, (WEATHER,))
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}


def test_required_and_named_choices_have_grammars_and_auto_has_none():
    assert tools.grammar((WEATHER, TIME), "auto") is None and tools.grammar((WEATHER, TIME), "none") is None
    for choice in ("required", "get_time"):
        assert LLMatcher.validate_grammar(tools.grammar((WEATHER, TIME), choice)) == ""


def test_tags_that_are_tokens_of_their_own_are_matched_by_id():
    class AddedTags:
        def get_added_vocab(self) -> dict[str, int]:
            return {"<tool_call>": 7, "</tool_call>": 8}

    class PlainText:
        def get_added_vocab(self) -> dict[str, int]:
            return {}

    assert tools.tag_terms(AddedTags()) == ("<[7]>", "<[8]>")
    assert tools.tag_terms(PlainText()) == ('"<tool_call>"', '"</tool_call>"')
    assert LLMatcher.validate_grammar(tools.grammar((WEATHER,), "required", tools.tag_terms(AddedTags()))) == ""
