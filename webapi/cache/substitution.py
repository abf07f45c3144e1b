"""The guard's substitution and insertion rule: do the words only one prompt has change the request?

Aligned word by word (difflib), two prompts that share most of their content words differ by a
few: swapped ("raw" / "cooked", "guitar" / "piano"), added or dropped ("vegan cookies" /
"cookies", "boil an egg at high altitude"). A swap must be explained by WordNet (an inflection,
a synonym among the first senses, a derivation; an adverb as its adjective) or by spelling (one
unit: "oz" / "ounce"; one number: "2" / "two"; a compound written as one word; a misspelling is
read as its word before any rule, by spelling.py), read word by word or with a verb and its
particles as one ("throw up" / "vomit"); an added word
must restate a word of the other prompt (or name what one of its words is: "the city of
Philadelphia") or leave the request as wide as before, which it does not when it opens a phrase
of its own ("in winter", "for a dog") or describes a word both prompts have ("funny haiku",
"keto bread"). No word list can name every antonym, sibling noun, state change or qualifier: this
rule needs none, only the small grammar lists in words/ (prepositions and other phrase openers,
neutral additions). Prompts whose words differ too much to align are a rewording: the rule cannot
compare them, and says so (compared() returns REWORDED), so the cache asks more similarity of them.
"""

from __future__ import annotations

from collections import Counter
from difflib import SequenceMatcher
from itertools import pairwise

from webapi.cache.lexicon import (
    DIGITS,
    FILLER,
    MEASURES,
    NEGATING_WORDS,
    NEGATORS,
    NEUTRAL_ADDITIONS,
    OPENERS,
    STOPWORDS,
)
from webapi.cache.spelling import edits
from webapi.cache.wordnet import wordnet

#: The share of content words two prompts must have in common (difflib's ratio) for their
#: differences to count as substitutions, and the most differing words a side may have: more is
#: a rewording (REWORDED), which only the embedding can judge, at CACHE_REWORDING_THRESHOLD.
ALIGNED = 0.5
SUBSTITUTION_WORDS = 2
#: Auxiliary verbs (base forms) that do not count towards SUBSTITUTION_WORDS: "is still wet" /
#: "has fully dried" differs by two words, not three.
AUXILIARIES = frozenset(["be", "have", "do"])
#: Auxiliaries of voice and question ("was built" / "did they build"), never counted as substituted.
VOICE_WORDS = frozenset(["be", "do"])
#: Modal verbs: "can" in "how can stains be removed" only makes the passive of "how do I remove
#: stains", where the other prompt has no other modal ("how should stains be removed" asks another thing).
MODALS = frozenset(["can", "could", "should", "may", "might", "must", "will", "would", "shall"])
#: Who does the deed in an active sentence that names nobody: "how do they calculate my credit
#: score" is "how is my credit score calculated", where the other prompt is passive.
GENERIC_AGENTS = frozenset(["they", "people", "someone", "somebody", "one"])
#: "be" and "get" forms that make a passive: "my phone was damaged", "got rear-ended".
PASSIVE_AUXILIARIES = frozenset(["is", "are", "was", "were", "be", "been", "being", "get", "gets", "got", "gotten"])
_PASSIVE_SPAN = 6  # words at most from a modal to the "be" of its passive: "can a text message be used"
DETERMINERS = frozenset(["the", "a", "an", "my", "your", "his", "her", "its", "our", "their", "this", "that"])
_DEGREE = frozenset(["so", "too", "very"])  # "thank you so much": "much" says how much thanks
#: The direction rule's words (roles._roles): never counted as substituted here.
ROLE_WORDS = frozenset(["to", "from", "into"])


def participle(word: str) -> bool:
    """Ends as a past participle does, or is an irregular one WordNet lists ("stung", "written")."""
    return word.endswith(("ed", "en")) or (word in wordnet().exceptions["verb"] and not word.endswith("ing"))


def _passive_modals(toks: list[str], other: list[str]) -> set[int]:
    """Where `toks` asks how a thing may be done, in the passive ("how can stains be removed"), and
    `other` has no other modal: the places of those modals. Elsewhere a modal asks its own question:
    "can a pardon be revoked" is not "has a pardon been revoked"."""
    return {
        i
        for i, tok in enumerate(toks)
        if tok in MODALS
        and i > 0
        and toks[i - 1] == "how"
        and not (MODALS & set(other)) - {tok}
        and any(be == "be" and participle(p) for be, p in pairwise(toks[i + 2 : i + 2 + _PASSIVE_SPAN]))
    }


def _generic_agents(toks: list[str], other: list[str]) -> set[int]:
    """Where `toks` has nobody in particular ("they", "people") do a deed that `other` puts in the
    passive ("how do they calculate my score" / "how is my score calculated"): their places."""
    net = wordnet()
    done = {
        base
        for i, tok in enumerate(other)
        if tok in PASSIVE_AUXILIARIES
        for p in other[i + 1 : i + 1 + _PASSIVE_SPAN]
        if participle(p)
        for pos, base in net.lemmas(p)
        if pos == "verb"
    }
    return {
        i
        for i, (tok, verb) in enumerate(pairwise(toks))
        if tok in GENERIC_AGENTS and any(pos == "verb" and base in done for pos, base in net.lemmas(verb))
    }


def _restates(a: str, b: str) -> bool:
    """`b` may stand for `a`: WordNet relates them, they spell one unit ("oz" / "ounce") or one
    number ("2" / "two"), or an adverb restates the adjective it is made of ("quickly" / "fast").
    (A misspelling was read as its word before: spelling.py.)"""
    plain = _adjective(a), _adjective(b)
    return _restates_word(a, b) or (plain != (a, b) and _restates_word(*plain))


def _restates_word(a: str, b: str) -> bool:
    one_unit = a in MEASURES and MEASURES[a] == MEASURES.get(b)
    one_number = DIGITS.get(a, a) == DIGITS.get(b, b)
    return wordnet().related(a, b) or one_unit or one_number


def _adjective(word: str) -> str:
    """An adverb made of an adjective, as the adjective: "quickly" -> "quick", "easily" -> "easy"."""
    stem = word.removesuffix("ly")
    for adjective in (stem, stem[:-1] + "y" if stem.endswith("i") else stem):
        if stem != word and len(stem) >= 3 and ("adj", adjective) in wordnet().lemmas(adjective):
            return adjective
    return word


def _content(toks: list[str]) -> list[tuple[str, int]]:
    """The words the substitution rule compares, in their base forms (no filler, no possessive 's,
    no bare negators: the negation rule counts those, so "with no" may stand for "without"), each
    with its place in `toks`."""
    net = wordnet()
    words = ((t.removesuffix("'s"), i) for i, t in enumerate(toks))
    return [
        (base, i)
        for w, i in words
        if w not in FILLER and w != "-" and (base := net.base(w)) not in NEGATORS - NEGATING_WORDS
    ]


def _joined(toks: list[str], other: list[str]) -> list[str]:
    """Two neighbouring words written as one in the other prompt, as one: "tooth brush" is
    "toothbrush", "time zone" is "timezone", "wi-fi" is "wifi"."""
    joined_words = set(other)
    out: list[str] = []
    for tok in toks:
        if out and min(len(out[-1]), len(tok)) >= 3 and out[-1] + tok in joined_words:  # not "a part"
            out[-1] += tok
        elif len(out) > 1 and out[-1] == "-" and out[-2] + tok in joined_words:
            out[-2:] = [out[-2] + tok]
        else:
            out.append(tok)
    return out


def _surplus(words: list[str], spans: list[tuple[int, int]], other: list[str]) -> list[int]:
    """Where, in `spans` of `words`, stand the words `other` has fewer of (a word that only moved
    was not replaced)."""
    spare = Counter(words) - Counter(other)
    found = []
    for start, end in spans:
        for k in range(start, end):
            if spare[words[k]] > 0:
                spare[words[k]] -= 1
                found.append(k)
    return found


def _narrows(toks: list[str], at: int, inserted: set[int], shared: set[str], names: set[str]) -> bool:
    """The word added at `toks[at]` narrows the request: it stands in a phrase of its own ("in winter",
    "for a dog", "at high altitude"), says how or where ("urgently", "indoors"; hedges such as
    "exactly" are neutral additions), or describes a word both prompts have ("vegan cookies")."""
    word = toks[at]
    if word in NEUTRAL_ADDITIONS or word in OPENERS:
        return False  # "suggest some names", a lone "for": as wide as without them
    if _in_own_phrase(toks, at, inserted, shared):
        return True
    net = wordnet()
    following = net.base(toks[at + 1].removesuffix("'s")) if at + 1 < len(toks) else ""  # "driver's" is "driver"
    kinds = {pos for pos, _ in net.lemmas(word)}
    # A term WordNet lacks ("hypoallergenic"), not a filler word misspelt ("realy"; an edit changes
    # the length by one at most, so only filler words of about its length are compared).
    unknown = (
        not kinds
        and word.isalpha()
        and len(word) >= 4
        and not any(abs(len(w) - len(word)) <= 1 and edits(word, w) <= 1 for w in FILLER)
    )
    # A past participle describes too: "an expedited passport", "a cracked phone screen".
    describes = ("adj" in kinds or ("noun" in kinds and "verb" not in kinds) or unknown) and not word.endswith("ing")
    describes = describes or (word.endswith("ed") and participle(word))
    # So does a noun that may be a verb where a noun phrase begins ("the best budget phone", "memory
    # foam mattress"), and an "-ing" form inside one ("a scrolling screenshot", "the average starting
    # salary"; at the start it is a verb: "making paper airplanes").
    grammar = word in STOPWORDS or net.base(word) in AUXILIARIES  # "that has gone hard"
    if word.isalpha() and not grammar and (opens := _opens_noun_phrase(toks, at, inserted)):
        describes = describes or (opens != "start" if word.endswith("ing") else "noun" in kinds)
    if kinds == {"adv"}:
        return True  # how or where: "get a passport urgently", "grow tomatoes indoors"
    # After every word both prompts have, a word that may be an adverb says how or when: "use a space
    # heater overnight", "grow tomatoes hydroponically" (which WordNet lacks); not "thank you so much".
    adverb = ("adv" in kinds and kinds <= {"adj", "adv"}) or (unknown and word.endswith("ly"))
    if adverb and at and toks[at - 1] not in _DEGREE and not any(net.base(t) in shared for t in toks[at + 1 :]):
        return True
    # Before a name, a noun says what the name is: "the acronym HTTP".
    return following in shared and describes and following not in names


def _opens_noun_phrase(toks: list[str], at: int, inserted: set[int]) -> str | None:
    """What stands back from `toks[at]`, over the insertion's other words and hyphens ("low-risk"),
    where a noun phrase begins: "start" (of the prompt), "determiner", "number" or "adjective" ("the
    best budget phone", "good low-risk investments"); None elsewhere ("my flight gets canceled")."""
    before = at - 1
    while before >= 0 and (before in inserted or toks[before] == "-"):
        before -= 1
    if before < 0:
        return "start"
    word = toks[before]
    if word in DETERMINERS:
        return "determiner"
    if word[0].isdigit():
        return "number"
    return "adjective" if word not in FILLER and ("adj", word) in wordnet().lemmas(word) else None


def _in_own_phrase(toks: list[str], at: int, inserted: set[int], shared: set[str]) -> bool:
    """Back from `toks[at]`, over the insertion's other words (`inserted`: their places) and words
    neither prompt counts ("a", "my", "who do"), stands a word that opens a phrase or clause: "in",
    "for", "if", "while" ... (not the "to" of the request itself: "how to build", "want to know")."""
    net = wordnet()
    before = at - 1
    while before >= 0 and toks[before] not in OPENERS and (before in inserted or net.base(toks[before]) not in shared):
        before -= 1
    if before < 0 or toks[before] not in OPENERS:
        return False
    return not (toks[before] == "to" and before > 0 and toks[before - 1] in FILLER)


def _phrase_replaced(ta: list[str], first_a: int, tb: list[str], first_b: int) -> bool:
    """The prompts are one text up to an opener ("for", "in", "while" ...; not the first word: "who",
    "when"), then each ends the phrase its own way ("… for a high school essay" / "… for a PhD
    seminar"; `first_a`, `first_b`: where each one's differing words begin)."""
    sides = ((ta, first_a), (tb, first_b))
    opens = [max((i for i in range(1, first) if toks[i] in OPENERS), default=0) for toks, first in sides]
    return opens[0] > 0 and opens[0] == opens[1] and ta[: opens[0] + 1] == tb[: opens[1] + 1]


def _crossed(only_a: list[str], only_b: list[str]) -> bool:
    """Each word explains a word of the other side, but only out of order: the words swapped places."""
    net = wordnet()
    return not all(map(net.related, only_a, only_b)) and all(map(net.related, only_a, reversed(only_b)))


#: compared()'s verdicts: a few words differ and change the request; or too many differ to compare.
CHANGED, REWORDED = "substitution", "rewording"


def compared(ta: list[str], tb: list[str], names: set[str]) -> str | None:
    """CHANGED where B is A with a few content words swapped, added or dropped in a way that changes
    the request; REWORDED where too many words differ to compare them; None for the same request.

    Aligned word by word (difflib), the words only A has and the words only B has must explain
    each other: an inflection, a WordNet synonym, or a derivation (wordnet.py); word for word
    and in order where one run replaces another of its length ("tighten a loose" is not "loosen a
    tight"; words that restate each other only crosswise are refused however little the prompts
    share). A word only one side has must restate a word of the other side, or not narrow the
    request (_narrows); a general term for a word of the other side ("the color red") restates it.
    More than SUBSTITUTION_WORDS differing words on a side (auxiliaries aside), or less than
    ALIGNED of the words in common, is a rewording, not a substitution: only the embedding can judge
    those (the cache asks more similarity of them), except a longer insertion that is a phrase or
    clause of its own ("if I already have a dog"), and one such phrase replaced by another after
    the same opener ("for a high school essay" / "for a PhD seminar"): those change the request.

    Read word by word first; where that finds a change, a verb and its particles may be one word
    ("throwing up" / "vomiting", "get rid of" / "eliminate"), and that reading decides.
    """
    ta, tb = _joined(ta, tb), _joined(tb, ta)
    verdict = _changed(ta, tb, names)
    phrasal_a, phrasal_b = _phrasal(ta), _phrasal(tb)
    if verdict != CHANGED or (phrasal_a, phrasal_b) == (ta, tb):
        return verdict
    return _changed(phrasal_a, phrasal_b, names)


def _phrasal(toks: list[str]) -> list[str]:
    """A verb and the particles after it as WordNet's one verb: "threw up" -> "throw_up"."""
    net = wordnet()
    out: list[str] = []
    at = 0
    while at < len(toks):
        verb = net.base(toks[at])
        for length in (3, 2):
            phrase = "_".join([verb, *toks[at + 1 : at + length]])
            if at + length <= len(toks) and phrase in net.senses["verb"]:
                out.append(phrase)
                at += length
                break
        else:
            out.append(toks[at])
            at += 1
    return out


def _changed(ta: list[str], tb: list[str], names: set[str]) -> str | None:
    """compared(), on one reading of the prompts' words."""
    net = wordnet()
    content_a, content_b = _content(ta), _content(tb)
    a, b = [w for w, _ in content_a], [w for w, _ in content_b]
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    changes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    at_a = _surplus(a, [(i1, i2) for _, i1, i2, _, _ in changes], b)
    at_b = _surplus(b, [(j1, j2) for _, _, _, j1, j2 in changes], a)
    # "to" and "from" are the direction rule's; here they would only make a swap look like a rewording.
    # "be" and "do" only make passives and questions: "how was it built" / "how did they build it".
    # So does a modal in a passive: "how can stains be removed" / "how do I remove stains".
    # And nobody in particular doing the deed: "how do they calculate it" / "how is it calculated".
    unread = ROLE_WORDS | VOICE_WORDS
    voice_a = _passive_modals(ta, tb) | _generic_agents(ta, tb)
    voice_b = _passive_modals(tb, ta) | _generic_agents(tb, ta)
    at_a = [k for k in at_a if a[k] not in unread and content_a[k][1] not in voice_a]
    at_b = [k for k in at_b if b[k] not in unread and content_b[k][1] not in voice_b]
    only_a, only_b = [a[k] for k in at_a], [b[k] for k in at_b]
    counted = [[w for w in only if w not in AUXILIARIES] for only in (only_a, only_b)]
    if not (only_a or only_b):
        return None
    insertion = not only_a or not only_b
    if insertion:  # the side that has the added words
        (toks, content, added), other = ((ta, content_a, at_a), b) if only_a else ((tb, content_b, at_b), a)
        inserted, shared = {content[k][1] for k in added}, set(a) & set(b)
    if max(map(len, counted)) > SUBSTITUTION_WORDS:
        if insertion:  # a longer insertion narrows when it is a phrase or clause of its own: "if I have a dog"
            own = all(toks[at] in OPENERS or _in_own_phrase(toks, at, inserted, shared) for at in inserted)
            return CHANGED if own else REWORDED
        # Likewise one such phrase for another, unless its words restate the other's.
        first_a, first_b = min(content_a[k][1] for k in at_a), min(content_b[k][1] for k in at_b)
        replaced = _phrase_replaced(ta, first_a, tb, first_b) and _unexplained(only_a, only_b)
        return CHANGED if replaced else REWORDED
    if len(only_a) == len(only_b) and _crossed(only_a, only_b):
        return CHANGED  # "tighten a loose bolt" / "loosen a tight bolt": each word restated, in the other's place
    if min(matcher.ratio(), SequenceMatcher(a=b, b=a, autojunk=False).ratio()) < ALIGNED:
        return REWORDED  # (difflib's ratio depends on the order of its arguments; the guard must not)
    if insertion:  # each added word restates the other prompt or leaves the request as wide
        changed = any(
            not any(_restates(content[k][0], o) or net.generalises(content[k][0], o) for o in other)
            and _narrows(toks, content[k][1], inserted, shared, names)
            for k in added
        )
    elif len(changes) == 1 and len(only_a) == len(only_b):  # word for word, in order
        changed = any(not _restates(x, y) for x, y in zip(only_a, only_b, strict=True))
    else:
        changed = _unexplained(only_a, only_b)
    return CHANGED if changed else None


def _unexplained(only_a: list[str], only_b: list[str]) -> bool:
    """A word only one side has restates none of the other side's."""
    return any(not any(_restates(x, y) for y in only_b) for x in only_a) or any(
        not any(_restates(y, x) for x in only_a) for y in only_b
    )
