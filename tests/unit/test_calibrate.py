"""llm-cache calibrate: the served / false-hit curve and the threshold it recommends."""

import pytest

from tasks.settings import CacheBars
from webapi.cache.calibrate import Pair, curve, grid, recommend


def _at(thresholds: list[float], rewording: float = 0.0, paraphrase: float = 0.5) -> list[CacheBars]:
    return [CacheBars(t, rewording, paraphrase) for t in thresholds]


def _pairs() -> list[Pair]:
    same = [Pair("a", "b", True, s, None) for s in (0.95, 0.9, 0.85, 0.8, 0.7)]
    different = [Pair("a", "b", False, s, None) for s in (0.92, 0.82)] + [Pair("a", "b", False, 0.99, "number")]
    return same + different


def test_the_curve_counts_what_the_cache_would_serve():
    points = {p.threshold: p for p in curve(_pairs(), _at([0.8, 0.85, 0.93]))}
    assert (points[0.8].paraphrases_served, points[0.8].false_hit_count) == (0.8, 2)
    assert (points[0.85].paraphrases_served, points[0.85].false_hit_count) == (0.6, 1)
    assert (points[0.93].paraphrases_served, points[0.93].false_hit_count) == (0.2, 0)  # the guard refused 0.99


def test_it_recommends_the_most_paraphrases_within_the_bound_and_the_higher_threshold_on_ties():
    points = curve(_pairs(), _at([0.8, 0.83, 0.85, 0.93]))
    assert recommend(points, max_false_rate=0.34).threshold == 0.85  # 0.83 serves as many, with more risk
    assert recommend(points, max_false_rate=0.0).threshold == 0.93
    assert recommend(points, max_false_rate=1.0).threshold == 0.8


def test_a_rewording_the_guard_cannot_compare_needs_the_rewording_threshold():
    reworded = Pair("a", "b", True, 0.82, None, reworded=True)
    assert reworded.served(0.77, 0.0) and not reworded.served(0.77, 0.85) and reworded.served(0.8, 0.82)
    points = curve([reworded, Pair("a", "b", False, 0.5, None)], _at([0.77], 0.85))
    assert points[0].paraphrases_served == 0.0


def test_it_needs_both_labels():
    with pytest.raises(ValueError, match="both"):
        curve([Pair("a", "b", True, 0.9, None)], _at([0.8]))


def test_the_bound_is_kept_exactly_not_after_rounding():
    # 1 near-miss served in 692 is 0.1445%: over a 0.143% bound, though it rounds to 0.14%.
    pairs = [Pair("a", "b", True, 0.9, None), Pair("a", "b", True, 0.85, None), Pair("a", "b", False, 0.85, None)]
    pairs += [Pair("a", "b", False, 0.5, None)] * 691
    assert recommend(curve(pairs, _at([0.8, 0.88])), max_false_rate=0.00143).threshold == 0.88


def test_where_the_paraphrase_model_scored_a_pair_its_score_decides_once_a_rewording_reaches_its_threshold():
    reworded = Pair("a", "b", True, 0.86, None, reworded=True, paraphrase=0.9)
    assert reworded.served(0.77, 0.85, 0.8) and not reworded.served(0.77, 0.85, 0.95)
    assert not Pair("a", "b", True, 0.8, None, reworded=True, paraphrase=0.99).served(0.77, 0.85, 0.8)
    unexplained = Pair("a", "b", True, 0.9, "substitution", paraphrase=0.9)  # a synonym WordNet lacks
    assert unexplained.served(0.77, 0.85, 0.8)
    agreed = Pair("a", "b", False, 0.9, None, paraphrase=0.1)  # the rules find nothing; the model does
    assert not agreed.served(0.77, 0.85, 0.8)
    named = Pair("a", "b", True, 0.9, "negation", paraphrase=None)  # a rule that names the change decides
    assert not named.served(0.77, 0.85, 0.0)
    assert not Pair("a", "b", True, 0.7, None, paraphrase=0.99).served(0.77, 0.85, 0.8)  # the threshold still holds


def test_sweeping_the_paraphrase_threshold_recommends_the_most_paraphrases_within_the_bound():
    pairs = [Pair("a", "b", True, 0.9, "substitution", paraphrase=s) for s in (0.95, 0.85, 0.6)]
    pairs += [Pair("a", "b", False, 0.9, "substitution", paraphrase=s) for s in (0.7, 0.3)]
    points = curve(pairs, [CacheBars(0.77, 0.85, t) for t in (0.5, 0.55, 0.65, 0.8, 0.9)])
    assert [p.false_hit_count for p in points] == [1, 1, 1, 0, 0]
    assert recommend(points, max_false_rate=0.0).paraphrase_threshold == 0.8
    assert recommend(points, max_false_rate=0.5).paraphrase_threshold == 0.55  # as many as 0.5, the higher


def test_topical_neighbours_are_counted_apart_and_their_bound_is_kept():
    pairs = [*_pairs(), Pair("a", "b", True, 0.84, None)]
    pairs += [Pair("a", "b", False, s, None, "topical") for s in (0.84, 0.81, 0.5)]
    pairs.append(Pair("a", "b", True, 0.82, None, "topical"))  # a right one is not a paraphrase of the sets
    points = {p.threshold: p for p in curve(pairs, _at([0.8, 0.83, 0.85]))}
    assert (points[0.8].paraphrases_served, points[0.8].false_hit_count) == (5 / 6, 2)
    assert (points[0.8].topical_false_hit_count, points[0.83].topical_false_hit_count) == (2, 1)
    assert points[0.85].topical_false_hits == 0.0
    assert recommend(list(points.values()), max_false_rate=1.0).threshold == 0.8
    assert recommend(list(points.values()), max_false_rate=1.0, max_topical_false_rate=0.34).threshold == 0.83
    assert curve(_pairs(), _at([0.8]))[0].topical_false_hits is None  # none labelled: no bound applies


def test_a_joint_sweep_tries_each_rewording_threshold_from_the_threshold_up():
    settings = grid("all", CacheBars(0.77, 0.85, 0.62))
    assert CacheBars(0.71, 0.78, 0.72) in settings and CacheBars(0.6, 0.6, 0.5) in settings
    assert all(b.threshold <= b.rewording_threshold for b in settings)
    assert [b.threshold for b in grid("threshold", CacheBars(0.77, 0.85, 0.62))][:2] == [0.5, 0.51]
    assert {b.paraphrase_threshold for b in grid("threshold", CacheBars(0.77, 0.85, 0.62))} == {0.62}


def test_on_a_tie_it_recommends_fewer_wrong_hits_before_higher_thresholds():
    pairs = [Pair("a", "b", True, 0.9, None, paraphrase=0.9), Pair("a", "b", False, 0.8, None, paraphrase=0.6)]
    points = curve(pairs, [CacheBars(0.78, 0.78, 0.5), CacheBars(0.75, 0.75, 0.7)])
    assert [p.false_hit_count for p in points] == [1, 0]  # both serve the paraphrase
    assert recommend(points, max_false_rate=1.0).threshold == 0.75


def test_the_first_cross_sets_are_topical_too_and_a_sweep_without_the_model_keeps_its_threshold():
    pairs = [*_pairs(), Pair("a", "b", False, 0.9, None, "cross")]
    assert curve(pairs, _at([0.8]))[0].topical_false_hit_count == 1
    assert {b.paraphrase_threshold for b in grid("all", CacheBars(0.77, 0.85, 0.0), with_model=False)} == {0.0}
    with pytest.raises(ValueError, match="no such sweep"):
        grid("rewording", CacheBars(0.77, 0.85, 0.62))
