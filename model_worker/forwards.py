"""How a step's feeds become next-token logits, for any causal LM: the engine's three forwards.

- `LlamaForward` (model_worker/llama.py): Llama-family models (SmolLM, Llama, Mistral, Qwen2)
  in a lean forward pass of our own with fused Linear layers; the fastest.
- `PackedForward`: any other model whose code goes through transformers' AttentionInterface
  (GPT-2, GPT-NeoX, OPT, Phi, Gemma, ...): transformers' modules with our packed attention
  registered in that interface, so all rows still share one forward pass.
- `RowwiseForward`: the rest (GPT-Neo, GPT-J, Bloom, Falcon, ...): one call per row on
  transformers' own cache. The same engine and features, at a lower speed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import AttentionInterface, DynamicCache, PreTrainedModel

from model_worker import precision
from model_worker.attention import Feed, SlotAttention

log = logging.getLogger(__name__)


class Forward(Protocol):
    """What the engine needs of a forward pass."""

    #: restore() can take a prefix of what save() returned (model_worker/prefix_cache.py).
    reuses_prefixes: bool

    def forward(self, feeds: list[Feed]) -> torch.Tensor:
        """Next-token logits (float32) of the feeds that want them, in order."""
        ...

    def move(self, source: int, target: int, length: int) -> None:
        """A row moved from slot `source` to `target`; its first `length` positions are cached."""
        ...

    def save(self, slot: int, length: int) -> Any:
        """What the row in `slot` has cached (its first `length` positions), to restore later."""
        ...

    def restore(self, slot: int, saved: Any, length: int | None = None) -> None:
        """Put what save() returned (its first `length` positions) back, in `slot`."""
        ...

    def release(self, slot: int) -> None:
        """The row in `slot` left."""
        ...


def build(model: PreTrainedModel, tokenizer: Any, max_rows: int, dtype: str, cache_dir: Path | None = None) -> Forward:
    """The fastest forward that `model` supports, in MODEL_DTYPE `dtype` (`cache_dir`: calibration)."""
    from model_worker.llama import LlamaForward

    if LlamaForward.supports(model):
        return LlamaForward(model, max_rows, dtype, tokenizer, cache_dir)
    precision.apply(model, dtype)
    if _uses_attention_interface(model):
        return PackedForward(model, max_rows)
    log.warning("%s does not use transformers' attention interface: one forward call per row", type(model).__name__)
    return RowwiseForward(model, max_rows)


def slot_attention(model: PreTrainedModel, max_rows: int) -> SlotAttention:
    """A slot cache shaped for `model`'s attention layers."""
    config = model.config.get_text_config()
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
    return SlotAttention(config.num_hidden_layers, max_rows, kv_heads, head_dim, dtype, model.device)


def _uses_attention_interface(model: PreTrainedModel) -> bool:
    # Soft-capped attention logits (Gemma 2) are beyond scaled_dot_product_attention.
    return bool(getattr(model, "_supports_attention_backend", False)) and not getattr(
        model.config, "attn_logit_softcapping", None
    )


class SlotForward:
    """A forward over a SlotAttention: rows move, park and resume by copying their slots."""

    slots: SlotAttention

    def move(self, source: int, target: int, length: int) -> None:
        self.slots.move(source, target, length)

    def save(self, slot: int, length: int) -> Any:
        return self.slots.save(slot, length)

    def restore(self, slot: int, saved: Any, length: int | None = None) -> None:
        self.slots.restore(slot, saved, length)

    def release(self, slot: int) -> None:
        """Nothing to free: a slot is overwritten by its next row."""


class PackedForward(SlotForward):
    """transformers' modules, all rows in one pass, with our attention over a slot cache."""

    reuses_prefixes = True

    def __init__(self, model: PreTrainedModel, max_rows: int) -> None:
        self.model = model
        self.slots = slot_attention(model, max_rows)
        name = f"llm_slots_{id(self):x}"
        AttentionInterface.register(name, self._attention)
        model.set_attn_implementation(name)

    def forward(self, feeds: list[Feed]) -> torch.Tensor:
        plan = self.slots.begin(feeds)
        try:
            output = self.model(
                input_ids=plan.input_ids[None],
                position_ids=plan.positions[None],
                use_cache=False,
                logits_to_keep=plan.logits_at,
            )
        finally:
            self.slots.end()
        return output.logits[0].float()

    def _attention(
        self,
        module: torch.nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        scaling: float | None = None,
        dropout: float = 0.0,
        sliding_window: int | None = None,
        **_: Any,
    ) -> tuple[torch.Tensor, None]:
        """transformers' attention contract: (1, heads, N, dim) in, (1, N, heads, dim) out."""
        out = self.slots.attend(
            module.layer_idx, query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),
            scaling, sliding_window,
        )  # fmt: skip
        return out[None], None


class RowwiseForward:
    """One forward call per row, on transformers' own cache: any causal LM."""

    reuses_prefixes = False

    def __init__(self, model: PreTrainedModel, max_rows: int) -> None:
        self.model = model
        self.caches: list[DynamicCache | None] = [None] * max_rows

    def forward(self, feeds: list[Feed]) -> torch.Tensor:
        logits = []
        for feed in feeds:
            if feed.start == 0 or self.caches[feed.slot] is None:
                self.caches[feed.slot] = DynamicCache(config=self.model.config)
            ids = torch.tensor([list(feed.tokens)], dtype=torch.long, device=self.model.device)
            keep = 0 if feed.every_logit else 1  # 0: all
            output = self.model(
                input_ids=ids, past_key_values=self.caches[feed.slot], use_cache=True, logits_to_keep=keep
            )
            if feed.every_logit:
                logits.extend(output.logits[0].float())
            elif feed.wants_logits:
                logits.append(output.logits[0, -1].float())
        return torch.stack(logits) if logits else torch.empty(0)

    def move(self, source: int, target: int, length: int) -> None:
        self.caches[target], self.caches[source] = self.caches[source], None

    def save(self, slot: int, length: int) -> Any:
        return self.caches[slot]

    def restore(self, slot: int, saved: Any, length: int | None = None) -> None:
        self.caches[slot] = saved

    def release(self, slot: int) -> None:
        self.caches[slot] = None
