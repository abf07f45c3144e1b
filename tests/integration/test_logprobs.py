"""Log-probabilities through the official `openai` client, and scoring a prompt as lm-eval does."""

import math

import openai
import pytest
import requests

from tasks.settings import Settings

MODEL = Settings.from_env({}).model_name


@pytest.fixture(scope="module")
def client(api) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0, timeout=120)


def test_chat_logprobs_are_the_chosen_tokens_and_their_alternatives(client):
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Name a primary colour."}],
        max_tokens=12,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    choice = completion.choices[0]
    content = choice.logprobs.content
    assert "".join(token.token for token in content) == choice.message.content
    for token in content:
        alternatives = [t.logprob for t in token.top_logprobs]
        assert len(alternatives) == 3 and alternatives == sorted(alternatives, reverse=True)
        assert token.logprob == pytest.approx(alternatives[0])  # greedy: the likeliest token is chosen
        assert sum(math.exp(lp) for lp in alternatives) <= 1 + 1e-4


def test_echo_scores_a_text_as_its_generation_did(api, client):
    prompt = "The capital of France is"
    generated = client.completions.create(model=MODEL, prompt=prompt, max_tokens=6, temperature=0, logprobs=1)
    choice = generated.choices[0]
    # lm-evaluation-harness's loglikelihood request, word for word: score the prompt, generate one token.
    body = {"model": MODEL, "prompt": [prompt + choice.text], "temperature": 0, "max_tokens": 1, "logprobs": 1}
    scored = requests.post(f"{api}/v1/completions", json={**body, "seed": 1234, "echo": True}, timeout=60).json()
    echoed = scored["choices"][0]
    assert echoed["text"].startswith(prompt + choice.text)
    logprobs, count = echoed["logprobs"], len(choice.logprobs.tokens)
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    continuation = slice(-count - 1, -1)  # lm-eval's [ctxlen:-1]: the last token is the generated one
    assert logprobs["tokens"][continuation] == choice.logprobs.tokens
    # Scoring feeds the text as a prompt, generation one token at a time: in float32 the two agree to
    # 1e-4; int8 (the CPU default) rounds each step's activations, and they part by up to ~0.5.
    assert logprobs["token_logprobs"][continuation] == pytest.approx(choice.logprobs.token_logprobs, abs=0.5)
    scored = zip(logprobs["token_logprobs"][continuation], logprobs["top_logprobs"][continuation], strict=True)
    for chosen, top in scored:
        assert chosen == max(top.values())  # lm-eval's is_greedy: the greedy continuation is the likeliest


def test_a_prompt_is_scored_without_generating_and_what_cannot_work_is_refused(api):
    body = {"model": MODEL, "prompt": "One, two, three", "max_tokens": 0, "echo": True, "logprobs": 0}
    scored = requests.post(f"{api}/v1/completions", json=body, timeout=60).json()
    assert scored["choices"][0]["text"] == "One, two, three" and scored["usage"]["completion_tokens"] == 0
    assert all(top is None or len(top) == 1 for top in scored["choices"][0]["logprobs"]["top_logprobs"])
    nothing = requests.post(f"{api}/v1/completions", json={**body, "logprobs": None}, timeout=60)
    assert nothing.status_code == 400 and nothing.json()["error"]["param"] == "max_tokens"  # nothing to do


def test_streamed_logprobs_arrive_with_the_text(client):
    body = {"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 8, "temperature": 0}
    whole = client.chat.completions.create(model=MODEL, logprobs=True, top_logprobs=2, **body).choices[0]
    chunks = list(client.chat.completions.create(model=MODEL, logprobs=True, top_logprobs=2, stream=True, **body))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    tokens = [t for c in chunks if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert text == whole.message.content and [t.token for t in tokens] == [t.token for t in whole.logprobs.content]
    assert chunks[-1].choices[0].finish_reason == whole.finish_reason
