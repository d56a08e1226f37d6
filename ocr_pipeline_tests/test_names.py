"""Name forms generated from the nominative: Russian declension, Kazakh patronymics, initials."""

import pytest

from ocr_pipeline.engine.iin import checksum_digit
from ocr_pipeline.engine.models import Applicant
from ocr_pipeline.engine.names import (
    applicant_gender,
    decline_first_name,
    decline_patronymic,
    decline_surname,
    forms_for_applicant,
    gender_from_names,
    kazakh_case_forms,
    kazakh_spellings,
    name_forms,
    opposite_gender_surname,
)

pytestmark = pytest.mark.unit


def _iin(first11: str) -> str:
    return first11 + str(checksum_digit(first11))


FEMALE_IIN = _iin("90031540012")   # 7th digit 4: female, born in the 1900s
MALE_IIN = _iin("85031130012")     # 7th digit 3: male


def by_case(forms, variants=("", "undeclined")):
    table: dict[str, set[str]] = {}
    for form in forms:
        if form.variant in variants:
            table.setdefault(form.case, set()).add(form.text)
    return table


def texts(forms):
    return {f.text for f in forms}


@pytest.mark.parametrize("surname,female,expected", [
    ("Иванова", True, {"genitive": "Ивановой", "dative": "Ивановой", "accusative": "Иванову",
                       "instrumental": "Ивановой", "prepositional": "Ивановой"}),
    ("Иванов", False, {"genitive": "Иванова", "dative": "Иванову", "accusative": "Иванова",
                       "instrumental": "Ивановым", "prepositional": "Иванове"}),
    ("Жармағанбетова", True, {"genitive": "Жармағанбетовой", "accusative": "Жармағанбетову"}),
    ("Бекмұхамбетов", False, {"dative": "Бекмұхамбетову", "instrumental": "Бекмұхамбетовым"}),
    ("Нургалиева", True, {"dative": "Нургалиевой", "accusative": "Нургалиеву"}),
    ("Пушкин", False, {"genitive": "Пушкина", "instrumental": "Пушкиным"}),
    ("Ильина", True, {"dative": "Ильиной", "accusative": "Ильину"}),
    ("Достоевский", False, {"genitive": "Достоевского", "dative": "Достоевскому",
                            "instrumental": "Достоевским", "prepositional": "Достоевском"}),
    ("Достоевская", True, {"genitive": "Достоевской", "accusative": "Достоевскую"}),
    ("Трубецкой", False, {"genitive": "Трубецкого", "instrumental": "Трубецким"}),
    ("Ким", False, {"genitive": "Кима", "dative": "Киму", "instrumental": "Кимом"}),
    ("Цой", False, {"genitive": "Цоя", "dative": "Цою", "instrumental": "Цоем"}),
    ("Шевчук", False, {"genitive": "Шевчука", "instrumental": "Шевчуком"}),
    ("Гоголь", False, {"genitive": "Гоголя", "instrumental": "Гоголем"}),
    ("Кучма", False, {"genitive": "Кучмы", "dative": "Кучме", "accusative": "Кучму"}),
])
def test_declined_surnames(surname, female, expected):
    table = by_case(decline_surname(surname, female))
    for case, form in expected.items():
        assert form in table[case], (surname, case, table.get(case))


@pytest.mark.parametrize("surname,female", [
    ("Ким", True), ("Ли", True), ("Ли", False), ("Петренко", False), ("Петренко", True),
    ("Шевченко", False), ("Черных", True), ("Седых", False), ("Шевчук", True), ("Дурново", False),
    ("Нұрғали", False), ("Пак", True),
])
def test_undeclinable_surnames_keep_their_nominative(surname, female):
    table = by_case(decline_surname(surname, female))
    for case in ("genitive", "dative", "accusative", "instrumental", "prepositional"):
        assert table[case] == {surname}, (surname, case, table[case])


def test_double_barrelled_surname_declines_part_by_part():
    forms = decline_surname("Иванова-Петрова", True)
    assert "Ивановой-Петровой" in texts(forms)
    assert "Иванову-Петрову" in texts(forms)
    male = texts(decline_surname("Бонч-Бруевич", False))
    assert {"Бонча-Бруевича", "Бонч-Бруевича"} <= male


def test_unknown_gender_generates_both():
    forms = texts(decline_surname("Ахметов", None))
    assert {"Ахметова", "Ахметову", "Ахметовым"} <= forms


@pytest.mark.parametrize("name,female,expected", [
    ("Мария", True, {"genitive": "Марии", "dative": "Марии", "accusative": "Марию", "instrumental": "Марией"}),
    ("Әлия", True, {"genitive": "Әлии", "accusative": "Әлию", "instrumental": "Әлией"}),
    ("Ольга", True, {"genitive": "Ольги", "dative": "Ольге", "accusative": "Ольгу", "instrumental": "Ольгой"}),
    ("Дарья", True, {"genitive": "Дарьи", "dative": "Дарье", "accusative": "Дарью"}),
    ("Любовь", True, {"genitive": "Любови", "instrumental": "Любовью"}),
    ("Айгуль", True, {"genitive": "Айгули", "instrumental": "Айгулью"}),
    ("Иван", False, {"genitive": "Ивана", "dative": "Ивану", "accusative": "Ивана", "instrumental": "Иваном"}),
    ("Нұрлан", False, {"genitive": "Нұрлана", "dative": "Нұрлану", "instrumental": "Нұрланом"}),
    ("Сергей", False, {"genitive": "Сергея", "dative": "Сергею", "instrumental": "Сергеем"}),
    ("Василий", False, {"genitive": "Василия", "prepositional": "Василии"}),
    ("Игорь", False, {"genitive": "Игоря", "instrumental": "Игорем"}),
    ("Павел", False, {"genitive": "Павла", "dative": "Павлу"}),
    ("Лев", False, {"genitive": "Льва"}),
    ("Илья", False, {"genitive": "Ильи", "accusative": "Илью"}),
    ("Никита", False, {"genitive": "Никиты", "dative": "Никите"}),
])
def test_declined_first_names(name, female, expected):
    table = by_case(decline_first_name(name, female))
    for case, form in expected.items():
        assert form in table[case], (name, case, table.get(case))


def test_consonant_final_female_names_stay_undeclined_with_soft_sign_variant():
    forms = decline_first_name("Айгүл", True)
    table = by_case(forms)
    assert table["dative"] == {"Айгүл"}
    assert {"Айгүль", "Айгүли"} <= texts(forms)  # the "Айгуль" spelling, declined
    assert by_case(decline_first_name("Айгерім", True))["genitive"] == {"Айгерім"}
    assert "Айгул" in texts(decline_first_name("Айгуль", True))


@pytest.mark.parametrize("patronymic,expected", [
    ("Петровна", {"genitive": "Петровны", "dative": "Петровне", "accusative": "Петровну",
                  "instrumental": "Петровной"}),
    ("Ильинична", {"genitive": "Ильиничны", "dative": "Ильиничне"}),
    ("Петрович", {"genitive": "Петровича", "dative": "Петровичу", "instrumental": "Петровичем"}),
    ("Сергеевич", {"prepositional": "Сергеевиче"}),
    ("Ильич", {"genitive": "Ильича"}),
])
def test_russian_patronymics_decline(patronymic, expected):
    table = by_case(decline_patronymic(patronymic))
    for case, form in expected.items():
        assert form in table[case]


@pytest.mark.parametrize("patronymic,separate,russian", [
    ("Серікқызы", "Серік қызы", "Серіковна"),
    ("Серікұлы", "Серік ұлы", "Серікович"),
    ("Кайратулы", "Кайрат улы", "Кайратович"),
    ("Ержанқызы", "Ержан қызы", "Ержановна"),
])
def test_kazakh_patronymics_do_not_decline_and_have_variants(patronymic, separate, russian):
    forms = decline_patronymic(patronymic)
    table = by_case(forms)
    for case in ("genitive", "dative", "accusative", "instrumental"):
        assert table[case] == {patronymic}
    assert separate in texts(forms)
    assert russian in texts(forms)


def test_russian_style_patronymic_has_kazakh_variant():
    assert {"Маратқызы", "Марат қызы"} <= texts(decline_patronymic("Маратовна"))


def test_kazakh_case_suffixes_follow_vowel_harmony_and_final_sound():
    assert "Серікұлына" in texts(kazakh_case_forms("Серікұлы"))
    assert "Серікқызының" in texts(kazakh_case_forms("Серікқызы"))
    assert "Петровнаға" in texts(kazakh_case_forms("Петровна"))
    assert "Ахметовқа" in texts(kazakh_case_forms("Ахметов"))
    assert "Айгерімге" in texts(kazakh_case_forms("Айгерім"))


def test_gender_from_iin_and_from_endings():
    assert applicant_gender(Applicant(FEMALE_IIN, "Ким", "Ольга")) == (True, "iin")
    assert applicant_gender(Applicant(MALE_IIN, "Ли", "Ен")) == (False, "iin")
    assert applicant_gender(Applicant("000000000000", "Сулейменова", "Айгүл", "")) == (True, "name")
    assert applicant_gender(Applicant("", "Ахметов", "Нұрлан", "Серікұлы")) == (False, "name")
    assert applicant_gender(Applicant("", "Ким", "Дана", "")) == (True, "name")
    assert gender_from_names("Ли", "Ен") is None
    assert gender_from_names("Ким", "Никита") is False


def test_iin_gender_wins_but_conflicting_endings_generate_both():
    forms = forms_for_applicant(Applicant(FEMALE_IIN, "Ахметов", "Нұрлан", "Серікұлы"))
    assert forms.female is None and forms.gender_source == "iin_conflicts_with_name"
    assert "Ахметову" in texts(forms.surname)


def test_female_iin_declines_consonant_surname_not_at_all():
    forms = forms_for_applicant(Applicant(FEMALE_IIN, "Ким", "Ольга", ""))
    assert texts(forms.surname) >= {"Ким"}
    assert "Киму" not in texts(forms.surname)
    male = forms_for_applicant(Applicant(MALE_IIN, "Ким", "Виктор", ""))
    assert "Киму" in texts(male.surname)


def test_full_forms_include_cases_and_initials():
    forms = name_forms("Иванова", "Мария", "Петровна", female=True)
    full = {f.text for f in forms.full_forms()}
    assert {"Иванова Мария Петровна", "Ивановой Марии Петровне", "Ивановой Марии Петровны",
            "Иванову Марию Петровну", "Ивановой Марией Петровной", "Иванова М.П.", "Иванова М. П.",
            "М.П. Иванова", "Иванова Мария", "Ивановой М.П."} <= full
    assert forms.first_initial == "М" and forms.patronymic_initials == ("П",)


def test_no_patronymic_and_uppercase_input():
    forms = name_forms("ҚАСЫМОВА", "САУЛЕ", "", female=True)
    assert not forms.has_patronymic
    assert "ҚАСЫМОВОЙ" in texts(forms.surname)
    assert {f.text for f in forms.full_forms()} >= {"ҚАСЫМОВА САУЛЕ", "ҚАСЫМОВА С."}


def test_opposite_gender_family_name():
    assert {"Иванов", "Ивановым"} <= texts(opposite_gender_surname("Иванова", True))
    assert "Достоевский" in texts(opposite_gender_surname("Достоевская", True))
    assert "Жармағанбетов" in texts(opposite_gender_surname("Жармағанбетова", True))
    assert "Ивановой" in texts(opposite_gender_surname("Иванов", False))
    assert opposite_gender_surname("Ким", True) == [] and opposite_gender_surname("Петренко", False) == []


def test_each_russian_u_may_be_a_kazakh_o_in_the_document():
    assert kazakh_spellings("Тулегенов") == ["Төлегенов"]
    assert sorted(kazakh_spellings("Утеулин")) == ["Утеөлин", "Өтеулин", "Өтеөлин"]
    assert kazakh_spellings("Иванов") == []
    forms = name_forms("Тулегенова", "Алия", "", female=True)
    assert any(f.text == "Төлегеновой" and f.variant == "kazakh_spelling" for f in forms.surname)


def test_a_russian_i_after_a_vowel_may_be_a_kazakh_yi_in_the_document():
    """Russian paperwork writes the Kazakh "йы"/"йі" after a vowel as "и", and then an initial "Ы" as "И"."""
    assert {"Ысмайылов", "Исмайылов"} <= set(kazakh_spellings("Исмаилов"))
    assert "Нурпейісов" in kazakh_spellings("Нурпеисов")  # Нұрпейісов, folded
    assert "Кайыров" in kazakh_spellings("Каиров")
    forms = name_forms("Исмаилова", "Гульнара", "Болатқызы", female=True)
    assert any(f.text == "Ысмайыловой" and f.variant == "kazakh_spelling" for f in forms.surname)
