"""Translating OpenAI request bodies: what is taken, what is refused and named."""

import pytest

from tasks.contract import GenerationRequest, Limits, Message
from tasks.errors import InvalidRequest, NotFound
from webapi import openai_schema

MODEL = "org/model"
LIMITS = Limits()


def _resolve(model):
    """What the API's model registry does for a server that serves MODEL alone."""
    if model != MODEL:
        raise NotFound(f"the model {model!r} does not exist", "model", "model_not_found")
    return model


def _parse(kind, **body):
    return openai_schema.parse(kind, {"model": MODEL, **body}, LIMITS, _resolve)


def test_a_chat_request_becomes_a_generation_request():
    parsed = _parse(
        "chat",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
        ],
        max_completion_tokens=12,
        temperature=0,
        stop="\n",
        seed=3,
        n=1,
        presence_penalty=0,
        stream=True,
        stream_options={"include_usage": True},
        user="u-1",
    )
    assert parsed.generation == GenerationRequest(
        messages=(Message("system", "Be brief."), Message("user", "Hi\nthere")),
        max_tokens=12,
        temperature=0.0,
        stop=("\n",),
        seed=3,
    )
    assert (parsed.stream, parsed.include_usage, parsed.user, parsed.cache_mode) == (True, True, "u-1", "auto")


def test_sampling_is_on_by_default_as_in_openai():
    parsed = _parse("completion", prompt=["Once upon a time"])
    assert parsed.generation.prompt == "Once upon a time"
    assert parsed.generation.temperature == 1.0 and not parsed.stream


TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"echo": True}, "echo", "unsupported_parameter"),  # a completions field
        ({"logprobs": 3}, "logprobs", "wrong_type"),  # chat's is a flag
        ({"top_logprobs": 2}, "top_logprobs", "invalid_value"),  # without logprobs: true
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "invalid_value"),
        ({"n": 0}, "n", "invalid_value"),
        ({"n": 17}, "n", "invalid_value"),
        ({"tools": [{"type": "function"}]}, "tools[0]", "invalid_value"),
        (
            {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice.function.name",
            None,
        ),
        ({"tool_choice": "required"}, "tool_choice", "invalid_value"),  # no tools to call
        ({"frequency_penalty": 0.5}, "frequency_penalty", "unsupported_parameter"),
        ({"colour": "blue"}, "colour", "unknown_parameter"),
        ({"prompt": "not a chat field"}, "prompt", "unknown_parameter"),
        ({"stream_options": {"include_usage": True}}, "stream_options", "invalid_value"),
        ({"stream": "yes"}, "stream", "wrong_type"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id", None),
        ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name", "unsupported_parameter"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content[0]", None),
        ({"temperature": 3}, "temperature", "out_of_range"),
        ({"cache": "sometimes"}, "cache", "invalid_value"),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(body, param, code):
    with pytest.raises(InvalidRequest) as refused:
        _parse("chat", **{"messages": [{"role": "user", "content": "Hi"}], **body})
    assert refused.value.param == param
    assert code is None or refused.value.code == code


def test_logprobs_on_chat_are_a_flag_and_on_completions_a_count_with_echo_scoring_the_prompt():
    chat = _parse("chat", messages=[{"role": "user", "content": "Hi"}], logprobs=True, top_logprobs=3)
    assert chat.generation.logprobs == 3 and not chat.generation.prompt_logprobs
    assert _parse("chat", messages=[{"role": "user", "content": "Hi"}], logprobs=True).generation.logprobs == 0
    assert _parse("chat", messages=[{"role": "user", "content": "Hi"}]).generation.logprobs is None
    scoring = _parse("completion", prompt="Hi there", logprobs=1, echo=True, max_tokens=0)
    assert scoring.echo and scoring.generation.prompt_logprobs and scoring.generation.max_tokens == 0
    echo_only = _parse("completion", prompt="Hi there", echo=True)
    assert echo_only.echo and not echo_only.generation.prompt_logprobs  # text only: nothing to score
    with pytest.raises(InvalidRequest) as nothing_to_do:
        _parse("completion", prompt="Hi there", echo=True, max_tokens=0)
    assert nothing_to_do.value.param == "max_tokens"


def test_tools_and_a_tool_round_trip_are_a_chat_request():
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    parsed = _parse(
        "chat",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "4 degrees, snow"},
        ],
        tools=[TOOL],
        tool_choice="auto",
    )
    request = parsed.generation
    assert request.tools == ({"name": "get_weather", "description": "", "parameters": {"type": "object"}},)
    assert request.tool_choice == "auto" and request.messages[1].tool_calls == (call,)
    assert request.messages[2].role == "tool" and request.messages[2].tool_call_id == "call_1"
    again = GenerationRequest.from_json(request.to_json(), LIMITS)  # the worker checks the message again
    assert again == request
    named = _parse("chat", messages=[{"role": "user", "content": "x"}], tools=[TOOL], tool_choice=TOOL)
    assert named.generation.tool_choice == "get_weather"
    assert GenerationRequest.from_json(named.generation.to_json(), LIMITS) == named.generation


def test_what_must_be_whole_first_streams_whole():
    chat = {"messages": [{"role": "user", "content": "Hi"}], "stream": True}
    assert not _parse("chat", **chat).streams_whole  # plain text streams as it is generated
    for extra in ({"n": 2}, {"logprobs": True}, {"tools": [TOOL]}):
        assert _parse("chat", **chat, **extra).streams_whole
    assert not _parse("chat", **chat, tools=[TOOL], tool_choice="none").streams_whole


def test_a_prompt_list_of_several_is_refused():
    with pytest.raises(InvalidRequest, match="one request per prompt"):
        _parse("completion", prompt=["a", "b"])


def test_an_unknown_model_is_not_found_and_a_missing_one_is_invalid():
    with pytest.raises(NotFound) as unknown:
        _parse("completion", prompt="x", model="gpt-4")
    assert unknown.value.code == "model_not_found"
    with pytest.raises(InvalidRequest, match="model"):
        openai_schema.parse("completion", {"prompt": "x"}, LIMITS, _resolve)


def test_n_choices_are_n_requests_and_a_seed_makes_each_reproducible():
    seeded = _parse("completion", prompt="Once", n=3, seed=41, temperature=0.8)
    assert [g.seed for g in seeded.generations()] == [41, 42, 43]
    assert {g.prompt for g in seeded.generations()} == {"Once"}
    unseeded = _parse("completion", prompt="Once", n=2)
    assert unseeded.generations() == [unseeded.generation] * 2
    assert _parse("completion", prompt="Once").generations() == [unseeded.generation]
