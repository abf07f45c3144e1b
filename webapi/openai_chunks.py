"""OpenAI's streamed chunks (`chat.completion.chunk`, streamed `text_completion`): as text is
generated, or cut from a whole answer (several choices, log-probabilities, tool calls)."""

from __future__ import annotations

from typing import Any

from webapi.openai_schema import OpenAIRequest, envelope, usage


def chunk(
    request: OpenAIRequest,
    job_id: str,
    created: float,
    model: str,
    text: str | None = None,
    finish_reason: str | None = None,
    first: bool = False,
) -> dict[str, Any]:
    """One streamed chunk: new text, or (text None) the closing chunk with its finish_reason."""
    choice: dict[str, Any] = {"index": 0}
    if request.kind == "chat":
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if text is not None:
            delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    choice.update(logprobs=None, finish_reason=finish_reason)
    return {**envelope(request.kind, job_id, created, model, chunk=True), "choices": [choice]}


def usage_chunk(request: OpenAIRequest, job: dict[str, Any], created: float, model: str) -> dict[str, Any]:
    """The last chunk when stream_options.include_usage is set: no choices, the usage."""
    head = envelope(request.kind, job["id"], created, model, chunk=True)
    return {**head, "choices": [], "usage": usage(job["result"])}


def whole(request: OpenAIRequest, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished answer (openai_schema.response) as the chunks OpenAI streams: per choice its role,
    its text (with its log-probabilities) or its tool calls, then its finish_reason; usage last."""
    head = {k: answer[k] for k in ("id", "created", "model", "system_fingerprint")}
    head["object"] = "chat.completion.chunk" if request.kind == "chat" else "text_completion"
    chunks = []
    for choice in answer["choices"]:
        index, logprobs = choice["index"], choice.get("logprobs")
        parts: list[dict[str, Any]] = []
        if request.kind == "chat":
            message = choice["message"]
            text = message.get("content")
            parts.append({"delta": {"role": "assistant", "content": ""}, "logprobs": None if text else logprobs})
            if text:
                parts.append({"delta": {"content": text}, "logprobs": logprobs})
            if message.get("tool_calls"):
                calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
                parts.append({"delta": {"tool_calls": calls}, "logprobs": None})
            parts.append({"delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]})
        else:
            parts.append({"text": choice["text"], "logprobs": logprobs})
            parts.append({"text": "", "logprobs": None, "finish_reason": choice["finish_reason"]})
        for part in parts:
            chunks.append({**head, "choices": [{"index": index, "finish_reason": None, **part}]})
    if request.include_usage:
        chunks.append({**head, "choices": [], "usage": answer["usage"]})
    return chunks
