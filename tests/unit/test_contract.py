import pytest

from tasks.contract import GenerationRequest, Message
from tests.samples import BAD_BODIES, LIMITS


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


@pytest.mark.parametrize(("body", "param", "error"), BAD_BODIES)
def test_bad_input_is_refused_naming_the_field(body, param, error):
    with pytest.raises(error) as raised:
        GenerationRequest.from_json(body, LIMITS)
    assert type(raised.value) is error
    assert raised.value.param == param
    assert raised.value.message


def test_tabs_newlines_and_non_ascii_text_are_fine():
    assert GenerationRequest.from_json({"prompt": "Ünïcödé 字 🙂\n\tok"}, LIMITS).prompt == "Ünïcödé 字 🙂\n\tok"
