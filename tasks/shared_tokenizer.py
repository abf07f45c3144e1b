"""The served model's tokenizer, shared through Redis: the worker publishes it, the API reads it.

The API answers /tokenize and /detokenize with exactly the worker's tokenizer, without the model's
files (an API container has none) and without importing the worker. Published at every worker
start; a fast (Rust) tokenizer only, as one JSON document plus what surrounds it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from redis import Redis
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

TOKENIZER_KEY_PREFIX = "llm:tokenizer:"
#: What the API's /tokenizer_info shows (as vLLM's does), besides the model's context length.
SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")


def _key(model: str) -> str:
    return TOKENIZER_KEY_PREFIX + model


def publish(redis: Redis, model: str, tokenizer: PreTrainedTokenizerBase, context_length: int) -> bool:
    """Share the worker's tokenizer; False (nothing published) for a slow, Python-only tokenizer."""
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        return False
    document = tokenizer.backend_tokenizer.to_str()
    info: dict[str, Any] = {name: getattr(tokenizer, name) for name in SPECIAL_TOKENS}
    info |= {
        "tokenizer_class": type(tokenizer).__name__,
        "chat_template": tokenizer.chat_template,
        "max_model_len": context_length,
        "version": hashlib.sha256(document.encode()).hexdigest()[:16],
    }
    redis.hset(_key(model), mapping={"tokenizer": document, "info": json.dumps(info)})
    return True


class SharedTokenizers:
    """The published tokenizer of each model, loaded on first use and again when a worker
    publishes another version."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._loaded: dict[str, tuple[str, PreTrainedTokenizerFast, dict[str, Any]]] = {}

    def get(self, model: str) -> tuple[PreTrainedTokenizerFast, dict[str, Any]] | None:
        """(tokenizer, info) of `model`, or None while none of its workers has published one."""
        raw = self.redis.hget(_key(model), "info")
        if raw is None:
            return None
        info = json.loads(raw)
        loaded = self._loaded.get(model)
        if loaded is None or loaded[0] != info["version"]:
            document = self.redis.hget(_key(model), "tokenizer")
            if document is None:
                return None
            special = {name: info[name] for name in SPECIAL_TOKENS if info.get(name) is not None}
            tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(document.decode()), **special)
            tokenizer.chat_template = info["chat_template"]
            loaded = self._loaded[model] = (info["version"], tokenizer, info)
        return loaded[1], loaded[2]
