"""Write bench/RESULTS.md from the figures in bench/results/*.json (quick runs left out).

.venv/bin/python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from webapi.cache.verify import ANSWER_SIMILARITY

HERE = Path(__file__).resolve().parent


def _load(name: str) -> dict[str, Any] | list[Any] | None:
    path = HERE / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


#: The sets written before the paraphrase model was last trained and its thresholds chosen, measured
#: sealed (bench/cache_quality.py); and those that reported the model before it.
REPORT_SETS = [f"cache_pairs_blind{n}.jsonl" for n in range(30, 34)]
EARLIER_REPORT_SETS = [f"cache_pairs_blind{n}.jsonl" for n in range(26, 30)]


def _target(reports: list[dict], sets: list[str], name: str) -> list[str]:
    """The issue's bound on these sets (≤ 1 wrong hit per 35 near-misses, ≥ 70% of paraphrases
    served), as a paragraph; none unless every one of them was measured."""
    chosen = [r for r in reports if r["file"] in sets]
    if len(chosen) != len(sets):
        return []
    paraphrases = sum(r["paraphrases"] for r in chosen)
    recall = sum(round(r["paraphrase_recall"] * r["paraphrases"]) for r in chosen) / paraphrases
    wrong, near = sum(r["wrong_hits"] for r in chosen), sum(r["near_misses"] for r in chosen)
    met = 35 * wrong / near <= 1 and recall >= 0.7
    return [
        "",
        f"Target on {name}: ≤ 1 wrong hit per 35 near-misses and ≥ 70% of paraphrases served: {recall:.1%} and "
        f"{wrong} of {near} ({35 * wrong / near:.2f} per 35), {_verdict(met)}.",
    ]


def _topical(reports: list[dict], name: str) -> str:
    """Right and wrong answers served on a set of topical neighbours."""
    (row,) = [r for r in reports if r["file"] == name]
    return f"{round(row['paraphrase_recall'] * row['paraphrases'])} right and {row['wrong_hits']} wrong answers"


def _quality_table(reports: list[dict]) -> list[str]:
    rows = _header(
        "pairs", "paraphrases served", "embedding alone", "near-misses served", "embedding alone", "per 35", "learnt"
    )
    for r in reports:
        rows.append(
            _row(
                r["file"],
                f"{r['paraphrase_recall']:.1%}",
                f"{r['paraphrase_recall_embedding_only']:.1%}",
                f"{r['wrong_hits']}/{r['near_misses']}",
                f"{r['wrong_hits_embedding_only']}/{r['near_misses']}",
                r["wrong_hits_per_35"],
                "yes" if r.get("learnt_by_paraphrase_model") else "",
            )
        )
    return rows


def _header(*cells: Any) -> list[str]:
    """A table's header row and its rule."""
    return [_row(*cells), _row(*["---"] * len(cells))]


def _settings(settings: dict[str, str] | str) -> str:
    """A run's settings: NAME=value pairs, or the word an older run recorded ("defaults")."""
    return settings if isinstance(settings, str) else ", ".join(f"{k}={v}" for k, v in settings.items())


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def main() -> None:
    out = [
        "# Benchmark results",
        "",
        "Made by `bench/report.py` from `bench/results/*.json`; rerun with the commands",
        "shown per section. No GPU was lent to the sessions that measured these: every figure is CPU.",
        "",
    ]
    some = next((r for r in map(_load, ["batching", "all_cache", "sweep", "mixed", "cold_start"]) if r), None)
    if some:
        m = some["machine"]
        out += [
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, "
            f"torch {m['torch']}, device {m['device']}; measured {some['measured_at']} UTC.",
            "",
        ]

    if quality := _load("cache_quality"):
        out += [
            "## Cache correctness (`python -m bench.cache_quality`)",
            "",
            f"Would the cache answer B from A? Served = MiniLM cosine ≥ {quality[0]['threshold']} (CACHE_THRESHOLD), "
            "no rule of the near-miss guard naming a change, a rewording the rules cannot compare at cosine ≥ "
            f"{quality[0]['rewording_threshold']} (CACHE_REWORDING_THRESHOLD), and the paraphrase model's score ≥ "
            f"{quality[0]['paraphrase_threshold']} (CACHE_PARAPHRASE_THRESHOLD). *Learnt*: the paraphrase model "
            "was trained on that set, so its figures there are not unseen. The dev sets are what the guard and "
            "the first threshold were tuned on; dev2 to dev13, held-out and blind to blind21 were each written by "
            "a helper who saw neither the guard nor another set, measured sealed, then read. The model never "
            "learnt blind14 to blind33 or the held-out topical neighbours (paraphrase_training.HELD_OUT). "
            "blind14 to blind21 chose the three thresholds together (`llm-cache calibrate --sweep all`, ninth "
            "session: at most 1.25% of their near-misses served, and no more wrong topical neighbours than the "
            "model and thresholds shipped before served; chosen again by the same command in the tenth session, "
            "when the embedder moved to int8 layers: 0.71 / 0.78 / 0.72 on float32 cosines, 0.76 / 0.77 / 0.72 "
            "on int8's), with cache_pairs_cross_heldout_calibration (240 topical "
            "neighbours among the prompts of blind14-25 that the rules or the first model would serve) and "
            "cache_pairs_cross_heldout_calibration2 (400 among blind14-21's at cosine 0.65-0.85, three quarters of "
            "them pairs the model then shipped scored 0.62 or more). blind22 to blind25 and blind26 to blind29 "
            "reported earlier models (their figures were read when thresholds were chosen again, so they are no "
            "longer unseen). blind30 to blind33 (ninth session, four helpers from the same brief, none reading "
            "the project) are the report sets: written before the model was trained again, measured once with "
            "the model then shipped before anything changed, then once with this one, never tuned on. "
            "cache_pairs_cross_heldout_report3: 300 topical neighbours pairing blind30-33's prompts with those of "
            "blind14-33, drawn from what the model and thresholds shipped before or the ninth session's would serve, "
            "labelled by two helpers (292 labels agreed; right only if both say so); report and report2 did the "
            "same for blind14-25 and blind26-29 with the models of their time. "
            "cache_pairs_cross* pair prompts of different sets that the cache would serve one for the other "
            "(topical neighbours), labelled by helpers who saw neither guard nor similarity; their paraphrase "
            "column is the share of the right ones served, their near-miss column the wrong ones.",
            "",
            *_quality_table(quality),
        ]
        if previous := _load("cache_quality_previous"):
            out += [
                "",
                "The guard's rules alone (`--paraphrase-model off`, CACHE_REWORDING_THRESHOLD "
                f"{previous[0]['rewording_threshold']}; measured at a54b45d, blind26-29 at 0c10573, blind30-33 and "
                "the new topical sets at ba34fb7, whose rules are the same; float32 embeddings), on the sets that "
                "tuned neither the model nor its thresholds:",
                "",
                *_quality_table(previous),
            ]
        if baseline := _load("cache_quality_baseline"):
            out += ["", "Before issue 13's changes (guard without the substitution rule, threshold 0.8):", ""]
            out += _header("pairs (dev: the 160 of that time)", "paraphrases served", "near-misses served")
            for r in baseline:
                out.append(_row(r["file"], f"{r['paraphrase_recall']:.1%}", f"{r['wrong_hits']}/{r['near_misses']}"))
        if before := _load("cache_quality_model_before"):
            out += [
                "",
                "The model and thresholds shipped before (trained without cross_training2; CACHE_THRESHOLD "
                f"{before[0]['threshold']}, CACHE_REWORDING_THRESHOLD {before[0]['rewording_threshold']}, "
                f"CACHE_PARAPHRASE_THRESHOLD {before[0]['paraphrase_threshold']}), on the same held-out sets "
                "(`--output cache_quality_model_before --paraphrase-model DIR ...`):",
                "",
                *_quality_table(before),
                *_target(before, REPORT_SETS, "blind30 to blind33 with them (measured once, sealed, before a change)"),
            ]
        if floating := _load("cache_quality_float32_embedder"):
            out += [
                "",
                "The ninth session's cache (float32 embeddings; CACHE_THRESHOLD "
                f"{floating[0]['threshold']}, CACHE_REWORDING_THRESHOLD {floating[0]['rewording_threshold']}; the same "
                "model), its run of `python -m bench.cache_quality`: on cache_pairs_cross_heldout_report3 it served "
                f"{_topical(floating, 'cache_pairs_cross_heldout_report3.jsonl')}, the present cache "
                f"{_topical(quality, 'cache_pairs_cross_heldout_report3.jsonl')}.",
                *_target(floating, REPORT_SETS, "blind30 to blind33 with it"),
                *_target(floating, EARLIER_REPORT_SETS, "blind26 to blind29 with it"),
            ]
        out += _target(quality, REPORT_SETS, "the sealed report sets (blind30 to blind33)")
        out += [*_target(quality, EARLIER_REPORT_SETS, "the earlier report sets (blind26 to blind29)"), ""]

    if search := _load("cache_search"):
        out += [
            "## Semantic search alone (`python -m bench.cache_search`)",
            "",
            "All entries in one scope (the worst case). *Tier* is the semantic tier as served: index search, "
            "reading the candidates from Redis, and the guard; *index* is the in-memory HNSW search alone.",
            "",
            *_header(
                "entries",
                "tier p50 ms",
                "tier p99 ms",
                "index p50 ms",
                "index p99 ms",
                "numpy exact p99 ms",
                "index load s",
                "recall@1",
            ),
        ]
        for r in search["rows"]:
            out.append(
                _row(
                    r["entries"],
                    r["semantic_tier"]["p50_ms"],
                    r["semantic_tier"]["p99_ms"],
                    r["index_only"]["p50_ms"],
                    r["index_only"]["p99_ms"],
                    r["numpy_exact"]["p99_ms"],
                    r["index_load_s"],
                    r["index_recall_at_1"],
                )
            )
        big = search["rows"][-1]
        out += [
            "",
            f"Target p99 ≤ 5 ms at 100 000: {_verdict(big['semantic_tier']['p99_ms'] <= 5)}. "
            f"Target ≤ 3× the 1 000-entry p99: tier {search['tier_p99_ratio']}× "
            f"({_verdict(search['tier_p99_ratio'] <= 3)}), index alone {search['index_p99_ratio']}× "
            f"({_verdict(search['index_p99_ratio'] <= 3)}).",
            "",
        ]

    if cache := _load("all_cache"):
        out += [
            "## 1. All-cache (`python -m bench.run all_cache`)",
            "",
            f"{cache['prompts']} prompts answered once, then repeated verbatim (exact tier: case and spacing varied) "
            "or as paraphrases (semantic tier). *closed loop*: 50 clients sending back to back (saturation); "
            "*users*: 50 clients thinking 0.5–1.5 s between requests.",
            "",
            *_header("run", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "hits"),
        ]
        for key, v in cache.items():
            if isinstance(v, dict) and "p95_ms" in v:
                out.append(
                    _row(
                        key,
                        v["requests"],
                        v["requests_per_s"],
                        v["p50_ms"],
                        v["p95_ms"],
                        v["p99_ms"],
                        v["cache"].get("HIT", 0),
                    )
                )
        kinds = ("exact", "semantic", "semantic_first")
        users = [cache[f"users_1s_think_{k}"] for k in kinds if cache.get(f"users_1s_think_{k}")]
        figures = ", ".join(f"{k.replace('_', ' ')} {u['p95_ms']} ms" for k, u in zip(kinds, users, strict=False))
        out += [
            "",
            f"Target p95 < 50 ms for hits at 50 users (seed: 385 ms), in this run: {figures}: "
            f"{_verdict(all(u['p95_ms'] < 50 for u in users))}.",
            "",
            "In the sixth session each API process remembers its semantic matches, so a paraphrase asked again "
            "(*semantic*) is answered without embedding or judging it again; *semantic first* is a paraphrase "
            "asked for the first time (a quarter of the users' requests: 250 paraphrases of the pair sets that "
            "the cache serves, none repeating a prompt the run asks; its semantic hits only), which the cache "
            "embeds and judges in full. Runs alternating with the code of 0c10573 (every paraphrase judged each "
            "time; its users asked no first-time ones) gave, at 50 users: exact 37.4 and 42.5 ms against 154.7 "
            "and 108.7 ms, semantic 27.3 and 32.1 ms against 217.6 and 142.9 ms, semantic first 168.4 and 135.3 "
            "ms; closed loop 449 and 570 requests/s against 87 and 86. A first ask costs 32 ms at the median on "
            "one idle core (13 ms embedding, 10 ms the paraphrase model, under 1 ms the guard); at 50 users on "
            "two cores it queues behind the others.",
            "",
            "In the seventh session both cache models run as one TorchScript call (webapi/cache/bert.py), which "
            "holds no GIL: a first ask costs about 17 ms on one idle core (8.5 ms embedding, 6.1 ms the "
            "paraphrase model, under 2 ms the guard), and each phase starts once the verifications pending "
            "from the last have settled. Six runs gave first-ask p95 73.0 to 99.6 ms; 44.9 ms with "
            "CACHE_VERIFY_RATE=0. What remained was the worker generating verifications on both cores beside "
            "the API, so a step of verifications alone now runs on one thread: three runs alternating with "
            "and without that gave 60.5, 73.4, 77.2 ms against 73.0, 82.1, 83.6 ms. "
            "With the whole worker on one thread (OMP_NUM_THREADS=1) two runs gave 45.5 and 52.6 ms, at a "
            "cost of about 30% of its tokens/s (SmolLM2 int8, 1 and 16 rows).",
            "",
            "The eighth session's machine ran the cache's models about 1.5x slower (idle: 11.7 ms an "
            "embedding, 11.1 ms a pair). A hit now reads its entries in one Redis call instead of three "
            "(idle: exact tier 0.80 -> 0.33 ms, four candidates with their thresholds 1.04 -> 0.49 ms); runs "
            "alternating with the code of 20c6767 gave first-ask p95 85.0 and 102.9 ms against 117.8 and 88.7 "
            "ms, which is within the noise. One run with CACHE_VERIFY_RATE=0 gave "
            "54.5 ms (exact 12.5 ms). Entries that failed verifications evict (29 in one run, both phases) "
            "generate again on both cores when next asked: 3 to 8 misses among the users' requests. Two runs "
            "of an experiment that kept those entries (not committed: the issue asks for the eviction) had "
            "1 miss each and gave exact hits 19.6 and 17.5 ms, but first asks still 107.1 and 77.9 ms: what "
            "holds first asks above the bound is the verifications' own work, not only the misses they "
            "leave. Steps of verifications alone at idle CPU priority (SCHED_IDLE on the "
            "generation thread) were tried and dropped: three runs alternating with the code of 20c6767 gave "
            "169.6, 159.5, 145.7 ms against 141.9, 133.4, 142.5 ms.",
            "",
            "The ninth session (another machine) retrained the paraphrase model and chose its thresholds "
            "again (CACHE_THRESHOLD 0.71: more candidates reach the model, which scores them nearest first "
            "until one is served). This table is its one run: exact 22.9 ms, repeated paraphrases 22.4 ms, "
            "first asks 85.9 ms p95 (30.5 ms p50), where the last session's machine gave 85 to 103 ms with "
            "the model and thresholds before; not met, for the reasons above.",
            "",
            "The tenth session (another machine) runs the embedder's Linear layers on the worker's int8 "
            "kernels: 3.3 ms a prompt on one idle core instead of 11.1 ms (a pair's score: 6.4 to 8 ms; a "
            "first ask over HTTP 17 ms, an exact hit 2.7 ms), with the thresholds chosen again on its cosines "
            "(0.76 / 0.77 / 0.72), and texts of different lengths share a pass in groups of one length, "
            "unpadded (bert.by_length). Three runs of that code gave first-ask p95 60.5, 58.7 and 46.6 ms "
            "(the only one of the three under 50 ms). Three "
            "runs before the grouping, alternating with the float32 embedder's code (3eaf4e6), gave 61.3, "
            "60.5 and 51.5 ms against 99.8 and 77.6 ms (109.7 ms in a run before); with CACHE_VERIFY_RATE=0 "
            "and the thresholds before, int8 alone gave 54.1 ms against 101.4 ms (one run each). The "
            "paraphrase model is now most of a first ask's model time. Then a worker step of verifications "
            "alone on the CPU is followed by a rest as long as it ran (ended by an interactive arrival), so "
            "verifications take at most half a core: three runs alternating with and without it (369dc9d) "
            "gave 58.9, 53.4 and 53.0 ms against 57.4, 67.7 and 59.6 ms (medians 53.4 and 59.6; they "
            "overlap). Not met.",
            "",
            "The eleventh session (another machine, quicker: the tenth's code gave 30.6 to 44.9 ms in five runs "
            "here) traced where the slowest first asks went: 9 of the 13 slowest ran beside a miss generating "
            "on both cores (an entry a failed verification evicted, asked again), and the verifications took "
            "6.4 s of the worker's CPU in the 20 s phase, one row (210 ms) at a time; with CACHE_VERIFY_RATE=0 "
            "first asks gave 23.6 ms. Now the worker runs at a lower CPU priority (WORKER_NICE=10: generation "
            "takes the cycles the API leaves), an idle worker lets background work gather for up to 5 s and runs "
            "it as a batch (52 ms of CPU a verification in a batch of eight; the worker's CPU in the phase fell "
            "to 2.5 s, though a last batch may run just after it), and the "
            "paraphrase model's last layer computes only the row its classifier reads (5.5 ms a pair instead "
            "of 6.1 ms; over the 9 171 blind pairs scores move by at most 0.0012 and no decision changes). "
            "Three runs alternating with the code before (26e1d36) gave first-ask p95 32.6, 25.9 and 25.8 ms "
            "against 43.3, 41.5 and 30.6 ms; with WORKER_NICE=0, 35.0, 42.4 and 39.6 ms (and 52.8, 46.9 ms in "
            "two runs before, against 37.1 and 44.9 ms): the priority is what moved it. This table is the "
            "second of the three runs; a fourth, of the code after its review's fixes, gave 30.2 ms. The "
            "priority cost generation nothing measurable beside the API: "
            "`mixed` gave 413 and 362 tokens/s against 387 and 441 with WORKER_NICE=0, `streaming` 46.0 and "
            "45.8 tokens/s a stream at 8 streams against 47.7 and 46.2.",
            "",
            "The semantic p95 sits near the bound and moves with the machine between runs. In the first session "
            "of 2026-12-06 three runs gave 48.1, 45.3 and 47.9 ms (85.8 ms that morning before a verification's "
            "verdict was kept per prompt and entry and start-up objects were frozen out of the garbage collector). "
            "In the second session the machine was slower: ten runs of this code gave 43.5 to 78.8 ms; run side "
            "by side, alternating with the code of 87e782a (the previous stop), three runs each gave 65.3, 47.2, "
            "56.0 ms against 61.4, 83.7, 53.8 ms. In the third session, with the guard's new rules (0.63 ms a "
            "guarded pair against 0.52 ms, over the 23 pair sets), runs alternating with the code of f5e97bd "
            "gave 52.1, 61.0, 41.5, 53.5 ms against 51.9, 60.0, 43.6 ms. In the fourth session, with the "
            "guard's new readings and the rewording threshold (0.79 ms a guarded pair against 0.71 ms, over "
            "the 27 pair sets of 11 099 pairs), runs alternating with the code of 9e8415c gave 63.7, 65.9, "
            "99.6, 53.3 ms against 50.1, 51.3, 59.9, 70.2 ms (medians 64.8 and 55.6 ms; the runs overlap). In "
            "the fifth session the paraphrase model judges every semantic match no rule refuses (7.4 ms of one "
            "core a scored pair, about a MiniLM embedding's cost): runs of its first version alternating with "
            "the rules-alone code "
            "of a54b45d gave 137.2 and 113.6 ms against 45.0 and 51.9 ms (p50 30.6 and 28.6 ms against 12.2 "
            "and 10.9 ms; exact hits, which never ask it, 89.3 and 64.3 ms against 27.4 and 28.9 ms: the two "
            "cores are saturated); this table is the shipped model's run. CACHE_PARAPHRASE_MODEL=off "
            "gives the rules-alone figures. Requests not counted as hits are paraphrases whose entry a failed "
            "verification evicted (or that the model refused): they generate, which is the p99.",
            "",
        ]

    if batching := _load("batching"):
        out += [
            "## 2–3. Batching on vs off, pipeline efficiency (`python -m bench.run batching`)",
            "",
            f"{batching['requests']} unique chat prompts, max_tokens={batching['max_tokens']}, greedy, cache "
            f"bypassed, {batching['clients']} clients.",
            "",
            *_header("worker", "req/s", "tokens/s", "p50 ms", "p95 ms", "batch sizes"),
        ]
        rows = batching.get("rows", 8)
        labels = (("batched", f"continuous, MAX_BATCH_SIZE={rows}"), ("unbatched", "MAX_BATCH_SIZE=1"))
        for key, label in labels:
            v = batching[key]
            out.append(_row(label, v["requests_per_s"], v["tokens_per_s"], v["p50_ms"], v["p95_ms"], v["batch_sizes"]))
        bare = batching.get("bare_engine") or batching["bare_runner"]
        out += [
            _row(f"bare engine, in-process, {rows} rows", "", bare["tokens_per_s"], "", "", ""),
            "",
            f"Throughput ratio {batching['throughput_ratio']}× "
            f"(target ≥ 4×: {_verdict(batching['throughput_ratio'] >= 4)}). "
            f"Pipeline efficiency {batching['pipeline_efficiency']} (end-to-end tokens/s over the bare engine's; "
            f"target ≥ 0.85: {_verdict(batching['pipeline_efficiency'] >= 0.85)}). The batch-size column is the "
            "rows in the batch when each request joined it.",
            "",
        ]

    if mixed := _load("mixed"):
        out += [
            "## 4. Mixed load (`python -m bench.run mixed`)",
            "",
            "Unique prompts, verbatim repeats of earlier requests, and dev-set pairs (a paraphrase or a near-miss "
            "sent after its partner). A wrong hit is a hit whose source request meant something else.",
            "",
            *_header("requests", "repeat share", "hit rate", "wrong hits", "p50 ms", "p95 ms"),
            _row(
                mixed["requests"],
                mixed["repeat_share"],
                mixed["hit_rate"],
                mixed["wrong_hits"],
                mixed["p50_ms"],
                mixed["p95_ms"],
            ),
            "",
            f"Target 0 wrong hits (the seed served 51% hits from 30% repeats): {_verdict(mixed['wrong_hits'] == 0)}. "
            "Wrong: answered from a labelled near-miss or from a generated prompt with no paraphrase. Hits across "
            "two different dataset pairs are listed for a reader to judge:",
            "",
        ]
        out += [
            f'- {e["kind"]} {e["similarity"]}: "{e["asked"]}" ← "{e["answered_from"]}"'
            for e in mixed["cross_pair_hits"]
        ]
        out.append("")

    if sweep := _load("sweep"):
        out += [
            "## 5. Engine settings (`python -m bench.run sweep`)",
            "",
            f"The race's workload (streamed chat, max_tokens 16–128, greedy, cache bypassed, closed-loop "
            f"clients), {sweep['seconds']} s per setting; the other settings at their defaults.",
            "",
            *_header("setting", "clients", "tokens/s", "TTFT p50 ms", "TTFT p95 ms", "e2e p50 ms", "e2e p95 ms"),
        ]
        for r in sweep["rows"]:
            name = next(k for k in ("max_batch_size", "max_step_tokens", "batch_wait_ms") if k in r)
            out.append(
                _row(
                    f"{name.upper()}={r[name]}",
                    r["clients"],
                    r["tokens_per_s"],
                    r["ttft_p50_ms"],
                    r["ttft_p95_ms"],
                    r["e2e_p50_ms"],
                    r["e2e_p95_ms"],
                )
            )
        out.append("")

    if cold := _load("cold_start"):
        out += [
            "## 6. Cold start (`python -m bench.run cold_start`)",
            "",
            *_header("start", "worker start to first answer, s", "of which loading the model, s"),
        ]
        out += [
            _row(r["start"].replace("_", " "), r["seconds_to_first_answer"], r.get("model_load_s"))
            for r in cold["rows"]
        ]
        out += ["", "The first start converts the GGUF to safetensors in MODEL_CACHE_DIR; later starts load that.", ""]

    memories = [(n, r["memory"]) for n in ("all_cache", "mixed", "cold_start") if (r := _load(n)) and r.get("memory")]
    if memories:
        out += [
            "## 7. Memory",
            "",
            *_header("after scenario", "worker peak RSS MiB", "API process peak RSS MiB"),
        ]
        out += [_row(n, m["worker_peak_rss_mib"], m["api_process_peak_rss_mib"]) for n, m in memories]
        out.append("")
    if streaming := _load("streaming"):
        out += [
            "## 8. Streaming (`python -m bench.run streaming`)",
            "",
            f"The official `openai` client, chat, max_tokens={streaming['max_tokens']}, batches of "
            f"{streaming['batch']}; each round starts that many requests at once, so they share a batch. "
            "Tokens/s per stream is (tokens − 1) / (total − time to first token).",
            "",
            *_header(
                "concurrent", "stream", "requests", "TTFT p50 ms", "TTFT p95 ms", "tokens/s per stream", "total p50 s"
            ),
        ]
        out += [
            _row(
                r["concurrent"],
                "yes" if r["stream"] else "no",
                r["requests"],
                r.get("ttft_p50_ms", ""),
                r.get("ttft_p95_ms", ""),
                r.get("tokens_per_s_per_stream_p50", ""),
                r["total_p50_s"],
            )
            for r in streaming["rows"]
        ]
        out.append("")

    if bulk := _load("bulk_interference"):
        out += [
            "## 9. Interactive latency while a batch runs (`python -m bench.run bulk_interference`)",
            "",
            f"{bulk['clients']} interactive clients (chat, max_tokens={bulk['max_tokens']}, ~{bulk['think_s']} s think "
            f"time) for {bulk['seconds']} s alone, then again while a {bulk['batch_lines']}-line Batch API batch "
            "of the same requests runs on the bulk lane.",
            "",
            *_header("run", "requests", "req/s", "p50 ms", "p95 ms"),
        ]
        out += [
            _row(name, bulk[key]["requests"], bulk[key]["requests_per_s"], bulk[key]["p50_ms"], bulk[key]["p95_ms"])
            for name, key in (("interactive alone", "alone"), ("interactive with the batch", "with_batch"))
        ]
        if "saturated" in bulk:
            v = bulk["saturated"]
            out.append(_row("interactive saturating (2 clients per row, no think time)", v["requests"],
                            v["requests_per_s"], v["p50_ms"], v["p95_ms"]))  # fmt: skip
        out += [
            "",
            f"Interactive p95 with the batch / alone: {bulk['p95_ratio']}× (target ≤ 1.5×: "
            f"{_verdict(bulk['p95_ratio'] <= 1.5)}); the batch meanwhile answered "
            f"{bulk['bulk_requests_per_s_meanwhile']} req/s.",
        ]
        if "bulk_requests_per_s_under_saturation" in bulk:
            rate = bulk["bulk_requests_per_s_under_saturation"]
            out.append(
                f"Under interactive saturation the batch answered {rate} req/s (target > 0: {_verdict(rate > 0)})."
            )
        out.append("")

    if precision := _load("precision"):
        cmp_ = precision["int8_vs_float32"]
        out += [
            "## 10. int8 against float32 (`python -m bench.precision`)",
            "",
            "Quality on data the int8 path was not tuned on: greedy answers (64 tokens) to the 48 prompts of "
            "`bench/data/chat_prompts.txt`, and perplexity on `bench/data/perplexity.txt` (2 048 tokens). Speed: "
            "the engine in-process, closed loop on the race's workload.",
            "",
            *_header("MODEL_DTYPE", "perplexity", "tokens/s, 1 row", "8 rows", "16 rows", "load s"),
        ]
        for dtype, f in precision["dtypes"].items():
            t = f["tokens_per_s"]
            out.append(_row(dtype, f["perplexity"], t["1"], t["8"], t["16"], f["load_s"]))
        out += [
            "",
            f"int8 answers identical to float32's: {cmp_['identical_answers']} of {cmp_['prompts']}; the others "
            f"first differ at token {cmp_['first_divergence_median_token']} (median). Perplexity ratio "
            f"{cmp_['perplexity_ratio']}; speed-up at 16 rows {cmp_['speedup_at_16_rows']}×.",
            "",
        ]

    if peers := _load("peers"):
        out += [
            "## 11. The race: ours against llama.cpp's llama-server (`python -m bench.peers`)",
            "",
            f"One run on this machine: every server started at once, each idle while another is measured; they "
            f"take turns in {peers.get('rounds', 1)} rounds, so a slow spell of the machine hits all of them. "
            f"Streamed chat, max_tokens from {'/'.join(map(str, peers['max_tokens']))}, greedy, our cache "
            f"bypassed, closed-loop clients, {peers['seconds']} s per server and client count; tokens/s counts "
            f"what was generated while the clients were sending. Our settings: "
            f"{_settings(peers['our_settings'])}.",
            "",
            *_header("server", "clients", "tokens/s", "TTFT p50 ms", "TTFT p95 ms", "e2e p50 ms", "e2e p95 ms"),
        ]
        for r in sorted(peers["rows"], key=lambda r: (r["clients"], r["server"] != "ours", r["server"])):
            out.append(
                _row(
                    r["server"],
                    r["clients"],
                    r["tokens_per_s"],
                    r["ttft_p50_ms"],
                    r["ttft_p95_ms"],
                    r["e2e_p50_ms"],
                    r["e2e_p95_ms"],
                )
            )
        out += ["", *_header("clients", "best peer (tokens/s)", "tokens/s ratio", "TTFT p50 ratio", "TTFT p95 ratio")]
        for n, v in peers["versus_best_peer"].items():
            out.append(_row(n, v["best_peer"], v["tokens_per_s_ratio"], v["ttft_p50_ratio"], v["ttft_p95_ratio"]))
        out.append("")

    if engines := _load("engines"):
        rates = engines["tokens_per_s"]
        out += [
            "## 12. Our engine against transformers' continuous batching (`python -m bench.engines`)",
            "",
            f"In-process, the 48 chat prompts × {engines['max_tokens']} greedy tokens, {engines['rows']} rows at a "
            "time; the best of the rounds.",
            "",
            *_header("engine", "tokens/s"),
            *(_row(name, value) for name, value in rates.items()),
            "",
        ]

    if verify := _load("cache_verify"):
        out += [
            "## 13. Verified hits: does comparing answers catch a wrong hit? (`python -m bench.cache_verify`)",
            "",
            "Both prompts of every labelled pair answered by the model (greedy); a verification passes when the "
            "answers are equal or their MiniLM similarity is at least the threshold. Chosen on the dev set (the "
            f"largest paraphrases passed + near-misses failed): ANSWER_SIMILARITY = {ANSWER_SIMILARITY}.",
            "",
            *_header("pairs", "answer similarity ≥", "paraphrases passed", "near-misses failed (caught)"),
        ]
        for name, result in verify["sets"].items():
            for threshold, point in result["curve"].items():
                if abs(float(threshold) - ANSWER_SIMILARITY) < 0.011:
                    out.append(
                        _row(
                            name,
                            threshold,
                            f"{point['paraphrases_passed']:.1%}",
                            f"{point['near_misses_failed']:.1%}",
                        )
                    )
        out.append("")

    if structured := _load("structured"):
        out += [
            "## 14. What structured output costs (`python -m bench.run structured`)",
            "",
            f"{structured['clients']} closed-loop clients, chat requests asking for a person's name, age and job as "
            f"JSON (max_tokens={structured['max_tokens']}, greedy, cache bypassed), sent as free text, with a "
            "`json_schema` response_format, and in JSON mode; runs alternate, figures are the means of "
            f"{len(structured['runs']['free_text'])} runs each.",
            "",
            *_header("response_format", "tokens/s", "req/s", "p50 ms", "p95 ms", "tokens per answer", "valid JSON"),
        ]
        for name in ("free_text", "json_schema", "json_object"):
            r = structured[name]
            out.append(_row(name, r["tokens_per_s"], r["requests_per_s"], r["p50_ms"], r["p95_ms"], r["mean_tokens"],
                            f"{r['valid_json']}/{r['requests']}"))  # fmt: skip
        cost = structured["json_schema_cost"]
        out += [
            "",
            f"Throughput cost of a schema: {cost:.1%} of tokens/s (target ≤ 15%: {_verdict(cost <= 0.15)}); JSON "
            f"mode: {structured['json_object_cost']:.1%}. Structured answers are shorter, so more of each request is "
            "prefill: tokens/s counts that against them; requests/s rise.",
            "",
        ]

    if evaluation := _load("lm_eval"):
        out += [
            "## 15. lm-evaluation-harness against the service (`python -m bench.evaluation`)",
            "",
            f"{evaluation['lm_eval']} as its users run it, on two local tasks (bench/data/lm_eval, 20 items each): "
            "`capitals_mc` scores each choice with echo + logprobs requests (loglikelihood), `arithmetic_gen` "
            "generates until a newline (its filter takes the first number of the answer). lm-eval tokenizes "
            "through our /tokenize, which it detects.",
            "",
            *_header("lm-eval model", "task", "metric", "value", "run took (s)"),
        ]
        for kind, run in evaluation["runs"].items():
            for task, figures in run["results"].items():
                for metric, value in figures.items():
                    if isinstance(value, float) and "stderr" not in metric:
                        out.append(_row(kind, task, metric, value, run["seconds"]))
        out.append("")

    if soak := _load("soak"):
        out += [
            "## 16. Soak under faults (`python -m bench.soak --minutes N`)",
            "",
            f"{soak['minutes']} minutes of mixed load (4 interactive clients with repeated prompts, a streaming chat "
            f"client, a {soak['batch_request_counts']['total']}-line batch) while these faults came one every "
            f"45–90 s: {', '.join(soak['faults'])} (worker SIGKILLed, Redis restarted with its append-only file, "
            "the youngest API process SIGKILLed, so the eldest lives through the run).",
            "",
            *_header("accepted", "finished", "lost", "run twice", "5xx (outside fault windows)", "batch"),
            _row(
                soak["accepted"],
                soak["finished"],
                soak["lost"],
                soak["run_twice"],
                f"{soak['errors_5xx']} ({soak['errors_5xx_outside_fault_windows']})",
                f"{soak['batch_request_counts']['completed']}/{soak['batch_request_counts']['total']}",
            ),
            "",
            "RSS growth over the last two thirds, per process that lived through them: "
            + ", ".join(f"{k} {v:+.1%}" for k, v in soak["rss_growth_last_two_thirds"].items())
            + f". Redis held {soak['redis_keys_at_end']} keys at the end; those without a TTL, by prefix (each "
            "bounded by its owner: metrics series, queues' bindings, batch and file records, the cache's indexes): "
            + ", ".join(f"{k} {v}" for k, v in soak["redis_keys_without_ttl"].items())
            + ".",
            "",
        ]

    if two := _load("two_models"):
        out += [
            "## 17. Two models on one machine (`python -m bench.run two_models`)",
            "",
            f"Model A (the default) with {two['clients_per_model']} closed-loop clients (chat, max_tokens "
            f"{two['max_tokens']}), alone and then beside a second worker serving model B (the same weights under "
            "another id) to as many clients of its own; CPU seconds of each worker from /proc. The bar: A keeps at "
            "least the share of the CPU that B's worker leaves it. The machine has 2 cores.",
            "",
            *_header(
                "worker threads",
                "A alone tok/s",
                "A beside B",
                "B",
                "A kept",
                "B's CPU share",
                "(A+B)/A alone",
                "bar met",
            ),
        ]
        for threads, label in (("default", "default (2 each)"), ("1", "OMP_NUM_THREADS=1 each")):
            row = two[f"threads_{threads}"]
            a, b = row["together"].values()
            out.append(
                _row(
                    label,
                    row["alone"][next(iter(row["alone"]))]["tokens_per_s"],
                    a["tokens_per_s"],
                    b["tokens_per_s"],
                    f"{row['a_kept']:.0%}",
                    f"{row['b_cpu_share']:.0%}",
                    row["combined_vs_a_alone"],
                    _verdict(row["met"]),
                )
            )
        out += [
            "",
            "Two workers with torch's default thread count (one per core) run four spinning OpenMP threads on two "
            "cores and crawl; one thread each, they share the machine: A keeps 95% and the machine gives 1.9x the "
            "tokens of one worker. So on a CPU host, give each worker its share of the cores (README: Several "
            "models). This session's machine ran about 3x slower than the one that measured sections 2–3 (the "
            "bare engine in-process, 259 tokens/s against 854 there): compare ratios, not figures, across sections.",
            "",
        ]

    if fair := _load("fairness"):
        out += [
            "## 18. Fairness between tenants (`python -m bench.run fairness`)",
            "",
            f"Tenant B sends requests one at a time (chat, max_tokens {fair['max_tokens']}); tenant A runs "
            f"{fair['flood_clients']} clients back to back that wait out a 429's Retry-After. One worker, default "
            "settings (32 rows). The bar: B's p95 under A's flood at most 1.5x B's p95 alone.",
            "",
            *_header("run", "B p50 ms", "B p95 ms", "B p95 / alone", "A's answers"),
        ]
        for name, run in fair["runs"].items():
            answers = ", ".join(f"{k}: {v}" for k, v in run.get("a_answers", {}).items())
            out.append(_row(name.replace("_", " "), run["p50_ms"], run["p95_ms"], run["p95_vs_alone"], answers))
        out += [
            "",
            "Met with TENANT_MAX_JOBS = " + (", ".join(map(str, fair["met_with"])) or "none measured") + ". "
            "What B waits for under a flood is not A's queue (the limit and the round-robin draw keep B at the "
            "front) but the step time: every row in the batch makes each decode step longer for all rows, so B's "
            "latency follows how many rows A may hold. The limit is the operator's knob for that trade: A's "
            "throughput against everyone else's latency.",
            "",
        ]

    (HERE / "RESULTS.md").write_text("\n".join(out))
    print((HERE / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
