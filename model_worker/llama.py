"""A lean forward pass for Llama-family models (SmolLM, Llama, Mistral, Qwen2), packed over slots.

The same arithmetic as transformers' modules, with less in between: the query, key and value
projections run as one fused Linear layer, and so do the MLP's gate and up projections (in int8
that halves the kernel calls per layer), each layer's dense part runs compiled by TorchScript
(model_worker/kernels.py), and the LM head runs only for the tokens whose next token is sampled.
Per-op overhead is what limits a 135M model on a CPU: this more than doubles its decode
throughput at 16 rows. Rotary embeddings come from the model's own module, so every RoPE variant
transformers implements (Llama 3 scaling, ...) is honoured.

In int8, activation outliers are first smoothed into the weights (SmoothQuant): a calibration
pass over model_worker/data/calibration.txt measures each Linear input's largest values per
channel; the scales are folded into the RMSNorm weights (for the QKV, gate/up and LM-head
inputs) and into the up projection (for the down projection's input), which leaves the float
model's outputs unchanged. The scales are cached beside the converted model.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from model_worker import kernels, precision
from model_worker.attention import Feed
from model_worker.forwards import SlotForward, slot_attention

log = logging.getLogger(__name__)

SUPPORTED = ("llama", "mistral", "qwen2")
#: SmoothQuant's migration strength, chosen on a development text (bench/precision.py).
SMOOTHING_ALPHA = 0.5
CALIBRATION_TEXT = Path(__file__).parent / "data" / "calibration.txt"


#: A decoder layer's fused Linear layers, by name.
LINEARS = ("qkv", "out", "gate_up", "down")


@dataclass
class _Layer:
    """A decoder layer: its fused Linear layers as float modules until finish() makes them kernels."""

    qkv: Any
    out: Any
    gate_up: Any
    down: Any
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    scaling: float
    window: int | None

    def finish(self, make: Any) -> None:
        """Replace each float module by `make(module)`: a kernels.Linear."""
        for name in LINEARS:
            setattr(self, name, make(getattr(self, name)))


class LlamaForward(SlotForward):
    """All rows in one pass through a Llama-architecture decoder."""

    reuses_prefixes = True

    @staticmethod
    def supports(model: PreTrainedModel) -> bool:
        """Llama-architecture models with the plain SiLU-gated MLP."""
        config = model.config
        return config.model_type in SUPPORTED and getattr(config, "hidden_act", None) == "silu"

    def __init__(
        self, model: PreTrainedModel, max_rows: int, dtype: str, tokenizer: Any = None, cache_dir: Path | None = None
    ) -> None:
        config = model.config
        decoder = model.model
        self.heads, self.head_dim = config.num_attention_heads, decoder.layers[0].self_attn.head_dim
        self.kv_heads = config.num_key_value_heads
        self.intermediate = config.intermediate_size
        self.eps = config.rms_norm_eps
        self.layers = []
        for layer in decoder.layers:
            attention, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    qkv=precision.fused_linear([attention.q_proj, attention.k_proj, attention.v_proj]),
                    out=precision.fused_linear([attention.o_proj]),
                    gate_up=precision.fused_linear([mlp.gate_proj, mlp.up_proj]),
                    down=precision.fused_linear([mlp.down_proj]),
                    input_norm=layer.input_layernorm.weight.detach().clone(),
                    post_attention_norm=layer.post_attention_layernorm.weight.detach().clone(),
                    scaling=attention.scaling,
                    window=getattr(attention, "sliding_window", None),
                )
            )
        self.embed, self.rotary = decoder.embed_tokens, decoder.rotary_emb
        self.final_norm = decoder.norm.weight.detach().clone()
        self.head = precision.fused_linear([model.lm_head])
        decoder.layers = nn.ModuleList()  # the fused copies replace them: free the originals
        self.slots = slot_attention(model, max_rows)
        self._kernels = (kernels.pre_attention, kernels.post_attention, kernels.linear)
        for layer in self.layers:
            layer.finish(precision.floating)
        self.head = precision.floating(self.head)
        if dtype == "int8":
            self._quantize(self._smoothing(model, tokenizer, cache_dir))
        self._kernels = (kernels.compiled_pre_attention, kernels.compiled_post_attention, kernels.compiled_linear)

    @torch.inference_mode()
    def forward(self, feeds: list[Feed]) -> torch.Tensor:
        plan = self.slots.begin(feeds)
        pre_attention, post_attention, linear = self._kernels
        try:
            hidden = self.embed(plan.input_ids)
            cos, sin = self.rotary(hidden[None], plan.positions[None])
            cos, sin = cos[0, :, None, :], sin[0, :, None, :]  # (N, 1, dim): every head alike
            for index, layer in enumerate(self.layers):
                query, key, value = pre_attention(
                    hidden, layer.input_norm, self.eps, layer.qkv, cos, sin, self.heads, self.kv_heads, self.head_dim
                )
                attended = self.slots.attend(index, query, key, value, layer.scaling, layer.window)
                hidden = post_attention(
                    hidden, attended, layer.out, layer.post_attention_norm, self.eps, layer.gate_up, layer.down,
                    self.intermediate,
                )  # fmt: skip
            last = F.rms_norm(hidden[plan.logits_at], (hidden.shape[1],), self.final_norm, self.eps)
            return linear(last, self.head).float()
        finally:
            self.slots.end()

    def _smoothing(self, model: PreTrainedModel, tokenizer: Any, cache_dir: Path | None) -> list[torch.Tensor]:
        """SmoothQuant scales of every smoothed Linear input, from the cache or a calibration pass."""
        key = f"v2|{model.name_or_path}|{SMOOTHING_ALPHA}|{CALIBRATION_TEXT.read_text()}"
        cached = cache_dir / f"smoothing-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt" if cache_dir else None
        if cached is not None and cached.exists():
            return torch.load(cached, map_location=self.slots.device)
        maxima = self._calibrate(tokenizer)
        scales = []
        for index, layer in enumerate(self.layers):
            for name in ("qkv", "gate_up", "down"):
                weight = getattr(layer, name).weight
                scales.append(precision.smoothing_scales(maxima[(index, name)], weight, SMOOTHING_ALPHA))
        scales.append(precision.smoothing_scales(maxima[(-1, "head")], self.head.weight, SMOOTHING_ALPHA))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save(scales, cached)
        return scales

    @torch.inference_mode()
    def _calibrate(self, tokenizer: Any) -> dict[tuple[int, str], torch.Tensor]:
        """The largest magnitude per input channel of each Linear layer to smooth, over the calibration text."""
        names = {id(getattr(layer, n).weight): (i, n) for i, layer in enumerate(self.layers) for n in LINEARS}
        names[id(self.head.weight)] = (-1, "head")
        maxima: dict[tuple[int, str], torch.Tensor] = {}

        def record(x: torch.Tensor, layer: kernels.Linear) -> None:
            key, seen = names[id(layer.weight)], x.abs().amax(dim=0)
            maxima[key] = torch.maximum(maxima[key], seen) if key in maxima else seen

        kernels.observers.append(record)
        try:
            for line in CALIBRATION_TEXT.read_text().splitlines():
                text = line.replace("\\n", "\n")
                if tokenizer.chat_template:
                    chat = [{"role": "user", "content": text}]
                    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
                ids = tokenizer(text, add_special_tokens=not tokenizer.chat_template)["input_ids"]
                self.forward([Feed(0, 0, ids, True)])
        finally:
            kernels.observers.remove(record)
        return maxima

    def _quantize(self, scales: list[torch.Tensor]) -> None:
        """Fold the smoothing scales in, then turn every fused Linear layer into int8."""
        it = iter(scales)
        with torch.no_grad():
            for layer in self.layers:
                qkv, gate_up, down = next(it), next(it), next(it)
                layer.input_norm.div_(qkv)
                layer.qkv.weight.mul_(qkv)
                layer.post_attention_norm.div_(gate_up)
                layer.gate_up.weight.mul_(gate_up)
                # The down projection's input is silu(gate) * up: scale the up rows instead.
                layer.gate_up.weight[self.intermediate :].div_(down[:, None])
                if layer.gate_up.bias is not None:
                    layer.gate_up.bias[self.intermediate :].div_(down)
                layer.down.weight.mul_(down)
                layer.finish(lambda linear: precision.int8(_module(linear)))
            head = next(it)
            self.final_norm.div_(head)
            self.head.weight.mul_(head)
            self.head = precision.int8(_module(self.head))
        log.info("int8: %d Linear layers, SmoothQuant alpha %.2f", 4 * len(self.layers) + 1, SMOOTHING_ALPHA)


def _module(layer: kernels.Linear) -> nn.Linear:
    """A float kernels.Linear as an nn.Linear (to quantize it)."""
    assert layer.weight is not None
    module = nn.Linear(layer.weight.shape[1], layer.weight.shape[0], bias=layer.bias is not None)
    module.weight = nn.Parameter(layer.weight, requires_grad=False)
    if layer.bias is not None:
        module.bias = nn.Parameter(layer.bias, requires_grad=False)
    return module
