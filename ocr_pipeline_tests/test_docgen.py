"""Sanity of the test-document generator itself (fast: no OCR)."""

import ast
import io
import re
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageOps

from ocr_pipeline.engine.iin import find_numbers, has_valid_checksum, is_bin, is_female, is_valid_iin
from ocr_pipeline_devtools import docgen

pytestmark = pytest.mark.integration

ALL_PEOPLE = (
    list(docgen.PEOPLE.values())
    + [p for group in docgen.RELATIVES.values() for p in group]
    + list(docgen.OTHER_PATRONYMIC.values())
)
KAZAKH_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _grammatical_gender_is_female(person: docgen.Person) -> bool:
    patronymic = person.second_name
    if patronymic:
        assert patronymic.endswith(("вна", "чна", "қызы", "ич", "ұлы")), patronymic
        return patronymic.endswith(("вна", "чна", "қызы"))
    return person.last_name.endswith("а")


def test_the_table_of_people_is_rich_enough():
    people = list(docgen.PEOPLE.values())
    assert len(people) >= 12
    assert {p.female for p in people} == {True, False}
    assert any(p.iin[6] in "56" for p in people), "someone born in the 2000s"
    assert sum(bool(KAZAKH_LETTERS & set(p.forms["nom"])) for p in people) >= 4
    assert any(not p.second_name for p in people), "someone without a patronymic"
    assert len({p.iin for p in ALL_PEOPLE}) == len(ALL_PEOPLE)


@pytest.mark.parametrize("person", ALL_PEOPLE, ids=lambda p: p.key)
def test_iin_is_valid_and_agrees_with_the_name(person):
    assert is_valid_iin(person.iin)
    assert person.iin[6] in "3456"
    assert is_female(person.iin) is person.female
    assert _grammatical_gender_is_female(person) is person.female


@pytest.mark.parametrize("person", ALL_PEOPLE, ids=lambda p: p.key)
def test_forms_are_complete_and_shaped_right(person):
    words = len(person.forms["nom"].split())
    for case in ("nom", "gen", "dat", "acc", "ins"):
        assert len(person.forms[case].split()) == words, case
    # Kazakh patronymics (-ұлы/-қызы) do not decline
    if person.second_name.endswith(("ұлы", "қызы")):
        assert all(person.forms[c].split()[2] == person.second_name for c in ("gen", "dat", "acc", "ins"))
    letters = "".join(w[0] for w in person.forms["nom"].split()[1:])
    assert person.forms["initials"] == f"{person.last_name} " + "".join(f"{c}." for c in letters)
    assert person.mention("initials_before") == "".join(f"{c}." for c in letters) + f" {person.last_name}"
    assert person.mention("initials_dat").split()[0] == person.forms["dat"].split()[0]
    assert person.kk_dat.startswith(" ".join(person.forms["nom"].split()[:2]))


def test_relatives_and_other_patronymics_are_the_traps_they_claim_to_be():
    for key, relatives in docgen.RELATIVES.items():
        applicant = docgen.PEOPLE[key]
        for relative in relatives:
            assert relative.last_name[:4] == applicant.last_name[:4]
            assert relative.first_name != applicant.first_name
    for key, other in docgen.OTHER_PATRONYMIC.items():
        applicant = docgen.PEOPLE[key]
        assert (other.last_name, other.first_name) == (applicant.last_name, applicant.first_name)
        assert other.second_name != applicant.second_name
        assert other.female is applicant.female


def test_namesake_has_same_name_and_another_valid_iin():
    person = docgen.PEOPLE["zharmaganbetova"]
    twin = docgen.namesake_of(person, seed=3)
    assert twin.forms == person.forms
    assert twin.iin != person.iin and is_valid_iin(twin.iin) and twin.female is person.female
    assert docgen.namesake_of(person, seed=3) == twin


def test_person_by_key_and_applicant():
    assert docgen.person_by_key("ivanova_sister").first_name == "Анна"
    assert docgen.person_by_key("kim_other_patronymic").second_name == "Сергеевна"
    yolkina = docgen.PEOPLE["yolkina"].applicant()
    assert (yolkina.last_name, yolkina.first_name) == ("Елкина", "Алена")
    kasymova = docgen.PEOPLE["kasymova"].applicant()
    assert kasymova.second_name == ""


def test_employers_have_valid_bins():
    for employer in docgen.EMPLOYERS:
        assert has_valid_checksum(employer.bin) and is_bin(employer.bin), employer.name_ru
    for _, bin_, _, _ in docgen.MEDICAL_ORGS:
        assert has_valid_checksum(bin_) and is_bin(bin_)


def test_generator_does_not_use_the_engine_to_decline_names():
    tree = ast.parse(Path(docgen.__file__).read_text(encoding="utf-8"))
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    top_level |= {a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names}
    assert {m for m in top_level if m.startswith("ocr_pipeline")} <= {"ocr_pipeline.engine.iin",
                                                                       "ocr_pipeline.engine.models"}
    # the engine's name code only tells a negative case's subject from the applicant (spelling_variant)
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        inner = {node.module for node in ast.walk(function) if isinstance(node, ast.ImportFrom) and node.module}
        if any(m.startswith("ocr_pipeline") for m in inner):
            assert function.name in ("_folded", "_nominative_spellings"), function.name


CASES_BY_TYPE = list(zip(docgen.DOC_TYPES, ["dat", "acc", "gen", "ins", "nom", "initials_dat", "initials"]))


@pytest.mark.parametrize("doc_type,name_case", CASES_BY_TYPE)
def test_rendered_page_names_the_person_once_in_the_asked_case(doc_type, name_case):
    person = docgen.PEOPLE["kovalchuk" if doc_type.startswith("maternity") else "akhmetov"]
    image = docgen.render_document(doc_type, person, name_case=name_case, seed=11)
    assert image.size == docgen.A4_PX and image.mode == "RGB"
    text = _flat(docgen.document_text(image))
    mention = person.mention(name_case)
    assert text.count(mention) == 1, text
    if name_case != "nom" and not doc_type.endswith("_kk"):
        assert person.forms["nom"] not in text
    digits = re.sub(r"\s", "", text)
    assert person.iin in digits
    kinds = {n.kind for n in find_numbers(text)}
    assert "bin" in kinds  # the employer's (or clinic's) BIN is printed too


def test_iin_can_be_left_out_and_extra_people_are_named():
    person, other = docgen.PEOPLE["ivanova"], docgen.PEOPLE["kim"]
    image = docgen.render_document("maternity_order", person, name_case="dat", include_iin=False,
                                   extra_people=[other], seed=2)
    text = _flat(docgen.document_text(image))
    assert person.iin not in re.sub(r"\s", "", text)
    assert person.forms["dat"] in text and other.forms["dat"] in text


def test_pages_without_a_person():
    for doc_type in docgen.NO_PERSON_DOC_TYPES:
        text = docgen.document_text(docgen.render_document(doc_type, None, seed=1))
        for person in docgen.PEOPLE.values():
            assert person.forms["initials"] not in text
            assert not any(" ".join(person.forms[c].split()[:2]) in text for c in ("nom", "gen", "dat", "acc", "ins"))


def test_rendering_is_deterministic():
    person = docgen.PEOPLE["tsoi"]
    a = docgen.render_document("dismissal_order", person, name_case="acc", seed=5)
    b = docgen.render_document("dismissal_order", person, name_case="acc", seed=5)
    c = docgen.render_document("dismissal_order", person, name_case="acc", seed=6)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()
    assert docgen.degrade(a, "photo", seed=1) == docgen.degrade(b, "photo", seed=1)


@pytest.fixture(scope="module")
def page():
    return docgen.render_document("employment_certificate", docgen.PEOPLE["petrenko"], name_case="dat", seed=4)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("kind,fmt,size", [
    ("clean", "PNG", (2480, 3508)),
    ("scan", "JPEG", (2480, 3508)),
    ("rot90", "JPEG", (3508, 2480)),
    ("rot180", "JPEG", (2480, 3508)),
    ("rot270", "JPEG", (3508, 2480)),
    ("dpi150", "PNG", (1240, 1754)),
    ("unreadable", "JPEG", (1240, 1754)),
])
def test_degradations_encode_uploads(page, kind, fmt, size):
    image = _open(docgen.degrade(page, kind, seed=1))
    assert (image.format, image.size) == (fmt, size)


def _ink_rows(image: Image.Image, x0: int, x1: int) -> float:
    gray = np.asarray(image.convert("L"), dtype=np.float32)[:, x0:x1]
    rows = np.nonzero((gray < 100).mean(axis=1) > 0.3)[0]
    return float(rows.mean())


@pytest.mark.parametrize("kind,sign", [("skew+", 1), ("skew-", -1), ("skew:2.5", 1), ("skew:-2.5", -1)])
def test_skew_has_the_promised_sign(kind, sign):
    bar = Image.new("RGB", docgen.A4_PX, "white")
    bar.paste((0, 0, 0), (400, 1700, 2080, 1760))
    for seed in (1, 2):
        skewed = _open(docgen.degrade(bar, kind, seed=seed))
        left, right = _ink_rows(skewed, 500, 700), _ink_rows(skewed, 1780, 1980)
        # counter-clockwise (positive) lifts the right end of a horizontal bar
        assert (left - right) * sign > 20, (kind, seed, left, right)


def test_rot90_turns_clockwise():
    marker = Image.new("RGB", docgen.A4_PX, "white")
    marker.paste((0, 0, 0), (0, 0, 600, 600))  # top-left corner
    turned = np.asarray(_open(docgen.degrade(marker, "rot90", seed=1)).convert("L"))
    height, width = turned.shape
    assert turned[:300, width - 300:].mean() < 100  # now top-right


def test_photo_is_a_phone_photo(page):
    for seed in (1, 2, 3):
        image = _open(docgen.degrade(page, "photo", seed=seed))
        assert image.format == "JPEG"
        assert image.size in {(3000, 4000), (1600, 2100), (2250, 3000)}
        array = np.asarray(image.convert("L"), dtype=np.float32)
        assert array[:40, :40].mean() < 150, "a darker table around the page"


def test_photo_exif_is_stored_sideways_with_orientation(page):
    image = _open(docgen.degrade(page, "photo_exif", seed=2))
    assert image.getexif().get(0x0112) == 6
    assert image.width > image.height
    upright = ImageOps.exif_transpose(image)
    assert upright.height > upright.width


def test_photo_of_nothing_and_blank_page():
    assert _open(docgen.photo_of_nothing(1)).format == "JPEG"
    blank = docgen.render_blank_page(1)
    assert docgen.document_text(blank) == "" and blank.size == docgen.A4_PX


def test_scanned_pdf_has_images_only(page):
    cover = docgen.render_document("cover_letter", None, seed=3)
    data = docgen.to_pdf([docgen.degrade(cover, "scan", 1), docgen.degrade(page, "scan", 2)])
    assert data.startswith(b"%PDF")
    document = pdfium.PdfDocument(data)
    assert len(document) == 2
    width, height = document[1].get_size()
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2
    assert document[1].get_textpage().get_text_range().strip() == ""


def test_text_layer_pdf_has_the_name_on_page_two(page):
    cover = docgen.render_document("cover_letter", None, seed=3)
    document = pdfium.PdfDocument(docgen.to_pdf([cover, page], text_layer=True))
    assert len(document) == 2
    first = _flat(document[0].get_textpage().get_text_range())
    second = _flat(document[1].get_textpage().get_text_range())
    person = docgen.PEOPLE["petrenko"]
    assert person.last_name not in first
    assert person.forms["dat"] in second
    assert "Сопроводительное письмо" in first


def test_text_layer_pdf_keeps_kazakh_letters():
    person = docgen.PEOPLE["zharmaganbetova"]
    image = docgen.render_document("maternity_order_kk", person, name_case="dat", seed=8)
    document = pdfium.PdfDocument(docgen.to_pdf([image], text_layer=True))
    text = _flat(document[0].get_textpage().get_text_range())
    assert person.kk_dat in text and person.forms["dat"] in text


# ------------------------------------------------------------------------- generated people and cases

# The hand-written table prints "Әлие" (dative of Әлия); Russian grammar (and the inflector) say "Әлии".
HAND_TABLE_DISAGREEMENTS = {("zharmaganbetova", "dat"), ("zharmaganbetova_other_patronymic", "dat")}


@pytest.mark.parametrize("person", ALL_PEOPLE, ids=lambda p: p.key)
def test_independent_inflector_agrees_with_the_hand_written_forms(person):
    forms = docgen.declined_forms(person.last_name, person.first_name, person.second_name, person.female)
    for case in ("nom", "gen", "dat", "acc", "ins", "initials"):
        if (person.key, case) in HAND_TABLE_DISAGREEMENTS:
            assert forms[case] != person.forms[case]
            continue
        assert forms[case] == person.forms[case], case
    assert docgen.kazakh_dative(person.forms["nom"]) == person.kk_dat


def test_inflector_rules_for_kazakh_korean_ukrainian_and_double_names():
    assert docgen.declined_forms("Ахметова", "Жанар", "Серікқызы", True)["dat"] == "Ахметовой Жанар Серікқызы"
    assert docgen.declined_forms("Ким", "Ольга", "", True)["gen"] == "Ким Ольги"
    assert docgen.declined_forms("Ким", "Виктор", "", False)["gen"] == "Кима Виктора"
    assert docgen.declined_forms("Шевченко", "Тарас", "Иванович", False)["dat"] == "Шевченко Тарасу Ивановичу"
    assert docgen.declined_forms("Кравчук", "Оксана", "", True)["ins"] == "Кравчук Оксаной"
    assert docgen.declined_forms("Иванова-Петрова", "Асель", "Маратовна", True)["dat"] == \
        "Ивановой-Петровой Асели Маратовне"
    assert docgen.declined_forms("Иванова-Петрова", "Асель", "Маратовна", True)["ins"] == \
        "Ивановой-Петровой Аселью Маратовной"
    assert docgen.kazakh_dative("Қуанышбаева Айгүл") == "Қуанышбаева Айгүлге"


CASE_SEEDS = range(300, 340)


@pytest.fixture(scope="module")
def cases():
    return {group: [docgen.make_case(group, seed) for seed in CASE_SEEDS]
            for group in docgen.CASE_GROUPS_POSITIVE + docgen.CASE_GROUPS_NEGATIVE}


def test_generated_people_are_many_and_varied(cases):
    people = {c.applicant.forms["nom"]: c.applicant for group in cases.values() for c in group}
    assert len(people) > 300
    values = list(people.values())
    assert {p.female for p in values} == {True, False}
    assert sum(not p.second_name for p in values) >= 5, "some without patronymic"
    assert sum("-" in p.last_name for p in values) >= 20, "double surnames"
    assert sum(p.second_name.endswith(("ұлы", "қызы")) for p in values) >= 10
    assert sum(bool(KAZAKH_LETTERS & set(p.forms["nom"])) for p in values) >= 20
    surnames = {p.last_name for p in values}
    for korean_or_ukrainian in (("Ким", "Пак", "Цой", "Ли", "Тен", "Хан", "Шин", "Когай", "Пян"),
                                ("Шевченко", "Коваленко", "Бондаренко", "Ткаченко", "Лысенко")):
        assert surnames & set(korean_or_ukrainian)
    for person in values + [c.subject for group in cases.values() for c in group]:
        assert is_valid_iin(person.iin), person
        assert is_female(person.iin) is person.female
        if person.second_name:
            assert _grammatical_gender_is_female(person) is person.female


def test_positive_cases_are_the_applicants_own_documents(cases):
    for group in docgen.CASE_GROUPS_POSITIVE:
        for case in cases[group]:
            assert case.expected and case.expected_code is None
            assert case.subject is case.applicant


def test_negative_cases_name_someone_else(cases):
    for group in docgen.CASE_GROUPS_NEGATIVE:
        for case in cases[group]:
            assert not case.expected and case.expected_code
            if group == "namesake":
                assert case.subject.forms == case.applicant.forms and case.subject.iin != case.applicant.iin
                assert case.include_iin
            elif group == "other_patronymic":
                assert case.applicant.second_name and case.subject.second_name != case.applicant.second_name
                assert case.subject.forms["nom"].split()[:2] == case.applicant.forms["nom"].split()[:2]
            elif group != "unreadable":
                assert case.subject.forms["nom"] != case.applicant.forms["nom"]
                assert case.subject.iin != case.applicant.iin


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def test_initials_of_another_person_fit_the_applicant(cases):
    for case in cases["initials_of_other_person"]:
        subject, applicant = case.subject, case.applicant
        assert docgen.initials_collide(subject, applicant), (subject.forms, applicant.forms)
        assert subject.last_name == applicant.last_name and subject.first_name != applicant.first_name
        assert _edit_distance(subject.first_name, applicant.first_name) <= 3
        assert case.ack
    case = cases["initials_of_other_person"][0]
    text = _flat(docgen.document_text(docgen.render_case(case)[-1]))
    assert case.subject.forms["initials"] in text or \
        f"{case.subject.forms['initials'].split(' ', 1)[1]} {case.subject.last_name}" in text
    assert case.applicant.forms[case.name_case] not in text


def test_near_namesakes_and_relatives(cases):
    for case in cases["near_namesake"]:
        subject, applicant = case.subject, case.applicant
        assert subject.last_name == applicant.last_name and subject.second_name == applicant.second_name
        assert subject.first_name[0] == applicant.first_name[0]
        assert 1 <= _edit_distance(subject.first_name, applicant.first_name) <= 3
    for case in cases["relative"]:
        assert case.subject.last_name[:4] == case.applicant.last_name[:4]
        assert case.subject.first_name != case.applicant.first_name


def _text_of(case) -> str:
    pages = docgen.render_case(case)
    return _flat("\n".join(docgen.document_text(p) for p in pages))


def test_several_mentions_full_name_and_initials(cases):
    for case in cases["multiple_mentions"][:6]:
        text = _text_of(case)
        subject = case.subject
        letters = subject.forms["initials"].split(" ", 1)[1]
        assert subject.forms["initials"] in text or f"{letters} {subject.last_name}" in text
        if case.table:
            assert (subject.forms["nom"].upper() if case.caps else subject.forms["nom"]) in text
        else:
            assert case.mention() in text
        assert re.search(r"ознакомлен|получил", text)


def test_caps_broken_lines_tables_and_two_columns(cases):
    for case in cases["caps"][:4]:
        assert case.mention() == case.subject.forms[case.name_case].upper()
        if not case.table:
            assert case.mention() in _text_of(case)
    for case in cases["broken_line"][:4]:
        lines = docgen.document_text(docgen.render_case(case)[0]).splitlines()
        words = case.mention().split()
        assert any(a.rstrip().endswith(words[0]) and b.startswith(words[1]) for a, b in zip(lines, lines[1:])), \
            (words, lines)
    for case in cases["table_layout"][:6]:
        page = docgen.render_case(case)[0]
        lines = docgen.document_text(page).splitlines()
        if case.split_table:
            assert any(line.startswith("Фамилия") for line in lines)
            assert case.subject.last_name.upper() if case.caps else case.subject.last_name in lines
        else:
            assert "Фамилия, имя, отчество" in " ".join(lines)
    for case in cases["two_column"][:4]:
        assert case.doc_type == "employment_certificate_kk"
        image = docgen.render_case(case)[0]
        text = _flat(docgen.document_text(image))
        assert " ".join(case.subject.kk_dat.split()[:2]) in text
        box = image.info["docgen_name_box"]
        assert box is not None


def test_relatives_named_in_full_beside_the_applicant(cases):
    for case in cases["relative_named_in_full"][:6]:
        assert case.others
        text = _text_of(case)
        for role, person in case.others:
            assert person.forms["nom"] in text
            assert person.last_name[:4] == case.subject.last_name[:4]


def test_spelling_variants_differ_between_request_and_document(cases):
    seen = set()
    for case in cases["spelling_variant"]:
        person = case.applicant
        event = " ".join(filter(None, person.event_name))
        assert event != person.forms["nom"]
        if KAZAKH_LETTERS & set(person.forms["nom"]):
            seen.add("kk")
        elif "ё" in person.forms["nom"].lower():
            seen.add("yo")
        else:
            assert "ё" in event.lower()
            seen.add("e_yo")
    assert seen == {"kk", "yo", "e_yo"}


def test_double_surnames_decline_both_parts(cases):
    for case in cases["double_surname"][:10]:
        last = case.subject.last_name
        assert "-" in last
        declined = case.subject.forms["dat"].split()[0]
        assert "-" in declined
        if case.subject.female and last.endswith("ова"):
            assert declined.endswith("овой")


def _ink_pixels(image, box) -> int:
    x0, y0, x1, y1 = box
    array = np.asarray(image.convert("RGB").crop((x0, y0, x1, y1)), dtype=np.int32)
    r, g, b = array[..., 0], array[..., 1], array[..., 2]
    return int(((b - r > 40) & (b - g > 25)).sum())


def test_ink_and_seals_lie_over_the_name(cases):
    inks = set()
    for case in cases["ink_over_name"][:10]:
        assert case.ink and case.include_iin
        image = docgen.render_case(case)[-1]
        box = image.info["docgen_name_box"]
        assert box is not None
        for kind, ink, mark in image.info["docgen_ink"]:
            inks.add((kind, ink))
            assert mark[0] < box[2] and box[0] < mark[2] and mark[1] < box[3] and box[1] < mark[3]
        assert _ink_pixels(image, box) > 50, case.ink
        assert case.subject.iin in re.sub(r"\s", "", docgen.document_text(image))
    assert {kind for kind, _ in inks} == {"seal", "stroke"}
    assert len({ink for _, ink in inks}) >= 3


def test_multi_page_scans_have_confusable_patronymics(cases):
    confusable = {p for masc, fem, _, flag in docgen.PATRONYMICS if flag for p in (masc, fem)}
    for case in cases["multi_page_scan"][:5]:
        assert case.pages in (2, 3)
        assert case.subject.second_name in confusable
        pages = docgen.render_case(case)
        assert len(pages) == case.pages
        assert case.subject.last_name not in docgen.document_text(pages[0])


def test_photo_hard_is_a_low_resolution_dim_blurred_jpeg():
    case = docgen.make_case("photo_hard", 5)
    page = docgen.render_case(case)[0]
    for seed in (1, 2):
        data = docgen.degrade(page, "photo_hard", seed=seed)
        image = _open(data)
        assert image.format == "JPEG"
        dpi = docgen.photo_hard_dpi(seed)
        assert 110 <= dpi <= 135
        gray = np.asarray(image.convert("L"), dtype=np.float32)
        paper = gray > 0.5 * np.percentile(gray, 99)
        widest = paper.sum(axis=1).max()
        assert abs(widest / (docgen.A4_PX[0] / docgen.DPI) - dpi) < 0.1 * dpi
        assert image.width < 1300 and image.height < 1800
        assert gray[:15, :15].mean() < 150, "a table around the page"
        # light falls to about a third towards one edge of the page
        h, w = gray.shape
        strips = [gray[h // 8: h // 6, w // 3: 2 * w // 3], gray[5 * h // 6: 7 * h // 8, w // 3: 2 * w // 3],
                  gray[h // 3: 2 * h // 3, w // 8: w // 6], gray[h // 3: 2 * h // 3, 5 * w // 6: 7 * w // 8]]
        means = sorted(float(np.percentile(s, 90)) for s in strips)
        assert means[0] < 0.75 * means[-1]


def test_scan_multi_is_a_cheap_grey_scan(page):
    image = _open(docgen.degrade(page, "scan_multi", seed=1))
    assert image.format == "JPEG" and image.mode == "L" and image.size == (1653, 2338)


def test_the_evaluation_sets_mix_and_expected_answers():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "bench" / "evaluate.py"
    spec = importlib.util.spec_from_file_location("evaluate_under_test", path)
    evaluate = importlib.util.module_from_spec(spec)
    sys.modules["evaluate_under_test"] = evaluate
    spec.loader.exec_module(evaluate)
    fixed = evaluate.build_set(evaluate.SET_SEED, 520)
    assert len(fixed) >= 500 and len({s.id for s in fixed}) == len(fixed)
    assert evaluate.build_set(evaluate.SET_SEED, 520) == fixed
    assert evaluate.build_set(12345, 520) != fixed
    positives = sum(s.expected for s in fixed) / len(fixed)
    hard = sum(s.hard_photo for s in fixed) / len(fixed)
    assert 0.55 <= positives <= 0.65 and 0.12 <= hard <= 0.18
    groups = {s.group for s in fixed}
    assert set(docgen.CASE_GROUPS_POSITIVE + docgen.CASE_GROUPS_NEGATIVE) <= groups
    assert {"positive", "no_person", "blank_photo", "nothing"} <= groups
    for s in fixed:
        assert (s.expected_code is None) is s.expected
    assert {s.expected_code for s in fixed if s.group == "initials_of_other_person"} == {"NAME_NOT_FOUND"}
    assert {s.expected_code for s in fixed if s.group == "namesake"} == {"IIN_MISMATCH"}
    dev = evaluate.build_set(*evaluate.SETS["dev"])
    assert 180 <= len(dev) <= 220
    assert not {s.seed for s in dev} & {s.seed for s in fixed}, "the tuning set shares no document with the fixed one"
