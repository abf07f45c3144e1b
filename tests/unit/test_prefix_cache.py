"""The prefix cache's bookkeeping: where reuse may end, what it keeps, what it evicts."""

from model_worker.prefix_cache import MIN_REUSE, PrefixCache, usable_prefix


def test_reuse_ends_on_a_chunk_boundary_and_before_the_last_prompt_token():
    cached = list(range(100))
    assert usable_prefix(cached, [*range(30), 999]) == 24  # shares 30: cut back to a boundary of 8
    assert usable_prefix(cached, list(range(20))) == 16  # all shared, but the last token is recomputed
    assert usable_prefix(cached, [*range(90), 999]) == 64  # past 64, boundaries are 64 apart
    assert usable_prefix(cached, [0, 1, 2, 3, 4, 5, 999]) == 0  # under MIN_REUSE tokens: not worth a copy
    assert MIN_REUSE == 8


def test_the_longest_usable_prefix_wins_and_is_kept_longest():
    cache = PrefixCache(max_tokens=100)
    cache.add(list(range(40)), "short")
    cache.add([*range(16), *range(100, 140)], "other")
    match = cache.longest([*range(35), 7])
    assert match is not None and match[1] == 32
    assert cache.use(*match) == "short"
    assert (cache.hits, cache.reused_tokens) == (1, 32)
    assert cache.longest([500, 501, 502, 503, 504, 505, 506, 507, 508, 509]) is None


def test_the_least_recently_used_prompts_go_first_past_the_bound():
    cache = PrefixCache(max_tokens=60)
    cache.add(list(range(30)), "a")
    cache.add(list(range(100, 130)), "b")
    cache.use(*cache.longest([*range(20), 0]))  # "a" is used again
    cache.add(list(range(200, 230)), "c")  # 90 tokens > 60: the least recently used, "b", goes
    assert len(cache) == 2
    assert cache.longest([*range(100, 120), 0]) is None
    assert cache.longest([*range(20), 0]) is not None and cache.longest([*range(200, 220), 0]) is not None
