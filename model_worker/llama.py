"""A lean forward pass for Llama-family models (SmolLM, Llama, Mistral, Qwen2), packed over slots.

The same arithmetic as transformers' modules, with less in between: the query, key and value
projections run as one fused Linear layer, and so do the MLP's gate and up projections (in int8
that halves the kernel calls per layer), norms are `F.rms_norm`, and the LM head runs only for
the tokens whose next token is sampled. Per-op overhead is what limits a 135M model on a CPU,
so this doubles its decode throughput at 16 rows. Rotary embeddings come from the model's own
module, so every RoPE variant transformers implements (Llama 3 scaling, ...) is honoured.

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

from model_worker import precision
from model_worker.attention import Feed
from model_worker.forwards import slot_attention

log = logging.getLogger(__name__)

SUPPORTED = ("llama", "mistral", "qwen2")
#: SmoothQuant's migration strength, chosen on a development text (bench/precision.py).
SMOOTHING_ALPHA = 0.7
CALIBRATION_TEXT = Path(__file__).parent / "data" / "calibration.txt"


@dataclass
class _Layer:
    qkv: nn.Module
    out: nn.Module
    gate_up: nn.Module
    down: nn.Module
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    scaling: float
    window: int | None


class LlamaForward:
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
        if dtype == "int8":
            self._quantize(self._smoothing(model, tokenizer, cache_dir))

    @torch.inference_mode()
    def forward(self, feeds: list[Feed]) -> torch.Tensor:
        plan = self.slots.begin(feeds)
        try:
            hidden = self.embed(plan.input_ids)
            cos, sin = self.rotary(hidden[None], plan.positions[None])
            cos, sin = cos[0, :, None, :], sin[0, :, None, :]  # (N, 1, dim): every head alike
            tokens, width = hidden.shape[0], hidden.shape[-1]
            q_end, k_end = self.heads * self.head_dim, (self.heads + self.kv_heads) * self.head_dim
            for index, layer in enumerate(self.layers):
                qkv = layer.qkv(F.rms_norm(hidden, (width,), layer.input_norm, self.eps))
                rotated = _rotate(qkv[:, :k_end].view(tokens, self.heads + self.kv_heads, self.head_dim), cos, sin)
                query, key = rotated[:, : self.heads], rotated[:, self.heads :]
                value = qkv[:, k_end:].view(tokens, self.kv_heads, self.head_dim)
                attended = self.slots.attend(index, query, key, value, layer.scaling, layer.window)
                hidden = hidden + layer.out(attended.reshape(tokens, q_end))
                gate_up = layer.gate_up(F.rms_norm(hidden, (width,), layer.post_attention_norm, self.eps))
                hidden = hidden + layer.down(F.silu(gate_up[:, : self.intermediate]) * gate_up[:, self.intermediate :])
            last = F.rms_norm(hidden[plan.logits_at], (width,), self.final_norm, self.eps)
            return self.head(last).float()
        finally:
            self.slots.end()

    def _smoothing(self, model: PreTrainedModel, tokenizer: Any, cache_dir: Path | None) -> list[torch.Tensor]:
        """SmoothQuant scales of every smoothed Linear input, from the cache or a calibration pass."""
        key = f"v1|{model.name_or_path}|{SMOOTHING_ALPHA}|{CALIBRATION_TEXT.read_text()}"
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
        maxima: dict[tuple[int, str], torch.Tensor] = {}
        hooks = []
        modules = [
            ((i, n), getattr(layer, n)) for i, layer in enumerate(self.layers) for n in ("qkv", "gate_up", "down")
        ]
        for key, module in [*modules, ((-1, "head"), self.head)]:

            def record(_: nn.Module, inputs: tuple[torch.Tensor, ...], key: tuple[int, str] = key) -> None:
                seen = inputs[0].abs().amax(dim=0)
                maxima[key] = torch.maximum(maxima[key], seen) if key in maxima else seen

            hooks.append(module.register_forward_pre_hook(record))
        try:
            for line in CALIBRATION_TEXT.read_text().splitlines():
                text = line.replace("\\n", "\n")
                if tokenizer.chat_template:
                    chat = [{"role": "user", "content": text}]
                    text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
                ids = tokenizer(text, add_special_tokens=not tokenizer.chat_template)["input_ids"]
                self.forward([Feed(0, 0, ids, True)])
        finally:
            for hook in hooks:
                hook.remove()
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
                for name in ("qkv", "out", "gate_up", "down"):
                    setattr(layer, name, precision.Int8Linear(getattr(layer, name)))
            head = next(it)
            self.final_norm.div_(head)
            self.head.weight.mul_(head)
            self.head = precision.Int8Linear(self.head)
        log.info("int8: %d Linear layers, SmoothQuant alpha %.2f", 4 * len(self.layers) + 1, SMOOTHING_ALPHA)

    def move(self, source: int, target: int, length: int) -> None:
        self.slots.move(source, target, length)

    def save(self, slot: int, length: int) -> Any:
        return self.slots.save(slot, length)

    def restore(self, slot: int, saved: Any, length: int | None = None) -> None:
        self.slots.restore(slot, saved, length)

    def release(self, slot: int) -> None:
        """Nothing to free: a slot is overwritten by its next row."""


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding (transformers' rotate_half convention)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin
