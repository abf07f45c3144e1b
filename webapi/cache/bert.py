"""A BERT encoder's forward pass as one TorchScript call: the semantic cache's two models run on it.

Run op by op from Python, one MiniLM pass hands the GIL back and forth some two hundred times, and
under load the API's request threads take it in between: measured here with eight busy Python
threads, embedding a prompt in float32 took 33 ms (p50; 12.8 ms idle). Compiled, the pass is one
call into TorchScript's interpreter, which runs without the GIL: 11 ms under the same load (8.5 ms
idle).
The layers are transformers' BERT, computed the same way (tests/unit/test_bert.py compares the
two); the Linear layers are the worker's (model_worker/kernels.py), float32 or its row-independent
int8 (both models run in int8: 3.3 ms a prompt's embedding, idle).

No `from __future__ import annotations` here: TorchScript reads the annotations.
"""

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from model_worker import precision
from model_worker.kernels import Linear, linear, script


class Layer(NamedTuple):
    """One encoder layer: attention (query, key and value in one Linear), then the feed-forward."""

    qkv: Linear
    attention_out: Linear
    attention_norm: list[torch.Tensor]  # LayerNorm weight and bias
    up: Linear
    down: Linear
    out_norm: list[torch.Tensor]


class Encoder(NamedTuple):
    """A BERT model's weights, as the compiled functions take them."""

    words: torch.Tensor
    positions: torch.Tensor
    token_types: torch.Tensor
    embedding_norm: list[torch.Tensor]
    layers: list[Layer]
    heads: int
    eps: float


class Classifier(NamedTuple):
    """BertForSequenceClassification's weights: the encoder, its pooler and the classifier."""

    encoder: Encoder
    pooler: Linear
    head: Linear


def hidden_states(
    encoder: Encoder, input_ids: torch.Tensor, token_types: torch.Tensor, mask: torch.Tensor, first_only: bool = False
) -> torch.Tensor:
    """The last layer's (batch, tokens, hidden) states; `mask` is 1 for a text's tokens, 0 for padding.

    With `first_only`, the last layer's (batch, hidden) states of each text's first token alone, all
    that a classifier reads: that layer then attends and feeds forward from that one row (its keys and
    values still come from every token), about an eighth of the pass saved. Each row is computed as
    in the full pass (layer norms, int8 scales and attention are per row), equal within rounding: a
    one-token query's attention sums in another order (the paraphrase model's scores moved by at
    most 0.0012 over the 9 171 blind pairs, and no decision at its threshold changed)."""
    batch, tokens = input_ids.shape
    size = encoder.words.shape[1]
    hidden = encoder.words[input_ids] + encoder.token_types[token_types] + encoder.positions[:tokens]
    hidden = F.layer_norm(hidden, [size], encoder.embedding_norm[0], encoder.embedding_norm[1], encoder.eps)
    hidden = hidden.reshape(batch * tokens, size)
    attend_to = (mask != 0)[:, None, None, :]  # padding is never attended to
    head_dim = size // encoder.heads
    last = len(encoder.layers) - 1
    for index, layer in enumerate(encoder.layers):
        qkv = linear(hidden, layer.qkv).view(batch, tokens, 3, encoder.heads, head_dim).permute(2, 0, 3, 1, 4)
        query = qkv[0]
        if first_only and index == last:
            query = query[:, :, :1]
            hidden = hidden.view(batch, tokens, size)[:, 0]
        attended = F.scaled_dot_product_attention(query, qkv[1], qkv[2], attn_mask=attend_to)
        attended = attended.transpose(1, 2).reshape(hidden.shape[0], size)
        norm = layer.attention_norm
        hidden = F.layer_norm(linear(attended, layer.attention_out) + hidden, [size], norm[0], norm[1], encoder.eps)
        expanded = F.gelu(linear(hidden, layer.up))
        norm = layer.out_norm
        hidden = F.layer_norm(linear(expanded, layer.down) + hidden, [size], norm[0], norm[1], encoder.eps)
    return hidden if first_only else hidden.view(batch, tokens, size)


def mean_pooled(encoder: Encoder, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit-length sentence embeddings: the mean of each text's last hidden states (sentence-transformers' pooling)."""
    hidden = hidden_states(encoder, input_ids, torch.zeros_like(input_ids), mask)
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2.0, dim=1)


def classified(
    model: Classifier, input_ids: torch.Tensor, token_types: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """The logits: the first token's last state through the pooler (tanh), then the classifier."""
    first = hidden_states(model.encoder, input_ids, token_types, mask, first_only=True)
    return linear(torch.tanh(linear(first, model.pooler)), model.head)


compiled_mean_pooled = script(mean_pooled)
compiled_classified = script(classified)


def by_length(run: Callable[..., torch.Tensor], mask: torch.Tensor, *inputs: torch.Tensor) -> torch.Tensor:
    """`run(*inputs, mask)` over each group of texts of one length apart, without padding; rows in order.

    Padding leaves a text's result the same mathematically but not bitwise: attention's sums over a
    longer row round differently (by about 1e-8), which an int8 layer can turn into another
    rounding step, and a vector then depends on what shared its pass (measured: 46 of 300 prompts
    moved when batched). Unpadded, a text's result is bitwise what it gets alone, so the cosines
    served are the ones the thresholds were chosen on."""
    lengths = mask.sum(1)
    results, rows = [], []
    for length in torch.unique(lengths).tolist():
        chosen = torch.nonzero(lengths == length).squeeze(1)
        results.append(run(*(tensor[chosen, :length] for tensor in inputs), mask[chosen, :length]))
        rows.append(chosen)
    return torch.cat(results)[torch.argsort(torch.cat(rows))]


def layer_of(linear_layer: nn.Linear, int8: bool) -> Linear:
    """A Linear layer as the kernels take it: the worker's row-independent int8, or float32."""
    return precision.int8(linear_layer) if int8 else precision.floating(linear_layer)


def encoder_of(bert: nn.Module, int8: bool = False) -> Encoder:
    """The weights of a transformers BertModel (absolute positions, GELU), Linear layers in int8 or float32."""
    config = bert.config
    if config.model_type != "bert" or config.hidden_act != "gelu" or config.is_decoder or config.add_cross_attention:
        raise ValueError("not a BERT encoder with GELU (bert.py computes only that)")
    if bert.dtype != torch.float32 or config.hidden_size % config.num_attention_heads:
        raise ValueError(f"unsupported BERT: {bert.dtype}, {config.hidden_size} / {config.num_attention_heads} heads")
    embeddings = bert.embeddings

    def norm(layer_norm: nn.LayerNorm) -> list[torch.Tensor]:
        return [layer_norm.weight.detach(), layer_norm.bias.detach()]

    layers = []
    for block in bert.encoder.layer:
        attention = block.attention.self
        qkv = precision.fused_linear([attention.query, attention.key, attention.value])
        layers.append(
            Layer(
                layer_of(qkv, int8),
                layer_of(block.attention.output.dense, int8),
                norm(block.attention.output.LayerNorm),
                layer_of(block.intermediate.dense, int8),
                layer_of(block.output.dense, int8),
                norm(block.output.LayerNorm),
            )
        )
    return Encoder(
        embeddings.word_embeddings.weight.detach(),
        embeddings.position_embeddings.weight.detach(),
        embeddings.token_type_embeddings.weight.detach(),
        norm(embeddings.LayerNorm),
        layers,
        config.num_attention_heads,
        float(config.layer_norm_eps),
    )


def classifier_of(model: nn.Module, int8: bool = False) -> Classifier:
    """The weights of a transformers BertForSequenceClassification with one output (see encoder_of)."""
    if type(model).__name__ != "BertForSequenceClassification" or model.config.num_labels != 1:
        raise ValueError(f"not a BERT scoring model with one output: {type(model).__name__}")
    pooler, head = (layer_of(layer, int8) for layer in (model.bert.pooler.dense, model.classifier))
    return Classifier(encoder_of(model.bert, int8), pooler, head)
