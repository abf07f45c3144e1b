"""/tokenize, /detokenize and /tokenizer_info (vLLM's shapes) on the worker's own tokenizer."""

import requests

from tasks.settings import Settings

MODEL = Settings.from_env({}).model_name


def test_tokenize_counts_what_a_request_will_count(api, engine):
    text = "Hello world, this is a tokenizer test."
    tokenized = requests.post(f"{api}/tokenize", json={"model": MODEL, "prompt": text}, timeout=30).json()
    assert tokenized["tokens"] == engine.tokenizer(text)["input_ids"] and tokenized["count"] == len(tokenized["tokens"])
    assert tokenized["max_model_len"] == engine.context_length
    back = requests.post(f"{api}/detokenize", json={"tokens": tokenized["tokens"]}, timeout=30).json()
    assert back == {"prompt": text}
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    chat = requests.post(f"{api}/tokenize", json={"messages": messages}, timeout=30).json()
    answer = requests.post(
        f"{api}/v1/chat/completions",
        json={"model": MODEL, "messages": messages, "max_tokens": 2, "temperature": 0, "cache": "bypass"},
        timeout=60,
    ).json()
    assert chat["count"] == answer["usage"]["prompt_tokens"]


def test_tokenizer_info_and_bad_input(api):
    info = requests.get(f"{api}/tokenizer_info", timeout=30).json()
    assert info["eos_token"] and info["chat_template"] and info["max_model_len"] > 0
    bad = requests.post(f"{api}/detokenize", json={"tokens": [10**9]}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tokens"
    other = requests.post(f"{api}/tokenize", json={"model": "gpt-4", "prompt": "x"}, timeout=30)
    assert other.status_code == 404
