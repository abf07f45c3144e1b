"""Princeton WordNet 3.0 (Debian's `wordnet-base`), read straight from its index files.

For the cache's substitution rule (guard.py): may one word stand for another without changing
what a prompt asks? It may when it is an inflection of it ("cooked" / "cook", "mice" / "mouse"),
a derivation ("recommend" / "recommendation"), or a synonym: the two share a synset among their
most frequent senses ("buy" / "purchase", "car" / "automobile"), or one verb is a way of doing the
other ("pick" / "choose", "extract" / "remove", "soothe" / "calm": WordNet's troponyms, one step).
Verbs only: a noun's kind is another thing ("freezer" / "fridge", "ukulele" / "guitar"). A troponym
may narrow the deed ("sip" / "drink", "kiss" / "touch"): on a review set of 70 such near-misses it
served 2, for 13 more of 70 verb paraphrases (tests/data/cache_pairs_review_verbs.jsonl). WordNet
lists a word's senses most frequent first, and rare senses make strange synonyms ("dog" and
"frump"), so only the first SENSES of each word count.

WORDNET_DIR (default /usr/share/wordnet) holds the files; without them no word has a synonym or
a lemma other than itself, and the cache refuses more (it never serves more).
"""

from __future__ import annotations

import logging
import os
from functools import cache, lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

POS = ("noun", "verb", "adj", "adv")
#: WordNet's detachment rules (morphy): suffix -> replacement, per part of speech.
_SUFFIXES = {
    "noun": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
             ("ies", "y")],
    "verb": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "adj": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "adv": [],
}  # fmt: skip
#: Derivational suffixes: "recommend" / "recommendation", "invite" / "invitation", "tight" / "tighten",
#: "leak" / "leaky".
_DERIVATIONS = ("ation", "ations", "ion", "ions", "ment", "ments", "er", "ers", "or", "ors", "ing", "al", "ly", "ness",
                "ity", "ive", "ful", "en", "y")  # fmt: skip
#: WordNet's pointers to synsets close enough to stand in: "similar to", "verb group". (Not "also
#: see": it links "warm" and "hot".)
_NEAR = ("&", "$")
_ANTONYM = "!"
#: WordNet's pointers from a noun to its general term: hypernym, instance hypernym.
_GENERAL = ("@", "@i")
#: How many of a word's senses, most frequent first, may make it a synonym, by part of speech: four
#: admit "substitute" / "replacement" and "exercise" / "work out"; an adjective's fourth sense
#: joins points of one scale ("warm" / "hot"), and all senses admit "learn" / "teach".
SENSES = {"noun": 4, "verb": 4, "adj": 3, "adv": 3}
#: How many steps up WordNet's noun hierarchy a general term may stand ("HIV" -> "virus": three).
GENERALITY = 4


class WordNet:
    def __init__(self, directory: Path) -> None:
        self.senses: dict[str, dict[str, tuple[int, ...]]] = {pos: {} for pos in POS}
        self.exceptions: dict[str, dict[str, tuple[str, ...]]] = {pos: {} for pos in POS}
        #: (pos, synset) -> the synsets WordNet puts next to it: an adjective's "similar to" cluster,
        #: a verb's "verb group" (senses so close WordNet groups them).
        self.near: dict[tuple[str, int], frozenset[int]] = {}
        #: noun synset -> its general terms' synsets ("philadelphia" -> "city")
        self.general: dict[int, tuple[int, ...]] = {}
        #: verb synset -> the verbs it is a way of doing ("pick" -> "choose", "extract" -> "remove")
        self.manner_of: dict[int, tuple[int, ...]] = {}
        #: (pos, word) -> its antonyms, word to word as WordNet links them ("tall" -> "short")
        self.antonyms: dict[tuple[str, str], frozenset[str]] = {}
        for pos in POS:
            index, exc = directory / f"index.{pos}", directory / f"{pos}.exc"
            if not index.exists():
                continue
            for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith(" "):
                    continue  # the licence header
                fields = line.split()
                pointers = int(fields[3])
                offsets = fields[6 + pointers :]
                self.senses[pos][fields[0]] = tuple(int(o) for o in offsets[: SENSES[pos]])
            data = directory / f"data.{pos}"
            if data.exists():
                self._read_pointers(pos, data)
            if exc.exists():
                for line in exc.read_text(encoding="utf-8", errors="replace").splitlines():
                    inflected, *bases = line.split()
                    self.exceptions[pos][inflected] = tuple(bases)

    def _read_pointers(self, pos: str, data: Path) -> None:
        """A noun's general terms; an adjective's or verb's near synsets; the verbs a verb is a way of
        doing; every word's antonyms."""
        kinds = _GENERAL if pos == "noun" else _NEAR
        words_of: dict[int, list[str]] = {}
        opposed: list[tuple[str, int, int]] = []  # (word, the antonym's synset, its word number there)
        for line in data.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue
            fields = line.split(" | ")[0].split()
            offset, count = int(fields[0]), int(fields[3], 16)
            # An adjective's word may carry a syntactic marker: "galore(ip)".
            words_of[offset] = [fields[4 + 2 * i].split("(")[0].lower() for i in range(count)]
            at = 4 + 2 * count
            pointers = [fields[at + 1 + i : at + 5 + i] for i in range(0, 4 * int(fields[at]), 4)]
            linked = [int(target) for kind, target, _, _ in pointers if kind in kinds]
            if linked and pos == "noun":
                self.general[offset] = tuple(linked)
            elif linked and pos != "adv":
                self.near[(pos, offset)] = frozenset(linked)
            if pos == "verb" and (ways := [int(target) for kind, target, _, _ in pointers if kind == "@"]):
                self.manner_of[offset] = tuple(ways)
            for kind, target, _, ends in pointers:  # antonymy links words: "ends" numbers them (hex)
                if kind == _ANTONYM:
                    opposed.append((words_of[offset][int(ends[:2], 16) - 1], int(target), int(ends[2:], 16)))
        antonyms: dict[str, set[str]] = {}
        for word, target, number in opposed:
            antonyms.setdefault(word, set()).add(words_of[target][number - 1])
        self.antonyms.update({(pos, word): frozenset(found) for word, found in antonyms.items()})

    @property
    def loaded(self) -> bool:
        return bool(self.senses["noun"])

    @lru_cache(maxsize=1 << 16)  # noqa: B019 (one WordNet per process, never freed)
    def lemmas(self, word: str) -> frozenset[tuple[str, str]]:
        """(part of speech, base form) of every reading of `word` WordNet knows (morphy)."""
        word = word.lower()
        found = set()
        for pos in POS:
            known = self.senses[pos]
            candidates = {word, *self.exceptions[pos].get(word, ())}
            candidates |= {word[: -len(suffix)] + ending for suffix, ending in _SUFFIXES[pos] if word.endswith(suffix)}
            found |= {(pos, c) for c in candidates if c in known}
        return frozenset(found)

    def base(self, word: str) -> str:
        """The word's base form, for aligning prompts ("plants" -> "plant", "won" -> "win"); itself if unknown."""
        irregular = sorted(base for pos in POS for base in self.exceptions[pos].get(word, ()))
        if irregular:  # "won" is a currency too, but read as "win"
            return irregular[0]
        bases = {base for _, base in self.lemmas(word)}
        return word if not bases or word in bases else min(bases)

    def verbs(self, word: str) -> set[str]:
        """The verbs `word` may be a form of ("eats" -> "eat"; none for "plants" read as a noun only)."""
        return {base for pos, base in self.lemmas(word) if pos == "verb"}

    def same_lemma(self, a: str, b: str) -> bool:
        """One word is an inflection of the other, or both of one base ("ran" / "running")."""
        if a == b:
            return True
        bases_a, bases_b = {base for _, base in self.lemmas(a)}, {base for _, base in self.lemmas(b)}
        return bool(bases_a & bases_b)

    def related(self, a: str, b: str) -> bool:
        """`b` may stand for `a` without changing what is asked: an inflection, a synonym, or a derivation."""
        return self.same_lemma(a, b) or self.synonyms(a, b) or derived(a, b)

    def synonyms(self, a: str, b: str) -> bool:
        """Among the first SENSES senses of each (in one part of speech), `a` and `b` share a synset
        or stand in synsets WordNet puts next to each other (similar adjectives, grouped verbs), or
        one verb is a way of doing the other ("pick" / "choose", "extract" / "remove"; not two words
        that may both be adjectives, as participles are: an "advanced" course is no "increased" one)."""
        lemmas_a, lemmas_b = self.lemmas(a), self.lemmas(b)
        adjectives = any(pos == "adj" for pos, _ in lemmas_a) and any(pos == "adj" for pos, _ in lemmas_b)
        for pos_a, base_a in lemmas_a:
            top_a = set(self.senses[pos_a][base_a])
            close_a = top_a.union(*(self.near.get((pos_a, s), ()) for s in top_a))
            manner = pos_a == "verb" and not adjectives
            for pos_b, base_b in lemmas_b:
                top_b = set(self.senses[pos_b][base_b])
                if pos_b == pos_a and (close_a & top_b or (manner and self._manner(top_a, top_b))):
                    return True
        return False

    def _manner(self, senses_a: set[int], senses_b: set[int]) -> bool:
        """A sense of one verb is a way of doing a sense of the other (WordNet's troponym)."""
        ways_a = {w for s in senses_a for w in self.manner_of.get(s, ())}
        ways_b = {w for s in senses_b for w in self.manner_of.get(s, ())}
        return bool(ways_a & senses_b or ways_b & senses_a)

    def antonym_pairs(self, words_a: set[str], words_b: set[str]) -> list[tuple[str, str]]:
        """The pairs (a, b) of the two sets that WordNet names antonyms, in one part of speech: "tall"
        / "short", "win" / "lose", "legal" / "illegal" (in time linear in the words)."""
        readings: dict[tuple[str, str], list[str]] = {}
        for b in words_b:
            for lemma in self.lemmas(b):
                readings.setdefault(lemma, []).append(b)
        return [
            (a, b)
            for a in words_a
            for pos, base in self.lemmas(a)
            for opposite in self.antonyms.get((pos, base), ())
            for b in readings.get((pos, opposite), ())
        ]

    def generalises(self, general: str, specific: str) -> bool:
        """`general` names what `specific` is, up to GENERALITY steps up: "city" for "Philadelphia",
        "month" for "May", "virus" for "HIV" (so "the city of Philadelphia" asks no more)."""
        targets = {s for pos, base in self.lemmas(general) if pos == "noun" for s in self.senses["noun"][base]}
        level = {s for pos, base in self.lemmas(specific) if pos == "noun" for s in self.senses["noun"][base]}
        for _ in range(GENERALITY):
            level = {g for s in level for g in self.general.get(s, ())}
            if level & targets:
                return True
        return False


def derived(a: str, b: str) -> bool:
    """One word is the other with a derivational suffix (a stem of 4 letters at least, a final e dropped)."""
    short, long = sorted((a, b), key=len)
    for suffix in _DERIVATIONS:
        stem = long[: -len(suffix)]
        if long.endswith(suffix) and len(stem) >= 4 and short in (stem, stem + "e"):
            return True
    return False


@cache
def wordnet() -> WordNet:
    """The WordNet of WORDNET_DIR, loaded once per process (about half a second, ~57 MB)."""
    directory = Path(os.environ.get("WORDNET_DIR", "/usr/share/wordnet"))
    net = WordNet(directory)
    if not net.loaded:
        log.warning("no WordNet in %s (apt-get install wordnet-base): the cache refuses every word substitution",
                    directory)  # fmt: skip
    return net
