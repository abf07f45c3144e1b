"""Who does what to whom: the guard's direction rule (guard.py calls roles_differ).

Sentence embeddings hear the same words whatever their order, so "dog bit man" and "man bit dog",
"convert JSON to XML" and "convert XML to JSON" embed alike. Two prompts ask different things when:

- both say "from X ... to Y" and a term changes role, or one names in "to" (or "from") what the
  other names in that role's place ("convert A to B" / "convert B to A", "can my cat catch a cold
  from me" / "can I catch a cold from my cat");
- the same terms, or runs of terms, trade places around the words that stay ("the Yankees beat
  the Red Sox", "use my Prius to jump-start a gas car", "my wife earns more than me" / "I earn more
  than my wife"), persons included, a passive with its agent read in the active order first ("why
  is my cat attacked by my dog" is "why does my dog attack my cat"); not a list reordered, a
  compound spelled out, a clause or an adverb moved, an agentless passive;
- a question word stands for another role in prompts of the same words ("who defeated Rome" asks
  for the doer, "who did Rome defeat" for the one done to).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from webapi.cache.lexicon import MEASURES, NEGATORS, OPENERS, PERSONS, STOPWORDS
from webapi.cache.substitution import DETERMINERS, PASSIVE_AUXILIARIES, participle
from webapi.cache.wordnet import derived, wordnet

# The words of a question's frame, which an adverb moves across: "Politely, how do I ...".
_QUESTION = frozenset(["how", "what", "why", "when", "where", "do", "does", "did", "can", "could", "should", "would",
                       "will", "is", "are", "i", "we", "you"])
# An exchange (_runs): where each run ends and the other starts, in A and in B; whether both runs
# are single terms; whether terms stand before and after them.
_Runs = tuple[tuple[int, int], tuple[int, int], bool, bool]
_SHARED_EDGE = 1  # terms the prompts share that an exchanged run may begin or end with (_runs)
_LONGEST_EXCHANGE = 24  # terms moved at most: more is a rewording, and the search is cubic in them
_SUBJECT_SPAN = 4  # words from "be" to its participle at most: "was the golden gate bridge built"
# Words that open a clause, where a passive's subject or agent ends ("... by my dog when I ...").
_CLAUSE_OPENERS = frozenset(["if", "when", "why", "how", "what", "that", "and", "but", "because", "since", "while",
                             "so", "after", "before", "whenever", "although"])  # fmt: skip
# A person and "be" in one word, which may start a passive: "i'm overwhelmed by my workload".
_BE_CONTRACTIONS = frozenset(["i'm", "you're", "we're", "they're", "he's", "she's", "it's"])
_BE_PASSIVE = PASSIVE_AUXILIARIES | _BE_CONTRACTIONS
_LONGEST_AGENT = 6  # words at most of a passive's agent: "by the heavy rain last night"
_AGENT_ENDS = _CLAUSE_OPENERS | OPENERS  # where a passive's agent ends: "by my friend | on Snapchat"
# Question words whose role a verb sets (_asker_role), and the auxiliaries that tell it.
_ASKERS = frozenset(["who", "whom", "what", "which"])
_DO = frozenset(["do", "does", "did"])
_BE = frozenset(["is", "are", "was", "were"])
_BE_FORMS = _BE | {"be", "been", "am"}
# Words between two exchanged terms that make their order not matter ("python or java", "an array
# different from a list"; not "compared to": "is a cat bigger compared to a dog" has an order).
_DIFFERENT = frozenset(["different", "differ", "differs"])
_SYMMETRIC = frozenset(["and", "or", "vs", "between"]) | _DIFFERENT
# Words that spell a compound out ("resignation letter" / "letter of resignation", "my car's oil" /
# "the oil in my car"): one of _OF, and determiners.
_OF = frozenset(["of", "in", "for", "on", "with", "without"])
_OF_PHRASE = _OF | DETERMINERS


def roles_differ(ta: list[str], tb: list[str], words_a: set[str], words_b: set[str]) -> bool:
    """The prompts (`ta`, `tb`: their tokens; `words_a`, `words_b`: their word sets) give their
    terms different roles."""
    (source_a, target_a), (source_b, target_b) = _roles(ta), _roles(tb)
    persons_a, persons_b = {_person(t) for t in words_a}, {_person(t) for t in words_b}
    if source_a and target_a and source_b and target_b:  # both say "from X ... to Y": roles decide order
        # (another word in a role is a substitution: "from a couch" / "from a sofa")
        if _role_changed(source_a, source_b, persons_a, persons_b) or _role_changed(
            target_a, target_b, persons_a, persons_b
        ):
            return True
    elif target_a and target_b and target_a != target_b and target_a in persons_b and target_b in persons_a:
        return True  # "convert A to B" vs "convert B to A"
    elif source_a and source_b and source_a != source_b and source_a in persons_b and source_b in persons_a:
        return True  # "can my cat catch a cold from me" vs "can I catch a cold from my cat"
    elif _swapped(ta, tb):
        return True
    asker_a, asker_b = _asker_role(ta), _asker_role(tb)
    # "who did the Romans defeat" / "who defeated the Romans" (not "who owns" / "belongs to")
    return bool(asker_a and asker_b and asker_a != asker_b and _bases(ta) == _bases(tb))


def _roles(toks: list[str]) -> tuple[str | None, str | None]:
    """The term after the first "from" and after the last "to"/"into": the source and target of a
    direction (the last, since an earlier "to" is often an infinitive: "how to merge main into dev").
    A pronoun is its person ("from me" and "from my cat": the first and "cat")."""
    source = target = None
    for i, tok in enumerate(toks[:-1]):
        following = next((_person(t) for t in toks[i + 1 :] if t not in STOPWORDS or _pronoun(t)), None)
        if tok == "from" and source is None and not (i and toks[i - 1] in _DIFFERENT):  # no source
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
    return tok in PERSONS and tok not in DETERMINERS


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
    return [_verb_base(t) for t in between if t not in DETERMINERS and t not in PERSONS]


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
        t == "by" and i > 0 and participle(toks[i - 1]) and set(toks[max(0, i - 5) : i - 1]) & _BE_PASSIVE
        for i, t in enumerate(toks)
    ) or any(by == "by" and asker in _ASKERS for by, asker in pairwise(toks[:2]))


def _active(toks: list[str]) -> list[str] | None:
    """A passive clause with its agent in the active order: "why is my cat attacked by my dog" ->
    "why my dog attacked my cat", "my phone was damaged by water" -> "water damaged my phone"; None
    without one."""
    for k, tok in enumerate(toks):
        if tok != "by" or k < 2 or not participle(toks[k - 1]):
            continue
        done = k - 3 if k >= 3 and toks[k - 2] == "-" else k - 1  # the participle's start: "rear - ended"
        be = min((j for j in range(max(0, done - 5), done) if toks[j] in _BE_PASSIVE), default=None)
        if be is None:
            continue
        end = _agent_end(toks, k + 1)
        if toks[be] in _BE_CONTRACTIONS:  # "i'm overwhelmed by my workload": the subject is in "be"
            return toks[:be] + toks[k + 1 : end] + toks[be + 1 : k] + [toks[be]] + toks[end:]
        # A question puts the subject after "be" ("is my dog being bullied by"), a statement before it
        # ("my husband is always criticized by"), back to the start of its clause.
        between = [t for t in toks[be + 1 : done] if t not in PASSIVE_AUXILIARIES]
        adverbs = [t for t in between if _adverb(t)]  # "is always criticized by": "always" stays by its verb
        if len(adverbs) < len(between):
            head, subject = toks[:be], [t for t in between if not _adverb(t)]
        else:
            start = max((j + 1 for j in range(be) if toks[j] in _CLAUSE_OPENERS), default=0)
            head, subject = toks[:start], toks[start:be]
        return head + toks[k + 1 : end] + adverbs + toks[done:k] + subject + toks[end:]
    return None


def _agent_end(toks: list[str], start: int) -> int:
    """Where the agent that starts at `toks[start]` ends: at the first small word after its content
    words ("by my workload | any advice", "by a debt collector | without", "by my friend | on
    Snapchat"), or after _LONGEST_AGENT words."""
    content = False
    for j in range(start, min(start + _LONGEST_AGENT, len(toks))):
        small = toks[j] in STOPWORDS or toks[j] in _AGENT_ENDS
        if content and small:
            return j
        content = content or not small
    return min(start + _LONGEST_AGENT, len(toks))


def _adverb(word: str) -> bool:
    return {pos for pos, _ in wordnet().lemmas(word)} == {"adv"}


def _voice_turned(a: list[str], b: list[str]) -> bool:
    """`a` has a verb in the passive, right after a form of "be", that `b` has in another form:
    "should tomatoes be fertilized" / "should I fertilize tomatoes" (but "my cat is scared of my
    dog" / "why is my dog scared of my cat" keeps its participle, and its roles)."""
    net = wordnet()
    verbs_b = {t: net.verbs(t) for t in b}
    words = [t for t in a if t != "being"]
    return any(
        be in _BE_FORMS
        and participle(done)
        and done not in verbs_b
        and any(net.verbs(done) & other for other in verbs_b.values())
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
    return {_verb_base(t) for t in toks if t not in STOPWORDS | _DO | _BE_FORMS}


def _verb_base(word: str) -> str:
    """A word's base form, a verb's where it may be one: "eats" -> "eat", "bullying" -> "bully"."""
    net = wordnet()
    return min(net.verbs(word), default=net.base(word))


def _verb_form(word: str) -> bool:
    """A verb's past or third-person form ("defeated", "won", "causes"), not its base form."""
    verbs = wordnet().verbs(word)
    return bool(verbs) and word not in verbs
