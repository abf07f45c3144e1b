"""The semantic cache against a real Redis and the real MiniLM: in-process, then through the API."""

import base64
import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import redis as redis_lib
import requests

from tasks import metrics
from tasks.contract import GenerationRequest, model_queues
from tasks.settings import Settings
from tests import stack
from webapi.cache import paraphrase
from webapi.cache.semantic_cache import Probe, SemanticCache
from webapi.cache.store import CacheStore
from webapi.cache.verify import Verifier
from webapi.services.models import ModelRegistry

MODEL = "test-model"


@pytest.fixture
def caches(redis_url, embedder):
    """Make SemanticCache instances (each as an API process would) on a flushed database."""
    client = redis_lib.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/4")
    client.flushdb()
    made = []

    def make(ttl_s=60, max_entries=100, rewording_threshold=0.0, model=None) -> SemanticCache:
        store, bar = CacheStore(client, ttl_s, max_entries, 60), Settings().cache_bars(with_model=True)[2]
        cache = SemanticCache(store, embedder, 0.8, rewording_threshold, model, bar)
        cache.start()
        assert cache.ready.wait(10)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.stop()
    client.flushdb()


def _remember(cache: SemanticCache, prompt: str, answer: str, **params) -> None:
    probe = cache.probe(GenerationRequest(prompt=prompt, **params), MODEL, read=False)
    cache.store_result(probe, {"text": answer}, source_id=f"job-{answer}")


def _wait_indexed(cache: SemanticCache, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(cache.index) != count:
        assert time.monotonic() < deadline, f"index has {len(cache.index)} entries, expected {count}"
        time.sleep(0.02)


def test_exact_then_semantic_hits(caches):
    cache = caches()
    _remember(cache, "What is the capital of France?", "Paris")
    _wait_indexed(cache, 1)
    exact = cache.probe(GenerationRequest(prompt="  what is the capital of france "), MODEL)
    assert (exact.hit.kind, exact.hit.result, exact.hit.source_id) == ("exact", {"text": "Paris"}, "job-Paris")
    semantic = cache.probe(GenerationRequest(prompt="Tell me the capital city of France."), MODEL)
    assert semantic.hit.kind == "semantic" and semantic.hit.similarity >= 0.8
    assert semantic.hit.result == {"text": "Paris"}
    assert cache.probe(GenerationRequest(prompt="How do I bake bread?"), MODEL).hit is None


@pytest.mark.parametrize(
    ("stored", "asked", "rule"),
    [
        ("What is 2 + 2?", "What is 2 + 3?", "number"),
        ("Which foods are gluten free?", "Which foods are not gluten free?", "negation"),
        ("turn on dark mode", "turn off dark mode", "opposite"),
        ("Convert JSON to XML", "Convert XML to JSON", "direction"),
        (
            "Average salary of a software engineer in Berlin?",
            "Average salary of a software engineer in Munich?",
            "entity",
        ),
        (
            "How many Grand Slam titles has Roger Federer won?",
            "How many Grand Slam titles has Rafael Nadal won?",
            "entity",
        ),
        (
            "translate 'the meeting is cancelled' to german pls",
            "translate 'the meeting is cancelled' to french pls",
            "entity",
        ),
        ("How far is 10 km?", "How far is 10 miles?", "unit"),
    ],
)
def test_each_near_miss_category_is_refused_by_the_guard(caches, stored, asked, rule):
    cache = caches()
    _remember(cache, stored, "stored answer")
    _wait_indexed(cache, 1)
    probe = cache.probe(GenerationRequest(prompt=asked), MODEL)
    assert probe.hit is None
    assert probe.refused == [rule]  # it was over the threshold: only the guard stood between


def test_a_rewording_the_guard_cannot_compare_needs_the_rewording_threshold(caches):
    # MiniLM puts these at 0.91; too many words differ for the guard's rules to compare them.
    asked = GenerationRequest(prompt="France's capital city, which one is it?")
    strict, lenient = caches(rewording_threshold=0.95), caches(rewording_threshold=0.9)
    _remember(strict, "What is the capital of France?", "Paris")
    _wait_indexed(strict, 1)
    _wait_indexed(lenient, 1)
    probe = strict.probe(asked, MODEL)
    assert probe.hit is None and probe.refused == ["rewording"]
    assert lenient.probe(asked, MODEL).hit.result == {"text": "Paris"}


def test_the_paraphrase_model_judges_what_the_rules_cannot_name_and_only_that(caches):
    model = paraphrase.at(Settings().paraphrase_model_dir)  # trained by scripts/setup.sh
    rules_only, judged = caches(rewording_threshold=0.85), caches(model=model)
    _remember(rules_only, "What are the early signs of diabetes?", "thirst")
    _remember(rules_only, "What is 2 + 2?", "4")
    _wait_indexed(judged, 2)
    synonym = GenerationRequest(prompt="What are the early symptoms of diabetes?")  # WordNet does not link them
    assert rules_only.probe(synonym, MODEL).refused == ["substitution"]
    assert judged.probe(synonym, MODEL).hit.result == {"text": "thirst"}
    sibling = judged.probe(GenerationRequest(prompt="What are the early signs of prediabetes?"), MODEL)
    assert sibling.hit is None and sibling.refused == ["paraphrase_model"]
    assert judged.probe(GenerationRequest(prompt="What is 2 + 3?"), MODEL).refused == ["number"]  # a rule decides


def test_a_paraphrase_asked_again_is_answered_from_its_match_while_the_match_holds(caches, monkeypatch):
    cache = caches()
    _remember(cache, "What is the capital of France?", "Paris")
    _wait_indexed(cache, 1)
    asked = GenerationRequest(prompt="Tell me the capital city of France.")
    first = cache.probe(asked, MODEL)
    assert first.hit.kind == "semantic"

    def no_embedding(texts):
        raise AssertionError("a remembered match is not embedded again")

    with monkeypatch.context() as patched:
        patched.setattr(cache.embedder, "embed", no_embedding)
        again = cache.probe(asked, MODEL)
    assert (again.hit.kind, again.hit.result) == ("semantic", {"text": "Paris"})
    assert again.hit.similarity == first.hit.similarity
    cache.store.evict(first.hit.entry.id)  # expired, or a verification failed
    assert cache.probe(asked, MODEL).hit is None
    _remember(cache, "What is the capital of France?", "Paris again")
    _wait_indexed(cache, 1)
    assert cache.probe(asked, MODEL).hit.result == {"text": "Paris again"}
    cache.store.tighten(cache.probe(asked, MODEL).hit.entry.exact, first.hit.similarity)  # learned since
    refused = cache.probe(asked, MODEL)
    assert refused.hit is None and refused.refused == ["learned_threshold"]


def test_a_remembered_match_is_never_another_prompts_entry_under_a_reused_id(caches):
    cache = caches()
    _remember(cache, "What is the capital of France?", "Paris")
    _wait_indexed(cache, 1)
    asked = GenerationRequest(prompt="Tell me the capital city of France.")
    matched = cache.probe(asked, MODEL).hit.entry
    cache.store.redis.flushdb()  # Redis lost its data (a failover, an unsynced crash): ids start again
    _remember(cache, "How do I bake bread?", "Flour, water, salt, yeast")
    assert cache.store.read([matched.id])[0].text == "How do I bake bread?"
    assert cache.probe(asked, MODEL).hit is None


def test_scope_isolation(caches):
    cache = caches()
    _remember(cache, "What is the capital of France?", "Paris", max_tokens=16)
    _wait_indexed(cache, 1)
    assert cache.probe(GenerationRequest(prompt="What is the capital of France?", max_tokens=16), MODEL).hit
    assert cache.probe(GenerationRequest(prompt="What is the capital of France?", max_tokens=17), MODEL).hit is None
    assert (
        cache.probe(GenerationRequest(prompt="What is the capital of France?", max_tokens=16), "another-model").hit
        is None
    )


def test_entries_expire_after_the_ttl(caches):
    cache = caches(ttl_s=1)
    _remember(cache, "What is the capital of France?", "Paris")
    _wait_indexed(cache, 1)
    time.sleep(1.5)
    assert cache.probe(GenerationRequest(prompt="What is the capital of France?"), MODEL).hit is None
    assert cache.probe(GenerationRequest(prompt="Tell me the capital city of France."), MODEL).hit is None


def test_least_recently_used_entries_are_evicted_past_the_bound(caches):
    cache = caches(max_entries=2)
    _remember(cache, "What is the capital of France?", "Paris")
    _remember(cache, "How do I bake bread?", "Flour")
    assert cache.probe(GenerationRequest(prompt="What is the capital of France?"), MODEL).hit  # now most recent
    _remember(cache, "Who wrote Hamlet?", "Shakespeare")
    _wait_indexed(cache, 2)
    assert cache.probe(GenerationRequest(prompt="How do I bake bread?"), MODEL).hit is None  # evicted
    assert cache.probe(GenerationRequest(prompt="What is the capital of France?"), MODEL).hit
    assert cache.probe(GenerationRequest(prompt="Who wrote Hamlet?"), MODEL).hit


def test_a_second_process_sees_what_the_first_stores_and_forgets_what_it_evicts(caches):
    first = caches(max_entries=2)
    _remember(first, "What is the capital of France?", "Paris")
    second = caches(max_entries=2)  # starts after: loads from Redis
    assert len(second.index) == 1
    _remember(first, "How do I bake bread?", "Flour")  # arrives through the change log
    _wait_indexed(second, 2)
    hit = second.probe(GenerationRequest(prompt="Please explain how to bake bread"), MODEL)
    assert hit.hit is not None and hit.hit.result == {"text": "Flour"}
    _remember(first, "Who wrote Hamlet?", "Shakespeare")  # evicts Paris (least recently used)
    _wait_indexed(second, 2)
    assert second.probe(GenerationRequest(prompt="Tell me the capital city of France."), MODEL).hit is None


# Through the API, with the worker generating the misses.


def _post(api: str, route: str, **body) -> requests.Response:
    return requests.post(f"{api}{route}", json={"max_tokens": 8, **body}, timeout=120)


def test_a_hit_is_answered_at_once_with_a_job_of_its_own(api):
    prompt = "Name three primary colours."
    miss = _post(api, "/v1/generate", prompt=prompt)
    assert (miss.status_code, miss.headers["X-Cache"]) == (200, "MISS")
    assert miss.json()["cache"] == {"hit": False, "kind": None, "similarity": None, "source_id": None}
    for route in ("/v1/generate", "/v1/jobs"):
        hit = _post(api, route, prompt="name three primary colours")
        assert (hit.status_code, hit.headers["X-Cache"]) == (200, "HIT")
        job = hit.json()
        assert job["status"] == "succeeded" and job["result"] == miss.json()["result"]
        assert job["cache"]["kind"] == "exact" and job["cache"]["source_id"] == miss.json()["id"]
        assert job["id"] != miss.json()["id"]
        assert requests.get(f"{api}/v1/jobs/{job['id']}", timeout=10).json() == job
    semantic = _post(api, "/v1/generate", prompt="Please name three of the primary colours")
    assert semantic.headers["X-Cache"] == "HIT"
    assert semantic.json()["cache"]["kind"] == "semantic" and semantic.json()["cache"]["similarity"] >= 0.8


def test_bypass_refresh_and_non_deterministic_requests(api, celery_app):
    prompt = "Name a large mammal."
    first = _post(api, "/v1/generate", prompt=prompt).json()
    bypass = _post(api, "/v1/generate", prompt=prompt, cache="bypass")
    assert bypass.headers["X-Cache"] == "BYPASS" and bypass.json()["batch"] is not None  # generated
    refresh = _post(api, "/v1/generate", prompt=prompt, cache="refresh")
    assert refresh.headers["X-Cache"] == "MISS" and refresh.json()["id"] != first["id"]
    again = _post(api, "/v1/generate", prompt=prompt)
    assert again.headers["X-Cache"] == "HIT" and again.json()["cache"]["source_id"] == refresh.json()["id"]
    sampled = _post(api, "/v1/generate", prompt=prompt, temperature=0.7)
    assert sampled.headers["X-Cache"] == "BYPASS"
    assert _post(api, "/v1/generate", prompt=prompt, cache="sometimes").status_code == 422


def test_failures_are_never_cached(api):
    too_long = "hello " * 9000
    assert _post(api, "/v1/generate", prompt=too_long).json()["status"] == "failed"
    again = _post(api, "/v1/generate", prompt=too_long)
    assert again.headers["X-Cache"] == "MISS" and again.json()["status"] == "failed"


def test_single_flight_two_identical_misses_generate_once(api, celery_app):
    body = {"prompt": "Write a limerick about a patient robot.", "max_tokens": 24}
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: _post(api, "/v1/generate", **body), range(2))
    jobs = sorted([first, second], key=lambda r: r.headers["X-Cache"])  # HIT sorts before MISS
    follower, leader = jobs[0].json(), jobs[1].json()
    assert [r.headers["X-Cache"] for r in jobs] == ["HIT", "MISS"]
    assert follower["cache"]["source_id"] == leader["id"]
    assert follower["result"] == leader["result"] and follower["status"] == "succeeded"
    assert celery_app.AsyncResult(follower["id"]).state == "PENDING"  # never sent to the worker
    assert celery_app.AsyncResult(leader["id"]).state == "SUCCESS"


def test_a_leader_whose_api_died_before_publishing_it_is_not_followed(caches, redis_url):
    from tasks.celery_app import make_celery
    from tasks.job_record import QUEUED, CacheKeys, JobRecord, JobStore
    from tasks.settings import Settings
    from webapi.services.submission import Submitter
    from webapi.services.tenant_jobs import TenantJobs

    cache = caches()
    redis = cache.store.redis
    celery = make_celery(Settings(redis_url=redis_url.rsplit("/", 1)[0] + "/4"))  # no worker reads it
    jobs = JobStore(redis, ttl_s=60)
    request = GenerationRequest(prompt="Name three rivers in Africa.", max_tokens=8)
    # What an API process left when it died between recording its job and publishing it.
    probe = cache.probe(request, MODEL, "", read=True)
    keys = CacheKeys(probe.scope, probe.exact, probe.text, "auto")
    jobs.create("orphan", JobRecord(QUEUED, MODEL, time.time(), cache=keys))
    assert cache.store.start_flight(probe.exact, "orphan") is None

    with stack.announced_worker(redis_url.rsplit("/", 1)[0] + "/4", MODEL):
        submitter = Submitter(celery, redis, jobs, ModelRegistry(redis, (MODEL,)), cache, 100, TenantJobs(redis, 0))
        job_id, verdict = submitter.submit(request, MODEL)
    record = jobs.get(job_id)
    assert verdict == "MISS" and record.follows is None  # generated, not waiting on the orphan forever
    assert record.enqueued_at is not None and redis.llen(model_queues(MODEL).interactive) == 1
    celery.close()


@pytest.fixture(scope="module")
def celery_app(redis_url):
    from tasks.celery_app import make_celery
    from tasks.settings import Settings

    return make_celery(Settings(redis_url=redis_url))


class _Jobs:
    """The two job-service calls a Verifier makes, answered from a dict (the generation itself is
    the worker's and is tested end to end elsewhere; here the verifier's own logic is under test)."""

    def __init__(self, answer: str) -> None:
        self.answer, self.submitted = answer, []

    def submit(self, request: GenerationRequest, model: str, tenant: str) -> str:
        self.submitted.append(request)
        return f"verify-{len(self.submitted)}"

    def describe(self, job_id: str) -> dict:
        return {"id": job_id, "status": "succeeded", "result": {"text": self.answer}}


def _verifier(cache: SemanticCache, jobs: _Jobs, rate: float = 1.0) -> Verifier:
    return Verifier(cache.store.redis, cache, rate, jobs.submit, jobs.describe)


def _semantic_hit(cache: SemanticCache) -> tuple[GenerationRequest, Probe]:
    """A cached answer, and a paraphrase of its prompt that the cache answers from it."""
    _remember(cache, "What is the capital of France?", "The capital of France is Paris.")
    _wait_indexed(cache, 1)
    asked = GenerationRequest(prompt="Can you tell me the capital city of France?")
    return asked, cache.probe(asked, MODEL)


def test_a_failed_verification_evicts_the_entry_raises_its_threshold_and_counts(caches):
    cache = caches()
    asked, probe = _semantic_hit(cache)
    assert probe.hit is not None and probe.hit.kind == "semantic"
    jobs = _Jobs("Sourdough bread needs a starter, flour, water and salt.")  # a wrong hit, as the model says
    verifier = _verifier(cache, jobs)
    assert verifier.consider(asked, MODEL, "", probe, probe.hit) == "verify-1"
    assert jobs.submitted == [asked]
    assert verifier.settle() == 1 and verifier.settle() == 0  # settled once
    _wait_indexed(cache, 1)  # the old entry evicted, the fresh answer cached for the asking prompt
    assert cache.probe(asked, MODEL).hit.result == {"text": jobs.answer}
    stored = cache.probe(GenerationRequest(prompt="What is the capital of France?"), MODEL, read=False)
    assert cache.store.exact(stored.exact) is None
    _remember(cache, "What is the capital of France?", "Paris again")  # learned again later: it starts strict
    entry = cache.store.exact(stored.exact)
    assert entry.learned == round(probe.hit.similarity + 0.01, 4)
    counts = metrics.Recorder(cache.store.redis).counter(metrics.CACHE_VERIFICATIONS)
    assert counts == {("failed",): 1.0}


def test_a_verification_is_sent_as_background_work(redis_url):
    """The worker runs a step of verifications alone on one thread (model_worker/engine.py), so the
    API keeps the other cores: the verifier the service builds says so in the job's message."""
    from tasks.settings import DEFAULT_MODEL
    from webapi.services import Services

    url = redis_url.rsplit("/", 1)[0] + "/5"
    client = redis_lib.Redis.from_url(url)
    client.flushdb()
    with stack.announced_worker(url, DEFAULT_MODEL):
        services = Services.build(Settings(redis_url=url, cache_verify_rate=1.0))
        job_id = services.verifier.submit(GenerationRequest(prompt="Name a river.", max_tokens=4), DEFAULT_MODEL, "")
    [message] = [json.loads(m) for m in client.lrange(model_queues(DEFAULT_MODEL).bulk, 0, -1)]
    assert message["headers"]["id"] == job_id
    assert json.loads(base64.b64decode(message["body"]))[1]["background"] is True
    services.celery.close()
    client.flushdb()


def test_a_verification_that_agrees_keeps_the_entry(caches):
    cache = caches()
    asked, probe = _semantic_hit(cache)
    verifier = _verifier(cache, _Jobs("The capital of France is Paris."))
    verifier.consider(asked, MODEL, "", probe, probe.hit)
    assert verifier.settle() == 1
    assert cache.probe(asked, MODEL).hit.kind == "semantic"
    assert metrics.Recorder(cache.store.redis).counter(metrics.CACHE_VERIFICATIONS) == {("passed",): 1.0}


def test_verification_samples_semantic_hits_only_at_its_rate(caches):
    cache = caches()
    _remember(cache, "What is the capital of France?", "Paris")
    _wait_indexed(cache, 1)
    jobs = _Jobs("Paris")
    exact = cache.probe(GenerationRequest(prompt="What is the capital of France?"), MODEL)
    assert _verifier(cache, jobs).consider(GenerationRequest(prompt="x"), MODEL, "", exact, exact.hit) is None  # exact
    asked = GenerationRequest(prompt="Can you tell me the capital city of France?")
    semantic = cache.probe(asked, MODEL)
    verifier = _verifier(cache, jobs, rate=0.25)
    # 400 hits of as many prompts (a verdict is per prompt and entry, next test)
    hits = [dataclasses.replace(semantic, exact=f"{semantic.exact}-{i}") for i in range(400)]
    started = [verifier.consider(asked, MODEL, "", probe, probe.hit) for probe in hits]
    assert 60 <= sum(s is not None for s in started) <= 100  # MAX_PENDING caps it at 100


def test_a_prompt_is_verified_against_an_entry_once_and_its_verdict_counted_after(caches):
    cache = caches()
    asked, probe = _semantic_hit(cache)
    jobs = _Jobs("The capital of France is Paris.")
    verifier = _verifier(cache, jobs)
    assert verifier.consider(asked, MODEL, "", probe, probe.hit) == "verify-1"
    assert verifier.consider(asked, MODEL, "", probe, probe.hit) is None  # being verified: no second job
    assert verifier.settle() == 1
    assert [verifier.consider(asked, MODEL, "", probe, probe.hit) for _ in range(3)] == [None] * 3
    assert len(jobs.submitted) == 1
    counts = metrics.Recorder(cache.store.redis).counter(metrics.CACHE_VERIFICATIONS)
    assert counts == {("passed",): 4.0}  # the remembered verdict counts for each sampled hit
    other = dataclasses.replace(probe, exact=probe.exact + "-other")  # another prompt: verified afresh
    assert verifier.consider(asked, MODEL, "", other, other.hit) == "verify-2"


def test_a_claim_whose_process_died_is_taken_over_once_stale(caches, monkeypatch):
    cache = caches()
    asked, probe = _semantic_hit(cache)
    jobs = _Jobs("The capital of France is Paris.")
    assert cache.store.claim_verification(probe.hit.entry.id, probe.exact, 3600) is None  # then the process died
    assert _verifier(cache, jobs).consider(asked, MODEL, "", probe, probe.hit) is None  # pending: left alone
    monkeypatch.setattr("webapi.cache.verify.STALE_CLAIM_S", 0)
    time.sleep(0.01)
    assert _verifier(cache, jobs).consider(asked, MODEL, "", probe, probe.hit) == "verify-1"


def test_a_verification_that_errs_or_cannot_start_leaves_the_pair_to_verify_again(caches):
    cache = caches()
    asked, probe = _semantic_hit(cache)
    jobs = _Jobs("")

    def refuse(request, model, tenant):
        raise RuntimeError("queue full")

    with pytest.raises(RuntimeError):
        Verifier(cache.store.redis, cache, 1.0, refuse, jobs.describe).consider(asked, MODEL, "", probe, probe.hit)
    verifier = _verifier(cache, jobs)
    verifier.describe = lambda job_id: {"id": job_id, "status": "failed", "result": None}
    assert verifier.consider(asked, MODEL, "", probe, probe.hit) == "verify-1"
    assert verifier.settle() == 1
    assert verifier.consider(asked, MODEL, "", probe, probe.hit) == "verify-2"
    assert metrics.Recorder(cache.store.redis).counter(metrics.CACHE_VERIFICATIONS) == {("error",): 1.0}


def test_prompts_longer_than_the_embedding_window_are_answered_only_exactly(caches, embedder):
    """Past MiniLM's 256 word pieces the rest is cut: two long prompts that share their start embed
    alike however they end, so neither may answer the other; each still answers itself."""
    cache = caches()
    wings = "abcdefghijklmnopqrstuvwxyz"
    context = " ".join(f"the museum's {w} wing holds paintings restored by a team of experts." for w in wings)
    first, second = context + " Who founded the museum?", context + " Which paintings need cleaning most urgently?"
    assert not embedder.fits(first) and embedder.fits("Who founded the museum?")
    assert float(embedder.embed([first])[0] @ embedder.embed([second])[0]) > 0.99  # the endings are cut off
    _remember(cache, first, "founders")
    _wait_indexed(cache, 1)
    assert cache.probe(GenerationRequest(prompt=second), MODEL).hit is None
    assert cache.probe(GenerationRequest(prompt=first), MODEL).hit.kind == "exact"
    _remember(cache, "Which paintings in the museum need cleaning?", "the east wing's")
    _wait_indexed(cache, 2)
    assert cache.probe(GenerationRequest(prompt=second), MODEL).hit is None  # a long prompt is never searched


def test_embeddings_are_sentence_transformers_own_on_int8_layers_and_near_float32(embedder):
    """The compiled forward pass (bert.py) gives sentence-transformers' vectors on the worker's int8
    layers, in a batch as alone (the thresholds were calibrated on those), close to float32's."""
    from sentence_transformers import SentenceTransformer

    from model_worker import precision
    from webapi.cache.embedder import resolve

    texts = [
        "What are the early signs of diabetes?",
        "  café au lait — what's in it?  ",
        "2 + 2",
        " ".join(["a very long prompt about the museum's wings"] * 60),  # cut at the window
    ]
    reference = SentenceTransformer(resolve(embedder.name), device="cpu")
    floating = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    precision.apply(reference[0].auto_model, "int8")
    # one text at a time: unpadded, as the embedder computes them (bert.by_length)
    expected = np.stack([reference.encode([text], normalize_embeddings=True)[0] for text in texts])
    assert abs(embedder.embed(texts) - expected).max() < 1e-5
    # each text's vector is bitwise what it gets alone, whatever else shares its pass (bert.by_length)
    assert np.array_equal(embedder.embed(texts), np.stack([embedder.embed([text])[0] for text in texts]))
    assert ((expected * floating).sum(axis=1) > 0.985).all()  # ("2 + 2": 0.990)
