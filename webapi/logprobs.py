"""OpenAI's two logprobs shapes, from the worker's [text, logprob, alternatives] per token.

Chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}]}.
Completions (the legacy shape lm-evaluation-harness reads): {"tokens", "token_logprobs",
"top_logprobs": [{token: logprob}], "text_offset"}; with echo the prompt's tokens come first, the
very first with no logprob (null). A token's bytes are its text's UTF-8: a token that holds part of
a character reads as U+FFFD.
"""

from __future__ import annotations

from typing import Any


def chat(result: dict[str, Any]) -> dict[str, Any] | None:
    """The chat choice's logprobs, or None when the request did not ask."""
    if result.get("logprobs") is None:
        return None
    content = [
        {**_token(text, logprob), "top_logprobs": [_token(t, lp) for t, lp in alternatives]}
        for text, logprob, alternatives in result["logprobs"]
    ]
    return {"content": content, "refusal": None}


def completion(result: dict[str, Any], echo: bool) -> dict[str, Any] | None:
    """The completion choice's logprobs (the prompt's first with `echo`), or None when not asked."""
    if result.get("logprobs") is None:
        return None
    entries = (result.get("prompt_logprobs") or [] if echo else []) + result["logprobs"]
    tokens, token_logprobs, top_logprobs, offsets, offset = [], [], [], [], 0
    for text, logprob, alternatives in entries:
        tokens.append(text)
        token_logprobs.append(logprob)
        # OpenAI's: the likeliest tokens, and the chosen one whether or not among them.
        top_logprobs.append(None if logprob is None else {**dict(alternatives), text: logprob})
        offsets.append(offset)
        offset += len(text)
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top_logprobs, "text_offset": offsets}


def _token(text: str, logprob: float) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8", "replace"))}
