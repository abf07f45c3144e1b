"""The guard's word lists (webapi/cache/words/): no word on two lists that contradict each other."""

from webapi.cache import lexicon


def test_no_word_is_on_both_sides_of_an_opposite():
    for one, other in lexicon.OPPOSITES:
        assert not one & other, (one, other)


def test_no_word_sits_on_two_opposites_on_different_sides():
    side = {}
    for i, (one, other) in enumerate(lexicon.OPPOSITES):
        for word in one:
            assert side.setdefault(word, (i, 0)) == (i, 0) or side[word][0] != i, word
        for word in other:
            assert side.setdefault(word, (i, 1)) == (i, 1) or side[word][0] != i, word


def _meaningful() -> set[str]:
    """Words that change an answer: negators, numbers, entities, units and both sides of opposites."""
    meaningful = set(lexicon.NEGATORS) | set(lexicon.NUMBER_WORDS) | set(lexicon.ENTITIES) | set(lexicon.MEASURES)
    times = {word for when in ("past", "present", "future") for word in lexicon.WHEN[when]}
    return meaningful | times | {word for one, other in lexicon.OPPOSITES for word in one | other}


def test_words_that_carry_meaning_are_never_filler_or_stopwords():
    meaningful = _meaningful()
    assert not meaningful & lexicon.FILLER, sorted(meaningful & lexicon.FILLER)
    assert not set(lexicon.NEGATORS) & lexicon.STOPWORDS


def test_a_word_names_one_unit_and_one_entity_class():
    for name in ("measures.tsv", "entities.tsv"):
        column = 2 if name == "measures.tsv" else 1
        words = [w for row in lexicon._rows(name) for w in row[column].split()]
        assert len(words) == len(set(words)), name


def test_words_an_insertion_may_add_freely_carry_no_meaning():
    neutral = lexicon.NEUTRAL_ADDITIONS
    assert not neutral & _meaningful(), sorted(neutral & _meaningful())
    assert not lexicon.OPENERS & (set(lexicon.NEGATORS) | set(lexicon.NUMBER_WORDS))


def test_a_word_names_one_person():
    words = [w for _, members in lexicon._rows("persons.tsv") for w in members.split()]
    assert len(words) == len(set(words))


def test_a_word_names_one_time():
    times = [lexicon.WHEN[when] for when in ("past", "present", "future", "period")]
    assert sum(map(len, times)) == len(frozenset().union(*times))


def test_a_quantifier_has_one_scope():
    assert not lexicon.QUANTIFIERS["universal"] & lexicon.QUANTIFIERS["partial"]


def test_each_quantity_is_asked_by_a_word_of_its_own():
    """A word may ask for two quantities ("long": a length or a time), but no two quantities are
    asked by the same words alone: they could never be told apart."""
    asking = [frozenset(words.split()) for _, words in lexicon._rows("dimensions.tsv")]
    assert len(asking) == len(set(asking))


def test_an_alias_names_an_entity_and_is_none_itself():
    for word, entity in lexicon.ENTITY_ALIASES.items():
        assert entity in lexicon.ENTITIES and word not in lexicon.ENTITIES


def test_shorthand_is_no_word_another_rule_reads():
    """A unit, number, negator or opposite keeps its own reading: "min" is not shorthand here."""
    assert not set(lexicon.TEXT_SPEAK) & _meaningful(), sorted(set(lexicon.TEXT_SPEAK) & _meaningful())


def test_no_particle_reverses_itself():
    for word, reverses in lexicon.PARTICLES.items():
        assert word not in reverses, word
