"""llm-batch: run a JSONL file of requests through the Batch API, with a live progress bar.

    llm-batch submit requests.jsonl [--endpoint /v1/chat/completions] [--output out.jsonl]
                                    [--errors errors.jsonl] [--no-wait]
    llm-batch status BATCH_ID
    llm-batch cancel BATCH_ID

The service is $LLM_BASE_URL (default http://127.0.0.1:8000) and the key $LLM_API_KEY, if any.
Exit status: 0 completed, 1 the batch ended otherwise, 2 a usage or request error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

ENDED = ("completed", "failed", "cancelled", "expired")
POLL_S = 1.0


class Client:
    """The few Batch API calls the CLI makes."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.base + path, timeout=300, **kwargs)
        if not response.ok:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise SystemExit(f"llm-batch: {method} {path}: {response.status_code} {message}")
        return response

    def submit(self, path: Path, endpoint: str) -> dict[str, Any]:
        with path.open("rb") as upload:
            file = self.call("POST", "/v1/files", files={"file": (path.name, upload)}, data={"purpose": "batch"}).json()
        body = {"input_file_id": file["id"], "endpoint": endpoint, "completion_window": "24h"}
        return self.call("POST", "/v1/batches", json=body).json()

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self.call("GET", f"/v1/batches/{batch_id}").json()

    def download(self, file_id: str, to: Path) -> None:
        with self.call("GET", f"/v1/files/{file_id}/content", stream=True) as response, to.open("wb") as out:
            for chunk in response.iter_content(1 << 16):
                out.write(chunk)


def wait(client: Client, batch: dict[str, Any]) -> dict[str, Any]:
    """Poll until the batch ends, drawing done / failed / rate / ETA."""
    with tqdm(total=batch["request_counts"]["total"] or None, unit="req", dynamic_ncols=True) as bar:
        while batch["status"] not in ENDED:
            time.sleep(POLL_S)
            batch = client.batch(batch["id"])
            counts = batch["request_counts"]
            bar.total = counts["total"] or bar.total
            bar.update(counts["completed"] + counts["failed"] - bar.n)
            bar.set_postfix(status=batch["status"], failed=counts["failed"], refresh=False)
    return batch


def report(client: Client, batch: dict[str, Any], output: Path | None, errors: Path | None) -> int:
    """Print the outcome, download the result files; the exit status."""
    counts = batch["request_counts"]
    print(f"{batch['id']}: {batch['status']}, {counts['completed']} completed, {counts['failed']} failed")
    for problem in (batch.get("errors") or {}).get("data", []):
        print(f"  line {problem.get('line')}: {problem['message']}", file=sys.stderr)
    for file_id, to in ((batch.get("output_file_id"), output), (batch.get("error_file_id"), errors)):
        if file_id and to:
            client.download(file_id, to)
            print(f"  wrote {to}")
    return 0 if batch["status"] == "completed" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm-batch", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("LLM_API_KEY"))
    commands = parser.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="upload a JSONL file, start a batch, follow it")
    submit.add_argument("file", type=Path)
    submit.add_argument(
        "--endpoint", default="/v1/chat/completions", choices=["/v1/chat/completions", "/v1/completions"]
    )
    submit.add_argument("--output", type=Path, help="where to write the answers (default: FILE.output.jsonl)")
    submit.add_argument("--errors", type=Path, help="where to write failed requests (default: FILE.errors.jsonl)")
    submit.add_argument("--no-wait", action="store_true", help="print the batch id and return")
    for name, text in (("status", "show a batch"), ("cancel", "cancel a batch")):
        commands.add_parser(name, help=text).add_argument("batch_id")
    args = parser.parse_args(argv)
    client = Client(args.base_url, args.api_key)

    if args.command == "submit":
        if not args.file.is_file():
            parser.error(f"{args.file} is not a file")
        batch = client.submit(args.file, args.endpoint)
        if args.no_wait:
            print(batch["id"])
            return 0
        print(f"{batch['id']}: submitted {args.file}", file=sys.stderr)
        batch = wait(client, batch)
        output = args.output or args.file.with_suffix(".output.jsonl")
        return report(client, batch, output, args.errors or args.file.with_suffix(".errors.jsonl"))
    if args.command == "cancel":
        client.call("POST", f"/v1/batches/{args.batch_id}/cancel")
    batch = client.batch(args.batch_id)
    n = batch["request_counts"]
    print(f"{batch['id']}: {batch['status']}, {n['completed']}/{n['total']} completed, {n['failed']} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
