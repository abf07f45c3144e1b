"""Semantic cache quality: would the cache answer B from A, on labelled prompt pairs?

    .venv/bin/python -m bench.cache_quality [--threshold T] [--paraphrase-threshold P] [--paraphrase-model off] [FILE]

A pair is served from the cache when MiniLM similarity >= threshold, no rule of the near-miss
guard names a change, a rewording the rules cannot compare reaches the rewording threshold, and
the paraphrase model scores it at or over its threshold. Prints recall on paraphrases, wrong hits on
near-misses (per category), whether the paraphrase model learnt the set, and writes
bench/results/cache_quality.json. tests/data/cache_pairs_dev*.jsonl are the sets the guard and
the threshold were tuned on (dev2 to dev13 were each written by a helper who saw neither the
guard nor the other sets, measured once, then tuned on); cache_pairs_heldout.jsonl and
cache_pairs_blind*.jsonl were each written by someone who had not seen the guard, and measured
sealed. The paraphrase model learnt from every set but blind14 to blind33
(paraphrase_training.HELD_OUT): blind14-21 chose its thresholds, blind22-25 and blind26-29 reported
earlier models, and blind30-33 (written before this one was trained) report it.
cache_pairs_cross*.jsonl pair prompts of different sets that the cache would have served one for
the other (by the rules alone, or the rules and the paraphrase model: cross_heldout*), labelled by
helpers who saw neither the guard nor the similarity: topical neighbours, as real traffic brings
them (cross_heldout_calibration and cross_heldout_calibration2 chose the thresholds;
cross_heldout_report3 pairs blind30-33's prompts with those of blind14-33).

    --output NAME --paraphrase-model DIR ...   another model or thresholds, as an earlier cache ran
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from tasks.settings import CacheBars, Settings
from webapi.cache import paraphrase
from webapi.cache.calibrate import load
from webapi.cache.embedder import Embedder
from webapi.cache.paraphrase import ParaphraseModel
from webapi.cache.paraphrase_training import HELD_OUT, training_sets

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
#: The sets the paraphrase model learnt from: not unseen for it.
LEARNT = {path.resolve() for path in training_sets()}
#: Topical neighbours among the prompts of blind14-33, which the model never learnt.
CROSS_HELD_OUT = [name for name in HELD_OUT if name.startswith("cache_pairs_cross")]


def evaluate(path: Path, embedder: Embedder, model: ParaphraseModel | None, bars: CacheBars) -> dict:
    """Score one pairs file."""
    pairs = load([path], embedder, model)
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: {"pairs": 0, "served": 0, "over_threshold": 0})
    by_label = {label: {"pairs": 0, "served": 0, "over_threshold": 0} for label in ("hit", "miss")}
    wrong = []
    for pair in pairs:
        over = pair.similarity >= bars.threshold
        served = pair.served(*bars)
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
        "threshold": bars.threshold,
        "paraphrase_threshold": bars.paraphrase_threshold if model else None,
        "rewording_threshold": bars.rewording_threshold,
        "learnt_by_paraphrase_model": model is not None and path.resolve() in LEARNT,
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
    parser.add_argument("--threshold", type=float, help="CACHE_THRESHOLD (default: the cache's)")
    parser.add_argument("--rewording-threshold", type=float, help="CACHE_REWORDING_THRESHOLD (default: the cache's)")
    parser.add_argument("--paraphrase-threshold", type=float, help="CACHE_PARAPHRASE_THRESHOLD (default: the cache's)")
    parser.add_argument("--paraphrase-model", default=Settings().paraphrase_model_dir, help="'off': the rules alone")
    parser.add_argument("--output", default="cache_quality", help="bench/results/<output>.json")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    dev_sets = sorted(DATA.glob("cache_pairs_dev*.jsonl"))  # the order the calibrate command reads them in
    blind = [f"blind{n}" for n in range(2, 34)]
    unseen = [f"cache_pairs_{name}.jsonl" for name in ("heldout", "blind", *blind, "cross")] + CROSS_HELD_OUT
    files = args.files or [*dev_sets, *(DATA / name for name in unseen)]
    embedder = Embedder().load()
    model = paraphrase.at(args.paraphrase_model)
    chosen = Settings(cache_threshold=args.threshold, cache_rewording_threshold=args.rewording_threshold,
                      cache_paraphrase_threshold=args.paraphrase_threshold)  # fmt: skip
    bars = chosen.cache_bars(model is not None)
    reports = [evaluate(path, embedder, model, bars) for path in files]
    header = ("set", "paraphrase recall", "(embedding only)", "wrong hits", "(emb. only)", "precision", "learnt")
    print("{:<28}{:>19}{:>18}{:>12}{:>13}{:>11}{:>8}".format(*header))
    for r in reports:
        print(
            f"{r['file']:<28}{r['paraphrase_recall']:>19.1%}{r['paraphrase_recall_embedding_only']:>18.1%}"
            f"{r['wrong_hits']:>6}/{r['near_misses']:<5}{r['wrong_hits_embedding_only']:>7}/{r['near_misses']:<5}"
            f"{r['precision']:>11.1%}{'yes' if r['learnt_by_paraphrase_model'] else '':>8}"
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
