"""Verified hits: does comparing answers tell a wrong hit from a right one?

    .venv/bin/python -m bench.cache_verify [--max-tokens 64]

For every labelled pair (tests/data/cache_pairs_*.jsonl) the model answers both prompts, greedy,
as a chat (the engine in this process, MODEL_DTYPE as configured). A verification compares the
cached answer (to A) with a fresh one (to B): equal text, or MiniLM similarity of the answers
at or over ANSWER_SIMILARITY, passes. For each set: the share of paraphrase pairs that pass (a
failure there evicts a good entry) and of near-misses that fail (a wrong hit caught), over a
range of thresholds; ANSWER_SIMILARITY is chosen on the dev set. Writes
bench/results/cache_verify.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.run import RESULTS, machine
from model_worker.engine import Engine
from tasks.contract import GenerationRequest, Message
from tasks.settings import Settings
from webapi.cache.embedder import Embedder
from webapi.cache.verify import ANSWER_SIMILARITY

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = ("cache_pairs_dev.jsonl", "cache_pairs_heldout.jsonl", "cache_pairs_blind.jsonl")


def answers(engine: Engine, prompts: list[str], max_tokens: int) -> dict[str, str]:
    """Each distinct prompt's greedy answer, batched."""
    pending = [
        engine.prepare(GenerationRequest(messages=(Message("user", p),), max_tokens=max_tokens), key=p)
        for p in dict.fromkeys(prompts)
    ]
    texts = {}
    while pending or engine.rows:
        while pending and engine.free:
            engine.add(pending.pop())
        for seq, outcome in engine.step().finished:
            texts[seq.key] = outcome.text
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    engine, embedder = Engine.from_settings(Settings.from_env()), Embedder().load()
    report = {"scenario": "cache_verify", "machine": machine(), "answer_similarity": ANSWER_SIMILARITY, "sets": {}}
    for name in SETS:
        pairs = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
        texts = answers(engine, [p[k] for p in pairs for k in ("a", "b")], args.max_tokens)
        vectors = embedder.embed([texts[p["a"]] for p in pairs] + [texts[p["b"]] for p in pairs])
        n = len(pairs)
        scored = [
            (p["label"], texts[p["a"]].split() == texts[p["b"]].split(), float(vectors[i] @ vectors[n + i]))
            for i, p in enumerate(pairs)
        ]
        curve = {}
        for step in range(70, 100, 2):
            threshold = step / 100
            passes = [(label, same or sim >= threshold) for label, same, sim in scored]
            hits = [ok for label, ok in passes if label == "hit"]
            misses = [ok for label, ok in passes if label == "miss"]
            curve[threshold] = {
                "paraphrases_passed": round(sum(hits) / len(hits), 3),
                "near_misses_failed": round(1 - sum(misses) / len(misses), 3),
            }
        report["sets"][name] = {"pairs": n, "identical_answers": sum(same for _, same, _ in scored), "curve": curve}
        print(name)
        for threshold, point in curve.items():
            mark = "  <- ANSWER_SIMILARITY" if abs(threshold - ANSWER_SIMILARITY) < 1e-9 else ""
            print(
                f"  {threshold:.2f}  paraphrases passed {point['paraphrases_passed']:6.1%}"
                f"  near-misses failed {point['near_misses_failed']:6.1%}{mark}"
            )
    (RESULTS / "cache_verify.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
