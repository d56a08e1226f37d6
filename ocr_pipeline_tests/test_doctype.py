"""Document type from Russian and Kazakh keywords, with OCR noise."""

import pytest

from ocr_pipeline.engine.doctype import classify_document, classify_pages
from ocr_pipeline.engine.models import DocumentType, PageText

pytestmark = pytest.mark.unit

T = DocumentType

MATERNITY = """ТОО «Ромашка» БИН 120540012345
ПРИКАЗ № 12-К
г. Алматы 01.02.2024
О предоставлении отпуска по беременности и родам
ПРИКАЗЫВАЮ:
1. Предоставить Ивановой Марии Петровне, экономисту, отпуск по беременности и родам
с 05.02.2024 по 10.06.2024 (126 календарных дней).
Основание: лист временной нетрудоспособности № 0946272.
Директор Сейткали Б.Н."""

CHILDCARE = """ПРИКАЗ № 77
О предоставлении отпуска по уходу за ребенком
В связи с окончанием отпуска по беременности и родам предоставить Ким Ольге Владимировне
отпуск по уходу за ребенком до достижения им возраста трех лет."""

SICK_LEAVE = """ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ № 0701987
Приложение к приказу Министра здравоохранения Республики Казахстан
Фамилия, имя, отчество: Ахметов Нұрлан Серікұлы
Освобождение от работы с 01.02.2024 по 10.02.2024"""

EMPLOYMENT = """СПРАВКА
Дана Петренко Олегу Викторовичу в том, что он действительно работает в ТОО «Ромашка»
в должности инженера с 01.09.2019 г. по настоящее время. Справка выдана для предоставления
по месту требования."""

DISMISSAL = """ПРИКАЗ № 5-л
Об увольнении
Уволить Смирнова Алексея Николаевича 01.02.2024, расторгнуть трудовой договор по инициативе работника."""

MATERNITY_KK = """БҰЙРЫҚ
Жүктілігіне және босануына байланысты демалыс беру туралы
БҰЙЫРАМЫН: Экономист Иванова Мария Петровнаға жүктілігіне және босануына байланысты демалыс берілсін."""

CHILDCARE_KK = """БҰЙРЫҚ
Ким Ольгаға бала күтіміне байланысты демалыс берілсін."""

SICK_LEAVE_KK = """УАҚЫТША ЕҢБЕККЕ ЖАРАМСЫЗДЫҚ ПАРАҒЫ № 55
Ахметов Нұрлан Серікұлы"""

EMPLOYMENT_KK = """АНЫҚТАМА
Бекмұхамбетов Дәурен Асқарұлы шынымен «Ромашка» ЖШС-де инженер лауазымында жұмыс істейді.
Анықтама талап етілген жерге ұсыну үшін берілді."""

DISMISSAL_KK = """БҰЙРЫҚ
Жұмыстан босату туралы
Оспанов Ерлан Бауыржанұлымен еңбек шартын бұзу."""


@pytest.mark.parametrize("text,expected", [
    (MATERNITY, T.MATERNITY_LEAVE_ORDER),
    (CHILDCARE, T.CHILDCARE_LEAVE_ORDER),
    (SICK_LEAVE, T.SICK_LEAVE_CERTIFICATE),
    (EMPLOYMENT, T.EMPLOYMENT_CERTIFICATE),
    (DISMISSAL, T.DISMISSAL_ORDER),
    (MATERNITY_KK, T.MATERNITY_LEAVE_ORDER),
    (CHILDCARE_KK, T.CHILDCARE_LEAVE_ORDER),
    (SICK_LEAVE_KK, T.SICK_LEAVE_CERTIFICATE),
    (EMPLOYMENT_KK, T.EMPLOYMENT_CERTIFICATE),
    (DISMISSAL_KK, T.DISMISSAL_ORDER),
    ("Справка о временной нетрудоспособности № 12 выдана Ким О.В.", T.SICK_LEAVE_CERTIFICATE),
    ("Больничный лист. Ким Ольга", T.SICK_LEAVE_CERTIFICATE),
    ("Справка с места работы. Ким Ольга работает бухгалтером", T.EMPLOYMENT_CERTIFICATE),
])
def test_types(text, expected):
    doc_type, score, evidence = classify_document([PageText(1, text)])
    assert doc_type == expected
    assert 0.0 < score <= 1.0
    assert evidence


def test_bilingual_order_is_one_type():
    assert classify_document([PageText(1, MATERNITY_KK + "\n" + MATERNITY)])[0] == T.MATERNITY_LEAVE_ORDER


def test_order_citing_a_sick_leave_certificate_is_still_an_order():
    result = classify_pages([PageText(1, MATERNITY)])
    assert result.document_type == T.MATERNITY_LEAVE_ORDER and result.is_order
    assert dict(result.scores)["sick_leave_certificate"] < dict(result.scores)["maternity_leave_order"]


def test_certificate_mentioning_a_leave_is_a_certificate():
    text = EMPLOYMENT + "\nВ настоящее время находится в отпуске по уходу за ребенком."
    assert classify_document([PageText(1, text)])[0] == T.EMPLOYMENT_CERTIFICATE


def test_sick_leave_form_approved_by_an_order_is_not_an_order():
    assert not classify_pages([PageText(1, SICK_LEAVE)]).is_order


@pytest.mark.parametrize("text,expected", [
    ("ПPИKAЗ № 12\nО предоставлении отпуска по берeменнocти и po-\nдам", T.MATERNITY_LEAVE_ORDER),
    ("ПРИКАЗ\nпредоставить отпуск по уходу за ребснком до достижения им возраста трех лет", T.CHILDCARE_LEAVE_ORDER),
    ("ЛИСТ ВРЕМЕНН0Й НЕТРУДОСПОСОБН0СТИ\nКим О.В.", T.SICK_LEAVE_CERTIFICATE),
    ("ПРИКАЗ\nОб увольнснии\nУв0лить Смирнова А.Н.", T.DISMISSAL_ORDER),
    ("СПРАВКА\nдана в том, что она дейстительно работает в ТОО", T.EMPLOYMENT_CERTIFICATE),
    ("БҰЙРЫҚ\nЖуктiлiгiне жэне босануына байланысты демалыс берiлсiн", T.MATERNITY_LEAVE_ORDER),
])
def test_ocr_noise(text, expected):
    assert classify_document([PageText(1, text)])[0] == expected


def test_type_found_on_a_later_page():
    pages = [PageText(1, "Сопроводительное письмо. Направляем документы."), PageText(2, DISMISSAL)]
    result = classify_pages(pages)
    assert result.document_type == T.DISMISSAL_ORDER and result.page == 2


@pytest.mark.parametrize("text", [
    "Объявление. Уважаемые сотрудники, 15 марта в офисе пройдет собрание коллектива.",
    "Сопроводительное письмо. Направляем вам документы по вашему запросу.",
    "ii —– ,,. ~~ llI1 eee ooo",
    "",
])
def test_other(text):
    assert classify_document([PageText(1, text)]) == (T.OTHER, 0.0, "")


def test_no_pages():
    assert classify_document([]) == (T.OTHER, 0.0, "")
