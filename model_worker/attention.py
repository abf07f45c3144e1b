"""Packed attention over a slot KV cache: how many rows share one forward pass.

Every row of the running batch owns a slot of a preallocated key/value cache. A step feeds the
new tokens of all rows as one packed sequence (one token for a decoding row, a chunk of its
prompt for a row being prefilled), so the Linear layers see each token once, with no padding.
Per layer, `SlotAttention.attend` writes the new keys and values into their slots, then attends
each row to its own slot only. Rows can therefore join and leave between any two steps: a
leaving row's slot is refilled by moving the last row into it, so slots 0..n-1 stay in use.

A row's result does not depend on its batch mates (with int8 Linear layers, bitwise): attention
is computed with plain matrix products over lengths padded to a multiple of BUCKET, which this
CPU's kernels sum in the same order whatever else is in the batch (measured; see the engine's
tests), and prompts are prefilled in chunks with fixed boundaries (`next_boundary`), so how a
prompt is split never depends on the load, and a cached prefix (model_worker/prefix_cache.py)
holds exactly what the row would have computed. (PyTorch's fused attention kernel does depend
on the batch: its results differ in the last bits with the batch size and padding.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from model_worker import kernels

#: Attention lengths are padded to a multiple of this, so a row's sums never depend on others'.
BUCKET = 64
#: Prompt chunks end at multiples of FINE_CHUNK up to position COARSE_FROM, then at multiples of
#: BUCKET: fine where prompts share prefixes (a chat template's system prompt), so a cached prefix
#: ends close to where prompts part; coarse after, so a long prompt takes few attention calls.
FINE_CHUNK, COARSE_FROM = 8, 64


def next_boundary(position: int) -> int:
    """Where the prompt chunk that starts at `position` ends (at the latest)."""
    step = FINE_CHUNK if position < COARSE_FROM else BUCKET
    return (position // step + 1) * step


def is_boundary(position: int) -> bool:
    """A chunk may end here (and a cached prefix too)."""
    return position % (FINE_CHUNK if position <= COARSE_FROM else BUCKET) == 0


@dataclass(frozen=True)
class Feed:
    """The tokens one row feeds in a step, written at positions start, start + 1, ... of its slot."""

    slot: int
    start: int
    tokens: Sequence[int]
    wants_logits: bool  # the chunk ends the row's known tokens: its next token is sampled
    every_logit: bool = False  # logits after each of its tokens (a prompt scored: echo, perplexity)


class SlotAttention:
    """The key/value cache of up to `max_rows` rows, and attention over it."""

    def __init__(
        self, layers: int, max_rows: int, kv_heads: int, head_dim: int, dtype: torch.dtype, device: torch.device
    ) -> None:
        self.layers, self.max_rows, self.kv_heads, self.head_dim = layers, max_rows, kv_heads, head_dim
        self.dtype, self.device = dtype, device
        self.keys = self.values = torch.empty(0)
        self.capacity = 0
        self.plan: Plan | None = None
        self._reserve(64)

    def begin(self, feeds: list[Feed]) -> Plan:
        """Prepare a step: room for every feed, and the index tensors all layers share."""
        self._reserve(max(f.start + len(f.tokens) for f in feeds))
        self.plan = Plan.build(feeds, self.device)
        return self.plan

    def end(self) -> None:
        """The step is over (or failed)."""
        self.plan = None

    def attend(
        self,
        layer: int,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        scaling: float | None = None,
        window: int | None = None,
    ) -> torch.Tensor:
        """Store this step's keys and values of `layer`, and attend: (N, heads, dim) in and out.

        `window`: the layer sees only each row's last that many positions (sliding-window layers).
        """
        plan = self.plan
        assert plan is not None, "attend() runs between begin() and end()"
        return kernels.compiled_attend(
            query, key, value, self.keys[layer], self.values[layer], plan.token_slots, plan.token_positions,
            plan.decode_tokens, plan.decode_slots, plan.decode_mask(window), plan.decode_in_order, plan.decode_length,
            plan.chunk_masks(window), scaling if scaling is not None else query.shape[2] ** -0.5, self.kv_heads,
        )  # fmt: skip

    def save(self, slot: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A copy of a row's first `length` cached keys and values."""
        return self.keys[:, slot, :, :length].clone(), self.values[:, slot, :, :length].clone()

    @torch.inference_mode()
    def restore(self, slot: int, saved: tuple[torch.Tensor, torch.Tensor], length: int | None = None) -> None:
        """Put saved keys and values (their first `length` positions) into a slot."""
        length = saved[0].shape[2] if length is None else length
        self._reserve(length)
        self.keys[:, slot, :, :length] = saved[0][:, :, :length]
        self.values[:, slot, :, :length] = saved[1][:, :, :length]

    @torch.inference_mode()
    def move(self, source: int, target: int, length: int) -> None:
        """Copy a row's cached keys and values to another slot."""
        if length:
            self.keys[:, target, :, :length] = self.keys[:, source, :, :length]
            self.values[:, target, :, :length] = self.values[:, source, :, :length]

    @torch.inference_mode()
    def _reserve(self, length: int) -> None:
        """Grow every slot to hold `length` positions (doubling, so growth is rare)."""
        if length <= self.capacity:
            return
        capacity = max(64, 1 << math.ceil(math.log2(length)))
        shape = (self.layers, self.max_rows, self.kv_heads, capacity, self.head_dim)
        keys = torch.zeros(shape, dtype=self.dtype, device=self.device)
        values = torch.zeros(shape, dtype=self.dtype, device=self.device)
        if self.capacity:
            keys[..., : self.capacity, :] = self.keys
            values[..., : self.capacity, :] = self.values
        self.keys, self.values, self.capacity = keys, values, capacity


@dataclass(frozen=True)
class _Chunk:
    """A row feeding several tokens."""

    slot: int
    start: int
    first: int  # index of its first token in the packed sequence
    length: int

    def mask(self, length: int, window: int | None, device: torch.device) -> torch.Tensor:
        """(length,) columns each of its queries may see: causal, within the window if any."""
        rows = torch.arange(self.start, self.start + self.length, device=device)[:, None]
        cols = torch.arange(length, device=device)[None, :]
        allowed = cols <= rows
        return allowed & (cols > rows - window) if window is not None else allowed


@dataclass
class Plan:
    """A step's packed tokens and the index tensors every layer shares."""

    input_ids: torch.Tensor  # (N,)
    positions: torch.Tensor  # (N,)
    token_slots: torch.Tensor  # (N,)
    token_positions: torch.Tensor  # (N,)
    logits_at: torch.Tensor  # packed indices whose next-token logits are wanted
    chunks: list[_Chunk]
    decode_tokens: torch.Tensor | None = None
    decode_slots: torch.Tensor | None = None
    decode_span: int = 0
    decode_length: int = 0
    decode_lengths: torch.Tensor | None = None
    decode_in_order: bool = False
    _masks: dict[int | None, torch.Tensor] = field(default_factory=dict)
    _chunk_masks: dict[int | None, list[tuple[int, int, int, int, torch.Tensor]]] = field(default_factory=dict)

    @classmethod
    def build(cls, feeds: list[Feed], device: torch.device) -> Plan:
        ids: list[int] = []
        positions: list[int] = []
        slots: list[int] = []
        logits_at: list[int] = []
        chunks: list[_Chunk] = []
        decode_tokens: list[int] = []
        decode_slots: list[int] = []
        for feed in feeds:
            first, count = len(ids), len(feed.tokens)
            ids.extend(feed.tokens)
            positions.extend(range(feed.start, feed.start + count))
            slots.extend([feed.slot] * count)
            if count == 1:
                decode_tokens.append(first)
                decode_slots.append(feed.slot)
            else:
                chunks.append(_Chunk(feed.slot, feed.start, first, count))
            if feed.every_logit:
                logits_at.extend(range(first, first + count))
            elif feed.wants_logits:
                logits_at.append(first + count - 1)

        def tensor(values: list[int]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.long, device=device)

        token_positions = tensor(positions)
        plan = cls(tensor(ids), token_positions, tensor(slots), token_positions, tensor(logits_at), chunks)
        if decode_tokens:
            span = max(decode_slots) + 1
            lengths = [1] * span  # slots of the span that are not decoding: a query nobody reads
            for token, slot in zip(decode_tokens, decode_slots, strict=True):
                lengths[slot] = positions[token] + 1
            plan.decode_tokens, plan.decode_slots = tensor(decode_tokens), tensor(decode_slots)
            plan.decode_span, plan.decode_length, plan.decode_lengths = span, _bucket(max(lengths)), tensor(lengths)
            plan.decode_in_order = decode_tokens == decode_slots == list(range(span))
        return plan

    def decode_mask(self, window: int | None) -> torch.Tensor | None:
        """(span, 1, 1, length): which cached positions each decoding row attends to (None: none decodes)."""
        if self.decode_lengths is None:
            return None
        if window not in self._masks:
            cols = torch.arange(self.decode_length, device=self.decode_lengths.device)[None, :]
            allowed = cols < self.decode_lengths[:, None]
            if window is not None:
                allowed &= cols >= self.decode_lengths[:, None] - window
            self._masks[window] = allowed[:, None, None, :]
        return self._masks[window]

    def chunk_masks(self, window: int | None) -> list[tuple[int, int, int, int, torch.Tensor]]:
        """The prefill chunks as kernels.attend takes them: (slot, first, tokens, length, mask)."""
        if window not in self._chunk_masks:
            device = self.input_ids.device
            self._chunk_masks[window] = [
                (c.slot, c.first, c.length, (length := _bucket(c.start + c.length)), c.mask(length, window, device))
                for c in self.chunks
            ]
        return self._chunk_masks[window]


def _bucket(length: int) -> int:
    return -(-length // BUCKET) * BUCKET
