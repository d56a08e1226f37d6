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
from ocr_pipeline_tests import docgen

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
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    engine_modules = {m for m in imported if m.startswith("ocr_pipeline")}
    assert engine_modules <= {"ocr_pipeline.engine.iin", "ocr_pipeline.engine.models"}


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
