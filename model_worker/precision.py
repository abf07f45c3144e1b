"""Numeric precision of the served model: MODEL_DTYPE.

- `auto` (the default): int8 on the CPU, float16 on CUDA.
- `float32`: the exact reference.
- `float16` / `bfloat16`: half precision, for CUDA.
- `int8`: CPU only. Every Linear layer (the LM head included) runs on fbgemm's int8 kernels with
  per-output-channel int8 weights and activations quantized on the fly. Measured on the default
  model (bench/precision.py, RESULTS.md): 4.5x float32's speed at 16 rows, for 5.5% more
  perplexity; greedy answers part from float32's within a few tokens (median: the 5th).

fbgemm's dynamic quantization picks one activation scale for the whole input tensor, so a row's
result would depend on the other rows of its batch (their largest value sets its rounding), and
a greedy or seeded answer would change with the load. `Int8Linear` makes each row independent:
it divides every row by its own largest magnitude and adds one constant row holding +1 and -1,
so the tensor's range, and with it the scale, is always [-1, 1]; the output is multiplied back
row by row. Integer accumulation is exact, so a row's result is bitwise the same in any batch.
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from model_worker import kernels

log = logging.getLogger(__name__)

_FLOATS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: Weights use 7 bits (-63..63) so that activations can use all 8: fbgemm's AVX2 kernels add
#: pairs of u8 x s8 products in 16 bits, which 255 * 63 * 2 never overflows. Measured on the
#: default model, 8-bit activations matter far more than the weights' 8th bit (bench/precision.py).
WEIGHT_LEVELS = 63


def resolve(requested: str, device: torch.device) -> str:
    """MODEL_DTYPE for this device: `auto` becomes int8 on the CPU, float16 on CUDA."""
    if requested == "auto":
        return "float16" if device.type == "cuda" else "int8"
    if requested == "int8" and device.type != "cpu":
        raise ValueError("MODEL_DTYPE=int8 runs on the CPU only; use float16 or bfloat16 on CUDA")
    return requested


def load_dtype(dtype: str) -> torch.dtype:
    """The dtype to load weights in for a resolved MODEL_DTYPE (int8 quantizes float32 weights)."""
    return torch.float32 if dtype == "int8" else _FLOATS[dtype]


def apply(model: nn.Module, requested: str) -> nn.Module:
    """Quantize `model` in place when MODEL_DTYPE asks for int8; returns it."""
    if requested != "int8":
        return model
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, Int8Linear(child))
                count += 1
    log.info("quantized %d Linear layers to int8 (per-channel weights, per-row activations)", count)
    return model


def fused_linear(linears: list[nn.Linear]) -> nn.Linear:
    """One Linear layer computing all of `linears` on the same input (outputs side by side)."""
    first = linears[0]
    weight = torch.cat([linear.weight.detach() for linear in linears])  # a copy: tied weights stay intact
    biases = [linear.bias for linear in linears]
    fused = nn.Linear(first.in_features, weight.shape[0], bias=biases[0] is not None, device=weight.device)
    fused.weight = nn.Parameter(weight, requires_grad=False)
    if fused.bias is not None:
        parts = [
            b.detach() if b is not None else weight.new_zeros(n.out_features)
            for b, n in zip(biases, linears, strict=True)
        ]
        fused.bias = nn.Parameter(torch.cat(parts), requires_grad=False)
    return fused


def smoothing_scales(activation_max: torch.Tensor, weight: torch.Tensor, alpha: float) -> torch.Tensor:
    """SmoothQuant's per-input-channel scales s = max|x|^alpha / max|w|^(1 - alpha).

    Dividing a Linear layer's inputs by s and multiplying its weight columns by s leaves its
    output unchanged, but moves the activations' outlier channels into the weights, where
    per-channel int8 handles them far better than 7-bit per-row activations can.
    """
    weight_max = weight.abs().amax(dim=0).float().clamp(min=1e-5)
    return (activation_max.float().clamp(min=1e-5).pow(alpha) / weight_max.pow(1 - alpha)).clamp(min=1e-5)


def int8(linear: nn.Linear) -> kernels.Linear:
    """The layer on fbgemm int8: per-output-channel weights, and the constant row that pins an
    input's range to [-1, 1] (see the module's docstring)."""
    weight = linear.weight.detach().float()
    scales = (weight.abs().amax(dim=1) / WEIGHT_LEVELS).clamp(min=1e-10).double()
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # quantized tensors are deprecated; torch is pinned (requirements.txt)
        warnings.simplefilter("ignore", UserWarning)
        qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
    packed = torch.ops.quantized.linear_prepack(qweight)
    range_row = torch.zeros(1, linear.in_features)
    range_row[0, 0], range_row[0, -1] = 1.0, -1.0
    bias = None if linear.bias is None else linear.bias.detach().float().clone()
    return kernels.Linear(packed, None, bias, range_row)


def floating(linear: nn.Linear) -> kernels.Linear:
    """The layer as it is, in floating point."""
    bias = None if linear.bias is None else linear.bias.detach()
    return kernels.Linear(None, linear.weight.detach(), bias, None)


class Int8Linear(nn.Module):
    """A drop-in nn.Linear on fbgemm int8 kernels, whose rows do not depend on each other."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.layer = int8(linear)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = kernels.compiled_linear(x.reshape(-1, self.in_features), self.layer)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        bias = self.layer.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"
