"""What a cache entry is keyed by: its scope, its normalised text, and whether it may be cached.

Scope is a hard filter: a hit is only possible between requests that would get the same answer
from the model — same model, same output-changing parameters, same conversation before the last
message, same tenant. The text compared (exactly, then by embedding) is the prompt, or the last
user message of a chat.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from tasks.contract import GenerationRequest, Message


def cacheable(request: GenerationRequest) -> bool:
    """Only deterministic requests have one right answer to reuse: greedy, or seeded sampling; and
    never one asking for log-probabilities (they belong to its exact tokens) or offering tools to
    call: a similar prompt's would be wrong."""
    deterministic = request.greedy or request.seed is not None
    scored = request.logprobs is not None or request.prompt_logprobs
    # A call's arguments follow the prompt's details (a city, a date): a similar prompt's call would be wrong.
    calling = bool(request.tools) and request.tool_choice != "none"
    return deterministic and not scored and not calling


def query_text(request: GenerationRequest) -> str:
    """The text that is matched: the prompt, or a chat's last message."""
    if request.messages is not None:
        return request.messages[-1].content
    return request.prompt or ""


def scope(request: GenerationRequest, model: str, tenant: str = "") -> str:
    """A digest of everything besides the query text that shapes the answer."""
    context = [_turn(m) for m in request.messages[:-1]] if request.messages is not None else None
    fields = {
        "model": model,
        "tenant": tenant,
        "chat": context,  # None for a plain prompt: a prompt never matches a chat turn
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p if not request.greedy else None,
        "stop": sorted(request.stop),
        "seed": request.seed if not request.greedy else None,
    }
    # Absent when unused, so the entries cached before these existed keep their scope.
    if request.response_format is not None:
        fields["response_format"] = request.response_format
    if request.tools:
        fields["tools"], fields["tool_choice"] = list(request.tools), request.tool_choice
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]


def _turn(message: Message) -> list[Any]:
    turn: list[Any] = [message.role, message.content]
    if message.tool_calls or message.tool_call_id:
        turn += [list(message.tool_calls or ()), message.tool_call_id]
    return turn


def normalise(text: str) -> str:
    """The exact tier's form of a text: NFKC, case-folded, spaces collapsed, final ?.! dropped."""
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return re.sub(r"[\s?.!]+$", "", text)


def exact_key(scope_digest: str, text: str) -> str:
    """The exact tier's digest for a normalised text in a scope."""
    return hashlib.sha256(f"{scope_digest}\0{normalise(text)}".encode()).hexdigest()[:40]
