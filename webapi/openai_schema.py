"""OpenAI's request and response shapes, translated to and from our own.

Requests become a GenerationRequest (validated by the one contract validator). A field OpenAI
defines that we do not implement is refused by name unless its value changes nothing (n=1,
presence_penalty=0, ...): a client must never get an answer that silently ignored what it asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from tasks.contract import MAX_LOGPROBS, MAX_SEED, MESSAGE_FIELDS, GenerationRequest, Limits, flag
from tasks.errors import InvalidRequest, MalformedBody
from webapi import logprobs
from webapi.services.submission import cache_mode

Kind = Literal["completion", "chat"]

_COMMON = {
    "model", "max_tokens", "temperature", "top_p", "stop", "seed", "n", "stream", "stream_options", "user",
    "response_format",
}  # fmt: skip
#: What each route accepts; `cache` (auto | bypass | refresh) and `priority` (the worker's draw
#: order) are our extensions, e.g. via extra_body.
FIELDS: dict[Kind, set[str]] = {
    "completion": _COMMON | {"prompt", "cache", "priority", "logprobs", "echo"},
    "chat": _COMMON
    | {"messages", "max_completion_tokens", "cache", "priority", "logprobs", "top_logprobs", "tools", "tool_choice"},
}
#: OpenAI fields we do not implement, and the values of each that mean "not used".
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "best_of": (1,),
    "echo": (False,),
    "presence_penalty": (0,),
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "suffix": ("",),
    "top_logprobs": (0,),
    "parallel_tool_calls": (True, False),
    "store": (False,),
    "tools": ([],),
    "functions": ([],),
    "tool_choice": ("none",),
    "function_call": ("none",),
    "metadata": ({},),
    "service_tier": ("auto", "default"),
    "modalities": (["text"],),
    "audio": (),
    "prediction": (),
    "reasoning_effort": (),
    "web_search_options": (),
    "verbosity": (),
}
#: Choices one request may ask for (`n`); each is a row of the batch.
MAX_CHOICES = 16
#: As in OpenAI's API, sampling is on unless asked otherwise; temperature 0 is greedy and cacheable.
DEFAULT_TEMPERATURE = 1.0
#: Chat roles we map onto the model's chat template ("developer" is OpenAI's newer "system").
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


@dataclass(frozen=True)
class OpenAIRequest:
    """A parsed completion or chat request."""

    kind: Kind
    generation: GenerationRequest
    stream: bool
    include_usage: bool
    cache_mode: str
    user: str | None
    model: str  # the id of the model it is routed to (webapi/services/models.py)
    n: int = 1
    echo: bool = False  # completions: the answer's text (and logprobs) start with the prompt's

    @property
    def streams_whole(self) -> bool:
        """With stream, the answer is sent in chunks once complete rather than as it is generated:
        several choices, log-probabilities, or tools (an answer may turn out to be a call)."""
        generation = self.generation
        return self.n > 1 or generation.logprobs is not None or self.echo or generation.tool_choice != "none"

    def generations(self) -> list[GenerationRequest]:
        """One request per choice. A seeded request's choice i uses seed + i: the choices differ,
        and each is reproducible on its own (and cacheable, as an n=1 request with that seed)."""
        seed = self.generation.seed
        if seed is None:
            return [self.generation] * self.n  # sampled rows draw their own seeds; greedy ones agree
        return [replace(self.generation, seed=(seed + i) % (MAX_SEED + 1)) for i in range(self.n)]


def parse(kind: Kind, body: Any, limits: Limits, resolve_model: Callable[[Any], str]) -> OpenAIRequest:
    """Validate an OpenAI request body; InvalidRequest names the field at fault. `resolve_model`
    turns the body's `model` into a served model's id, or raises NotFound."""
    if not isinstance(body, dict):
        raise MalformedBody("the request body must be a JSON object")
    _check_fields(kind, body)
    if body.get("model") is None:
        raise InvalidRequest("you must provide a model parameter", "model", "missing")
    model = resolve_model(body["model"])
    ours: dict[str, Any] = {k: body.get(k) for k in ("temperature", "top_p", "stop", "seed", "response_format")}
    ours["max_tokens"] = body.get("max_completion_tokens", body.get("max_tokens"))
    if ours["temperature"] is None:
        ours["temperature"] = DEFAULT_TEMPERATURE
    echo = False
    if kind == "chat":
        ours["messages"] = messages(body.get("messages"))
        ours["logprobs"] = _chat_logprobs(body)
        ours["tools"], ours["tool_choice"] = body.get("tools"), body.get("tool_choice")
    else:
        ours["prompt"] = _prompt(body.get("prompt"))
        ours["logprobs"] = body.get("logprobs")  # alternatives per token; the contract checks it
        echo = flag(body, "echo")
        ours["prompt_logprobs"] = echo and ours["logprobs"] is not None
    generation = GenerationRequest.from_json(ours, limits)
    stream = flag(body, "stream")
    options = body.get("stream_options")
    if options is not None and (not stream or not isinstance(options, dict) or set(options) - {"include_usage"}):
        raise InvalidRequest(
            "stream_options takes only {include_usage}, and only with stream: true", "stream_options", "invalid_value"
        )
    include_usage = flag(options or {}, "include_usage")
    n = _choices(body.get("n", 1))
    return OpenAIRequest(kind, generation, stream, include_usage, cache_mode(body), body.get("user"), model, n, echo)


def _chat_logprobs(body: dict[str, Any]) -> int | None:
    """Chat's logprobs (a flag) and top_logprobs (alternatives) as our alternatives per token."""
    wanted, top = flag(body, "logprobs"), body.get("top_logprobs")
    if top is None:
        return 0 if wanted else None
    if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= MAX_LOGPROBS:
        raise InvalidRequest(
            f"top_logprobs must be an integer from 0 to {MAX_LOGPROBS}", "top_logprobs", "invalid_value"
        )
    if not wanted:
        raise InvalidRequest("top_logprobs needs logprobs: true", "top_logprobs", "invalid_value")
    return top


def _choices(value: Any) -> int:
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CHOICES:
        raise InvalidRequest(f"n must be an integer from 1 to {MAX_CHOICES}", "n", "invalid_value")
    return value


def _check_fields(kind: Kind, body: dict[str, Any]) -> None:
    for field, value in body.items():
        if field in FIELDS[kind] or value is None:
            continue
        if field in NEUTRAL:
            if value not in NEUTRAL[field]:
                raise InvalidRequest(f"{field!r} is not supported by this server", field, "unsupported_parameter")
        else:
            raise InvalidRequest(f"unrecognized request argument supplied: {field!r}", field, "unknown_parameter")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidRequest("user must be a string", "user", "wrong_type")


def _prompt(value: Any) -> Any:
    """A string, or a list holding one (n and batching of prompts per request are not supported)."""
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], str):
            raise InvalidRequest(
                "prompt must be a string or a list of one string; send one request per prompt",
                "prompt",
                "unsupported_parameter",
            )
        return value[0]
    return value


def messages(value: Any) -> Any:
    """OpenAI messages as our {role, content} list: text content parts joined, other parts refused."""
    if not isinstance(value, list):
        return value  # the contract validator says what is wrong
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", where, "wrong_type")
        extra = sorted(k for k, v in message.items() if k not in MESSAGE_FIELDS and v is not None)
        if extra:
            raise InvalidRequest(
                f"{where}.{extra[0]} is not supported by this server", f"{where}.{extra[0]}", "unsupported_parameter"
            )
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role", "invalid_value")
        turn = {"role": ROLES[role], "content": _content(message.get("content"), f"{where}.content")}
        if message.get("tool_calls"):  # the SDK sends content null beside calls
            turn |= {"tool_calls": message["tool_calls"], "content": turn["content"] or ""}
        if message.get("tool_call_id") is not None:
            turn["tool_call_id"] = message["tool_call_id"]
        out.append(turn)
    return out


def _content(value: Any, where: str) -> Any:
    if not isinstance(value, list):
        return value
    parts = []
    for j, part in enumerate(value):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequest(
                f"{where}[{j}]: only text content parts are supported", f"{where}[{j}]", "unsupported_parameter"
            )
        parts.append(part["text"])
    return "\n".join(parts)


def response(kind: Kind, jobs: list[dict[str, Any]], model: str, echo: str | None = None) -> dict[str, Any]:
    """The completion or chat.completion object for succeeded jobs, one choice each (the first's id).

    `usage` counts the prompt once and every choice's completion tokens, as OpenAI's does.
    `echo`: the prompt, which a completion's text (and logprobs) then start with.
    """
    choices = []
    for index, job in enumerate(jobs):
        result = job["result"]
        choice: dict[str, Any] = {"index": index}
        if kind == "chat":
            choice["message"] = {"role": "assistant", "content": result["text"]}
            if result.get("tool_calls"):
                choice["message"] |= {"content": result["text"] or None, "tool_calls": result["tool_calls"]}
            choice["logprobs"] = logprobs.chat(result)
        else:
            choice["text"] = (echo or "") + result["text"]
            choice["logprobs"] = logprobs.completion(result, echo is not None)
        choice["finish_reason"] = result["finish_reason"]
        choices.append(choice)
    prompt = jobs[0]["result"]["prompt_tokens"]
    completion = sum(job["result"]["completion_tokens"] for job in jobs)
    return {
        **envelope(kind, jobs[0]["id"], jobs[0]["created_at"], model, chunk=False),
        "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def usage(result: dict[str, Any]) -> dict[str, int]:
    """OpenAI's usage object from our result."""
    prompt, completion = result["prompt_tokens"], result["completion_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def envelope(kind: Kind, job_id: str, created: float, model: str, chunk: bool) -> dict[str, Any]:
    prefix, obj = ("chatcmpl-", "chat.completion") if kind == "chat" else ("cmpl-", "text_completion")
    return {
        "id": prefix + job_id,
        "object": obj + ".chunk" if chunk and kind == "chat" else obj,
        "created": int(created),
        "model": model,
        "system_fingerprint": None,
    }
