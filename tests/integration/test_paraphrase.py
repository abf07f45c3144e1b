"""The cache's paraphrase model (webapi/cache/paraphrase.py): the weights scripts/setup.sh trained,
and the training itself on a tiny set. Figures on labelled sets: bench/cache_quality.py."""

import json
from pathlib import Path

import pytest

from tasks.settings import Settings
from webapi.cache import paraphrase, paraphrase_training


@pytest.fixture(scope="module")
def model() -> paraphrase.ParaphraseModel:
    found = paraphrase.at(Settings().paraphrase_model_dir)
    assert found is not None, "scripts/setup.sh trains it: llm-cache train-paraphrase"
    return found.load()


def test_the_model_is_trained_from_the_current_sets_with_the_current_recipe():
    directory = Path(Settings().paraphrase_model_dir)
    assert paraphrase_training.trained(directory, paraphrase_training.training_sets())


def test_it_learns_from_every_set_but_the_held_out_ones():
    names = {p.name for p in paraphrase_training.training_sets()}
    assert "cache_pairs_dev.jsonl" in names and "cache_pairs_cross.jsonl" in names
    assert not names & set(paraphrase_training.HELD_OUT)


# Written for this test, in no pair set: a synonym WordNet does not link, against a sibling, a
# state and an audience that the embedding puts as close.
SAME = [
    ("what are the early signs of diabetes", "what are the early symptoms of diabetes"),
    ("how do I cancel my streaming subscription", "how do I end my streaming subscription"),
    ("good birthday gift for a coworker", "good birthday present for a coworker"),
]
DIFFERENT = [
    ("how often should I groom a poodle", "how often should I groom a husky"),
    ("how long do hard boiled eggs keep in the fridge", "how long do raw eggs keep in the fridge"),
    ("easy science projects for kindergarteners", "easy science projects for high schoolers"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_it_finds_a_paraphrase_the_rules_cannot_explain(model, a, b):
    assert model.scores(a, [b])[0] >= Settings().cache_bars(with_model=True)[2]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_it_finds_a_near_miss(model, a, b):
    assert model.scores(a, [b])[0] < Settings().cache_bars(with_model=True)[2]


def test_its_score_is_symmetric_and_one_pass_scores_many(model):
    a, b = SAME[0]
    forward, backward = model.scores(a, [b])[0], model.scores(b, [a])[0]
    assert forward == pytest.approx(backward, abs=1e-5)
    # bitwise what each pair gets alone, whatever else shares its pass (bert.by_length)
    assert model.scores(a, [b, DIFFERENT[0][1]]) == [forward, model.scores(a, [DIFFERENT[0][1]])[0]]


def test_training_writes_weights_that_load_and_a_digest_of_their_inputs(tmp_path, monkeypatch):
    pairs = tmp_path / "cache_pairs_tiny.jsonl"
    rows = [("how do I boil an egg", "how to boil an egg", "hit"), ("how do I boil an egg", "how to fry eggs", "miss")]
    pairs.write_text("".join(json.dumps({"a": a, "b": b, "label": label}) + "\n" for a, b, label in rows))
    monkeypatch.setitem(paraphrase_training.RECIPE, "epochs", 1)
    monkeypatch.setitem(paraphrase_training.RECIPE, "batch", 2)
    output = tmp_path / "model"
    assert not paraphrase_training.trained(output, [pairs])
    paraphrase_training.train([pairs], output, log=lambda _: None)
    assert paraphrase_training.trained(output, [pairs])
    score = paraphrase.ParaphraseModel(output).scores(rows[0][0], [rows[0][1]])[0]
    assert 0.0 < score < 1.0
    pairs.write_text(pairs.read_text() + json.dumps({"a": "x", "b": "y", "label": "miss"}) + "\n")
    assert not paraphrase_training.trained(output, [pairs])  # a changed set retrains


def test_without_weights_the_cache_has_no_model_and_off_asks_for_none(tmp_path, caplog):
    assert paraphrase.at(str(tmp_path)) is None
    assert "no paraphrase model" in caplog.text
    assert Settings(cache_paraphrase_model="off").paraphrase_model_dir == ""
    assert paraphrase.at("") is None and paraphrase.at("off") is None


def test_a_copy_trained_from_other_sets_is_not_used_and_one_trained_elsewhere_is(tmp_path, caplog):
    (tmp_path / "config.json").write_text("{}")
    assert isinstance(paraphrase.at(str(tmp_path)), paraphrase.ParaphraseModel)  # no stamp: its user's model
    (tmp_path / paraphrase_training.DIGEST_FILE).write_text("0" * 64 + "\n")  # trained here, from other sets
    assert paraphrase.at(str(tmp_path)) is None
    assert "trained from other pair sets" in caplog.text


def test_without_its_model_the_cache_keeps_the_rules_own_thresholds(tmp_path):
    from redis import Redis

    from webapi.cache.embedder import Embedder
    from webapi.services import _semantic_cache

    alone = _semantic_cache(Settings(cache_paraphrase_model=str(tmp_path)), Redis(), Embedder())
    assert (alone.paraphrase, alone.threshold, alone.rewording_threshold) == (None, 0.77, 0.85)
    judged = _semantic_cache(Settings(), Redis(), Embedder())
    assert judged.paraphrase is not None and (judged.threshold, judged.rewording_threshold) == (0.76, 0.77)


def test_train_paraphrase_writes_where_the_cache_reads_and_by_default_even_while_off():
    default = Settings(model_cache_dir="/models")
    assert default.paraphrase_training_dir == default.paraphrase_model_dir == "/models/cache-paraphrase"
    assert Settings(model_cache_dir="/models", cache_paraphrase_model="off").paraphrase_training_dir == (
        "/models/cache-paraphrase"
    )
    chosen = Settings(cache_paraphrase_model="/srv/paraphrase")
    assert chosen.paraphrase_training_dir == chosen.paraphrase_model_dir == "/srv/paraphrase"


def test_its_compiled_pass_scores_as_transformers_does_on_the_same_int8_layers(model):
    """webapi/cache/bert.py runs the model; transformers' own forward, on the same int8 Linear
    layers, gives the same scores: the thresholds were calibrated on those."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from model_worker import precision

    reference = precision.apply(AutoModelForSequenceClassification.from_pretrained(model.directory).eval(), "int8")
    pairs = SAME + DIFFERENT
    firsts, seconds = [a for a, _ in pairs] + [b for _, b in pairs], [b for _, b in pairs] + [a for a, _ in pairs]
    with torch.inference_mode():  # one text at a time: unpadded, as the model reads them
        both = [torch.sigmoid(reference(**model._tokenizer(f, s, return_tensors="pt")).logits).item()
                for f, s in zip(firsts, seconds, strict=True)]  # fmt: skip
    expected = [(both[i] + both[len(pairs) + i]) / 2 for i in range(len(pairs))]
    assert model.score_pairs(pairs) == pytest.approx(expected, abs=1e-6)
