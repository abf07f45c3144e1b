"""The guard's word lists, read from the data files in webapi/cache/words/.

Each file says what its lists mean; a test checks that no word sits on two lists that
contradict each other (a stopword that is also a negator, a word on both sides of an opposite).
"""

from __future__ import annotations

from pathlib import Path

WORDS = Path(__file__).parent / "words"


def _rows(name: str) -> list[list[str]]:
    """The file's lines without comments and blanks, split on tabs."""
    lines = (WORDS / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def _words(name: str) -> frozenset[str]:
    return frozenset(word for row in _rows(name) for field in row for word in field.split())


STOPWORDS = _words("stopwords.txt")
#: Words that negate ("not", "without"), and the words that negate while meaning more ("avoid").
NEGATING_WORDS = _words("negating_words.txt")
NEGATORS = _words("negators.txt") | NEGATING_WORDS
#: Verbs whose negation may belong to the clause after them ("don't think it is").
NEG_RAISING = _words("neg_raising.txt")
#: Greetings and asides ("OK", "Hey"): they name nothing, however they are cased.
GREETINGS = _words("greetings.txt")
#: Words that ask for the opposite of what they name ("fix a slow laptop"), for the antonym rule.
REVERSING = _words("reversing.txt")
#: Words the substitution rule ignores (articles, pronouns, politeness, request verbs, greetings).
FILLER = _words("filler.txt") | GREETINGS
#: cardinal number word -> its value ("two" -> "2"); NUMBER_WORDS adds ordinals and multiples ("second", "twice")
CARDINALS = {word: value for word, value in _rows("numbers.tsv")}
NUMBER_WORDS = CARDINALS | {word: value for word, value in _rows("number_forms.tsv")}
#: a number word -> its digits as another prompt may write them, "one" too (which CARDINALS leaves
#: out, so that the number rule reads "one lb" as "a pound"): "World War One" / "world war 1"
DIGITS = CARDINALS | {"one": "1"}
#: The insertion rule's grammar (substitution._narrows): words that open a phrase or clause of its
#: own, and words that added alone leave a request as wide.
OPENERS = _words("openers.txt")
NEUTRAL_ADDITIONS = _words("neutral_additions.txt")
#: Nouns that frame a request for a way of doing something ("steps for building" is "how to build").
FRAMES = _words("frames.txt")
#: word -> its grammatical person, for the role-swap rule
PERSONS = {word: person for person, words in _rows("persons.tsv") for word in words.split()}
#: shorthand -> the words it may stand for ("yo" -> "year old", "years old"), read so only where
#: the other prompt spells them out (spelling.py)
TEXT_SPEAK = {short: tuple(words.split() for words in readings) for short, *readings in _rows("text_speak.tsv")}
#: Multi-word phrases rewritten to canonical tokens before anything else is compared.
PHRASES = {phrase: canonical for phrase, canonical in _rows("phrases.tsv")}
#: word -> the small words that, put in its place, change what is asked ("in" -> "out", "near")
PARTICLES: dict[str, frozenset[str]] = {}
for _one, _other in _rows("particles.tsv"):
    for _word in _one.split():
        PARTICLES[_word] = PARTICLES.get(_word, frozenset()) | frozenset(_other.split())
    for _word in _other.split():
        PARTICLES[_word] = PARTICLES.get(_word, frozenset()) | frozenset(_one.split())
OPPOSITES = [(frozenset(one.split()), frozenset(other.split())) for one, other in _rows("opposites.tsv")]
#: word -> the quantities a "how <word>" question may ask for (length, height, ...)
DIMENSIONS: dict[str, frozenset[str]] = {}
for _quantity, _asking in _rows("dimensions.tsv"):
    for _word in _asking.split():
        DIMENSIONS[_word] = DIMENSIONS.get(_word, frozenset()) | {_quantity}
#: "past" / "present" / "future" -> the words that place a request then; "period" -> the words that
#: "last", "this" and "next" place ("next week")
WHEN = {when: frozenset(words.split()) for when, words in _rows("when.tsv")}
#: "universal" / "partial" -> the quantifiers of that scope (guard._scoped)
QUANTIFIERS = {scope: frozenset(words.split()) for scope, words in _rows("quantifiers.tsv")}
#: word -> its closed class (language, place, ...)
ENTITIES = {word: name for name, members in _rows("entities.tsv") for word in members.split()}
#: word -> the entity it may name ("fall" -> "autumn")
ENTITY_ALIASES = {word: entity for word, entity in _rows("entity_aliases.tsv")}
#: spelling -> (kind, unit)
MEASURES = {word: (kind, unit) for kind, unit, spellings in _rows("measures.tsv") for word in spellings.split()}
#: symbol -> the word it is read as, spaced so that it stands alone
SYMBOL_WORDS = {symbol: f" {word} " for symbol, word in _rows("symbols.tsv")}
