"""Two models behind one API, each on its own worker: requests go to the model they name.

The second model is built here: a small random Llama with the default model's tokenizer, served
as "tiny-test". Its answers are gibberish, but greedy and its own, so each answer shows which
model made it. A LoRA adapter of it, built here too, is served as a third model, "tiny-lora".
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import redis as redis_lib
import requests
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tasks.contract import GenerationRequest
from tasks.settings import DEFAULT_MODEL, Settings
from tests import stack
from tests.samples import SERVICE_ENV

TINY, LORA = "tiny-test", "tiny-lora"
PROMPTS = [
    "The capital of France is",
    "Once upon a time",
    "Water boils at",
    "My favourite colour is",
    "The best way to learn is",
    "In 1492,",
    "To make bread you need",
    "The opposite of hot is",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, engine) -> Path:
    """A two-layer random Llama (peaked logits, so greedy answers have no near-ties)."""
    directory = tmp_path_factory.mktemp("tiny-model")
    tokenizer = engine.tokenizer
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_engine(tiny_model: Path):
    from model_worker.engine import Engine

    return Engine.from_settings(Settings.from_env({**SERVICE_ENV, "MODEL_NAME": str(tiny_model)}))


@pytest.fixture(scope="module")
def two_models(api: str, redis_url: str, logs_dir: Path, tiny_model: Path) -> str:
    """The API with the default model's worker and a worker serving the tiny model."""
    env = {**SERVICE_ENV, "MODEL_NAME": str(tiny_model), "SERVED_MODEL_NAME": TINY}
    proc = stack.start_worker(redis_url, logs_dir / "tiny-worker.log", env)
    stack.wait_until(lambda: TINY in _model_ids(api), 10, "the tiny model in /v1/models", proc)
    yield api
    stack.stop(proc)


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A random (not zero-initialised) LoRA adapter of the tiny model, as PEFT saves one."""
    from peft import LoraConfig, get_peft_model

    directory = tmp_path_factory.mktemp("tiny-lora")
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    get_peft_model(LlamaForCausalLM.from_pretrained(tiny_model), config).save_pretrained(directory)
    return directory


def _model_ids(base: str) -> list[str]:
    return [m["id"] for m in requests.get(f"{base}/v1/models", timeout=10).json()["data"]]


def _complete(base: str, model: str, prompt: str) -> dict:
    body = {"model": model, "prompt": prompt, "max_tokens": 8, "temperature": 0, "cache": "bypass"}
    response = requests.post(f"{base}/v1/completions", json=body, timeout=300)
    response.raise_for_status()
    return response.json()


def test_each_request_is_answered_by_the_model_it_names(two_models, engine, tiny_engine):
    expected = {
        (model, prompt): e.generate([GenerationRequest(prompt=prompt, max_tokens=8)])[0].text
        for model, e in ((DEFAULT_MODEL, engine), (TINY, tiny_engine))
        for prompt in PROMPTS
    }
    assert len(set(expected.values())) == len(expected)  # every answer tells its model
    asked = [(model, prompt) for model in (DEFAULT_MODEL, TINY) for prompt in PROMPTS] * 13  # 208 requests
    random.Random(0).shuffle(asked)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda item: _complete(two_models, *item), asked))
    wrong = [(item, a["choices"][0]["text"]) for item, a in zip(asked, answers, strict=True)
             if a["choices"][0]["text"] != expected[item] or a["model"] != item[0]]  # fmt: skip
    assert wrong == []


def test_a_batch_never_mixes_models(two_models):
    workers = {m["id"]: {w["hostname"] for w in m["workers"]} for m in _models(two_models) if "workers" in m}
    asked = [(model, prompt) for model in (DEFAULT_MODEL, TINY) for prompt in PROMPTS]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda item: _complete(two_models, *item), asked))
    for (model, _), answer in zip(asked, answers, strict=True):
        job = requests.get(f"{two_models}/v1/jobs/{answer['id'].removeprefix('cmpl-')}", timeout=10).json()
        assert job["model"] == model and job["worker"] in workers[model]
    assert not workers[DEFAULT_MODEL] & workers[TINY]


def test_the_model_list_shows_each_live_model_with_its_workers(two_models):
    listed = {m["id"]: m for m in _models(two_models)}
    assert next(iter(listed)) == DEFAULT_MODEL and listed[DEFAULT_MODEL]["default"] is True
    tiny = listed[TINY]
    assert tiny["owned_by"] and tiny["default"] is False and len(tiny["workers"]) == 1
    assert {"hostname", "device", "max_batch_size", "batch_wait_ms"} <= set(tiny["workers"][0])
    assert requests.get(f"{two_models}/v1/models/{TINY}", timeout=10).json()["id"] == TINY
    client = openai.OpenAI(base_url=f"{two_models}/v1", api_key="unused")
    assert TINY in [m.id for m in client.models.list()]


def test_an_unknown_model_is_404_in_both_shapes(two_models, redis_url):
    jobs = requests.post(f"{two_models}/v1/jobs", json={"prompt": "hi", "model": "no-such-model"}, timeout=10)
    assert jobs.status_code == 404 and jobs.json()["error"]["code"] == "model_not_found"
    client = openai.OpenAI(base_url=f"{two_models}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as raised:
        client.completions.create(model="no-such-model", prompt="hi", max_tokens=2)
    assert raised.value.body["code"] == "model_not_found"


def test_the_tokenizer_routes_take_the_model(two_models, tiny_engine):
    text = "Routing by model"
    tokens = requests.post(f"{two_models}/tokenize", json={"model": TINY, "prompt": text}, timeout=10).json()
    assert tokens["tokens"] == tiny_engine.tokenizer(text)["input_ids"]
    info = requests.get(f"{two_models}/tokenizer_info", params={"model": TINY}, timeout=10).json()
    assert info["max_model_len"] == 2048


def test_a_lora_adapter_is_served_as_a_model_of_its_own(two_models, redis_url, logs_dir, tiny_model, tiny_adapter):
    from model_worker.engine import Engine

    env = {**SERVICE_ENV, "MODEL_NAME": str(tiny_model), "ADAPTER_PATH": str(tiny_adapter), "SERVED_MODEL_NAME": LORA}
    adapted = Engine.from_settings(Settings.from_env(env))
    proc = stack.start_worker(redis_url, logs_dir / "lora-worker.log", env)
    try:
        stack.wait_until(lambda: LORA in _model_ids(two_models), 10, "the adapter in /v1/models", proc)
        listed = {m["id"]: m for m in _models(two_models)}[LORA]
        assert listed["parent"] == str(tiny_model) and listed["root"] == str(tiny_adapter)
        for prompt in PROMPTS[:4]:
            expected = adapted.generate([GenerationRequest(prompt=prompt, max_tokens=8)])[0].text
            body = {"prompt": prompt, "max_tokens": 8, "temperature": 0}  # cacheable: no hit may cross models
            base = requests.post(f"{two_models}/v1/completions", json={**body, "model": TINY}, timeout=120)
            lora = requests.post(f"{two_models}/v1/completions", json={**body, "model": LORA}, timeout=120)
            assert lora.headers["X-Cache"] == "MISS" and lora.json()["choices"][0]["text"] == expected
            assert base.json()["choices"][0]["text"] != expected  # the adapter changes the answers
            again = requests.post(f"{two_models}/v1/completions", json={**body, "model": LORA}, timeout=120)
            assert again.headers["X-Cache"] == "HIT" and again.json()["choices"][0]["text"] == expected
    finally:
        stack.stop(proc)


def test_a_known_model_with_no_live_worker_is_503_never_queued(redis_url, logs_dir):
    """An API listing a second model that no worker serves, on a Redis database of its own."""
    url = redis_url.rsplit("/", 1)[0] + "/3"
    env = {**SERVICE_ENV, "MODELS": "listed-model"}
    proc, base = stack.start_api(url, logs_dir / "models-api.log", env)
    try:
        for model in ("listed-model", None):  # the default has no worker on this database either
            body = {"prompt": "hi", **({"model": model} if model else {})}
            response = requests.post(f"{base}/v1/jobs", json=body, timeout=10)
            assert response.status_code == 503 and response.headers["Retry-After"]
            assert response.json()["error"]["code"] == "model_unavailable"
        chat = {"model": "listed-model", "messages": [{"role": "user", "content": "hi"}]}
        assert requests.post(f"{base}/v1/chat/completions", json=chat, timeout=10).status_code == 503
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["error"]["type"] == "service_unavailable"
        unknown = requests.post(f"{base}/v1/jobs", json={"prompt": "hi", "model": "never-heard-of"}, timeout=10)
        assert unknown.status_code == 404
        client = redis_lib.Redis.from_url(url)
        assert not any(client.llen(queue) for queue in client.scan_iter(match="llm.generate*@*"))
    finally:
        stack.stop(proc)


def _models(base: str) -> list[dict]:
    return requests.get(f"{base}/v1/models", timeout=10).json()["data"]
