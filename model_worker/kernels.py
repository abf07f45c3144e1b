"""The forward pass's dense parts, compiled with TorchScript.

A 135M-parameter model on a CPU spends about as long dispatching its small ops from Python as
computing them. TorchScript runs the same code in its C++ interpreter: measured here, a decoder
layer's dense part takes 20-30% less time. (torch.compile cannot help: fbgemm's int8 op breaks
its graph at every Linear layer.) If scripting fails, as it may on a future torch, the same
functions run as plain Python.

No `from __future__ import annotations` here: TorchScript reads the annotations.
"""

import logging
import warnings
from collections.abc import Callable
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

#: Calibration's observer, called with each Linear layer's input (plain-Python runs only).
observers: list[Callable[[torch.Tensor, "Linear"], None]] = []


class Linear(NamedTuple):
    """A Linear layer: fbgemm int8 (`packed`, with Int8Linear's `range_row`) or float (`weight`)."""

    packed: Optional[torch.classes.quantized.LinearPackedParamsBase]  # noqa: UP045 (TorchScript)
    weight: Optional[torch.Tensor]  # noqa: UP045
    bias: Optional[torch.Tensor]  # noqa: UP045
    range_row: Optional[torch.Tensor]  # noqa: UP045


def linear(x: torch.Tensor, layer: Linear) -> torch.Tensor:
    """x @ W^T + b for 2-D x; in int8, each row on its own scale (see precision.Int8Linear)."""
    if not torch.jit.is_scripting():
        for observe in observers:
            observe(x, layer)
    packed = layer.packed
    if packed is not None:
        range_row = layer.range_row
        assert range_row is not None
        magnitude = x.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12)
        # Full 8-bit activations (reduce_range off): the 7-bit weights keep fbgemm's AVX2 sums
        # from overflowing (precision.WEIGHT_LEVELS).
        out = torch.ops.quantized.linear_dynamic(torch.cat((x / magnitude, range_row)), packed, False)[:-1]
        bias = layer.bias
        return out.mul_(magnitude) if bias is None else torch.addcmul(bias, out, magnitude)
    weight = layer.weight
    assert weight is not None
    return F.linear(x, weight, layer.bias)


def pre_attention(
    hidden: torch.Tensor,
    norm: torch.Tensor,
    eps: float,
    qkv: Linear,
    cos: torch.Tensor,
    sin: torch.Tensor,
    heads: int,
    kv_heads: int,
    head_dim: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RMSNorm, the fused query/key/value projection and rotary embeddings: (N, heads, dim) each."""
    tokens = hidden.shape[0]
    projected = linear(F.rms_norm(hidden, [hidden.shape[1]], norm, eps), qkv)
    k_end = (heads + kv_heads) * head_dim
    both = projected[:, :k_end].view(tokens, heads + kv_heads, head_dim)
    half = head_dim // 2
    # Rotary position embedding, transformers' rotate_half convention; cos, sin: (N, 1, dim).
    rotated = both * cos + torch.cat((-both[..., half:], both[..., :half]), dim=-1) * sin
    value = projected[:, k_end:].view(tokens, kv_heads, head_dim)
    return rotated[:, :heads], rotated[:, heads:], value


def post_attention(
    hidden: torch.Tensor,
    attended: torch.Tensor,
    out: Linear,
    norm: torch.Tensor,
    eps: float,
    gate_up: Linear,
    down: Linear,
    intermediate: int,
) -> torch.Tensor:
    """The output projection and residual, then RMSNorm, the SiLU-gated MLP and its residual."""
    hidden = hidden + linear(attended.reshape(hidden.shape[0], -1), out)
    projected = linear(F.rms_norm(hidden, [hidden.shape[1]], norm, eps), gate_up)
    return hidden + linear(F.silu(projected[:, :intermediate]) * projected[:, intermediate:], down)


def masked_attention(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, allowed: torch.Tensor, scale: float
) -> torch.Tensor:
    """softmax(q k^T * scale, masked) v, with plain matrix products (see model_worker/attention.py).

    query (..., kv_heads, group, q, dim); keys and values (..., kv_heads, 1, length, dim), or
    without the group axis for one query each; `allowed` broadcasts to the scores.
    """
    scores = torch.matmul(query, keys.transpose(-1, -2)).mul_(scale)
    scores.masked_fill_(~allowed, float("-inf"))
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32)
    if values.dtype != torch.float32:
        probabilities = probabilities.to(values.dtype)
    return torch.matmul(probabilities, values)


def attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    token_slots: torch.Tensor,
    token_positions: torch.Tensor,
    decode_tokens: Optional[torch.Tensor],  # noqa: UP045
    decode_slots: Optional[torch.Tensor],  # noqa: UP045
    decode_mask: Optional[torch.Tensor],  # noqa: UP045
    decode_in_order: bool,
    decode_length: int,
    chunks: list[tuple[int, int, int, int, torch.Tensor]],
    scale: float,
    kv_heads: int,
) -> torch.Tensor:
    """One layer's attention for a step (model_worker.attention.SlotAttention.attend).

    Writes the step's keys and values into their slots (keys, values: the layer's cache,
    (rows, kv_heads, capacity, dim)), then attends: decoding rows together, over a span of
    slots; each prefill chunk (slot, first token, tokens, length, mask) over its own slot.
    """
    keys[token_slots, :, token_positions] = key
    values[token_slots, :, token_positions] = value
    heads, dim = query.shape[1], query.shape[2]
    group = heads // kv_heads
    out = torch.empty_like(query)
    if decode_tokens is not None and decode_slots is not None and decode_mask is not None:
        span = decode_mask.shape[0]
        if decode_in_order:  # rows 0..span-1 feed tokens 0..span-1: no gathering
            q = query[:span]
        else:
            q = query.new_zeros(span, heads, dim)
            q[decode_slots] = query[decode_tokens]
        o = masked_attention(
            q.reshape(span, kv_heads, group, dim),
            keys[:span, :, :decode_length],
            values[:span, :, :decode_length],
            decode_mask,
            scale,
        ).reshape(span, heads, dim)
        if decode_in_order:
            out[:span] = o
        else:
            out[decode_tokens] = o[decode_slots]
    for slot, first, tokens, length, allowed in chunks:
        q = query[first : first + tokens].reshape(tokens, kv_heads, group, dim).permute(1, 2, 0, 3)
        o = masked_attention(q, keys[slot, :, None, :length], values[slot, :, None, :length], allowed, scale)
        out[first : first + tokens] = o.permute(2, 0, 1, 3).reshape(tokens, heads, dim)
    return out


def script(function: Callable) -> Callable:
    """`function` compiled with TorchScript, or itself where TorchScript cannot compile it."""
    try:
        with warnings.catch_warnings():  # deprecated in favour of torch.compile, which cannot do this
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(function)
    except Exception as exc:  # a torch without TorchScript, or one that cannot compile these
        log.warning("TorchScript unavailable (%s); the forward pass runs in plain Python", exc)
        return function


#: The compiled versions (the plain ones above run calibration, with its observers).
compiled_linear = script(linear)
compiled_pre_attention = script(pre_attention)
compiled_post_attention = script(post_attention)
compiled_attend = script(attend)
