import pytest

from tasks.contract import GenerationRequest, Limits, Message
from tasks.errors import InvalidRequest, MalformedBody

LIMITS = Limits(max_new_tokens=512, default_max_tokens=64, max_prompt_chars=100)


def test_a_prompt_request_gets_greedy_defaults_and_survives_the_queue():
    request = GenerationRequest.from_json({"prompt": "Hello"}, LIMITS)
    assert (request.max_tokens, request.temperature, request.top_p, request.stop, request.seed) == (64, 0, 1, (), None)
    assert request.greedy
    assert GenerationRequest.from_json(request.to_json(), LIMITS) == request


def test_a_chat_request_round_trips():
    body = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_tokens": 5,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": "\n",
        "seed": 3,
    }
    request = GenerationRequest.from_json(body, LIMITS)
    assert request.messages == (Message("system", "Be brief."), Message("user", "Hi"))
    assert request.stop == ("\n",)
    assert GenerationRequest.from_json(request.to_json(), LIMITS) == request


def test_sampling_keys_split_only_what_cannot_share_a_call():
    greedy = [GenerationRequest(prompt="a", max_tokens=5), GenerationRequest(prompt="b", max_tokens=50, stop=("x",))]
    assert greedy[0].sampling_key() == greedy[1].sampling_key()
    seeded = [
        GenerationRequest(prompt="a", temperature=1, seed=1),
        GenerationRequest(prompt="a", temperature=1, seed=2),
    ]
    assert seeded[0].sampling_key() != seeded[1].sampling_key()
    assert GenerationRequest(prompt="a", temperature=0, seed=1).sampling_key() == greedy[0].sampling_key()


BAD_BODIES = [
    ([], None, MalformedBody),
    ("prompt", None, MalformedBody),
    ({}, "prompt", InvalidRequest),
    ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "prompt", InvalidRequest),
    ({"prompt": ""}, "prompt", InvalidRequest),
    ({"prompt": " \n\t "}, "prompt", InvalidRequest),
    ({"prompt": 42}, "prompt", InvalidRequest),
    ({"prompt": ["a"]}, "prompt", InvalidRequest),
    ({"prompt": "x" * (LIMITS.max_prompt_chars + 1)}, "prompt", InvalidRequest),
    ({"prompt": "nul\x00byte"}, "prompt", InvalidRequest),
    ({"prompt": "bell\x07"}, "prompt", InvalidRequest),
    ({"prompt": "lone \ud800 surrogate"}, "prompt", InvalidRequest),
    ({"prompt": "x", "max_tokens": 0}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": 513}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": 10**30}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": "10"}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": True}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "max_tokens": 1.5}, "max_tokens", InvalidRequest),
    ({"prompt": "x", "temperature": -0.1}, "temperature", InvalidRequest),
    ({"prompt": "x", "temperature": 2.01}, "temperature", InvalidRequest),
    ({"prompt": "x", "temperature": float("nan")}, "temperature", InvalidRequest),
    ({"prompt": "x", "temperature": "hot"}, "temperature", InvalidRequest),
    ({"prompt": "x", "top_p": 0}, "top_p", InvalidRequest),
    ({"prompt": "x", "top_p": 1.1}, "top_p", InvalidRequest),
    ({"prompt": "x", "stop": ""}, "stop", InvalidRequest),
    ({"prompt": "x", "stop": [1]}, "stop", InvalidRequest),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop", InvalidRequest),
    ({"prompt": "x", "seed": -1}, "seed", InvalidRequest),
    ({"prompt": "x", "seed": "1"}, "seed", InvalidRequest),
    ({"prompt": "x", "stream": True}, "stream", InvalidRequest),
    ({"prompt": "x", "timeout": 3}, "timeout", InvalidRequest),
    ({"messages": []}, "messages", InvalidRequest),
    ({"messages": "hi"}, "messages", InvalidRequest),
    ({"messages": [{"role": "user"}]}, "messages[0]", InvalidRequest),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", InvalidRequest),
    ({"messages": [{"role": "user", "content": {"nested": ["junk"]}}]}, "messages[0].content", InvalidRequest),
    (
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]},
        "messages",
        InvalidRequest,
    ),
]


@pytest.mark.parametrize(("body", "param", "error"), BAD_BODIES)
def test_bad_input_is_refused_naming_the_field(body, param, error):
    with pytest.raises(error) as raised:
        GenerationRequest.from_json(body, LIMITS)
    assert type(raised.value) is error
    assert raised.value.param == param
    assert raised.value.message


def test_tabs_newlines_and_non_ascii_text_are_fine():
    assert GenerationRequest.from_json({"prompt": "Ünïcödé 字 🙂\n\tok"}, LIMITS).prompt == "Ünïcödé 字 🙂\n\tok"
