"""The two-tier semantic cache: exact match first, then the nearest earlier prompt in scope.

    probe = cache.probe(request, model, tenant)       # exact tier, then semantic tier: near-miss guard,
                                                      # then the paraphrase model
    if probe.hit: answer now
    else: generate, then cache.store(probe, result, job_id) once the result is known

Entries live in Redis (store.py); each API process keeps a search index (index.py) that a
background thread loads at start and then keeps in step through the change log, so a restarted
or second process serves the same cache. Until the index has loaded, the semantic tier is skipped
(a starting process waits for it, bounded: webapi/services).

Each process also remembers its last semantic matches: a paraphrase asked again is answered from
the entry it matched, without embedding or judging it again. The match depends on the two texts
alone; what may have changed since (the entry expired or was evicted, its id was reused after Redis
lost data, a verification learned a threshold for it) is checked on every use.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.contract import GenerationRequest
from webapi.background import BackgroundLoop
from webapi.cache import keys
from webapi.cache.embedder import Embedder
from webapi.cache.guard import Verdict, judge
from webapi.cache.index import ScopedIndex
from webapi.cache.paraphrase import ParaphraseModel
from webapi.cache.store import CacheStore, Entry
from webapi.cache.wordnet import wordnet

log = logging.getLogger(__name__)

#: Nearest neighbours checked in the semantic tier: the nearest may be refused by the guard
#: while the next one is a true paraphrase.
CANDIDATES = 4
#: Semantic matches each process remembers (the least recently used are forgotten first).
REMEMBERED = 10_000


@dataclass
class Hit:
    """A cached answer found for a request."""

    kind: str  # "exact" | "semantic"
    similarity: float | None
    source_id: str
    result: dict[str, Any]
    entry: Entry | None = None  # the entry that answered a semantic hit (verify.py checks it)

    @classmethod
    def semantic(cls, entry: Entry, similarity: float) -> Hit:
        """`entry`'s answer, for a prompt this similar to its own."""
        return cls("semantic", round(similarity, 4), entry.source_id, json.loads(entry.result), entry)


@dataclass
class Probe:
    """What the cache knows about a request: its keys, its embedding, and a hit if there is one."""

    scope: str
    exact: str
    text: str
    vector: np.ndarray | None = None
    hit: Hit | None = None
    refused: list[str] = field(default_factory=list)  # guard rules that refused candidates


class SemanticCache(BackgroundLoop):
    """Lookups and inserts over the shared store and this process's index.

    Its thread (start()) loads the index, then follows the change log until stop().
    """

    thread_name = "cache-index"

    def __init__(
        self,
        store: CacheStore,
        embedder: Embedder,
        threshold: float,
        rewording_threshold: float = 0.0,
        paraphrase: ParaphraseModel | None = None,
        paraphrase_threshold: float = 0.5,
    ) -> None:
        """`threshold`: the similarity a semantic match needs; `rewording_threshold`: what it needs
        too where the guard's rules cannot compare the prompts (0: nothing more). Where the rules
        name no change, `paraphrase` (the model, if any) must score the pair `paraphrase_threshold`
        or more."""
        super().__init__()
        self.store, self.embedder, self.paraphrase = store, embedder, paraphrase
        self.threshold, self.rewording_threshold = threshold, rewording_threshold
        self.paraphrase_threshold = paraphrase_threshold
        self.index = ScopedIndex(0)  # replaced by the loaded index (the embedder sets its dimensions)
        # a prompt's exact key -> the entry it matched (id and exact key) and their similarity
        self._matched: OrderedDict[str, tuple[int, str, float]] = OrderedDict()
        self._matched_lock = threading.Lock()
        self.ready = threading.Event()  # the index holds everything stored before start()
        self.tried = threading.Event()  # the first load has ended, loaded or failed

    def probe(self, request: GenerationRequest, model: str, tenant: str = "", read: bool = True) -> Probe:
        """Keys and embedding for `request` to `model`; with `read`, look for a cached answer (an
        answer is only ever found in the scope of the same model, tenant and parameters)."""
        scope = keys.scope(request, model, tenant)
        text = keys.query_text(request)
        probe = Probe(scope, keys.exact_key(scope, text), text)
        if read and (entry := self.store.exact(probe.exact)) is not None:
            probe.hit = Hit("exact", 1.0, entry.source_id, json.loads(entry.result))
            return probe
        if read and (hit := self._remembered(probe.exact)) is not None:
            probe.hit = hit
            return probe
        probe.vector = self.embedder.embed([text])[0]
        # A prompt longer than the embedder's window is embedded from its start alone: exact tier only.
        if read and self.ready.is_set() and self.embedder.fits(text):
            probe.hit = self._nearest(probe)
        return probe

    def store_result(self, probe: Probe, result: dict[str, Any], source_id: str, replace: bool = False) -> int:
        """Cache a finished job's result for the prompt of `probe`; returns the entry id (0: kept the old)."""
        vector = probe.vector if probe.vector is not None else self.embedder.embed([probe.text])[0]
        return self.store.insert(probe.scope, probe.exact, probe.text, vector, json.dumps(result), source_id, replace)

    def _remembered(self, exact: str) -> Hit | None:
        """The entry this prompt matched before, if it is still there (the same prompt's entry: an id
        may be reused after Redis lost data) and its learned threshold (if any) still lets the match
        through."""
        with self._matched_lock:
            if (known := self._matched.get(exact)) is None:
                return None
            self._matched.move_to_end(exact)
        entry_id, entry_exact, similarity = known
        found = [e for e in self.store.read([entry_id]) if e.exact == entry_exact]
        if not found or not found[0].admits(similarity):
            with self._matched_lock:
                if self._matched.get(exact) == known:  # not a fresher match another thread made
                    del self._matched[exact]
            return None
        return Hit.semantic(found[0], similarity)

    def _remember(self, exact: str, entry: Entry, similarity: float) -> None:
        with self._matched_lock:
            self._matched[exact] = (entry.id, entry.exact, similarity)
            self._matched.move_to_end(exact)
            if len(self._matched) > REMEMBERED:
                self._matched.popitem(last=False)

    def _nearest(self, probe: Probe) -> Hit | None:
        assert probe.vector is not None
        candidates = [
            (k, s) for k, s in self.index.search(probe.scope, probe.vector, CANDIDATES) if s >= self.threshold
        ]
        if not candidates:
            return None
        similarity = dict(candidates)
        entries = {e.id: e for e in self.store.read([k for k, _ in candidates])}
        for key, _ in candidates:  # nearest first: the model scores only until one is served
            entry = entries.get(key)
            if entry is None:
                self.index.remove(key)  # expired in Redis
                continue
            if not entry.admits(similarity[key]):
                probe.refused.append("learned_threshold")  # a verification found this neighbourhood too wide
                continue
            verdict = judge(probe.text, entry.text) if self.embedder.fits(entry.text) else Verdict("too_long")
            alike = None
            if self.paraphrase is not None and verdict.asks_model(similarity[key], self.rewording_threshold):
                alike = self.paraphrase.scores(probe.text, [entry.text])[0] >= self.paraphrase_threshold
            if (reason := verdict.refusal_at(similarity[key], self.rewording_threshold, alike)) is not None:
                probe.refused.append(reason)
                continue
            self._remember(probe.exact, entry, similarity[key])
            return Hit.semantic(entry, similarity[key])
        return None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                position = self._load()
                while not self._stopping.is_set():
                    events, lost = self.store.log_since(position, block_ms=500)
                    if lost:
                        log.warning("cache index fell behind the change log; reloading")
                        break
                    self._apply(events)
                    if events:
                        position = events[-1][0]
            except Exception as exc:  # Redis away: retry, keep serving exact hits
                log.warning("cache index sync failed (%s); retrying", exc)
                self.ready.clear()
                self.tried.set()
                self._stopping.wait(1)

    def _load(self) -> str:
        wordnet()  # the guard's lexicon (about a second to read), before the first semantic lookup needs it
        position = self.store.log_position()  # events after this are replayed: none are missed
        index = ScopedIndex(self.embedder.dimensions)
        ids = self.store.all_ids()
        for start in range(0, len(ids), 10_000):
            by_scope: dict[str, list[tuple[int, np.ndarray]]] = {}
            for entry_id, scope, vector in self.store.vectors(ids[start : start + 10_000]):
                by_scope.setdefault(scope, []).append((entry_id, vector))
            for scope, rows in by_scope.items():
                index.add_many([k for k, _ in rows], scope, np.stack([v for _, v in rows]))
        self.index = index
        self.ready.set()
        self.tried.set()
        log.info("cache index loaded %d entries", len(self.index))
        return position

    def _apply(self, events: list[tuple[str, str, int]]) -> None:
        added = [entry_id for _, op, entry_id in events if op == "add"]
        for _, op, entry_id in events:
            if op == "del":
                self.index.remove(entry_id)
        for entry_id, scope, vector in self.store.vectors(added):
            self.index.add(entry_id, scope, vector)
