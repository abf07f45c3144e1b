"""Train the paraphrase model (paraphrase.py) from the labelled prompt pairs in tests/data.

    llm-cache train-paraphrase [--output DIR]        (scripts/setup.sh runs it once, ~15 min on 2 cores)

A cross-encoder: the bundled all-MiniLM-L6-v2 reads both prompts at once and learns one logit,
"B asks what A asks", from every labelled pair set but the ones held out to choose and to report
CACHE_PARAPHRASE_THRESHOLD. Both orders of each pair are learnt, so the score is symmetric. The
seed, the order of the files and two torch threads make the same weights on every machine of one
kind; the output directory records a digest of the recipe and the sets, so a change retrains.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from webapi.cache.paraphrase import MAX_LENGTH

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
#: Never learnt: blind14-21 and the topical neighbours among their and blind22-25's prompts
#: (cross_heldout_calibration, and cross_heldout_calibration2 below cosine 0.85) chose the cache's
#: thresholds; blind22-25 and cross_heldout_report reported the first model; blind26-29 and
#: cross_heldout_report2 the second; blind30-33, written before the third was trained, and the
#: topical neighbours among their prompts (cross_heldout_report3) report it.
HELD_OUT = (
    *(f"cache_pairs_blind{n}.jsonl" for n in range(14, 34)),
    "cache_pairs_cross_heldout_calibration.jsonl",
    "cache_pairs_cross_heldout_calibration2.jsonl",
    "cache_pairs_cross_heldout_report.jsonl",
    "cache_pairs_cross_heldout_report2.jsonl",
    "cache_pairs_cross_heldout_report3.jsonl",
)
#: How it learns; change "version" with the training code, so trained copies are redone.
RECIPE = {
    "version": 1, "epochs": 2, "batch": 32, "learning_rate": 3e-5, "warmup": 0.1, "max_length": MAX_LENGTH,
    "seed": 0, "threads": 2,
}  # fmt: skip
DIGEST_FILE = "training.sha256"


def training_sets(data: Path = DATA) -> list[Path]:
    """The pair files the model learns from, in a fixed order."""
    return [p for p in sorted(data.glob("cache_pairs_*.jsonl")) if p.name not in HELD_OUT]


def digest(files: list[Path]) -> str:
    """What the trained weights depend on: the recipe and every training set."""
    h = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode())
    for path in files:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def trained(output: Path, files: list[Path]) -> bool:
    """`output` holds weights trained from exactly these files with this recipe."""
    stamp = output / DIGEST_FILE
    return stamp.exists() and stamp.read_text().strip() == digest(files)


def train(files: list[Path], output: Path, log=print) -> None:
    """Fine-tune the bundled MiniLM as a cross-encoder on `files`; write it to `output`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from webapi.cache.embedder import DEFAULT_EMBED_MODEL, resolve

    torch.set_num_threads(RECIPE["threads"])
    torch.manual_seed(RECIPE["seed"])
    rng = random.Random(RECIPE["seed"])
    rows = [json.loads(line) for path in files for line in path.read_text().splitlines() if line.strip()]
    examples = [(r["a"], r["b"], float(r["label"] == "hit")) for r in rows]
    examples += [(b, a, y) for a, b, y in examples]
    base = resolve(DEFAULT_EMBED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    batch = RECIPE["batch"]
    steps = RECIPE["epochs"] * (len(examples) // batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=RECIPE["learning_rate"], weight_decay=0.01)
    warmup = RECIPE["warmup"] * steps
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, s / warmup) * (steps - s) / steps)
    model.train()
    for epoch in range(RECIPE["epochs"]):
        rng.shuffle(examples)
        for start in range(0, len(examples) - batch + 1, batch):
            a, b, labels = zip(*examples[start : start + batch], strict=True)
            encoded = tokenizer(list(a), list(b), padding=True, truncation=True, max_length=RECIPE["max_length"],
                                return_tensors="pt")  # fmt: skip
            logits = model(**encoded).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(labels))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
        log(f"paraphrase model: epoch {epoch + 1} of {RECIPE['epochs']} done ({len(examples)} examples)")
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    (output / DIGEST_FILE).write_text(digest(files) + "\n")
