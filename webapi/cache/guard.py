"""The near-miss guard: refuse a semantic match when the prompts differ in ways embeddings miss.

Sentence embeddings place "Convert 100 °F to Celsius" and "Convert 100 °C to Fahrenheit" at
0.87, "turn on dark mode" and "turn off dark mode" at 0.95: they encode topic, not the small
words that flip an answer. So after the similarity test, two prompts must also agree on every
signal below, each cheap, explainable and measured on labelled pairs (bench/cache_quality.py),
once each prompt's shorthand, stretched words and slips are read as the words the other prompt
spells out ("3yo" / "3 year old", "sooo" / "so", "recomended" / "recommended": spelling.py), and a
request framed by a noun as "how to" ("the steps for building a bed": words/frames.txt):

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
  not each prompt negating a word the other has ("eating but not drinking" / "not eating but
  drinking", "no smoke" / "isn't beeping");
- quantity: "how ..." asking for the same quantity ("how long" / "how tall": words/dimensions.tsv);
- scope: not all of something against part of it ("all dogs" / "some dogs", "every cell" /
  "only some cells"), nor a yes-or-no question about all of them against which of them ("does
  every state require it" / "which states require it");
- tense: not "was" against "is" or "will" ("Is Pluto a planet?" / "Was Pluto ever a planet?"),
  nor one time against another ("right now" / "next month", "last year" / "this year": words/when.tsv);
- direction (roles.py): the same "from X" / "to Y" roles, and not the same terms, or runs of
  terms, in a swapped order ("dog bit man" vs "man bit dog", "my dog bit another dog" vs "another
  dog bit my dog", "sharpen a dull knife" vs "dull a sharp knife"), in either voice; and a
  question word standing for the same role ("who defeated Rome" / "who did Rome defeat");
- substitution and insertion (substitution.py): where the prompts differ by a few content words
  ("raw" / "cooked", "guitar" / "piano", "vegan cookies" / "cookies", "for a dog"), each
  difference must be explained (an inflection, a WordNet synonym, a derivation, an adverb as its
  adjective, a verb and its particles as one verb; the passive voice moves words, it adds none) or,
  when only one prompt has the words, leave the request as wide as before. No word list can name
  every antonym, sibling noun, state change or qualifier; this rule needs none.

A refusal by the substitution rule, or a rewording too loose for it to compare, names no change:
where the paraphrase model is loaded (paraphrase.py), it decides those pairs (a rewording once it
reaches CACHE_REWORDING_THRESHOLD), and the pairs no rule refused (Verdict.asks_model).

The word lists live in webapi/cache/words/ (lexicon.py reads them).

A refusal costs one generation; a wrong hit serves a wrong answer. The rules lean to refusing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

from webapi.cache.lexicon import (
    DIGITS,
    DIMENSIONS,
    ENTITIES,
    ENTITY_ALIASES,
    FRAMES,
    MEASURES,
    NEG_RAISING,
    NEGATORS,
    NUMBER_WORDS,
    OPPOSITES,
    PARTICLES,
    PHRASES,
    QUANTIFIERS,
    REVERSING,
    STOPWORDS,
    SYMBOL_WORDS,
    WHEN,
)
from webapi.cache.roles import roles_differ
from webapi.cache.spelling import respelled
from webapi.cache.substitution import CHANGED, REWORDED, compared, participle
from webapi.cache.wordnet import wordnet

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
# "get" something "off" or "out of" a thing: "remove" it "from" the thing (not time, "get a day off
# work", nor "get the most out of" it).
_GET_OFF = re.compile(
    r"\bget ((?:(?!(?:days?|time|weeks?|nights?|weekend|month|year|most|more|best)\b)[\w']+ ){1,3}?)"
    r"(?:out of|off of|off)\b"
)
_CURRENCY_FIRST = re.compile(r"([$€£¥])\s*(\d[\d,.]*\d|\d)")
_LETTER_A = "ａ"  # fullwidth: a word character that no prompt's text has after NFKC
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "xi": "11", "xii": "12"}
_ACRONYM = 3  # letters at most of a name whose plural is the same name ("IRAs", "SUVs")
# Auxiliaries that set a prompt's tense ("Is Pluto a planet?" / "Was Pluto ever a planet?").
_TENSES = {
    "past": frozenset(["was", "were", "did", "had", "wasnt", "werent", "didnt", "hadnt"]),
    "present": frozenset(
        ["is", "are", "am", "do", "does", "has", "have", "isnt", "arent", "dont", "doesnt", "hasnt", "havent"]
    ),
    "future": frozenset(["will", "shall"]),  # ("won't" refuses more often than it foretells: "why won't my car start")
}

# The words that open a yes-or-no question.
_YES_NO = frozenset("do does did is are was were can could should must will would may".split())
_NEGATION_SCOPE = 3  # words after a negator that may hold what it negates: "don't really know"
# Negators that negate the verb after them (not "no", "without": those negate a noun).
_VERB_NEGATORS = frozenset(["not", "never", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant",
                            "cannot", "wont", "wouldnt", "shouldnt", "couldnt"])  # fmt: skip
_NOUN_NEGATORS = frozenset(["no", "without"])
# Negators of a clause, which a rewording may add as context ("I have no idea what that is").
_CLAUSE_NEGATORS = _VERB_NEGATORS | {"no"}
_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "anti", "mis")


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
    text = re.sub(r'(\d)"', r"\1 inch", text)  # '1/4"' is "1/4 inch"
    text = re.sub(r"(\w+)n't\b", r"\1nt", text)  # don't -> dont (a negator)
    text = re.sub(r"\b([^\W\d_]+)-free\b", r"without \1", text)  # "dairy-free" is "without dairy"
    text = _STOP_FROM.sub("prevent", text)  # "stop my dog from barking" is "prevent my dog from barking"
    text = _GET_OFF.sub(r"remove \1from", text)  # "get rust off a chain" is "remove rust from a chain"
    text = re.sub(r"\bnon-(?=[^\W\d_])", "non", text)  # "non-refundable" is "nonrefundable"
    for phrase, canon in PHRASES.items():
        text = re.sub(rf"(?<!\w){phrase}(?!\w)", canon, text)  # (a phrase may end in a symbol: "w/")
    return _framed([word for tok in _TOKEN.findall(text) for word in _without(_ROMAN.get(tok, tok))])


def _framed(toks: list[str]) -> list[str]:
    """A request framed by a noun, as "how to": "the steps for building a bed", "tips on building a
    bed" and "instructions to build a bed" ask "how to build a bed" (words/frames.txt). Only where
    a verb follows: "tips for beginners" asks for tips."""
    out: list[str] = []
    at = 0
    while at < len(toks):
        frame = toks[at : at + 3]
        if (
            len(frame) == 3
            and frame[0] in FRAMES
            and frame[1] in ("for", "on", "to", "of")
            and wordnet().verbs(frame[2])
            and (frame[2].endswith("ing") or frame[1] == "to")
        ):
            if out and out[-1] in ("any", "some"):
                out.pop()  # "any tips on growing basil" is "how to grow basil"
            out += ["how", "to"]
            at += 2
        else:
            out.append(toks[at])
            at += 1
    return out


def _without(tok: str) -> list[str]:
    """A noun with "-less" is "without" it: "cordless" is "without cord" (not "unless", "bless")."""
    stem = tok.removesuffix("less")
    if stem != tok and len(stem) >= 3 and ("noun", stem) in wordnet().lemmas(stem):
        return ["without", stem]
    return [tok]


def _numbers(toks: list[str]) -> Counter[str]:
    """The quantities a prompt names. One is none of them, as "a" and "one" are not ("1 mile" is "a
    mile", "World War 1" is "World War One"), unless it makes a fraction ("1/4") or an ordinal ("1st")."""
    values: Counter[str] = Counter()
    padded = ["", *toks, ""]
    for before, tok, after in zip(padded, toks, padded[2:], strict=False):
        if tok == "1" and "/" not in (before, after) and after != "st":
            continue
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
    count_a, count_b = _negations(a), _negations(b)
    if count_a == count_b:
        return False
    more, other = (a, b) if count_a > count_b else (b, a)
    net = wordnet()
    for i, tok in enumerate(more):
        if not _negator(tok):
            continue
        scope = [t for t in more[i + 1 : i + 1 + _NEGATION_SCOPE] if t not in STOPWORDS and not _negator(t)]
        if tok not in _CLAUSE_NEGATORS or not scope or any(net.related(scope[0], t) for t in other):
            return True  # (the word it negates, or a synonym: "doesn't talk" / "speaks")
    return False


def _negation_moved(a: list[str], b: list[str]) -> bool:
    """Each prompt negates a word the other has un-negated: "eating but not drinking" / "not eating
    but drinking", "beeping but there's no smoke" / "isn't beeping but there's smoke"."""
    (negated_a, holding_a), (negated_b, holding_b) = _negated(a), _negated(b)
    # "have no appetite" says what "don't have any appetite" says: the verb that holds the negated noun.
    negated_a, negated_b = negated_a - holding_b, negated_b - holding_a
    return bool((negated_a - negated_b) & set(b)) and bool((negated_b - negated_a) & set(a))


def _negated(toks: list[str]) -> tuple[set[str], set[str]]:
    """The verbs right after "not", "never", "don't" ... ("not drinking" -> "drinking") and the
    nouns right after "no" or "without" ("no smoke" -> "smoke"); and the words right before those
    nouns ("have no appetite" -> "have")."""
    net = wordnet()
    negated, holding = set(), set()
    for i, (negator, word) in enumerate(pairwise(toks)):
        if word in STOPWORDS:
            continue
        if negator in _VERB_NEGATORS and net.verbs(word) and net.base(word) not in NEG_RAISING:
            negated.add(word)
        elif negator in _NOUN_NEGATORS and any(pos == "noun" for pos, _ in net.lemmas(word)):
            negated.add(word)
            holding.update(toks[i - 1 : i])
    return negated, holding


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


def _times_differ(a: set[str], b: set[str]) -> bool:
    """One prompt asks about the past, the other about the present ("Is Pluto a planet?" / "Was Pluto
    ever a planet?"; a "will" beside either aside: "how much was it, and will it go up?"), or only
    about the future ("what was the minimum wage" / "what will the minimum wage be")."""
    said_a, said_b = _tenses(a), _tenses(b)
    now_or_then = {said_a - {"future"}, said_b - {"future"}} == {frozenset(["past"]), frozenset(["present"])}
    return now_or_then or {said_a, said_b} == {frozenset(["past"]), frozenset(["future"])}


def _when(toks: list[str]) -> frozenset[str]:
    """The times a prompt names: "past" ("yesterday", "last year", "already"), "present" ("right
    now", "this week") or "future" ("tomorrow", "next month", "about to"); words/when.tsv."""
    placed = {"last": "past", "this": "present", "next": "future"}
    return frozenset(
        {when for tok in toks for when in ("past", "present", "future") if tok in WHEN[when]}
        | {placed[tok] for tok, period in pairwise(toks) if tok in placed and period in WHEN["period"]}
        | {"future" for pair in pairwise(toks) if pair == ("about", "to")}
        | {"past" for tok in toks if tok == "already"}
    )


def _tenses(words: set[str]) -> frozenset[str]:
    """The tenses a prompt's auxiliaries say: "past" ("was", "did"), "present" ("is", "does"), "future"."""
    return frozenset(tense for tense, auxiliaries in _TENSES.items() if words & auxiliaries)


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


def _replacements(a: list[str], b: list[str]) -> list[tuple[list[str], list[str]]]:
    """Where difflib aligns the prompts' tokens, the runs of one that stand in the place of the
    other's (the particle and state rules read them)."""
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    return [(a[i1:i2], b[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op == "replace"]


def _particle_swapped(replaced: list[tuple[list[str], list[str]]]) -> bool:
    """In one place, a small word stands for its reverse ("locked out of my car" / "locked in my
    car", "arguments for" / "against"; words/particles.tsv)."""
    return any(
        max(len(x), len(y)) <= 2 and x[0] in PARTICLES and y[0] in PARTICLES[x[0]] for x, y in replaced
    )  # (one or two words for one or two: "out of" / "in"; a longer run is a rewording)


def _aspect_changed(replaced: list[tuple[list[str], list[str]]]) -> bool:
    """In one place, a verb's "-ing" form against its past participle: "a healing tattoo" / "a healed
    tattoo", "boiling water" / "boiled water"."""
    return any(
        len(x) == len(y) == 1 and _ing_and_participle(*sorted((x[0], y[0]), key=_ends_ing)) for x, y in replaced
    )


def _ends_ing(word: str) -> bool:
    return word.endswith("ing")


def _ing_and_participle(done: str, doing: str) -> bool:
    net = wordnet()
    return _ends_ing(doing) and not _ends_ing(done) and participle(done) and bool(net.verbs(doing) & net.verbs(done))


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


def _selects(toks: list[str], other: set[str]) -> bool:
    """`toks` asks yes or no about all of something, the other prompt which of them: "does every
    state require a front plate" / "which states require a front plate" ("list all the states that
    ..." asks which, and so is no such question)."""
    return (
        bool(toks)
        and toks[0] in _YES_NO
        and bool((set(toks) - other) & QUANTIFIERS["universal"])
        and "which" in other
        and "which" not in toks
    )


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
    War Two" / "world war 2", "World War One"), or the entity it is a word for ("American" / "US":
    entity_aliases.tsv)."""
    forms = {name, DIGITS.get(name), ENTITY_ALIASES.get(name)}
    if len(name.removesuffix("s")) <= _ACRONYM:
        forms |= {name + "s", name.removesuffix("s")}
    return bool(forms & words)


def _words(toks: list[str]) -> set[str]:
    """The prompt's words: a possessive as its noun ("dog's" is "dog"), a hyphenated word also as
    one ("wi - fi" is "wifi" too)."""
    hyphenated = {toks[i - 1] + toks[i + 1] for i in range(1, len(toks) - 1) if toks[i] == "-"}
    return {t.removesuffix("'s") for t in toks} | hyphenated


@dataclass(frozen=True)
class Verdict:
    """The guard's judgement of two prompts."""

    refusal: str | None  # the rule that refuses them one answer, None if none does
    #: Too many words differ for the rules to compare them (a rewording): only models can judge (the
    #: embedding at CACHE_REWORDING_THRESHOLD, then the paraphrase model).
    reworded: bool = False

    @property
    def open(self) -> bool:
        """No rule read a change it can name: the prompts agree, or differ only in words the rules
        cannot explain (CHANGED) or cannot compare (a rewording)."""
        return self.refusal in (None, CHANGED)

    def asks_model(self, similarity: float, rewording_threshold: float) -> bool:
        """The paraphrase model decides this pair: the verdict is open, and a rewording reaches the
        rewording threshold (below it, a rewording is refused without asking)."""
        return self.open and not (self.reworded and similarity < rewording_threshold)

    def refusal_at(self, similarity: float, rewording_threshold: float, alike: bool | None = None) -> str | None:
        """The refusal at this similarity: a rewording below `rewording_threshold` is refused; where
        the model was asked (`alike`: its score reached CACHE_PARAPHRASE_THRESHOLD), it decides."""
        if self.refusal is None and self.reworded and similarity < rewording_threshold:
            return REWORDED
        if self.open and alike is not None:
            return None if alike else UNLIKE
        return self.refusal


#: The paraphrase model's refusal (paraphrase.py): it finds the prompts ask different things.
UNLIKE = "paraphrase_model"


def conflict(a: str, b: str) -> str | None:
    """Why prompts `a` and `b` must not share an answer, or None if no rule objects."""
    return judge(a, b).refusal


def judge(a: str, b: str) -> Verdict:
    """conflict(), and whether the prompts are a rewording of each other that no rule could compare."""
    refusal = _refusal(a, b)
    return Verdict(None, reworded=True) if refusal == REWORDED else Verdict(refusal)


def _refusal(a: str, b: str) -> str | None:
    ta, tb = tokens(a), tokens(b)
    ta, tb = respelled(ta, tb), respelled(tb, ta)
    set_a, set_b = _words(ta), _words(tb)
    if _numbers(ta) != _numbers(tb):
        return "number"
    if _negation_differs(ta, tb) or _prefix_negated(set_a, set_b) or _negation_moved(ta, tb):
        return "negation"
    replaced = _replacements(ta, tb)
    if _opposed(set_a, set_b) or _particle_swapped(replaced):
        return "opposite"
    if _aspect_changed(replaced):
        return "state"
    if _scoped(set_a, set_b) or _scoped(set_b, set_a) or _selects(ta, set_b) or _selects(tb, set_a):
        return "scope"
    asked_a, asked_b = _asked(ta), _asked(tb)
    if asked_a and asked_b and not asked_a & asked_b:
        return "quantity"  # "how long is the bridge?" / "how tall is the bridge?"
    when_a, when_b = _when(ta), _when(tb)
    if _times_differ(set_a, set_b) or (when_a and when_b and when_a != when_b):
        return "time"
    if _entities_differ(set_a, set_b):
        return "entity"
    if _measures_differ(ta, tb):
        return "unit"
    names_a, names_b = _capitalised(a) - _NOT_NAMES, _capitalised(b) - _NOT_NAMES
    if any(not _named(w, set_b) for w in names_a) or any(not _named(w, set_a) for w in names_b):
        return "entity"
    if roles_differ(ta, tb, set_a, set_b):
        return "direction"
    return compared(ta, tb, names_a | names_b)  # "substitution", "rewording" or None
