"""lm-evaluation-harness against the running service, as its users run it: two small local tasks.

- `capitals_mc` (loglikelihood, multiple choice): `local-completions` scores each choice with the
  echo + logprobs requests lm-eval sends, tokenizing through our /tokenize.
- `arithmetic_gen` (generate_until): through `local-completions` and `local-chat-completions`.

The data is in bench/data/lm_eval (no downloads). lm-eval is a peer, not a dependency: it lives in
its own folder outside the repository, and this script installs it there on first use.

    .venv/bin/python -m bench.evaluation          # writes bench/results/lm_eval.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import RESULTS, Service, machine
from tasks.settings import Settings
from tests.samples import SERVICE_ENV

DATA = Path(__file__).resolve().parent / "data" / "lm_eval"
LM_EVAL = "lm-eval==0.4.13"
#: Its dependencies that our environment lacks (torch, transformers and the rest are ours).
LM_EVAL_DEPS = """DataProperty absl-py chardet colorama datasets defusedxml dill evaluate lxml mbstrdecoder
more-itertools multiprocess nltk pandas pathvalidate portalocker pyarrow pytablewriter rouge_score sacrebleu
sqlitedict tabledata tabulate tcolorpy tenacity typepy word2number xxhash""".split()
HOME = Path(os.environ.get("LM_EVAL_HOME", Path.home() / ".cache" / "llm-batch-service" / "lm-eval-0.4.13"))
TASKS: dict[str, dict[str, Any]] = {
    "capitals_mc": {
        "data": "capitals.jsonl",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: What is the capital of {{country}}?\nAnswer:",
        "doc_to_choice": "choices",
        "doc_to_target": "answer",
        "metric_list": [{"metric": "acc"}],
    },
    "arithmetic_gen": {
        "data": "arithmetic.jsonl",
        "output_type": "generate_until",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["\n"], "max_gen_toks": 16, "do_sample": False, "temperature": 0},
        "filter_list": [
            {
                "name": "first_number",
                "filter": [{"function": "regex", "regex_pattern": "(-?\\d+)"}, {"function": "take_first"}],
            }
        ],
        "metric_list": [{"metric": "exact_match"}],
    },
}


def install() -> None:
    """lm-eval into HOME, beside (not inside) our environment."""
    if (HOME / "lm_eval").is_dir():
        return
    pip = [sys.executable, "-m", "pip", "install", "-q", "--target", str(HOME), "--no-deps", LM_EVAL, *LM_EVAL_DEPS]
    subprocess.run(pip, check=True)


def task_files(folder: Path) -> None:
    """The tasks' YAML (JSON is YAML) with absolute data paths."""
    for name, spec in TASKS.items():
        spec = dict(spec)
        data = str(DATA / spec.pop("data"))
        config = {"task": name, "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": data}}}
        config |= {"test_split": "test", **spec}
        (folder / f"{name}.yaml").write_text(json.dumps(config, indent=2))


def evaluate(base: str, model: str, kind: str, tasks: str, folder: Path) -> dict[str, Any]:
    """Run lm-eval once; its results JSON and how long it took."""
    route = "chat/completions" if kind == "local-chat-completions" else "completions"
    args = f"model={model},base_url={base}/v1/{route},num_concurrent=4,max_retries=1,tokenized_requests=False"
    out = folder / f"out-{kind}"
    command = [sys.executable, "-m", "lm_eval", "--model", kind, "--model_args", args, "--tasks", tasks]
    command += ["--include_path", str(folder), "--output_path", str(out), "--seed", "1234"]
    if kind == "local-chat-completions":
        command.append("--apply_chat_template")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HOME), os.getcwd()]), "HF_DATASETS_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    print(done.stdout[-3000:])
    if done.returncode != 0:
        raise RuntimeError(f"lm-eval failed ({done.returncode}):\n{done.stderr[-4000:]}")
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    return {
        "seconds": round(time.monotonic() - started, 1),
        "results": results["results"],
        "table": done.stdout[done.stdout.find("|Tasks") :].strip(),
    }


def main() -> None:
    install()
    model = Settings.from_env({}).model_name
    folder = Path(tempfile.mkdtemp(prefix="lm-eval-"))
    task_files(folder)
    service = Service(folder, SERVICE_ENV)
    try:
        service.start_worker()
        runs = {
            "local-completions": evaluate(service.base, model, "local-completions", ",".join(TASKS), folder),
            "local-chat-completions": evaluate(service.base, model, "local-chat-completions", "arithmetic_gen", folder),
        }
    finally:
        service.close()
    result = {"lm_eval": LM_EVAL, "model": model, "runs": runs, "machine": machine()}
    result["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    (RESULTS / "lm_eval.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
