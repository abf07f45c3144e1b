"""Reuse of prompt prefixes: the keys and values of recent prompts, for newcomers that share a start.

Chat requests share their template's preamble (SmolLM2's system prompt is 24 tokens of a 44-token
question), and clients often repeat long instructions. A newcomer whose prompt starts like a
cached one copies that part of the cache into its slot and prefills only the rest (vLLM's
automatic prefix caching; llama.cpp reuses a slot's prompt the same way). Reuse ends at a chunk
boundary of the prompt (attention.is_boundary), where the newcomer's own prefill would have
ended a chunk too, so the copied values are exactly what it would have computed.

Bounded by PREFIX_CACHE_TOKENS cached tokens, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from model_worker.attention import is_boundary

#: A shorter shared prefix is not worth a copy.
MIN_REUSE = 8


class PrefixCache:
    """Saved prompt caches by their tokens; `saved` is whatever the forward's save() returns."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self._entries: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._tokens = 0
        self.hits = self.reused_tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, prompt: Sequence[int]) -> tuple[tuple[int, ...], int] | None:
        """The cached prompt sharing the longest usable prefix with `prompt` (usable_prefix), and
        that length; None when none shares MIN_REUSE tokens."""
        best, best_length = None, 0
        for tokens in self._entries:
            shared = usable_prefix(tokens, prompt)
            if shared > best_length:
                best, best_length = tokens, shared
        return (best, best_length) if best is not None else None

    def use(self, tokens: tuple[int, ...], length: int) -> Any:
        """What was saved for `tokens` (a longest() result), now most recently used."""
        self._entries.move_to_end(tokens)
        self.hits, self.reused_tokens = self.hits + 1, self.reused_tokens + length
        return self._entries[tokens]

    def add(self, prompt: Sequence[int], saved: Any) -> None:
        """Keep a prompt's cache (it replaces an entry of the same tokens)."""
        key = tuple(prompt)
        if len(key) < MIN_REUSE or len(key) > self.max_tokens:
            return
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        self._entries[key] = saved
        self._tokens += len(key)
        while self._tokens > self.max_tokens:
            evicted, _ = self._entries.popitem(last=False)
            self._tokens -= len(evicted)


def usable_prefix(cached: Sequence[int], prompt: Sequence[int]) -> int:
    """How much of `prompt` a cache of `cached` can fill: their common prefix, cut back to a
    chunk boundary and short of the prompt's last token; 0 when under MIN_REUSE."""
    shared, limit = 0, min(len(cached), len(prompt) - 1)
    while shared < limit and cached[shared] == prompt[shared]:
        shared += 1
    while shared and not is_boundary(shared):
        shared -= 1
    return shared if shared >= MIN_REUSE else 0
