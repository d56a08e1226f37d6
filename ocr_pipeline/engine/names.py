"""Expected written forms of an applicant's name, generated from the nominative.

Documents name the applicant declined ("Предоставить Ивановой Марии Петровне", "уволить Иванову
Марию Петровну"), by initials ("Иванова М.П.", "М.П. Иванова"), in Kazakh with a case suffix on the
last word ("Ахметов Нұрлан Серікұлына") and with Kazakh letters or their Russian counterparts. OCR text
is never lemmatised (morphological analysers mis-tag Kazakh names); instead every form the name can
take is generated here and matched against the text by ``matching``.

Rules follow Russian grammar for surnames (-ов/-ев/-ин/-ын, adjectival -ский/-цкий/-ой/-ая, nouns in
-а/-я, undeclinable -ко/-енко/-их/-ых and vowel endings, consonant-final foreign and Kazakh surnames
that decline for men only), first names (Иван, Сергей, Василий, Игорь, Мария, Ольга, Любовь, Айгуль;
consonant-final female names such as Айгүл stay undeclined) and patronymics (-ович/-евич/-ич,
-овна/-евна/-ична; Kazakh -ұлы/-қызы never decline in Russian). Where usage varies, every variant is
generated: generating a spare form costs nothing, missing one rejects a genuine document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .iin import is_female
from .models import Applicant

CASES = ("nominative", "genitive", "dative", "accusative", "instrumental", "prepositional")
KAZAKH_CASES = ("kk_genitive", "kk_dative", "kk_accusative", "kk_locative", "kk_ablative",
                "kk_instrumental")

_VOWELS = set("аеёиоуыэюяәөұүі")
_HUSHING = set("жшчщц")
_VELAR = set("гкх")
_KAZAKH_PATRONYMIC_MARKERS = ("ұлы", "улы", "қызы", "кызы")
_MALE_NAMES_IN_A = {
    "илья", "никита", "кузьма", "фома", "лука", "савва", "иона", "муса", "иса", "яхья", "зосима",
    "данила", "гаврила", "фока", "михаила",
}
_FLEETING_FIRST_NAMES = {"павел": "павл", "лев": "льв"}


@dataclass(frozen=True)
class WordForm:
    """One written form of a name part: ``text`` as printed, its grammatical ``case``, a ``variant`` tag.

    ``variant`` is empty for the standard form; otherwise it says why the form exists
    ("undeclined", "soft_sign", "soft_sign_dropped", "russian_style", "kazakh_style", "separate_word",
    "fleeting_vowel", "kazakh_suffix", "other_gender", "last_part_only").
    """

    text: str
    case: str
    variant: str = ""


@dataclass(frozen=True)
class FullNameForm:
    """A whole written name ("Ивановой Марии Петровне", "Иванова М.П.") with its case and pattern."""

    text: str
    case: str
    pattern: str


@dataclass(frozen=True)
class NameForms:
    """Every form of the applicant's surname, first name and patronymic, plus their initials.

    ``female`` is the gender the forms were generated for (None: unknown, forms of both genders).
    ``patronymic`` is empty when the applicant has none.
    """

    last_name: str
    first_name: str
    second_name: str
    female: bool | None
    surname: tuple[WordForm, ...]
    first: tuple[WordForm, ...]
    patronymic: tuple[WordForm, ...] = ()
    first_initial: str = ""
    patronymic_initials: tuple[str, ...] = ()
    gender_source: str = "iin"
    other_gender_surname: tuple[WordForm, ...] = ()

    @property
    def has_patronymic(self) -> bool:
        return bool(self.patronymic)

    def full_forms(self) -> list[FullNameForm]:
        """Whole-name strings per case: "Фамилия Имя Отчество", "Имя Отчество Фамилия",
        "Фамилия Имя", "Фамилия И.О.", "Фамилия И. О.", "И.О. Фамилия" (standard variants only)."""
        forms: list[FullNameForm] = []
        initials = self.first_initial + "." + (self.patronymic_initials[0] + "." if self.patronymic_initials else "")
        spaced = initials.replace(".", ". ").strip()
        for case in CASES:
            surname = _pick(self.surname, case)
            first = _pick(self.first, case)
            patronymic = _pick(self.patronymic, case) if self.patronymic else None
            if surname is None or first is None:
                continue
            if patronymic:
                forms.append(FullNameForm(f"{surname} {first} {patronymic}", case, "surname first patronymic"))
                forms.append(FullNameForm(f"{first} {patronymic} {surname}", case, "first patronymic surname"))
            forms.append(FullNameForm(f"{surname} {first}", case, "surname first"))
            forms.append(FullNameForm(f"{first} {surname}", case, "first surname"))
            forms.append(FullNameForm(f"{surname} {initials}", case, "surname initials"))
            if " " in spaced:
                forms.append(FullNameForm(f"{surname} {spaced}", case, "surname initials"))
            forms.append(FullNameForm(f"{initials} {surname}", case, "initials surname"))
        seen: set[str] = set()
        unique = []
        for form in forms:
            if form.text not in seen:
                seen.add(form.text)
                unique.append(form)
        return unique


def _pick(forms: tuple[WordForm, ...], case: str) -> str | None:
    for preferred in ("", "undeclined"):
        for form in forms:
            if form.case == case and form.variant == preferred:
                return form.text
    return None


# ------------------------------------------------------------------------------------------ gender

def gender_from_names(last_name: str, first_name: str, second_name: str = "") -> bool | None:
    """Gender from the name's endings (True = female): patronymic first, then surname, then first name.

    None when the endings say nothing (consonant-final Kazakh or Korean names without a patronymic).
    """
    patronymic = _clean(second_name).lower().replace(" ", "")
    if patronymic:
        if patronymic.endswith(("вна", "чна", "қызы", "кызы", "гызы", "кизи")):
            return True
        if patronymic.endswith(("вич", "ич", "ұлы", "улы", "оглы", "уулу")):
            return False
    surname = _clean(last_name).lower().split("-")[-1]
    if surname.endswith(("ова", "ева", "ёва", "ина", "ына", "ская", "цкая", "ая", "яя")):
        return True
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын", "ский", "цкий", "ый", "ой")):
        return False
    first = _clean(first_name).lower().split(" ")[0].split("-")[0]
    if first in _MALE_NAMES_IN_A:
        return False
    if first.endswith(("а", "я")):
        return True
    if first.endswith(("гүл", "гуль", "гул")):
        return True
    return None


def applicant_gender(applicant: Applicant) -> tuple[bool | None, str]:
    """The applicant's gender (True = female) and where it came from: 'iin', 'name' or 'unknown'."""
    from_iin = is_female(applicant.iin) if applicant.iin else None
    if from_iin is not None:
        return from_iin, "iin"
    from_names = gender_from_names(applicant.last_name, applicant.first_name, applicant.second_name)
    if from_names is not None:
        return from_names, "name"
    return None, "unknown"


# ----------------------------------------------------------------------------------------- helpers

def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", (text or "").strip())


def _restyle(original: str, lowered: str) -> str:
    """Give a generated lowercase form the capitalisation style of the nominative it came from."""
    letters = [c for c in original if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return lowered.upper()
    out = lowered[:1].upper() + lowered[1:] if original[:1].isupper() else lowered
    for separator in ("-", " "):
        if re.search(re.escape(separator) + r"\s*[^\W\d_]", original) and re.search(
                re.escape(separator) + r"\s*[^\W\d_a-zа-яёәғқңөұүһі]", original):
            out = re.sub(re.escape(separator) + r"(\s*)(\w)",
                         lambda m: separator + m.group(1) + m.group(2).upper(), out)
    return out


def _noun_a(stem: str) -> dict[str, list[str]]:
    """First declension (-а/-я nouns): Ольга, Никита, Кучма; ``stem`` without the final -а."""
    last = stem[-1:] if stem else ""
    genitive = stem + ("и" if last in _VELAR or last in _HUSHING - {"ц"} else "ы")
    instrumental = [stem + "ой"]
    if last in _HUSHING:
        instrumental.append(stem + "ей")
    return {"genitive": [genitive], "dative": [stem + "е"], "accusative": [stem + "у"],
            "instrumental": instrumental, "prepositional": [stem + "е"]}


def _noun_ya(word: str) -> dict[str, list[str]]:
    """First declension in -я: Мария/Әлия (-ии), Дарья/Илья/Таня (-и, -е)."""
    stem = word[:-1]
    if word.endswith("ия"):
        # "Алие", "Марие": non-standard but common for Kazakh/Arabic names in -ия
        return {"genitive": [stem + "и"], "dative": [stem + "и", stem + "е"], "accusative": [stem + "ю"],
                "instrumental": [stem + "ей"], "prepositional": [stem + "и", stem + "е"]}
    return {"genitive": [stem + "и"], "dative": [stem + "е"], "accusative": [stem + "ю"],
            "instrumental": [stem + "ей", stem + "ёй"], "prepositional": [stem + "е"]}


def _noun_masculine(word: str) -> dict[str, list[str]]:
    """Second declension, masculine: Иван, Нұрлан, Шевчук, Ким; Игорь, Сергей, Цой (-ь, -й)."""
    if word[-1] in "ьй":
        stem = word[:-1]
        return {"genitive": [stem + "я"], "dative": [stem + "ю"], "accusative": [stem + "я"],
                "instrumental": [stem + "ем"], "prepositional": [stem + "е"]}
    instrumental = [word + "ом"]
    if word[-1] in _HUSHING:
        instrumental.insert(0, word + "ем")
    return {"genitive": [word + "а"], "dative": [word + "у"], "accusative": [word + "а"],
            "instrumental": instrumental, "prepositional": [word + "е"]}


def _forms(nominative: str, table: dict[str, list[str]], variant: str = "") -> list[tuple[str, str, str]]:
    out = [("nominative", nominative, variant)]
    for case in CASES[1:]:
        for text in table.get(case, []):
            out.append((case, text, variant))
    return out


def _undeclined(word: str, variant: str = "undeclined") -> list[tuple[str, str, str]]:
    return [(case, word, variant if case != "nominative" else "") for case in CASES]


# ----------------------------------------------------------------------------------------- surname

def _surname_word(word: str, female: bool) -> list[tuple[str, str, str]]:
    """Case forms of one (hyphen-free) lowercase surname word."""
    if len(word) < 2:
        return _undeclined(word)
    if female:
        if word.endswith(("ова", "ева", "ёва", "ина", "ына")) and len(word) > 4:
            stem = word[:-1]
            table = {c: [stem + "ой"] for c in ("genitive", "dative", "instrumental", "prepositional")}
            table["accusative"] = [stem + "у"]
            return _forms(word, table)
        if word.endswith("ая") and len(word) > 3:
            stem = word[:-2]
            table = {c: [stem + "ой"] for c in ("genitive", "dative", "instrumental", "prepositional")}
            table["accusative"] = [stem + "ую"]
            return _forms(word, table)
        if word.endswith("яя") and len(word) > 3:
            stem = word[:-2]
            table = {c: [stem + "ей"] for c in ("genitive", "dative", "instrumental", "prepositional")}
            table["accusative"] = [stem + "юю"]
            return _forms(word, table)
        if word.endswith("а") and len(word) > 2 and word[-2] not in _VOWELS:
            return _forms(word, _noun_a(word[:-1])) + _undeclined(word)
        if word.endswith("я") and len(word) > 2:
            return _forms(word, _noun_ya(word)) + _undeclined(word)
        return _undeclined(word)
    # short -ин surnames (Korean Шин, Мин) are declined both ways by clerks: Шиным and Шином
    if word.endswith(("ов", "ев", "ёв", "ин", "ын")) and (len(word) > 3 or word.endswith(("ин", "ын"))):
        table = {"genitive": [word + "а"], "dative": [word + "у"], "accusative": [word + "а"],
                 "instrumental": [word + "ым"], "prepositional": [word + "е"]}
        if word.endswith(("ин", "ын")):
            table["instrumental"].append(word + "ом")
        return _forms(word, table)
    if word.endswith(("их", "ых")) and len(word) > 3:
        return _undeclined(word)
    if word.endswith(("ий", "ый")) or (word.endswith("ой") and len(word) > 3):
        stem = word[:-2]
        soft = word.endswith("ий") and stem[-1:] not in _VELAR | _HUSHING and not stem.endswith(("ск", "цк"))
        if soft:
            table = {"genitive": [stem + "его"], "dative": [stem + "ему"], "accusative": [stem + "его"],
                     "instrumental": [stem + "им"], "prepositional": [stem + "ем"]}
        else:
            narrow = stem[-1:] in _VELAR | _HUSHING or word.endswith("ий")
            table = {"genitive": [stem + "ого"], "dative": [stem + "ому"], "accusative": [stem + "ого"],
                     "instrumental": [stem + ("им" if narrow else "ым")], "prepositional": [stem + "ом"]}
            if stem[-1:] in _HUSHING:
                for case, ending in (("genitive", "его"), ("dative", "ему"), ("accusative", "его"),
                                     ("prepositional", "ем")):
                    table[case].append(stem + ending)
        return _forms(word, table)
    last = word[-1]
    if last == "а" and word[-2] not in _VOWELS:
        return _forms(word, _noun_a(word[:-1])) + _undeclined(word)
    if last == "я" and len(word) > 2:
        return _forms(word, _noun_ya(word)) + _undeclined(word)
    if last in _VOWELS:
        return _undeclined(word)
    out = _forms(word, _noun_masculine(word))
    if word.endswith("ец") and len(word) > 4:
        out += [(c, t, "fleeting_vowel") for c, t, _ in _forms(word, _noun_masculine(word[:-2] + "ц"))[1:]]
    return out


def decline_surname(surname: str, female: bool | None) -> list[WordForm]:
    """Every case form of ``surname`` for the gender (None: both genders).

    A double-barrelled surname declines part by part ("Иванова-Петрова" -> "Ивановой-Петровой"); the
    variant with only the last part declined ("Бонч-Бруевича") is generated too.
    """
    return _decline_words(_clean(surname), female, _surname_word, last_part_only=True)


def _decline_words(name: str, female: bool | None, decline_word, last_part_only: bool) -> list[WordForm]:
    """Case forms of a cleaned one- or multi-word ``name``, each word declined by ``decline_word``.

    With ``last_part_only`` a multi-word name also gets the form with only its last word declined.
    """
    if not name:
        return []
    genders = [female] if female is not None else [True, False]
    parts = re.split(r"(\s*-\s*|\s+)", name.lower())
    words, separators = parts[0::2], parts[1::2]
    collected: list[WordForm] = []
    for index, gender in enumerate(genders):
        gender_tag = "other_gender" if female is None and index == 1 else ""
        per_word = [decline_word(w, gender) for w in words]
        for case in CASES:
            if len(words) == 1:
                for c, text, variant in per_word[0]:
                    if c == case:
                        collected.append(WordForm(_restyle(name, text), case, gender_tag or variant))
                continue
            choices = [[t for c, t, v in forms if c == case and v in ("", "undeclined")] or [w]
                       for forms, w in zip(per_word, words)]
            for combo in _product(choices):
                collected.append(WordForm(_restyle(name, _join(combo, separators)), case, gender_tag))
            if last_part_only:
                last_only = list(words[:-1]) + [choices[-1][0]]
                collected.append(WordForm(_restyle(name, _join(last_only, separators)), case, "last_part_only"))
    return _unique(collected)


def _opposite_gender_word(word: str, female: bool) -> list[str]:
    if female:
        if word.endswith(("ова", "ева", "ёва", "ина", "ына")) and len(word) > 4:
            return [word[:-1]]
        if word.endswith(("ская", "цкая")):
            return [word[:-2] + "ий"]
        if word.endswith("ая") and len(word) > 3:
            return [word[:-2] + "ой", word[:-2] + "ый"]
        return []
    if word.endswith(("ов", "ев", "ёв", "ин", "ын")) and len(word) > 3:
        return [word + "а"]
    if word.endswith(("ий", "ый", "ой")) and len(word) > 3:
        return [word[:-2] + "ая"]
    return []


def opposite_gender_surname(surname: str, female: bool) -> list[WordForm]:
    """Case forms of the same family name for the other gender ("Иванова" -> "Иванов", "Иванова" …).

    A husband or brother shares the family name in its other-gender form; "М.П. Иванов" must not pass
    as "Иванова М.П." with one letter lost to OCR. Only forms that differ from the applicant's own are
    returned (Ким, Петренко: none).
    """
    lowered = _clean(surname).lower()
    parts = re.split(r"(\s*-\s*|\s+)", lowered)
    words, separators = parts[0::2], parts[1::2]
    alternatives = [_opposite_gender_word(w, female) or [w] for w in words]
    own = {f.text.lower() for f in decline_surname(surname, female)}
    out: list[WordForm] = []
    for combo in _product(alternatives):
        nominative = _join(combo, separators)
        if nominative == lowered:
            continue
        for form in decline_surname(nominative, not female):
            if form.text.lower() not in own:
                out.append(WordForm(_restyle(surname, form.text.lower()), form.case, "other_gender"))
    return _unique(out)


def _product(choices: list[list[str]]) -> list[list[str]]:
    combos: list[list[str]] = [[]]
    for options in choices:
        combos = [c + [o] for c in combos for o in dict.fromkeys(options)]
    return combos[:16]


def _join(words: list[str], separators: list[str]) -> str:
    out = words[0]
    for sep, word in zip(separators, words[1:]):
        out += ("-" if "-" in sep else " ") + word
    return out


def _unique(forms: list[WordForm]) -> list[WordForm]:
    seen: dict[tuple[str, str], WordForm] = {}
    for form in forms:
        key = (form.case, form.text)
        if key not in seen or (seen[key].variant and not form.variant):
            seen[key] = form
    return list(seen.values())


# -------------------------------------------------------------------------------------- first name

def _first_name_word(word: str, female: bool) -> list[tuple[str, str, str]]:
    if len(word) < 2:
        return _undeclined(word)
    last = word[-1]
    if female or word in _MALE_NAMES_IN_A:
        if word.endswith("я"):
            return _forms(word, _noun_ya(word)) + _undeclined(word)
        if last == "а":
            return _forms(word, _noun_a(word[:-1])) + _undeclined(word)
        if not female:
            return _forms(word, _noun_masculine(word))
        if last == "ь":
            stem = word[:-1]
            table = {"genitive": [stem + "и"], "dative": [stem + "и"], "accusative": [word],
                     "instrumental": [word + "ю"], "prepositional": [stem + "и"]}
            return (_forms(word, table) + _undeclined(word)
                    + [(c, stem, "soft_sign_dropped") for c in CASES])
        if last == "л":
            soft = word + "ь"
            table = {"genitive": [word + "и"], "dative": [word + "и"], "accusative": [soft],
                     "instrumental": [soft + "ю"], "prepositional": [word + "и"]}
            return _undeclined(word) + [(c, t, "soft_sign") for c, t, _ in _forms(soft, table)]
        return _undeclined(word)
    if word in _FLEETING_FIRST_NAMES:
        stem = _FLEETING_FIRST_NAMES[word]
        table = _noun_masculine(stem)
        table.pop("nominative", None)
        return _forms(word, table)
    if word.endswith("ий"):
        stem = word[:-1]
        table = {"genitive": [stem + "я"], "dative": [stem + "ю"], "accusative": [stem + "я"],
                 "instrumental": [stem + "ем"], "prepositional": [stem + "и"]}
        return _forms(word, table)
    if word.endswith("я"):
        return _forms(word, _noun_ya(word)) + _undeclined(word)
    if last == "а":
        return _forms(word, _noun_a(word[:-1])) + _undeclined(word)
    if last in _VOWELS:
        return _undeclined(word)
    return _forms(word, _noun_masculine(word))


def decline_first_name(first_name: str, female: bool | None) -> list[WordForm]:
    """Every case form of a first name (each word of a two-word or hyphenated name declines)."""
    return _decline_words(_clean(first_name), female, _first_name_word, last_part_only=False)


# -------------------------------------------------------------------------------------- patronymic

def split_kazakh_patronymic(patronymic: str) -> tuple[str, str] | None:
    """("серік", "қызы") for "Серікқызы" or "Серік қызы"; None for a patronymic of another kind."""
    lowered = _clean(patronymic).lower()
    for marker in _KAZAKH_PATRONYMIC_MARKERS:
        if lowered.endswith(marker) and len(lowered) > len(marker) + 1:
            father = lowered[: -len(marker)].rstrip(" -")
            return father, marker
    return None


def _russian_patronymic_from_father(father: str, female: bool) -> str:
    if father[-1] == "й" or father[-1] == "ь":
        stem, suffix = father[:-1], "ев"
    elif father[-1] in _HUSHING or father[-1] in _VOWELS:
        stem, suffix = father, "ев"
    else:
        stem, suffix = father, "ов"
    return stem + suffix + ("на" if female else "ич")


def _russian_patronymic_word(word: str) -> list[tuple[str, str, str]]:
    if word.endswith("ич"):
        return _forms(word, {"genitive": [word + "а"], "dative": [word + "у"], "accusative": [word + "а"],
                             "instrumental": [word + "ем"], "prepositional": [word + "е"]})
    if word.endswith("на"):
        return _forms(word, _noun_a(word[:-1]))
    return _undeclined(word)


def decline_patronymic(patronymic: str, female: bool | None = None) -> list[WordForm]:
    """Every case form of a patronymic.

    Russian -ович/-евич/-ич and -овна/-евна/-ична decline; Kazakh -ұлы/-қызы do not (in Russian
    text), are also written as two words ("Серік қызы"), and a Kazakh patronymic may be printed in the
    Russian style ("Серікқызы" -> "Сериковна") and the other way round ("Маратовна" -> "Марат қызы").
    """
    name = _clean(patronymic)
    if not name:
        return []
    lowered = name.lower()
    collected: list[WordForm] = []
    kazakh = split_kazakh_patronymic(lowered)
    if kazakh:
        father, marker = kazakh
        joined, separate = father + marker, f"{father} {marker}"
        for case in CASES:
            variant = "" if case == "nominative" else "undeclined"
            collected.append(WordForm(_restyle(name, joined), case, variant))
            collected.append(WordForm(_restyle(name, separate), case, "separate_word"))
        if " " not in father and len(father) > 1:
            russian = _russian_patronymic_from_father(father, marker in ("қызы", "кызы"))
            collected += [WordForm(_restyle(name, t), c, "russian_style")
                          for c, t, _ in _russian_patronymic_word(russian)]
        return _unique(collected)
    collected += [WordForm(_restyle(name, t), c, v) for c, t, v in _russian_patronymic_word(lowered)]
    father_match = re.fullmatch(r"(.+[^аеёиоуыэюяйь])ов(ич|на)", lowered)
    if father_match and len(father_match.group(1)) > 1:
        father = father_match.group(1)
        marker = "қызы" if father_match.group(2) == "на" else "ұлы"
        for case in CASES:
            collected.append(WordForm(_restyle(name, father + marker), case, "kazakh_style"))
            collected.append(WordForm(_restyle(name, f"{father} {marker}"), case, "kazakh_style"))
    return _unique(collected)


# ---------------------------------------------------------------------------------- Kazakh suffixes

_BACK_VOWELS = set("аоұыяуёю")
_FRONT_VOWELS = set("әөүіеэи")
_NASALS = set("мнң")
_SONORANTS = set("лрйуwзж")


def kazakh_case_forms(word: str) -> list[WordForm]:
    """Kazakh case forms of the last word of a name: "Серікұлы" -> "Серікұлына", "Иванова" -> "Ивановаға".

    Kazakh declines a whole name by a suffix on its last word, chosen by vowel harmony and the final
    sound; after the possessive -ұлы/-қызы the suffixes take an -н- ("Серікқызына", "Серікұлының").
    """
    text = _clean(word)
    lowered = text.lower()
    if len(lowered) < 2:
        return []
    if not _KAZAKH_LETTERS.intersection(lowered):
        # a Russian spelling of a Kazakh name (Айгуль for Айгүл, Куаныш for Қуаныш) hides the vowel
        # harmony and may carry a soft sign the Kazakh spelling lacks: generate every reading
        spellings = {lowered, lowered.rstrip("ь")} - {""}
        return _unique([form for spelling in sorted(spellings) for back in (True, False)
                        for form in _kazakh_suffixed(text, spelling, back)])
    vowels = [c for c in lowered if c in _BACK_VOWELS or c in _FRONT_VOWELS]
    return _kazakh_suffixed(text, lowered, not vowels or vowels[-1] in _BACK_VOWELS)


_KAZAKH_LETTERS = frozenset("әғқңөұүһі")


def _kazakh_suffixed(text: str, lowered: str, back: bool) -> list[WordForm]:
    """The six Kazakh case forms of ``lowered`` with back (``back``) or front vowel harmony."""
    last = lowered[-1]
    joined = lowered.replace(" ", "")

    def pick(back_form: str, front_form: str) -> str:
        return back_form if back else front_form

    if joined.endswith(_KAZAKH_PATRONYMIC_MARKERS):
        suffixes = {"kk_genitive": pick("ның", "нің"), "kk_dative": pick("на", "не"),
                    "kk_accusative": "н", "kk_locative": pick("нда", "нде"),
                    "kk_ablative": pick("нан", "нен"), "kk_instrumental": "мен"}
    elif last in _BACK_VOWELS or last in _FRONT_VOWELS:
        suffixes = {"kk_genitive": pick("ның", "нің"), "kk_dative": pick("ға", "ге"),
                    "kk_accusative": pick("ны", "ні"), "kk_locative": pick("да", "де"),
                    "kk_ablative": pick("дан", "ден"), "kk_instrumental": "мен"}
    elif last in _NASALS:
        suffixes = {"kk_genitive": pick("ның", "нің"), "kk_dative": pick("ға", "ге"),
                    "kk_accusative": pick("ды", "ді"), "kk_locative": pick("да", "де"),
                    "kk_ablative": pick("нан", "нен"), "kk_instrumental": "бен"}
    elif last in _SONORANTS:
        suffixes = {"kk_genitive": pick("дың", "дің"), "kk_dative": pick("ға", "ге"),
                    "kk_accusative": pick("ды", "ді"), "kk_locative": pick("да", "де"),
                    "kk_ablative": pick("дан", "ден"),
                    "kk_instrumental": "бен" if last in "зж" else "мен"}
    else:
        suffixes = {"kk_genitive": pick("тың", "тің"), "kk_dative": pick("қа", "ке"),
                    "kk_accusative": pick("ты", "ті"), "kk_locative": pick("та", "те"),
                    "kk_ablative": pick("тан", "тен"), "kk_instrumental": "пен"}
    return [WordForm(_restyle(text, lowered + suffix), case, "kazakh_suffix")
            for case, suffix in suffixes.items()]


# --------------------------------------------------------------------------------------- applicant

def _initial(word: str) -> str:
    letters = [c for c in word if c.isalpha()]
    return letters[0].upper() if letters else ""


_KAZAKH_VOWELS_SPELT_U = 3  # at most this many of a name's "у" are tried as "ө" (2**3 - 1 spellings)


def kazakh_spellings(name: str) -> list[str]:
    """The Kazakh spellings of a Russian-spelled name that the folded alphabet does not already equate.

    Folding maps Kazakh letters to their usual Russian counterparts (ө→о, ұ/ү→у, ә→а …), but Russian
    paperwork also writes ө as "у" (Тулегенова for Төлегенова, Утеген for Өтеген, Кушербаев for
    Көшербаев): each "у" of the request's spelling may be a document's ө. It also writes the Kazakh
    "йы"/"йі" after a vowel as "и" and, in such a name, an initial "Ы" as "И" (Исмаилов for Ысмайылов,
    Нурпеисов for Нұрпейісов, Каиров for Қайыров).
    """
    bases = [name] + _kazakh_y_spellings(name)
    return bases[1:] + [spelling for base in bases for spelling in _kazakh_o_spellings(base)]


def _kazakh_y_spellings(name: str) -> list[str]:
    if not re.search(r"[аеёоуэюя]и", name):
        return []
    spellings = []
    for vowel in ("ы", "і"):
        spelt = re.sub(r"(?<=[аеёоуэюя])и", "й" + vowel, name)
        spellings.append(spelt)
        if spelt.startswith("И"):
            spellings.append("Ы" + spelt[1:])
    return spellings


def _kazakh_o_spellings(name: str) -> list[str]:
    positions = [i for i, c in enumerate(name) if c in "уУ"][:_KAZAKH_VOWELS_SPELT_U]
    spellings = []
    for chosen in range(1, 2 ** len(positions)):
        letters = list(name)
        for bit, i in enumerate(positions):
            if chosen >> bit & 1:
                letters[i] = "Ө" if letters[i].isupper() else "ө"
        spellings.append("".join(letters))
    return spellings


def name_forms(last_name: str, first_name: str, second_name: str = "",
               female: bool | None = None, gender_source: str = "given") -> NameForms:
    """All forms of a name given in the nominative, for ``female`` (None: both genders)."""
    last_name, first_name, second_name = _clean(last_name), _clean(first_name), _clean(second_name)
    surname = decline_surname(last_name, female) + [
        WordForm(f.text, f.case, "kazakh_spelling") for spelling in kazakh_spellings(last_name)
        for f in decline_surname(spelling, female) + kazakh_case_forms(spelling)]
    first = decline_first_name(first_name, female) + [
        WordForm(f.text, f.case, "kazakh_spelling") for spelling in kazakh_spellings(first_name)
        for f in decline_first_name(spelling, female)]
    patronymic = decline_patronymic(second_name, female)
    last_word = second_name or first_name
    kazakh = kazakh_case_forms(last_word) if last_word else []
    if second_name:
        patronymic = _unique(patronymic + kazakh + [f for v in patronymic if v.variant == "russian_style"
                                                     and v.case == "nominative"
                                                     for f in kazakh_case_forms(v.text)])
    # Kazakh texts often drop the patronymic and put the case suffix on the first name ("Айгүлге")
    first = _unique(first + (kazakh if not second_name else kazakh_case_forms(first_name) if first_name else []))
    surname = _unique(surname + kazakh_case_forms(last_name))
    patronymic_initials: list[str] = []
    for form in patronymic:
        if form.case == "nominative":
            initial = _initial(form.text)
            if initial and initial not in patronymic_initials:
                patronymic_initials.append(initial)
    other_gender = opposite_gender_surname(last_name, female) if female is not None and last_name else []
    return NameForms(last_name=last_name, first_name=first_name, second_name=second_name, female=female,
                     surname=tuple(surname), first=tuple(first), patronymic=tuple(patronymic),
                     first_initial=_initial(first_name), patronymic_initials=tuple(patronymic_initials),
                     gender_source=gender_source, other_gender_surname=tuple(other_gender))


def forms_for_applicant(applicant: Applicant) -> NameForms:
    """All forms of the applicant's name, for the gender the IIN gives (or the name's endings).

    When the name's endings clearly contradict the IIN's gender (a data-entry slip in one of them),
    the forms of both genders are generated rather than trusting either side blindly.
    """
    female, source = applicant_gender(applicant)
    if source == "iin":
        by_names = gender_from_names(applicant.last_name, applicant.first_name, applicant.second_name)
        if by_names is not None and by_names != female:
            female, source = None, "iin_conflicts_with_name"
    return name_forms(applicant.last_name, applicant.first_name, applicant.second_name, female, source)
