"""Ink across the name line, blurred photos and the second look, with real Tesseract (rus+kaz).

Documents are rendered by ``docgen`` with a blue signature (``docgen._scribble``) or a blue stamp
(``docgen._stamp``) multiplied over the applicant's surname, as ink lies on paper: the first pass does
not find the name on them, the colour-separated page does.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import io  # noqa: E402
import random  # noqa: E402
from functools import lru_cache  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageChops, ImageDraw  # noqa: E402

from ocr_pipeline.engine import preprocess as pp  # noqa: E402
from ocr_pipeline.engine.models import EngineSettings, ErrorCode, PageText  # noqa: E402
from ocr_pipeline.engine.ocr import read_text  # noqa: E402
from ocr_pipeline.engine.pipeline import (  # noqa: E402
    INCOMPLETE_READING,
    UNSETTLED_REJECT_CONFIDENCE,
    looks_for,
    needs_second_look,
    verify_document,
)
from ocr_pipeline.engine.verify import verify_pages  # noqa: E402
from ocr_pipeline_devtools import docgen, engine_pages  # noqa: E402

pytestmark = pytest.mark.integration  # whole rendered documents through the engine

SETTINGS = EngineSettings()
P = docgen.PEOPLE


def _surname_box(page: Image.Image, surname: str) -> tuple[int, int, int, int]:
    for x, baseline, text, path, size in page.info["docgen_runs"]:
        if surname in text:
            font = docgen._font(path, size)
            x0 = x + font.getlength(text[:text.index(surname)])
            return round(x0), round(baseline - 0.75 * size), round(x0 + font.getlength(surname)), baseline
    raise LookupError(surname)


@lru_cache(maxsize=None)
def inked(key: str, name_case: str, ink: str, seed: int = 0) -> Image.Image:
    """A maternity order about ``key`` (no stamp of its own) with ``ink`` across the surname:
    "signature" (dark-blue ballpoint loops), "stamp" (a blue round seal whose ring crosses it,
    pressed twice) or "stamp_once"."""
    person = P[key]
    # no IIN printed: the name itself must be read (her IIN beside a damaged name would identify her)
    page = docgen.render_document("maternity_order", person, name_case=name_case, seed=seed, stamp=False,
                                  include_iin=False)
    x0, y0, x1, y1 = _surname_box(page, person.mention(name_case).split()[0])
    rng = random.Random(seed)
    marked = page.copy()
    if ink == "signature":
        layer = Image.new("RGB", page.size, "white")
        docgen._scribble(ImageDraw.Draw(layer), (x0 - 60, y0 - 70, x1 + 120, y1 + 50), rng)
        marked = ImageChops.multiply(page, layer)  # ink multiplies: print under the stroke stays dark
    else:  # pressed twice (fresh, dense ink) or once, the ring across the surname
        for _ in range(1 if ink == "stamp_once" else 2):
            docgen._stamp(marked, ((x0 + x1) // 2, y0 - 190), "ТОО «АЛМАТЫ СЕРВИС» * БИН 070650003210 * ",
                          ["ДЛЯ ДОКУМЕНТОВ"], random.Random(seed))
    marked.info.update(page.info)
    return marked


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _name_found(gray: np.ndarray, key: str) -> bool:
    """The name itself is read (not the applicant identified by her IIN beside a damaged name), OCR
    look-alike slips allowed (a poor reading then needs her IIN to accept it: ``fuzzy_name``)."""
    name = verify_pages([read_text(gray, 1, SETTINGS)], P[key].applicant(), SETTINGS).checks["name"]
    read_with_slips = name.detail.get("uncorroborated") and not name.detail.get("hard_edits")
    return (name.matched or bool(read_with_slips)) and "identified_by" not in name.detail


# ------------------------------------------------------------------------------------- separate_ink

def test_separate_ink_removes_blue_ink_and_keeps_print_under_it():
    bgr = np.full((240, 480, 3), 245, np.uint8)
    bgr[80:160, 40:240] = 20  # black print
    ink = np.full_like(bgr, 255)
    for y in (56, 96, 120, 144, 184):
        cv2.line(ink, (0, y), (479, y), (120, 40, 25), 7)  # dark-blue ballpoint strokes (BGR)
    page = (bgr.astype(np.float32) * ink / 255).astype(np.uint8)
    separated = pp.separate_ink(page)
    plain = pp.to_gray(page)
    assert plain[120, 400] < 130  # to_gray leaves a stroke about half as dark as print
    assert separated[120, 400] > 200 and separated[56, 100] > 200  # strokes over paper become paper
    assert separated[120, 100] < 40 and separated[110, 100] < 40  # print, crossed or not, stays print
    assert separated[20, 400] >= 240


def test_separate_ink_leaves_a_page_without_colour_alone():
    gray = np.full((40, 40), 240, np.uint8)
    gray[10:20, 10:20] = 10
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(pp.separate_ink(bgr), gray)
    assert not pp.has_colour_ink(bgr)


@pytest.mark.parametrize("key,name_case,ink", [
    ("ivanova", "dat", "signature"),
    ("kim", "dat", "stamp"),
    ("petrenko", "dat", "stamp"),
])
def test_name_under_ink_is_read_after_colour_separation_and_not_before(key, name_case, ink):
    image = np.asarray(inked(key, name_case, ink))[..., ::-1].copy()  # BGR, as load_document gives
    assert pp.has_colour_ink(image)
    assert not _name_found(pp.preprocess_page(image), key)
    assert _name_found(pp.prepare_look(image, "ink"), key)


@pytest.mark.parametrize("key", ["kim", "petrenko"])
def test_name_under_a_seal_scanned_in_gray_is_read_once_the_lighter_ink_is_dropped(key):
    """A seal's ink scanned in gray has no colour to separate it by, but it stays lighter than print."""
    image = np.asarray(inked(key, "dat", "stamp_once").convert("L"))
    assert not pp.has_colour_ink(image)
    assert not _name_found(pp.preprocess_page(image), key)
    assert _name_found(pp.prepare_look(image, "dark_print"), key)


def test_keep_dark_print_turns_a_gray_seal_to_paper_and_keeps_the_print():
    gray = np.full((400, 800), 235, np.uint8)
    for x in range(40, 400, 9):
        gray[160:190, x:x + 3] = 25  # the strokes of a line of print
    gray[172:176, :] = np.minimum(gray[172:176, :], 130)  # a seal's ring across it, scanned in gray
    kept = pp.keep_dark_print(gray)
    assert kept[174, 600] == 255 and kept[100, 600] == 255  # the seal over paper, and the paper
    assert kept[174, 40] < 40 and kept[165, 40] < 40  # print, crossed or not


# -------------------------------------------------------------------------------------- second look

def test_second_look_finds_the_name_under_a_signature():
    verdict = verify_document(_png(inked("ivanova", "dat", "signature")), P["ivanova"].applicant())
    assert verdict.verdict, verdict.errors
    looks = verdict.checks["readable"].detail["looks"]
    assert looks[-1].endswith("+") and ":ink:" in looks[-1]
    assert verdict.timings["second_look"] > 0


def test_second_look_finds_the_name_under_a_stamp_on_a_scanned_pdf():
    """A scan sent as PDF keeps its colour like a photo: the stamp is separated on the second look."""
    page = inked("kim", "dat", "stamp").convert("RGB")
    buffer = io.BytesIO()
    page.save(buffer, "PDF", resolution=300.0)
    verdict = verify_document(buffer.getvalue(), P["kim"].applicant())
    assert verdict.verdict, verdict.errors
    assert ":ink:" in verdict.checks["readable"].detail["looks"][-1]


def test_second_look_finds_the_name_under_a_seal_on_a_page_scanned_in_gray():
    """The first reading glimpsed her name under the seal: the page is read again without the seal."""
    verdict = verify_document(_png(inked("ivanova", "dat", "stamp_once").convert("L")), P["ivanova"].applicant())
    assert verdict.verdict, verdict.errors
    assert verdict.checks["readable"].detail["looks"] == ["1:dark_print:3+"]


def test_a_gray_page_that_shows_nothing_of_her_is_not_read_again():
    """A seal stands on most documents: a confident gray reading that saw nothing of her name is not
    read again for it (another person's document would pay a Tesseract pass for nothing)."""
    verdict = verify_document(_png(inked("kim", "dat", "stamp_once").convert("L")), P["ivanova"].applicant())
    assert verdict.error_codes == [ErrorCode.NAME_NOT_FOUND.value]
    assert "looks" not in verdict.checks["readable"].detail and "second_look" not in verdict.timings


def test_clean_document_pays_nothing_for_the_second_look():
    page = docgen.render_document("maternity_order", P["ivanova"], name_case="dat", seed=0)
    verdict = verify_document(docgen.degrade(page, "clean", 0), P["ivanova"].applicant())
    assert verdict.verdict
    assert "second_look" not in verdict.timings and "looks" not in verdict.checks["readable"].detail


def test_second_look_does_not_accept_someone_elses_inked_document():
    verdict = verify_document(_png(inked("ivanova", "dat", "signature")), P["kim"].applicant())
    assert not verdict.verdict
    assert verdict.error_codes == [ErrorCode.NAME_NOT_FOUND.value]
    assert verdict.checks["readable"].detail["looks"]  # it looked again, and found nothing
    assert verdict.confidence <= UNSETTLED_REJECT_CONFIDENCE  # a page that hid a name twice is no proof


def test_second_look_sees_the_namesakes_iin_once_the_name_is_readable():
    """A namesake's document with a signature over the surname: the IIN next to it contradicts."""
    namesake = docgen.namesake_of(P["ivanova"], seed=1)
    page = docgen.render_document("maternity_order", namesake, name_case="dat", seed=0, stamp=False)
    x0, y0, x1, y1 = _surname_box(page, namesake.mention("dat").split()[0])
    layer = Image.new("RGB", page.size, "white")
    docgen._scribble(ImageDraw.Draw(layer), (x0 - 60, y0 - 70, x1 + 120, y1 + 50), random.Random(0))
    verdict = verify_document(_png(ImageChops.multiply(page, layer)), P["ivanova"].applicant())
    assert verdict.error_codes == [ErrorCode.IIN_MISMATCH.value]  # not NAME_NOT_FOUND: the name is read
    assert verdict.checks["readable"].detail["looks"][-1].endswith("+")


def test_decided_verdicts_get_no_second_look():
    page = docgen.render_document("maternity_order", docgen.namesake_of(P["ivanova"], seed=1), name_case="dat",
                                  seed=0)
    verdict = verify_document(docgen.degrade(page, "clean", 0), P["ivanova"].applicant())
    assert verdict.error_codes == [ErrorCode.IIN_MISMATCH.value]
    assert not needs_second_look(verdict) and "second_look" not in verdict.timings


def test_a_confident_reading_that_dropped_paragraphs_gets_the_photo_tries():
    """Tesseract's layout analysis can drop whole paragraphs of a textured photo and read the rest
    confidently: the page's letters outside the words read, not the confidence, tell."""
    gray = np.asarray(engine_pages.render_page().convert("L"))
    whole = PageText(number=1, text="…", mean_confidence=92.0, coverage=0.97)
    assert looks_for(gray, whole, unreadable=False) == []
    assert looks_for(gray, whole, unreadable=False, glimpsed=True) == [("dark_print", 3)]
    dropped = PageText(number=1, text="…", mean_confidence=92.0, coverage=INCOMPLETE_READING - 0.2)
    assert [look for look, _ in looks_for(gray, dropped, unreadable=False)] == [
        "photo_deblur", "photo_binary", "photo"]


# ----------------------------------------------------------------------------------- blurred photos

def test_blurred_text_is_not_taken_for_rules():
    """Letters run together by blur make bars as long as a rule: remove_rules must leave them.

    Before the fix a page photographed at about 120 DPI with 2-5 px of motion blur lost 60-90 % of
    its ink here, its name line with the rest.
    """
    gray = cv2.cvtColor(np.asarray(engine_pages.render_page()), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    for length in (5, 7):
        blurred = cv2.filter2D(small, -1, np.full((1, length), 1 / length, np.float32))  # motion blur
        ink = blurred < 128
        erased = ink & (pp.remove_rules(blurred) >= 128)
        assert erased.sum() < 0.05 * ink.sum()


def _photographed_in_motion(key: str, degrees: float, length: float = 7) -> np.ndarray:
    """A maternity order about ``key`` at 120 DPI, moved ``length`` px at ``degrees`` during the exposure."""
    page = docgen.render_document("maternity_order", P[key], name_case="dat", seed=0, include_iin=False)
    gray = cv2.cvtColor(np.asarray(page.convert("RGB")), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA).astype(np.float32)
    noise = np.random.default_rng(0).standard_normal(small.shape).astype(np.float32) * 4
    return np.clip(cv2.filter2D(small, -1, pp.motion_kernel(length, degrees)) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("degrees", [0, 40])
def test_motion_blur_is_measured_and_undone_where_the_unsharp_mask_fails(degrees):
    blurred = _photographed_in_motion("ivanova", degrees)
    length, direction = pp.estimate_motion_blur(blurred)
    assert abs(length + 1 - 7) <= 1.5
    assert min(abs(direction - degrees), 180 - abs(direction - degrees)) <= 10
    assert not _name_found(pp._prepare_flat(pp.sharpen(blurred), target_x_height=pp.PHOTO_X_HEIGHT), "ivanova")
    assert _name_found(pp._prepare_flat(pp.undo_motion_blur(blurred), target_x_height=pp.PHOTO_X_HEIGHT),
                       "ivanova")


def test_the_gray_halo_left_by_blur_is_turned_to_paper():
    """Hard phone photos (docgen's ``photo_hard``: 110-135 DPI, motion blur, heavy JPEG) deblurred: letters
    come out bold and run together until only the dark cores of the strokes are kept."""
    page = docgen.render_document("maternity_order", P["ivanova"], name_case="dat", seed=0, include_iin=False)
    found = {"deblurred": 0, "cores kept": 0}
    for seed in range(6):
        image = cv2.imdecode(np.frombuffer(docgen.degrade(page, "photo_hard", seed), np.uint8), cv2.IMREAD_COLOR)
        gray = pp.to_gray(image)
        corners = pp.find_page_quad(gray)
        flat = pp.flatten_illumination(gray if corners is None else pp.warp_quad(gray, corners))
        deblurred = pp._prepare_flat(pp.undo_motion_blur(flat), target_x_height=pp.PHOTO_X_HEIGHT)
        in_deblurred = _name_found(deblurred, "ivanova")
        in_cores = _name_found(pp.keep_stroke_cores(deblurred), "ivanova")
        assert in_cores or not in_deblurred, f"seed {seed}: the cores lost a name the deblurred page had"
        found["deblurred"] += in_deblurred
        found["cores kept"] += in_cores
    assert found["cores kept"] >= found["deblurred"] + 2, found


def test_a_hard_photo_of_her_document_is_read_or_sent_to_a_person():
    """Hard phone photos of her document: what no look reads (too few legible words, or the name not
    found on a poor reading) is a reject a person looks at, never a reject decided without one."""
    page = docgen.render_document("maternity_order", P["ivanova"], name_case="dat", seed=0, include_iin=False)
    codes = set()
    for seed in range(3):
        verdict = verify_document(docgen.degrade(page, "photo_hard", seed), P["ivanova"].applicant())
        assert verdict.verdict or verdict.review_reasons == ["poor_reading"], (seed, verdict.error_codes)
        codes.update(verdict.error_codes)
    assert "UNREADABLE_DOCUMENT" in codes  # the photos cover the case: one the engine cannot read at all


def test_a_sharp_page_is_not_deconvolved():
    gray = cv2.cvtColor(np.asarray(engine_pages.render_page()), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    assert pp.estimate_motion_blur(small)[0] < pp.MOTION_MIN_LENGTH
    assert np.array_equal(pp.undo_motion_blur(small), pp.sharpen(small))


def test_a_page_too_large_for_a_photo_is_sharpened_not_deconvolved():
    """A poster-sized page (a PDF drawn at its limit) would cost gigabytes of spectrum: not a phone photo."""
    huge = np.full((3000, pp.MOTION_MAX_PIXELS // 3000 + 1), 255, np.uint8)
    huge[1000:1010, :] = 0
    assert np.array_equal(pp.undo_motion_blur(huge), pp.sharpen(huge))


def test_a_try_that_glimpsed_her_name_sends_an_unsettled_reject_to_a_person(monkeypatch):
    """No try settles it, but one read initials that fit her beside a mention that cannot be read:
    the reject stays, and it goes to review instead of the first pass's plain 'name not found'."""
    from ocr_pipeline.engine import pipeline
    from ocr_pipeline.engine.models import Applicant

    applicant = Applicant(P["ivanova"].applicant().iin, "Абенова", "Дина", "Кайратовна")
    sheet = "ЛИСТ ВРЕМЕННОЙ НЕТРУДОСПОСОБНОСТИ\nСведения о нетрудоспособности {body}.\nЛист получила: {initials}"
    first = PageText(number=1, text=sheet.format(body="ДЖенФай Жанры\nКайратовны", initials="Явенова ДК"),
                     mean_confidence=80.0, coverage=INCOMPLETE_READING - 0.2)  # it gets the photo tries
    again = PageText(number=1, text=sheet.format(body="ДЖенФай Жанры\nКайратовны", initials="Абенова Д.К."),
                     mean_confidence=75.0)
    monkeypatch.setattr(pipeline, "prepare_look", lambda image, look: image)
    monkeypatch.setattr(pipeline, "ocr_page", lambda *args, **kwargs: again)
    verdict = verify_pages([first], applicant, SETTINGS)
    assert verdict.error_codes == ["NAME_NOT_FOUND"] and not verdict.review_required and needs_second_look(verdict)
    looked = pipeline.second_look(verdict, [first], applicant, SETTINGS, {}, {1: np.full((400, 300), 255, np.uint8)})
    assert looked.verdict is False and looked.review_reasons == ["initials_unconfirmed"]
    assert not any(look.endswith("+") for look in looked.checks["readable"].detail["looks"])
