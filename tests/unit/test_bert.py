"""webapi/cache/bert.py computes what transformers' BERT computes: a tiny random BERT stands in for
MiniLM here (the real models: test_cache.py, test_paraphrase.py)."""

import copy
from functools import partial

import numpy as np
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


def test_by_length_gives_each_text_what_it_gets_alone_in_int8(classifier):
    input_ids, token_types, mask = batch()
    model = bert.classifier_of(classifier, int8=True)
    with torch.inference_mode():
        together = bert.by_length(partial(bert.compiled_classified, model), mask, input_ids, token_types)
        alone = [bert.compiled_classified(model, *(t[i : i + 1, :n] for t in (input_ids, token_types, mask)))
                 for i, n in enumerate(mask.sum(1).tolist())]  # fmt: skip
    assert torch.equal(together, torch.cat(alone))


def sentence_model(directory, classifier, *extra, pooling="mean", prompt=None):
    """A sentence-transformers model of a tiny BERT as `classifier`'s (with MiniLM's tokenizer and
    vocabulary), saved, and named by its path."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertModel

    from webapi.cache.embedder import DEFAULT_EMBED_MODEL, resolve

    tokenizer = AutoTokenizer.from_pretrained(resolve(DEFAULT_EMBED_MODEL))
    torch.manual_seed(0)
    config = copy.deepcopy(classifier.config)
    config.vocab_size = len(tokenizer)
    BertModel(config).save_pretrained(directory / "bert")
    tokenizer.save_pretrained(directory / "bert")
    transformer = Transformer(str(directory / "bert"), max_seq_length=16)
    prompts = {"query": prompt} if prompt else None
    model = SentenceTransformer(modules=[transformer, Pooling(32, pooling), *extra], device="cpu", prompts=prompts,
                                default_prompt_name="query" if prompt else None)  # fmt: skip
    model.save(str(directory / "sentence"))
    return str(directory / "sentence")


def test_the_embedder_computes_a_mean_pooled_bert_itself_and_gives_sentence_transformers_int8_vectors(
    tmp_path, classifier
):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize

    from webapi.cache.embedder import Embedder

    path = sentence_model(tmp_path, classifier, Normalize())
    embedder = Embedder(path).load()
    assert embedder._bert is not None  # (the compiled path, not the fallback)
    texts = ["the first text", "  a second, longer text that the window of 16 pieces cuts off at the end  ", "3"]
    reference = SentenceTransformer(path, device="cpu")
    floating = reference.encode(texts, normalize_embeddings=True)
    precision.apply(reference[0].auto_model, "int8")  # sentence-transformers' forward on the worker's int8 layers
    expected = np.stack([reference.encode([text], normalize_embeddings=True)[0] for text in texts])  # unpadded
    assert abs(embedder.embed(texts) - expected).max() < 1e-5
    assert abs(expected - floating).max() > 1e-4  # (int8 indeed)


@pytest.mark.parametrize("variant", ["max pooling", "a dense layer", "a default prompt"])
def test_the_embedder_leaves_any_other_model_to_sentence_transformers(tmp_path, classifier, variant):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    from webapi.cache.embedder import Embedder

    path = sentence_model(
        tmp_path,
        classifier,
        *([Dense(32, 8)] if variant == "a dense layer" else []),
        pooling="max" if variant == "max pooling" else "mean",
        prompt="query: " if variant == "a default prompt" else None,
    )
    embedder = Embedder(path).load()
    assert embedder._bert is None
    texts = ["the first text", "a second text"]
    expected = SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)
    assert abs(embedder.embed(texts) - expected).max() < 1e-5
