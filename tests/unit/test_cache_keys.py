from tasks.contract import GenerationRequest, Message
from webapi.cache import keys


def _scope(**changes) -> str:
    base = {"prompt": "Hello", "max_tokens": 16}
    return keys.scope(GenerationRequest(**{**base, **changes}), "model-a")


def test_output_changing_parameters_split_the_scope():
    base = _scope()
    assert _scope(max_tokens=17) != base
    assert _scope(stop=("\n",)) != base
    assert _scope(temperature=0.5, seed=1) != base
    assert _scope(temperature=0.5, seed=1) != _scope(temperature=0.5, seed=2)
    assert keys.scope(GenerationRequest(prompt="Hello", max_tokens=16), "model-b") != base
    assert keys.scope(GenerationRequest(prompt="Hello", max_tokens=16), "model-a", tenant="t2") != base
    assert _scope(response_format={"type": "json_object"}) != base
    person = {"type": "json_schema", "name": "p", "schema": {"type": "object"}}
    assert _scope(response_format=person) not in (base, _scope(response_format={"type": "json_object"}))


def test_seed_and_top_p_do_not_split_greedy_requests():
    assert _scope(seed=5) == _scope()
    assert _scope(top_p=0.5) == _scope()
    assert _scope(prompt="Another prompt entirely") == _scope()  # the text is matched, not scoped


def test_a_chat_is_scoped_by_everything_before_its_last_message():
    def chat(*turns):
        return GenerationRequest(messages=tuple(Message(r, c) for r, c in turns))

    question = ("user", "What is it?")
    a = keys.scope(chat(("system", "You are terse."), question), "m")
    b = keys.scope(chat(("system", "You are verbose."), question), "m")
    c = keys.scope(chat(("user", "Tell me about Paris"), ("assistant", "A city."), question), "m")
    d = keys.scope(chat(question), "m")
    assert len({a, b, c, d}) == 4
    assert keys.query_text(chat(("system", "x"), question)) == "What is it?"
    assert keys.scope(GenerationRequest(prompt="What is it?"), "m") != d  # a prompt is not a chat


def test_exact_key_ignores_case_spacing_and_final_punctuation_only():
    scope = _scope()
    same = {keys.exact_key(scope, t) for t in ["What is Python?", "what is  python", " WHAT IS PYTHON ?! "]}
    assert len(same) == 1
    assert keys.exact_key(scope, "What is Python 3?") not in same


def test_only_deterministic_requests_are_cacheable():
    assert keys.cacheable(GenerationRequest(prompt="x"))
    assert keys.cacheable(GenerationRequest(prompt="x", temperature=0.9, seed=3))
    assert not keys.cacheable(GenerationRequest(prompt="x", logprobs=0))  # they belong to its exact tokens
    assert not keys.cacheable(GenerationRequest(prompt="x", max_tokens=0, prompt_logprobs=True))
    tool = {"name": "f", "description": "", "parameters": {"type": "object"}}
    assert not keys.cacheable(GenerationRequest(messages=(Message("user", "x"),), tools=(tool,), tool_choice="auto"))
    assert keys.cacheable(GenerationRequest(messages=(Message("user", "x"),), tools=(tool,), tool_choice="none"))
    assert not keys.cacheable(GenerationRequest(prompt="x", temperature=0.9))


def test_tools_and_earlier_calls_split_the_scope():
    tool = {"name": "get_weather", "description": "", "parameters": {"type": "object"}}
    ask = Message("user", "Weather in Oslo?")
    assert _scope(prompt=None, messages=(ask,)) != _scope(
        prompt=None, messages=(ask,), tools=(tool,), tool_choice="auto"
    )
    assert _scope(prompt=None, messages=(ask,), tools=(tool,), tool_choice="auto") != _scope(
        prompt=None, messages=(ask,), tools=(tool,), tool_choice="required"
    )
    call = {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    called = (ask, Message("assistant", "", tool_calls=(call,)), Message("tool", "4 degrees", tool_call_id="c"), ask)
    plain = (ask, Message("assistant", ""), Message("user", "4 degrees"), ask)
    assert _scope(prompt=None, messages=called) != _scope(prompt=None, messages=plain)
