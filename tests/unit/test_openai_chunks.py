"""A whole answer cut into the chunks OpenAI streams: roles, text, logprobs, tool calls, usage."""

from tasks.contract import GenerationRequest, Message
from webapi import openai_chunks, openai_schema
from webapi.openai_schema import OpenAIRequest

CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}


def _job(job_id: str, **result) -> dict:
    base = {"text": "", "finish_reason": "stop", "prompt_tokens": 5, "completion_tokens": 3}
    return {"id": job_id, "created_at": 1.0, "result": {**base, **result}}


def _request(n: int = 1) -> OpenAIRequest:
    generation = GenerationRequest(messages=(Message("user", "hi"),))
    return OpenAIRequest(
        "chat", generation, stream=True, include_usage=True, cache_mode="auto", user=None, model="m", n=n
    )


def test_each_choice_streams_its_role_text_and_end_then_usage_comes_last():
    jobs = [_job("a", text="Hello", logprobs=[["Hello", -0.1, []]]), _job("b", text="Hi")]
    chunks = openai_chunks.whole(_request(2), openai_schema.response("chat", jobs, "m"))
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-a" for c in chunks)
    first = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["index"] == 0]
    assert [c["delta"] for c in first] == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {}]
    assert first[1]["logprobs"]["content"][0]["token"] == "Hello" and first[-1]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6


def test_a_call_streams_as_tool_call_deltas_with_their_index():
    jobs = [_job("a", finish_reason="tool_calls", tool_calls=[CALL])]
    chunks = openai_chunks.whole(_request(), openai_schema.response("chat", jobs, "m"))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[1] == {"tool_calls": [{"index": 0, **CALL}]}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
