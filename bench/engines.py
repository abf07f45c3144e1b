"""Our engine against transformers' own continuous batching (`model.generate_batch`), in-process.

    .venv/bin/python -m bench.engines [--rounds 2]

The 48 prompts of bench/data/chat_prompts.txt, 64 greedy tokens each, 16 rows at a time, on the
configured device: transformers' ContinuousBatchingManager in float32, our engine in float32
and in int8, taking turns `--rounds` times. Writes bench/results/engines.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch
from transformers import GenerationConfig
from transformers.generation.configuration_utils import ContinuousBatchingConfig

from bench.peers import PROMPTS
from bench.run import RESULTS, machine
from model_worker import loading
from model_worker.engine import Engine
from tasks.contract import GenerationRequest, Message
from tasks.settings import Settings

ROWS, TOKENS = 16, 64


def ours(settings: Settings, dtype: str) -> float:
    """Tokens/s of our engine: a finished row's slot goes to the next prompt at the next step."""
    model, tokenizer = loading.load(settings.model_name, settings.model_cache_dir, torch.device("cpu"))
    engine = Engine(model, tokenizer, settings.model_name, ROWS, 256, dtype, settings.model_cache_dir, 0)
    prompts = PROMPTS.read_text().splitlines()
    pending = [engine.prepare(GenerationRequest(messages=(Message("user", p),), max_tokens=TOKENS)) for p in prompts]
    tokens, started = 0, time.monotonic()
    while pending or engine.rows:
        while pending and engine.free:
            engine.add(pending.pop(0))
        tokens += sum(outcome.completion_tokens for _, outcome in engine.step().finished)
    return tokens / (time.monotonic() - started)


def transformers_cb(settings: Settings) -> float:
    """Tokens/s of transformers' ContinuousBatchingManager on the same prompts (float32)."""
    model, tokenizer = loading.load(settings.model_name, settings.model_cache_dir, torch.device("cpu"))
    chats = [[{"role": "user", "content": p}] for p in PROMPTS.read_text().splitlines()]
    inputs = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]
    inputs = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in inputs]
    config = GenerationConfig(max_new_tokens=TOKENS, do_sample=False, eos_token_id=tokenizer.eos_token_id)
    batching = ContinuousBatchingConfig(max_batch_tokens=256, max_requests_per_batch=ROWS)
    started = time.monotonic()
    outputs = model.generate_batch(
        inputs=inputs, generation_config=config, continuous_batching_config=batching, warmup=False
    )
    return sum(len(o.generated_tokens) for o in outputs.values()) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    settings = Settings()
    contenders: dict[str, Callable[[], float]] = {
        "transformers_cb_float32": lambda: transformers_cb(settings),
        "ours_float32": lambda: ours(settings, "float32"),
        "ours_int8": lambda: ours(settings, "int8"),
    }
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    ours(settings, "int8")  # compiles the kernels and caches the smoothing scales first
    for _ in range(args.rounds):
        for name, run in contenders.items():
            runs[name].append(round(run(), 1))
            print(name, runs[name][-1], "tokens/s", flush=True)
    result = {
        "scenario": "engines",
        "machine": machine(),
        "rows": ROWS,
        "max_tokens": TOKENS,
        "tokens_per_s": {name: max(values) for name, values in runs.items()},
        "runs": runs,
    }
    (RESULTS / "engines.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["tokens_per_s"]))


if __name__ == "__main__":
    main()
