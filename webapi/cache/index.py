"""The in-memory search index: one HNSW graph (usearch) per scope, safe across threads.

Chosen by measurement (bench/cache_search.py): exact numpy search over 100 000 vectors costs
~16 ms (p50) a query on this CPU; HNSW stays near a millisecond, and with a scope per graph a
search never even looks at another scope's vectors.
"""

from __future__ import annotations

import threading

import numpy as np
import torch  # noqa: F401  (before any usearch index exists: see below)
from usearch.index import Index

# A usearch index built before torch is imported sends TorchScript's compiler (bert.py, the
# worker's kernels.py) into an endless exception loop inside libstdc++; the API compiles the cache's
# models, so this module, which builds the indexes, imports torch first.


class ScopedIndex:
    """Vectors by integer key, searchable within one scope at a time."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self._graphs: dict[str, Index] = {}
        self._scope_of: dict[int, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._scope_of)

    def add(self, key: int, scope: str, vector: np.ndarray) -> None:
        """Insert (or ignore, if present) a unit vector under `key` in `scope`."""
        with self._lock:
            if key in self._scope_of:
                return
            graph = self._graphs.get(scope)
            if graph is None:
                graph = self._graphs[scope] = Index(ndim=self.dimensions, metric="ip", dtype="f32")
            graph.add(key, vector)
            self._scope_of[key] = scope

    def add_many(self, keys: list[int], scope: str, vectors: np.ndarray) -> None:
        """Insert many vectors into one scope at once (graph construction uses every core)."""
        with self._lock:
            fresh = [i for i, key in enumerate(keys) if key not in self._scope_of]
            if not fresh:
                return
            graph = self._graphs.get(scope)
            if graph is None:
                graph = self._graphs[scope] = Index(ndim=self.dimensions, metric="ip", dtype="f32")
            graph.add(np.array([keys[i] for i in fresh]), vectors[fresh], threads=0)
            self._scope_of.update((keys[i], scope) for i in fresh)

    def remove(self, key: int) -> None:
        """Forget `key` (no-op if absent)."""
        with self._lock:
            scope = self._scope_of.pop(key, None)
            if scope is None:
                return
            graph = self._graphs[scope]
            graph.remove(key)
            if len(graph) == 0:
                del self._graphs[scope]

    def search(self, scope: str, vector: np.ndarray, count: int) -> list[tuple[int, float]]:
        """Up to `count` (key, cosine similarity) pairs in `scope`, most similar first."""
        with self._lock:
            graph = self._graphs.get(scope)
            if graph is None:
                return []
            matches = graph.search(vector, count)
            return [(int(k), 1.0 - float(d)) for k, d in zip(matches.keys, matches.distances, strict=True)]
