"""llm-cache calibrate: the served / false-hit curve and the threshold it recommends."""

import pytest

from webapi.cache.calibrate import Pair, curve, recommend


def _pairs() -> list[Pair]:
    same = [Pair("a", "b", True, s, None) for s in (0.95, 0.9, 0.85, 0.8, 0.7)]
    different = [Pair("a", "b", False, s, None) for s in (0.92, 0.82)] + [Pair("a", "b", False, 0.99, "number")]
    return same + different


def test_the_curve_counts_what_the_cache_would_serve():
    points = {p.threshold: p for p in curve(_pairs(), [0.8, 0.85, 0.93], 0.0)}
    assert (points[0.8].paraphrases_served, points[0.8].false_hit_count) == (0.8, 2)
    assert (points[0.85].paraphrases_served, points[0.85].false_hit_count) == (0.6, 1)
    assert (points[0.93].paraphrases_served, points[0.93].false_hit_count) == (0.2, 0)  # the guard refused 0.99


def test_it_recommends_the_most_paraphrases_within_the_bound_and_the_higher_threshold_on_ties():
    points = curve(_pairs(), [0.8, 0.83, 0.85, 0.93], 0.0)
    assert recommend(points, max_false_rate=0.34).threshold == 0.85  # 0.83 serves as many, with more risk
    assert recommend(points, max_false_rate=0.0).threshold == 0.93
    assert recommend(points, max_false_rate=1.0).threshold == 0.8


def test_a_rewording_the_guard_cannot_compare_needs_the_rewording_threshold():
    reworded = Pair("a", "b", True, 0.82, None, reworded=True)
    assert reworded.served(0.77, 0.0) and not reworded.served(0.77, 0.85) and reworded.served(0.8, 0.82)
    points = curve([reworded, Pair("a", "b", False, 0.5, None)], [0.77], 0.85)
    assert points[0].paraphrases_served == 0.0


def test_it_needs_both_labels():
    with pytest.raises(ValueError, match="both"):
        curve([Pair("a", "b", True, 0.9, None)], [0.8], 0.0)


def test_the_bound_is_kept_exactly_not_after_rounding():
    # 1 near-miss served in 692 is 0.1445%: over a 0.143% bound, though it rounds to 0.14%.
    pairs = [Pair("a", "b", True, 0.9, None), Pair("a", "b", True, 0.85, None), Pair("a", "b", False, 0.85, None)]
    pairs += [Pair("a", "b", False, 0.5, None)] * 691
    assert recommend(curve(pairs, [0.8, 0.88], 0.0), max_false_rate=0.00143).threshold == 0.88
