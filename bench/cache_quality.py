"""Semantic cache quality: would the cache answer B from A, on labelled prompt pairs?

    .venv/bin/python -m bench.cache_quality [--threshold CACHE_THRESHOLD] [FILE ...]

A pair is served from the cache when MiniLM similarity >= threshold and the near-miss guard
finds no conflict. Prints recall on paraphrases, wrong hits on near-misses (per category), and
writes bench/results/cache_quality.json. tests/data/cache_pairs_dev*.jsonl are the sets the guard
and the threshold were tuned on (dev2 to dev13 were each written by a helper who saw neither the
guard nor the other sets, measured once, then tuned on); cache_pairs_heldout.jsonl and
cache_pairs_blind*.jsonl were each written by someone who had not seen the guard, and are never
tuned on. Those sets pair a prompt with a near copy; cache_pairs_cross*.jsonl pair prompts of
different sets that the cache (before the rewording threshold) would have served one for the
other, labelled by helpers who saw neither the guard nor the similarity: topical neighbours, as
real traffic brings them (the calibration set chose CACHE_REWORDING_THRESHOLD; cache_pairs_cross
is the report set).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from tasks.settings import Settings
from webapi.cache.calibrate import load
from webapi.cache.embedder import Embedder

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def evaluate(path: Path, embedder: Embedder, threshold: float, rewording_threshold: float) -> dict:
    """Score one pairs file."""
    pairs = load([path], embedder)
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: {"pairs": 0, "served": 0, "over_threshold": 0})
    by_label = {label: {"pairs": 0, "served": 0, "over_threshold": 0} for label in ("hit", "miss")}
    wrong = []
    for pair in pairs:
        over = pair.similarity >= threshold
        served = pair.served(threshold, rewording_threshold)
        label = "hit" if pair.same else "miss"
        # A review set may use one category for both labels ("rule1"): its hits and misses count apart.
        for stats in (by_category[pair.category if pair.category else label], by_label[label]):
            stats["pairs"] += 1
            stats["over_threshold"] += over
            stats["served"] += served
        if served != pair.same:
            wrong.append(asdict(pair) | {"similarity": round(pair.similarity, 3), "served": served})
    hits, misses = by_label["hit"], by_label["miss"]
    near_misses, wrong_hits = misses["pairs"], misses["served"]
    return {
        "file": path.name,
        "threshold": threshold,
        "paraphrases": hits["pairs"],
        "paraphrase_recall": round(hits["served"] / hits["pairs"], 3),
        "paraphrase_recall_embedding_only": round(hits["over_threshold"] / hits["pairs"], 3),
        "near_misses": near_misses,
        "wrong_hits": wrong_hits,
        "wrong_hits_embedding_only": misses["over_threshold"],
        "wrong_hits_per_35": round(35 * wrong_hits / near_misses, 2),
        "precision": round(hits["served"] / max(1, hits["served"] + wrong_hits), 3),
        "by_category": dict(by_category),
        "errors": wrong,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--threshold", type=float, default=Settings().cache_threshold)
    parser.add_argument("--rewording-threshold", type=float, default=Settings().cache_rewording_threshold)
    parser.add_argument("--output", default="cache_quality", help="bench/results/<output>.json")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    dev_sets = sorted(DATA.glob("cache_pairs_dev*.jsonl"))  # the order the calibrate command reads them in
    blind = [f"blind{n}" for n in range(2, 22)]
    unseen = [f"cache_pairs_{name}.jsonl" for name in ("heldout", "blind", *blind, "cross")]
    files = args.files or [*dev_sets, *(DATA / name for name in unseen)]
    embedder = Embedder().load()
    reports = [evaluate(path, embedder, args.threshold, args.rewording_threshold) for path in files]
    header = ("set", "paraphrase recall", "(embedding only)", "wrong hits", "(emb. only)", "precision")
    print("{:<28}{:>19}{:>18}{:>12}{:>13}{:>11}".format(*header))
    for r in reports:
        print(
            f"{r['file']:<28}{r['paraphrase_recall']:>19.1%}{r['paraphrase_recall_embedding_only']:>18.1%}"
            f"{r['wrong_hits']:>6}/{r['near_misses']:<5}{r['wrong_hits_embedding_only']:>7}/{r['near_misses']:<5}"
            f"{r['precision']:>11.1%}"
        )
        if args.show_errors:
            for e in r["errors"]:
                print(
                    f"   {'WRONG HIT' if e['served'] else 'missed':9} {e['category']:10} {e['similarity']:.3f} "
                    f"{e['refusal']!s:9} {e['a']!r} | {e['b']!r}"
                )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(reports, indent=2) + "\n")


if __name__ == "__main__":
    main()
