"""``verify_pages`` on text: the verdict rule, IIN attribution, readability, checks and logging."""

import json
import logging

import pytest

from ocr_pipeline.engine.iin import checksum_digit, find_numbers, has_valid_checksum, mask_iin
from ocr_pipeline.engine.models import Applicant, EngineSettings, PageText, Verdict
from ocr_pipeline.engine.verify import review_reasons, verify_pages

pytestmark = pytest.mark.unit


def _iin(first11: str) -> str:
    return first11 + str(checksum_digit(first11))


IVANOVA_IIN = _iin("96012540012")
IVANOVA = Applicant(IVANOVA_IIN, "Иванова", "Мария", "Петровна")
NAMESAKE_IIN = _iin("91020240013")
DIRECTOR_IIN = _iin("75061130021")
CHILD_IIN = _iin("23030150012")
EMPLOYER_BIN = _iin("12054001234")
SETTINGS = EngineSettings()


def order(mention: str, iin_text: str = "", footer: str = "Директор ТОО «Ромашка» Сейткали Б.Н.") -> str:
    return f"""ТОО «Ромашка» БИН {EMPLOYER_BIN}
ПРИКАЗ № 12-К
г. Алматы 01.02.2024
О предоставлении отпуска по беременности и родам
ПРИКАЗЫВАЮ:
1. Предоставить {mention}{iin_text}, экономисту отдела продаж, отпуск по беременности и родам
с 05.02.2024 по 10.06.2024 сроком 126 календарных дней.
Основание: заявление работника, лист временной нетрудоспособности № 0946272.
{footer}"""


def verify(text, applicant=IVANOVA, settings=SETTINGS, confidence=91.0, pages=None) -> Verdict:
    pages = pages if pages is not None else [PageText(1, text, mean_confidence=confidence)]
    return verify_pages(pages, applicant, settings)


# -------------------------------------------------------------------------------------- accepted


def test_applicant_with_iin_is_accepted_with_evidence():
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})"))
    assert verdict.verdict is True and verdict.errors == []
    assert verdict.document_type == "maternity_leave_order"
    assert verdict.review_required is False
    assert verdict.confidence > 0.9
    name, iin, doc_type, readable = (verdict.checks[k] for k in ("name", "iin", "document_type", "readable"))
    assert name.matched and name.page == 1 and name.snippet == "Ивановой Марии Петровне"
    assert name.detail["case"] == "dative" and name.detail["form"] == "Ивановой Марии Петровне"
    assert name.detail["pattern"] == "surname first patronymic"
    assert iin.matched and iin.detail["status"] == "found" and iin.detail["bins_ignored"] == 1
    assert iin.snippet == f"ИИН {mask_iin(IVANOVA_IIN)}" and IVANOVA_IIN not in json.dumps(verdict.to_dict())
    assert doc_type.matched and doc_type.detail["type"] == "maternity_leave_order" and doc_type.snippet
    assert readable.matched
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict(), ensure_ascii=False))).verdict is True


@pytest.mark.parametrize("mention", [
    "Ивановой Марии Петровне", "Ивановой Марии", "Ивано-\nвой Марии Пет-\nровне", "Ивaнoвой Мaрии Пeтpoвне",
    "ИВАНОВОЙ МАРИИ ПЕТРОВНЕ", "Ивановой\nМарии Петровне",
])
def test_a_full_name_without_iin_is_accepted_without_review(mention):
    verdict = verify(order(mention))
    assert verdict.verdict is True, verdict.errors
    assert verdict.checks["iin"].detail["status"] == "absent"
    assert verdict.review_required is False and verdict.review_reasons == []


@pytest.mark.parametrize("mention", ["Ивановой М.П.", "М.П. Ивановой"])
def test_initials_alone_without_iin_are_accepted_for_review(mention):
    verdict = verify(order(mention, footer="Директор ТОО «Ромашка» Сейткали Б.Н."))
    assert verdict.verdict is True, verdict.errors
    assert verdict.review_required and verdict.review_reasons == ["initials_only"]
    assert verdict.checks["name"].detail["review_reasons"] == ["initials_only"]


def test_kazakh_applicant_in_ocr_without_kazakh_letters():
    applicant = Applicant(_iin("93110240023"), "Жармағанбетова", "Әлия", "Серікқызы")
    text = (f"АНЫҚТАМА\nЖармаганбетова Алия Серикказы, ЖСН {applicant.iin}, шынымен «Нур» ЖШС-де\n"
            "бухгалтер лауазымында жұмыс істейді. Анықтама талап етілген жерге берілді.")
    verdict = verify(text, applicant)
    assert verdict.verdict is True and verdict.document_type == "employment_certificate"
    assert verdict.checks["iin"].detail["status"] == "found"


def test_uppercase_event_name_and_male_kazakh_applicant():
    applicant = Applicant(_iin("90030830042"), "АХМЕТОВ", "НҰРЛАН", "СЕРІКҰЛЫ")
    text = order("Ахметову Нурлану Серикулы", f", ИИН {applicant.iin}")
    assert verify(text, applicant).verdict is True


def test_a_name_repaired_beyond_ocr_look_alikes_needs_the_iin():
    verdict = verify(order("Ивакoвой Марии Петровне"))  # Ивакова could be another woman: н/к is no OCR slip
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.review_reasons == ["fuzzy_name"] and verdict.checks["name"].detail["exact"] is False
    with_iin = verify(order("Ивакoвой Марии Петровне", f" (ИИН {IVANOVA_IIN})"))
    assert with_iin.verdict is True and with_iin.review_required is False


def test_an_ocr_slip_in_her_first_name_on_a_poor_reading_needs_the_iin():
    # "Марин»" is one OCR slip from Марии (hers) and as near to Марине (a namesake's): a reading of
    # mean confidence 51 cannot tell them apart; a clear reading or her IIN beside the name can
    text = order("Ивановой Марин» Петровне")
    poor = verify(text, confidence=51.0)
    assert poor.verdict is False and poor.error_codes == ["NAME_NOT_FOUND"]
    assert poor.review_reasons == ["fuzzy_name"]
    assert verify(text, confidence=91.0).verdict is True
    assert verify(order("Ивановой Марин» Петровне", f" (ИИН {IVANOVA_IIN})"), confidence=51.0).verdict is True
    assert verify(order("Ивановой Марии Петровне"), confidence=51.0).verdict is True


@pytest.mark.parametrize("unread", ["Сариветчы", "Сергеев", "Пвтфакы"])
def test_her_surname_and_first_name_with_an_unreadable_patronymic_need_the_iin(unread):
    # a photo of Мария Сергеевна's order, the patronymic garbled past recognition: surname and first
    # name alone are a namesake's as much as hers; her IIN beside them settles it
    text = order(f"Ивановой Марии\n{unread}")
    verdict = verify(text, confidence=58.0)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.review_reasons == ["patronymic_unread"] and verdict.confidence < 0.9
    assert verify(order(f"Ивановой Марии {unread}", f" (ИИН {IVANOVA_IIN})"), confidence=58.0).verdict is True
    # without a word in the patronymic's place (a comma, a position, her own patronymic, a word that
    # still resembles hers, the next column's common word) nothing changes
    for mention in ("Ивановой Марии, экономисту", "Ивановой Марии\nэкономисту", "Ивановой Марии Петровны",
                    "Ивановой Марии\nПстрсвиы", "Ивановой Марии Настояшая"):
        assert verify(order(mention), confidence=58.0).verdict is True, mention


def test_a_patronymic_a_letter_or_two_from_hers_is_no_sure_other_person():
    # "Сершкызы" for Серікқызы: OCR read "ік" as one "ш"; a namesake's patronymic would be as close
    applicant = Applicant(_iin("95020340012"), "Нурпеисова", "Дана", "Серікқызы")
    near = verify(order("Нурпеисовой Дане Сершкызы"), applicant, confidence=88.0)
    assert near.verdict is False and near.error_codes == ["NAME_NOT_FOUND"]
    assert near.review_reasons == ["fuzzy_name"] and near.confidence < 0.9
    assert near.checks["name"].detail["near_miss"]["near_hers"] is True
    other = verify(order("Нурпеисовой Дане Қанатқызы"), applicant, confidence=88.0)
    assert other.verdict is False and other.review_required is False and other.confidence >= 0.9


def test_her_patronymic_with_two_letters_read_as_one_is_hers():
    # "Сержкызы" for Серікқызы: "ік" read as one "ж" is one OCR slip, not another father
    applicant = Applicant(_iin("95020340012"), "Нурпеисова", "Дана", "Серікқызы")
    merged = verify(order("Нурпеисовой Дане Сержкызы"), applicant, confidence=88.0)
    assert merged.verdict is True and merged.review_reasons == ["fuzzy_name"]
    with_iin = verify(order("Нурпеисовой Дане Сержкызы", f" (ИИН {applicant.iin})"), applicant, confidence=88.0)
    assert with_iin.verdict is True and not with_iin.review_required and with_iin.confidence >= 0.9


def test_initials_beside_her_patronymic_whose_name_a_stroke_made_unreadable_count_for_no_one():
    # the body's full mention lost its surname and first name to a pen stroke; "Кайратовны" is left.
    # It may be hers or her sister Динара's, whom "Абенова Д.К." abbreviates just as well
    applicant = Applicant(_iin("73102346856"), "Абенова", "Дина", "Кайратовна")
    sheet = ("ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ\nСведения о временной нетрудоспособности {body}.\n"
             "Режим амбулаторный\nЛист получила: Абенова Д.К.")
    verdict = verify(sheet.format(body="ДЖенФай Жанры\nКайратовны"), applicant)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.review_reasons == ["initials_unconfirmed"]
    assert verify(sheet.format(body="пациента"), applicant).review_reasons == ["initials_only"]
    addressed = verify(sheet.format(body="пациента (Дина Кайратовна)"), applicant)
    assert addressed.verdict is True and addressed.review_reasons == ["initials_only"]


def test_a_lone_letter_left_by_a_stroke_after_her_first_name_names_no_one_for_sure():
    # "Иванова Мария С." is a Мария Сергеевна; "Иванова Мария С Иванова" is what OCR made of a stroke
    dotted = verify(order("Ивановой Марии С., экономисту"))
    assert dotted.error_codes == ["NAME_NOT_FOUND"] and dotted.confidence >= 0.9 and not dotted.review_required
    stroke = verify(order("Ивановой Марии С Ивановой бери, етровне"))
    assert stroke.error_codes == ["NAME_NOT_FOUND"] and stroke.confidence < 0.9
    assert stroke.review_reasons == ["surname_only"]


def test_namesake_with_another_patronymic_in_the_same_document_flags_review():
    text = order("Ивановой Марии Петровне", footer="Ознакомлена: Иванова Мария Сергеевна\nДиректор Сейткали Б.Н.")
    verdict = verify(text)
    assert verdict.verdict is True and "conflicting_mention" in review_reasons(verdict)
    with_iin = verify(order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})",
                            footer="Ознакомлена: Иванова Мария Сергеевна\nДиректор Сейткали Б.Н."))
    assert with_iin.verdict is True and with_iin.review_required is False
    signer = verify(order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})", footer="Директор П.С. Иванов"))
    assert signer.verdict is True and signer.review_required is False


def test_iin_misread_by_one_digit_is_not_a_contradiction():
    misread = IVANOVA_IIN[:3] + str((int(IVANOVA_IIN[3]) + 1) % 10) + IVANOVA_IIN[4:]
    assert not has_valid_checksum(misread)
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {misread})"))
    assert verdict.verdict is True
    assert verdict.checks["iin"].detail["status"] == "found_ocr_misread"
    assert verdict.checks["iin"].detail["digits_misread"] == 1


def test_iin_with_letter_lookalikes_and_spaces_is_found():
    spaced = f"{IVANOVA_IIN[:4]} {IVANOVA_IIN[4:8]} {IVANOVA_IIN[8:]}".replace("0", "О", 1)
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {spaced})"))
    assert verdict.verdict is True and verdict.checks["iin"].detail["status"] == "found"


def test_low_ocr_confidence_lowers_the_confidence_of_the_verdict():
    text = order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})")
    poor, good = verify(text, confidence=48.0), verify(text, confidence=91.0)
    assert poor.verdict is True and good.verdict is True
    assert poor.confidence < good.confidence


def test_name_on_page_two():
    pages = [PageText(1, "Сопроводительное письмо. Направляем вам документы по запросу банка.", mean_confidence=90),
             PageText(2, order("Ивановой Марии Петровне"), mean_confidence=88)]
    verdict = verify("", pages=pages)
    assert verdict.verdict is True and verdict.pages == 2 and verdict.checks["name"].page == 2


def test_text_layer_pages_have_no_ocr_confidence():
    verdict = verify("", pages=[PageText(1, order("Ивановой Марии Петровне"), source="text_layer")])
    assert verdict.verdict is True and verdict.checks["readable"].detail["mean_ocr_confidence"] is None


# Tesseract (rus+kaz) output of a phone photo of a generated bilingual order, as read.
PHOTO_OCR_BILINGUAL = """«Алма Фарм Сервис» Товарищество с ограниченной
жауапкершілігі шектеулі ответственностью «Алма Фарм
серіктестігі Сервис»
БСН 150940021877 БИН 150940021877
Шымкент қ. г. Шымкент
БҰЙРЫҚ ПРИКАЗ
07.12.2024 ж. Мо 233-К 07.12.2024 г. № 233-К
Жүктілігіне және босануына байланысты демалыс беру туралы
Қазақстан Республикасы Еңбек кодексінің 99-бабына сәйкес
БҰЙЫРАМЫН:
1. Экономист Бекмұхамбетов Дәурен Асқарұлына (ЖСН:
871230300093) 11.12.2024 ж. бастап 15.04.2025 ж. дейін 126 күнтізбелік күн
мерзімге жүктілігіне және босануына байланысты демалыс берілсін.
О предоставлении отпуска по беременности и родам
В соответствии со статьей 99 Трудового кодекса Республики Казахстан
ПРИКАЗЫВАЮ:
1. За Бекмұхамбетовым Дәуреном Асқарұлы, ИИН: 871230300093,
экономистом, сохранить место работы (должность) на период отпуска по
беременности и родам с 11.12.2024 г. по 15.04.2025 г. (126 календарных
дней).
Негіздеме / Основание: еңбекке уақытша жарамсыздық Чын с / ЛИСТ
временной нетрудоспособности Мо 0701987, :
Директор 4% (ушу? ғ И.П. Ковалев
Исп.: Г.М. Есенова, тел. 8 (7252) 53-71-90 р ж"""


def test_real_ocr_output_of_a_photo():
    applicant = Applicant("871230300093", "Бекмұхамбетов", "Дәурен", "Асқарұлы")
    verdict = verify(PHOTO_OCR_BILINGUAL, applicant, confidence=90.95)
    assert verdict.verdict is True and verdict.review_required is False
    assert verdict.document_type == "maternity_leave_order"
    brother = Applicant("890101300011", "Бекмұхамбетов", "Ерлан", "Асқарұлы")
    assert verify(PHOTO_OCR_BILINGUAL, brother).error_codes == ["NAME_NOT_FOUND"]
    namesake = Applicant(_iin("87123030001"), "Бекмұхамбетов", "Дәурен", "Асқарұлы")
    assert verify(PHOTO_OCR_BILINGUAL, namesake).error_codes == ["IIN_MISMATCH"]


# ---------------------------------------------------------------------------------------- IINs


def test_namesake_with_other_iin_next_to_the_name_is_a_mismatch():
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {NAMESAKE_IIN})"))
    assert verdict.verdict is False and verdict.error_codes == ["IIN_MISMATCH"]
    iin = verdict.checks["iin"]
    assert iin.detail["contradicting"][0]["iin"] == mask_iin(NAMESAKE_IIN)
    assert NAMESAKE_IIN not in json.dumps(verdict.to_dict())
    assert verdict.checks["name"].matched  # the name itself is there



def test_a_valid_iin_beside_her_exact_name_on_a_poor_photo_is_a_mismatch_for_review():
    # one random misreading in eleven passes the checksum: on a blurred photo her IIN can come out as
    # another valid number. A namesake's document reads the same: the reject stands, a person compares
    photo = verify(order("Ивановой Марии Петровне", f" (ИИН {NAMESAKE_IIN})"), confidence=72.0)
    assert photo.verdict is False and photo.error_codes == ["IIN_MISMATCH"]
    assert photo.review_reasons == ["iin_possibly_misread"] and photo.confidence < 0.9
    clear = verify(order("Ивановой Марии Петровне", f" (ИИН {NAMESAKE_IIN})"), confidence=91.0)
    assert clear.review_required is False and clear.confidence >= 0.9


def test_a_second_iin_after_her_own_is_not_hers_to_contradict():
    # a person has one IIN: the spouse's line whose name OCR lost ("Супруга работника: <lost>, ИИН …")
    # leaves a number her name, already followed by her own IIN, does not claim
    certificate = ("СПРАВКА\nНастоящая справка подтверждает трудовую деятельность Ивановой Марии Петровны, "
                   f"ИИН {IVANOVA_IIN}, в должности экономиста.\nСправка выдана для предоставления по месту "
                   f"требования.\nИИН\n{NAMESAKE_IIN}, место работы — ТОО «Каспий Логистик».")
    verdict = verify(certificate)
    assert verdict.verdict is True and not verdict.review_required, verdict.errors
    assert verdict.checks["iin"].detail["other_people_iins"][0]["owner"] == "other"
    # without her own IIN before it, the number beside her name contradicts her
    assert verify(certificate.replace(f"ИИН {IVANOVA_IIN}, ", "")).error_codes == ["IIN_MISMATCH"]

def test_valid_iin_one_confusable_digit_away_is_a_mismatch_for_review():
    # the 11th digit has weight 11 in the checksum: 3 -> 8 there keeps the checksum valid (as twins'
    # consecutive serial numbers do), so this may be a misread or another person
    applicant = Applicant(_iin("96012540013"), "Иванова", "Мария", "Петровна")
    look_alike = _iin("96012540018")
    assert look_alike[:10] == applicant.iin[:10] and look_alike[11] == applicant.iin[11]
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {look_alike})"), applicant)
    assert verdict.error_codes == ["IIN_MISMATCH"]
    assert "iin_possibly_misread" in review_reasons(verdict)


def test_iin_on_the_next_line_of_a_form_is_attributed_to_the_name():
    text = (f"ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ № 0701987\nФИО: Иванова Мария Петровна\n"
            f"ИИН: {NAMESAKE_IIN}\nОсвобождение от работы с 01.02.2024 по 10.02.2024")
    assert verify(text).error_codes == ["IIN_MISMATCH"]


def test_organisation_after_the_iin_does_not_take_it_from_the_applicant():
    text = (f"ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ № 0159878\nЛист получен Ивановой Марией Петровной лично, "
            f"о режиме лечения она предупреждена.\nДата выдачи 26 июля 2023 года\nИИН {NAMESAKE_IIN}\n"
            f"Место работы АО «Алтын Дала Агро»\nВрач Абдрахманова Г.К.")
    assert verify(text).error_codes == ["IIN_MISMATCH"]


def test_director_iin_is_not_a_contradiction():
    footer = f"Директор ТОО «Ромашка» Сейткали Бауыржан Нурланович, ИИН {DIRECTOR_IIN}"
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})", footer=footer))
    assert verdict.verdict is True, verdict.errors
    assert verdict.checks["iin"].detail["other_people_iins"][0]["owner"] == "other"


def test_signer_iin_with_a_bare_surname_is_not_a_contradiction():
    footer = f"Директор ТОО «Ромашка» Сейткали (ИИН {DIRECTOR_IIN})"
    assert verify(order("Ивановой Марии Петровне", footer=footer)).verdict is True
    # but an apposition right after the applicant's name is hers
    text = f"СПРАВКА\nИванова Мария Петровна, директор филиала, ИИН {NAMESAKE_IIN}, действительно работает в ТОО."
    assert verify(text).error_codes == ["IIN_MISMATCH"]


def test_director_iin_by_initials_without_applicant_iin():
    footer = f"Генеральный директор Сейткали Б.Н. (ИИН {DIRECTOR_IIN})"
    assert verify(order("Ивановой Марии Петровне", footer=footer)).verdict is True


def test_individual_entrepreneur_employer_iin_is_not_a_contradiction():
    text = order("Ивановой Марии Петровне").replace(f"ТОО «Ромашка» БИН {EMPLOYER_BIN}",
                                                    f"ИП «Сейткали», ИИН {DIRECTOR_IIN}")
    verdict = verify(text)
    assert verdict.verdict is True, verdict.errors
    assert verdict.checks["iin"].detail["other_people_iins"][0]["owner"] == "employer"


def test_child_iin_in_a_childcare_order_is_not_a_contradiction():
    text = (f"ПРИКАЗ № 77\nО предоставлении отпуска по уходу за ребенком\n"
            f"Предоставить Ивановой Марии Петровне отпуск по уходу за ребенком, сыном,\n"
            f"2023 г.р., ИИН ребенка {CHILD_IIN}, до достижения им возраста трех лет.\nДиректор Сейткали Б.Н.")
    verdict = verify(text)
    assert verdict.verdict is True, verdict.errors
    assert verdict.document_type == "childcare_leave_order"


def test_the_iin_on_a_relatives_line_is_the_relatives_when_ocr_garbled_the_name():
    # a poor photo: the spouse's name is no readable name, the line's relation still says whose it is
    text = (f"ПРИКАЗ № 77\nО предоставлении отпуска по уходу за ребенком до достижения им возраста трех лет\n"
            f"В соответствии со статьей 100 Трудового кодекса Республики Казахстан ПРИКАЗЫВАЮ:\n"
            f"1. Предоставить Ивановой Марии Петровне, ведущему специалисту службы персонала, отпуск\n"
            f"без сохранения заработной платы по уходу за ребенком до достижения им возраста трех лет\n"
            f"с 19.07.2024 г. по 24.05.2027 г. с сохранением места работы и стажа по специальности.\n"
            f"2. Супруг работника: Ивфноасв Сфргей Олвгомч, ИИН № {NAMESAKE_IIN},\n"
            f"место работы — АО «Алтын Дала».\nОснование: заявление работника от 13.07.2024 г.")
    verdict = verify(text, confidence=64.0)
    assert verdict.verdict is True, verdict.errors
    assert verdict.checks["iin"].detail["other_people_iins"][0]["owner"] == "other"
    unlabelled = text.replace("Супруг работника:", "Кроме того,")  # a stranger's IIN nobody claims: it decides
    assert verify(unlabelled, confidence=64.0).error_codes == ["IIN_MISMATCH"]


def test_named_child_iin_is_not_a_contradiction():
    text = order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})") + \
        f"\nРебенок: Иванов Алексей Сергеевич, ИИН {CHILD_IIN}"
    assert verify(text).verdict is True


def test_lone_foreign_iin_far_from_any_name_flags_review():
    text = order("Ивановой Марии Петровне") + f"\n\n\n{'Отметки отдела кадров. ' * 12}\nИИН {NAMESAKE_IIN}"
    verdict = verify(text)
    assert verdict.verdict is True and "iin_unattributed" in review_reasons(verdict)
    assert verdict.checks["iin"].detail["doubtful_iins"][0]["owner"] == "nobody"


def test_labelled_iin_damaged_by_ocr():
    form = ("ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ № 0670634\nДата выдачи 31.03.2025 года\n"
            "Фамилия, имя, отчество Иванова М.П.\nИИН ; {}\nМесто работы ТОО «Каспий Логистик»\n"
            "Освобождение от работы с 06.04.2025 года по 14.04.2025 года")
    other_with_extra_digit = NAMESAKE_IIN[:4] + "9" + " " + NAMESAKE_IIN[4:]
    verdict = verify(form.format(other_with_extra_digit))
    assert verdict.error_codes == ["IIN_MISMATCH"]
    assert verdict.checks["iin"].detail["contradicting"][0]["unreadable"] is True
    low_confidence = verify(form.format(other_with_extra_digit), confidence=52.0)
    assert low_confidence.error_codes == ["IIN_MISMATCH"] and "iin_unreadable" in review_reasons(low_confidence)
    assert low_confidence.confidence <= 0.8
    own_with_extra_digit = IVANOVA_IIN[:6] + "1" + IVANOVA_IIN[6:]
    own = verify(form.format(own_with_extra_digit))
    assert own.verdict is True and own.checks["iin"].detail["status"] == "found_ocr_misread"
    employer = verify(form.format(IVANOVA_IIN).replace("ИИН ;", "ИИН/БИН").replace(IVANOVA_IIN, NAMESAKE_IIN[:-1]))
    assert employer.verdict is True


def test_her_iin_blurred_beyond_the_checksum_is_not_a_contradiction():
    """A phone photo's blur merges digits (3/2, 6/0, 8/1): her labelled IIN read with 3-5 of its 12
    digits changed fails the checksum but keeps most digits in place, which a namesake's (another birth
    date and serial) does not: it sends her accept to review instead of rejecting her with confidence."""
    blurred = "00" + IVANOVA_IIN[2:6] + IVANOVA_IIN[6:].replace("4", "1").replace("5", "6")
    assert len(blurred) == 12 and 3 <= sum(a != b for a, b in zip(blurred, IVANOVA_IIN)) <= 5
    assert not has_valid_checksum(blurred)
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН: {blurred})"))
    assert verdict.verdict is True and "iin_unreadable" in review_reasons(verdict)
    assert verdict.confidence <= 0.8
    twice = verify(order("Ивановой Марии Петровне", f" (ИИН: {blurred})") + f"\nИИН {IVANOVA_IIN}")
    assert twice.verdict is True and not twice.review_required  # a worse second reading of hers
    other = _iin("88111730057")  # a namesake's: another birth date and serial
    namesakes = other[:-1] + str((int(other[-1]) + 1) % 10)
    assert not has_valid_checksum(namesakes)
    assert verify(order("Ивановой Марии Петровне", f" (ИИН: {namesakes})")).error_codes == ["IIN_MISMATCH"]


@pytest.mark.parametrize("unread", ["| |", ":\n907 1646 90/2"])
def test_a_printed_iin_that_ocr_lost_sends_her_exact_name_to_review(unread):
    """A namesake differs only by the IIN: when the form prints one ("ИИН" and its field) but OCR read no
    number there (no digits, or digits garbled beyond a number on a hard photo), her exact name alone is
    not sure (a person looks); no label, no doubt."""
    form = ("ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ № 0670634\nВыдан Ивановой Марии Петровне\nИИН {}\n"
            "Место работы ТОО «Каспий Логистик»\nОсвобождение от работы с 06.04.2025 по 14.04.2025")
    lost = verify(form.format(unread))
    assert lost.verdict is True and lost.review_reasons == ["iin_unreadable"] and lost.confidence <= 0.8
    assert lost.checks["iin"].detail["unread_labels"] == 1
    assert verify(form.format(IVANOVA_IIN)).review_required is False
    assert verify(form.replace("ИИН {}\n", "")).review_required is False
    assert verify(form.replace("ИИН {}", "ИИН/БИН")).review_required is False  # the employer's


def test_her_iin_partly_read_after_its_label_makes_a_missing_name_no_clear_reject():
    # ink over the line: the name is gone, the IIN after its label lost four digits, none changed
    partial = f"{IVANOVA_IIN[:8]} {IVANOVA_IIN[-1]}"
    verdict = verify(order("Ивфнрвсвой-26?равой Мзрии", f", ИИН №\n{partial}"))
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.review_reasons == ["iin_partly_read"] and verdict.confidence < 0.9
    stranger = f"{NAMESAKE_IIN[:8]} {NAMESAKE_IIN[-1]}"  # someone else's, as damaged
    verdict = verify(order("Ивфнрвсвой-26?равой Мзрии", f", ИИН №\n{stranger}"))
    assert verdict.verdict is False and verdict.review_reasons == [] and verdict.confidence >= 0.9


def test_her_first_name_cut_short_by_a_stroke_is_no_other_first_name():
    applicant = Applicant(_iin("90050240017"), "Ли", "Ольга", "Владимировна")
    cut = verify(order("Ли Оль 2, ,"), applicant)  # "Ли Ольге Владимировне" under a stroke
    assert cut.verdict is False and cut.review_required and cut.confidence < 0.9
    other = verify(order("Ли Инне"), applicant)  # another first name, read in full: another person
    assert other.verdict is False and not other.review_required and other.confidence >= 0.9


def test_bins_and_unreadable_numbers_are_ignored():
    garbled = "123456789012"
    assert [n.kind for n in find_numbers(garbled)] == ["invalid"]
    verdict = verify(order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN}), договор № {garbled}"))
    assert verdict.verdict is True
    assert verdict.checks["iin"].detail["unreadable_numbers"] == 1


# ------------------------------------------------------------------------------------ rejected


@pytest.mark.parametrize("mention,reason", [
    ("Ивановой Анне Петровне", "first_name_differs"),           # sister
    ("Ивановой Марии Сергеевне", "patronymic_differs"),          # other patronymic
    ("Ивановой И.П.", "initials_differ"),
    ("Ивановой М.С.", "initials_differ"),
])
def test_relatives_and_other_patronymics_are_not_the_applicant(mention, reason):
    verdict = verify(order(mention))
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.checks["name"].detail["near_miss"]["reason"] == reason
    if reason != "initials_differ":  # a relative named in full is a clear reject, not a review case
        assert verdict.review_required is False and verdict.confidence >= 0.9


def test_her_name_without_patronymic_introduced_as_a_child_is_a_relatives():
    """A certificate about her mother lists a child with her surname and first name, the patronymic cut
    by OCR: that child is not the applicant; a parent named so in her child's document stays her."""
    certificate = ("СПРАВКА\nНастоящая справка подтверждает трудовую деятельность Ивановой Галины Сергеевны "
                   "в должности менеджера отдела продаж.\nРебенок: Иванова Мария Ильин\n"
                   "(свидетельство о рождении № 8416346).\nДиректор Сейткали Б.Н.")
    verdict = verify(certificate)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    in_full = verify(certificate.replace("Ильин", "Петровна"))  # her mother's certificate names her as the child
    assert in_full.verdict is False and in_full.error_codes == ["NAME_NOT_FOUND"]
    assert in_full.checks["name"].detail["near_miss"]["reason"] == "first_name_differs"  # about her mother
    prose = ("ПРИКАЗ\nО предоставлении отпуска по уходу за ребенком\nИвановой Марии Петровне, менеджеру, "
             "предоставить отпуск по уходу за ребенком до достижения им возраста трех лет.")
    assert verify(prose).verdict is True  # "ребенком" in prose before her name is no label
    mother = "СВИДЕТЕЛЬСТВО О РОЖДЕНИИ\nРебенок: Иванов А.С.\nМать: Иванова Мария Петровна"
    assert verify(mother).verdict is True  # the label on the line above is the child's
    birth = "СВИДЕТЕЛЬСТВО О РОЖДЕНИИ\nИванов Артём Сергеевич\nМать: Иванова Мария\nОтец: Иванов Сергей Олегович"
    assert verify(birth).verdict is True


def test_someone_else_entirely():
    verdict = verify(order("Ким Ольге Владимировне"))
    assert verdict.error_codes == ["NAME_NOT_FOUND"] and verdict.confidence >= 0.8
    assert verdict.review_required is False


def test_document_naming_nobody():
    text = ("ОБЪЯВЛЕНИЕ\nУважаемые сотрудники! 15 марта 2024 года в 15:00 в актовом зале состоится "
            "общее собрание коллектива по вопросам охраны труда. Явка обязательна.\nАдминистрация")
    verdict = verify(text)
    assert verdict.error_codes == ["NAME_NOT_FOUND"] and verdict.document_type == "other"


@pytest.mark.parametrize("text,confidence", [
    ("ii —– ,,. ~~ llI1 eee ooo ¦¦ щщщ кк ыы ъ ь . ;; ''", 31.0),
    ("", 0.0),
    ("Ш ьЪ ..\n1l| ~ жщ хъ ... --- мм пп тт", 22.0),
    ("прр ваы тшщ ыва ыва пролд олд ждлоо прив вап ывап", 28.0),     # letters, no language
    (order("Ким Ольге Владимировне"), 21.0),                          # words, but confidence of noise
    ("— . : ‚ ‘ | ! 1 Ш № ~ ии н В. ‚ о и ЁЁ 1 | . _ ье ъ Н\nи. ‚ , ааа ее Ш1 ‚‚ оыв ьно ыы 1.1 Ъ", 55.0),
])
def test_garbage_is_unreadable(text, confidence):
    verdict = verify(text, confidence=confidence)
    assert verdict.verdict is False and verdict.error_codes == ["UNREADABLE_DOCUMENT"]


def test_text_ocr_could_not_read_goes_to_a_person():
    """Words on the page read at the confidence of noise (a hard phone photo a person reads without
    effort) are a reject for review; a page with no text on it is asked again without a person."""
    photo = verify(order("Ким Ольге Владимировне"), confidence=24.0)
    assert photo.error_codes == ["UNREADABLE_DOCUMENT"] and photo.review_reasons == ["poor_reading"]
    assert photo.checks["readable"].detail["review_reasons"] == ["poor_reading"]
    nothing = verify("Ш ьЪ ..\n1l| ~ жщ хъ ... --- мм пп тт", confidence=22.0)
    assert nothing.error_codes == ["UNREADABLE_DOCUMENT"] and not nothing.review_required
    assert nothing.confidence > photo.confidence


def test_no_pages_is_unreadable():
    assert verify("", pages=[]).error_codes == ["UNREADABLE_DOCUMENT"]


def test_short_certificate_is_readable():
    text = "СПРАВКА\nИванова Мария Петровна работает в ТОО «Нур» бухгалтером."
    verdict = verify(text, confidence=86.0)
    assert verdict.verdict is True
    short_other = "СПРАВКА\nКим О.В. работает в ТОО «Нур»."
    assert verify(short_other, confidence=86.0).error_codes == ["NAME_NOT_FOUND"]
    specks = "в и с о к у а в и о с и в . , ; в и"
    assert verify(specks, confidence=62.0).error_codes == ["UNREADABLE_DOCUMENT"]


# ------------------------------------------------------------------------------- document type


def test_accepted_document_types():
    text = order("Ивановой Марии Петровне", f" (ИИН {IVANOVA_IIN})")
    only_certificates = EngineSettings(accepted_document_types=frozenset({"employment_certificate"}))
    verdict = verify(text, settings=only_certificates)
    assert verdict.verdict is False and verdict.error_codes == ["DOCUMENT_TYPE_NOT_ACCEPTED"]
    assert verdict.checks["document_type"].matched is False
    both = EngineSettings(accepted_document_types=frozenset({"employment_certificate", "maternity_leave_order"}))
    assert verify(text, settings=both).verdict is True


# ------------------------------------------------------------------------------------- logging


def test_logs_mask_the_iin_and_hide_the_text(caplog):
    caplog.set_level(logging.INFO, logger="ocr_pipeline")
    verify(order("Ивановой Марии Петровне", f" (ИИН {NAMESAKE_IIN})"))
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert mask_iin(IVANOVA_IIN) in logged
    for secret in (IVANOVA_IIN, NAMESAKE_IIN, "Иванов", "Мари", "Ромашка"):
        assert secret not in logged


# ------------------------------------------------------------------------- mentions of several people

AKHMETOVA_IIN = _iin("96021440045")
DINA = Applicant(AKHMETOVA_IIN, "Ахметова", "Дина", "Ерлановна")


@pytest.mark.parametrize("footer", [
    "С приказом ознакомлена: Ахметова Д.Е.\nДиректор Сейткали Б.Н.",
    "Ознакомлена: Д.Е. Ахметова\nДиректор Сейткали Б.Н.",
    "С приказом ознакомлена: Ахметова Д.\nДиректор Сейткали Б.Н.",
])
def test_initials_of_another_person_named_in_full_are_hers_not_the_applicants(footer):
    verdict = verify(order("Ахметовой Динаре Ерлановне", footer=footer), DINA)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.checks["name"].detail["near_miss"]["reason"] == "initials_of_other_person"
    assert "another person named in full" in verdict.errors[0]["message"]
    assert verdict.review_required is False and verdict.confidence >= 0.9


def test_a_sisters_certificate_is_a_reject_without_review():
    text = ("СПРАВКА\nДана Ахметовой Динаре Ерлановне в том, что она действительно работает в ТОО «Нур» "
            "в должности бухгалтера с 01.03.2020 по настоящее время.\nСправка выдана по месту требования.\n"
            "Главный бухгалтер Ахметова Д.Е.")
    verdict = verify(text, DINA)
    assert verdict.error_codes == ["NAME_NOT_FOUND"] and verdict.review_required is False


@pytest.mark.parametrize("mention", ["Ахметовой` Динаре Ерлановне", "Ахметовой ’ Динаре -Ерлановне"])
def test_specks_between_surname_and_first_name_still_name_another_person(mention):
    """Dust read as a backtick or an apostrophe between two words is not punctuation: the full name
    still names Динара, and her initials are hers."""
    verdict = verify(order(mention, footer="Ознакомлена: Д.Е. Ахметова\nДиректор Сейткали Б.Н."), DINA)
    assert verdict.error_codes == ["NAME_NOT_FOUND"], verdict.checks["name"].detail
    assert verdict.checks["name"].detail["near_miss"]["reason"] == "initials_of_other_person"


@pytest.mark.parametrize("relation", ["2. Ребенок: ", "Супруг работника: ", "Сын - "])
def test_a_relative_introduced_as_such_is_no_sure_sign_the_order_is_about_someone_else(relation):
    """Her own name lost to a stroke, her son or husband named in full beside it: the order is still
    about the person whose relative he is; no confident "another person" reject."""
    text = order("Ивжнвй Мфр Пвтрвне", footer=f"{relation}Иванов Андрей Сергеевич, 18.04.2021 г.р.\n"
                                               "Директор ТОО «Ромашка» Сейткали Б.Н.")
    _assert_relative_of_subject(text)


@pytest.mark.parametrize("relation", [" (сестра)", " – брат"])
def test_a_relative_named_with_the_relation_after_the_name_is_no_sure_sign_either(relation):
    """"Контактное лицо: Иванова Анна Петровна (сестра)": the relation follows the name."""
    text = order("Ивжнвй Мфр Пвтрвне", footer=f"Контактное лицо: Иванова Анна Петровна{relation}, тел. 8 (701) "
                                               "273-28-29\nДиректор ТОО «Ромашка» Сейткали Б.Н.")
    _assert_relative_of_subject(text)


def _assert_relative_of_subject(text: str) -> None:
    verdict = verify(text)
    assert verdict.error_codes == ["NAME_NOT_FOUND"]
    assert verdict.checks["name"].detail["near_miss"]["reason"] == "relative_of_subject"
    assert verdict.confidence < 0.9
    plain = verify(order("Иванову Андрею Сергеевичу"))  # the order is about him: a sure reject
    assert plain.checks["name"].detail["near_miss"]["reason"] == "first_name_differs" and plain.confidence >= 0.9


def test_the_applicants_full_name_keeps_her_initials():
    text = order("Ахметовой Дине Ерлановне", footer="С приказом ознакомлена: Ахметова Д.Е.\nДиректор Сейткали Б.Н.")
    verdict = verify(text, DINA)
    assert verdict.verdict is True and verdict.review_required is False
    assert verdict.checks["name"].detail["pattern"] == "surname first patronymic"


def test_initials_are_kept_when_the_other_person_has_other_initials():
    text = order("Ахметовой Д.Е.", footer="Основание: заявление Ахметова Ерлана Серікұлы.\nДиректор Сейткали Б.Н.")
    verdict = verify(text, DINA)
    assert verdict.verdict is True and verdict.review_reasons == ["initials_only"]


@pytest.mark.parametrize("mention", ["Ахметовой ~-/,,: Ерлановне", "Ахметовой Д#н Ерлановне", "Ахметовой"])
def test_her_iin_and_surname_identify_her_when_a_seal_hides_the_first_name(mention):
    verdict = verify(order(mention, f", ИИН {AKHMETOVA_IIN}"), DINA)
    assert verdict.verdict is True, verdict.errors
    assert verdict.checks["name"].detail["identified_by"] == "iin_and_surname"
    assert verdict.review_required is False and verdict.confidence >= 0.9


def test_her_iin_with_another_first_name_beside_her_surname_goes_to_review():
    verdict = verify(order("Ахметовой Дпаре Ерлановне", f", ИИН {AKHMETOVA_IIN}"), DINA)
    assert verdict.verdict is True and verdict.review_reasons == ["name_conflicts"]
    assert verdict.confidence < 0.9


def test_her_iin_without_any_of_her_name_goes_to_review():
    verdict = verify(order("~~~ ///", f" ИИН {AKHMETOVA_IIN}"), DINA)
    assert verdict.verdict is True and verdict.review_reasons == ["name_not_read"]
    assert verdict.checks["name"].detail["identified_by"] == "iin_only" and verdict.confidence < 0.9


def test_one_misread_patronymic_does_not_outweigh_surname_first_name_and_iin():
    verdict = verify(order("Ахметовой Дине Ертаиовне", f", ИИН {AKHMETOVA_IIN}"), DINA)
    assert verdict.verdict is True and verdict.review_required is False
    without_iin = verify(order("Ахметовой Дине Ертаиовне"), DINA)
    assert without_iin.verdict is False and without_iin.error_codes == ["NAME_NOT_FOUND"]


@pytest.mark.parametrize("mention", ["Қуанышбаева Айгүлге", "Қуанышбаева Айгүлдің", "Куанышбаевой Айгуль Маратовне",
                                     "Қуанышбаевой Айгүл Маратовнаға"])
def test_a_kazakh_spelling_in_the_document_matches_the_russian_spelling_of_the_request(mention):
    applicant = Applicant(_iin("96012540012"), "Куанышбаева", "Айгуль", "Маратовна")
    verdict = verify(order(mention), applicant)
    assert verdict.verdict is True and verdict.review_required is False, (verdict.errors, verdict.review_reasons)


@pytest.mark.parametrize("mention", ["Төлегеновой Әлии Ерланқызы", "Толегеновой Алии Ерланкызы",
                                     "Тулегеновой Алии Ерланқызы"])
def test_a_kazakh_o_the_request_spells_u_is_her_name(mention):
    """Russian paperwork writes the Kazakh ө as "у" (Тулегенова) and folding equates it with "о" only:
    the document's Төлегенова is her exact name, not a one-letter near miss sent to review."""
    applicant = Applicant(_iin("77100242730"), "Тулегенова", "Алия", "Ерланқызы")
    verdict = verify(order(mention), applicant)
    assert verdict.verdict is True and verdict.review_required is False, (verdict.errors, verdict.review_reasons)
    assert verdict.checks["name"].detail["exact"] is True
    assert verify(order("Тулеубаевой Алии Ерланқызы"), applicant).verdict is False


@pytest.mark.parametrize("mention", ["Иванову Сергею Петровичу", "Ивановой А.П.", "С.П. Иванову"])
def test_a_relative_named_by_another_first_name_initial_or_gender_is_a_clear_reject(mention):
    verdict = verify(order(mention))
    assert verdict.error_codes == ["NAME_NOT_FOUND"], verdict.errors
    assert verdict.review_required is False and verdict.confidence >= 0.9


def test_an_initial_ocr_may_have_confused_goes_to_review():
    confusable = verify(order("Ивановой Л.П."), Applicant(IVANOVA_IIN, "Иванова", "Дарья", "Петровна"))
    assert confusable.error_codes == ["NAME_NOT_FOUND"] and confusable.review_reasons == ["surname_only"]


def test_a_date_glued_to_a_document_number_is_not_an_iin():
    # "№ 380-о 07.12.2023" reads as 380007122023: a valid checksum by chance, but month 00 is no birth date
    verdict = verify(order("Ивановой Марии Петровне", " (заявление № 380-о 07.12.2023)"))
    assert verdict.verdict is True and verdict.checks["iin"].detail["status"] == "absent"


def test_a_date_that_lost_its_dots_beside_her_name_is_no_garbled_iin():
    """Two columns read across: "№ 367-к/о 12.03.2025" lost its dots and its "о" became a zero: twelve
    digits beside her name, failing the checksum. A whole date among them says it is no IIN."""
    header = "12.03.2025 ж. № 367-к/о 71112032025 т. № 367\nОсы анықтама Иванова Мария Петровна"
    verdict = verify(order("Ивановой Марии Петровне", footer=header), confidence=84.0)
    assert verdict.verdict is True and verdict.error_codes == [], verdict.checks["iin"].detail
    garbled = header.replace("71112032025", "71112042125")  # no date among the digits: a garbled IIN
    assert verify(order("Ивановой Марии Петровне", footer=garbled), confidence=84.0).verdict is False


def test_a_short_korean_surname_in_the_instrumental_either_way():
    applicant = Applicant(_iin("86082430407"), "Шин", "Александр", "Михайлович")
    for mention in ("Шиным Александром Михайловичем", "ШИНОМ АЛЕКСАНДРОМ МИХАЙЛОВИЧЕМ"):
        assert verify(order(f"За {mention}"), applicant).verdict is True, mention


def test_initials_alone_lose_to_a_strangers_iin_where_the_full_name_was_lost():
    text = order("о ж ууакан, Юрьевны", f" (ИИН № {NAMESAKE_IIN})",
                 footer="С приказом ознакомлена: Иванова М.П.\nДиректор Сейткали Б.Н.")
    verdict = verify(text)
    assert verdict.verdict is False and verdict.error_codes == ["IIN_MISMATCH"]
    without_iin = verify(order("о ж ууакан, Юрьевны", footer="С приказом ознакомлена: Иванова М.П."))
    assert without_iin.verdict is True and without_iin.review_reasons == ["initials_only"]


def test_a_first_name_a_real_substitution_away_is_another_person():
    applicant = Applicant(_iin("94102646815"), "Касымова", "Гульнара", "")
    verdict = verify(order("Касымовой Гульназ"), applicant)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]


def test_a_near_namesake_a_letter_shorter_is_not_the_applicant_without_her_iin():
    applicant = Applicant(IVANOVA_IIN, "Нурпеисова", "Диана", "Болатовна")
    verdict = verify(order("Нурпеисовой Дане Болатовне"), applicant)
    assert verdict.verdict is False and verdict.review_reasons == ["fuzzy_name"]
    assert verify(order("Нурпеисовой Дане Болатовне", f", ИИН {IVANOVA_IIN}"), applicant).verdict is True


def test_a_shorter_mention_belongs_to_the_person_named_in_full_with_another_patronymic():
    applicant = Applicant(_iin("90030830042"), "Ахметов", "Нұрлан", "Серікұлы")
    text = order("Ахметову Нұрлану", footer="Негізі: Ахметов Нұрлан Қанатұлының өтініші.\nДиректор Сейткали Б.Н.")
    verdict = verify(text, applicant)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"]


def test_a_strangers_iin_on_a_poorly_read_page_outweighs_the_name():
    filler = "Приказ довести до сведения работников отдела продаж и бухгалтерии. Контроль оставляю за собой.\n" * 3
    text = order("Ивановой Марии Петровне", footer=f"{filler}… ~ : ; . , … ИИН {NAMESAKE_IIN} …")
    assert verify(text, confidence=91.0).verdict is True
    poor = verify(text, confidence=55.0)
    assert poor.verdict is False and poor.error_codes == ["IIN_MISMATCH"]
    assert poor.review_reasons == ["iin_unattributed"]


def test_a_lost_first_name_is_no_other_person():
    verdict = verify(order("Ивановой Петровне", footer="Генеральный директор П.С. Иванов"))
    assert verdict.error_codes == ["NAME_NOT_FOUND"] and verdict.review_reasons == ["surname_only"]
    assert verdict.confidence < 0.9


def test_her_kazakh_spelling_is_her_name():
    """The request spells a Kazakh surname the Russian way (Исмаилова), the certificate the Kazakh way."""
    ismailova = Applicant(IVANOVA_IIN, "Исмаилова", "Гульнара", "Болатқызы")
    text = ("СПРАВКА\nЫсмайылова Гулнара Болаткызы, экономист, действительно работает в АО «Алтын Дала "
            "Агро» с 24 октября 2019 года по настоящее время.")
    verdict = verify(text, applicant=ismailova)
    assert verdict.verdict is True and not verdict.review_required
    other = verify(text.replace("Болаткызы", "Ерлановна"), applicant=ismailova)
    assert other.error_codes == ["NAME_NOT_FOUND"] and other.confidence >= 0.9


def test_her_first_name_and_patronymic_without_a_surname_go_to_a_person():
    """Her surname torn off at a line's end and read as specks: her first name and patronymic stand
    alone. A common pair of given names is no proof, so the reject stands and a person looks; another
    surname read beside them is another person's document."""
    lost = verify(order("ББ)\nМарии Петровне"))
    assert lost.error_codes == ["NAME_NOT_FOUND"] and lost.review_reasons == ["surname_unread"]
    assert lost.checks["name"].snippet == "Марии Петровне" and lost.confidence < 0.9
    other = verify(order("Сидоровой\nМарии Петровне"))
    assert other.error_codes == ["NAME_NOT_FOUND"] and not other.review_required and other.confidence >= 0.9


# ------------------------------------- initials beside a full mention that OCR left in doubt (issue #13)

ORLOVA_IIN = _iin("71060842829")
DIANA = Applicant(ORLOVA_IIN, "Орлова", "Диана", "Владимировна")


def kazakh_certificate(kazakh_mention: str, russian_mention: str, ack: str) -> str:
    """A bilingual certificate as OCR reads its two columns: line by line across both."""
    return f"""«№12 «Балапан» бебекжайы» Государственное коммунальное
мемлекеттік коммуналдық казенное предприятие «Ясли-сад
БСН {EMPLOYER_BIN} БИН {EMPLOYER_BIN}
АНЫҚТАМА СПРАВКА
Осы анықтама {kazakh_mention} Настояшая справка выдана {russian_mention}
«№12 «Балапан» бөбекжайы» МККК-де 09.10.2021 ж. в том, что она действительно работает в ГККП
бастап қазіргі уақытқа дейін «Ясли-сад № 12 «Балапан»» в должности воспитателя с 9 октября
жұмыс істейтіні туралы берілді. 2021 года по настоящее время.
Справка выдана для предоставления по месту требования.
Заведующая / Басшы Сергеевна
{ack}
Исп.: А.Б. Соколова, тел. 8 (7212) 41-33-08"""


@pytest.mark.parametrize("kazakh,russian", [
    # the sister Дана in both columns; the Russian one split by the column layout ("Дане" on the next line)
    ("Орлова Дана\nВладимировнаға", "Орловой\nВладимировнаға Дане Владимировне"),
    ("Орлова Дана Владимировнаға", "Орловой Дане Владимировне"),  # read whole: a near name, not hers
    ("Орлова ~~~ Владимировнаға", "Орловой\nВладимировне"),  # the first name lost in both columns
])
def test_initials_fitting_a_near_named_sister_whose_full_name_ocr_damaged_do_not_accept(kazakh, russian):
    verdict = verify(kazakh_certificate(kazakh, russian, "Справку получила: Д.В. Орлова"), DIANA, confidence=88.0)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"], verdict.checks["name"].detail
    assert verdict.review_required is True  # not surely hers, not surely her sister's: a person looks


ESENOV_IIN = _iin("74061830066")
ESENOV_NAMESAKE_IIN = _iin("88010230016")
ESENOV = Applicant(ESENOV_IIN, "Есенов", "Жандос", "Ерланұлы")


def test_a_namesakes_iin_beside_fragments_of_the_name_torn_by_two_columns_is_a_mismatch():
    """Same full name, another IIN: the two columns tear the Russian mention apart ("Есенову
    Ерланұлына (ЖСН …) Жандосу Ерланұлы"); fragments made only of his name's parts are his mention, so
    the IIN beside them contradicts him instead of belonging to "another person"."""
    torn = f"Есенову\nЕрланұлына (ЖСН {ESENOV_NAMESAKE_IIN}) Жандосу Ерланұлы, ИИН."
    text = kazakh_certificate("Есенов Жандос", torn, "Справку получил: Есенов Ж.Е.")
    verdict = verify(text, ESENOV, confidence=90.0)
    assert verdict.verdict is False and verdict.error_codes == ["IIN_MISMATCH"], verdict.checks["iin"].detail
    own = verify(text.replace(ESENOV_NAMESAKE_IIN, ESENOV_IIN), ESENOV, confidence=90.0)
    assert own.verdict is True and own.checks["iin"].detail["status"] == "found"


@pytest.mark.parametrize("garbled", ["(МИН- 3909 7135 2357)", "(ЖАСН- 390971252557)"])
def test_her_full_name_beside_an_iin_nobody_can_read_goes_to_review(garbled):
    """A namesake differs only by the IIN: with the number beside her name garbled (label and digits:
    a hard photo), her exact name does not settle it; a person looks (``iin_unreadable``). Far from her
    IIN it is read as the namesake's (a reject); with most of her digits in place, as hers (an accept)."""
    verdict = verify(order(f"Ивановой Марии Петровне {garbled}"), confidence=56.0)
    assert verdict.review_reasons == ["iin_unreadable"], verdict.checks["iin"].detail
    assert verdict.verdict is False and verdict.error_codes == ["IIN_MISMATCH"] and verdict.confidence < 0.9
    blurred = IVANOVA_IIN[:6] + "3112" + IVANOVA_IIN[10:]  # 4 digits merged by blur, 8 in place
    hers = f"(МИН- {blurred[:4]} {blurred[4:8]} {blurred[8:]})"
    misread = verify(order(f"Ивановой Марии Петровне {hers}"), confidence=56.0)
    assert misread.verdict is True and misread.review_reasons == ["iin_unreadable"] and misread.confidence < 0.9
    assert verify(order(f"Ивановой Марии Петровне (ИИН {IVANOVA_IIN}), {garbled}")).review_required is False
    assert verify(order("Ивановой Марии Петровне", footer=f"Исп. Сейткали Б.Н. {garbled}")).review_required is False


def test_her_iin_read_two_ways_on_a_bilingual_photo_is_not_a_namesakes():
    """A hard photo of a bilingual certificate: her IIN, printed in both columns, read two ways, both
    failing the checksum: one is her blurred copy (3 digits merged), the other is 6 digits away. The
    farther reading is the same number worse read: accepted for a person to look, not a confident
    reject. Read alone, that far reading beside her name still contradicts her."""
    near, far = "950120400174", "950100090194"
    text = kazakh_certificate(f"Иванова Мария (ЖСН: {far})", f"Ивановой Марии Петровне (ИИН {near})",
                              "Справку получила: Иванова М.П.")
    verdict = verify(text, confidence=70.0)
    assert verdict.verdict is True and verdict.review_reasons == ["iin_unreadable"], verdict.checks["iin"].detail
    assert verdict.confidence <= 0.8
    alone = verify(text.replace(near, ""), confidence=70.0)
    assert alone.verdict is False and alone.error_codes == ["IIN_MISMATCH"], alone.checks["iin"].detail


@pytest.mark.parametrize("applicant,mention,initials", [
    (DINA, "Ахметовой Ерлановне", "Ахметова Д.Е."),  # the first name lost to a stroke: whose are "Д.Е."?
    (DIANA, "Ортовой Дане Владимировне", "Д.В. Орлова"),  # surname and first name both damaged
])
def test_initials_do_not_accept_when_the_full_mention_beside_them_is_unreadable(applicant, mention, initials):
    verdict = verify(order(mention, footer=f"С приказом ознакомлена: {initials}\nДиректор Сейткали Б.Н."), applicant)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"], verdict.checks["name"].detail
    assert verdict.review_reasons == ["initials_unconfirmed"]
    assert verdict.checks["name"].detail["near_miss"]["reason"] == "initials_unconfirmed"


@pytest.mark.parametrize("torn", ["Г ульназ", "Гульназ"])
def test_initials_go_to_a_near_namesake_whose_first_name_ocr_tore_after_its_capital(torn):
    """"Жаксылыкова Г ульназ": a blot read as a space after the capital. The torn word is one first
    name, Гульназ: "Г.Е. Жаксылыкова" may be hers, so it is no evidence for Гульнара."""
    applicant = Applicant(_iin("85061240013"), "Жаксылыкова", "Гульнара", "Ерланқызы")
    text = order(f"Жаксылыкова {torn} Ерланқызы", footer="С приказом ознакомлена: Г.Е. Жаксылыкова")
    verdict = verify(text, applicant)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"], verdict.checks["name"].detail
    assert verdict.checks["name"].detail["near_miss"]["reason"] == "initials_of_other_person"
    own = verify(text.replace(torn, "Г ульнара"), applicant)
    assert own.verdict is True and own.review_required is False, own.checks["name"].detail


def test_initials_go_to_a_near_named_full_mention_whose_first_letter_ocr_confused():
    # "Дане" read "Лане" (OCR confuses Д and Л): the full mention is another person's, "Д.Е." may be hers
    verdict = verify(order("Ахметовой Лане Ерлановне",
                           footer="С приказом ознакомлена: Ахметова Д.Е.\nДиректор Сейткали Б.Н."), DINA)
    assert verdict.verdict is False and verdict.error_codes == ["NAME_NOT_FOUND"], verdict.checks["name"].detail
    assert verdict.review_reasons == ["initials_unconfirmed"] and verdict.confidence < 0.9


def test_a_caps_mention_ocr_turned_into_another_name_does_not_make_a_confident_reject():
    # "ТКАЧЕНКО ГАЛИНЕ" read "ТКАЧЕНКО ТАНЯ" (Г and Т confused, letters lost): "Г.И. Ткаченко" may be hers
    applicant = Applicant(_iin("73052445743"), "Ткаченко", "Галина", "Ивановна")
    verdict = verify(order("ТКАЧЕНКО ТАНЯ", footer="С приказом ознакомлена: Г.И. Ткаченко"), applicant)
    assert verdict.verdict is False and verdict.review_reasons == ["initials_unconfirmed"]
    assert verdict.confidence < 0.9


def test_a_full_mention_damaged_in_every_part_is_no_sure_other_person():
    """A pen stroke across "Попова Дмитрия Ильича" read "Побова Дуйтрия ИЙьича": the first name differs,
    but so does the surname, through letters OCR does not confuse. The initials "Попов Д.И." may be his:
    a reject a person looks at, not a confident one. Read with the surname whole, "Попова Дуйтрия
    Ильича" names another first name for sure, and the initials are that person's."""
    applicant = Applicant(_iin("78050436438"), "Попов", "Дмитрий", "Ильич")
    footer = "С приказом ознакомлен: Попов Д.И.\nДиректор Сейткали Б.Н."
    verdict = verify(order("Побова Дуйтрия ИЙьича", footer=footer), applicant)
    assert verdict.verdict is False and verdict.review_reasons == ["initials_unconfirmed"]
    assert verdict.confidence < 0.9
    whole = verify(order("Попова Дуйтрия Ильича", footer=footer), applicant)
    assert whole.verdict is False and whole.checks["name"].detail["near_miss"]["reason"] == "initials_of_other_person"


def sick_leave_read_by_columns(mention: str, iin: str) -> str:
    """A sick-leave sheet whose table OCR read column by column: the labels, then the values."""
    return f"""ТОО «Медицинский центр «Шипагер»» БИН 161040055162
ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ
№ 0824891 (первичный)
Выдан {mention} для предъявления по месту работы.
Дата выдачи
ИИН
Место работы
Причина нетрудоспособности
Освобождение от работы
Врач
Заведующий отделением
31 октября 2023 года
{iin[:4]} {iin[4:8]} {iin[8:]}
ТОО «Нур Курылыс Инвест»
заболевание (код 01)
с 5 ноября 2023 года по 12 ноября 2023 года
Турсынова М.А.
Ким Р.С."""


def test_a_valid_iin_read_apart_from_its_label_is_the_documents_not_a_strangers():
    """A namesake's sheet: her exact name, his IIN in the value column far from its "ИИН" label, the
    doctors' names nearer to it than the patient's. The label has no number after it and the IIN no
    label before it: they belong together, and the IIN contradicts her (a person looks). Her own sheet
    in the same layout is accepted."""
    namesake = _iin("65032033947")
    verdict = verify(sick_leave_read_by_columns("Ивановой Марии Петровне", namesake))
    assert verdict.verdict is False and verdict.error_codes == ["IIN_MISMATCH"], verdict.checks["iin"].detail
    assert verdict.review_reasons == ["iin_unattributed"] and verdict.confidence <= 0.8
    own = verify(sick_leave_read_by_columns("Ивановой Марии Петровне", IVANOVA_IIN))
    assert own.verdict is True and not own.review_required, own.checks["iin"].detail


def test_her_iin_still_identifies_her_when_her_damaged_name_stands_beside_her_initials():
    text = order("Ахметовой Ерлановне", f", ИИН {AKHMETOVA_IIN}",
                 footer="С приказом ознакомлена: Ахметова Д.Е.\nДиректор Сейткали Б.Н.")
    verdict = verify(text, DINA)
    assert verdict.verdict is True and verdict.checks["name"].detail["identified_by"] == "iin_and_surname"


@pytest.mark.parametrize("mention", ["Орловой Диане Владимировне", "Орловой Днане Владимировне"])
def test_her_full_name_read_or_misread_with_letters_ocr_confuses_keeps_her_initials(mention):
    verdict = verify(kazakh_certificate("Орлова Диана Владимировнаға", mention, "Справку получила: Д.В. Орлова"),
                     DIANA, confidence=88.0)
    assert verdict.verdict is True and verdict.review_required is False, verdict.checks["name"].detail


def test_initials_alone_with_nobody_else_of_her_surname_still_accept_for_review():
    verdict = verify(order("Ахметовой Д.Е.", footer="Директор Сейткали Б.Н."), DINA)
    assert verdict.verdict is True and verdict.review_reasons == ["initials_only"]


def test_her_first_name_followed_by_another_patronymic_is_another_persons():
    """A Kazakh certificate declines a Russian patronymic, and dust splits it from the first name: the
    reading ends the mention at "Наталья", the patronymic the document gives follows on the next line."""
    sokolova = Applicant(_iin("75030340012"), "Соколова", "Наталья", "Ильинична")
    text = ("АНЫҚТАМА\nОсы анықтама Соколова Наталья 15 ‚ `\nСериковнаға «Алма Фарм Сервис» "
            "ЖШС-де жұмыс істейтіні туралы берілді.\nДиректор Сейткали Б.Н.")
    verdict = verify(text, sokolova)
    assert verdict.verdict is False and verdict.checks["name"].detail["near_miss"]["reason"] == "patronymic_differs"
    assert verify(text.replace("Сериковнаға", "Ильиничнаға"), sokolova).verdict is True  # her own, declined
