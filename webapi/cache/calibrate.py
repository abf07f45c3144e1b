"""Choose the cache's thresholds from labelled prompt pairs instead of by hand.

    llm-cache calibrate PAIRS.jsonl [PAIRS.jsonl ...] [--max-false-rate 0.0125]
                        [--sweep threshold | paraphrase | all] [--max-topical-false-rate R]
    llm-cache train-paraphrase [--output DIR]

Each line of a pairs file is `{"a": str, "b": str, "label": "hit" | "miss"}`: would one answer
serve both prompts? For every candidate threshold the command measures what the cache would do
(MiniLM similarity at or over CACHE_THRESHOLD, no guard rule naming a change, a rewording the
rules cannot compare at or over CACHE_REWORDING_THRESHOLD, and the paraphrase model's score at or
over CACHE_PARAPHRASE_THRESHOLD): the share of paraphrases served and the share of near-misses
wrongly served. It sweeps CACHE_THRESHOLD, or with `--sweep paraphrase`
CACHE_PARAPHRASE_THRESHOLD, or with `--sweep all` the three thresholds together, and recommends the
setting that serves the most paraphrases while its false-hit rate stays within `--max-false-rate`
(on a tie, the higher thresholds: the safer), as RedisVL's threshold optimizer does, and prints the
curve. Pairs of category "topical" (two different questions on one topic, as real traffic brings
them: tests/data/cache_pairs_cross*) are counted apart, and `--max-topical-false-rate` bounds the
share of their wrong ones served. Calibrate on sets the paraphrase model did not learn from
(paraphrase_training.HELD_OUT).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tasks.settings import CacheBars, Settings
from webapi.cache import paraphrase, paraphrase_training
from webapi.cache.embedder import Embedder
from webapi.cache.guard import Verdict, judge
from webapi.cache.paraphrase import ParaphraseModel


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool  # labelled a paraphrase: one answer serves both
    similarity: float
    refusal: str | None  # the near-miss guard's reason to refuse, None when it agrees
    category: str = ""
    reworded: bool = False  # a rewording the guard cannot compare: it needs the rewording threshold
    paraphrase: float | None = None  # the paraphrase model's score, where it has a say

    def served(self, threshold: float, rewording_threshold: float, paraphrase_threshold: float = 0.0) -> bool:
        """Would the cache answer B from A: similar enough, and the guard and the paraphrase model
        agree (as SemanticCache asks)."""
        verdict = Verdict(self.refusal, self.reworded)
        alike = None if self.paraphrase is None else self.paraphrase >= paraphrase_threshold
        return self.similarity >= threshold and verdict.refusal_at(self.similarity, rewording_threshold, alike) is None


@dataclass(frozen=True)
class Point:
    threshold: float
    rewording_threshold: float
    paraphrase_threshold: float
    paraphrases_served: float  # share of paraphrases the cache serves
    false_hits: float  # share of near-misses it wrongly serves
    false_hit_count: int
    topical_false_hits: float | None = None  # share of wrong topical neighbours served (None: none labelled)
    topical_false_hit_count: int = 0


#: The categories of labelled pairs of different questions on one topic, not near copies (the
#: first cross sets name theirs "cross").
TOPICAL = ("topical", "cross")


def load(paths: list[Path], embedder: Embedder, model: ParaphraseModel | None = None) -> list[Pair]:
    """The labelled pairs of these files, judged (`judged`)."""
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]
    return judged(rows, embedder, model)


def judged(rows: list[dict], embedder: Embedder, model: ParaphraseModel | None = None) -> list[Pair]:
    """Labelled pairs with their similarity, the guard's verdict and the paraphrase model's score."""
    for row in rows:
        if row.get("label") not in ("hit", "miss"):
            raise ValueError(f"each line needs a label of 'hit' or 'miss': {row}")
    vectors = embedder.embed([r["a"] for r in rows] + [r["b"] for r in rows])
    n = len(rows)
    verdicts = [judge(r["a"], r["b"]) for r in rows]
    scores: list[float | None] = [None] * n
    if model is not None:
        asked = [i for i, v in enumerate(verdicts) if v.open]  # asks_model() also needs the rewording threshold
        for start in range(0, len(asked), 64):
            chunk = asked[start : start + 64]
            for i, score in zip(chunk, model.score_pairs([(rows[i]["a"], rows[i]["b"]) for i in chunk]), strict=True):
                scores[i] = score
    return [
        Pair(r["a"], r["b"], r["label"] == "hit", float(vectors[i] @ vectors[n + i]), v.refusal, r.get("category", ""),
             v.reworded, scores[i])
        for i, (r, v) in enumerate(zip(rows, verdicts, strict=True))
    ]  # fmt: skip


def curve(pairs: list[Pair], settings: list[CacheBars]) -> list[Point]:
    """Served and false-hit rates at each setting; topical neighbours' wrong hits are counted apart
    (their right ones are not paraphrases: the near copies of the labelled sets are)."""
    same = [p for p in pairs if p.same and p.category not in TOPICAL]
    different = [p for p in pairs if not p.same and p.category not in TOPICAL]
    topical = [p for p in pairs if not p.same and p.category in TOPICAL]
    if not same or not different:
        raise ValueError("calibration needs both paraphrases (label hit) and near-misses (label miss)")
    points = []
    for bars in settings:
        served = sum(p.served(*bars) for p in same)
        wrong = sum(p.served(*bars) for p in different)
        wrong_topical = sum(p.served(*bars) for p in topical)
        points.append(Point(*bars, served / len(same), wrong / len(different), wrong,
                            wrong_topical / len(topical) if topical else None, wrong_topical))  # fmt: skip
    return points


def within(points: list[Point], max_false_rate: float, max_topical_false_rate: float | None = None) -> list[Point]:
    """The points whose false-hit rates keep to the bounds (no topical bound: None, or none labelled)."""

    def topical_ok(p: Point) -> bool:
        return (
            max_topical_false_rate is None
            or p.topical_false_hits is None
            or p.topical_false_hits <= max_topical_false_rate
        )

    return [p for p in points if p.false_hits <= max_false_rate and topical_ok(p)]


def _merit(p: Point) -> tuple[float, ...]:
    """More paraphrases served; on a tie, fewer wrong hits, then the higher thresholds (the safer)."""
    wrong = (-p.false_hit_count, -p.topical_false_hit_count)
    return p.paraphrases_served, *wrong, p.threshold, p.rewording_threshold, p.paraphrase_threshold


def recommend(points: list[Point], max_false_rate: float, max_topical_false_rate: float | None = None) -> Point | None:
    """The point serving the most paraphrases within the false-hit bounds (_merit breaks ties)."""
    return max(within(points, max_false_rate, max_topical_false_rate), key=_merit, default=None)


def grid(sweep: str, bars: CacheBars, with_model: bool = True) -> list[CacheBars]:
    """The settings a sweep tries: one threshold over 0.50-0.99, the others as in `bars`; or all three
    together: CACHE_THRESHOLD over 0.60-0.85, CACHE_REWORDING_THRESHOLD from it to 0.86 (under it, it
    would change nothing), CACHE_PARAPHRASE_THRESHOLD over 0.50-0.96 by 0.02 (without the model, as
    in `bars`: it changes nothing)."""
    if sweep == "threshold":
        return [bars._replace(threshold=round(0.5 + i / 100, 2)) for i in range(50)]
    if sweep == "paraphrase":
        return [bars._replace(paraphrase_threshold=round(0.5 + i / 100, 2)) for i in range(50)]
    if sweep != "all":
        raise ValueError(f"no such sweep: {sweep!r}")
    scores = [p / 100 for p in range(50, 97, 2)] if with_model else [bars.paraphrase_threshold]
    return [CacheBars(t / 100, r / 100, p) for t in range(60, 86) for r in range(t, 87) for p in scores]


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="llm-cache", description="semantic cache tools")
    commands = parser.add_subparsers(dest="command", required=True)
    calibrate = commands.add_parser("calibrate", help="recommend the cache's thresholds from labelled pairs")
    calibrate.add_argument("pairs", nargs="+", type=Path, help="JSONL files of {a, b, label: hit|miss}")
    calibrate.add_argument(
        "--max-false-rate", type=float, default=0.0125, help="near-misses served, at most (the default's bound)"
    )
    calibrate.add_argument("--max-topical-false-rate", type=float, default=None,
                           help="wrong topical neighbours served, at most (default: no bound)")  # fmt: skip
    calibrate.add_argument("--sweep", choices=("threshold", "paraphrase", "all"), default="threshold",
                           help="CACHE_THRESHOLD (default), CACHE_PARAPHRASE_THRESHOLD or all")  # fmt: skip
    calibrate.add_argument("--threshold", type=float, default=settings.cache_threshold,
                           help="CACHE_THRESHOLD while sweeping another (default: the cache's)")  # fmt: skip
    calibrate.add_argument("--paraphrase-threshold", type=float, default=settings.cache_paraphrase_threshold,
                           help="CACHE_PARAPHRASE_THRESHOLD while sweeping another")  # fmt: skip
    calibrate.add_argument("--rewording-threshold", type=float, default=settings.cache_rewording_threshold,
                           help="CACHE_REWORDING_THRESHOLD while sweeping another")  # fmt: skip
    calibrate.add_argument("--paraphrase-model", default=settings.paraphrase_model_dir,
                           help="its directory (CACHE_PARAPHRASE_MODEL); 'off': the rules alone")  # fmt: skip
    calibrate.add_argument("--json", action="store_true", help="print the curve and the choice as JSON")
    train = commands.add_parser("train-paraphrase", help="train the paraphrase model from tests/data's pairs")
    train.add_argument("--output", type=Path, default=Path(settings.paraphrase_training_dir))
    train.add_argument("--force", action="store_true", help="train even where the output is up to date")
    args = parser.parse_args(argv)
    if args.command == "train-paraphrase":
        files = paraphrase_training.training_sets()
        if args.force or not paraphrase_training.trained(args.output, files):
            paraphrase_training.train(files, args.output)
        print(f"paraphrase model in {args.output}")
        return 0

    model = paraphrase.at(args.paraphrase_model)
    pairs = load(args.pairs, Embedder().load(), model)
    chosen = replace(settings, cache_threshold=args.threshold, cache_rewording_threshold=args.rewording_threshold,
                     cache_paraphrase_threshold=args.paraphrase_threshold)  # fmt: skip
    points = curve(pairs, grid(args.sweep, chosen.cache_bars(model is not None), model is not None))
    if args.max_topical_false_rate is not None and points[0].topical_false_hits is None:
        print("no topical neighbours among the pairs: --max-topical-false-rate bounds nothing", file=sys.stderr)
    best = recommend(points, args.max_false_rate, args.max_topical_false_rate)
    if args.json:
        rounded = [{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(p).items()} for p in points]
        recommended = rounded[points.index(best)] if best else None
        print(json.dumps({"recommended": recommended, "curve": rounded}, indent=2))
    else:
        # The whole curve of one threshold; of a joint sweep, the 20 best settings within the bounds.
        bounded = within(points, args.max_false_rate, args.max_topical_false_rate)
        shown = points if args.sweep != "all" else sorted(bounded, key=_merit)[-20:]
        print("threshold  rewording  paraphrase  paraphrases served  near-misses served  topical wrong served")
        for p in shown:
            topical = (
                "" if p.topical_false_hits is None else f"{p.topical_false_hits:10.1%} ({p.topical_false_hit_count})"
            )
            print(f"{p.threshold:9.2f}  {p.rewording_threshold:9.2f}  {p.paraphrase_threshold:10.2f}  "
                  f"{p.paraphrases_served:18.1%}  {p.false_hits:11.1%} ({p.false_hit_count}){'':4}{topical}"
                  f"{'  <- recommended' if p == best else ''}")  # fmt: skip
    if best is None:
        topical = f" and wrong topical neighbours within {args.max_topical_false_rate:.1%}"
        print(f"no setting keeps near-misses served within {args.max_false_rate:.1%}"
              f"{topical if args.max_topical_false_rate is not None else ''}")  # fmt: skip
        return 1
    if not args.json:
        print(f"CACHE_THRESHOLD={best.threshold} CACHE_REWORDING_THRESHOLD={best.rewording_threshold} "
              f"CACHE_PARAPHRASE_THRESHOLD={best.paraphrase_threshold}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
