"""The near-miss guard: refuse a semantic match when the prompts differ in ways embeddings miss.

Sentence embeddings place "Convert 100 °F to Celsius" and "Convert 100 °C to Fahrenheit" at
0.87, "turn on dark mode" and "turn off dark mode" at 0.95: they encode topic, not the small
words that flip an answer. So after the similarity test, two prompts must also agree on every
signal below, each cheap, explainable and measured on labelled pairs (bench/cache_quality.py),
once each prompt's shorthand, stretched words and slips are read as the words the other prompt
spells out ("3yo" / "3 year old", "sooo" / "so", "recomended" / "recommended": spelling.py):

- numbers: the same multiset of quantities (digits and number words, "five" == "5");
- polarity: the same canonical opposite-carrying words (on/off, enable/disable, first/last ...),
  after mapping synonyms to one name ("turn on" == "enable", "pros" == "advantages"); and no
  word only one prompt has that WordNet names the antonym of a word only the other has ("grew
  tall" / "stayed short"), unless each prompt holds both poles ("small ... bigger");
- particles: no small word in the place of its reverse ("locked out of" / "locked in", "arguments
  for" / "against", "in Paris" / "near Paris": words/particles.tsv);
- state: not a verb's "-ing" form in the place of its past participle ("a healing tattoo" / "a
  healed tattoo");
- lexicon terms: the same units, currencies, languages, programming languages, countries and
  cities, however they are cased ("autumn" may be named "fall": words/entity_aliases.tsv);
- named entities: every capitalised word of one prompt appears in the other;
- negation: the same number of negators (not, no, never, without, "with no", n't ..., "X-free"
  and "X-less" as "without X", "other than" as "except", and the words that negate without
  "not": avoid, prevent, lack, fail ..., and "stop X (from) doing"), in any inflection, unless
  the extra "not" or "no" negates words the other prompt lacks (context a rewording added: "I
  don't have any buttermilk, what can I use instead?"); no negating prefix on a word the
  other prompt has ("legal" / "illegal", "like" / "dislike"); and
  not each prompt negating a verb the other has ("eating but not drinking" / "not eating but
  drinking");
- quantity: "how ..." asking for the same quantity ("how long" / "how tall": words/dimensions.tsv);
- scope: not all of something against part of it ("all dogs" / "some dogs", "every cell" /
  "only some cells");
- tense: not "is" against "was" ("Is Pluto a planet?" / "Was Pluto ever a planet?");
- direction: the same "from X" / "to Y" roles, and not the same terms, or runs of terms, in a
  swapped order ("dog bit man" vs "man bit dog", "my dog bit another dog" vs "another dog bit my
  dog", "sharpen a dull knife" vs "dull a sharp knife", "use my Prius to jump-start a gas car" vs
  "use a gas car to jump-start my Prius"), a passive with its agent read in the active order ("is
  my cat attacked by my dog" / "does my cat attack my dog"), past compounds and moved clauses; and a
  question word standing for the same role ("who defeated Rome" / "who did Rome defeat");
- substitution and insertion (substitution.py): where the prompts differ by a few content words
  ("raw" / "cooked", "guitar" / "piano", "vegan cookies" / "cookies", "for a dog"), each
  difference must be explained (an inflection, a WordNet synonym, a derivation, an adverb as its
  adjective, a verb and its particles as one verb; the passive voice moves words, it adds none) or,
  when only one prompt has the words, leave the request as wide as before. No word list can name
  every antonym, sibling noun, state change or qualifier; this rule needs none.

The word lists live in webapi/cache/words/ (lexicon.py reads them).

A refusal costs one generation; a wrong hit serves a wrong answer. The rules lean to refusing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from difflib import SequenceMatcher
from itertools import pairwise

from webapi.cache.lexicon import (
    CARDINALS,
    DIMENSIONS,
    ENTITIES,
    ENTITY_ALIASES,
    MEASURES,
    NEG_RAISING,
    NEGATORS,
    NUMBER_WORDS,
    OPPOSITES,
    PARTICLES,
    PERSONS,
    PHRASES,
    QUANTIFIERS,
    REVERSING,
    STOPWORDS,
    SYMBOL_WORDS,
)
from webapi.cache.spelling import respelled
from webapi.cache.substitution import PASSIVE_AUXILIARIES, participle, substituted
from webapi.cache.wordnet import derived, wordnet

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?|[+\-*/^=<>%$€£¥°#]")

# Names written several ways, rewritten before lower-casing where case matters ("US" vs "us").
_CASED_NAMES = [
    (r"\bU\.?S\.?A?\.?(?=\W|$)|\bUnited States(?: of America)?\b|\bAmerica\b", " usa "),
    (r"\bU\.?K\.?(?=\W|$)|\bUnited Kingdom\b|\bGreat Britain\b|\bBritain\b", " uk "),
    (r"\bGo\b(?= (?:code|program|language|lang|func|module|routine))", " golang "),
]
# "stop" or "keep" something from doing: "prevent" it ("keep my plants growing", "stop a nosebleed
# while flying" are no such, nor "stop my nose bleeding": that ends what has begun).
_STOP_FROM = re.compile(
    r"\b(?:stop|stops|stopping|stopped|keep|keeps|keeping|kept)\b(?=(?: [\w']+){1,4} from \w+ing\b)"
)
_CURRENCY_FIRST = re.compile(r"([$€£¥])\s*(\d[\d,.]*\d|\d)")
_LETTER_A = "ａ"  # fullwidth: a word character that no prompt's text has after NFKC
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "xi": "11", "xii": "12"}
# The words of a question's frame, which an adverb moves across: "Politely, how do I ...".
_QUESTION = frozenset(["how", "what", "why", "when", "where", "do", "does", "did", "can", "could", "should", "would",
                       "will", "is", "are", "i", "we", "you"])
# An exchange (guard._runs): where each run ends and the other starts, in A and in B; whether both
# runs are single terms; whether terms stand before and after them.
_Runs = tuple[tuple[int, int], tuple[int, int], bool, bool]
_ACRONYM = 3  # letters at most of a name whose plural is the same name ("IRAs", "SUVs")
_SHARED_EDGE = 1  # terms the prompts share that an exchanged run may begin or end with (_runs)
_LONGEST_EXCHANGE = 24  # terms moved at most: more is a rewording, and the search is cubic in them
# Auxiliaries that set a prompt's tense ("Is Pluto a planet?" / "Was Pluto ever a planet?").
_PAST = frozenset(["was", "were", "did", "had", "wasnt", "werent", "didnt", "hadnt"])
_PRESENT = frozenset(
    ["is", "are", "am", "do", "does", "has", "have", "isnt", "arent", "dont", "doesnt", "hasnt", "havent"]
)
_NEGATION_SCOPE = 3  # words after a negator that may hold what it negates: "don't really know"
_SUBJECT_SPAN = 4  # words from "be" to its participle at most: "was the golden gate bridge built"
# Negators that negate the verb after them (not "no", "without": those negate a noun).
_VERB_NEGATORS = frozenset(["not", "never", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant",
                            "cannot", "wont", "wouldnt", "shouldnt", "couldnt"])  # fmt: skip
# Words that open a clause, where a passive's subject or agent ends ("... by my dog when I ...").
_CLAUSE_OPENERS = frozenset(["if", "when", "why", "how", "what", "that", "and", "but", "because", "since", "while",
                             "so", "after", "before", "whenever", "although"])  # fmt: skip
# Negators of a clause, which a rewording may add as context ("I have no idea what that is").
_CLAUSE_NEGATORS = _VERB_NEGATORS | {"no"}
# Question words whose role a verb sets (_asker_role), and the auxiliaries that tell it.
_ASKERS = frozenset(["who", "whom", "what", "which"])
_DO = frozenset(["do", "does", "did"])
_BE = frozenset(["is", "are", "was", "were"])
_BE_FORMS = _BE | {"be", "been", "am"}
# Words between two exchanged terms that make their order not matter ("python or java").
_SYMMETRIC = frozenset(["and", "or", "vs", "between"])
_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "anti", "mis")
# Words that spell a compound out ("resignation letter" / "letter of resignation", "my car's oil" /
# "the oil in my car"): one of _OF, and determiners.
_OF = frozenset(["of", "in", "for", "on", "with", "without"])
_DETERMINERS = frozenset(["the", "a", "an", "my", "your", "his", "her", "its", "our", "their", "this", "that"])
_OF_PHRASE = _OF | _DETERMINERS


# Capitalised words that name nothing: units ("Celsius"), and "OK" ("Is it OK to ...?"; other
# greetings may start a name: "Hey Jude", "Hello Kitty").
_NOT_NAMES = frozenset(MEASURES) | {"ok", "okay"}
# Words in one prompt only that keep the antonym rule out (_opposed).
_REVERSING_OR_NEGATING = REVERSING | NEGATORS


def _normalise(text: str) -> str:
    """NFKC, names and symbols spelled one way; case kept."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    for pattern, name in _CASED_NAMES:
        text = re.sub(pattern, name, text)
    text = _CURRENCY_FIRST.sub(r"\2 \1", text)  # "$800" is "800 $", as "800 bucks" is said
    for symbol, word in SYMBOL_WORDS.items():
        text = re.sub(re.escape(symbol), word, text, flags=re.IGNORECASE)
    return text


def tokens(text: str) -> list[str]:
    """Lower-cased word, number and symbol tokens with phrases and symbols canonicalised."""
    # A capital A standing alone inside a sentence is a letter (blood type A, plan A), not the article.
    text = re.sub(r"(?<=[^\W_] )A(?=\W|$)", _LETTER_A, _normalise(text)).lower()
    text = re.sub(r"(\d)(?=[a-z])", r"\1 ", text)  # "100km" -> "100 km"
    text = re.sub(r"(\w+)n't\b", r"\1nt", text)  # don't -> dont (a negator)
    text = re.sub(r"\b([^\W\d_]+)-free\b", r"without \1", text)  # "dairy-free" is "without dairy"
    text = _STOP_FROM.sub("prevent", text)  # "stop my dog from barking" is "prevent my dog from barking"
    for phrase, canon in PHRASES.items():
        text = re.sub(rf"(?<!\w){phrase}(?!\w)", canon, text)  # (a phrase may end in a symbol: "w/")
    return [word for tok in _TOKEN.findall(text) for word in _without(_ROMAN.get(tok, tok))]


def _without(tok: str) -> list[str]:
    """A noun with "-less" is "without" it: "cordless" is "without cord" (not "unless", "bless")."""
    stem = tok.removesuffix("less")
    if stem != tok and len(stem) >= 3 and ("noun", stem) in wordnet().lemmas(stem):
        return ["without", stem]
    return [tok]


def _numbers(toks: list[str]) -> Counter[str]:
    values: Counter[str] = Counter()
    for tok in toks:
        if tok[0].isdigit():
            values[tok.replace(",", "")] += 1
        elif tok in NUMBER_WORDS:
            values[NUMBER_WORDS[tok]] += 1
    return values


def _negations(toks: list[str]) -> int:
    """How many negators, in any inflection ("prevents", "avoiding")."""
    return sum(_negator(t) for t in toks)


def _negator(tok: str) -> bool:
    return tok in NEGATORS or wordnet().base(tok) in NEGATORS


def _negation_differs(a: list[str], b: list[str]) -> bool:
    """The prompts negate a different number of times, and the one that negates more negates a word
    the other has, or a bare clause ("can I eat this" / "I can't eat this"), or says "without",
    "non-", "except", "avoid" ...; a "not" or "no" whose words the other prompt lacks belongs to
    context a rewording added ("I don't have any buttermilk, what can I use instead" / "substitute
    for buttermilk")."""
    if _negations(a) == _negations(b):
        return False
    more, other = (a, b) if _negations(a) > _negations(b) else (b, a)
    net = wordnet()
    for i, tok in enumerate(more):
        if not _negator(tok):
            continue
        scope = [t for t in more[i + 1 : i + 1 + _NEGATION_SCOPE] if t not in STOPWORDS and not _negator(t)]
        if tok not in _CLAUSE_NEGATORS or not scope or any(net.related(scope[0], t) for t in other):
            return True  # (the word it negates, or a synonym: "doesn't talk" / "speaks")
    return False


def _negation_moved(a: list[str], b: list[str]) -> bool:
    """Each prompt negates a verb the other has un-negated: "eating but not drinking" / "not eating
    but drinking"."""
    negated_a, negated_b = _negated_verbs(a), _negated_verbs(b)
    return bool((negated_a - negated_b) & set(b)) and bool((negated_b - negated_a) & set(a))


def _negated_verbs(toks: list[str]) -> set[str]:
    """The verbs right after "not", "never", "don't" ...: "not drinking" -> "drinking"."""
    net = wordnet()
    return {
        word
        for negator, word in pairwise(toks)
        if negator in _VERB_NEGATORS
        and _verbs(word)
        and word not in STOPWORDS
        and net.base(word) not in NEG_RAISING
    }


def _prefix_negated(a: set[str], b: set[str]) -> bool:
    """One prompt has a word that is the other's with a negating prefix: "like" / "dislike",
    "safe" / "unsafe", "legal" / "illegal"."""
    return any(
        word.startswith(prefix) and word[len(prefix) :] in only_other
        for one, other in ((a, b), (b, a))
        for only_other in [other - one]
        for word in one - other
        for prefix in _NEGATING_PREFIXES
        if len(word) - len(prefix) >= 3
    )


def _tense(words: set[str]) -> str | None:
    """"past" or "present" when a prompt's auxiliaries all say one ("was", "did" / "is", "does")."""
    past, present = bool(words & _PAST), bool(words & _PRESENT)
    return None if past == present else "past" if past else "present"


def _opposed(a: set[str], b: set[str]) -> bool:
    """Both prompts mention an opposite pair, but not the same side(s) of it; or a word only one
    prompt has is WordNet's antonym of a word only the other has ("grew tall" / "stayed short"),
    unless a word that reverses (words/reversing.txt) or a negator is in one prompt only."""
    for one, other in OPPOSITES:
        sides_a, sides_b = (bool(a & one), bool(a & other)), (bool(b & one), bool(b & other))
        if any(sides_a) and any(sides_b) and sides_a != sides_b:
            return True
    if (a ^ b) & _REVERSING_OR_NEGATING:
        return False  # "fix a slow laptop" / "speed up my laptop": a problem and its goal
    net = wordnet()
    only_a, only_b = a - b, b - a
    return any(
        not any(net.related(y, w) for w in a) and not any(net.related(x, w) for w in b)
        for x, y in net.antonym_pairs(only_a, only_b)
    )  # (not when each prompt holds both poles: "small ... bigger" / "tiny ... larger")


def _particle_swapped(a: list[str], b: list[str]) -> bool:
    """In one place, a small word stands for its reverse ("locked out of my car" / "locked in my
    car", "arguments for" / "against"; words/particles.tsv)."""
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    return any(
        op == "replace" and max(i2 - i1, j2 - j1) <= 2 and a[i1] in PARTICLES and b[j1] in PARTICLES[a[i1]]
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
    )  # (one or two words for one or two: "out of" / "in"; a longer run is a rewording)


def _aspect_changed(a: list[str], b: list[str]) -> bool:
    """In one place, a verb's "-ing" form against its past participle: "a healing tattoo" / "a healed
    tattoo", "boiling water" / "boiled water"."""
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    return any(
        op == "replace" and i2 - i1 == j2 - j1 == 1 and _ing_and_participle(*sorted((a[i1], b[j1]), key=_ends_ing))
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
    )


def _ends_ing(word: str) -> bool:
    return word.endswith("ing")


def _ing_and_participle(done: str, doing: str) -> bool:
    return _ends_ing(doing) and not _ends_ing(done) and participle(done) and bool(_verbs(doing) & _verbs(done))


def _entities_differ(a: set[str], b: set[str]) -> bool:
    """A language, place, season ... that one prompt names and the other does not, not even by an
    alias ("autumn" / "fall": words/entity_aliases.tsv)."""
    entities_a, entities_b = {t for t in a if t in ENTITIES}, {t for t in b if t in ENTITIES}
    return any(
        not any(ENTITY_ALIASES.get(t) == entity for t in other)
        for entities, other in ((entities_a - entities_b, b), (entities_b - entities_a, a))
        for entity in entities
    )


def _scoped(a: set[str], b: set[str]) -> bool:
    """One prompt asks about all of something, the other about part of it ("all dogs" / "some dogs")."""
    return bool((a - b) & QUANTIFIERS["universal"]) and bool((b - a) & QUANTIFIERS["partial"])


def _asked(toks: list[str]) -> frozenset[str]:
    """The quantities "how ..." may ask for: "how tall" a height, "how long" a length or a time."""
    return frozenset().union(*(DIMENSIONS[t] for before, t in pairwise(toks) if before == "how" and t in DIMENSIONS))


def _measures_differ(a: list[str], b: list[str]) -> bool:
    """Both prompts name a unit of the same kind (length, currency, ...), but not the same units."""
    units_a, units_b = {MEASURES[t] for t in a if t in MEASURES}, {MEASURES[t] for t in b if t in MEASURES}
    for kind in {k for k, _ in units_a} & {k for k, _ in units_b}:
        if {u for k, u in units_a if k == kind} != {u for k, u in units_b if k == kind}:
            return True
    return False


def _roles(toks: list[str]) -> tuple[str | None, str | None]:
    """The term after the first "from" and after the last "to"/"into": the source and target of a
    direction (the last, since an earlier "to" is often an infinitive: "how to merge main into dev").
    A pronoun is its person ("from me" and "from my cat": the first and "cat")."""
    source = target = None
    for i, tok in enumerate(toks[:-1]):
        following = next((_person(t) for t in toks[i + 1 :] if t not in STOPWORDS or _pronoun(t)), None)
        if tok == "from" and source is None:
            source = following
        elif tok in ("to", "into"):
            target = following
    return source, target


def _role_changed(role_a: str, role_b: str, words_a: set[str], words_b: set[str]) -> bool:
    """The prompts fill a role with different terms, one of which the other prompt has elsewhere."""
    return role_a != role_b and (role_a in words_b or role_b in words_a)


def _person(tok: str) -> str:
    return PERSONS.get(tok.removesuffix("'s"), tok)


def _pronoun(tok: str) -> bool:
    """A person standing for a noun ("from me"), not a determiner before one ("from my phone")."""
    return tok in PERSONS and tok not in _DETERMINERS


def _terms(toks: list[str]) -> list[tuple[int, str, bool]]:
    """The words whose order carries roles, each with its place and whether it is a person:
    content words and numbers in their base forms, units by name, and persons ("my" and "me" both
    the first)."""
    net = wordnet()
    kept = []
    for i, tok in enumerate(toks):
        if (person := PERSONS.get(tok.removesuffix("'s"))) is not None:  # "someone's" is "someone"
            kept.append((i, person, True))
        elif tok in MEASURES:  # "g" and "grams" are one unit
            kept.append((i, MEASURES[tok][1], False))
        elif tok not in STOPWORDS and tok not in NEGATORS and tok not in ("a", "i"):
            kept.append((i, net.base(tok.removesuffix("'s")), False))
    return kept


def _exchanged(a: list[str], keep_a: list[tuple[int, str]], b: list[str], keep_b: list[tuple[int, str]]) -> bool:
    """B's terms are A's (each with its place in its prompt) with two terms, or two runs of terms,
    exchanged so that their roles change (not a symmetric "or", a spelled-out compound, a moved
    clause or adverb)."""
    terms_a = [t for _, t in keep_a]
    words_a, words_b = set(terms_a), {t for _, t in keep_b}
    unmatched = [t for t in terms_a if t not in words_b]
    if len(terms_a) != len(keep_b) or len(unmatched) > 2:
        return False  # not the same terms, however derived
    # B's words, each read as the word of A it derives from ("dull a sharp knife": "sharp" is "sharpen";
    # "humans" / "human", where WordNet keeps a plural as a word of its own).
    net = wordnet()
    terms_b = [
        t if t in words_a else next((u for u in unmatched if derived(u, t) or net.same_lemma(u, t)), t)
        for _, t in keep_b
    ]
    if terms_a == terms_b or sorted(terms_a) != sorted(terms_b):
        return False
    # Any reading of B as such an exchange that swaps roles ("my wife earns more than me" / "I earn
    # more than my wife": "wife" moved to the end, or "my wife" and "me" exchanged; the second).
    return any(_roles_swapped(a, keep_a, b, keep_b, runs) for runs in _runs(terms_a, terms_b))


def _roles_swapped(
    a: list[str], keep_a: list[tuple[int, str]], b: list[str], keep_b: list[tuple[int, str]], runs: _Runs
) -> bool:
    """The exchange `runs` of A's terms into B's swaps their roles."""
    (x_end, y_start), (y_end, x_start), single, inside = runs
    between_a = a[keep_a[x_end][0] + 1 : keep_a[y_start][0]]
    between_b = b[keep_b[y_end][0] + 1 : keep_b[x_start][0]]
    if _symmetric(between_a) or _symmetric(between_b):
        return False  # "python or java" / "java or python", "a cat or a dog" / "a dog or a cat"
    # A compound and its spelled-out phrase: "flu symptoms" / "symptoms of the flu", "cat litter
    # brands" / "brands of litter for cats".
    if _compound(between_a, between_b) or _compound(between_b, between_a):
        return False
    if single:
        # Only small words moved beside the term: "Politely, how do I ..." / "How do I politely ...".
        return not (_moved(between_a, between_b) or _moved(between_b, between_a))
    # Runs of terms swap roles when the words between them stay ("the Yankees beat the Red Sox", "use
    # my Prius to jump-start a gas car"), or when nothing stands between them, inside the sentence
    # ("feed my puppy adult dog food"). Otherwise a clause moved: "When I ..., how do I ...?".
    if not between_a and not between_b:
        return inside
    frame = _frame(between_a)
    return bool(frame) and frame == _frame(between_b)


def _symmetric(between: list[str]) -> bool:
    """The words between two exchanged terms join them in a list: "python or java", "garlic, onions
    and leeks", "a roth ira and a traditional ira" (the joining word just before the second term;
    "the landlord owes the deposit ... and the oil while the tenant" is a clause, not a list)."""
    return bool(set(between[-3:]) & _SYMMETRIC) and "then" not in between  # "X and then Y" is an order


def _frame(between: list[str]) -> list[str]:
    """The words between two exchanged runs in their base forms, less determiners and persons ("to
    jump-start a" and "to jump-start my" are one frame, "earns more than" and "earn more than" too)."""
    net = wordnet()
    return [min(_verbs(t), default=net.base(t)) for t in between if t not in _DETERMINERS and t not in PERSONS]


def _moved(tight: list[str], loose: list[str]) -> bool:
    return not tight and bool(loose) and set(loose) <= _QUESTION


def _compound(tight: list[str], spelled: list[str]) -> bool:
    """`tight` joins its words with none between ("cat litter brands"); `spelled` with prepositions
    such as "of" and determiners only ("brands of litter for cats")."""
    joints = {t for t in spelled if t in STOPWORDS or t in _OF_PHRASE}
    return not any(t in STOPWORDS or t in _OF_PHRASE for t in tight) and joints <= _OF_PHRASE and bool(joints & _OF)


def _runs(a: list[str], b: list[str]) -> Iterator[_Runs]:
    """Each way B is A with two runs of terms exchanged (A = P X M Y S, B = P Y M X S): in A, the end
    of X and the start of Y; in B, the end of Y and the start of X; whether each run is one term; and
    whether terms stand before and after them (P and S). None if B is no such exchange."""
    start = next(k for k, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    end = len(a) - next(k for k, (x, y) in enumerate(zip(reversed(a), reversed(b), strict=True)) if x != y)
    if a[start] == b[end - 1] and a[end - 1] == b[start] and a[start + 1 : end - 1] == b[start + 1 : end - 1]:
        yield (start, end - 1), (start, end - 1), True, start > 0 and end < len(a)  # two terms, however far apart
    if end - start > _LONGEST_EXCHANGE:
        return  # so many terms moved is a rewording (and the search is cubic in them)
    # A run may begin (or end) with a term the prompts share there: "my wife earns more than me" /
    # "I earn more than my wife" exchanges "my wife" and "me", both of the first person.
    for first in range(start, max(start - _SHARED_EDGE, 0) - 1, -1):
        for last in range(end, min(end + _SHARED_EDGE, len(a)) + 1):
            middle_a, middle_b = a[first:last], b[first:last]
            inside = first > 0 and last < len(a)
            for x in range(1, len(middle_a)):
                for y in range(1, len(middle_a) - x + 1):
                    run_x, run_y, kept = middle_a[:x], middle_a[len(middle_a) - y :], middle_a[x : len(middle_a) - y]
                    if middle_b == run_y + kept + run_x:
                        yield (first + x - 1, last - y), (first + y - 1, last - x), x == y == 1, inside


def _swapped(a: list[str], b: list[str]) -> bool:
    """B is A with two terms or runs of terms exchanged: "7 from 20" / "20 from 7", "my dog bit
    another dog" / "another dog bit my dog" (read with persons), "my dog bit me" / "I bit my dog"
    (without), in the same voice."""
    if _passive(a) != _passive(b):
        # "my phone was damaged by water" / "water damaged my phone": read the passive in the active order.
        active_a, active_b = _active(a), _active(b)
        if active_a is None and active_b is None:
            return False
        a, b = active_a or a, active_b or b
    elif _voice_turned(a, b) or _voice_turned(b, a):
        return False  # "should tomatoes be fertilized" / "should I fertilize tomatoes"
    terms_a, terms_b = _terms(a), _terms(b)
    for persons in (True, False):
        keep_a = [(i, t) for i, t, person in terms_a if persons or not person]
        if _exchanged(a, keep_a, b, [(i, t) for i, t, person in terms_b if persons or not person]):
            return True
    return False


def _passive(toks: list[str]) -> bool:
    """A passive clause with its agent: a form of "be" or "get", then a past participle, then "by"
    ("was damaged by", "got rear-ended by"; not "is paying by card"); or a question that asks for
    the agent first ("by whom was the telephone invented")."""
    return any(
        t == "by" and i > 0 and participle(toks[i - 1]) and set(toks[max(0, i - 5) : i - 1]) & PASSIVE_AUXILIARIES
        for i, t in enumerate(toks)
    ) or any(by == "by" and asker in _ASKERS for by, asker in pairwise(toks[:2]))


def _active(toks: list[str]) -> list[str] | None:
    """A passive clause with its agent in the active order: "why is my cat attacked by my dog" ->
    "why my dog attacked my cat", "my phone was damaged by water" -> "water damaged my phone"; None
    without one."""
    for k, tok in enumerate(toks):
        if tok != "by" or k < 2 or not participle(toks[k - 1]):
            continue
        be = min((j for j in range(max(0, k - 6), k - 1) if toks[j] in PASSIVE_AUXILIARIES), default=None)
        if be is None:
            continue
        # A question puts the subject after "be" ("is my dog being bullied by"), a statement before it
        # ("my husband is always criticized by"), back to the start of its clause.
        between = [t for t in toks[be + 1 : k - 1] if t not in PASSIVE_AUXILIARIES]
        adverbs = [t for t in between if _adverb(t)]  # "is always criticized by": "always" stays by its verb
        if len(adverbs) < len(between):
            head, subject = toks[:be], [t for t in between if not _adverb(t)]
        else:
            start = max((j + 1 for j in range(be) if toks[j] in _CLAUSE_OPENERS), default=0)
            head, subject = toks[:start], toks[start:be]
        end = next((j for j in range(k + 1, len(toks)) if toks[j] in _CLAUSE_OPENERS), len(toks))
        return head + toks[k + 1 : end] + adverbs + [toks[k - 1]] + subject + toks[end:]
    return None


def _adverb(word: str) -> bool:
    return {pos for pos, _ in wordnet().lemmas(word)} == {"adv"}


def _voice_turned(a: list[str], b: list[str]) -> bool:
    """`a` has a verb in the passive, right after a form of "be", that `b` has in another form:
    "should tomatoes be fertilized" / "should I fertilize tomatoes" (but "my cat is scared of my
    dog" / "why is my dog scared of my cat" keeps its participle, and its roles)."""
    verbs_b = {t: _verbs(t) for t in b}
    words = [t for t in a if t != "being"]
    return any(
        be in _BE_FORMS
        and participle(done)
        and done not in verbs_b
        and any(_verbs(done) & other for other in verbs_b.values())
        for i, be in enumerate(words)
        for done in words[i + 1 : i + 1 + _SUBJECT_SPAN]  # a question puts the subject between: "is quinoa cooked"
    )


def _asker_role(toks: list[str]) -> str | None:
    """What a question's "who" or "what" stands for: the doer ("who defeated Rome", "who was Rome
    defeated by", "by whom was it built") or the one it is done to ("who did Rome defeat", "who was
    defeated by Rome"); None where the question does not say (no verb, a modal, no question word)."""
    if any(a == "by" and b in _ASKERS for a, b in pairwise(toks)):
        return "doer"
    if len(toks) < 3 or toks[0] not in _ASKERS:
        return None
    # "which team won", "what plants do deer eat": the question word asks for a noun; "what eats foxes" a verb.
    noun = toks[0] == "which" or toks[2] in _DO | _BE
    at = 2 if noun and toks[1] not in _DO | _BE else 1
    word, after = toks[at], toks[at + 1] if at + 1 < len(toks) else ""
    if word in _DO:
        return "done to"
    if word in _BE:
        if toks[-1] == "by":
            return "doer"
        return "done to" if toks[at + 2 : at + 3] == ["by"] and _verb_form(after) else None
    return "doer" if _verb_form(word) else None


def _bases(toks: list[str]) -> set[str]:
    """The prompt's words in their base forms (a verb's where a word may be one: "eats" -> "eat"), less
    stopwords and the auxiliaries of voice and question."""
    net = wordnet()
    return {min(_verbs(t), default=net.base(t)) for t in toks if t not in STOPWORDS | _DO | _BE_FORMS}


def _verb_form(word: str) -> bool:
    """A verb's past or third-person form ("defeated", "won", "causes"), not its base form."""
    verbs = _verbs(word)
    return bool(verbs) and word not in verbs


def _verbs(word: str) -> set[str]:
    """The verbs `word` may be a form of ("eats" -> "eat"; none for "plants" read as a noun only)."""
    return {base for pos, base in wordnet().lemmas(word) if pos == "verb"}


def _capitalised(text: str) -> set[str]:
    """Capitalised words that do not open a sentence (names), as tokens ("II" is "2"). "Hi! How ..."
    and "... Excel? Thanks!" name nothing."""
    names = set()
    for sentence in re.split(r"(?<=[.!?:;])\s+", _normalise(text)):
        words = re.findall(r"[^\W\d_][\w'-]*", sentence)
        # A hyphenated name as one word: "Wi-Fi" is "wifi" (the words' set holds both spellings).
        names |= {w.lower().replace("-", "") for w in words[1:] if w[0].isupper() and len(w) > 1}
    # Read as tokens are, so that a name compares with the other prompt's tokens ("ASAP", "Cordless").
    return {t.removesuffix("'s") for name in names - {"i'm", "i've", "i'd", "i'll"} for t in tokens(name)}


def _named(name: str, words: set[str]) -> bool:
    """`words` hold the name, an acronym maybe in the plural or the singular ("Roth IRAs" / "a Roth
    IRA"; not "Teams" / "my team", "the Kings" / "the King"), a number name as its digits ("World
    War Two" / "world war 2"), or the entity it is a word for ("American" / "US": entity_aliases.tsv)."""
    forms = {name, CARDINALS.get(name), ENTITY_ALIASES.get(name)}
    if len(name.removesuffix("s")) <= _ACRONYM:
        forms |= {name + "s", name.removesuffix("s")}
    return bool(forms & words)


def _words(toks: list[str]) -> set[str]:
    """The prompt's words: a possessive as its noun ("dog's" is "dog"), a hyphenated word also as
    one ("wi - fi" is "wifi" too)."""
    hyphenated = {toks[i - 1] + toks[i + 1] for i in range(1, len(toks) - 1) if toks[i] == "-"}
    return {t.removesuffix("'s") for t in toks} | hyphenated


def conflict(a: str, b: str) -> str | None:
    """Why prompts `a` and `b` must not share an answer, or None if no rule objects."""
    ta, tb = tokens(a), tokens(b)
    ta, tb = respelled(ta, tb), respelled(tb, ta)
    set_a, set_b = _words(ta), _words(tb)
    if _numbers(ta) != _numbers(tb):
        return "number"
    if _negation_differs(ta, tb) or _prefix_negated(set_a, set_b) or _negation_moved(ta, tb):
        return "negation"
    if _opposed(set_a, set_b) or _particle_swapped(ta, tb):
        return "opposite"
    if _aspect_changed(ta, tb):
        return "state"
    if _scoped(set_a, set_b) or _scoped(set_b, set_a):
        return "scope"
    asked_a, asked_b = _asked(ta), _asked(tb)
    if asked_a and asked_b and not asked_a & asked_b:
        return "quantity"  # "how long is the bridge?" / "how tall is the bridge?"
    tense_a, tense_b = _tense(set_a), _tense(set_b)
    if tense_a and tense_b and tense_a != tense_b:
        return "time"  # "Is Pluto a planet?" / "Was Pluto ever a planet?"
    if _entities_differ(set_a, set_b):
        return "entity"
    if _measures_differ(ta, tb):
        return "unit"
    names_a, names_b = _capitalised(a) - _NOT_NAMES, _capitalised(b) - _NOT_NAMES
    if any(not _named(w, set_b) for w in names_a) or any(not _named(w, set_a) for w in names_b):
        return "entity"
    (source_a, target_a), (source_b, target_b) = _roles(ta), _roles(tb)
    persons_a, persons_b = {_person(t) for t in set_a}, {_person(t) for t in set_b}
    if source_a and target_a and source_b and target_b:  # both say "from X ... to Y": roles decide order
        if _role_changed(source_a, source_b, persons_a, persons_b) or _role_changed(
            target_a, target_b, persons_a, persons_b
        ):
            return "direction"  # (another word in a role is a substitution: "from a couch" / "from a sofa")
    elif target_a and target_b and target_a != target_b and target_a in persons_b and target_b in persons_a:
        return "direction"  # "convert A to B" vs "convert B to A"
    elif source_a and source_b and source_a != source_b and source_a in persons_b and source_b in persons_a:
        return "direction"  # "can my cat catch a cold from me" vs "can I catch a cold from my cat"
    elif _swapped(ta, tb):
        return "direction"
    asker_a, asker_b = _asker_role(ta), _asker_role(tb)
    if asker_a and asker_b and asker_a != asker_b and _bases(ta) == _bases(tb):
        return "direction"  # "who did the Romans defeat" / "who defeated the Romans" (not "who owns" / "belongs to")
    if substituted(ta, tb, names_a | names_b):
        return "substitution"
    return None
