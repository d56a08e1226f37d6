"""OCR text normalisation and fuzzy matching of the applicant's name.

Text is compared in a *folded* alphabet: lowercase, Kazakh letters mapped to their Russian
counterparts (ә→а, ғ→г, қ→к, ң→н, ө→о, ұ/ү→у, һ→х, і→и), ё→е, й→и, ъ→ь and Latin look-alikes to
Cyrillic (a, e, o, p, c, x, y, k, m, h, b, t …). Within a word, digits that look like letters become
those letters (0→о, 3→з, 6→б, 1→и). Hyphenated line breaks are joined and whitespace collapsed.

A name part matches a word with an OCR-weighted edit distance: a substitution between look-alike
letters (и/н/п, л/д, ш/щ, е/с/о, в/б, ь/ы/б, к/х, г/т, з/э, а/э …), dropping or adding a soft sign, or
doubling a letter costs 0.5; two letters OCR reads as one (Kazakh "ік" as "ж", "ьі" as "ы", "іо" as
"ю") or the reverse costs 1 but is no hard edit; any other edit is "hard" and costs 1. Calibration (per expected form
length L, in the folded alphabet):

=============  ======================  ===================  ======================
part           allowed cost            hard edits allowed   why
=============  ======================  ===================  ======================
surname        L≤4: .5, 5-7: 1,        L≥6: 1, L≥10: 2      long surnames carry
               8-9: 1.5, ≥10: 2                             redundancy; Ли/Ким none
first name     L≤3: 0, ≤5: .5, ≤7: 1,  L≥8: 1; L≥5: one     siblings differ by one
               ≥8: 1.5                 lost/added letter    substitution: Дина/Дана,
                                                            Нурлан/Нуржан rejected
patronymic     L≤5: .5, ≥6: 1          L≥6: 1               fathers' names differ
                                                            by 2: Нұрлан/Ерлан,
                                                            Қанат/Қайрат
=============  ======================  ===================  ======================

A whole mention must also stay within a combined budget: 1.0 for surname + first name, 2.0 when a
full patronymic matched as well, +0.5 for names of 14+ letters and +0.5 more for 22+ letters
("Ивакова Мария": 1.0; "Тэжбаева Динара": 1.5), and hard edits may not hit both the
surname and the first name (one substitution in "Ивакова Мария Петровна" is OCR noise; errors in
both "Ивакова Марина" are another person). With initials only, the surname may cost at most 1.0
(1.5 with both initials). Initials must agree exactly (after folding); a patronymic
or patronymic initial printed in the document must agree with the applicant's; a document without
the patronymic is accepted ("Иванова Мария").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from rapidfuzz.distance import Levenshtein

from .models import PageText
from .names import CASES, KAZAKH_CASES, NameForms, WordForm

# ------------------------------------------------------------------------------------------ folding

_CASED_LOOKALIKES = {
    "A": "а", "B": "в", "C": "с", "E": "е", "H": "н", "K": "к", "M": "м", "O": "о", "P": "р",
    "T": "т", "X": "х", "Y": "у", "I": "и", "N": "и", "W": "ш", "F": "г",
    "a": "а", "b": "ь", "c": "с", "e": "е", "h": "х", "k": "к", "m": "м", "o": "о", "p": "р",
    "t": "т", "x": "х", "y": "у", "i": "и", "l": "и", "u": "и", "n": "п", "r": "г", "g": "д",
    "w": "ш",
}
_LOWER_FOLD = {
    "ә": "а", "ғ": "г", "қ": "к", "ң": "н", "ө": "о", "ұ": "у", "ү": "у", "һ": "х", "і": "и",
    "ё": "е", "й": "и", "ъ": "ь", "є": "е", "ї": "и", "ў": "у",
}
_DIGIT_AS_LETTER = {"0": "о", "3": "з", "6": "б", "1": "и", "4": "ч", "8": "в"}


def fold_char(char: str) -> str:
    """One character in the folded alphabet (always exactly one character)."""
    mapped = _CASED_LOOKALIKES.get(char)
    if mapped:
        return mapped
    lowered = char.lower()
    if len(lowered) != 1:
        lowered = char
    return _LOWER_FOLD.get(lowered, lowered)


# Tesseract reads a capital Ә as Э (seen at every scale): an initial Ә may come out either way.
_INITIAL_MISREADINGS = {"ә": ("э",)}


def _initial_keys(initial: str) -> set[str]:
    """The folded keys an OCR'd initial of ``initial`` may have."""
    keys = {word_key(initial)}
    keys.update(_INITIAL_MISREADINGS.get(initial.lower(), ()))
    return keys


def fold(text: str) -> str:
    """``text`` in the folded alphabet; the result has the same length, so offsets carry over."""
    return "".join(fold_char(c) for c in text)


def word_key(word: str) -> str:
    """The comparison key of a word or name: folded, digit look-alikes as letters, no hyphens/spaces."""
    folded = fold(word)
    letters = sum(c.isalpha() for c in folded)
    if letters and letters >= sum(c.isdigit() for c in folded):
        folded = "".join(_DIGIT_AS_LETTER.get(c, c) for c in folded)
    return re.sub(r"[\s\-‐‑‒–]+", "", folded)


# ------------------------------------------------------------------------------------ normalisation

_HYPHENS = "-‐‑‒–"
_LOWER_LETTERS = "a-zа-яёәғқңөұүһі"
_UPPER_LETTERS = "A-ZА-ЯЁӘҒҚҢӨҰҮҺІ"


def normalize_text(text: str) -> str:
    """Join hyphenated line breaks ("Ивано-\\nвой"), repair '|' read for 'і', collapse whitespace."""
    text = (text or "").replace("\u00ad", "").replace("\r", "")
    text = re.sub(rf"([^\W_])[{_HYPHENS}][ \t]*\n\s*([{_UPPER_LETTERS}])", r"\1-\2", text)
    text = re.sub(rf"([^\W_])[{_HYPHENS}][ \t]*\n\s*([^\W_])", r"\1\2", text)
    text = re.sub(rf"([^\W\d_])[{_HYPHENS}][ \t]+([{_LOWER_LETTERS}])", r"\1\2", text)
    text = re.sub(r"(?<=[^\W\d_])[|!](?=[^\W\d_])", "і", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Token:
    """A word of a normalised page: as printed (``raw``), its comparison ``key`` and its offsets."""

    raw: str
    key: str
    start: int
    end: int
    dotted: bool = False

    @property
    def is_initial(self) -> bool:
        """A single capital letter (an initial such as the "М" of "М.П.")."""
        return len(self.raw) == 1 and self.raw.isalpha() and self.raw.isupper()

    @property
    def is_word(self) -> bool:
        return any(c.isalpha() for c in self.key)

    @property
    def capitalised(self) -> bool:
        return self.raw[:1].isupper() and any(c.isalpha() for c in self.raw)


_TOKEN_RE = re.compile(rf"[^\W_]+(?:[{_HYPHENS}][^\W_]+)*")


def tokenize(text: str) -> list[Token]:
    """Words of a normalised text (letters and digits, inner hyphens kept in ``raw``)."""
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        dotted = bool(re.match(r"\s?[.,]", text[m.end():m.end() + 2]))
        tokens.append(Token(m.group(0), word_key(m.group(0)), m.start(), m.end(), dotted))
    return tokens


@dataclass
class PreparedPage:
    """A page ready for matching: normalised text and its tokens."""

    number: int
    text: str
    tokens: list[Token]
    mean_confidence: float
    source: str
    word_count: int = 0


def prepare_page(page: PageText) -> PreparedPage:
    """Normalise and tokenise one page."""
    text = normalize_text(page.text)
    tokens = tokenize(text)
    return PreparedPage(page.number, text, tokens, float(page.mean_confidence), page.source,
                        len(page.words) if page.words else len(tokens))


# ------------------------------------------------------------------------------ OCR edit distance

_LOOKALIKE_GROUPS = (
    "инп", "пл", "лд", "шщ", "цщ", "есо", "оа", "вб", "бь", "ьы", "кх", "гт", "тп", "зэ", "эе",
    "юо", "уч", "аэ",
)
_LOOKALIKES = frozenset(
    frozenset((a, b)) for group in _LOOKALIKE_GROUPS for a in group for b in group if a != b
)
_SOFT_INSERTS = frozenset("ь")
# Two letters OCR reads as one, folded (і+к as ж: "Сержұлы" for Серікұлы; ь+і as ы; і+о as ю), and
# the same one letter read as the two: a soft edit of its own cost, not two hard ones.
_MERGES = frozenset({("ик", "ж"), ("ьи", "ы"), ("ио", "ю")})
_SPLITS = frozenset((single, pair) for pair, single in _MERGES)
MERGE_COST = 1.0


def ocr_confusable(a: str, b: str) -> bool:
    """True when OCR reads one folded letter as the other (и/н/п, л/д, ш/щ …)."""
    return frozenset((a, b)) in _LOOKALIKES


@dataclass(frozen=True)
class Distance:
    """An OCR-weighted edit distance: total ``cost``, ``hard`` edits, of which ``hard_substitutions``."""

    cost: float
    hard: int
    hard_substitutions: int = 0

    def __lt__(self, other: "Distance") -> bool:
        return (self.cost, self.hard, self.hard_substitutions) < (other.cost, other.hard, other.hard_substitutions)

    def plus(self, cost: float, hard: int, substitution: bool = False) -> "Distance":
        return Distance(self.cost + cost, self.hard + hard, self.hard_substitutions + (hard if substitution else 0))


def _indel_cost(s: str, i: int) -> tuple[float, int]:
    char = s[i]
    if char in _SOFT_INSERTS or (i > 0 and s[i - 1] == char) or (i + 1 < len(s) and s[i + 1] == char):
        return 0.5, 0
    return 1.0, 1


def ocr_distance(expected: str, found: str) -> Distance:
    """OCR-weighted edit distance between two folded strings (see the module docstring)."""
    n, m = len(expected), len(found)
    rows = [[Distance(0.0, 0)]]
    for j in range(m):
        rows[0].append(rows[0][-1].plus(*_indel_cost(found, j)))
    for i in range(n):
        del_cost, del_hard = _indel_cost(expected, i)
        previous, current = rows[i], [rows[i][0].plus(del_cost, del_hard)]
        for j in range(m):
            a, b = expected[i], found[j]
            if a == b:
                sub = previous[j]
            elif frozenset((a, b)) in _LOOKALIKES:
                sub = previous[j].plus(0.5, 0)
            else:
                sub = previous[j].plus(1.0, 1, substitution=True)
            best = min(sub, current[j].plus(*_indel_cost(found, j)), previous[j + 1].plus(del_cost, del_hard))
            if i and (expected[i - 1: i + 1], b) in _MERGES:  # two printed letters read as one
                best = min(best, rows[i - 1][j].plus(MERGE_COST, 0))
            if j and (a, found[j - 1: j + 1]) in _SPLITS:  # one printed letter read as two
                best = min(best, previous[j - 1].plus(MERGE_COST, 0))
            current.append(best)
        rows.append(current)
    return rows[n][m]


# Per name part: (longest length, maximum cost, maximum hard edits) steps, then the cap for longer parts.
_ALLOWANCES: dict[str, tuple[tuple[tuple[int, float, int], ...], tuple[float, int]]] = {
    "surname": (((4, 0.5, 0), (5, 1.0, 0), (7, 1.0, 1), (9, 1.5, 1)), (2.0, 2)),
    "first": (((3, 0.0, 0), (5, 0.5, 0), (7, 1.0, 0)), (1.5, 1)),
    "patronymic": (((5, 0.5, 0),), (1.0, 1)),
}


def allowance(part: str, length: int) -> tuple[float, int]:
    """(maximum cost, maximum hard edits) for a name part whose expected form has ``length`` letters."""
    steps, longer = _ALLOWANCES.get(part, _ALLOWANCES["patronymic"])
    for longest, max_cost, max_hard in steps:
        if length <= longest:
            return max_cost, max_hard
    return longer


def within_allowance(part: str, length: int, distance: Distance) -> bool:
    """True when ``distance`` is tolerable for a name part of ``length`` letters (see ``allowance``).

    A first name of 5+ letters may also have one letter lost or added by OCR ("Карин", "Дмитий"):
    siblings' names differ by a substitution (Дина/Дана, Нурлан/Нуржан, Гульнар/Гульназ), rarely by a
    dropped letter, so a first name never takes a substitution between letters OCR does not confuse.
    """
    if part == "first" and distance.hard_substitutions:
        return False
    max_cost, max_hard = allowance(part, length)
    if distance.cost <= max_cost and distance.hard <= max_hard:
        return True
    return (part == "first" and length >= 5 and distance.hard == 1 and distance.hard_substitutions == 0
            and distance.cost <= 1.0)


# ------------------------------------------------------------------------------------ name parts

@dataclass(frozen=True)
class PartHit:
    """A name part found in a page: the expected form it matched, where, and at what OCR cost."""

    part: str
    form: WordForm
    expected_key: str
    found: str
    first_token: int
    last_token: int  # exclusive
    cost: float
    hard: int
    cases: tuple[str, ...] = ()

    @property
    def span(self) -> int:
        return self.last_token - self.first_token


RESEMBLANCE_DISTANCE = 0.5
NEAR_PATRONYMIC_EDITS = 2  # another patronymic this close to hers may be hers misread
CUT_FIRST_NAME_LETTERS = 3  # a first name this short that begins hers is hers cut short (Дина/Динара: 4)


class _PartForms:
    """The folded forms of one name part, matched against single words or short runs of words."""

    def __init__(self, part: str, forms: Iterable[WordForm]):
        self.part = part
        self.forms: dict[str, WordForm] = {}
        self.cases: dict[str, list[str]] = {}
        for form in forms:
            key = word_key(form.text)
            if not key:
                continue
            if key not in self.forms or _variant_rank(form) < _variant_rank(self.forms[key]):
                self.forms[key] = form
            if form.case not in self.cases.setdefault(key, []):
                self.cases[key].append(form.case)
        self.max_words = max((len(f.text.replace("-", " ").split()) for f in forms), default=1)

    def resembles(self, key: str) -> bool:
        """True when at least half the letters of some form are in place in ``key`` (normalised edit
        distance at most ``RESEMBLANCE_DISTANCE``): the part garbled by OCR rather than another word."""
        return any(Levenshtein.normalized_distance(expected, key) <= RESEMBLANCE_DISTANCE for expected in self.forms)

    def match_key(self, key: str) -> Optional[tuple[str, WordForm, Distance]]:
        if not key:
            return None
        form = self.forms.get(key)
        if form is not None:
            return key, form, Distance(0.0, 0)
        best: Optional[tuple[str, WordForm, Distance]] = None
        for expected, form in self.forms.items():
            max_cost, max_hard = allowance(self.part, len(expected))
            if max_cost == 0:
                continue
            budget = int(max_cost * 2)
            if abs(len(expected) - len(key)) > budget:
                continue
            if Levenshtein.distance(expected, key, score_cutoff=budget) > budget:
                continue
            distance = ocr_distance(expected, key)
            if within_allowance(self.part, len(expected), distance):
                if best is None or distance < best[2]:
                    best = (expected, form, distance)
        return best

    def hit_at(self, tokens: list[Token], start: int) -> Optional[PartHit]:
        """The best match of this part starting at token ``start`` (one word, or up to 3 glued words)."""
        return self._best(tokens, [(start, start + span) for span in range(1, self._spans() + 1)])

    def hit_ending(self, tokens: list[Token], end: int) -> Optional[PartHit]:
        """The best match of this part ending just before token ``end``."""
        return self._best(tokens, [(end - span, end) for span in range(1, self._spans() + 1)])

    def _spans(self) -> int:
        return max(2, min(3, self.max_words + 1))

    def _best(self, tokens: list[Token], ranges: list[tuple[int, int]]) -> Optional[PartHit]:
        best: Optional[PartHit] = None
        for first, last in ranges:
            if first < 0 or last > len(tokens) or not _glued(tokens, first, last):
                continue
            words = tokens[first:last]
            if any(not t.is_word for t in words):
                continue
            if len(words) > 1 and (any(t.is_initial for t in words) or any(t.dotted for t in words[:-1])) \
                    and not (len(words) == 2 and _split_after_capital(tokens, first) is not None):
                continue  # "Қ. Жармағанбетова" is an initial and a surname, not one split word ("Г ульнара" is)
            found = self.match_key("".join(t.key for t in words))
            repaired = _without_stray_capital(words[0].raw) if len(words) == 1 else None
            if repaired is not None and (again := self.match_key(word_key(repaired))) is not None:
                again = (again[0], again[1], again[2].plus(STRAY_CAPITAL_COST, 0))
                found = again if found is None or again[2] < found[2] else found
            if found is None:
                continue
            expected, form, distance = found
            hit = PartHit(self.part, form, expected, " ".join(t.raw for t in words), first, last,
                          distance.cost, distance.hard, tuple(self.cases.get(expected, ())))
            if best is None or (hit.cost, hit.span) < (best.cost, best.span):
                best = hit
            if best.cost == 0:
                break
        return best


STRAY_CAPITAL_COST = 0.5


def _without_stray_capital(raw: str) -> Optional[str]:
    """The word without the one capital OCR read inside it ("ДЛарью" -> "Дарью"), or None.

    A pen stroke crossing a capitalised word leaves a bar that OCR reads as a capital letter inside
    it; Russian and Kazakh words have none there (except after a hyphen, "Иванова-Петрова")."""
    if len(raw) < 4 or not raw[0].isupper() or sum(c.islower() for c in raw) < 2:
        return None
    inner = [i for i in range(1, len(raw)) if raw[i].isupper() and raw[i - 1] not in _HYPHENS]
    if len(inner) != 1:
        return None
    return raw[:inner[0]] + raw[inner[0] + 1:]


def _variant_rank(form: WordForm) -> int:
    return {"": 0, "undeclined": 1}.get(form.variant, 2)


def _glued(tokens: list[Token], first: int, last: int) -> bool:
    """True when the tokens first..last-1 are separated by at most a couple of characters."""
    return all(tokens[k + 1].start - tokens[k].end <= 2 for k in range(first, last - 1))


# ------------------------------------------------------------------------------------------ search

_LABEL_KEYS = frozenset(word_key(w) for w in (
    "фамилия", "имя", "отчество", "фио", "ф.и.о", "гр", "гражданка", "гражданин", "сотрудник",
    "сотруднице", "тегі", "аты", "әкесінің", "жөні", "аты-жөні", "тегі-аты",
))
_KAZAKH_SUFFIX = r"(?:[гк][ае]|н[ае]|[ндт]ы[нк]|[ндт]и[нк]|[ндт][ыи]|н|н?[дт][ае]|[дтн][ае]н|нд[ае]н|[мбп]ен)?"
_PATRONYMIC_RE = re.compile(
    rf"(?:вич|ьич)(?:а|у|ем|е)?{_KAZAKH_SUFFIX}$|(?:вн|ичн)(?:а|ы|е|у|ои|ою){_KAZAKH_SUFFIX}$"
    rf"|(?:улы|к[ыа]зы|кизи|гызы|оглы|уулу){_KAZAKH_SUFFIX}$"
)
_KAZAKH_MARKER_KEYS = frozenset({"улы", "кызы", "казы", "гызы", "оглы"})


_DAMAGED_PATRONYMIC_RE = re.compile(r"(?:ов|ев|ич)н$|к\w?зы$|\wызы$|кыз$|\w{4}ул$")
_PATRONYMIC_ENDINGS = tuple(
    stem + ending
    for stem, endings in (("ович", ("", "а", "у", "ем", "е")), ("евич", ("", "а", "у", "ем", "е")),
                          ("овн", ("а", "ы", "е", "у", "ои")), ("евн", ("а", "ы", "е", "у", "ои")),
                          ("ичн", ("а", "ы", "е", "у", "ои")), ("кыз", ("ы",)))
    for ending in endings
)


def looks_like_patronymic(key: str) -> bool:
    """True for a folded word shaped like a patronymic (-ович, -овна, -ұлы, -қызы … in any case),
    also with a letter of the ending lost or read as its look-alike ("Ивановн", "Петровнч", "Асхатобны",
    "Қанатқзы"), but not "временной" or "Любови"."""
    if len(key) < 5:
        return False
    if _PATRONYMIC_RE.search(key):
        return True
    if len(key) < 6:
        return False
    if _DAMAGED_PATRONYMIC_RE.search(key):
        return True
    for ending in _PATRONYMIC_ENDINGS:
        tail = key[-len(ending):]
        if Levenshtein.distance(tail, ending, score_cutoff=1) <= 1:
            distance = ocr_distance(ending, tail)
            if distance.hard == 0 and distance.cost <= 0.5:
                return True
    return False


_PATRONYMIC_TAILS = ("ович", "евич", "овна", "евна", "ична")
_SURNAME_ENDINGS = ("ова", "ева", "ина", "ына")


def looks_like_garbled_patronymic(key: str) -> bool:
    """True for a folded word of 7+ letters ending like a patronymic but for two OCR slips
    ("Данилоинч"; not a surname: "Иванова"): read in the patronymic's place after a first name, it is
    a patronymic, and when it is not the applicant's the mention is another person's, not hers without one."""
    if len(key) < 7 or key in _NOT_NAMES or key.endswith(_SURNAME_ENDINGS):
        return False
    return any(key[-1] == tail[-1] and Levenshtein.distance(key[-4:], tail) <= 2 for tail in _PATRONYMIC_TAILS)


@dataclass
class NameOccurrence:
    """One place where the applicant's surname was found, with what surrounds it and the decision."""

    page: int
    start: int
    end: int
    found: str
    pattern: str
    accepted: bool
    score: float = 0.0
    cost: float = 0.0
    hard_edits: int = 0
    reason: str = ""
    parts: dict[str, dict] = field(default_factory=dict)
    # matched | initial | absent | unverified (the request has none) | unread (a word in its place, not hers)
    patronymic: str = "absent"
    exact: bool = False
    # a near miss that names another person in full with the applicant's surname: that person's first
    # name and patronymic (folded; "" when not printed), for deciding whose initials "Иванова М.П." are
    other: Optional[dict[str, str]] = None
    # a near miss whose first name was lost (a stroke, a seal, a line break): the patronymic (folded)
    # printed right after the surname ("Ивановой Петровне"); whose name it was cannot be read
    first_lost: str = ""

    @property
    def case(self) -> str:
        """The grammatical case all matched parts share ("dative"), or "mixed"."""
        part_cases = [set(p["cases"]) for p in self.parts.values() if p.get("cases")]
        if not part_cases:
            return "mixed"
        common = set.intersection(*part_cases)
        for case in CASES + KAZAKH_CASES:
            if case in common:
                return case
        kazakh = [c for cases in part_cases for c in cases if c in KAZAKH_CASES]
        if kazakh and all(c & {"nominative", kazakh[0]} for c in part_cases):
            return kazakh[0]
        return "mixed"


@dataclass
class SurnameHit:
    """The applicant's surname found on a page, whatever surrounds it."""

    page: int
    start: int
    end: int
    cost: float


@dataclass
class GivenNamesHit:
    """The applicant's first name and patronymic read exactly with no surname beside them: hers lost
    (torn off at a line break, under a stroke) or unreadable, no other person's surname read there."""

    page: int
    start: int
    end: int
    found: str


@dataclass
class NameSearch:
    """Every accepted mention of the applicant (best first), the rejected near misses, every place
    the applicant's surname was seen (``surname_hits``, exact ones first) and every place her first
    name and patronymic stand without a surname (``given_names_hits``)."""

    accepted: list[NameOccurrence]
    near_misses: list[NameOccurrence]
    surname_hits: list[SurnameHit] = field(default_factory=list)
    given_names_hits: list[GivenNamesHit] = field(default_factory=list)

    @property
    def best(self) -> Optional[NameOccurrence]:
        return self.accepted[0] if self.accepted else None


class NameMatcher:
    """Finds the applicant's name in prepared pages, in any generated form (see module docstring)."""

    def __init__(self, forms: NameForms):
        self.forms = forms
        self.surname = _PartForms("surname", forms.surname)
        self.first = _PartForms("first", forms.first)
        self.patronymic = _PartForms("patronymic", forms.patronymic) if forms.patronymic else None
        self.first_initials = _initial_keys(forms.first_initial)
        self.patronymic_initials = {k for i in forms.patronymic_initials for k in _initial_keys(i)}
        self.other_gender_surnames = frozenset(word_key(f.text) for f in forms.other_gender_surname) \
            - set(self.surname.forms)

    def search(self, pages: Iterable[PreparedPage]) -> NameSearch:
        """All accepted mentions and near misses over ``pages``, best accepted mention first."""
        accepted: list[NameOccurrence] = []
        misses: list[NameOccurrence] = []
        surnames: list[SurnameHit] = []
        given_names: list[GivenNamesHit] = []
        for page in pages:
            found = self.scan(page, surnames)
            for occurrence in found:
                (accepted if occurrence.accepted else misses).append(occurrence)
            given_names.extend(self._given_names(page, found))
        accepted.sort(key=lambda o: (-o.score, o.page, o.start))
        misses.sort(key=lambda o: (-o.score, o.page, o.start))
        surnames.sort(key=lambda h: (h.cost, h.page, h.start))
        return NameSearch(_dedupe(accepted), _dedupe(misses), surnames, given_names)

    def scan(self, page: PreparedPage, surnames: Optional[list[SurnameHit]] = None) -> list[NameOccurrence]:
        """Every decided mention of the surname on one page; ``surnames`` receives every surname hit."""
        tokens = page.tokens
        out: list[NameOccurrence] = []
        for i, token in enumerate(tokens):
            if not token.is_word:
                continue
            surname = self.surname.hit_at(tokens, i)
            if surname is None or surname.first_token != i:
                continue
            if surnames is not None:
                surnames.append(SurnameHit(page.number, token.start, tokens[surname.last_token - 1].end,
                                           surname.cost))
            for occurrence in (self._after(page, surname), self._before(page, surname)):
                if occurrence is not None:
                    out.append(occurrence)
        return out

    def could_be_applicant(self, page: PreparedPage, start: int, end: int) -> bool:
        """True when every word of the person mention between the offsets is a form of one of the
        applicant's name parts and its initials are hers: a fragment of her own name, not another person.

        A bilingual page read across its two columns tears her name apart ("Есенову Ерланұлына (ЖСН …)
        Жандосу Ерланұлы"): the fragments name nobody else, so a number beside them is hers to claim.
        """
        parts = [part for part in (self.surname, self.first, self.patronymic) if part is not None]
        initials = self.first_initials | self.patronymic_initials
        words = [t for t in page.tokens if start <= t.start and t.end <= end and t.is_word and t.key not in _NOT_NAMES]
        for token in words:
            if token.is_initial or (len(token.raw) == 2 and token.raw.isupper() and token.dotted):
                if not all(letter in initials for letter in token.key):
                    return False
            elif not any(part.match_key(token.key) for part in parts):
                return False
        return bool(words)

    def _given_names(self, page: PreparedPage, mentions: list[NameOccurrence]) -> list[GivenNamesHit]:
        """Her first name and patronymic, both read exactly, outside every mention of her surname, with
        no capitalised word beside them that could be another person's surname ("…доятольност ББ)\n
        Светланы Владимировны в должности": her surname lost at the line's end)."""
        if self.patronymic is None:
            return []
        tokens = page.tokens
        hits: list[GivenNamesHit] = []
        for i, token in enumerate(tokens):
            first = _capitalised(tokens, self.first.hit_at(tokens, i)) if token.is_word else None
            if first is None or first.cost or not _close(tokens, first.last_token, first.last_token):
                continue
            patronymic = self.patronymic.hit_at(tokens, first.last_token)
            if patronymic is None or patronymic.cost:
                continue
            start, end = token.start, tokens[patronymic.last_token - 1].end
            if any(m.start < end and start < m.end for m in mentions):
                continue
            beside = [tokens[k] for k in (i - 1, patronymic.last_token) if 0 <= k < len(tokens)]
            if any(t.capitalised and t.is_word and len(t.key) >= 3 and t.key not in _NOT_NAMES for t in beside):
                continue
            hits.append(GivenNamesHit(page.number, start, end, page.text[start:end]))
        return hits

    # -- patterns

    def _after(self, page: PreparedPage, surname: PartHit) -> Optional[NameOccurrence]:
        tokens = page.tokens
        k = _skip_labels(tokens, surname.last_token)
        if k >= len(tokens):
            return None
        first = self.first.hit_at(tokens, k) if _close(tokens, surname.last_token, k) else None
        if first is not None:
            k2 = _skip_labels(tokens, first.last_token)
            return self._with_patronymic(page, surname, first, k2, "surname first")
        initials = _initials_at(tokens, k)
        if initials:
            return self._initials(page, surname, initials, after=True)
        nxt = tokens[k]
        gap = page.text[tokens[surname.last_token - 1].end:nxt.start]
        adjacent = len(gap) <= 2 or (len(gap) <= 4 and not gap.strip(_SPECKS))
        split = _split_after_capital(tokens, k)
        if split is not None:  # "Г ульназ": one first name torn after its capital
            nxt = Token(nxt.raw + tokens[k + 1].raw, split, nxt.start, tokens[k + 1].end)
            k += 1
        if nxt.capitalised and nxt.is_word and len(nxt.key) >= 3 and adjacent:
            end, patronymic = nxt.end, ""
            if k + 1 < len(tokens) and _close(tokens, k + 1, k + 1) and looks_like_patronymic(tokens[k + 1].key):
                end, patronymic = tokens[k + 1].end, tokens[k + 1].key
            miss = self._miss(page, [surname], tokens[surname.first_token].start, end,
                              "surname first", "first_name_differs")
            # "Ивановой Петровне": the first name lost (a stroke across it), not another person's
            lost_first = looks_like_patronymic(nxt.key)
            if lost_first:
                miss.first_lost = nxt.key
            # "Ли Оль 2, ,": her first name cut short by a stroke, too short to be another's
            cut_short = len(nxt.key) <= CUT_FIRST_NAME_LETTERS and not patronymic and any(
                form.startswith(nxt.key) for form in self.first.forms)
            if (nxt.key not in _NOT_NAMES and not lost_first and not cut_short
                    and not gap.strip(_SPECKS)):
                miss.other = {"first": nxt.key, "patronymic": patronymic}
                found_key = "".join(t.key for t in tokens[surname.first_token:surname.last_token])
                if surname.cost > 0 and found_key in self.other_gender_surnames:
                    miss.other["other_gender"] = "yes"  # "Иванов Сергей" beside the applicant Иванова
            return miss
        return None

    def _before(self, page: PreparedPage, surname: PartHit) -> Optional[NameOccurrence]:
        tokens = page.tokens
        s = surname.first_token
        if s == 0:
            return None
        if self.patronymic is not None:
            patronymic = self.patronymic.hit_ending(tokens, s)
            if patronymic is not None and _close(tokens, patronymic.last_token, s):
                first = _capitalised(tokens, self.first.hit_ending(tokens, patronymic.first_token))
                if first is not None and _close(tokens, first.last_token, patronymic.first_token):
                    return self._decide(page, [first, patronymic, surname], "first patronymic surname")
        if not _close(tokens, s, s):
            return None
        previous = tokens[s - 1]
        if looks_like_patronymic(previous.key) and s >= 2 and _close(tokens, s - 1, s - 1):
            first = _capitalised(tokens, self.first.hit_ending(tokens, s - 1))
            if first is not None:
                if self.patronymic is None:
                    occurrence = self._decide(page, [first, surname], "first patronymic surname")
                    occurrence.patronymic = "unverified"
                    return occurrence
                miss = self._miss(page, [first, surname], tokens[first.first_token].start,
                                  tokens[surname.last_token - 1].end, "first patronymic surname",
                                  "patronymic_differs")
                return self._with_other_patronymic(miss, first.expected_key, previous.key)
            other_first = tokens[s - 2]
            if (previous.capitalised and other_first.capitalised and other_first.is_word
                    and len(other_first.key) >= 3 and other_first.key not in _NOT_NAMES
                    and previous.start - other_first.end <= 2):
                miss = self._miss(page, [surname], other_first.start, tokens[surname.last_token - 1].end,
                                  "first patronymic surname", "first_name_differs")
                miss.other = {"first": other_first.key, "patronymic": previous.key}
                return miss
        first = _capitalised(tokens, self.first.hit_ending(tokens, s))
        if first is not None:
            return self._decide(page, [first, surname], "first surname")
        initials = _initials_ending(tokens, s)
        if initials:
            return self._initials(page, surname, initials, after=False)
        return None

    def _with_patronymic(self, page: PreparedPage, surname: PartHit, first: PartHit, k: int,
                         pattern: str) -> NameOccurrence:
        tokens = page.tokens
        if k < len(tokens) and _close(tokens, first.last_token, k):
            if self.patronymic is not None:
                patronymic = self.patronymic.hit_at(tokens, k)
                if patronymic is not None:
                    return self._decide(page, [surname, first, patronymic], "surname first patronymic")
            nxt = tokens[k]
            marker_next = k + 1 < len(tokens) and tokens[k + 1].key in _KAZAKH_MARKER_KEYS
            if nxt.is_initial and (nxt.dotted or k + 1 >= len(tokens) or not tokens[k + 1].is_initial):
                occurrence = self._decide(page, [surname, first], pattern, extra_end=nxt.end)
                return self._check_patronymic_initial(occurrence, nxt.key, dotted=nxt.dotted)
            garbled = nxt.capitalised and looks_like_garbled_patronymic(nxt.key)
            if looks_like_patronymic(nxt.key) or marker_next or garbled:
                end = tokens[k + 1].end if marker_next else nxt.end
                if self.patronymic is None:
                    occurrence = self._decide(page, [surname, first], pattern, extra_end=end)
                    occurrence.patronymic = "unverified"
                    return occurrence
                miss = self._miss(page, [surname, first], tokens[surname.first_token].start, end,
                                  "surname first patronymic", "patronymic_differs")
                return self._with_other_patronymic(miss, first.expected_key, nxt.key)
            if (self.patronymic is not None and _in_patronymic_place(page, first.last_token, k)
                    and not self.patronymic.resembles(nxt.key)):
                occurrence = self._decide(page, [surname, first], pattern, extra_end=nxt.end)
                occurrence.patronymic = "unread"
                return occurrence
        return self._decide(page, [surname, first], pattern)

    def _with_other_patronymic(self, miss: NameOccurrence, first_key: str, patronymic_key: str) -> NameOccurrence:
        """``miss`` names her first name with the patronymic ``patronymic_key``; ``other["near_hers"]``
        when that patronymic is within ``NEAR_PATRONYMIC_EDITS`` of hers: OCR garbles letters in pairs
        ("Сершкызы" for Серікқызы, "ік" read as one "ш"), so it may be hers damaged."""
        miss.other = {"first": first_key, "patronymic": patronymic_key}
        if self.patronymic is not None and any(
                Levenshtein.distance(expected, patronymic_key, score_cutoff=NEAR_PATRONYMIC_EDITS)
                <= NEAR_PATRONYMIC_EDITS for expected in self.patronymic.forms):
            miss.other["near_hers"] = "yes"
        return miss

    def _check_patronymic_initial(self, occurrence: NameOccurrence, initial_key: str,
                                  dotted: bool = True) -> NameOccurrence:
        """Another patronymic initial makes the mention another person's. Without its dot the letter may
        be what OCR made of a pen stroke ("Тоқтаров Серік С Тоқтаров"): like initials, it then names
        no one for sure (``other["initials"]``, see ``verify.other_person_named``)."""
        if not occurrence.accepted:
            return occurrence
        if not self.patronymic_initials:
            occurrence.patronymic = "unverified"
        elif initial_key in self.patronymic_initials:
            occurrence.patronymic = "initial"
        else:
            occurrence.accepted, occurrence.reason, occurrence.score = False, "patronymic_initial_differs", 0.0
            first_key = occurrence.parts.get("first", {}).get("form", "")
            occurrence.other = {"first": word_key(first_key), "patronymic": initial_key}
            if not dotted:
                occurrence.other["initials"] = "undotted"
        return occurrence

    def _initials(self, page: PreparedPage, surname: PartHit, initials: list[Token],
                  after: bool) -> NameOccurrence:
        tokens = page.tokens
        start = tokens[surname.first_token].start if after else initials[0].start
        end = initials[-1].end + (1 if initials[-1].dotted else 0) if after else tokens[surname.last_token - 1].end
        pattern = "surname initials" if after else "initials surname"
        letters = _initial_letters(initials)
        occurrence = NameOccurrence(page.number, start, end, page.text[start:end], pattern, False,
                                    cost=surname.cost, hard_edits=surname.hard)
        occurrence.parts = {"surname": _part_detail(surname), "initials": {"found": ".".join(letters)}}
        if letters[0] not in self.first_initials:
            occurrence.reason = "initials_differ"
            if not any(frozenset((letters[0], i)) in _LOOKALIKES for i in self.first_initials):
                # a clearly other first initial: a relative ("Иванова А.П."), not an OCR slip
                occurrence.other = {"first": letters[0], "patronymic": letters[1] if len(letters) > 1 else "",
                                    "initials": "yes"}
            return occurrence
        max_cost = min(1.5 if len(letters) > 1 else 1.0, allowance("surname", len(surname.expected_key))[0])
        if surname.cost > max_cost:
            occurrence.reason = "too_many_ocr_errors"
            return occurrence
        found_key = "".join(t.key for t in tokens[surname.first_token:surname.last_token])
        if surname.cost > 0 and found_key in self.other_gender_surnames:
            occurrence.reason = "other_gender_surname"  # "М.П. Иванов" is not "Иванова М.П."
            occurrence.other = {"first": letters[0], "patronymic": letters[1] if len(letters) > 1 else "",
                                "initials": "yes", "other_gender": "yes"}
            return occurrence
        if len(letters) > 1:
            if not self.patronymic_initials:
                occurrence.patronymic = "unverified"
            elif letters[1] in self.patronymic_initials:
                occurrence.patronymic = "initial"
            else:
                occurrence.reason = "initials_differ"
                return occurrence
        occurrence.accepted = True
        factor = 0.9 if len(letters) > 1 or not self.patronymic_initials else 0.8
        length = len(surname.expected_key)
        occurrence.score = round(factor * (1 - surname.cost / max(length, 1)), 4)
        occurrence.exact = surname.cost == 0
        return occurrence

    def _decide(self, page: PreparedPage, hits: list[PartHit], pattern: str,
                extra_end: Optional[int] = None) -> NameOccurrence:
        tokens = page.tokens
        start = tokens[min(h.first_token for h in hits)].start
        end = max(tokens[max(h.last_token for h in hits) - 1].end, extra_end or 0)
        cost = sum(h.cost for h in hits)
        hard = sum(h.hard for h in hits)
        by_part = {h.part: h for h in hits}
        occurrence = NameOccurrence(page.number, start, end, page.text[start:end], pattern, False,
                                    cost=cost, hard_edits=hard)
        occurrence.parts = {h.part: _part_detail(h) for h in hits}
        has_patronymic = "patronymic" in by_part
        if has_patronymic:
            occurrence.patronymic = "matched"
        total_length = sum(len(h.expected_key) for h in hits)
        budget = 1.0 + (1.0 if has_patronymic else 0.0) + 0.5 * (total_length >= 14) + 0.5 * (total_length >= 22)
        if by_part["surname"].hard and by_part["first"].hard:
            occurrence.reason = "ocr_errors_in_surname_and_first_name"
            return occurrence
        if cost > budget:
            occurrence.reason = "too_many_ocr_errors"
            return occurrence
        factor = 1.0 if has_patronymic or self.patronymic is None else 0.95
        occurrence.accepted = True
        occurrence.score = round(factor * (1 - cost / max(total_length, 1)), 4)
        occurrence.exact = cost == 0
        return occurrence

    def _miss(self, page: PreparedPage, hits: list[PartHit], start: int, end: int, pattern: str,
              reason: str) -> NameOccurrence:
        occurrence = NameOccurrence(page.number, start, end, page.text[start:end], pattern, False,
                                    reason=reason, cost=sum(h.cost for h in hits),
                                    hard_edits=sum(h.hard for h in hits))
        occurrence.parts = {h.part: _part_detail(h) for h in hits}
        occurrence.score = round(0.5 * (1 - occurrence.cost / max(sum(len(h.expected_key) for h in hits), 1)), 4)
        return occurrence


_CASE_AMBIGUOUS = frozenset("вкмнопстжзшщхэю")
# what OCR makes of dust and paper texture between two words ("Ахметовой` Диной"): not punctuation
_SPECKS = " \t`'’‘´~^¨"


def _capitalised(tokens: list[Token], hit: Optional[PartHit]) -> Optional[PartHit]:
    """``hit`` when its first word is capitalised (or starts with a letter whose small form looks like
    the capital, which OCR may confuse). A first name before the surname must be: "Справка дана
    Жуковой …" is the verb "дана", not the name Дана."""
    if hit is None:
        return None
    initial = tokens[hit.first_token].raw[:1]
    return hit if initial.isupper() or fold_char(initial) in _CASE_AMBIGUOUS else None


def _part_detail(hit: PartHit) -> dict:
    return {"form": hit.form.text, "case": hit.form.case, "cases": list(hit.cases),
            "variant": hit.form.variant, "found": hit.found, "cost": hit.cost, "hard_edits": hit.hard}


def _close(tokens: list[Token], end: int, start: int, limit: int = 3) -> bool:
    """True when the words from token ``end - 1`` to token ``start`` (labels between them allowed) are
    separated by at most ``limit`` characters each: the parts of one name, not of two sentences."""
    return all(tokens[k + 1].start - tokens[k].end <= limit for k in range(max(end - 1, 0), start)
               if k + 1 < len(tokens))


def _in_patronymic_place(page: PreparedPage, first_end: int, k: int) -> bool:
    """True when token ``k``, right after a first name ending at token ``first_end``, stands where a
    patronymic would: a capitalised word of 5+ letters, nothing but space between them (no comma, no
    line's label), no title or label itself. OCR that garbles a patronymic past recognition
    ("Ивановой Марии\nСариветчы" for "… Сергеевны") leaves such a word: when it does not resemble hers
    either (``_PartForms.resembles``), the mention names her surname and first name and a patronymic
    nobody can read."""
    tokens = page.tokens
    word = tokens[k]
    gap = page.text[tokens[first_end - 1].end:word.start]
    after = page.text[word.end:word.end + 1]
    return (word.capitalised and word.key.isalpha() and len(word.key) >= 5 and not gap.strip(_SPECKS + "\n")
            and word.key not in _NOT_NAMES and word.key not in _LABEL_KEYS and after != ":")


def _skip_labels(tokens: list[Token], k: int, limit: int = 2) -> int:
    skipped = 0
    while k < len(tokens) and skipped < limit and tokens[k].key in _LABEL_KEYS:
        k += 1
        skipped += 1
    return k


# capitals that are whole words at a sentence's start ("В соответствии", "С приказом", "К работе")
_ONE_LETTER_WORDS = frozenset("авикосуя")


def _split_after_capital(tokens: list[Token], k: int) -> Optional[str]:
    """The key of one word that OCR tore after its capital ("Г ульназ": a blot or a stroke's gap read
    as a space), when token ``k`` is a lone undotted capital that is no one-letter word and the next
    token, one space on, is a lower-case fragment of 3+ letters; None otherwise. Such a pair is a first
    name, not an initial and a word."""
    if k + 1 >= len(tokens):
        return None
    capital, rest = tokens[k], tokens[k + 1]
    if not capital.is_initial or capital.dotted or capital.key in _ONE_LETTER_WORDS:
        return None
    if rest.start - capital.end != 1 or not rest.raw.isalpha() or not rest.raw.islower() or len(rest.key) < 3:
        return None
    return capital.key + rest.key


def _initials_at(tokens: list[Token], k: int) -> list[Token]:
    """Initials starting at token ``k``: "М.П.", "М. П.", "М П", "МП." or a single dotted "М."."""
    if k >= len(tokens):
        return []
    token = tokens[k]
    if len(token.raw) == 2 and token.raw.isalpha() and token.raw.isupper() and token.dotted:
        return [token]
    if not token.is_initial:
        return []
    if k + 1 < len(tokens) and tokens[k + 1].is_initial and tokens[k + 1].start - token.end <= 3:
        return [token, tokens[k + 1]]
    return [token] if token.dotted else []


def _initials_ending(tokens: list[Token], end: int) -> list[Token]:
    """Initials just before token ``end`` ("М.П. Иванова", "М. Иванова")."""
    if end < 1:
        return []
    token = tokens[end - 1]
    if len(token.raw) == 2 and token.raw.isalpha() and token.raw.isupper() and token.dotted:
        return [token]
    if not token.is_initial:
        return []
    if end >= 2 and tokens[end - 2].is_initial and token.start - tokens[end - 2].end <= 3:
        return [tokens[end - 2], token]
    return [token] if token.dotted else []


def _initial_letters(initials: list[Token]) -> list[str]:
    if len(initials) == 1 and len(initials[0].raw) == 2:
        return [initials[0].key[0], initials[0].key[1]]
    return [t.key[:1] for t in initials]


def _dedupe(occurrences: list[NameOccurrence]) -> list[NameOccurrence]:
    seen: set[tuple[int, int, int]] = set()
    out = []
    for occurrence in occurrences:
        key = (occurrence.page, occurrence.start, occurrence.end)
        if key not in seen:
            seen.add(key)
            out.append(occurrence)
    return out


# ------------------------------------------------------------------------------------ other people

_SURNAME_SHAPE = re.compile(
    r"(?:ов|ев|ин|ын)(?:а|у|ым|ои|ом|е|ои)?$|(?:ск|цк)(?:ии|ая|ого|ому|им|ои|ую)$|енко$"
    r"|(?:ук|юк)(?:а|у|ом|е)?$|(?:баев|бекова?)\w*$"
)


_NOT_NAMES = frozenset(word_key(w) for w in (
    "директор", "заведующий", "заведующая", "врач", "главный", "главная", "генеральный", "начальник",
    "исполнитель", "исп", "бухгалтер", "менеджер", "специалист", "инспектор", "руководитель", "приказ",
    "справка", "основание", "подпись", "ознакомлен", "ознакомлена", "экономист", "инженер", "дата",
    "место", "работы", "причина", "режим", "тел", "город", "улица", "республики", "казахстан", "казахстана",
    "директоры", "басшы", "дәрігер", "меңгеруші", "орындаған", "негіздеме", "бұйрық", "анықтама",
    "иин", "инн", "жсн", "бин", "бсн", "тоо", "жшс", "ао", "ип",
))


def _inside_quotes(text: str, start: int) -> bool:
    before = text[:start]
    return before.count("«") > before.count("»") or before.count('"') % 2 == 1 \
        or before.count("“") > before.count("”")


def find_person_mentions(page: PreparedPage) -> list[tuple[int, int]]:
    """Spans of text that name some person: "Петров А.Б.", "А.Б. Петров", "Петров Иван Сергеевич",
    "Сейткали Бауыржан Нурланович", "Петров Иван" (surname-shaped first word).

    Capitalised titles ("Заведующий Г.К.") and names in quotes (organisations: «Алтын Дала») are not
    people.
    """
    tokens = page.tokens
    spans: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if not (token.capitalised and token.is_word and len(token.key) >= 2 and not token.is_initial):
            continue
        if token.key in _NOT_NAMES or _inside_quotes(page.text, token.start):
            continue
        initials = _initials_at(tokens, i + 1)
        if initials:
            spans.append((token.start, initials[-1].end))
            continue
        initials = _initials_ending(tokens, i)
        if initials:
            spans.append((initials[0].start, token.end))
            continue
        if i + 1 < len(tokens) and tokens[i + 1].capitalised and tokens[i + 1].is_word \
                and tokens[i + 1].start - token.end <= 2:
            if i + 2 < len(tokens) and looks_like_patronymic(tokens[i + 2].key):
                spans.append((token.start, tokens[i + 2].end))
            elif _SURNAME_SHAPE.search(token.key) and len(token.key) >= 5 and len(tokens[i + 1].key) >= 3:
                spans.append((token.start, tokens[i + 1].end))
    return spans
