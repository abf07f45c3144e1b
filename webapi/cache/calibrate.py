"""Choose CACHE_THRESHOLD from labelled prompt pairs instead of by hand.

    llm-cache calibrate PAIRS.jsonl [PAIRS.jsonl ...] [--max-false-rate 0.0125] [--rewording-threshold 0.85]

Each line of a pairs file is `{"a": str, "b": str, "label": "hit" | "miss"}`: would one answer
serve both prompts? For every candidate threshold the command measures what the cache would do
(MiniLM similarity at or over the threshold, at or over the rewording threshold too where the
guard finds the prompts a rewording it cannot compare, and the guard agreeing): the share of
paraphrases served and the share of near-misses wrongly served. It recommends the lowest
threshold that serves the most paraphrases while its false-hit rate stays within
`--max-false-rate` (on a tie, the higher threshold: the safer), as RedisVL's threshold optimizer
does, and prints the whole curve.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.settings import Settings
from webapi.cache.embedder import Embedder
from webapi.cache.guard import Verdict, judge


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool  # labelled a paraphrase: one answer serves both
    similarity: float
    refusal: str | None  # the near-miss guard's reason to refuse, None when it agrees
    category: str = ""
    reworded: bool = False  # a rewording the guard cannot compare: it needs the rewording threshold

    def served(self, threshold: float, rewording_threshold: float) -> bool:
        """Would the cache answer B from A: similar enough, and the guard agrees (as SemanticCache asks)."""
        verdict = Verdict(self.refusal, self.reworded)
        return self.similarity >= threshold and verdict.refusal_at(self.similarity, rewording_threshold) is None


@dataclass(frozen=True)
class Point:
    threshold: float
    paraphrases_served: float  # share of paraphrases the cache serves
    false_hits: float  # share of near-misses it wrongly serves
    false_hit_count: int


def load(paths: list[Path], embedder: Embedder) -> list[Pair]:
    """The labelled pairs with their similarity and the guard's verdict."""
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        if row.get("label") not in ("hit", "miss"):
            raise ValueError(f"each line needs a label of 'hit' or 'miss': {row}")
    vectors = embedder.embed([r["a"] for r in rows] + [r["b"] for r in rows])
    n = len(rows)
    verdicts = [judge(r["a"], r["b"]) for r in rows]
    return [
        Pair(r["a"], r["b"], r["label"] == "hit", float(vectors[i] @ vectors[n + i]), v.refusal, r.get("category", ""),
             v.reworded)
        for i, (r, v) in enumerate(zip(rows, verdicts, strict=True))
    ]  # fmt: skip


def curve(pairs: list[Pair], thresholds: list[float], rewording_threshold: float) -> list[Point]:
    """Served and false-hit rates at each threshold (rewordings need `rewording_threshold` too)."""
    same = [p for p in pairs if p.same]
    different = [p for p in pairs if not p.same]
    if not same or not different:
        raise ValueError("calibration needs both paraphrases (label hit) and near-misses (label miss)")
    points = []
    for threshold in thresholds:
        served = sum(p.served(threshold, rewording_threshold) for p in same)
        wrong = sum(p.served(threshold, rewording_threshold) for p in different)
        points.append(Point(threshold, served / len(same), wrong / len(different), wrong))
    return points


def recommend(points: list[Point], max_false_rate: float) -> Point | None:
    """The point serving the most paraphrases within the false-hit bound (the higher threshold on ties)."""
    allowed = [p for p in points if p.false_hits <= max_false_rate]
    return max(allowed, key=lambda p: (p.paraphrases_served, p.threshold)) if allowed else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-cache", description="semantic cache tools")
    commands = parser.add_subparsers(dest="command", required=True)
    calibrate = commands.add_parser("calibrate", help="recommend CACHE_THRESHOLD from labelled pairs")
    calibrate.add_argument("pairs", nargs="+", type=Path, help="JSONL files of {a, b, label: hit|miss}")
    calibrate.add_argument(
        "--max-false-rate", type=float, default=0.0125, help="near-misses served, at most (the default's bound)"
    )
    calibrate.add_argument(
        "--rewording-threshold",
        type=float,
        default=Settings().cache_rewording_threshold,
        help="what a rewording the guard cannot compare needs (CACHE_REWORDING_THRESHOLD)",
    )
    calibrate.add_argument("--json", action="store_true", help="print the curve and the choice as JSON")
    args = parser.parse_args(argv)

    pairs = load(args.pairs, Embedder().load())
    points = curve(pairs, [round(0.5 + i / 100, 2) for i in range(50)], args.rewording_threshold)
    best = recommend(points, args.max_false_rate)
    if args.json:
        rounded = [{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(p).items()} for p in points]
        chosen = rounded[points.index(best)] if best else None
        print(json.dumps({"recommended": chosen, "curve": rounded}, indent=2))
    else:
        print(f"{'threshold':>9}  paraphrases served  near-misses served")
        for p in points:
            mark = "  <- recommended" if p == best else ""
            print(f"{p.threshold:9.2f}  {p.paraphrases_served:18.1%}  {p.false_hits:17.1%} ({p.false_hit_count}){mark}")
    if best is None:
        print(f"no threshold keeps near-misses served within {args.max_false_rate:.1%}")
        return 1
    if not args.json:
        print(f"CACHE_THRESHOLD={best.threshold}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
