"""webapi/cache/bert.py computes what transformers' BERT computes: a tiny random BERT stands in for
MiniLM here (the real models: test_cache.py, test_paraphrase.py)."""

import copy

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from model_worker import precision
from webapi.cache import bert


@pytest.fixture(scope="module")
def classifier() -> BertForSequenceClassification:
    torch.manual_seed(0)
    # Weights far larger than a trained model's, so that any other activation or mask shows.
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=32, num_labels=1, initializer_range=0.5)  # fmt: skip
    return BertForSequenceClassification(config).eval()


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two texts of unequal length (the shorter padded), the second a pair of segments."""
    input_ids = torch.tensor([[2, 7, 9, 11, 3, 0, 0], [2, 5, 6, 3, 8, 12, 3]])
    token_types = torch.tensor([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    return input_ids, token_types, mask


def test_the_forward_pass_compiles_on_the_pinned_torch():
    # Compiled, a pass holds no GIL while it runs; the plain-Python fallback would (bert.py).
    assert isinstance(bert.compiled_mean_pooled, torch.jit.ScriptFunction)
    assert isinstance(bert.compiled_classified, torch.jit.ScriptFunction)


def test_mean_pooled_embeddings_are_transformers_mean_pooled_and_ignore_padding(classifier):
    input_ids, _, mask = batch()
    with torch.inference_mode():
        ours = bert.compiled_mean_pooled(bert.encoder_of(classifier.bert), input_ids, mask)
        hidden = classifier.bert(input_ids=input_ids, attention_mask=mask).last_hidden_state
        alone = bert.compiled_mean_pooled(bert.encoder_of(classifier.bert), input_ids[:1, :5], mask[:1, :5])
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    assert torch.allclose(ours, torch.nn.functional.normalize(pooled, dim=1), atol=1e-6)
    assert torch.allclose(ours[0], alone[0], atol=1e-6)


def test_classified_logits_are_transformers_in_float32_and_in_int8(classifier):
    input_ids, token_types, mask = batch()
    quantized = precision.apply(copy.deepcopy(classifier), "int8")  # transformers' forward on the worker's int8 layers
    for reference, int8 in ((classifier, False), (quantized, True)):
        with torch.inference_mode():
            ours = bert.compiled_classified(bert.classifier_of(classifier, int8), input_ids, token_types, mask)
            theirs = reference(input_ids=input_ids, token_type_ids=token_types, attention_mask=mask).logits
        assert torch.allclose(ours, theirs, atol=1e-5), f"int8={int8}"
