"""The near-miss guard: refuse a semantic match when the prompts differ in ways embeddings miss.

Sentence embeddings place "Convert 100 °F to Celsius" and "Convert 100 °C to Fahrenheit" at
0.87, "turn on dark mode" and "turn off dark mode" at 0.95: they encode topic, not the small
words that flip an answer. So after the similarity test, two prompts must also agree on every
signal below, each cheap, explainable and measured on labelled pairs (bench/cache_quality.py):

- numbers: the same multiset of quantities (digits and number words, "five" == "5");
- negation: the same negators (not, no, never, without, n't ...);
- polarity: the same canonical opposite-carrying words (on/off, enable/disable, first/last ...),
  after mapping synonyms to one name ("turn on" == "enable", "pros" == "advantages");
- lexicon terms: the same units, currencies, languages, programming languages, countries and
  cities, however they are cased;
- named entities: every capitalised word of one prompt appears in the other;
- direction: the same "from X" / "to Y" roles, and not the same words in a swapped order
  ("dog bit man" vs "man bit dog").

A refusal costs one generation; a wrong hit serves a wrong answer. The rules lean to refusing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?|[+\-*/^=<>%$€£¥°#]")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "for",
        "to",
        "from",
        "by",
        "with",
        "and",
        "or",
        "but",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "i",
        "me",
        "my",
        "you",
        "your",
        "we",
        "our",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "why",
        "when",
        "where",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "please",
        "tell",
        "give",
        "show",
        "explain",
        "write",
        "make",
        "let",
        "us",
        "some",
        "any",
        "as",
        "about",
        "into",
        "than",
        "then",
        "so",
        "if",
        "just",
        "also",
        "very",
        "really",
        "quite",
        "me",
        "need",
        "want",
        "know",
        "like",
        "get",
    ]
)

NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "without",
        "none",
        "nothing",
        "nobody",
        "nowhere",
        "neither",
        "nor",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "hasnt",
        "havent",
        "hadnt",
        "mustnt",
        "neednt",
    ]
)

_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS.update(
    {
        "thirty": "30",
        "forty": "40",
        "fifty": "50",
        "sixty": "60",
        "seventy": "70",
        "eighty": "80",
        "ninety": "90",
        "hundred": "100",
        "thousand": "1000",
        "million": "1000000",
        "billion": "1000000000",
        "dozen": "12",
        "half": "0.5",
        "twice": "2",
        "double": "2",
        "triple": "3",
        "squared": "2",
        "cubed": "3",
    }
)
# "one"/"a" are the same claim ("a pound" == "one lb"); leaving 1 out keeps 1 vs 2 a conflict all the same.
del _NUMBER_WORDS["one"]
_NUMBER_WORDS.update(
    {
        w: str(i + 1)
        for i, w in enumerate(
            ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
        )
    }
)

# Multi-word phrases rewritten to one canonical token before anything else is compared.
_PHRASES = {
    "turn on": "enable",
    "switch on": "enable",
    "turn off": "disable",
    "switch off": "disable",
    "shut down": "shutdown",
    "log in": "login",
    "sign in": "login",
    "log out": "logout",
    "sign out": "logout",
    "set up": "setup",
    "pros and cons": "advantages disadvantages",
    "ups and downs": "advantages disadvantages",
    "at least": "minimum",
    "at most": "maximum",
    "more than": "above",
    "less than": "below",
    "fewer than": "below",
    "greater than": "above",
    "smaller than": "below",
    "bigger than": "above",
    "larger than": "above",
    "higher than": "above",
    "lower than": "below",
    "older than": "above",
    "younger than": "below",
    "how many": "count",
    "how much": "amount",
    "lowest to highest": "ascending",
    "highest to lowest": "descending",
    "smallest to largest": "ascending",
    "largest to smallest": "descending",
    "most expensive": "expensive",
    "least expensive": "cheap",
}

# Opposite pairs: each side lists synonyms. Two prompts conflict when both mention a pair but
# not the same side(s) of it; a prompt that mentions neither side does not conflict.
_OPPOSITES = [
    ("enable activate on", "disable deactivate off"),
    ("increase raise boost grow increasing", "decrease reduce lower shrink decreasing"),
    ("first earliest oldest beginning", "last latest newest final ending"),
    ("ascending asc", "descending desc"),
    ("good better", "bad worse"),
    ("best", "worst"),
    ("advantages pros upsides", "disadvantages cons drawbacks downsides"),
    ("minimum min smallest lowest least", "maximum max largest biggest highest most"),
    ("before prior", "after"),
    ("above over", "below under beneath"),
    ("buy purchase buying", "sell selling"),
    ("import importing", "export exporting"),
    ("upload uploading", "download downloading"),
    ("encrypt encryption encode encoding", "decrypt decryption decode decoding"),
    ("compress compression zip", "decompress decompression unzip"),
    ("lock", "unlock"),
    ("open opening", "close closing"),
    ("add insert append adding", "remove delete drop removing deleting"),
    ("start launch", "stop halt"),
    ("win winner won winning", "lose loser lost losing"),
    ("hot warm heat", "cold cool chill"),
    ("rise rises rising", "fall falls falling"),
    ("true", "false"),
    ("left", "right"),
    ("up", "down"),
    ("inhale", "exhale"),
    ("push", "pull"),
    ("input", "output"),
    ("cheap cheapest cheaper", "expensive priciest pricier"),
    ("fast faster fastest quick quickly", "slow slower slowest slowly"),
    ("long longer longest", "short shorter shortest"),
    ("big bigger large larger huge", "small smaller little tiny"),
    ("positive", "negative"),
    ("legal", "illegal"),
    ("private", "public"),
    ("sync synchronous", "async asynchronous"),
    ("uppercase upper", "lowercase lower"),
    ("north", "south"),
    ("east", "west"),
    ("internal", "external"),
    ("include including", "exclude excluding"),
    ("accept", "reject"),
    ("allow permit", "deny block forbid"),
    ("love", "hate"),
    ("more", "less fewer"),
    ("easy easiest", "hard hardest difficult"),
    ("strong strongest", "weak weakest"),
    ("high", "low"),
    ("light", "dark heavy"),
    ("young youngest", "old"),
]
OPPOSITES = [(frozenset(a.split()), frozenset(b.split())) for a, b in _OPPOSITES]

# Closed classes whose members answer differently. Entities (languages, places, ...) must match
# exactly; measures (units, times) must match where both prompts name one.
_ENTITY_CLASSES = {
    "language": """english french spanish german italian portuguese dutch swedish norwegian danish finnish
        polish russian ukrainian czech greek turkish arabic hebrew persian farsi hindi urdu bengali chinese
        mandarin cantonese japanese korean vietnamese thai indonesian malay swahili latin""",
    "software": """python java javascript typescript ruby php perl rust golang kotlin swift scala haskell cpp
        csharp sql bash powershell matlab julia lua dart elixir erlang clojure fortran cobol react vue
        angular svelte django flask rails spring nodejs pandas numpy excel postgres postgresql mysql oracle
        sqlite mongodb redis linux windows macos ios android ubuntu debian""",
    "place": """france spain germany italy portugal england britain uk ireland scotland usa canada mexico
        brazil argentina chile peru china japan korea india pakistan russia ukraine poland sweden norway
        denmark finland netherlands belgium switzerland austria greece turkey egypt nigeria kenya australia
        iceland paris london berlin madrid rome lisbon dublin amsterdam brussels vienna prague warsaw moscow
        tokyo beijing shanghai seoul delhi mumbai sydney melbourne toronto vancouver chicago boston seattle
        miami barcelona milan munich istanbul cairo dubai singapore""",
    "planet": "mercury venus mars jupiter saturn uranus neptune pluto",
    "weekday": "monday tuesday wednesday thursday friday saturday sunday",
    "month": "january february march april june july august september october november december",
    "season": "summer autumn winter",
    "meal": "breakfast lunch dinner",
}
_MEASURE_CLASSES = {
    "temperature": {"celsius": "celsius centigrade", "fahrenheit": "fahrenheit", "kelvin": "kelvin"},
    "length": {
        "km": "km kilometer kilometers kilometre kilometres",
        "mile": "mile miles mi",
        "m": "meter meters metre metres",
        "cm": "cm centimeter centimeters centimetre centimetres",
        "mm": "mm millimeter millimeters",
        "inch": "inch inches in.",
        "foot": "foot feet ft",
        "yard": "yard yards",
    },
    "mass": {
        "kg": "kg kilogram kilograms kilo kilos",
        "g": "gram grams",
        "mg": "mg milligram milligrams",
        "lb": "lb lbs pound pounds",
        "oz": "oz ounce ounces",
        "ton": "ton tons tonne tonnes",
        "stone": "stone",
    },
    "volume": {
        "l": "liter liters litre litres",
        "ml": "ml milliliter milliliters millilitre millilitres",
        "gallon": "gallon gallons",
        "quart": "quart quarts",
        "pint": "pint pints",
        "cup": "cup cups",
        "tbsp": "tablespoon tablespoons tbsp",
        "tsp": "teaspoon teaspoons tsp",
    },
    "time": {
        "second": "seconds sec secs",
        "minute": "minute minutes min mins",
        "hour": "hour hours hr hrs",
        "day": "day days daily",
        "week": "week weeks weekly",
        "month": "month months monthly",
        "year": "year years yearly annual annually",
        "decade": "decade decades",
        "century": "century centuries",
    },
    "data": {
        "kb": "kb kilobyte kilobytes",
        "mb": "mb megabyte megabytes",
        "gb": "gb gigabyte gigabytes",
        "tb": "tb terabyte terabytes",
        "byte": "byte bytes",
        "bit": "bit bits",
    },
    "speed": {"mph": "mph", "kmh": "kph kmh"},
    "frequency": {"hz": "hz hertz", "khz": "khz", "mhz": "mhz", "ghz": "ghz"},
    "energy": {"kwh": "kwh", "calorie": "calorie calories kcal", "joule": "joule joules"},
    "area": {"acre": "acre acres", "hectare": "hectare hectares"},
    "currency": {
        "usd": "usd dollar dollars",
        "eur": "eur euro euros",
        "gbp": "gbp sterling",
        "jpy": "yen jpy",
        "cny": "yuan cny renminbi",
        "inr": "rupee rupees inr",
        "chf": "franc francs chf",
        "mxn": "peso pesos mxn",
        "btc": "bitcoin btc",
    },
}
ENTITIES = {word: name for name, words in _ENTITY_CLASSES.items() for word in words.split()}
MEASURES = {
    word: (cls, unit)
    for cls, units in _MEASURE_CLASSES.items()
    for unit, words in units.items()
    for word in words.split()
}
_SYMBOL_WORDS = {
    "km/h": " kmh ",
    "mi/h": " mph ",
    "m/s": " mps ",
    "°c": " celsius ",
    "°f": " fahrenheit ",
    "$": " usd ",
    "€": " eur ",
    "£": " gbp ",
    "¥": " jpy ",
    "%": " percent ",
    "c++": " cpp ",
    "c#": " csharp ",
    "^2": " squared ",
    "^3": " cubed ",
}
# Names written several ways, rewritten before lower-casing where case matters ("US" vs "us").
_CASED_NAMES = [
    (r"\bU\.?S\.?A?\.?(?=\W|$)|\bUnited States(?: of America)?\b|\bAmerica\b", " usa "),
    (r"\bU\.?K\.?(?=\W|$)|\bUnited Kingdom\b|\bGreat Britain\b|\bBritain\b", " uk "),
    (r"\bGo\b(?= (?:code|program|language|lang|func|module|routine))", " golang "),
]
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "xi": "11", "xii": "12"}
# Words between two swapped terms that make the order not matter ("python or java").
_SYMMETRIC = frozenset(["and", "or", "vs", "versus", ",", "&", "with", "between"])


def _normalise(text: str) -> str:
    """NFKC, names and symbols spelled one way; case kept."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    for pattern, name in _CASED_NAMES:
        text = re.sub(pattern, name, text)
    for symbol, word in _SYMBOL_WORDS.items():
        text = re.sub(re.escape(symbol), word, text, flags=re.IGNORECASE)
    return text


def tokens(text: str) -> list[str]:
    """Lower-cased word, number and symbol tokens with phrases and symbols canonicalised."""
    text = _normalise(text).lower()
    text = re.sub(r"(\d)(?=[a-z])", r"\1 ", text)  # "100km" -> "100 km"
    text = re.sub(r"(\w+)n't\b", r"\1nt", text)  # don't -> dont (a negator)
    for phrase, canon in _PHRASES.items():
        text = re.sub(rf"\b{phrase}\b", canon, text)
    return [_ROMAN.get(t, t) for t in _TOKEN.findall(text)]


def _numbers(toks: list[str]) -> Counter[str]:
    values: Counter[str] = Counter()
    for tok in toks:
        if tok[0].isdigit():
            values[tok.replace(",", "")] += 1
        elif tok in _NUMBER_WORDS:
            values[_NUMBER_WORDS[tok]] += 1
    return values


def _opposed(a: set[str], b: set[str]) -> bool:
    """Both prompts mention an opposite pair, but not the same side(s) of it."""
    for one, other in OPPOSITES:
        sides_a, sides_b = (bool(a & one), bool(a & other)), (bool(b & one), bool(b & other))
        if any(sides_a) and any(sides_b) and sides_a != sides_b:
            return True
    return False


def _measures_differ(a: list[str], b: list[str]) -> bool:
    """Both prompts name a unit of the same kind (length, currency, ...), but not the same units."""
    units_a, units_b = {MEASURES[t] for t in a if t in MEASURES}, {MEASURES[t] for t in b if t in MEASURES}
    for kind in {k for k, _ in units_a} & {k for k, _ in units_b}:
        if {u for k, u in units_a if k == kind} != {u for k, u in units_b if k == kind}:
            return True
    return False


def _roles(toks: list[str]) -> tuple[str | None, str | None]:
    """The term after "from" and the term after "to"/"into": the source and target of a direction."""
    source = target = None
    for i, tok in enumerate(toks[:-1]):
        following = next((t for t in toks[i + 1 :] if t not in STOPWORDS), None)
        if tok == "from" and source is None:
            source = following
        elif tok in ("to", "into") and target is None:
            target = following
    return source, target


def _swapped(a: list[str], b: list[str]) -> bool:
    """B is A with two terms exchanged around an order-bearing word ("7 from 20" / "20 from 7")."""
    keep_a = [
        (i, t) for i, t in enumerate(a) if (t not in STOPWORDS and t not in NEGATORS and len(t) > 1) or t[0].isdigit()
    ]
    keep_b = [t for t in b if (t not in STOPWORDS and t not in NEGATORS and len(t) > 1) or t[0].isdigit()]
    terms_a = [t for _, t in keep_a]
    if len(terms_a) != len(keep_b) or terms_a == keep_b or sorted(terms_a) != sorted(keep_b):
        return False
    differ = [k for k, (x, y) in enumerate(zip(terms_a, keep_b, strict=True)) if x != y]
    if len(differ) != 2:
        return False  # not a single exchange: a reordered sentence, not swapped roles
    first, second = keep_a[differ[0]][0], keep_a[differ[1]][0]
    between = set(a[first + 1 : second])
    return not between or not between <= _SYMMETRIC


def _capitalised(text: str) -> set[str]:
    """Capitalised words after the first (names), lower-cased."""
    words = re.findall(r"[^\W\d_][\w'-]*", _normalise(text))
    return {w.lower() for w in words[1:] if w[0].isupper() and len(w) > 1 and w.lower() not in ("i'm", "i've", "i'd")}


def conflict(a: str, b: str) -> str | None:
    """Why prompts `a` and `b` must not share an answer, or None if no rule objects."""
    ta, tb = tokens(a), tokens(b)
    set_a, set_b = set(ta), set(tb)
    if _numbers(ta) != _numbers(tb):
        return "number"
    if sum(t in NEGATORS for t in ta) != sum(t in NEGATORS for t in tb):
        return "negation"
    if _opposed(set_a, set_b):
        return "opposite"
    if {t for t in ta if t in ENTITIES} != {t for t in tb if t in ENTITIES}:
        return "entity"
    if _measures_differ(ta, tb):
        return "unit"
    names_a, names_b = _capitalised(a) - set(MEASURES), _capitalised(b) - set(MEASURES)
    if any(w not in set_b for w in names_a) or any(w not in set_a for w in names_b):
        return "entity"
    (source_a, target_a), (source_b, target_b) = _roles(ta), _roles(tb)
    if source_a and target_a and source_b and target_b:  # both say "from X ... to Y": roles decide
        return "direction" if (source_a, target_a) != (source_b, target_b) else None
    if target_a and target_b and target_a != target_b and target_a in set_b and target_b in set_a:
        return "direction"  # "convert A to B" vs "convert B to A"
    if _swapped(ta, tb):
        return "direction"
    return None
