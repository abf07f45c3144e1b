"""Monitoring as an operator sees it: Flower's own API, Prometheus /metrics, and the dashboard."""

import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests import stack
from tests.samples import QUEUES

FLOWER_AUTH = ("operator", "flower-test-password")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def flower(redis_url, worker, logs_dir):
    """Flower on the session's broker, with basic auth, started before the requests it must see."""
    port = stack.free_port()
    proc = subprocess.Popen(
        [
            str(stack.BIN / "celery"),
            "-A",
            "tasks.monitor_app",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
            f"--basic-auth={':'.join(FLOWER_AUTH)}",
        ],
        cwd=stack.ROOT,
        env=stack.service_env(redis_url),
        stdout=(logs_dir / "flower.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    stack.wait_until(lambda: requests.get(f"{base}/healthcheck", timeout=1).ok, 60, "flower", proc)
    time.sleep(2)  # let it subscribe to the event stream
    yield base
    stack.stop(proc)


def _chat(topic: str, cache: str = "bypass") -> dict:
    return {"messages": [{"role": "user", "content": f"One fact about {topic}."}], "max_tokens": 8, "cache": cache}


def _generate_together(api: str, topics: list[str]) -> list[dict]:
    with ThreadPoolExecutor(len(topics)) as pool:
        responses = pool.map(lambda t: requests.post(f"{api}/v1/generate", json=_chat(t), timeout=120), topics)
    return [r.json() for r in responses]


def _scrape(base: str) -> dict[str, list]:
    text = requests.get(f"{base}/metrics", timeout=10).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_flower_shows_every_request_of_a_batch_as_a_task(flower, api):
    jobs = _generate_together(api, ["owls", "tea", "glaciers", "jazz"])
    assert {job["batch"]["size"] for job in jobs} == {4}
    assert requests.get(f"{flower}/api/tasks", timeout=10).status_code == 401  # basic auth is on
    deadline = time.monotonic() + 30
    while True:
        tasks = requests.get(f"{flower}/api/tasks", auth=FLOWER_AUTH, timeout=10).json()
        seen = [tasks.get(job["id"], {}) for job in jobs]
        if all(task.get("state") == "SUCCESS" for task in seen) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [task.get("state") for task in seen] == ["SUCCESS"] * 4
    assert all(task["name"] == "llm.generate" and task["runtime"] > 0 for task in seen)
    assert len({task["worker"] for task in seen}) == 1
    flower_metrics = requests.get(f"{flower}/metrics", auth=FLOWER_AUTH, timeout=10)
    assert flower_metrics.ok and "flower_events_total" in flower_metrics.text


def test_metrics_count_what_the_api_and_the_worker_did(api):
    before = _scrape(api)
    jobs = _generate_together(api, ["comets", "bridges", "honey"])
    cached = requests.post(f"{api}/v1/generate", json=_chat("kites", cache="auto"), timeout=120)
    again = requests.post(f"{api}/v1/generate", json=_chat("kites", cache="auto"), timeout=120)
    assert again.headers["X-Cache"] == "HIT"
    after = _scrape(api)

    def delta(family: str, name: str, **labels: str) -> float:
        return _value(after[family], name, **labels) - _value(before.get(family, []), name, **labels)

    assert delta("llm_http_requests", "llm_http_requests_total", route="/v1/generate", status="200") == 5
    assert delta("llm_cache_lookups", "llm_cache_lookups_total", result="bypass") == 3
    assert delta("llm_cache_lookups", "llm_cache_lookups_total", result="exact_hit") == 1
    generated = [*jobs, cached.json()]
    tokens = sum(job["result"]["completion_tokens"] for job in generated)
    assert delta("llm_generation_tokens", "llm_generation_tokens_total", lane="interactive") == tokens  # worker side
    # Rows per step, summed over steps: each row is in the batch for one step per token it made.
    assert delta("llm_batch_size", "llm_batch_size_sum") == tokens
    assert delta("llm_e2e_request_latency_seconds", "llm_e2e_request_latency_seconds_count", lane="interactive") == 4
    assert delta("llm_request_queue_time_seconds", "llm_request_queue_time_seconds_count", lane="interactive") == 4
    assert (
        delta("llm_time_per_output_token_seconds", "llm_time_per_output_token_seconds_count", lane="interactive") == 4
    )
    assert _value(after["llm_workers_alive"], "llm_workers_alive") >= 1
    assert {s.labels["queue"] for s in after["llm_queue_depth"]} == set(QUEUES)


def test_the_dashboard_charts_live_load_in_chromium(api, redis_url):
    from playwright.sync_api import sync_playwright

    stop = threading.Event()
    topics = [f"topic {i}" for i in range(400)]
    bodies = [(i, _chat(topics[i % 40], cache="auto")) for i in range(400)]  # repeats: some cache hits

    def client(offset: int) -> None:
        for i in range(offset, 10**6, 4):
            if stop.is_set():
                return
            requests.post(f"{api}/v1/generate", json=bodies[i % len(bodies)][1], timeout=120)

    def load() -> None:  # four closed-loop clients until the test ends
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(client, range(4)))

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{api}/dashboard")
            try:
                page.wait_for_function(
                    """() => { const c = window.dashboard && window.dashboard.charts;
                        const some = (chart, i) => chart.data.datasets[i].data.some((v) => v > 0);
                        return c && c.throughput.data.labels.length >= 5 && some(c.throughput, 0)
                            && some(c.throughput, 1) && some(c.latency, 1) && some(c.cache, 0)
                            && some(c.batches, 0); }""",
                    timeout=90_000,
                )
            except Exception:  # say which chart stayed empty (a run on a loaded machine once timed out)
                shown = page.evaluate(
                    """() => Object.fromEntries(Object.entries((window.dashboard || {}).charts || {}).map(
                        ([name, chart]) => [name, chart.data.datasets.map((d) => d.data.slice(-8))]))"""
                )
                raise AssertionError(f"the dashboard's charts after 90 s: {shown}; page errors: {problems}") from None
            settings = page.inner_text("#settings")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            browser.close()
    finally:
        stop.set()
        loader.join(30)
        stack.wait_idle(redis_url)  # the load's last jobs finish here, not in the next test
    assert problems == []
    assert "SmolLM2" in settings and "cpu" in settings
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
