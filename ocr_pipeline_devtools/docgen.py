"""Realistic test documents for the engine: people, employers, rendered pages, degradations, PDFs.

Everything is deterministic for a given ``seed``. Dependencies: Pillow, numpy, OpenCV and pypdfium2
(only for the text-layer PDF); nothing of the engine except ``iin.checksum_digit`` and, to keep a negative
case from naming the applicant in another spelling, the engine's name variants (``spelling_variant``).

People and their names in every grammatical case are written out by hand (``PEOPLE``, ``RELATIVES``,
``OTHER_PATRONYMIC``): the tests must not derive the expected forms with the code they test.

Typical use::

    person = PEOPLE["ivanova"]
    page = render_document("maternity_order", person, name_case="dat", seed=7)
    upload = degrade(page, "photo", seed=7)             # bytes, as the mobile app would send them
    verdict = verify_document(upload, person.applicant())

Document types (``DOC_TYPES``): ``maternity_order``, ``childcare_order``, ``sick_leave``,
``employment_certificate``, ``dismissal_order``, ``maternity_order_kk`` and
``employment_certificate_kk`` (bilingual Kazakh/Russian), plus ``announcement`` and ``cover_letter``
which name no employee (``person`` may be None).

Name cases (``NAME_CASES``): ``nom``, ``gen``, ``dat``, ``acc``, ``ins`` (full name declined),
``initials`` ("Иванова М.П."), ``initials_dat`` ("Ивановой М.П.") and ``initials_before``
("М.П. Иванова"). The employee is mentioned exactly once in the Russian text, in that form, so a test
of a case is a test of that case; bilingual documents add one Kazakh mention (``Person.kk_dat``).

Degradations (``DEGRADATIONS``, see ``degrade``): ``clean``, ``scan``, ``skew`` / ``skew+`` /
``skew-`` / ``skew:<degrees>``, ``rot90``, ``rot180``, ``rot270``, ``photo``, ``photo_exif``,
``dpi150``, ``unreadable``; harder ones (``HARD_DEGRADATIONS``): ``photo_hard`` (a hard phone photo at
110-135 DPI effective) and ``scan_multi`` (a page of a cheap multi-page scan).

Generated people and richer cases (the yardstick the evaluation uses beside the hand-written table):
``random_person`` / ``relative_of`` / ``make_person`` draw Russian, Kazakh, Tatar, Ukrainian and Korean
names (double surnames, ё/е and Kazakh/Russian spellings, OCR-confusable patronymics) with IINs whose
7th digit agrees with the gender; their declined forms come from the independent inflector ``pytrovich``
(``declined_forms``) plus hand-written rules for Kazakh patronymics and names, never from the engine.
``make_case(group, seed)`` builds a ``CaseSpec`` (who the document is about, whose request it is,
how the person is named: full name in the body, initials in an acknowledgement line, a table cell, CAPS,
broken over two lines; relatives named in full; seals and pen strokes over the name) with the expected
verdict and error code known by construction; ``render_case(spec)`` returns its pages::

    case = make_case("initials_of_other_person", seed=3)    # a sister's order: must be rejected
    pages = render_case(case)
    upload = degrade(pages[0], "photo_hard", seed=3)
    verdict = verify_document(upload, case.applicant.applicant())   # expect case.expected
"""

from __future__ import annotations

import ctypes
import datetime as dt
import io
import math
import random
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Iterable, Optional, Sequence, Union

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ocr_pipeline.engine.iin import checksum_digit
from ocr_pipeline.engine.models import Applicant

DPI = 300
A4_PX = (2480, 3508)
BREAK = "\u23ce"  # a word of its own in a paragraph's text: end the line there

FONT_FILES = {
    "Liberation Serif": (
        "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
        "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
    ),
    "Liberation Sans": (
        "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf",
    ),
    "DejaVu Serif": (
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    ),
    "DejaVu Sans": (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
}

DOC_TYPES = (
    "maternity_order",
    "childcare_order",
    "sick_leave",
    "employment_certificate",
    "dismissal_order",
    "maternity_order_kk",
    "employment_certificate_kk",
)
NO_PERSON_DOC_TYPES = ("announcement", "cover_letter")

# The engine's ``DocumentType`` value each generated type should be classified as.
ENGINE_DOCUMENT_TYPE = {
    "maternity_order": "maternity_leave_order",
    "maternity_order_kk": "maternity_leave_order",
    "childcare_order": "childcare_leave_order",
    "sick_leave": "sick_leave_certificate",
    "employment_certificate": "employment_certificate",
    "employment_certificate_kk": "employment_certificate",
    "dismissal_order": "dismissal_order",
    "announcement": "other",
    "cover_letter": "other",
}

NAME_CASES = ("nom", "gen", "dat", "acc", "ins", "initials", "initials_dat", "initials_before")
# The grammatical case of the sentence a name case is written into.
_SENTENCE_CASE = {
    "nom": "nom", "gen": "gen", "dat": "dat", "acc": "acc", "ins": "ins",
    "initials": "nom", "initials_dat": "dat", "initials_before": "nom",
}

DEGRADATIONS = (
    "clean", "scan", "skew+", "skew-", "rot90", "rot180", "rot270", "photo", "photo_exif", "dpi150",
)
HARD_DEGRADATIONS = ("photo_hard", "scan_multi")


# --------------------------------------------------------------------------------------------- people

def complete_iin(first11: str) -> str:
    """Append the control digit to 11 digits (IIN and BIN share the algorithm)."""
    control = checksum_digit(first11)
    if control is None:
        raise ValueError(f"{first11}: no valid control digit, pick another serial number")
    return first11 + str(control)


@dataclass(frozen=True)
class Person:
    """A test person: the nominative name, an IIN and hand-written forms of the full name.

    ``forms`` maps ``nom``, ``gen``, ``dat``, ``acc``, ``ins`` and ``initials`` to the name as printed;
    ``kk_dat`` is the Kazakh dative used in bilingual documents ("Ахметов Нұрлан Серікұлына").
    ``event_name`` overrides the name the mobile app sends (e.g. "Елкина" for "Ёлкина").
    """

    key: str
    iin: str
    forms: dict
    kk_dat: str
    event_name: Optional[tuple[str, str, str]] = None

    @property
    def last_name(self) -> str:
        return self.forms["nom"].split()[0]

    @property
    def first_name(self) -> str:
        return self.forms["nom"].split()[1]

    @property
    def second_name(self) -> str:
        parts = self.forms["nom"].split()
        return parts[2] if len(parts) > 2 else ""

    @property
    def female(self) -> bool:
        return int(self.iin[6]) % 2 == 0

    def applicant(self) -> Applicant:
        """The request the mobile app would send for this person."""
        last, first, second = self.event_name or (self.last_name, self.first_name, self.second_name)
        return Applicant(iin=self.iin, last_name=last, first_name=first, second_name=second)

    def mention(self, name_case: str) -> str:
        """The name as printed in a document for one of ``NAME_CASES``."""
        if name_case in self.forms:
            return self.forms[name_case]
        letters = self.forms["initials"].split(" ", 1)[1]
        if name_case == "initials_dat":
            return f"{self.forms['dat'].split()[0]} {letters}"
        if name_case == "initials_before":
            return f"{letters} {self.last_name}"
        raise ValueError(f"unknown name case {name_case!r}")


def _person(key: str, first11: str, nom: str, gen: str, dat: str, acc: str, ins: str, initials: str,
            kk_dat: str, event_name: Optional[tuple[str, str, str]] = None) -> Person:
    forms = {"nom": nom, "gen": gen, "dat": dat, "acc": acc, "ins": ins, "initials": initials}
    return Person(key, complete_iin(first11), forms, kk_dat, event_name)


_PEOPLE_LIST = [
    _person("ivanova", "96012540012", "Иванова Мария Петровна", "Ивановой Марии Петровны",
            "Ивановой Марии Петровне", "Иванову Марию Петровну", "Ивановой Марией Петровной",
            "Иванова М.П.", "Иванова Мария Петровнаға"),
    _person("petrenko", "88071430015", "Петренко Олег Викторович", "Петренко Олега Викторовича",
            "Петренко Олегу Викторовичу", "Петренко Олега Викторовича", "Петренко Олегом Викторовичем",
            "Петренко О.В.", "Петренко Олег Викторовичке"),
    _person("zharmaganbetova", "93110240023", "Жармағанбетова Әлия Серікқызы",
            "Жармағанбетовой Әлии Серікқызы", "Жармағанбетовой Әлие Серікқызы",
            "Жармағанбетову Әлию Серікқызы", "Жармағанбетовой Әлией Серікқызы",
            "Жармағанбетова Ә.С.", "Жармағанбетова Әлия Серікқызына"),
    _person("akhmetov", "90030830042", "Ахметов Нұрлан Серікұлы", "Ахметова Нұрлана Серікұлы",
            "Ахметову Нұрлану Серікұлы", "Ахметова Нұрлана Серікұлы", "Ахметовым Нұрланом Серікұлы",
            "Ахметов Н.С.", "Ахметов Нұрлан Серікұлына"),
    _person("suleimenova", "95061940031", "Сулейменова Айгүль Маратовна", "Сулейменовой Айгүли Маратовны",
            "Сулейменовой Айгүли Маратовне", "Сулейменову Айгүль Маратовну",
            "Сулейменовой Айгүлью Маратовной", "Сулейменова А.М.", "Сулейменова Айгүль Маратовнаға"),
    _person("bekmukhambetov", "87123030009", "Бекмұхамбетов Дәурен Асқарұлы",
            "Бекмұхамбетова Дәурена Асқарұлы", "Бекмұхамбетову Дәурену Асқарұлы",
            "Бекмұхамбетова Дәурена Асқарұлы", "Бекмұхамбетовым Дәуреном Асқарұлы",
            "Бекмұхамбетов Д.А.", "Бекмұхамбетов Дәурен Асқарұлына"),
    _person("kim", "91090540050", "Ким Ольга Владимировна", "Ким Ольги Владимировны",
            "Ким Ольге Владимировне", "Ким Ольгу Владимировну", "Ким Ольгой Владимировной",
            "Ким О.В.", "Ким Ольга Владимировнаға"),
    _person("smirnov", "84021730061", "Смирнов Алексей Николаевич", "Смирнова Алексея Николаевича",
            "Смирнову Алексею Николаевичу", "Смирнова Алексея Николаевича",
            "Смирновым Алексеем Николаевичем", "Смирнов А.Н.", "Смирнов Алексей Николаевичке"),
    _person("nurgalieva", "01041160007", "Нұрғалиева Гүлнар Ержанқызы", "Нұрғалиевой Гүлнар Ержанқызы",
            "Нұрғалиевой Гүлнар Ержанқызы", "Нұрғалиеву Гүлнар Ержанқызы", "Нұрғалиевой Гүлнар Ержанқызы",
            "Нұрғалиева Г.Е.", "Нұрғалиева Гүлнар Ержанқызына"),
    _person("kovalchuk", "89102340084", "Ковальчук Ирина Сергеевна", "Ковальчук Ирины Сергеевны",
            "Ковальчук Ирине Сергеевне", "Ковальчук Ирину Сергеевну", "Ковальчук Ириной Сергеевной",
            "Ковальчук И.С.", "Ковальчук Ирина Сергеевнаға"),
    _person("ospanov", "02082750021", "Оспанов Ерлан Бауыржанович", "Оспанова Ерлана Бауыржановича",
            "Оспанову Ерлану Бауыржановичу", "Оспанова Ерлана Бауыржановича",
            "Оспановым Ерланом Бауыржановичем", "Оспанов Е.Б.", "Оспанов Ерлан Бауыржановичке"),
    _person("tazhibaeva", "97050340076", "Тәжібаева Динара Қайратовна", "Тәжібаевой Динары Қайратовны",
            "Тәжібаевой Динаре Қайратовне", "Тәжібаеву Динару Қайратовну", "Тәжібаевой Динарой Қайратовной",
            "Тәжібаева Д.Қ.", "Тәжібаева Динара Қайратовнаға"),
    _person("tsoi", "86011230038", "Цой Виктор Робертович", "Цоя Виктора Робертовича",
            "Цою Виктору Робертовичу", "Цоя Виктора Робертовича", "Цоем Виктором Робертовичем",
            "Цой В.Р.", "Цой Виктор Робертовичке"),
    _person("kasymova", "99120940041", "Қасымова Сәуле", "Қасымовой Сәуле", "Қасымовой Сәуле",
            "Қасымову Сәуле", "Қасымовой Сәуле", "Қасымова С.", "Қасымова Сәулеге"),
    _person("kuznetsova", "92022940018", "Кузнецова Елена Александровна", "Кузнецовой Елены Александровны",
            "Кузнецовой Елене Александровне", "Кузнецову Елену Александровну",
            "Кузнецовой Еленой Александровной", "Кузнецова Е.А.", "Кузнецова Елена Александровнаға"),
    _person("yolkina", "03072160005", "Ёлкина Алёна Юрьевна", "Ёлкиной Алёны Юрьевны",
            "Ёлкиной Алёне Юрьевне", "Ёлкину Алёну Юрьевну", "Ёлкиной Алёной Юрьевной",
            "Ёлкина А.Ю.", "Ёлкина Алёна Юрьевнаға", event_name=("Елкина", "Алена", "Юрьевна")),
    _person("grigoriev", "83040430092", "Григорьев Дмитрий Юрьевич", "Григорьева Дмитрия Юрьевича",
            "Григорьеву Дмитрию Юрьевичу", "Григорьева Дмитрия Юрьевича", "Григорьевым Дмитрием Юрьевичем",
            "Григорьев Д.Ю.", "Григорьев Дмитрий Юрьевичке"),
]
PEOPLE: dict[str, Person] = {p.key: p for p in _PEOPLE_LIST}

# Relatives sharing the surname (sister, husband, brother, wife): their documents must not verify.
RELATIVES: dict[str, list[Person]] = {
    "ivanova": [
        _person("ivanova_sister", "98081440023", "Иванова Анна Петровна", "Ивановой Анны Петровны",
                "Ивановой Анне Петровне", "Иванову Анну Петровну", "Ивановой Анной Петровной",
                "Иванова А.П.", "Иванова Анна Петровнаға"),
        _person("ivanova_husband", "94052030051", "Иванов Сергей Петрович", "Иванова Сергея Петровича",
                "Иванову Сергею Петровичу", "Иванова Сергея Петровича", "Ивановым Сергеем Петровичем",
                "Иванов С.П.", "Иванов Сергей Петровичке"),
    ],
    "akhmetov": [
        _person("akhmetov_brother", "93100130028", "Ахметов Ерлан Серікұлы", "Ахметова Ерлана Серікұлы",
                "Ахметову Ерлану Серікұлы", "Ахметова Ерлана Серікұлы", "Ахметовым Ерланом Серікұлы",
                "Ахметов Е.С.", "Ахметов Ерлан Серікұлына"),
        _person("akhmetov_wife", "92061540037", "Ахметова Гүлжан Бекқызы", "Ахметовой Гүлжан Бекқызы",
                "Ахметовой Гүлжан Бекқызы", "Ахметову Гүлжан Бекқызы", "Ахметовой Гүлжан Бекқызы",
                "Ахметова Г.Б.", "Ахметова Гүлжан Бекқызына"),
    ],
    "kim": [
        _person("kim_husband", "89121230073", "Ким Андрей Викторович", "Кима Андрея Викторовича",
                "Киму Андрею Викторовичу", "Кима Андрея Викторовича", "Кимом Андреем Викторовичем",
                "Ким А.В.", "Ким Андрей Викторовичке"),
    ],
    "zharmaganbetova": [
        _person("zharmaganbetova_sister", "96021440045", "Жармағанбетова Гаухар Серікқызы",
                "Жармағанбетовой Гаухар Серікқызы", "Жармағанбетовой Гаухар Серікқызы",
                "Жармағанбетову Гаухар Серікқызы", "Жармағанбетовой Гаухар Серікқызы",
                "Жармағанбетова Г.С.", "Жармағанбетова Гаухар Серікқызына"),
    ],
    "petrenko": [
        _person("petrenko_wife", "90111140060", "Петренко Наталья Ивановна", "Петренко Натальи Ивановны",
                "Петренко Наталье Ивановне", "Петренко Наталью Ивановну", "Петренко Натальей Ивановной",
                "Петренко Н.И.", "Петренко Наталья Ивановнаға"),
    ],
    "suleimenova": [
        _person("suleimenova_sister", "98010740012", "Сулейменова Айгерім Маратовна",
                "Сулейменовой Айгерім Маратовны", "Сулейменовой Айгерім Маратовне",
                "Сулейменову Айгерім Маратовну", "Сулейменовой Айгерім Маратовной",
                "Сулейменова А.М.", "Сулейменова Айгерім Маратовнаға"),
    ],
}

# Same surname and first name, another patronymic (and another IIN).
OTHER_PATRONYMIC: dict[str, Person] = {
    "ivanova": _person("ivanova_other_patronymic", "95031140064", "Иванова Мария Сергеевна",
                       "Ивановой Марии Сергеевны", "Ивановой Марии Сергеевне", "Иванову Марию Сергеевну",
                       "Ивановой Марией Сергеевной", "Иванова М.С.", "Иванова Мария Сергеевнаға"),
    "akhmetov": _person("akhmetov_other_patronymic", "91020230014", "Ахметов Нұрлан Қанатұлы",
                        "Ахметова Нұрлана Қанатұлы", "Ахметову Нұрлану Қанатұлы", "Ахметова Нұрлана Қанатұлы",
                        "Ахметовым Нұрланом Қанатұлы", "Ахметов Н.Қ.", "Ахметов Нұрлан Қанатұлына"),
    "kim": _person("kim_other_patronymic", "90043040081", "Ким Ольга Сергеевна", "Ким Ольги Сергеевны",
                   "Ким Ольге Сергеевне", "Ким Ольгу Сергеевну", "Ким Ольгой Сергеевной", "Ким О.С.",
                   "Ким Ольга Сергеевнаға"),
    "zharmaganbetova": _person("zharmaganbetova_other_patronymic", "94090940056",
                               "Жармағанбетова Әлия Қанатқызы", "Жармағанбетовой Әлии Қанатқызы",
                               "Жармағанбетовой Әлие Қанатқызы", "Жармағанбетову Әлию Қанатқызы",
                               "Жармағанбетовой Әлией Қанатқызы", "Жармағанбетова Ә.Қ.",
                               "Жармағанбетова Әлия Қанатқызына"),
    "petrenko": _person("petrenko_other_patronymic", "85030330099", "Петренко Олег Иванович",
                        "Петренко Олега Ивановича", "Петренко Олегу Ивановичу", "Петренко Олега Ивановича",
                        "Петренко Олегом Ивановичем", "Петренко О.И.", "Петренко Олег Ивановичке"),
    "kuznetsova": _person("kuznetsova_other_patronymic", "93081240027", "Кузнецова Елена Викторовна",
                          "Кузнецовой Елены Викторовны", "Кузнецовой Елене Викторовне",
                          "Кузнецову Елену Викторовну", "Кузнецовой Еленой Викторовной", "Кузнецова Е.В.",
                          "Кузнецова Елена Викторовнаға"),
}


def namesake_of(person: Person, seed: int) -> Person:
    """The same full name with another valid IIN (same gender and century, another birth date)."""
    rng = random.Random(seed)
    while True:
        year = rng.randint(0, 99)
        first11 = f"{year:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{person.iin[6]}{rng.randint(0, 9999):04d}"
        if checksum_digit(first11) is not None and first11 != person.iin[:11]:
            return replace(person, key=f"{person.key}_namesake", iin=complete_iin(first11), event_name=None)


def person_by_key(key: str) -> Person:
    """Any person of the tables by key: ``PEOPLE``, ``RELATIVES``, ``OTHER_PATRONYMIC``."""
    if key in PEOPLE:
        return PEOPLE[key]
    for person in [p for group in RELATIVES.values() for p in group] + list(OTHER_PATRONYMIC.values()):
        if person.key == key:
            return person
    raise KeyError(key)


def initials_collide(a: Person, b: Person) -> bool:
    """True when two people print the same "Фамилия И.О." (documents in initials cannot tell them apart)."""
    return a.forms["initials"] == b.forms["initials"]


# ------------------------------------------------------------------------------------------ employers

@dataclass(frozen=True)
class Employer:
    """An employer with a valid BIN and the people who sign its documents (distractor names)."""

    name_ru: str
    name_kk: str
    long_ru: str
    long_kk: str
    bin: str
    city_ru: str
    city_kk: str
    address: str
    director: str
    director_role: str
    accountant: str
    phone: str
    iik: str


EMPLOYERS = [
    Employer("ТОО «Каспий Логистик»", "«Каспий Логистик» ЖШС",
             "Товарищество с ограниченной ответственностью «Каспий Логистик»",
             "«Каспий Логистик» жауапкершілігі шектеулі серіктестігі",
             complete_iin("18054001234"), "г. Алматы", "Алматы қ.", "050000, г. Алматы, пр. Абая, 150, офис 12",
             "Б.К. Сапаров", "Директор", "Л.А. Морозова", "8 (727) 250-11-22", "KZ12601A861003725321"),
    Employer("АО «Алтын Дала Агро»", "«Алтын Дала Агро» АҚ", "Акционерное общество «Алтын Дала Агро»",
             "«Алтын Дала Агро» акционерлік қоғамы", complete_iin("07065000321"), "г. Астана", "Астана қ.",
             "010000, г. Астана, ул. Кенесары, 40", "Б.Е. Ахметов", "Председатель правления",
             "С.И. Ли", "8 (7172) 55-20-10", "KZ48914398555BC00431"),
    Employer("ГККП «Ясли-сад № 12 «Балапан»»", "«№12 «Балапан» бөбекжайы» МКҚК",
             "Государственное коммунальное казенное предприятие «Ясли-сад № 12 «Балапан»»",
             "«№12 «Балапан» бөбекжайы» мемлекеттік коммуналдық қазыналық кәсіпорны",
             complete_iin("11024001765"), "г. Караганда", "Қарағанды қ.",
             "100000, г. Караганда, ул. Ерубаева, 21", "Р.Т. Искакова", "Заведующая", "А.Б. Соколова",
             "8 (7212) 41-33-08", "KZ356010241000071822"),
    Employer("ТОО «Алма Фарм Сервис»", "«Алма Фарм Сервис» ЖШС",
             "Товарищество с ограниченной ответственностью «Алма Фарм Сервис»",
             "«Алма Фарм Сервис» жауапкершілігі шектеулі серіктестігі", complete_iin("15094002187"),
             "г. Шымкент", "Шымкент қ.", "160000, г. Шымкент, ул. Тауке хана, 7", "И.П. Ковалев", "Директор",
             "Г.М. Есенова", "8 (7252) 53-71-90", "KZ72722S000004581234"),
    Employer("КГУ «Общеобразовательная школа № 45»", "«№45 жалпы білім беретін мектеп» КММ",
             "Коммунальное государственное учреждение «Общеобразовательная школа № 45»",
             "«№45 жалпы білім беретін мектеп» коммуналдық мемлекеттік мекемесі", complete_iin("99124000123"),
             "г. Павлодар", "Павлодар қ.", "140000, г. Павлодар, ул. Толстого, 88", "С.К. Жумабаев", "Директор",
             "Н.В. Белова", "8 (7182) 32-15-46", "KZ96070101KSN0000000"),
    Employer("ТОО «Нұр Құрылыс Инвест»", "«Нұр Құрылыс Инвест» ЖШС",
             "Товарищество с ограниченной ответственностью «Нұр Құрылыс Инвест»",
             "«Нұр Құрылыс Инвест» жауапкершілігі шектеулі серіктестігі", complete_iin("20034004567"),
             "г. Атырау", "Атырау қ.", "060000, г. Атырау, ул. Сатпаева, 3Б", "П.С. Иванов", "Генеральный директор",
             "Д.Р. Мусина", "8 (7122) 27-44-51", "KZ43826A1KZTD2001234"),
]

MEDICAL_ORGS = [
    ("ГКП на ПХВ «Городская поликлиника № 5» Управления общественного здоровья г. Алматы",
     complete_iin("05124001932"), "Абдрахманова Г.К.", "Ли Т.В."),
    ("ГКП на ПХВ «Областной перинатальный центр» г. Караганда", complete_iin("13034003401"),
     "Сергеева О.Н.", "Бекова А.Ж."),
    ("ТОО «Медицинский центр «Шипагер»»", complete_iin("16104005516"), "Турсынова М.А.", "Ким Р.С."),
]

# Positions, each written out in every case: (nom, gen, dat, acc, ins, kazakh).
POSITIONS = [
    ("бухгалтер отдела учета", "бухгалтера отдела учета", "бухгалтеру отдела учета", "бухгалтера отдела учета",
     "бухгалтером отдела учета", "есеп бөлімінің бухгалтері"),
    ("менеджер отдела продаж", "менеджера отдела продаж", "менеджеру отдела продаж", "менеджера отдела продаж",
     "менеджером отдела продаж", "сату бөлімінің менеджері"),
    ("ведущий специалист службы персонала", "ведущего специалиста службы персонала",
     "ведущему специалисту службы персонала", "ведущего специалиста службы персонала",
     "ведущим специалистом службы персонала", "персонал қызметінің жетекші маманы"),
    ("воспитатель", "воспитателя", "воспитателю", "воспитателя", "воспитателем", "тәрбиеші"),
    ("учитель начальных классов", "учителя начальных классов", "учителю начальных классов",
     "учителя начальных классов", "учителем начальных классов", "бастауыш сынып мұғалімі"),
    ("инженер-технолог", "инженера-технолога", "инженеру-технологу", "инженера-технолога",
     "инженером-технологом", "инженер-технолог"),
    ("оператор call-центра", "оператора call-центра", "оператору call-центра", "оператора call-центра",
     "оператором call-центра", "call-орталығының операторы"),
    ("экономист", "экономиста", "экономисту", "экономиста", "экономистом", "экономист"),
]
_POSITION_CASES = ("nom", "gen", "dat", "acc", "ins", "kk")

_MONTHS_GEN = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
               "октября", "ноября", "декабря")


# ------------------------------------------------------------------------------------------ rendering

@dataclass
class _Style:
    family: str
    size_pt: float
    spacing: float
    justify: bool
    ink: tuple[int, int, int]
    date_style: int
    iin_style: int
    stamp: bool
    logo: bool
    iik: bool


class _Overflow(Exception):
    pass


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


class _Page:
    """A page being typeset top to bottom; remembers every text run for the text-layer PDF."""

    def __init__(self, style: _Style, rng: random.Random):
        self.style = style
        self.rng = rng
        self.image = Image.new("RGB", A4_PX, (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.left, self.right = 354, A4_PX[0] - 177
        self.y = 236
        self.bottom = A4_PX[1] - 200
        self.runs: list[tuple[int, int, str, str, int]] = []
        self.lines: list[str] = []

    def size_px(self, scale: float = 1.0) -> int:
        return round(self.style.size_pt * scale * DPI / 72)

    def font(self, bold: bool = False, scale: float = 1.0) -> tuple[ImageFont.FreeTypeFont, str, int]:
        path = FONT_FILES[self.style.family][1 if bold else 0]
        size = self.size_px(scale)
        return _font(path, size), path, size

    def line_height(self, scale: float = 1.0) -> int:
        return round(self.size_px(scale) * self.style.spacing)

    def _put(self, x: float, baseline: int, text: str, font, path: str, size: int) -> None:
        self.draw.text((x, baseline), text, font=font, fill=self.style.ink, anchor="ls")
        self.runs.append((round(x), baseline, text, path, size))

    def find(self, word: str) -> list[tuple[int, int, int, int]]:
        """Boxes (x0, y0, x1, y1) of every printed occurrence of ``word`` (within a run)."""
        boxes = []
        for x, baseline, text, path, size in self.runs:
            font = _font(path, size)
            start = text.find(word)
            while start >= 0:
                x0 = x + font.getlength(text[:start])
                x1 = x + font.getlength(text[:start + len(word)])
                ascent, descent = font.getmetrics()
                boxes.append((round(x0), baseline - ascent, round(x1), baseline + descent))
                start = text.find(word, start + 1)
        return boxes

    def gap(self, lines: float = 1.0) -> None:
        self.y += round(self.line_height() * lines)

    def _wrap(self, words: list[str], font, first_width: float, width: float) -> list[list[str]]:
        lines: list[list[str]] = []
        current: list[str] = []
        for word in words:
            if word == BREAK:  # a forced line break (the line is left ragged)
                if current:
                    lines.append(current + [BREAK])
                current = []
                continue
            limit = first_width if not lines else width
            candidate = " ".join(current + [word])
            if current and font.getlength(candidate) > limit:
                lines.append(current)
                current = [word]
            else:
                current.append(word)
        if current:
            lines.append(current)
        return lines

    def text(self, text: str, *, align: str = "left", bold: bool = False, scale: float = 1.0,
             indent: int = 0, x0: Optional[int] = None, x1: Optional[int] = None,
             justify: Optional[bool] = None, advance: bool = True) -> int:
        """Typeset a paragraph between x0 and x1; returns the y below it."""
        font, path, size = self.font(bold, scale)
        x0 = self.left if x0 is None else x0
        x1 = self.right if x1 is None else x1
        justify = self.style.justify if justify is None else justify
        ascent, _ = font.getmetrics()
        height = self.line_height(scale)
        y = self.y
        wrapped = self._wrap(text.split(), font, x1 - x0 - indent, x1 - x0)
        for number, words in enumerate(wrapped):
            if y + height > self.bottom:
                raise _Overflow()
            baseline = y + ascent
            forced = bool(words) and words[-1] == BREAK
            words = [w for w in words if w != BREAK]
            line = " ".join(words)
            start = x0 + (indent if number == 0 else 0)
            width = font.getlength(line)
            last = number == len(wrapped) - 1
            if align == "center":
                self._put((x0 + x1 - width) / 2, baseline, line, font, path, size)
            elif align == "right":
                self._put(x1 - width, baseline, line, font, path, size)
            elif justify and not last and not forced and len(words) > 1 and align == "left":
                space = (x1 - start - sum(font.getlength(w) for w in words)) / (len(words) - 1)
                x = start
                for word in words:
                    self._put(x, baseline, word, font, path, size)
                    x += font.getlength(word) + space
            else:
                self._put(start, baseline, line, font, path, size)
            self.lines.append(line)
            y += height
        if advance:
            self.y = y
        return y

    def columns(self, left: Sequence[tuple[str, dict]], right: Sequence[tuple[str, dict]],
                split: float = 0.5, gutter: int = 60) -> None:
        """Two columns of paragraphs side by side (bilingual headers)."""
        middle = round(self.left + (self.right - self.left) * split)
        top = self.y
        bottoms = []
        for paragraphs, (x0, x1) in ((left, (self.left, middle - gutter // 2)),
                                     (right, (middle + gutter // 2, self.right))):
            self.y = top
            for text, options in paragraphs:
                self.text(text, x0=x0, x1=x1, justify=False, **options)
            bottoms.append(self.y)
        self.y = max(bottoms)

    def rule(self, width: int = 4) -> None:
        self.y += 10
        self.draw.line([(self.left, self.y), (self.right, self.y)], fill=self.style.ink, width=width)
        self.y += 30

    def table(self, rows: Sequence[tuple[str, str]], split: float = 0.42) -> None:
        """A bordered two-column form (label | value)."""
        middle = round(self.left + (self.right - self.left) * split)
        pad = 22
        for label, value in rows:
            top = self.y
            self.y = top + pad
            below_label = self.text(label, x0=self.left + pad, x1=middle - pad, justify=False, advance=False)
            below_value = self.text(value, x0=middle + pad, x1=self.right - pad, justify=False, advance=False)
            bottom = max(below_label, below_value) + pad // 2
            self.draw.rectangle([self.left, top, self.right, bottom], outline=self.style.ink, width=3)
            self.draw.line([(middle, top), (middle, bottom)], fill=self.style.ink, width=3)
            self.y = bottom

    def signature(self, role: str, name: str) -> tuple[int, int]:
        """``role ____ name`` with a pen scribble; returns the point where a stamp would go."""
        font, path, size = self.font()
        ascent, _ = font.getmetrics()
        if self.y + self.line_height() * 2 > self.bottom:
            raise _Overflow()
        self.y += self.line_height()
        baseline = self.y + ascent
        self._put(self.left, baseline, role, font, path, size)
        line_x0 = self.left + round((self.right - self.left) * 0.45)
        line_x1 = line_x0 + 380
        self.draw.line([(line_x0, baseline + 6), (line_x1, baseline + 6)], fill=self.style.ink, width=3)
        width = font.getlength(name)
        self._put(self.right - width, baseline, name, font, path, size)
        self.lines.append(f"{role} {name}")
        _scribble(self.draw, (line_x0 + 40, baseline - 80, line_x1 - 20, baseline + 30), self.rng)
        self.y += self.line_height()
        return (line_x1 + self.rng.randint(-60, 120), baseline - self.rng.randint(0, 80))


def _scribble(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random,
              colour: tuple[int, int, int] = (25, 40, 120), width: Optional[int] = None) -> None:
    x0, y0, x1, y1 = box
    points = []
    steps = 60
    loops = rng.uniform(2.5, 4.5)
    for i in range(steps):
        t = i / (steps - 1)
        x = x0 + (x1 - x0) * t + 35 * math.sin(t * loops * 2 * math.pi)
        y = (y0 + y1) / 2 + (y1 - y0) * 0.45 * math.sin(t * loops * 2 * math.pi + 1.3) * (1 - 0.5 * t)
        points.append((x, y))
    draw.line(points, fill=colour, width=width or rng.randint(3, 5), joint="curve")


def _stamp(image: Image.Image, center: tuple[int, int], ring_text: str, middle: Sequence[str],
           rng: random.Random, colour: tuple[int, int, int] = (40, 70, 175), strength: Optional[float] = None,
           radius: Optional[int] = None) -> None:
    """A round blue stamp, multiplied onto the page like ink (text under it stays readable)."""
    radius = radius or rng.randint(230, 270)
    size = 2 * radius + 40
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    c = size // 2
    draw.ellipse([c - radius, c - radius, c + radius, c + radius], outline=255, width=8)
    inner = round(radius * 0.70)
    draw.ellipse([c - inner, c - inner, c + inner, c + inner], outline=255, width=4)
    text_radius = (radius + inner) / 2 - 14
    font_path = FONT_FILES["DejaVu Sans"][1]
    probe = _font(font_path, 40)
    length = probe.getlength(ring_text)
    font_size = max(18, min(46, int(40 * 2 * math.pi * text_radius * 0.93 / length)))
    font = _font(font_path, font_size)
    angle = rng.uniform(0, 2 * math.pi)
    for char in ring_text:
        advance = font.getlength(char)
        angle += advance / (2 * text_radius)
        glyph = Image.new("L", (font_size * 2, font_size * 2), 0)
        ImageDraw.Draw(glyph).text((font_size, font_size), char, font=font, fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.BICUBIC)
        gx = c + text_radius * math.sin(angle) - font_size
        gy = c - text_radius * math.cos(angle) - font_size
        layer.paste(255, (round(gx), round(gy)), glyph)
        angle += advance / (2 * text_radius)
    widest = max(_font(font_path, 38).getlength(line) for line in middle)
    middle_font = _font(font_path, max(20, min(38, int(38 * 1.6 * inner / widest))))
    for i, line in enumerate(middle):
        draw.text((c, c + (i - (len(middle) - 1) / 2) * 50), line, font=middle_font, fill=255, anchor="mm")
    layer = layer.rotate(rng.uniform(-25, 25), resample=Image.BICUBIC)
    ink = np.asarray(layer, dtype=np.float32) / 255.0
    blotches = cv2.resize(np.random.default_rng(rng.randint(0, 2**31)).random((12, 12)).astype(np.float32),
                          (size, size), interpolation=cv2.INTER_CUBIC)
    ink *= np.clip(0.45 + 0.55 * blotches, 0.3, 1.0) * (strength or rng.uniform(0.6, 0.85))
    colour = np.array(colour, dtype=np.float32) / 255.0
    x0, y0 = center[0] - c, center[1] - c
    xs0, ys0 = max(0, x0), max(0, y0)
    xs1, ys1 = min(image.width, x0 + size), min(image.height, y0 + size)
    region = np.asarray(image.crop((xs0, ys0, xs1, ys1)), dtype=np.float32)
    patch = ink[ys0 - y0:ys1 - y0, xs0 - x0:xs1 - x0, None]
    region *= 1 - patch * (1 - colour)
    image.paste(Image.fromarray(region.clip(0, 255).astype(np.uint8)), (xs0, ys0))


def _logo(page: _Page, employer: Employer) -> None:
    words = [w.strip("«»") for w in employer.name_ru.split("«", 1)[1].split()]
    letters = "".join(w[0] for w in words if w[:1].isalpha())[:2].upper()
    x, y = page.left, page.y
    page.draw.ellipse([x, y, x + 170, y + 170], outline=(30, 30, 90), width=9)
    page.draw.text((x + 85, y + 85), letters, font=_font(FONT_FILES["DejaVu Sans"][1], 70),
                   fill=(30, 30, 90), anchor="mm")


def _fmt_date(date: dt.date, style: int, kk: bool = False) -> str:
    if kk:
        return f"{date:%d.%m.%Y} ж."
    if style == 0:
        return f"{date:%d.%m.%Y} г."
    if style == 1:
        return f"{date:%d.%m.%Y} года"
    if style == 2:
        return f"«{date.day:02d}» {_MONTHS_GEN[date.month - 1]} {date.year} г."
    return f"{date.day} {_MONTHS_GEN[date.month - 1]} {date.year} года"


def format_iin(iin: str, style: int, kk: bool = False) -> str:
    """The ways documents print an IIN: ``ИИН 960125400124``, ``ИИН: 9601 2540 0124`` …"""
    label = "ЖСН" if kk else "ИИН"
    if style == 0:
        return f"{label} {iin}"
    if style == 1:
        return f"{label}: {iin}"
    if style == 2:
        return f"{label}: {iin[:4]} {iin[4:8]} {iin[8:]}"
    return f"{label} № {iin}"


@dataclass
class _Context:
    """Everything one document's text is made of."""

    person: Optional[Person]
    name_case: str
    include_iin: bool
    extra_people: Sequence[Person]
    employer: Employer
    style: _Style
    rng: random.Random
    position: tuple[str, ...]
    date: dt.date
    number: str
    values: dict = field(default_factory=dict)

    def date_text(self, date: dt.date) -> str:
        return _fmt_date(date, self.style.date_style)

    def pos(self, case: str) -> str:
        return self.position[_POSITION_CASES.index(case)]

    def who(self, person: Optional[Person] = None, case: Optional[str] = None, iin: Optional[bool] = None) -> str:
        """The employee's mention in ``name_case`` (or the given case) with the IIN when asked for."""
        person = person or self.person
        mention = person.mention(case or self.name_case)
        with_iin = self.include_iin if iin is None else iin
        if not with_iin:
            return mention
        iin_text = format_iin(person.iin, self.style.iin_style)
        return f"{mention} ({iin_text})" if self.rng.random() < 0.4 else f"{mention}, {iin_text},"

    def gender(self, male: str, female: str, person: Optional[Person] = None) -> str:
        return female if (person or self.person).female else male


def _sentence(template_by_case: dict[str, str], ctx: _Context, person: Optional[Person] = None,
              iin: Optional[bool] = None) -> str:
    person = person or ctx.person
    case = _SENTENCE_CASE[ctx.name_case]
    who = ctx.who(person, iin=iin)
    text = template_by_case[case].format(
        who=who, pos_nom=ctx.pos("nom"), pos_gen=ctx.pos("gen"), pos_dat=ctx.pos("dat"),
        pos_acc=ctx.pos("acc"), pos_ins=ctx.pos("ins"), org=ctx.employer.name_ru,
        she=ctx.gender("он", "она", person), being=ctx.gender("находящимся", "находящейся", person),
        warned=ctx.gender("предупрежден", "предупреждена", person), **ctx.values,
    )
    return text.replace(",,", ",").replace(", (", " (").replace(",)", ")")


def _header(page: _Page, ctx: _Context, bilingual: bool) -> None:
    employer = ctx.employer
    if ctx.style.logo and not bilingual:
        _logo(page, employer)
    if bilingual:
        page.columns(
            [(employer.long_kk, {"bold": True, "align": "center"}), (f"БСН {employer.bin}", {"align": "center"}),
             (employer.city_kk, {"align": "center", "scale": 0.9})],
            [(employer.long_ru, {"bold": True, "align": "center"}), (f"БИН {employer.bin}", {"align": "center"}),
             (employer.city_ru, {"align": "center", "scale": 0.9})],
        )
    else:
        page.text(employer.long_ru if ctx.rng.random() < 0.5 else employer.name_ru, align="center", bold=True,
                  scale=1.1, x0=page.left + (200 if ctx.style.logo else 0))
        page.text(f"БИН {employer.bin}", align="center", scale=0.9)
        page.text(f"{employer.address}, тел. {employer.phone}", align="center", scale=0.85)
        if ctx.style.iik:
            page.text(f"ИИК {employer.iik} в АО «Народный банк Казахстана», БИК HSBKKZKX", align="center",
                      scale=0.85)
    page.rule()


def _order_title(page: _Page, ctx: _Context, title: str) -> None:
    page.gap(0.5)
    page.text("ПРИКАЗ", align="center", bold=True, scale=1.25)
    page.gap(0.3)
    left = f"№ {ctx.number}"
    font, path, size = page.font()
    ascent, _ = font.getmetrics()
    baseline = page.y + ascent
    date = ctx.date_text(ctx.date)
    page._put(page.left, baseline, date, font, path, size)
    page._put(page.right - font.getlength(left), baseline, left, font, path, size)
    page.lines.append(f"{date} {left}")
    page.y += page.line_height()
    page.text(ctx.employer.city_ru, align="center", scale=0.9)
    page.gap(0.6)
    page.text(title, bold=True, x1=page.left + round((page.right - page.left) * 0.62), justify=False)
    page.gap(0.6)


def _bilingual_title(page: _Page, ctx: _Context, kk: str, ru: str) -> None:
    page.gap(0.4)
    page.columns([(kk, {"bold": True, "align": "center", "scale": 1.2})],
                 [(ru, {"bold": True, "align": "center", "scale": 1.2})])
    page.columns([(f"{_fmt_date(ctx.date, 0, kk=True)}   № {ctx.number}", {"align": "center"})],
                 [(f"{ctx.date_text(ctx.date)}   № {ctx.number}", {"align": "center"})])
    page.gap(0.5)


def _paragraph(page: _Page, text: str) -> None:
    page.text(text, indent=148)


def _signatures(page: _Page, ctx: _Context, accountant: bool = False) -> tuple[int, int]:
    page.gap(1.0)
    stamp_at = page.signature(ctx.employer.director_role, ctx.employer.director)
    if accountant:
        page.signature("Главный бухгалтер", ctx.employer.accountant)
    return stamp_at


def _stamp_for(page: _Page, ctx: _Context, where: tuple[int, int], middle: Sequence[str]) -> None:
    if ctx.style.stamp:
        ring = f"{ctx.employer.name_ru} * БИН {ctx.employer.bin} * {ctx.employer.city_ru} * "
        _stamp(page.image, where, ring, middle, ctx.rng)


def _footer(page: _Page, ctx: _Context) -> None:
    page.gap(0.8)
    page.text(f"Исп.: {ctx.employer.accountant}, тел. {ctx.employer.phone}", scale=0.8, justify=False)


_MATERNITY = {
    "nom": "1. {who}, {pos_nom}, — предоставить отпуск по беременности и родам с {d1} по {d2} "
           "продолжительностью {days} календарных дней.",
    "gen": "1. Предоставить отпуск по беременности и родам продолжительностью {days} календарных дней "
           "с {d1} по {d2} на основании заявления {who}, {pos_gen}, и листа временной нетрудоспособности "
           "№ {sl_no}.",
    "dat": "1. Предоставить {who}, {pos_dat}, отпуск по беременности и родам с {d1} по {d2} "
           "продолжительностью {days} календарных дней.",
    "acc": "1. Направить {who}, {pos_acc}, в отпуск по беременности и родам с {d1} по {d2} "
           "продолжительностью {days} календарных дней.",
    "ins": "1. За {who}, {pos_ins}, сохранить место работы (должность) на период отпуска по беременности "
           "и родам с {d1} по {d2} ({days} календарных дней).",
}

_CHILDCARE = {
    "nom": "1. {who}, {pos_nom}, — предоставить отпуск без сохранения заработной платы по уходу за ребенком "
           "до достижения им возраста трех лет с {d1} по {d2}.",
    "gen": "1. Предоставить отпуск без сохранения заработной платы по уходу за ребенком до достижения им "
           "возраста трех лет с {d1} по {d2} по заявлению {who}, {pos_gen}.",
    "dat": "1. Предоставить {who}, {pos_dat}, отпуск без сохранения заработной платы по уходу за ребенком "
           "до достижения им возраста трех лет с {d1} по {d2}.",
    "acc": "1. Считать {who}, {pos_acc}, {being} в отпуске без сохранения заработной платы по уходу за "
           "ребенком до достижения им возраста трех лет с {d1} по {d2}.",
    "ins": "1. За {who}, {pos_ins}, на период отпуска по уходу за ребенком до достижения им возраста трех "
           "лет с {d1} по {d2} сохранить место работы (должность).",
}

_DISMISSAL = {
    "nom": "1. {who}, {pos_nom}, — уволить {d1} по собственному желанию на основании подпункта 5) "
           "пункта 1 статьи 49 Трудового кодекса Республики Казахстан.",
    "gen": "1. Прекратить трудовой договор № {contract_no} от {hired} по инициативе работника на основании "
           "заявления {who}, {pos_gen}, с {d1} (подпункт 5) пункта 1 статьи 49 Трудового кодекса "
           "Республики Казахстан).",
    "dat": "1. Расторгнуть трудовой договор {d1} по инициативе работника и выплатить {who}, {pos_dat}, "
           "компенсацию за неиспользованные дни ежегодного оплачиваемого трудового отпуска "
           "({vacation} календарных дней).",
    "acc": "1. Уволить {who}, {pos_acc}, {d1} по собственному желанию (подпункт 5) пункта 1 статьи 49 "
           "Трудового кодекса Республики Казахстан).",
    "ins": "1. Расторгнуть трудовой договор № {contract_no} от {hired} с {who}, {pos_ins}, {d1} по "
           "инициативе работника (подпункт 5) пункта 1 статьи 49 Трудового кодекса Республики Казахстан).",
}

_EMPLOYMENT = {
    "nom": "{who}, {pos_nom}, действительно работает в {org} с {hired} по настоящее время (приказ о приеме "
           "на работу № {hire_no} от {hired}).",
    "gen": "Настоящая справка подтверждает трудовую деятельность {who} в должности {pos_gen} в {org} "
           "с {hired} по настоящее время.",
    "dat": "Настоящая справка выдана {who} в том, что {she} действительно работает в {org} в должности "
           "{pos_gen} с {hired} по настоящее время.",
    "acc": "Приказом № {hire_no} от {hired} работодатель принял на работу {who} на должность {pos_gen}; "
           "по состоянию на {today} {she} работает в указанной должности.",
    "ins": "С {who} заключен трудовой договор № {contract_no} от {hired}; {she} действительно работает "
           "в {org} в должности {pos_gen} по настоящее время.",
}

_SICK_LEAVE_SENTENCE = {
    "gen": "Сведения о временной нетрудоспособности {who}.",
    "dat": "Выдан {who} для предъявления по месту работы.",
    "acc": "Освободить от работы {who} с {d1} по {d2}.",
    "ins": "Лист получен {who} лично, о режиме лечения {she} {warned}.",
}


def _extra_items(page: _Page, ctx: _Context, templates: dict[str, str], first_number: int) -> int:
    number = first_number
    for other in ctx.extra_people:
        text = _sentence(templates, ctx, person=other, iin=False)
        _paragraph(page, f"{number}." + text.split(".", 1)[1])
        number += 1
    return number


def _order(page: _Page, ctx: _Context, title: str, preamble: str, templates: dict[str, str],
           tail: Sequence[str], basis: str) -> tuple[int, int]:
    _order_title(page, ctx, title)
    _paragraph(page, preamble)
    page.text("ПРИКАЗЫВАЮ:", bold=True)
    _paragraph(page, _sentence(templates, ctx))
    number = _extra_items(page, ctx, templates, 2)
    for item in tail:
        _paragraph(page, f"{number}. {item}")
        number += 1
    page.gap(0.3)
    page.text(f"Основание: {basis}", justify=False)
    stamp_at = _signatures(page, ctx)
    page.gap(0.5)
    page.text(f"С приказом {ctx.gender('ознакомлен', 'ознакомлена')}: ____________  «___» __________ 20___ г.",
              justify=False)
    return stamp_at


def _compose(page: _Page, doc_type: str, ctx: _Context) -> None:
    v = ctx.values
    if doc_type in ("maternity_order", "childcare_order", "dismissal_order"):
        _header(page, ctx, bilingual=False)
        if doc_type == "maternity_order":
            where = _order(page, ctx, "О предоставлении отпуска по беременности и родам",
                           "В соответствии со статьей 99 Трудового кодекса Республики Казахстан и на основании "
                           f"листа временной нетрудоспособности № {v['sl_no']} от {v['d0']},", _MATERNITY,
                           ["Бухгалтерии произвести оплату отпуска в порядке, установленном законодательством "
                            "Республики Казахстан.", "Контроль за исполнением настоящего приказа оставляю за собой."],
                           f"лист временной нетрудоспособности № {v['sl_no']}, заявление работника.")
        elif doc_type == "childcare_order":
            where = _order(page, ctx, "О предоставлении отпуска без сохранения заработной платы по уходу за "
                           "ребенком до достижения им возраста трех лет",
                           "В соответствии со статьей 100 Трудового кодекса Республики Казахстан, на основании "
                           f"свидетельства о рождении ребенка № {v['birth_no']} от {v['birth']},", _CHILDCARE,
                           ["Период отпуска по уходу за ребенком не включать в стаж работы, дающий право на "
                            "оплачиваемый ежегодный трудовой отпуск.",
                            "Контроль за исполнением настоящего приказа возложить на отдел кадров."],
                           f"заявление работника от {v['d0']}, свидетельство о рождении № {v['birth_no']}.")
        else:
            where = _order(page, ctx, "О расторжении трудового договора",
                           "В соответствии с подпунктом 5) пункта 1 статьи 49 и статьей 56 Трудового кодекса "
                           "Республики Казахстан,", _DISMISSAL,
                           ["Бухгалтерии произвести окончательный расчет в день прекращения трудового договора.",
                            "Отделу кадров выдать работнику документы, связанные с трудовой деятельностью."],
                           f"заявление работника от {v['d0']}.")
        _stamp_for(page, ctx, where, ["Для", "документов"])
    elif doc_type == "employment_certificate":
        _header(page, ctx, bilingual=False)
        page.text(f"Исх. № {v['out_no']} от {ctx.date_text(ctx.date)}", justify=False)
        page.gap(0.8)
        page.text("СПРАВКА", align="center", bold=True, scale=1.3)
        page.gap(0.8)
        _paragraph(page, _sentence(_EMPLOYMENT, ctx))
        for other in ctx.extra_people:
            _paragraph(page, _sentence(_EMPLOYMENT, ctx, person=other, iin=False))
        _paragraph(page, f"Среднемесячная заработная плата за последние шесть месяцев составляет {v['salary']} "
                         "тенге. Работник в отпуске без сохранения заработной платы не находится.")
        _paragraph(page, "Справка выдана для предоставления по месту требования.")
        where = _signatures(page, ctx, accountant=True)
        _stamp_for(page, ctx, where, ["Для", "справок"])
        _footer(page, ctx)
    elif doc_type == "sick_leave":
        org, med_bin, doctor, head = v["medical"]
        page.text(org, align="center", bold=True)
        page.text(f"БИН {med_bin}", align="center", scale=0.9)
        page.rule()
        page.text("ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ", align="center", bold=True, scale=1.2)
        page.text(f"№ {v['sl_no']}   (первичный)", align="center")
        page.gap(0.6)
        case = _SENTENCE_CASE[ctx.name_case]
        if case != "nom":
            _paragraph(page, _sentence(dict(_SICK_LEAVE_SENTENCE, nom=""), ctx, iin=False))
            page.gap(0.3)
        rows = [("Дата выдачи", ctx.date_text(ctx.date))]
        if case == "nom":
            rows.append(("Фамилия, имя, отчество", ctx.person.mention(ctx.name_case)))
        if ctx.include_iin:
            rows.append(("ИИН", format_iin(ctx.person.iin, ctx.style.iin_style).split(" ", 1)[1].lstrip("№ ")))
        rows += [
            ("Место работы", ctx.employer.name_ru),
            ("Причина нетрудоспособности", v["reason"]),
            ("Освобождение от работы", f"с {v['d1']} по {v['d2']}"),
            ("Режим", "амбулаторный"),
            ("Приступить к работе", v["return"]),
        ]
        page.table(rows)
        for other in ctx.extra_people:
            page.gap(0.3)
            page.text(f"Законный представитель: {other.mention('initials')}", justify=False)
        page.gap(0.6)
        where = page.signature("Врач", doctor)
        page.signature("Заведующий отделением", head)
        if ctx.style.stamp:
            _stamp(page.image, where, f"{org[:60]} * БИН {med_bin} * ", ["Для листов", "нетрудоспособности"],
                   ctx.rng)
    elif doc_type in ("maternity_order_kk", "employment_certificate_kk"):
        _header(page, ctx, bilingual=True)
        who_kk = ctx.person.kk_dat
        if ctx.include_iin:
            who_kk += f" ({format_iin(ctx.person.iin, ctx.style.iin_style, kk=True)})"
        pos_kk = ctx.pos("kk")
        d1_kk, d2_kk = _fmt_date(v["d1_date"], 0, kk=True), _fmt_date(v["d2_date"], 0, kk=True)
        if doc_type == "maternity_order_kk":
            _bilingual_title(page, ctx, "БҰЙРЫҚ", "ПРИКАЗ")
            page.text("Жүктілігіне және босануына байланысты демалыс беру туралы", bold=True, justify=False)
            page.gap(0.3)
            _paragraph(page, "Қазақстан Республикасы Еңбек кодексінің 99-бабына сәйкес БҰЙЫРАМЫН:")
            _paragraph(page, f"1. {pos_kk.capitalize()} {who_kk} {d1_kk} бастап {d2_kk} дейін {v['days']} "
                             "күнтізбелік күн мерзімге жүктілігіне және босануына байланысты демалыс берілсін.")
            _paragraph(page, "2. Бухгалтерия демалыс ақысын заңнамада белгіленген тәртіппен төлесін.")
            page.gap(0.6)
            page.text("О предоставлении отпуска по беременности и родам", bold=True, justify=False)
            page.gap(0.3)
            _paragraph(page, "В соответствии со статьей 99 Трудового кодекса Республики Казахстан ПРИКАЗЫВАЮ:")
            _paragraph(page, _sentence(_MATERNITY, ctx))
            _extra_items(page, ctx, _MATERNITY, 2)
            page.gap(0.3)
            page.text(f"Негіздеме / Основание: еңбекке уақытша жарамсыздық парағы / лист временной "
                      f"нетрудоспособности № {v['sl_no']}.", justify=False)
            where = _signatures(page, ctx)
            _stamp_for(page, ctx, where, ["Құжаттар", "үшін"])
        else:
            _bilingual_title(page, ctx, "АНЫҚТАМА", "СПРАВКА")
            _paragraph(page, f"Осы анықтама {who_kk} {ctx.employer.name_kk}-де {_fmt_date(v['hired_date'], 0, True)} "
                             f"бастап қазіргі уақытқа дейін {pos_kk} лауазымында шынымен жұмыс істейтіні туралы "
                             "берілді. Анықтама талап етілген жерге ұсыну үшін берілді.")
            page.gap(0.5)
            _paragraph(page, _sentence(_EMPLOYMENT, ctx))
            _paragraph(page, "Справка выдана для предоставления по месту требования.")
            where = _signatures(page, ctx, accountant=True)
            _stamp_for(page, ctx, where, ["Анықтамалар", "үшін"])
        _footer(page, ctx)
    elif doc_type == "announcement":
        _header(page, ctx, bilingual=False)
        page.gap(0.8)
        page.text("ОБЪЯВЛЕНИЕ", align="center", bold=True, scale=1.3)
        page.gap(0.8)
        page.text(f"Уважаемые сотрудники {ctx.employer.name_ru}!", align="center", bold=True)
        page.gap(0.4)
        _paragraph(page, f"Сообщаем, что с {v['d1']} в связи с проведением ремонтных работ в административном "
                         "здании изменяется режим работы офиса: понедельник – пятница с 9:00 до 18:00, перерыв "
                         "с 13:00 до 14:00. Прием документов отделом кадров ведется по вторникам и четвергам.")
        _paragraph(page, "Работникам, находящимся в ежегодном трудовом отпуске, отпуске по беременности и родам "
                         "или отпуске по уходу за ребенком, справки о заработной плате и трудовом стаже "
                         "направляются по электронной почте по письменному заявлению.")
        _paragraph(page, f"Напоминаем, что ежегодный медицинский осмотр пройдет {v['d2']}. Явка обязательна.")
        _paragraph(page, f"По всем вопросам обращаться в отдел кадров по телефону {ctx.employer.phone}.")
        where = _signatures(page, ctx)
        _stamp_for(page, ctx, where, ["Для", "документов"])
    elif doc_type == "cover_letter":
        _header(page, ctx, bilingual=False)
        page.text(f"Исх. № {v['out_no']} от {ctx.date_text(ctx.date)}", justify=False)
        page.gap(0.5)
        page.text("Председателю Правления АО «Первый Кредитный Банк»", align="right", x0=page.left + 1100,
                  justify=False)
        page.gap(1.0)
        page.text("Сопроводительное письмо", align="center", bold=True)
        page.gap(0.5)
        _paragraph(page, "Направляем в Ваш адрес заверенную копию документа по личному составу для "
                         "рассмотрения заявления работника об отсрочке платежей по банковскому займу.")
        _paragraph(page, "Достоверность сведений подтверждаем. Дополнительную информацию можно получить в отделе "
                         f"кадров по телефону {ctx.employer.phone}.")
        page.text("Приложение: на 1 л. в 1 экз.", justify=False)
        where = _signatures(page, ctx)
        _stamp_for(page, ctx, where, ["Для", "документов"])
        _footer(page, ctx)
    else:
        raise ValueError(f"unknown document type {doc_type!r}")


def _values(doc_type: str, ctx: _Context) -> dict:
    rng = ctx.rng
    d0 = ctx.date
    d1 = d0 + dt.timedelta(days=rng.randint(1, 6))
    female = ctx.person.female if ctx.person else True
    if doc_type.startswith("maternity"):
        days = rng.choice((126, 126, 140))
        d2 = d1 + dt.timedelta(days=days - 1)
    elif doc_type == "childcare_order":
        days = 0
        d2 = dt.date(d1.year + 3, d1.month, min(d1.day, 28)) - dt.timedelta(days=rng.randint(20, 90))
    elif doc_type == "sick_leave" and female and rng.random() < 0.6:
        days = 126
        d2 = d1 + dt.timedelta(days=125)
    else:
        days = rng.randint(5, 14)
        d2 = d1 + dt.timedelta(days=days - 1)
    hired = d0 - dt.timedelta(days=rng.randint(400, 3000))
    fmt = ctx.date_text
    return {
        "d0": fmt(d0), "d1": fmt(d1), "d2": fmt(d2), "days": days, "d1_date": d1, "d2_date": d2,
        "hired": fmt(hired), "hired_date": hired, "today": fmt(d0),
        "sl_no": f"{rng.randint(100000, 999999):07d}", "birth_no": f"{rng.randint(1000000, 9999999)}",
        "birth": fmt(d0 - dt.timedelta(days=rng.randint(10, 60))),
        "contract_no": f"{rng.randint(10, 450)}", "hire_no": f"{rng.randint(10, 300)}-К",
        "out_no": f"{rng.randint(100, 2000)}", "vacation": rng.randint(3, 24),
        "salary": f"{rng.randint(180, 950)} {rng.randint(0, 999):03d}",
        "medical": rng.choice(MEDICAL_ORGS),
        "reason": ("беременность и роды (отпуск по беременности и родам)" if days == 126
                   else "заболевание (код 01)"),
        "return": fmt(d2 + dt.timedelta(days=1)),
    }


def _style(rng: random.Random, family: Optional[str], size_pt: Optional[float]) -> _Style:
    dark = rng.randint(0, 40)
    return _Style(
        family=family or rng.choice(list(FONT_FILES)),
        size_pt=size_pt or rng.choice((11, 12, 12, 13, 14)),
        spacing=rng.uniform(1.12, 1.45),
        justify=rng.random() < 0.6,
        ink=(dark, dark, min(255, dark + rng.randint(0, 25))),
        date_style=rng.randint(0, 3),
        iin_style=rng.randint(0, 3),
        stamp=rng.random() < 0.7,
        logo=rng.random() < 0.3,
        iik=rng.random() < 0.4,
    )


def render_document(doc_type: str, person: Optional[Person], *, name_case: str = "dat", include_iin: bool = True,
                    extra_people: Iterable[Person] = (), seed: int = 0, employer: Optional[Employer] = None,
                    font: Optional[str] = None, size_pt: Optional[float] = None,
                    stamp: Optional[bool] = None) -> Image.Image:
    """Render one A4 page at 300 DPI (2480x3508, RGB) of ``doc_type`` about ``person``.

    ``name_case`` picks how the employee is named (see ``NAME_CASES``); ``extra_people`` are named too
    (further items of an order, without IIN); the director and accountant are always other people.
    ``font`` (a key of ``FONT_FILES``), ``size_pt`` and ``stamp`` override the seed's random choices.
    The returned image carries ``info["docgen_text"]`` (the text as typeset, for tests) and
    ``info["docgen_runs"]`` (positioned text runs, used by ``to_pdf(..., text_layer=True)``).
    """
    if doc_type not in DOC_TYPES + NO_PERSON_DOC_TYPES:
        raise ValueError(f"unknown document type {doc_type!r}")
    if doc_type in DOC_TYPES and person is None:
        raise ValueError(f"{doc_type} needs a person")
    if name_case not in NAME_CASES:
        raise ValueError(f"unknown name case {name_case!r}")
    rng = random.Random(f"{doc_type}/{person.key if person else '-'}/{name_case}/{seed}")
    style = _style(rng, font, size_pt)
    if stamp is not None:
        style.stamp = stamp
    employer = employer or rng.choice(EMPLOYERS)
    date = dt.date(2023, 1, 9) + dt.timedelta(days=rng.randint(0, 900))
    number = f"{rng.randint(12, 480)}-{rng.choice(('О', 'К', 'ЛС', 'к/о', 'о'))}"
    for attempt in range(6):
        ctx = _Context(person, name_case, include_iin, tuple(extra_people), employer, style,
                       random.Random(rng.random()), rng.choice(POSITIONS), date, number)
        ctx.values = _values(doc_type, ctx)
        page = _Page(style, ctx.rng)
        try:
            _compose(page, doc_type, ctx)
            break
        except _Overflow:
            style.size_pt = max(10, style.size_pt - 1)
            style.spacing = max(1.08, style.spacing - 0.1)
    else:  # pragma: no cover
        raise RuntimeError("document does not fit on a page")
    image = page.image
    image.info["docgen_text"] = "\n".join(page.lines)
    image.info["docgen_runs"] = list(page.runs)
    image.info["dpi"] = (DPI, DPI)
    return image


def render_blank_page(seed: int = 0) -> Image.Image:
    """A sheet of paper with nothing on it (photographed, it is an unreadable upload)."""
    rng = np.random.default_rng(seed)
    tone = int(rng.integers(238, 252))
    image = Image.new("RGB", A4_PX, (tone, tone, tone - 4))
    image.info["docgen_text"] = ""
    image.info["docgen_runs"] = []
    return image


def document_text(image: Image.Image) -> str:
    """The text typeset on a page rendered by ``render_document`` (ground truth, one line per line)."""
    return image.info.get("docgen_text", "")


# ------------------------------------------------------------------------------------------ degrading

def _encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32)


def _from_array(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _scan(image: Image.Image, rng: np.random.Generator, strength: float = 1.0) -> Image.Image:
    """Flatbed-scanner look: grey paper, toner blur, sensor noise, dust, a dark lid edge."""
    gray = rng.random() < 0.7
    page = image.convert("L") if gray else image.convert("RGB")
    angle = rng.uniform(-0.4, 0.4) * strength
    page = page.rotate(angle, resample=Image.BICUBIC, fillcolor=255 if gray else (255, 255, 255))
    array = np.asarray(page, dtype=np.float32)
    paper = rng.uniform(228, 246)
    array = array * (paper / 255.0) + rng.uniform(0, 10)
    array = cv2.GaussianBlur(array, (0, 0), rng.uniform(0.5, 0.9) * strength)
    array += rng.standard_normal(array.shape, dtype=np.float32) * np.float32(rng.uniform(4, 9) * strength)
    h, w = array.shape[:2]
    for _ in range(int(rng.integers(20, 80) * strength)):
        x, y, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(1, 4))
        cv2.circle(array, (x, y), r, (float(rng.uniform(40, 120)),) * (1 if gray else 3), -1)
    if rng.random() < 0.5:
        edge = int(rng.integers(15, 60))
        shade = np.linspace(0.35, 1.0, edge, dtype=np.float32)
        if array.ndim == 3:
            shade = shade[:, None]
        array[:, :edge] *= shade
    return _from_array(array)


def _table_texture(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A darker textured surface (wood, grey desk, fabric) that a phone photo shows around the page."""
    base = np.array(rng.choice([(92, 66, 46), (74, 74, 80), (58, 72, 62), (120, 96, 70), (40, 40, 44)]),
                    dtype=np.float32)
    low = cv2.resize(rng.random((9, 7)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    grain_phase = cv2.resize(rng.random((40, 4)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    x = np.arange(width, dtype=np.float32)[None, :]
    grain = np.sin(x / rng.uniform(9, 25) + grain_phase * 12)
    texture = (0.75 + 0.35 * low + 0.08 * grain)[..., None] * base[None, None, :]
    texture += rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(6)
    return texture


def _photo(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A phone photo of the page: perspective, a table around it, uneven light, blur, colour cast."""
    frame_w, frame_h = ((3000, 4000), (1600, 2100), (2250, 3000))[int(rng.integers(0, 3))]
    page_h = rng.uniform(0.80, 0.90) * frame_h
    page_w = page_h * image.width / image.height
    if page_w > 0.93 * frame_w:
        page_w = 0.93 * frame_w
        page_h = page_w * image.height / image.width
    cx = frame_w / 2 + rng.uniform(-0.03, 0.03) * frame_w
    cy = frame_h / 2 + rng.uniform(-0.03, 0.03) * frame_h
    tilt = rng.uniform(0.0, 0.07) * page_w
    jitter = lambda: rng.uniform(-0.015, 0.015) * page_w  # noqa: E731
    quad = np.array([
        [cx - page_w / 2 + tilt + jitter(), cy - page_h / 2 + jitter()],
        [cx + page_w / 2 - tilt + jitter(), cy - page_h / 2 + jitter()],
        [cx + page_w / 2 + jitter(), cy + page_h / 2 + jitter()],
        [cx - page_w / 2 + jitter(), cy + page_h / 2 + jitter()],
    ], dtype=np.float32)
    angle = math.radians(rng.uniform(-3.5, 3.5))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], dtype=np.float32)
    quad = (quad - [cx, cy]) @ rot.T + [cx, cy]
    quad[:, 0] = quad[:, 0].clip(10, frame_w - 10)
    quad[:, 1] = quad[:, 1].clip(10, frame_h - 10)

    scale = page_w / image.width * 1.15
    small = image.convert("RGB").resize((round(image.width * scale), round(image.height * scale)),
                                        Image.LANCZOS)
    source = np.asarray(small, dtype=np.float32)
    sw, sh = small.size
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    warped = cv2.warpPerspective(source, matrix, (frame_w, frame_h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask = cv2.warpPerspective(np.ones((sh, sw), np.float32), matrix, (frame_w, frame_h), flags=cv2.INTER_LINEAR)
    background = _table_texture(frame_w, frame_h, rng)
    shadow = cv2.GaussianBlur(mask, (0, 0), frame_w / 120)
    shadow = np.roll(shadow, (int(frame_h * 0.006), int(frame_w * 0.006)), axis=(0, 1))
    background *= (1 - 0.45 * shadow)[..., None]
    mask = mask[..., None]
    photo = warped * mask + background * (1 - mask)

    yy, xx = np.mgrid[0:frame_h, 0:frame_w].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(direction) + yy * math.sin(direction))
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    low, high = rng.uniform(0.55, 0.75), rng.uniform(0.95, 1.05)
    light = low + (high - low) * ramp
    radius = np.hypot(xx - frame_w / 2, yy - frame_h / 2) / math.hypot(frame_w / 2, frame_h / 2)
    light *= 1 - rng.uniform(0.05, 0.2) * radius ** 2
    if rng.random() < 0.35:
        sx, sy = rng.uniform(0, frame_w), rng.uniform(0, frame_h)
        blob = np.exp(-(((xx - sx) / (0.25 * frame_w)) ** 2 + ((yy - sy) / (0.2 * frame_h)) ** 2))
        light *= 1 - rng.uniform(0.15, 0.3) * blob
    photo *= light[..., None]
    photo *= np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.86, 0.97)], dtype=np.float32)
    sigma = rng.uniform(0.8, 1.4) * frame_w / 3000
    photo = cv2.GaussianBlur(photo, (0, 0), max(0.5, sigma))
    photo += rng.standard_normal(photo.shape, dtype=np.float32) * np.float32(rng.uniform(2, 5))
    return _from_array(photo)


def _unreadable(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    small = image.convert("L").resize((image.width // 4, image.height // 4), Image.BILINEAR)
    array = cv2.GaussianBlur(np.asarray(small, dtype=np.float32), (0, 0), rng.uniform(5, 8))
    array += rng.normal(0, 28, array.shape).astype(np.float32)
    return _from_array(array).resize((image.width // 2, image.height // 2), Image.BILINEAR)


def degrade(image: Image.Image, kind: str = "clean", seed: int = 0) -> bytes:
    """Encode a page as an upload after a degradation; returns the file's bytes.

    Kinds: ``clean`` (PNG as rendered), ``scan`` (grey paper, blur, noise, dust; JPEG), ``skew`` (a scan
    rotated 1-4 degrees, sign from the seed; ``skew+`` counter-clockwise, ``skew-`` clockwise,
    ``skew:<degrees>`` exact, positive = counter-clockwise), ``rot90``/``rot180``/``rot270`` (the page
    turned that many degrees clockwise, then scanned), ``photo`` (phone photo on a table: perspective,
    uneven light, colour cast, blur; JPEG ~80 at 3000x4000, 2250x3000 or 1600x2100), ``photo_exif``
    (the photo stored sideways with EXIF Orientation=6, as phones do), ``dpi150`` (downscaled to 150 DPI,
    PNG), ``unreadable`` (heavy blur and noise: no text can be read), ``photo_hard`` (a hard phone photo:
    the page at 110-135 DPI effective (``photo_hard_dpi(seed)``), corners pulled in by 5-12 %, motion blur,
    light falling to about a third at one edge, JPEG quality 35-55), ``scan_multi`` (a page of a cheap
    multi-page scan: 200 DPI, grey, blur, noise, JPEG quality 50-65).
    """
    rng = np.random.default_rng(seed)
    if kind == "clean":
        return _encode(image, "PNG", dpi=(DPI, DPI))
    if kind == "scan":
        return _encode(_scan(image, rng), "JPEG", quality=int(rng.integers(72, 89)), dpi=(DPI, DPI))
    if kind.startswith("skew"):
        suffix = kind[4:]
        if suffix.startswith(":"):
            angle = float(suffix[1:])
        else:
            magnitude = rng.uniform(1.0, 4.0)
            sign = {"+": 1, "-": -1}.get(suffix, 1 if seed % 2 == 0 else -1)
            angle = sign * magnitude
        rotated = image.convert("RGB").rotate(angle, resample=Image.BICUBIC, fillcolor=(255, 255, 255))
        if rng.random() < 0.5:  # a scanner fed the sheet askew
            scanned = _scan(rotated, rng, strength=0.6)
            return _encode(scanned, "JPEG", quality=int(rng.integers(80, 92)), dpi=(DPI, DPI))
        # a crooked page from a scanning app: grey, lightly blurred, lossless
        return _encode(rotated.convert("L").filter(ImageFilter.GaussianBlur(0.6)), "PNG", dpi=(DPI, DPI))
    if kind in ("rot90", "rot180", "rot270"):
        turn = {"rot90": Image.Transpose.ROTATE_270, "rot180": Image.Transpose.ROTATE_180,
                "rot270": Image.Transpose.ROTATE_90}[kind]
        scanned = _scan(image.transpose(turn), rng, strength=0.6)
        return _encode(scanned, "JPEG", quality=int(rng.integers(80, 92)), dpi=(DPI, DPI))
    if kind == "photo":
        return _encode(_photo(image, rng), "JPEG", quality=int(rng.integers(76, 85)))
    if kind == "photo_exif":
        sideways = _photo(image, rng).transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        return _encode(sideways, "JPEG", quality=int(rng.integers(76, 85)), exif=exif.tobytes())
    if kind == "dpi150":
        small = image.convert("RGB").resize((image.width // 2, image.height // 2), Image.LANCZOS)
        if rng.random() < 0.5:
            small = small.convert("L")
        return _encode(small, "PNG", dpi=(150, 150))
    if kind == "unreadable":
        return _encode(_unreadable(image, rng), "JPEG", quality=35)
    if kind == "photo_hard":
        photo, dpi = _photo_hard(image, rng)
        return _encode(photo, "JPEG", quality=int(rng.integers(35, 56)), dpi=(72, 72))
    if kind == "scan_multi":
        return _encode(_scan_multi(image, rng), "JPEG", quality=int(rng.integers(50, 66)), dpi=(200, 200))
    raise ValueError(f"unknown degradation {kind!r}")


def photo_hard_dpi(seed: int) -> float:
    """The effective resolution (pixels per inch of paper) ``degrade(..., "photo_hard", seed)`` renders at."""
    return float(np.random.default_rng(seed).uniform(110, 135))


def _photo_hard(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, float]:
    """A hard phone photo: the page at 110-135 DPI, corners pulled in by 5-12 % of the page, motion blur,
    the light falling to about a third at one edge; returns the photo and its effective DPI."""
    dpi = float(rng.uniform(110, 135))
    page_w = round(image.width * dpi / DPI)
    page_h = round(image.height * dpi / DPI)
    small = np.asarray(image.convert("RGB").resize((page_w, page_h), Image.LANCZOS), dtype=np.float32)
    margin_x, margin_y = round(page_w * 0.06), round(page_h * 0.05)
    frame_w, frame_h = page_w + 2 * margin_x, page_h + 2 * margin_y
    pulls = rng.uniform(0.05, 0.12, size=4)
    # pull the two corners of one side towards each other (a page shot at an angle) and jitter the rest
    side = int(rng.integers(0, 4))
    corners = np.array([[0, 0], [page_w, 0], [page_w, page_h], [0, page_h]], dtype=np.float32)
    centre = corners.mean(axis=0)
    quad = corners.copy()
    for i in range(4):
        towards = centre - corners[i]
        towards /= np.linalg.norm(towards)
        amount = pulls[i] * (page_w if i in (side, (side + 1) % 4) else page_w * 0.35)
        quad[i] = corners[i] + towards * amount
    quad += np.array([margin_x, margin_y], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners, quad.astype(np.float32))
    warped = cv2.warpPerspective(small, matrix, (frame_w, frame_h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((page_h, page_w), np.float32), matrix, (frame_w, frame_h))[..., None]
    photo = warped * mask + _table_texture(frame_w, frame_h, rng) * (1 - mask)
    yy, xx = np.mgrid[0:frame_h, 0:frame_w].astype(np.float32)
    direction = int(rng.integers(0, 4)) * math.pi / 2 + rng.uniform(-0.3, 0.3)  # from one edge
    ramp = xx * math.cos(direction) + yy * math.sin(direction)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    low = rng.uniform(0.30, 0.38)
    photo *= (low + (1.0 - low) * ramp ** 0.8)[..., None]
    length = int(rng.integers(1, 4))  # a line of 3-7 px
    kernel = np.zeros((length * 2 + 1, length * 2 + 1), np.float32)
    angle = rng.uniform(0, math.pi)
    for t in np.linspace(-length, length, 4 * length + 1):
        kernel[round(length + t * math.sin(angle)), round(length + t * math.cos(angle))] = 1
    photo = cv2.filter2D(photo, -1, kernel / kernel.sum())
    photo *= np.array([1.0, rng.uniform(0.94, 1.0), rng.uniform(0.84, 0.96)], dtype=np.float32)
    photo += rng.standard_normal(photo.shape, dtype=np.float32) * np.float32(rng.uniform(3, 6))
    return _from_array(photo), dpi


def _scan_multi(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A page of a cheap multi-page scan: 200 DPI, grey, stronger blur and noise."""
    small = image.convert("RGB").resize((image.width * 2 // 3, image.height * 2 // 3), Image.BILINEAR)
    small.info["dpi"] = (200, 200)
    return _scan(small, rng, strength=1.25).convert("L")


def photo_of_nothing(seed: int = 0) -> bytes:
    """A phone photo of a bare table (no document at all), JPEG."""
    rng = np.random.default_rng(seed)
    texture = _table_texture(1600, 2100, rng)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.2)
    return _encode(_from_array(texture), "JPEG", quality=80)


# ----------------------------------------------------------------------------------------------- PDFs

PageSource = Union[Image.Image, bytes]


def _as_image(page: PageSource) -> Image.Image:
    if isinstance(page, Image.Image):
        return page
    image = Image.open(io.BytesIO(page))
    image.load()
    return image


def to_pdf(pages: Sequence[PageSource], text_layer: bool = False) -> bytes:
    """A PDF of the given pages.

    ``text_layer=False``: a scanned PDF, each page an image (PIL images or ``degrade`` output), saved by
    Pillow at the image's DPI (300 unless the image says otherwise).
    ``text_layer=True``: an "electronic" PDF as exported by an HR system: the typeset text of pages from
    ``render_document`` as real PDF text (embedded TrueType fonts, extractable), no image.
    """
    if not pages:
        raise ValueError("no pages")
    if text_layer:
        return _text_pdf([_as_image(p) for p in pages])
    images = []
    for page in pages:
        image = _as_image(page)
        images.append(image.convert("L") if image.mode in ("1", "L", "LA", "P") else image.convert("RGB"))
    dpi = images[0].info.get("dpi", (DPI, DPI))[0] or DPI
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=images[1:], resolution=float(dpi))
    return buffer.getvalue()


def _text_pdf(images: Sequence[Image.Image]) -> bytes:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument.new()
    fonts: dict[str, object] = {}
    keep_alive = []
    width_pt, height_pt = A4_PX[0] * 72 / DPI, A4_PX[1] * 72 / DPI
    for image in images:
        if "docgen_runs" not in image.info:
            raise ValueError("text_layer=True needs pages from render_document (they carry their text)")
        page = document.new_page(width_pt, height_pt)
        for x, baseline, text, path, size in image.info["docgen_runs"]:
            if path not in fonts:
                data = open(path, "rb").read()
                buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
                keep_alive.append(buffer)
                fonts[path] = pdfium_c.FPDFText_LoadFont(document, buffer, len(data),
                                                         pdfium_c.FPDF_FONT_TRUETYPE, True)
            obj = pdfium_c.FPDFPageObj_CreateTextObj(document, fonts[path], size * 72 / DPI)
            encoded = ctypes.create_string_buffer((text + "\x00").encode("utf-16-le"))
            keep_alive.append(encoded)
            pdfium_c.FPDFText_SetText(obj, ctypes.cast(encoded, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
            pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x * 72 / DPI, height_pt - baseline * 72 / DPI)
            pdfium_c.FPDFPage_InsertObject(page.raw, obj)
        pdfium_c.FPDFPage_GenerateContent(page.raw)
    buffer = io.BytesIO()
    document.save(buffer)
    for font in fonts.values():
        pdfium_c.FPDFFont_Close(font)
    document.close()
    return buffer.getvalue()


# ================================================================================ generated people
#
# Hundreds of people instead of a hand-picked few. Their declined forms come from an independent
# inflector (the ``pytrovich`` package, a port of the Petrovich rules, test extra) plus a few
# hand-written rules it lacks: Kazakh patronymics (-ұлы/-қызы) and female names ending in a consonant
# do not decline, female names in consonant+ь decline like "Любовь" (Асель -> Асели, Аселью).

_VOWELS = set("аеёиоуыэюяәіөүұ")


@lru_cache(maxsize=1)
def _inflector():
    from pytrovich.maker import PetrovichDeclinationMaker

    return PetrovichDeclinationMaker()


def _kazakh_patronymic(word: str) -> bool:
    return word.endswith(("ұлы", "қызы", "улы", "кызы"))


def decline(part: str, word: str, female: bool, case: str) -> str:
    """One part of a name (``last``, ``first``, ``middle``) in a case (``nom gen dat acc ins``)."""
    if case == "nom" or not word:
        return word
    if part == "middle" and _kazakh_patronymic(word):
        return word
    if part == "last" and "-" in word:
        return "-".join(decline(part, piece, female, case) for piece in word.split("-"))
    if part == "first" and female and word.endswith("ь") and word[-2].lower() not in _VOWELS:
        return {"gen": word[:-1] + "и", "dat": word[:-1] + "и", "acc": word, "ins": word + "ю"}[case]
    from pytrovich.enums import Case, Gender, NamePart

    name_part = {"last": NamePart.LASTNAME, "first": NamePart.FIRSTNAME, "middle": NamePart.MIDDLENAME}[part]
    grammatical_case = {"gen": Case.GENITIVE, "dat": Case.DATIVE, "acc": Case.ACCUSATIVE,
                        "ins": Case.INSTRUMENTAL}[case]
    return _inflector().make(name_part, Gender.FEMALE if female else Gender.MALE, grammatical_case, word)


def declined_forms(last: str, first: str, middle: str, female: bool) -> dict:
    """``nom gen dat acc ins initials`` of a full name, from the independent inflector."""
    forms = {}
    for case in ("nom", "gen", "dat", "acc", "ins"):
        words = [decline("last", last, female, case), decline("first", first, female, case)]
        if middle:
            words.append(decline("middle", middle, female, case))
        forms[case] = " ".join(words)
    forms["initials"] = f"{last} " + "".join(f"{w[0]}." for w in (first, middle) if w)
    return forms


def kazakh_dative(nominative: str) -> str:
    """The Kazakh dative of a full name as bilingual documents print it ("... Серікұлына", "... Петровнаға")."""
    words = nominative.split()
    last = words[-1]
    if _kazakh_patronymic(last):
        suffix = "на"
    else:
        vowels = [c for c in last.lower() if c in _VOWELS]
        front = bool(vowels) and vowels[-1] in "әеіөүиэ"
        end = last.rstrip("ь")[-1].lower()
        if end in "кпстфхшщчқц":
            suffix = "ке" if front else "қа"
        else:
            suffix = "ге" if front else "ға"
    return " ".join(words[:-1] + [last + suffix])


# Surnames in the masculine form: (Russian spelling, Kazakh spelling or "", origin)
SURNAMES = [
    ("Иванов", "", "ru"), ("Смирнов", "", "ru"), ("Кузнецов", "", "ru"), ("Попов", "", "ru"),
    ("Соколов", "", "ru"), ("Лебедев", "", "ru"), ("Новиков", "", "ru"), ("Морозов", "", "ru"),
    ("Волков", "", "ru"), ("Орлов", "", "ru"), ("Ёлкин", "", "ru"), ("Королёв", "", "ru"),
    ("Фёдоров", "", "ru"), ("Белов", "", "ru"), ("Никитин", "", "ru"), ("Шилов", "", "ru"),
    ("Данилов", "", "ru"), ("Семёнов", "", "ru"), ("Петров", "", "ru"), ("Тихонов", "", "ru"),
    ("Ахметов", "", "kz"), ("Жумабаев", "Жұмабаев", "kz"), ("Касымов", "Қасымов", "kz"), ("Омаров", "", "kz"),
    ("Тулегенов", "Төлегенов", "kz"), ("Абенов", "Әбенов", "kz"), ("Куанышбаев", "Қуанышбаев", "kz"),
    ("Нурпеисов", "Нұрпейісов", "kz"), ("Оразбаев", "", "kz"), ("Сарсенбаев", "Сәрсенбаев", "kz"),
    ("Исмаилов", "Ысмайылов", "kz"), ("Жаксылыков", "Жақсылықов", "kz"), ("Бекенов", "", "kz"),
    ("Калиев", "Қалиев", "kz"), ("Муканов", "Мұқанов", "kz"), ("Сейтказиев", "Сейітқазиев", "kz"),
    ("Нуркенов", "Нүркенов", "kz"), ("Есенов", "", "kz"), ("Байжанов", "", "kz"), ("Тохтаров", "Тоқтаров", "kz"),
    ("Хайруллин", "", "tt"), ("Гарипов", "", "tt"), ("Сафин", "", "tt"), ("Галиев", "", "tt"),
    ("Валиев", "", "tt"), ("Мухаметшин", "", "tt"), ("Шарипов", "", "tt"), ("Закиров", "", "tt"),
    ("Шевченко", "", "ua"), ("Коваленко", "", "ua"), ("Бондаренко", "", "ua"), ("Ткаченко", "", "ua"),
    ("Кравчук", "", "ua"), ("Мельничук", "", "ua"), ("Лысенко", "", "ua"), ("Савчук", "", "ua"),
    ("Ким", "", "ko"), ("Пак", "", "ko"), ("Цой", "", "ko"), ("Ли", "", "ko"), ("Тен", "", "ko"),
    ("Хан", "", "ko"), ("Шин", "", "ko"), ("Когай", "", "ko"), ("Пян", "", "ko"),
]
_INDECLINABLE_SURNAMES = {s[0] for s in SURNAMES if s[2] == "ko"}
# First names: (Russian spelling, Kazakh spelling or "", female, origin)
FIRST_NAMES = [
    ("Александр", "", False, "ru"), ("Дмитрий", "", False, "ru"), ("Сергей", "", False, "ru"),
    ("Андрей", "", False, "ru"), ("Алексей", "", False, "ru"), ("Максим", "", False, "ru"),
    ("Илья", "", False, "ru"), ("Павел", "", False, "ru"), ("Никита", "", False, "ru"),
    ("Артём", "", False, "ru"), ("Пётр", "", False, "ru"), ("Денис", "", False, "ru"), ("Роман", "", False, "ru"),
    ("Нурлан", "Нұрлан", False, "kz"), ("Нуржан", "Нұржан", False, "kz"), ("Ерлан", "", False, "kz"),
    ("Ержан", "", False, "kz"), ("Данияр", "", False, "kz"), ("Даниял", "", False, "kz"),
    ("Асхат", "", False, "kz"), ("Бауыржан", "", False, "kz"), ("Айдос", "", False, "kz"),
    ("Айдар", "", False, "kz"), ("Серик", "Серік", False, "kz"), ("Болат", "", False, "kz"),
    ("Канат", "Қанат", False, "kz"), ("Жандос", "", False, "kz"), ("Самат", "", False, "kz"),
    ("Санат", "", False, "kz"), ("Арман", "", False, "kz"), ("Арсен", "", False, "kz"), ("Марат", "", False, "kz"),
    ("Марлен", "", False, "kz"),
    ("Ринат", "", False, "tt"), ("Рустам", "", False, "tt"), ("Руслан", "", False, "tt"),
    ("Ильдар", "", False, "tt"), ("Тимур", "", False, "tt"),
    ("Тарас", "", False, "ua"), ("Богдан", "", False, "ua"), ("Олег", "", False, "ua"), ("Виталий", "", False, "ua"),
    ("Мария", "", True, "ru"), ("Марина", "", True, "ru"), ("Анна", "", True, "ru"), ("Елена", "", True, "ru"),
    ("Ольга", "", True, "ru"), ("Наталья", "", True, "ru"), ("Татьяна", "", True, "ru"), ("Алёна", "", True, "ru"),
    ("Юлия", "", True, "ru"), ("Дарья", "", True, "ru"), ("Ксения", "", True, "ru"), ("Светлана", "", True, "ru"),
    ("Дина", "", True, "kz"), ("Динара", "", True, "kz"), ("Алия", "Әлия", True, "kz"), ("Алина", "", True, "kz"),
    ("Айгуль", "Айгүл", True, "kz"), ("Айгерим", "Айгерім", True, "kz"), ("Жанар", "", True, "kz"),
    ("Асель", "Әсел", True, "kz"), ("Асем", "Әсем", True, "kz"), ("Гульнара", "Гүлнара", True, "kz"),
    ("Гульназ", "Гүлназ", True, "kz"), ("Камила", "", True, "kz"), ("Камилла", "", True, "kz"),
    ("Айжан", "", True, "kz"), ("Жанара", "", True, "kz"), ("Салтанат", "", True, "kz"), ("Диана", "", True, "kz"),
    ("Дана", "", True, "kz"), ("Гаухар", "", True, "kz"), ("Сауле", "Сәуле", True, "kz"),
    ("Альфия", "", True, "tt"), ("Лилия", "", True, "tt"), ("Резеда", "", True, "tt"), ("Лейсан", "", True, "tt"),
    ("Оксана", "", True, "ua"), ("Олеся", "", True, "ua"), ("Галина", "", True, "ua"),
]
# Distinct names a letter or two apart with the same first letter (one's initials fit the other);
# spellings of one name (Камила/Камилла, Жанар/Жанара) are left out: they may be the same person
NEAR_NAMES = [("Дина", "Динара"), ("Марина", "Мария"), ("Алия", "Алина"), ("Диана", "Дана"),
              ("Асель", "Асем"), ("Гульнара", "Гульназ"), ("Нурлан", "Нуржан"),
              ("Ерлан", "Ержан"), ("Данияр", "Даниял"), ("Арман", "Арсен"), ("Руслан", "Рустам"),
              ("Марат", "Марлен"), ("Айдос", "Айдар"), ("Самат", "Санат")]
# Patronymics: (masculine, feminine, origins it suits, OCR-confusable letters)
PATRONYMICS = [
    ("Петрович", "Петровна", "ru ua ko", False), ("Сергеевич", "Сергеевна", "ru ua ko tt", False),
    ("Николаевич", "Николаевна", "ru ua ko", False), ("Иванович", "Ивановна", "ru ua ko", False),
    ("Михайлович", "Михайловна", "ru ua ko", False), ("Павлович", "Павловна", "ru ua ko", False),
    ("Юрьевич", "Юрьевна", "ru ua ko", False), ("Андреевич", "Андреевна", "ru ua ko", False),
    ("Владимирович", "Владимировна", "ru ua ko tt", False), ("Ильич", "Ильинична", "ru", True),
    ("Серикович", "Сериковна", "kz", False), ("Ерланович", "Ерлановна", "kz", False),
    ("Маратович", "Маратовна", "kz tt", False), ("Болатович", "Болатовна", "kz", False),
    ("Кайратович", "Кайратовна", "kz", False), ("Нурланович", "Нурлановна", "kz", False),
    ("Рашидович", "Рашидовна", "tt", False), ("Ринатович", "Ринатовна", "tt", False),
    ("Тарасович", "Тарасовна", "ua", False),
    ("Серікұлы", "Серікқызы", "kz", False), ("Болатұлы", "Болатқызы", "kz", False),
    ("Нұрланұлы", "Нұрланқызы", "kz", False), ("Қайратұлы", "Қайратқызы", "kz", False),
    ("Ерланұлы", "Ерланқызы", "kz", False), ("Асқарұлы", "Асқарқызы", "kz", False),
    # letters OCR confuses (и/н/п, ш/щ, л/д, е/с)
    ("Данилович", "Даниловна", "ru ua", True), ("Леонидович", "Леонидовна", "ru ua ko", True),
    ("Шамшиевич", "Шамшиевна", "kz", True), ("Ниязович", "Ниязовна", "kz tt", True),
    ("Пашаевич", "Пашаевна", "kz tt", True), ("Ильдусович", "Ильдусовна", "tt", True),
    ("Даниярович", "Данияровна", "kz", True), ("Шарипович", "Шариповна", "tt", True),
    ("Ильясович", "Ильясовна", "kz tt ko", True),
]


def feminine_surname(masculine: str) -> str:
    """Иванов -> Иванова, Ёлкин -> Ёлкина, Ковальчук/Ким/Шевченко stay (hyphenated: each part)."""
    if "-" in masculine:
        return "-".join(feminine_surname(piece) for piece in masculine.split("-"))
    if masculine in _INDECLINABLE_SURNAMES:
        return masculine
    if masculine.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return masculine + "а"
    if masculine.endswith("ский"):
        return masculine[:-4] + "ская"
    return masculine


def _random_iin(rng: random.Random, female: bool, avoid: Iterable[str] = ()) -> str:
    avoid = set(avoid)
    while True:
        year = rng.randint(1968, 2004)
        digit = (3 if year < 2000 else 5) + (1 if female else 0)
        first11 = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{digit}{rng.randint(0, 9999):04d}"
        if checksum_digit(first11) is not None and complete_iin(first11) not in avoid:
            return complete_iin(first11)


def make_person(key: str, last: str, first: str, middle: str, female: bool, iin: str,
                event_name: Optional[tuple[str, str, str]] = None) -> Person:
    """A person whose declined forms come from the independent inflector (``declined_forms``)."""
    forms = declined_forms(last, first, middle, female)
    return Person(key, iin, forms, kazakh_dative(forms["nom"]), event_name)


def _yo_to_e(text: str) -> str:
    return text.replace("ё", "е").replace("Ё", "Е")


def random_person(rng: random.Random, key: str, *, female: Optional[bool] = None, origin: Optional[str] = None,
                  surname: Optional[str] = None, first: Optional[str] = None, middle: Optional[str] = None,
                  patronymic: Optional[bool] = None, double: bool = False, spelling: str = "",
                  confusable: bool = False, avoid_iins: Iterable[str] = ()) -> Person:
    """A random person. ``surname`` is masculine; ``spelling``: ``kk`` (the document prints the Kazakh
    spelling, the request the Russian one), ``yo`` (document ё, request е), ``e_yo`` (document е, request ё).
    """
    female = rng.random() < 0.55 if female is None else female
    if spelling == "kk":
        pool = [s for s in SURNAMES if s[1]]
        names = [n for n in FIRST_NAMES if n[1] and n[2] == female]
        sur = next((s for s in SURNAMES if s[0] == surname), None) if surname else None
        sur = sur or rng.choice(pool)
        name = rng.choice(names)
        origin = "kz"
    else:
        origin = origin or (rng.choice(("ru", "kz", "kz", "kz", "tt", "ua", "ko")) if surname is None else
                            next((s[2] for s in SURNAMES if s[0] == surname.split("-")[0]), "ru"))
        sur = (surname, "", origin) if surname else rng.choice([s for s in SURNAMES if s[2] == origin])
        names = [n for n in FIRST_NAMES
                 if n[2] == female and (n[3] == origin or origin in ("ko", "ua") and n[3] == "ru")]
        if spelling in ("yo", "e_yo"):
            with_yo = [n for n in FIRST_NAMES if "ё" in n[0] and n[2] == female]
            if "ё" not in sur[0].lower() and (not with_yo or rng.random() < 0.5):
                sur = rng.choice([s for s in SURNAMES if "ё" in s[0].lower()])
            elif with_yo:
                names = with_yo
        name = next((n for n in FIRST_NAMES if n[0] == first), None) if first else rng.choice(names)
        name = name or (first, "", female, origin)
    last_ru = sur[0]
    if double and "-" not in last_ru:
        other = rng.choice([s for s in SURNAMES if s[2] == "ru" and s[0] != last_ru])
        last_ru = f"{last_ru}-{other[0]}"
    first_ru = name[0]
    if middle is None:
        if patronymic is None:
            patronymic = not (origin == "kz" and rng.random() < 0.12)
        if patronymic:
            choices = [p for p in PATRONYMICS if origin in p[2].split() and (p[3] or not confusable)]
            if confusable:
                choices = [p for p in choices if p[3]] or [p for p in PATRONYMICS if p[3]]
            pick = rng.choice(choices)
            middle = pick[1] if female else pick[0]
        else:
            middle = ""
    last_doc, first_doc = last_ru, first_ru
    event = None
    if spelling == "kk":
        kk_sur = sur[1] or sur[0]
        last_doc = kk_sur + ("-" + last_ru.split("-", 1)[1] if "-" in last_ru else "")
        first_doc = name[1] or name[0]
        event_middle = middle
        if _kazakh_patronymic(middle):
            event_middle = middle
        event = ((feminine_surname(last_ru) if female else last_ru), first_ru, event_middle)
    last_doc = feminine_surname(last_doc) if female else last_doc
    if spelling == "yo":
        event = (_yo_to_e(last_doc), _yo_to_e(first_doc), _yo_to_e(middle))
    elif spelling == "e_yo":
        event = (last_doc, first_doc, middle)
        last_doc, first_doc, middle = _yo_to_e(last_doc), _yo_to_e(first_doc), _yo_to_e(middle)
    return make_person(key, last_doc, first_doc, middle, female, _random_iin(rng, female, avoid_iins), event)


def relative_of(person: Person, rng: random.Random, key: str, *, female: Optional[bool] = None,
                first: Optional[str] = None, same_patronymic: bool = True, near: bool = False,
                avoid_initial: bool = True) -> Person:
    """Someone of the same family name (sibling, spouse, child): masculine/feminine surname as fits.

    ``near``: a first name a letter or two from the person's (Дина/Динара) with the same first letter;
    ``avoid_initial``: otherwise pick a first name with another first letter (initials differ).
    """
    female = person.female if female is None else female
    masculine = person.last_name
    if person.female:
        parts = []
        for piece in masculine.split("-"):
            parts.append(piece[:-1] if piece.endswith(("ова", "ева", "ёва", "ина", "ына")) else
                         piece[:-2] + "ий" if piece.endswith("ская") else piece)
        masculine = "-".join(parts)
    surname = feminine_surname(masculine) if female else masculine
    if first is None and near:
        pairs = [p for p in NEAR_NAMES if person.first_name in p or _yo_to_e(person.first_name) in p]
        if pairs:
            pair = pairs[0]
            first = pair[1] if pair[0] in (person.first_name, _yo_to_e(person.first_name)) else pair[0]
            female = person.female
            surname = person.last_name
    if first is None:
        origin = next((n[3] for n in FIRST_NAMES if person.first_name in (n[0], n[1])), "ru")
        pool = [n[0] for n in FIRST_NAMES if n[2] == female and n[0] != person.first_name
                and (not avoid_initial or n[0][0] != person.first_name[0])]
        first = rng.choice([n for n in pool if any(f[0] == n and f[3] == origin for f in FIRST_NAMES)] or pool)
    middle = ""
    if same_patronymic and person.second_name:
        for masc, fem, _, _ in PATRONYMICS + [("Серікұлы", "Серікқызы", "", False)]:
            if person.second_name in (masc, fem):
                middle = fem if female else masc
                break
        else:
            middle = person.second_name
    elif person.second_name:
        kazakh_style = _kazakh_patronymic(person.second_name)
        same_letter = [p for p in PATRONYMICS if p[0][0] == person.second_name[0]
                       and person.second_name not in (p[0], p[1]) and _kazakh_patronymic(p[0]) == kazakh_style]
        pick = rng.choice(same_letter or PATRONYMICS)
        middle = pick[1] if female else pick[0]
    return make_person(key, surname, first, middle, female, _random_iin(rng, female, [person.iin]))


# ==================================================================================== richer cases
#
# ``make_case(group, seed)`` decides who the document is about, whose request it is, how and how often
# the person is named and what lies over the name; ``render_case(spec)`` typesets it. The expected answer
# is part of the spec (known by construction).

INKS = {  # pens and stamp pads
    "dark_blue": (25, 40, 120), "blue": (40, 70, 175), "violet": (110, 45, 160), "black": (45, 45, 60),
}
CASE_GROUPS_POSITIVE = ("multiple_mentions", "relative_named_in_full", "ink_over_name", "spelling_variant",
                        "multi_page_scan", "caps", "broken_line", "table_layout", "two_column",
                        "double_surname", "photo_hard")
CASE_GROUPS_NEGATIVE = ("initials_of_other_person", "near_namesake", "relative", "other_person", "namesake",
                        "other_patronymic", "unreadable")
_CASE_CODES = {"namesake": "IIN_MISMATCH", "unreadable": "UNREADABLE_DOCUMENT"}


@dataclass(frozen=True)
class CaseSpec:
    """One generated document and the answer it must get.

    ``subject`` is whom the document is about, ``applicant`` whose request it is checked against.
    ``mention`` how the subject is named in the body: a case of ``NAME_CASES`` (full cases only here),
    in ``caps``, ``broken`` over two lines or in a ``table`` cell (one cell, or ``split_table``: surname,
    name and patronymic in their own rows). ``ack`` adds an acknowledgement line with the subject's
    initials ("С приказом ознакомлена: ______ Иванова М.П."). ``others``: (role, person) named in full
    beside the subject (child, spouse, sibling). ``ink``: ("seal" | "stroke", ink name) drawn over the
    subject's name in the body. ``pages``: 1-3 (a cover letter first, an announcement after).
    """

    group: str
    seed: int
    doc_type: str
    subject: Person
    applicant: Person
    name_case: str = "dat"
    caps: bool = False
    broken: bool = False
    table: bool = False
    split_table: bool = False
    ack: bool = True
    ack_before: bool = False
    include_iin: bool = True
    others: tuple = ()
    ink: tuple = ()
    pages: int = 1
    expected: bool = True
    expected_code: Optional[str] = None

    def mention(self) -> str:
        """The body mention as printed (without a forced line break)."""
        text = self.subject.forms[self.name_case]
        return text.upper() if self.caps else text


_NAME_PARTS = ("surname", "first", "patronymic")


def spelling_variant(part: str, ours: str, theirs: str) -> bool:
    """True when ``theirs`` is the same name part (``surname``, ``first``, ``patronymic``) as ``ours`` in
    another spelling, as the engine reads names: "Кайратович" is the Russian form of "Қайратұлы" (the
    same father), "Жұмабаев" the Kazakh spelling of "Жумабаев", "Алена" the same name as "Алёна".

    The only use of the engine's name code here: to keep a negative case from naming the applicant
    after all (a document "of another patronymic" printing her own patronymic in its Russian form is
    hers). Each side's nominative is compared, folded, with the other's nominative spellings
    (``names.name_forms``); the forms the documents print still come from the independent inflector.
    """
    if not ours or not theirs:
        return not ours and not theirs
    return _folded(theirs) in _nominative_spellings(part, ours) or _folded(ours) in _nominative_spellings(part, theirs)


def _folded(word: str) -> str:
    from ocr_pipeline.engine.matching import word_key  # here, not at the top: see ``spelling_variant``

    return word_key(word)


@lru_cache(maxsize=4096)
def _nominative_spellings(part: str, word: str) -> frozenset[str]:
    from ocr_pipeline.engine.names import name_forms  # here, not at the top: see ``spelling_variant``

    args = {"surname": (word, "", ""), "first": ("", word, ""), "patronymic": ("", "", word)}[part]
    forms = getattr(name_forms(*args), part)
    return frozenset({_folded(f.text) for f in forms if f.case == "nominative"} | {_folded(word)})


def same_name(applicant: Person, other: Person) -> bool:
    """True when ``other``'s full name is the applicant's in other spellings (``spelling_variant`` for
    the surname, the first name and the patronymic; a patronymic missing on one side does not tell
    them apart). A negative case whose subject has the same name is not a negative (a namesake is,
    only by the IIN)."""
    pairs = [(applicant.last_name, other.last_name), (applicant.first_name, other.first_name)]
    if applicant.second_name and other.second_name:
        pairs.append((applicant.second_name, other.second_name))
    return all(spelling_variant(part, ours, theirs) for part, (ours, theirs) in zip(_NAME_PARTS, pairs))


def make_case(group: str, seed: int, flags: Sequence[str] = ()) -> CaseSpec:
    """A deterministic document of ``group`` (``CASE_GROUPS_POSITIVE`` / ``CASE_GROUPS_NEGATIVE``).

    ``flags``: ``ink`` (put a seal or stroke over the name as well), ``no_ink``.
    """
    rng = random.Random(f"case/{group}/{seed}")
    key = f"g{seed}"
    double = group == "double_surname"
    spelling = rng.choice(("kk", "kk", "yo", "e_yo")) if group == "spelling_variant" else ""
    applicant = random_person(rng, f"{key}_applicant", double=double, spelling=spelling,
                              confusable=group == "multi_page_scan" or rng.random() < 0.15,
                              female=True if group in ("initials_of_other_person", "near_namesake")
                              and rng.random() < 0.6 else None)
    if group in ("initials_of_other_person", "near_namesake"):
        if not any(applicant.first_name in pair for pair in NEAR_NAMES):
            pair = rng.choice([p for p in NEAR_NAMES if any(n[0] == p[0] and n[2] == applicant.female
                                                            for n in FIRST_NAMES)])
            applicant = random_person(rng, f"{key}_applicant", female=applicant.female,
                                      first=pair[rng.randint(0, 1)], origin=rng.choice(("ru", "kz", "tt")),
                                      confusable=rng.random() < 0.2)
    if group == "other_patronymic" and not applicant.second_name:
        # without a patronymic in the request, a document with one would not contradict it
        applicant = random_person(rng, f"{key}_applicant", female=applicant.female, patronymic=True)
    subject = applicant
    expected = group in CASE_GROUPS_POSITIVE
    code = None if expected else _CASE_CODES.get(group, "NAME_NOT_FOUND")
    for _ in range(50):  # a negative's subject must not carry the applicant's name in another spelling
        if group == "initials_of_other_person":
            # a sister (or a namesake colleague) whose initials are the applicant's: full name contradicts
            subject = relative_of(applicant, rng, f"{key}_subject", near=True,
                                  same_patronymic=rng.random() < 0.7 or not applicant.second_name)
            if not initials_collide(subject, applicant):
                subject = relative_of(applicant, rng, f"{key}_subject", near=True, same_patronymic=True)
        elif group == "near_namesake":
            subject = relative_of(applicant, rng, f"{key}_subject", near=True, same_patronymic=True)
        elif group == "relative":
            subject = relative_of(applicant, rng, f"{key}_subject", female=rng.random() < 0.5,
                                  same_patronymic=rng.random() < 0.6)
        elif group == "other_person":
            while True:
                subject = random_person(rng, f"{key}_subject", avoid_iins=[applicant.iin])
                if subject.last_name[:4] != applicant.last_name[:4]:
                    break
        elif group == "namesake":
            subject = replace(applicant, key=f"{key}_namesake", iin=_random_iin(rng, applicant.female, [applicant.iin]),
                              event_name=None)
        elif group == "other_patronymic":
            pool = [p for p in PATRONYMICS
                    if not spelling_variant("patronymic", applicant.second_name, p[1] if applicant.female else p[0])]
            pick = rng.choice(pool)
            subject = make_person(f"{key}_subject", applicant.last_name, applicant.first_name,
                                  pick[1] if applicant.female else pick[0], applicant.female,
                                  _random_iin(rng, applicant.female, [applicant.iin]))
        if expected or group in ("namesake", "unreadable") or not same_name(applicant, subject):
            break
    else:  # pragma: no cover (the pools are far larger than the rare spelling collision)
        raise ValueError(f"no subject for {group} seed {seed} whose name differs from the applicant's")

    types = ["childcare_order", "dismissal_order", "employment_certificate", "sick_leave",
             "employment_certificate_kk"] + (["maternity_order"] * 2 if subject.female else [])
    doc_type = rng.choice(types)
    if group == "table_layout":
        doc_type = rng.choice(["sick_leave", "sick_leave", "maternity_order" if subject.female else "dismissal_order",
                               "childcare_order"])
    if group == "two_column":
        doc_type = "employment_certificate_kk"
    if group == "relative_named_in_full" and rng.random() < 0.5:
        doc_type = "childcare_order"
    name_case = rng.choice(("nom", "gen", "dat", "acc", "ins"))
    if doc_type == "sick_leave" and name_case == "nom" and group != "table_layout":
        name_case = "dat"
    spec = dict(group=group, seed=seed, doc_type=doc_type, subject=subject, applicant=applicant,
                name_case=name_case, expected=expected, expected_code=code,
                include_iin=rng.random() < 0.6, ack=rng.random() < 0.7, ack_before=rng.random() < 0.3)
    if group in ("multiple_mentions", "photo_hard"):
        spec.update(ack=True, caps=rng.random() < 0.3, broken=rng.random() < 0.3,
                    table=doc_type != "employment_certificate_kk" and rng.random() < 0.3)
    elif group == "caps":
        spec.update(caps=True)
    elif group == "broken_line":
        spec.update(broken=True, caps=rng.random() < 0.2)
    elif group == "table_layout":
        spec.update(table=True, split_table=doc_type == "sick_leave" and rng.random() < 0.7,
                    name_case="nom" if doc_type == "sick_leave" else name_case)
    elif group == "initials_of_other_person":
        spec.update(ack=True)  # the initials (fitting the applicant) are the trap; the full name is the subject's
    elif group == "near_namesake":
        spec.update(ack=False)
    elif group == "ink_over_name":
        spec.update(include_iin=True)
    elif group == "namesake":
        spec.update(include_iin=True)
    elif group == "other_patronymic":
        spec.update(include_iin=False, ack=False)
    elif group == "multi_page_scan":
        spec.update(pages=rng.choice((2, 3)))
    if group == "relative" and spec["ack"] and initials_collide(subject, applicant):
        spec["ack"] = False
    others = []
    if group == "relative_named_in_full" or (rng.random() < 0.3 and group not in ("near_namesake",)):
        family = subject
        if doc_type == "childcare_order" or rng.random() < 0.4:
            child = relative_of(family, rng, f"{key}_child", female=rng.random() < 0.5, same_patronymic=False,
                                avoid_initial=False)
            others.append(("child", child))
        if not others or rng.random() < 0.4:
            spouse = relative_of(family, rng, f"{key}_spouse", female=not family.female, same_patronymic=False)
            others.append(("spouse", spouse))
        if group == "relative_named_in_full" and rng.random() < 0.4:
            sibling = relative_of(family, rng, f"{key}_sibling", female=rng.random() < 0.5)
            others.append(("sibling", sibling))
    spec["others"] = tuple(others)
    wants_ink = group == "ink_over_name" or "ink" in flags or (rng.random() < 0.12 and "no_ink" not in flags)
    if wants_ink:
        marks = [(rng.choice(("seal", "stroke")), rng.choice(list(INKS)))]
        if group == "ink_over_name" and rng.random() < 0.4:
            marks.append(("stroke" if marks[0][0] == "seal" else "seal", rng.choice(list(INKS))))
        marks = [("seal", "violet" if ink == "black" else ink) if kind == "seal" else (kind, ink)
                 for kind, ink in marks]
        spec["ink"] = tuple(marks)
        if group == "ink_over_name":
            spec["include_iin"] = True
    return CaseSpec(**spec)


def _relative_sentence(role: str, person: Person, ctx: _Context, rng: random.Random) -> str:
    born = _fmt_date(dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 1800)), ctx.style.date_style)
    if role == "child":
        return (f"Ребенок: {person.forms['nom']}, {born} рождения (свидетельство о рождении "
                f"№ {rng.randint(1000000, 9999999)}).")
    if role == "spouse":
        iin = f", {format_iin(person.iin, ctx.style.iin_style)}" if rng.random() < 0.5 else ""
        word = "Супруга" if person.female else "Супруг"
        return f"{word} работника: {person.forms['nom']}{iin}, место работы — {rng.choice(EMPLOYERS).name_ru}."
    return f"Контактное лицо: {person.forms['nom']} ({'сестра' if person.female else 'брат'}), тел. 8 (701) " \
           f"{rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}."


def _ack_line(page: _Page, spec: CaseSpec, ctx: _Context, what: str) -> None:
    subject = spec.subject
    letters = subject.forms["initials"].split(" ", 1)[1]
    initials = f"{letters} {subject.last_name}" if spec.ack_before else subject.forms["initials"]
    verb = {"order": ("С приказом ознакомлен", "С приказом ознакомлена"),
            "certificate": ("Справку получил", "Справку получила"),
            "sheet": ("Лист получил", "Лист получила")}[what][subject.female]
    page.gap(0.4)
    page.text(f"{verb}: ____________ {initials}   «___» __________ 20___ г.", justify=False)
    page.ack_initials = initials


def _who(spec: CaseSpec, ctx: _Context, kk: bool = False) -> str:
    subject = spec.subject
    words = spec.mention().split()
    if spec.broken and len(words) > 1:
        words.insert(1, BREAK)
    text = " ".join(words)
    if spec.include_iin:
        iin = format_iin(subject.iin, ctx.style.iin_style, kk=kk)
        text = f"{text} ({iin})" if ctx.rng.random() < 0.4 else f"{text}, {iin},"
    return text


def _fill(template: str, spec: CaseSpec, ctx: _Context, who: str) -> str:
    person = spec.subject
    text = template.format(
        who=who, pos_nom=ctx.pos("nom"), pos_gen=ctx.pos("gen"), pos_dat=ctx.pos("dat"),
        pos_acc=ctx.pos("acc"), pos_ins=ctx.pos("ins"), org=ctx.employer.name_ru,
        she=ctx.gender("он", "она", person), being=ctx.gender("находящимся", "находящейся", person),
        warned=ctx.gender("предупрежден", "предупреждена", person), **ctx.values)
    return text.replace(",,", ",").replace(", (", " (").replace(",)", ")")


def _person_table_rows(spec: CaseSpec, ctx: _Context) -> list[tuple[str, str]]:
    subject = spec.subject
    up = (lambda t: t.upper()) if spec.caps else (lambda t: t)
    if spec.split_table:
        rows = [("Фамилия", up(subject.last_name)), ("Имя", up(subject.first_name))]
        if subject.second_name:
            rows.append(("Отчество", up(subject.second_name)))
    else:
        rows = [("Фамилия, имя, отчество", up(subject.forms["nom"]))]
    if spec.include_iin:
        rows.append(("ИИН", format_iin(subject.iin, ctx.style.iin_style).split(" ", 1)[1].lstrip("№: ")))
    return rows


_ORDERS = {
    "maternity_order": ("О предоставлении отпуска по беременности и родам", _MATERNITY,
                        "В соответствии со статьей 99 Трудового кодекса Республики Казахстан,"),
    "childcare_order": ("О предоставлении отпуска без сохранения заработной платы по уходу за ребенком до "
                        "достижения им возраста трех лет", _CHILDCARE,
                        "В соответствии со статьей 100 Трудового кодекса Республики Казахстан,"),
    "dismissal_order": ("О расторжении трудового договора", _DISMISSAL,
                        "В соответствии с подпунктом 5) пункта 1 статьи 49 Трудового кодекса Республики Казахстан,"),
}


def _compose_case(page: _Page, spec: CaseSpec, ctx: _Context, staff: dict) -> None:
    v = ctx.values
    subject = spec.subject
    rng = ctx.rng
    director, accountant = staff["director"], staff["accountant"]
    role = ctx.employer.director_role
    if role == "Заведующая" and not director.female:
        ctx.employer = replace(ctx.employer, director_role="Заведующий")
    director_line = (director.forms["nom"] if rng.random() < 0.4 else
                     f"{director.forms['initials'].split(' ', 1)[1]} {director.last_name}")
    if spec.doc_type in _ORDERS:
        title, templates, preamble = _ORDERS[spec.doc_type]
        _header(page, ctx, bilingual=False)
        _order_title(page, ctx, title)
        _paragraph(page, preamble)
        page.text("ПРИКАЗЫВАЮ:", bold=True)
        if spec.table:
            action = {"maternity_order": "Предоставить отпуск по беременности и родам",
                      "childcare_order": "Предоставить отпуск по уходу за ребенком до достижения им возраста трех лет",
                      "dismissal_order": "Расторгнуть трудовой договор по инициативе работника"}[spec.doc_type]
            _paragraph(page, f"1. {action} работнику, указанному в таблице, с {v['d1']} по {v['d2']}.")
            page.table(_person_table_rows(spec, ctx) + [("Должность", ctx.pos("nom")),
                                                        ("Период", f"с {v['d1']} по {v['d2']}")])
        else:
            _paragraph(page, _fill(templates[spec.name_case], spec, ctx, _who(spec, ctx)))
        number = 2
        for role, person in spec.others:
            _paragraph(page, f"{number}. " + _relative_sentence(role, person, ctx, rng))
            number += 1
        _paragraph(page, f"{number}. Бухгалтерии ({accountant.forms['dat']}) произвести расчеты в порядке, "
                         "установленном законодательством Республики Казахстан.")
        page.gap(0.3)
        page.text(f"Основание: заявление работника от {v['d0']}.", justify=False)
        page.gap(0.6)
        where = page.signature(ctx.employer.director_role, director_line)
        if spec.ack:
            _ack_line(page, spec, ctx, "order")
        _stamp_for(page, ctx, where, ["Для", "документов"])
    elif spec.doc_type == "employment_certificate":
        _header(page, ctx, bilingual=False)
        page.text(f"Исх. № {v['out_no']} от {ctx.date_text(ctx.date)}", justify=False)
        page.gap(0.8)
        page.text("СПРАВКА", align="center", bold=True, scale=1.3)
        page.gap(0.8)
        if spec.table:
            _paragraph(page, f"Настоящая справка подтверждает, что работник, указанный ниже, действительно "
                             f"работает в {ctx.employer.name_ru} по настоящее время.")
            page.table(_person_table_rows(spec, ctx) + [("Должность", ctx.pos("nom")),
                                                        ("Дата приема", v["hired"])])
        else:
            _paragraph(page, _fill(_EMPLOYMENT[spec.name_case], spec, ctx, _who(spec, ctx)))
        for role, person in spec.others:
            _paragraph(page, _relative_sentence(role, person, ctx, rng))
        _paragraph(page, f"Среднемесячная заработная плата за последние шесть месяцев составляет {v['salary']} тенге.")
        page.gap(0.6)
        where = page.signature(ctx.employer.director_role, director_line)
        page.signature("Главный бухгалтер", accountant.forms["nom"] if rng.random() < 0.5 else
                       accountant.forms["initials"])
        if spec.ack:
            _ack_line(page, spec, ctx, "certificate")
        _stamp_for(page, ctx, where, ["Для", "справок"])
    elif spec.doc_type == "sick_leave":
        org, med_bin, doctor, head = v["medical"]
        page.text(org, align="center", bold=True)
        page.text(f"БИН {med_bin}", align="center", scale=0.9)
        page.rule()
        page.text("ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ", align="center", bold=True, scale=1.2)
        page.text(f"№ {v['sl_no']}   (первичный)", align="center")
        page.gap(0.6)
        rows = [("Дата выдачи", ctx.date_text(ctx.date))]
        if spec.table or spec.name_case == "nom":
            rows += _person_table_rows(spec, ctx)
        else:
            templates = dict(_SICK_LEAVE_SENTENCE)
            _paragraph(page, _fill(templates[spec.name_case], spec, ctx, _who(spec, ctx)))
            page.gap(0.3)
        rows += [("Место работы", ctx.employer.name_ru), ("Причина нетрудоспособности", v["reason"]),
                 ("Освобождение от работы", f"с {v['d1']} по {v['d2']}"), ("Режим", "амбулаторный"),
                 ("Приступить к работе", v["return"])]
        page.table(rows)
        for role, person in spec.others:
            page.gap(0.3)
            page.text(_relative_sentence(role, person, ctx, rng), justify=False)
        page.gap(0.4)
        where = page.signature("Врач", doctor)
        page.signature("Заведующий отделением", head)
        if spec.ack:
            _ack_line(page, spec, ctx, "sheet")
        if ctx.style.stamp:
            _stamp(page.image, where, f"{org[:60]} * БИН {med_bin} * ", ["Для листов", "нетрудоспособности"], rng)
    elif spec.doc_type == "employment_certificate_kk":
        _header(page, ctx, bilingual=True)
        _bilingual_title(page, ctx, "АНЫҚТАМА", "СПРАВКА")
        who_kk = subject.kk_dat.upper() if spec.caps else subject.kk_dat
        if spec.include_iin:
            who_kk += f" ({format_iin(subject.iin, ctx.style.iin_style, kk=True)})"
        kk = (f"Осы анықтама {who_kk} {ctx.employer.name_kk}-де {_fmt_date(v['hired_date'], 0, True)} бастап "
              f"қазіргі уақытқа дейін {ctx.pos('kk')} лауазымында шынымен жұмыс істейтіні туралы берілді.")
        ru = _fill(_EMPLOYMENT[spec.name_case], spec, ctx, _who(spec, ctx))
        page.columns([(kk, {}), ("Анықтама талап етілген жерге ұсыну үшін берілді.", {})],
                     [(ru, {}), ("Справка выдана для предоставления по месту требования.", {})])
        for role, person in spec.others:
            page.gap(0.3)
            _paragraph(page, _relative_sentence(role, person, ctx, rng))
        page.gap(0.6)
        where = page.signature(f"{ctx.employer.director_role} / Басшы", director_line)
        page.signature("Главный бухгалтер / Бас бухгалтер", accountant.forms["initials"])
        if spec.ack:
            _ack_line(page, spec, ctx, "certificate")
        _stamp_for(page, ctx, where, ["Анықтамалар", "үшін"])
    else:
        raise ValueError(f"unknown document type {spec.doc_type!r}")
    _footer(page, ctx)


def _name_box(page: _Page, spec: CaseSpec) -> Optional[tuple[int, int, int, int]]:
    """Where the body's mention of the subject is drawn (surname plus what follows on that line)."""
    subject = spec.subject
    up = (lambda t: t.upper()) if spec.caps else (lambda t: t)
    if spec.split_table or (spec.table and spec.doc_type != "employment_certificate_kk") or \
            (spec.doc_type == "sick_leave" and spec.name_case == "nom"):
        words = ([up(subject.last_name), up(subject.first_name)] if spec.split_table
                 else up(subject.forms["nom"]).split())
    else:
        words = spec.mention().split()
    found = page.find(words[0])
    if not found:
        return None
    box = list(found[0])
    for word in words[1:]:
        for other in page.find(word):
            same_line = abs(other[3] - box[3]) < 5 and 0 <= other[0] - box[2] < 80
            if same_line:
                box[2] = other[2]
                break
    return tuple(box)


def _ink_over(page: _Page, spec: CaseSpec, ctx: _Context, box: tuple[int, int, int, int]) -> list:
    rng = ctx.rng
    marks = []
    x0, y0, x1, y1 = box
    for kind, ink in spec.ink:
        colour = INKS[ink]
        if kind == "stroke":
            pad = rng.randint(10, 40)
            area = (x0 - pad, y0 - rng.randint(20, 50), min(A4_PX[0] - 20, x1 + pad), y1 + rng.randint(10, 40))
            _scribble(page.draw, area, rng, colour=colour, width=rng.randint(4, 7))
            marks.append(("stroke", ink, area))
        else:
            radius = rng.randint(190, 240)
            cx = round((x0 + min(x1, x0 + 700)) / 2 + rng.randint(-80, 80))
            cy = round((y0 + y1) / 2 + rng.choice((-1, 1)) * rng.uniform(0.0, 0.8) * radius)
            ring = f"{ctx.employer.name_ru} * БИН {ctx.employer.bin} * {ctx.employer.city_ru} * "
            _stamp(page.image, (cx, cy), ring, ["Отдел", "кадров"], rng, colour=colour,
                   strength=rng.uniform(0.75, 0.95), radius=radius)
            page.draw = ImageDraw.Draw(page.image)
            marks.append(("seal", ink, (cx - radius, cy - radius, cx + radius, cy + radius)))
    return marks


def render_case(spec: CaseSpec) -> list[Image.Image]:
    """The pages of a case (A4, 300 DPI, RGB); the page about the subject carries
    ``info["docgen_text"]``, ``info["docgen_name_box"]`` (the body mention) and ``info["docgen_ink"]``
    (kind, ink, box of each mark over the name)."""
    rng = random.Random(f"render/{spec.group}/{spec.seed}")
    style = _style(rng, None, None)
    employer = rng.choice(EMPLOYERS)
    staff = {}
    for role in ("director", "accountant"):
        while True:
            person = random_person(rng, f"g{spec.seed}_{role}", avoid_iins=[spec.applicant.iin, spec.subject.iin])
            if person.last_name[:4] not in (spec.applicant.last_name[:4], spec.subject.last_name[:4]) and \
                    person.first_name[:1] != spec.applicant.first_name[:1]:
                break
        staff[role] = person
    date = dt.date(2023, 1, 9) + dt.timedelta(days=rng.randint(0, 900))
    number = f"{rng.randint(12, 480)}-{rng.choice(('О', 'К', 'ЛС', 'к/о', 'о'))}"
    position = rng.choice(POSITIONS)
    for attempt in range(6):
        ctx = _Context(spec.subject, spec.name_case, spec.include_iin, (), employer, style,
                       random.Random(rng.random()), position, date, number)
        ctx.values = _values(spec.doc_type, ctx)
        page = _Page(style, ctx.rng)
        try:
            _compose_case(page, spec, ctx, staff)
            break
        except _Overflow:
            style.size_pt = max(10, style.size_pt - 1)
            style.spacing = max(1.08, style.spacing - 0.1)
    else:  # pragma: no cover
        raise RuntimeError("document does not fit on a page")
    box = _name_box(page, spec)
    marks = _ink_over(page, spec, ctx, box) if spec.ink and box else []
    if marks and spec.ack and getattr(page, "ack_initials", None):
        for ack_box in page.find(page.ack_initials)[-1:]:  # the pen signs over the initials too
            _scribble(page.draw, (ack_box[0] - 200, ack_box[1] - 40, ack_box[0] + 60, ack_box[3] + 20), ctx.rng,
                      colour=INKS[marks[0][1]])
    image = page.image
    image.info.update({"docgen_text": "\n".join(page.lines), "docgen_runs": list(page.runs), "dpi": (DPI, DPI),
                       "docgen_name_box": box, "docgen_ink": marks})
    pages = [image]
    if spec.pages >= 2:
        pages.insert(0, render_document("cover_letter", None, seed=spec.seed, employer=employer))
    if spec.pages >= 3:
        pages.append(render_document("announcement", None, seed=spec.seed + 1, employer=employer))
    return pages
