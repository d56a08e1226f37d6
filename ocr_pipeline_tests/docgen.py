"""Realistic test documents for the engine: people, employers, rendered pages, degradations, PDFs.

Everything is deterministic for a given ``seed``. Dependencies: Pillow, numpy, OpenCV and pypdfium2
(only for the text-layer PDF); nothing of the engine except ``iin.checksum_digit``.

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
``dpi150``, ``unreadable``.
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

    def gap(self, lines: float = 1.0) -> None:
        self.y += round(self.line_height() * lines)

    def _wrap(self, words: list[str], font, first_width: float, width: float) -> list[list[str]]:
        lines: list[list[str]] = []
        current: list[str] = []
        for word in words:
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
            line = " ".join(words)
            start = x0 + (indent if number == 0 else 0)
            width = font.getlength(line)
            last = number == len(wrapped) - 1
            if align == "center":
                self._put((x0 + x1 - width) / 2, baseline, line, font, path, size)
            elif align == "right":
                self._put(x1 - width, baseline, line, font, path, size)
            elif justify and not last and len(words) > 1 and align == "left":
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


def _scribble(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    points = []
    steps = 60
    loops = rng.uniform(2.5, 4.5)
    for i in range(steps):
        t = i / (steps - 1)
        x = x0 + (x1 - x0) * t + 35 * math.sin(t * loops * 2 * math.pi)
        y = (y0 + y1) / 2 + (y1 - y0) * 0.45 * math.sin(t * loops * 2 * math.pi + 1.3) * (1 - 0.5 * t)
        points.append((x, y))
    draw.line(points, fill=(25, 40, 120), width=rng.randint(3, 5), joint="curve")


def _stamp(image: Image.Image, center: tuple[int, int], ring_text: str, middle: Sequence[str],
           rng: random.Random) -> None:
    """A round blue stamp, multiplied onto the page like ink (text under it stays readable)."""
    radius = rng.randint(230, 270)
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
    ink *= np.clip(0.45 + 0.55 * blotches, 0.3, 1.0) * rng.uniform(0.6, 0.85)
    colour = np.array([40, 70, 175], dtype=np.float32) / 255.0
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
    PNG), ``unreadable`` (heavy blur and noise: no text can be read).
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
    raise ValueError(f"unknown degradation {kind!r}")


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
