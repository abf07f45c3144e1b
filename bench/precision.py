"""MODEL_DTYPE on the CPU: int8 against the float32 reference, for quality and for speed.

    .venv/bin/python -m bench.precision [--seconds 20]

Quality, on data the int8 path was not tuned on (SmoothQuant's alpha was chosen on Python's
documentation; this uses other texts): greedy answers to the 48 prompts of
bench/data/chat_prompts.txt (64 tokens: the share identical to float32's, and where the others
first differ), and perplexity on bench/data/perplexity.txt (2 048 tokens). Speed: the engine in
this process, closed loop (a finished row is replaced at once by the next request of the peers
workload), at 1, 8 and 16 rows, the two dtypes taking turns. Writes bench/results/precision.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from bench.peers import PROMPTS, workload
from bench.run import RESULTS, machine
from model_worker.attention import Feed
from model_worker.engine import Engine
from model_worker.sequence import Completion
from tasks.contract import GenerationRequest, Message
from tasks.settings import Settings

TEXT = Path(__file__).parent / "data" / "perplexity.txt"
PERPLEXITY_TOKENS = 2048


def perplexity(engine: Engine) -> float:
    """exp(mean negative log-likelihood) of the text's first PERPLEXITY_TOKENS tokens, 512 at a time."""
    ids = engine.tokenizer(TEXT.read_text())["input_ids"][: PERPLEXITY_TOKENS + 1]
    nll = 0.0
    with torch.inference_mode():
        for start in range(0, len(ids) - 1, 512):
            chunk = ids[start : start + 513]
            logits = engine.forward.forward([Feed(0, start, chunk[:-1], True, every_logit=True)])
            targets = torch.tensor(chunk[1:], device=logits.device)[:, None]
            nll -= torch.log_softmax(logits, dim=-1).gather(1, targets).sum().item()
    return math.exp(nll / (len(ids) - 1))


def greedy_answers(engine: Engine) -> list[list[int]]:
    """The generated tokens of each prompt, alone (64 tokens at most)."""
    answers = []
    for prompt in PROMPTS.read_text().splitlines():
        seq = engine.prepare(GenerationRequest(messages=(Message("user", prompt),), max_tokens=64))
        engine.add(seq)
        while engine.rows:
            engine.step()
        answers.append(seq.generated)
    return answers


def closed_loop(engine: Engine, rows: int, seconds: float) -> float:
    """Tokens/s with `rows` requests always in the batch (the peers workload, streamed)."""
    requests = iter(workload(100_000))

    def add() -> None:
        prompt, max_tokens = next(requests)
        request = GenerationRequest(messages=(Message("user", prompt),), max_tokens=max_tokens)
        engine.add(engine.prepare(request, stream=True))

    for _ in range(rows):
        add()
    tokens, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        for _, outcome in engine.step().finished:
            tokens += outcome.completion_tokens if isinstance(outcome, Completion) else 0
            add()
    for seq in list(engine.rows):
        engine.remove(seq)
    return round(tokens / (time.monotonic() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="per dtype and row count, in 3 alternating parts")
    args = parser.parse_args()
    engines: dict[str, Engine] = {}
    figures: dict[str, dict[str, Any]] = {}
    answers: dict[str, list[list[int]]] = {}
    for dtype in ("float32", "int8"):
        started = time.monotonic()
        engines[dtype] = Engine.from_settings(Settings.from_env({"MODEL_DTYPE": dtype, "MAX_BATCH_SIZE": "16"}))
        figures[dtype] = {"load_s": round(time.monotonic() - started, 1)}
        answers[dtype] = greedy_answers(engines[dtype])
        figures[dtype]["perplexity"] = round(perplexity(engines[dtype]), 3)
    for dtype in engines:
        figures[dtype]["tokens_per_s"] = {}
    for rows in (1, 8, 16):  # the dtypes take turns, so a slower minute of this machine hits both
        rates: dict[str, list[float]] = {dtype: [] for dtype in engines}
        for _ in range(3):
            for dtype, engine in engines.items():
                rates[dtype].append(closed_loop(engine, rows, args.seconds / 3))
        for dtype in engines:
            figures[dtype]["tokens_per_s"][str(rows)] = round(statistics.mean(rates[dtype]), 1)
    for dtype in engines:
        print(dtype, json.dumps(figures[dtype]), flush=True)
    pairs = list(zip(answers["float32"], answers["int8"], strict=True))
    divergences = [
        next((i for i, (a, b) in enumerate(zip(x, y, strict=False)) if a != b), min(len(x), len(y)))
        for x, y in pairs
        if x != y
    ]
    comparison = {
        "prompts": len(pairs),
        "identical_answers": sum(x == y for x, y in pairs),
        "first_divergence_median_token": statistics.median(divergences) if divergences else None,
        "perplexity_ratio": round(figures["int8"]["perplexity"] / figures["float32"]["perplexity"], 3),
        "speedup_at_16_rows": round(
            figures["int8"]["tokens_per_s"]["16"] / figures["float32"]["tokens_per_s"]["16"], 2
        ),
    }
    print(json.dumps(comparison, indent=2))
    result = {"scenario": "precision", "dtypes": figures, "int8_vs_float32": comparison, "machine": machine()}
    result["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "precision.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
