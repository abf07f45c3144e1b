"""OpenAI-compatible routes: models, completions and chat completions, plain or streamed.

They run on the same pipeline as /v1/jobs (cache, batching worker, result backend); the job id
is the response id after its `cmpl-` / `chatcmpl-` prefix, so GET /v1/jobs/<id> shows its batch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from itertools import chain
from typing import Any

from flask import Blueprint, Response, g, jsonify

from tasks import metrics
from tasks.errors import Conflict, InferenceError, NotFound, TimedOut, error_from_dict
from webapi import openai_chunks, openai_schema
from webapi.errors import openai_error
from webapi.openai_schema import Kind, OpenAIRequest
from webapi.routes.helpers import json_body, rate_limit, services, settings
from webapi.services import Services
from webapi.services.submission import priority
from webapi.services.text_stream import job_text

log = logging.getLogger(__name__)
bp = Blueprint("openai", __name__)
#: Who the model list says owns the model.
OWNER = "llm-batch-inference"
_STARTED = int(time.time())


def _models() -> dict[str, dict[str, Any]]:
    """The generation models live workers serve (the default first), then the embedding model."""
    live = services().models.live()
    default = services().models.default
    objects = {
        model: {
            "id": model,
            "object": "model",
            "created": _STARTED,
            "owned_by": OWNER,
            "default": model == default,
            # vLLM's fields: the weights it runs, and for an adapter the base model it adapts.
            "root": workers[0].get("adapter") or workers[0].get("source", model),
            "parent": workers[0].get("source") if workers[0].get("adapter") else None,
            "workers": [{k: v for k, v in info.items() if k != "model"} for info in workers],
        }
        for model, workers in sorted(live.items(), key=lambda item: item[0] != default)
    }
    embed = settings().embed_model
    objects[embed] = {"id": embed, "object": "model", "created": _STARTED, "owned_by": OWNER, "embedding": True}
    return objects


@bp.get("/v1/models")
def list_models() -> Response:
    """The served models: each generation model a live worker serves, with its workers (device,
    batch settings), then the embedding model (/v1/embeddings)."""
    return jsonify({"object": "list", "data": list(_models().values())})


@bp.get("/v1/models/<path:model_id>")
def get_model(model_id: str) -> Response:
    """A served model, by its id."""
    found = _models().get(model_id)
    if found is None:
        raise NotFound(f"no worker serves a model {model_id!r}", "model", "model_not_found")
    return jsonify(found)


@bp.post("/v1/completions")
def completions() -> Response:
    """OpenAI's text completion."""
    return _complete("completion")


@bp.post("/v1/chat/completions")
def chat_completions() -> Response:
    """OpenAI's chat completion, through the model's chat template."""
    return _complete("chat")


def _complete(kind: Kind) -> Response:
    config, service = settings(), services()
    body = json_body()
    request = openai_schema.parse(kind, body, config.limits, service.models.resolve)
    urgency = priority(body, config.tenant_max_priority)
    created = time.time()
    rate_limit(request.generations())
    streaming = request.stream and not request.streams_whole  # text as it is generated
    submitted = [
        service.submitter.submit(
            generation,
            request.model,
            request.cache_mode,
            g.tenant,
            stream=streaming,
            user=request.user,
            priority=urgency,
        )
        for generation in request.generations()  # n choices: n rows, batched together by the worker
    ]
    if streaming:  # n is 1
        response = _stream(service, request, submitted[0][0], created, config.max_sync_timeout_s)
    else:
        deadline = time.monotonic() + config.max_sync_timeout_s
        jobs = [service.reader.wait(job_id, max(deadline - time.monotonic(), 0)) for job_id, _ in submitted]
        for job in jobs:
            _raise_unless_succeeded(job)
        echo = request.generation.prompt if request.echo else None
        answer = openai_schema.response(request.kind, jobs, request.model, echo)
        response = _sse_response(sse(iter(openai_chunks.whole(request, answer)))) if request.stream else jsonify(answer)
    verdicts = {verdict for _, verdict in submitted}
    response.headers["X-Cache"] = verdicts.pop() if len(verdicts) == 1 else "MISS"  # HIT: every choice was
    return response


def _stream(service: Services, request: OpenAIRequest, job_id: str, created: float, timeout_s: float) -> Response:
    """SSE once the first text (or the end) is known, so a job that fails outright gets its status code."""
    events = job_text(service.reader, job_id, timeout_s)
    first = next(event for event in events if event != "")
    if isinstance(first, dict):
        _raise_unless_succeeded(first)
    else:
        _observe_first_token(time.monotonic() - g.get("request_started", time.monotonic()), request.model)
    chunks = _chunks(request, job_id, created, request.model, chain([first], events))
    return _sse_response(_stopped_when_abandoned(service, job_id, sse(chunks)))


def _sse_response(body: Iterator[str]) -> Response:
    return Response(
        body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _stopped_when_abandoned(service: Services, job_id: str, body: Iterator[str]) -> Iterator[str]:
    """The response body; if the client leaves before its end, the job stops (it frees its row).

    The server closes the body when a write fails: a heartbeat at the latest, within a second.
    A job that identical requests also wait for goes on (see Canceller.stop).
    """
    finished = False
    try:
        yield from body
        finished = True
    finally:
        if not finished:
            try:
                service.canceller.stop(job_id)  # a follower's own record only: its leader goes on
            except Exception:  # Redis away: the job finishes and its answer is cached
                log.warning("could not stop abandoned job %s", job_id, exc_info=True)


def _observe_first_token(seconds: float, model: str) -> None:
    with services().metrics.pipeline() as rec:
        rec.observe(metrics.TIME_TO_FIRST_TOKEN, seconds, model=model)


def _chunks(
    request: OpenAIRequest, job_id: str, created: float, model: str, events: Iterator[str | dict[str, Any]]
) -> Iterator[dict[str, Any] | None]:
    """OpenAI chunks for the job's text events; None for a heartbeat."""
    first = True
    for event in events:
        if event == "":
            yield None
        elif isinstance(event, str):
            yield openai_chunks.chunk(request, job_id, created, model, text=event, first=first)
            first = False
        else:
            try:
                _raise_unless_succeeded(event)
            except InferenceError as exc:  # the status line is sent: report it in the stream
                yield {"error": openai_error(exc)}
                return
            yield openai_chunks.chunk(
                request, job_id, created, model, finish_reason=event["result"]["finish_reason"], first=first
            )
            if request.include_usage:
                yield openai_chunks.usage_chunk(request, event, created, model)


def _raise_unless_succeeded(job: dict[str, Any]) -> None:
    if job["status"] == "succeeded":
        return
    if job["status"] == "failed":
        raise error_from_dict(job["error"])
    if job["status"] == "cancelled":
        raise Conflict(f"job {job['id']} was cancelled", "id", "cancelled")
    raise TimedOut(
        f"the answer is not ready yet; job {job['id']} is still {job['status']}: GET /v1/jobs/{job['id']}", None
    )


def sse(events: Iterator[dict[str, Any] | None]) -> Iterator[str]:
    """Server-Sent Events: one `data:` line per object, a comment for None, and `data: [DONE]`.

    The comment lines are heartbeats: writing them is how a client that left is noticed.
    """
    for event in events:
        yield ": keep-alive\n\n" if event is None else f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
