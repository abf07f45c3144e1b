"""Tool calling through the official `openai` client: forced calls, a named call, a round trip."""

import json

import openai
import pytest

from tasks.settings import Settings

MODEL = Settings.from_env({}).model_name
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a timezone",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    },
}


@pytest.fixture(scope="module")
def client(api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0, timeout=120)


def _ask(client: openai.OpenAI, messages: list, **options):
    return client.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER, TIME], temperature=0, max_tokens=64, **options
    ).choices[0]


def test_a_required_call_round_trips(client):
    messages = [{"role": "user", "content": "What is the weather like in Oslo?"}]
    choice = _ask(client, messages, tool_choice="required")
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    assert call.function.name in ("get_weather", "get_time") and call.id.startswith("call_")
    if call.function.name == "get_weather":
        assert set(arguments) == {"city", "unit"} and arguments["unit"] in ("celsius", "fahrenheit")
    # The client sends the call and its result back; the model answers in words.
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "4 degrees celsius, light snow"},
    ]
    answer = _ask(client, messages, tool_choice="none")
    assert answer.finish_reason in ("stop", "length") and answer.message.content and not answer.message.tool_calls


def test_a_named_call_calls_that_function(client):
    named = {"type": "function", "function": {"name": "get_time"}}
    choice = _ask(client, [{"role": "user", "content": "What time is it in Tokyo?"}], tool_choice=named)
    assert [c.function.name for c in choice.message.tool_calls] == ["get_time"]
    assert "timezone" in json.loads(choice.message.tool_calls[0].function.arguments)


def test_a_streamed_call_arrives_as_openai_streams_it(client):
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the weather like in Oslo?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=64,
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for delta_call in chunk.choices[0].delta.tool_calls or []:  # as the SDK's own accumulators read them
            call = calls.setdefault(delta_call.index, {"name": "", "arguments": ""})
            call["name"] += delta_call.function.name or ""
            call["arguments"] += delta_call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "stop" and [c["name"] for c in calls.values()] == ["get_weather"]  # a named call: OpenAI's
    assert "city" in json.loads(calls[0]["arguments"])


def test_auto_lets_the_model_answer_in_words(client):
    choice = _ask(client, [{"role": "user", "content": "Say hello."}], tool_choice="auto")
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    assert choice.message.content or choice.message.tool_calls
