"""The message contract: task and queue names, key prefixes, and the generation request schema.

A request is validated once, by `GenerationRequest.from_json`, on both sides of the queue: the API
refuses bad input before enqueueing, and the worker refuses a hand-made message the same way.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from tasks import structured, tools
from tasks.errors import InvalidRequest, MalformedBody

TASK_NAME = "llm.generate"
#: Each served model has two queues, named after it, and every worker of the model consumes both:
#: interactive requests, and Batch API work (same task, batched only after interactive requests).
INTERACTIVE_QUEUE_PREFIX = "llm.generate@"
BULK_QUEUE_PREFIX = "llm.generate.bulk@"
#: Redis key prefixes owned by this service (Celery's own keys keep Celery's names).
JOB_KEY_PREFIX = "llm:job:"
#: Sorted set of enqueued jobs that have not ended (id -> when enqueued): each one's message must be
#: in a queue or held unacked by a worker; one that is in neither was lost and is sent again
#: (webapi/services/redelivery.py).
UNFINISHED_KEY = "llm:jobs:unfinished"
WORKERS_KEY = "llm:workers"
#: Hostname -> JSON of what each worker serves (model, device, batch settings): the API routes a
#: request to a model's queues only while a live worker announces that model here.
WORKER_INFO_KEY = "llm:workers:info"
#: The semantic cache's keys (entries, exact index, LRU order, change log, in-flight markers).
CACHE_KEY_PREFIX = "llm:cache:"
#: Ids of ended jobs whose answers the cache may keep: the job record's done/cancel transition
#: pushes them, the API's cache learner pops them (tasks/job_record.py, webapi/cache/learner.py).
LEARN_QUEUE = CACHE_KEY_PREFIX + "learn"
#: A streamed job's text as the worker generates it: a Redis stream per job of entries
#: {"o": offset, "t": text} (the row's text from character o on), then {"end": "1"} once its result
#: is stored. A redelivered job restarts at offset 0; a reader skips what it has already sent.
STREAM_KEY_PREFIX = "llm:stream:"
STREAM_TTL_S = 600
STREAM_MAX_ENTRIES = 4096
#: Batch API records: file metadata, batch state, and per batch its submitted lines
#: (":jobs", line -> job id and custom_id), its unfinished lines (":open"), and its driver's lease.
FILE_KEY_PREFIX = "llm:file:"
FILES_KEY = "llm:files"
BATCH_KEY_PREFIX = "llm:batch:"
BATCHES_KEY = "llm:batches"
ACTIVE_BATCHES_KEY = "llm:batches:active"
#: Seconds between worker heartbeats (a sorted set of hostname -> last beat); a worker is alive
#: while its last beat is younger than WORKER_ALIVE_S.
HEARTBEAT_S = 5.0
WORKER_ALIVE_S = 3 * HEARTBEAT_S

ROLES = ("system", "user", "assistant", "tool")
MESSAGE_FIELDS = {"role", "content", "tool_calls", "tool_call_id"}
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 128
MAX_SEED = 2**63 - 1
#: Most alternatives a token's log-probability may come with (OpenAI's top_logprobs limit).
MAX_LOGPROBS = 20


class ModelQueues(NamedTuple):
    """One model's queues."""

    interactive: str
    bulk: str


def model_queues(model: str) -> ModelQueues:
    """The queues of the model served as `model` (its id in the API)."""
    return ModelQueues(INTERACTIVE_QUEUE_PREFIX + model, BULK_QUEUE_PREFIX + model)


def is_bulk_queue(queue: str) -> bool:
    """Whether `queue` holds Batch API work."""
    return queue.startswith(BULK_QUEUE_PREFIX)


@dataclass(frozen=True)
class Limits:
    """The bounds a request is checked against (from Settings)."""

    max_new_tokens: int = 512
    default_max_tokens: int = 64
    max_prompt_chars: int = 16_000


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: str
    content: str  # may be empty for an assistant message that made tool calls
    #: An assistant message's calls: ({"id", "type": "function", "function": {"name", "arguments"}}, ...)
    tool_calls: tuple[dict[str, Any], ...] | None = None
    tool_call_id: str | None = None  # a tool message: the call it answers


@dataclass(frozen=True)
class GenerationRequest:
    """One generation request: a prompt or a chat, and the parameters that shape its output."""

    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    max_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    #: Structured output (tasks/structured.py): None for free text.
    response_format: dict[str, Any] | None = None
    #: Log-probabilities: None for none; k for each generated token's, with its k likeliest alternatives.
    logprobs: int | None = None
    #: The prompt's tokens' log-probabilities too (OpenAI's echo; scoring, as lm-eval does). With it,
    #: max_tokens may be 0: the prompt is scored, nothing is generated.
    prompt_logprobs: bool = False
    #: Tool calling (tasks/tools.py): functions {"name", "description", "parameters"}, and
    #: "none" | "auto" | "required" | the name of the function to call.
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: str = "none"

    @property
    def greedy(self) -> bool:
        """Temperature 0 means greedy decoding: deterministic, seed irrelevant."""
        return self.temperature == 0

    def sampling_key(self) -> tuple[Any, ...]:
        """Requests with equal keys can share one generate() call.

        Length and stop sequences are per row (see the runner's stopping criteria); sampling
        settings are per call, and a seeded sample needs its own call to be reproducible.
        """
        if self.greedy:
            return ("greedy",)
        return ("sample", self.temperature, self.top_p, self.seed)

    def to_json(self) -> dict[str, Any]:
        """The request as a JSON-ready dict (the task message's kwargs)."""
        data = asdict(self)
        data["stop"] = list(self.stop)
        if self.messages is not None:
            data["messages"] = [{k: v for k, v in asdict(m).items() if v is not None} for m in self.messages]
        if self.tools is not None:  # in OpenAI's shapes, which from_json takes back
            data["tools"] = [tools.as_openai(tool) for tool in self.tools]
        if self.tool_choice not in ("none", "auto", "required"):
            data["tool_choice"] = {"type": "function", "function": {"name": self.tool_choice}}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_json(cls, body: Any, limits: Limits, extra_fields: frozenset[str] = frozenset()) -> GenerationRequest:
        """Validate a decoded JSON body; raise InvalidRequest naming the field at fault.

        `extra_fields` are names the caller handles itself (e.g. `timeout`), skipped here.
        """

        if not isinstance(body, dict):
            raise MalformedBody("the request body must be a JSON object")
        known = {"prompt", "messages", "max_tokens", "temperature", "top_p", "stop", "seed", "response_format"}
        known |= {"logprobs", "prompt_logprobs", "tools", "tool_choice"}
        unknown = sorted(set(body) - known - extra_fields)
        if unknown:
            raise InvalidRequest(
                f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(known | extra_fields))}",
                unknown[0],
                "unknown_field",
            )
        prompt, messages = _prompt_or_messages(body, limits)
        logprobs = None if body.get("logprobs") is None else _integer(body, "logprobs", 0, 0, MAX_LOGPROBS)
        prompt_logprobs = flag(body, "prompt_logprobs")
        least = 0 if prompt_logprobs else 1
        max_tokens = _integer(body, "max_tokens", limits.default_max_tokens, least, limits.max_new_tokens)
        temperature = _number(body, "temperature", 0.0, 0.0, 2.0)
        top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
        if top_p == 0:
            raise InvalidRequest("top_p must be greater than 0 and at most 1", "top_p", "out_of_range")
        seed = None if body.get("seed") is None else _integer(body, "seed", 0, 0, MAX_SEED)
        response_format = structured.normalise(body.get("response_format"))
        functions = tools.normalise_tools(body.get("tools"))
        tool_choice = tools.normalise_choice(body.get("tool_choice"), functions)
        if functions and messages is None:
            raise InvalidRequest("tools need messages (a chat)", "tools", "invalid_value")
        if response_format is not None and tool_choice != "none":
            raise InvalidRequest("tools to call and response_format exclude each other", "tool_choice", "conflict")
        return cls(
            prompt, messages, max_tokens, temperature, top_p, _stop(body), seed, response_format, logprobs,
            prompt_logprobs, functions, tool_choice,
        )  # fmt: skip


def _prompt_or_messages(body: dict[str, Any], limits: Limits) -> tuple[str | None, tuple[Message, ...] | None]:
    has_prompt, has_messages = body.get("prompt") is not None, body.get("messages") is not None
    if has_prompt == has_messages:
        raise InvalidRequest(
            "give exactly one of 'prompt' or 'messages'", "prompt", "missing" if not has_prompt else "conflict"
        )
    if has_prompt:
        prompt = _text(body["prompt"], "prompt")
        _check_length(len(prompt), limits, "prompt")
        return prompt, None
    raw = body["messages"]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("messages must be a non-empty list of {role, content}", "messages", "wrong_type")
    messages = [_message(item, f"messages[{i}]") for i, item in enumerate(raw)]
    if messages[-1].role == "assistant":
        raise InvalidRequest("the last message must not be the assistant's", "messages", "invalid_value")
    _check_length(sum(len(m.content) for m in messages), limits, "messages")
    return None, tuple(messages)


def _message(item: Any, where: str) -> Message:
    """One chat turn: role and content, an assistant's tool_calls, a tool's tool_call_id."""
    if not isinstance(item, dict) or not {"role", "content"} <= set(item) <= MESSAGE_FIELDS:
        raise InvalidRequest(f"{where} must be an object with 'role' and 'content'", where, "wrong_type")
    role = item["role"]
    if role not in ROLES:
        raise InvalidRequest(f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role", "invalid_value")
    calls = item.get("tool_calls")
    if calls is not None and role != "assistant":
        raise InvalidRequest(f"{where}: only an assistant message has tool_calls", f"{where}.tool_calls")
    if (item.get("tool_call_id") is not None) != (role == "tool"):
        raise InvalidRequest(f"{where}: a tool message, and only one, has a tool_call_id", f"{where}.tool_call_id")
    empty_allowed = bool(calls) or role == "tool"  # a call's message, or a tool's empty result
    content = "" if empty_allowed and not item["content"] else _text(item["content"], f"{where}.content")
    return Message(role, content, _tool_calls(calls, f"{where}.tool_calls"), item.get("tool_call_id"))


def _tool_calls(value: Any, where: str) -> tuple[dict[str, Any], ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidRequest(f"{where} must be a non-empty list", where, "wrong_type")
    for i, call in enumerate(value):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"{where}[{i}] must be {{id, type: function, function: {{name, arguments}}}}", where)
        if not isinstance(function.get("arguments", ""), str):
            raise InvalidRequest(f"{where}[{i}].function.arguments must be a JSON string", f"{where}[{i}]")
    return tuple(value)


def _text(value: Any, field: str) -> str:
    """A non-blank string of printable text (tabs and newlines allowed)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string", field, "wrong_type")
    if not value.strip():
        raise InvalidRequest(f"{field} must not be empty or only whitespace", field, "empty")
    for ch in value:
        if ch in "\t\n\r":
            continue
        category = unicodedata.category(ch)
        if category == "Cc" or category == "Cs":  # control characters, lone surrogates
            raise InvalidRequest(
                f"{field} contains a control character or invalid code point U+{ord(ch):04X}",
                field,
                "invalid_character",
            )
    return value


def _check_length(chars: int, limits: Limits, field: str) -> None:
    if chars > limits.max_prompt_chars:
        raise InvalidRequest(
            f"{field} is {chars} characters; the limit is {limits.max_prompt_chars}", field, "too_long"
        )


def _integer(body: dict[str, Any], field: str, default: int, low: int, high: int) -> int:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{field} must be an integer", field, "wrong_type")
    if not low <= value <= high:
        raise InvalidRequest(f"{field} must be between {low} and {high}, got {value}", field, "out_of_range")
    return value


def flag(body: dict[str, Any], field: str, default: bool = False) -> bool:
    """A boolean field of a request body (absent or null: `default`); InvalidRequest otherwise."""
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a boolean", field, "wrong_type")
    return value


def _number(body: dict[str, Any], field: str, default: float, low: float, high: float) -> float:
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidRequest(f"{field} must be a number", field, "wrong_type")
    if not low <= value <= high:
        raise InvalidRequest(f"{field} must be between {low} and {high}, got {value}", field, "out_of_range")
    return float(value)


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise InvalidRequest("stop must be a non-empty string or a list of them", "stop", "wrong_type")
    if len(stops) > MAX_STOP_SEQUENCES or any(len(s) > MAX_STOP_CHARS for s in stops):
        raise InvalidRequest(
            f"stop takes at most {MAX_STOP_SEQUENCES} sequences of at most {MAX_STOP_CHARS} characters",
            "stop",
            "too_long",
        )
    return tuple(stops)
