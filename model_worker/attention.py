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
    every_logit: bool = False  # logits after each of its tokens (perplexity measurements)


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
        keys, values = self.keys[layer], self.values[layer]
        keys[plan.token_slots, :, plan.token_positions] = key
        values[plan.token_slots, :, plan.token_positions] = value
        _, heads, dim = query.shape
        group = heads // self.kv_heads  # query heads per key/value head (grouped-query attention)
        scale = scaling if scaling is not None else dim**-0.5
        out = torch.empty_like(query)
        if plan.decode_tokens is not None:
            # Every decoding row at once: one query each, over a span of slots padded alike.
            span, length = plan.decode_span, plan.decode_length
            if plan.decode_in_order:  # rows 0..span-1 feed tokens 0..span-1: no gathering
                q = query[:span]
            else:
                q = query.new_zeros(span, heads, dim)
                q[plan.decode_slots] = query[plan.decode_tokens]
            o = _attention(
                q.view(span, self.kv_heads, group, dim),
                keys[:span, :, :length],
                values[:span, :, :length],
                plan.decode_mask(window),
                scale,
            ).view(span, heads, dim)
            if plan.decode_in_order:
                out[:span] = o
            else:
                out[plan.decode_tokens] = o[plan.decode_slots]
        for chunk in plan.chunks:  # each prefill chunk: causal over its own slot
            length = _bucket(chunk.start + chunk.length)
            q = query[chunk.first : chunk.first + chunk.length].view(chunk.length, self.kv_heads, group, dim)
            o = _attention(
                q.permute(1, 2, 0, 3),
                keys[chunk.slot, :, None, :length],
                values[chunk.slot, :, None, :length],
                chunk.mask(length, window, query.device),
                scale,
            )
            out[chunk.first : chunk.first + chunk.length] = o.permute(2, 0, 1, 3).reshape(chunk.length, heads, dim)
        return out

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

    def decode_mask(self, window: int | None) -> torch.Tensor:
        """(span, 1, 1, length): which cached positions each decoding row attends to."""
        if window not in self._masks:
            assert self.decode_lengths is not None
            cols = torch.arange(self.decode_length, device=self.decode_lengths.device)[None, :]
            allowed = cols < self.decode_lengths[:, None]
            if window is not None:
                allowed &= cols >= self.decode_lengths[:, None] - window
            self._masks[window] = allowed[:, None, None, :]
        return self._masks[window]


def _bucket(length: int) -> int:
    return -(-length // BUCKET) * BUCKET


def _attention(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, allowed: torch.Tensor, scale: float
) -> torch.Tensor:
    """softmax(q k^T * scale, masked) v, with plain matrix products (see the module's docstring).

    query (..., kv_heads, group, q, dim); keys and values (..., kv_heads, 1, length, dim) or
    without the group axis for one query each; `allowed` broadcasts to the scores.
    """
    scores = torch.matmul(query, keys.transpose(-1, -2)).mul_(scale)
    scores.masked_fill_(~allowed, float("-inf"))
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
    return torch.matmul(probabilities if values.dtype == torch.float32 else probabilities.to(values.dtype), values)
