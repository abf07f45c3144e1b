"""Choose CACHE_THRESHOLD from labelled prompt pairs instead of by hand.

    llm-cache calibrate PAIRS.jsonl [PAIRS.jsonl ...] [--max-false-rate 0.0125] [--sweep paraphrase]
    llm-cache train-paraphrase [--output DIR]

Each line of a pairs file is `{"a": str, "b": str, "label": "hit" | "miss"}`: would one answer
serve both prompts? For every candidate threshold the command measures what the cache would do
(MiniLM similarity at or over CACHE_THRESHOLD, no guard rule naming a change, a rewording the
rules cannot compare at or over CACHE_REWORDING_THRESHOLD, and the paraphrase model's score at or
over CACHE_PARAPHRASE_THRESHOLD): the share of paraphrases served and the share of near-misses
wrongly served. It sweeps CACHE_THRESHOLD, or with `--sweep paraphrase`
CACHE_PARAPHRASE_THRESHOLD, and recommends the value that serves the most paraphrases while its
false-hit rate stays within `--max-false-rate` (on a tie, the higher: the safer), as RedisVL's
threshold optimizer does, and prints the whole curve. Calibrate the paraphrase threshold on sets
the model did not learn from (paraphrase_training.HELD_OUT).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.settings import Settings
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
    paraphrase_threshold: float
    paraphrases_served: float  # share of paraphrases the cache serves
    false_hits: float  # share of near-misses it wrongly serves
    false_hit_count: int


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


def curve(pairs: list[Pair], settings: list[tuple[float, float]], rewording_threshold: float) -> list[Point]:
    """Served and false-hit rates at each (threshold, paraphrase threshold); rewordings need
    `rewording_threshold` too."""
    same = [p for p in pairs if p.same]
    different = [p for p in pairs if not p.same]
    if not same or not different:
        raise ValueError("calibration needs both paraphrases (label hit) and near-misses (label miss)")
    points = []
    for threshold, paraphrase_threshold in settings:
        served = sum(p.served(threshold, rewording_threshold, paraphrase_threshold) for p in same)
        wrong = sum(p.served(threshold, rewording_threshold, paraphrase_threshold) for p in different)
        points.append(Point(threshold, paraphrase_threshold, served / len(same), wrong / len(different), wrong))
    return points


def recommend(points: list[Point], max_false_rate: float) -> Point | None:
    """The point serving the most paraphrases within the false-hit bound (the higher thresholds on ties)."""
    allowed = [p for p in points if p.false_hits <= max_false_rate]
    key = lambda p: (p.paraphrases_served, p.threshold, p.paraphrase_threshold)  # noqa: E731
    return max(allowed, key=key) if allowed else None


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="llm-cache", description="semantic cache tools")
    commands = parser.add_subparsers(dest="command", required=True)
    calibrate = commands.add_parser("calibrate", help="recommend CACHE_THRESHOLD from labelled pairs")
    calibrate.add_argument("pairs", nargs="+", type=Path, help="JSONL files of {a, b, label: hit|miss}")
    calibrate.add_argument(
        "--max-false-rate", type=float, default=0.0125, help="near-misses served, at most (the default's bound)"
    )
    calibrate.add_argument("--sweep", choices=("threshold", "paraphrase"), default="threshold",
                           help="sweep CACHE_THRESHOLD (default) or CACHE_PARAPHRASE_THRESHOLD")  # fmt: skip
    calibrate.add_argument("--threshold", type=float, default=settings.cache_threshold,
                           help="CACHE_THRESHOLD while sweeping the paraphrase threshold")  # fmt: skip
    calibrate.add_argument("--paraphrase-threshold", type=float, default=settings.cache_paraphrase_threshold,
                           help="CACHE_PARAPHRASE_THRESHOLD while sweeping the threshold")  # fmt: skip
    calibrate.add_argument("--rewording-threshold", type=float, default=settings.cache_rewording_threshold,
                           help="what a rewording needs (CACHE_REWORDING_THRESHOLD)")  # fmt: skip
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
    grid = [round(0.5 + i / 100, 2) for i in range(50)]
    if args.sweep == "threshold":
        swept, name = [(t, args.paraphrase_threshold) for t in grid], "CACHE_THRESHOLD"
    else:
        swept, name = [(args.threshold, t) for t in grid], "CACHE_PARAPHRASE_THRESHOLD"
    points = curve(pairs, swept, args.rewording_threshold)
    best = recommend(points, args.max_false_rate)
    value = (lambda p: p.threshold) if args.sweep == "threshold" else (lambda p: p.paraphrase_threshold)
    if args.json:
        rounded = [{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(p).items()} for p in points]
        chosen = rounded[points.index(best)] if best else None
        print(json.dumps({"recommended": chosen, "curve": rounded}, indent=2))
    else:
        print(f"{name.lower():>26}  paraphrases served  near-misses served")
        for p in points:
            mark = "  <- recommended" if p == best else ""
            print(f"{value(p):26.2f}  {p.paraphrases_served:18.1%}  {p.false_hits:17.1%} ({p.false_hit_count}){mark}")
    if best is None:
        print(f"no {name} keeps near-misses served within {args.max_false_rate:.1%}")
        return 1
    if not args.json:
        print(f"{name}={value(best)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
