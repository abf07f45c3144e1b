"""How one prompt spells a word the other spells out: text-speak, abbreviations, misspellings.

"how 2 make pancakes", "my 3yo", "sleep thru the night", "sooo loud", "recomended dose": the guard
compares words, so before any rule reads two prompts each prompt's token is read as the word the
other prompt has in its place, where the token is shorthand or a slip for it. Only there: "cc"
is "credit card" beside "credit card debt", and stays "cc" beside "5 cc of medicine"; "temp" is
"temperature" in "what temp should a fridge be" beside "what temperature should a fridge be", not
in "temp files" beside "the temperature on my pc". Shorthand whose reading is never in doubt ("u",
"pls", "whats") is rewritten for every prompt (words/phrases.tsv).
"""

from __future__ import annotations

import re
from itertools import pairwise

from webapi.cache.lexicon import FILLER, NEGATORS, STOPWORDS, TEXT_SPEAK
from webapi.cache.wordnet import wordnet

_TEXTED = {"2": "to", "4": "for"}
# Where text-speak stands for its word: "2" after these ("how 2 make"), "4" before these ("4 my puppy").
_TWO_AS_TO_AFTER = frozenset("how want wants need needs going way ways try trying able".split())
_FOUR_AS_FOR_BEFORE = frozenset("my your his her its our their me him us them you".split())
_ROMAN_DIGITS = frozenset("ivxlcdm")
_REPEATED = re.compile(r"([a-z])\1{2,}")  # a letter three times or more: "sooo", "pleeease"


def respelled(toks: list[str], other: list[str]) -> list[str]:
    """`toks` with each shorthand, stretched word, misspelling or apostrophe left out read as the word
    `other` spells out."""
    out = _untexted(toks, other)
    others = set(other)
    net = wordnet()
    # The other prompt's words by first letter, each with its base forms: a slip starts as its word does.
    spellings: dict[str, list[tuple[str, set[str]]]] = {}
    for word in dict.fromkeys(other):  # in the other prompt's order: the first match decides
        if word[:1].isalpha():
            spellings.setdefault(word[0], []).append((word, {word} | {base for _, base in net.lemmas(word)}))
    padded = [None, *out, None]
    return [
        word
        for before, tok, after in zip(padded, out, padded[2:], strict=False)
        for word in ([tok] if tok in others else _as_spelled(tok, (before, after), other, spellings))
    ]


def _as_spelled(
    tok: str, beside: tuple[str | None, str | None], other: list[str], spellings: dict[str, list[tuple[str, set[str]]]]
) -> list[str]:
    """The words `other` has for `tok`: its expansion in its place ("yo" -> "year old"; `beside`: the
    words before and after `tok`), the word it stretches ("sooo" -> "so"), or the word it misspells
    ("recomended" -> "recommended"); else `tok`."""
    for expansion in TEXT_SPEAK.get(tok, ()):
        if _in_place(expansion, beside, other):
            return expansion
    if tok in NEGATORS or not tok.isalpha() or wordnet().lemmas(tok) or set(tok) <= _ROMAN_DIGITS:
        return [tok]  # "shouldnt" is no slip for "should", nor "viii" for "vii"
    candidates = spellings.get(tok[0], [])
    for word, _ in candidates:
        if "'" in word and word.replace("'", "") == tok:
            return [word]  # an apostrophe left out: "theyre" / "they're"
    for squeezed in (_REPEATED.sub(r"\1", tok), _REPEATED.sub(r"\1\1", tok)):
        if squeezed != tok and any(squeezed == word for word, _ in candidates):
            return [squeezed]
    for word, forms in candidates:
        if any(abs(len(form) - len(tok)) <= 2 and misspelt(tok, form) for form in forms):
            return [word]
    return [tok]


def _in_place(words: list[str], beside: tuple[str | None, str | None], toks: list[str]) -> bool:
    """`words` stand in `toks` in a row, each in any inflection ("dicts": "dictionaries"), with the
    word before or after them that stands beside the shorthand ("what temp should" / "what
    temperature should"; not "temp files" / "the temperature on")."""
    net = wordnet()
    n = len(words)
    padded = [None, *toks, None]
    before, after = beside
    return any(
        all(t == w or net.same_lemma(t, w) for t, w in zip(toks[i : i + n], words, strict=True))
        and ((before is not None and padded[i] == before) or (after is not None and padded[i + n + 1] == after))
        for i in range(len(toks) - n + 1)
    )


def _untexted(toks: list[str], other: list[str]) -> list[str]:
    """"2" as "to" after "how", "want", "need" ... ("how 2 make pancakes"), "4" as "for" before a
    possessive or a pronoun ("4 my puppy"), or either where the other prompt spells the word out in
    its place ("safe 2 eat" / "safe to eat"; not "eat at 2 am")."""
    spelled = set(pairwise(other))

    def texted(before: str, tok: str, after: str) -> bool:
        if tok not in _TEXTED or tok in other:
            return False
        in_context = before in _TWO_AS_TO_AFTER if tok == "2" else after in _FOUR_AS_FOR_BEFORE
        return in_context or (_TEXTED[tok], after) in spelled

    padded = ["", *toks, ""]  # a word on each side of every token, the first and the last included
    return [_TEXTED[t] if texted(b, t, a) else t for b, t, a in zip(padded, toks, padded[2:], strict=False)]


def misspelt(typo: str, word: str) -> bool:
    """`typo` is no word WordNet knows, of five letters or more, one edit (two letters left out or
    added, from eight letters) from `word`, which it knows or is a grammar word ("shoud" /
    "should"), and starts alike: "avacado" / "avocado", "symptons" / "symptoms". Shorter unknown
    words are more often terms than typos: "cbd" is not "cod", "hiit" not "hit"."""
    net = wordnet()
    if len(typo) < 5 or typo[0] != word[0] or not word.isalpha() or not typo.isalpha() or net.lemmas(typo):
        return False
    if typo in STOPWORDS or not (net.lemmas(word) or word in STOPWORDS or word in FILLER):
        return False
    distance = edits(typo, word)
    # Two slips in a long word only as letters left out or doubled ("recomended", "disconectin"):
    # two changed letters make another word ("overwatering" is no slip for "overwintering").
    return distance <= 1 or (distance == 2 and len(typo) >= 8 and (_within(typo, word) or _within(word, typo)))


def _within(short: str, long: str) -> bool:
    """`short` is `long` with letters left out."""
    letters = iter(long)
    return all(letter in letters for letter in short)


def edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count one)."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y)))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]
