"""vLLM's tokenizer routes: /tokenize, /detokenize and /tokenizer_info, on the worker's own tokenizer.

A prompt is tokenized exactly as the worker tokenizes it, and messages through the model's chat
template as the worker renders them, so `count` is what a request's `prompt_tokens` will be.
lm-evaluation-harness's `local-completions` finds these routes and uses them as its tokenizer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from transformers import PreTrainedTokenizerFast

from tasks import chat
from tasks.contract import GenerationRequest, flag
from tasks.errors import InvalidRequest, MalformedBody, ServiceUnavailable, UnsupportedRequest
from webapi import openai_schema
from webapi.routes.helpers import json_body, services, settings

bp = Blueprint("tokenize", __name__)
TOKENIZE_FIELDS = {"model", "prompt", "messages", "tools", "tool_choice", "add_special_tokens", "return_token_strs"}


@bp.post("/tokenize")
def tokenize() -> Response:
    """Token ids (and their count) of a prompt, or of messages rendered with the chat template."""
    body = _body(TOKENIZE_FIELDS)
    model = services().models.resolve(body.get("model"))
    tokenizer, info = _tokenizer(model)
    if body.get("messages") is not None:
        if not tokenizer.chat_template:
            raise UnsupportedRequest(f"{model} has no chat template; send 'prompt' instead", "messages")
        fields = {k: body[k] for k in ("tools", "tool_choice") if body.get(k) is not None}
        fields["messages"] = openai_schema.messages(body["messages"])  # as the chat route takes them
        generation = GenerationRequest.from_json(fields, settings().limits)
        ids = tokenizer(chat.render(tokenizer, generation), add_special_tokens=False)["input_ids"]
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise InvalidRequest("give prompt (a string) or messages", "prompt", "wrong_type")
        ids = tokenizer(prompt, add_special_tokens=flag(body, "add_special_tokens", True))["input_ids"]
    answer: dict[str, Any] = {"count": len(ids), "max_model_len": info["max_model_len"], "tokens": ids}
    if flag(body, "return_token_strs"):
        answer["token_strs"] = tokenizer.convert_ids_to_tokens(ids)
    return jsonify(answer)


@bp.post("/detokenize")
def detokenize() -> Response:
    """The text of token ids."""
    body = _body({"model", "tokens"})
    tokenizer, _ = _tokenizer(services().models.resolve(body.get("model")))
    tokens = body.get("tokens")
    size = len(tokenizer)
    if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise InvalidRequest("tokens must be a list of token ids", "tokens", "wrong_type")
    if bad := [t for t in tokens if not 0 <= t < size]:
        raise InvalidRequest(f"token id {bad[0]} is not in the vocabulary (0..{size - 1})", "tokens", "out_of_range")
    return jsonify({"prompt": tokenizer.decode(tokens)})


@bp.get("/tokenizer_info")
def tokenizer_info() -> Response:
    """The tokenizer's special tokens, chat template and the model's context length (`?model=`: of
    that model, else the default)."""
    _, info = _tokenizer(services().models.resolve(request.args.get("model")))
    return jsonify({k: v for k, v in info.items() if k != "version"})


def _body(fields: set[str]) -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise MalformedBody("the request body must be a JSON object")
    if unknown := sorted(set(body) - fields):
        raise InvalidRequest(f"unrecognized request argument supplied: {unknown[0]!r}", unknown[0], "unknown_parameter")
    return body


def _tokenizer(model: str) -> tuple[PreTrainedTokenizerFast, dict[str, Any]]:
    shared = services().tokenizers.get(model)
    if shared is None:
        raise ServiceUnavailable(f"no worker has shared the tokenizer of {model} yet; retry shortly")
    return shared
