"""``engine.preprocess``: each step alone, then the composition, judged by real Tesseract readings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from ocr_pipeline.engine import preprocess as pp
from ocr_pipeline.engine.load import load_document
from ocr_pipeline.engine.models import EngineSettings
from ocr_pipeline.engine.ocr import ocr_page, read_text
from ocr_pipeline_devtools import engine_pages as pages

pytestmark = pytest.mark.unit

SETTINGS = EngineSettings()


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return pages.render_page()


@pytest.fixture(scope="module")
def page_gray(page) -> np.ndarray:
    return pages.to_array(page.convert("L"))


@pytest.fixture(scope="module")
def photo(page) -> tuple[np.ndarray, np.ndarray]:
    """The phone photo as the engine loads it (from JPEG bytes), and the true page corners."""
    image = pages.photo_of(page, seed=1)
    [loaded] = load_document(pages.encode(image, "JPEG", quality=85), SETTINGS)
    return loaded.image, image.info["page_quad"]


# -------------------------------------------------------------------------------------------- gray

def test_to_gray_keeps_gray_and_converts_colour(page_gray):
    assert pp.to_gray(page_gray) is page_gray
    bgr = cv2.cvtColor(page_gray, cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(pp.to_gray(bgr), page_gray)
    with pytest.raises(TypeError):
        pp.to_gray(page_gray.astype(np.float32))


def test_to_gray_drops_blue_stamp_ink_but_keeps_black_print():
    bgr = np.full((16, 40, 3), 255, np.uint8)
    bgr[:, :10] = (20, 20, 20)  # black print
    bgr[:, 10:20] = (45, 20, 20)  # bluish-black print (BGR)
    bgr[:, 20:30] = (175, 70, 40)  # blue stamp ink
    dropped = pp.to_gray(bgr)
    luminance = pp.to_gray(bgr, drop_colour_ink=False)
    np.testing.assert_array_equal(luminance, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert dropped[0, 0] == 20 and dropped[0, 15] == luminance[0, 15] < 30
    assert dropped[0, 25] >= 170 > 100 > luminance[0, 25]
    assert dropped[0, 35] == 255


def test_to_gray_without_colour_is_luminance(page):
    bgr = pages.to_array(page)
    np.testing.assert_array_equal(pp.to_gray(bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))


# ------------------------------------------------------------------------------------- perspective

def test_page_quad_found_in_photo(photo):
    image, true_quad = photo
    corners = pp.find_page_quad(pp.to_gray(image))
    assert corners is not None
    tolerance = 0.015 * np.hypot(*image.shape[:2])
    assert np.abs(corners - true_quad).max() < tolerance, (corners, true_quad)


def test_no_quad_on_a_scan(page_gray):
    assert pp.find_page_quad(page_gray) is None
    assert pp.correct_perspective(page_gray) is page_gray


def test_no_quad_on_a_scan_with_dark_lid_edge(page_gray):
    scan = page_gray.copy()
    scan[:, :40] = (scan[:, :40] * np.linspace(0.3, 1.0, 40)[None, :]).astype(np.uint8)
    assert pp.find_page_quad(scan) is None


def test_perspective_warp_restores_page_shape(photo, page):
    image, _ = photo
    warped = pp.correct_perspective(pp.to_gray(image))
    aspect = warped.shape[1] / warped.shape[0]
    assert abs(aspect - page.width / page.height) < 0.04
    # no table left at the edges: each edge is as bright as the paper just inside it (the table is ~3x darker)
    for edge, inside in ((warped[:, 2], warped[:, 40]), (warped[:, -3], warped[:, -41]),
                         (warped[2], warped[40]), (warped[-3], warped[-41])):
        assert np.median(edge.astype(float) / np.maximum(inside, 1)) > 0.85


# ------------------------------------------------------------------------------------ illumination

def test_even_light_is_left_alone(page_gray):
    assert pp.normalise_illumination(page_gray) is page_gray


def test_uneven_light_is_flattened(page_gray):
    h, w = page_gray.shape
    light = np.linspace(0.35, 1.0, w, dtype=np.float32)[None, :] * np.linspace(0.7, 1.0, h, dtype=np.float32)[:, None]
    dim = (page_gray * light).astype(np.uint8)
    flat = pp.normalise_illumination(dim)
    paper = page_gray > 200

    def spread(image):
        return float(np.percentile(image[paper], 95) - np.percentile(image[paper], 5))

    assert spread(dim) > 100 and spread(flat) < 25
    assert np.median(flat[page_gray < 60]) < 90, "ink stays dark"


# -------------------------------------------------------------------------------------------- skew

@pytest.mark.parametrize("degrees", [3.0, -3.0, 1.2, -7.5])
def test_skew_is_measured_with_its_sign(page, degrees):
    skewed = pages.to_array(pages.rotate(page, degrees).convert("L"))
    analysis = pp.analyse_text_lines(skewed)
    assert not analysis.vertical and analysis.strength >= pp.MIN_LINE_STRENGTH
    assert abs(analysis.skew - degrees) <= 0.3, analysis


@pytest.mark.parametrize("degrees", [3.0, -3.0])
def test_deskew_straightens_and_reads(page, degrees):
    skewed = pages.to_array(pages.rotate(page, degrees).convert("L"))
    straight = pp.deskew(skewed)
    assert abs(pp.analyse_text_lines(straight).skew) <= 0.2
    text = read_text(straight, 1, SETTINGS).text
    assert pages.char_error_rate(text, pages.KNOWN_LINE) <= 0.04, text


def test_straight_page_is_not_rotated(page_gray):
    assert pp.deskew(page_gray) is page_gray


@pytest.mark.parametrize("degrees, direction", [(0, "horizontal"), (90, "vertical"), (180, "horizontal"),
                                                (270, "vertical")])
def test_the_direction_of_the_lines_is_recognised(page, degrees, direction):
    turned = pages.to_array(pages.rotate(page, degrees).convert("L"))
    assert pp.text_line_direction(turned) == direction
    assert pp.text_line_direction(np.full((1754, 1240), 245, np.uint8)) is None


def test_blank_page_has_no_lines():
    blank = np.full((1754, 1240), 245, np.uint8)
    analysis = pp.analyse_text_lines(blank)
    assert analysis.strength < pp.MIN_LINE_STRENGTH and analysis.skew == 0.0


def test_rotate_right_angle():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert pp.rotate_right_angle(image, 0) is image
    np.testing.assert_array_equal(pp.rotate_right_angle(image, 90), [[3, 0], [4, 1], [5, 2]])  # clockwise
    np.testing.assert_array_equal(pp.rotate_right_angle(image, 180), image[::-1, ::-1])
    np.testing.assert_array_equal(pp.rotate_right_angle(pp.rotate_right_angle(image, 90), 270), image)
    with pytest.raises(ValueError):
        pp.rotate_right_angle(image, 45)


# ----------------------------------------------------------------------------------------- scaling

def test_x_height_of_12pt_at_300_dpi(page_gray):
    assert 20 <= pp.estimate_x_height(page_gray) <= 30


def test_well_sized_text_is_not_scaled(page_gray):
    assert pp.scale_for_ocr(page_gray) is page_gray


def test_150_dpi_scan_is_upscaled(page):
    small = page.convert("L").resize((page.width // 2, page.height // 2), Image.LANCZOS)
    scaled = pp.scale_for_ocr(pages.to_array(small))
    assert scaled.shape[0] > 1.5 * small.height
    assert 20 <= pp.estimate_x_height(scaled) <= 30


def test_huge_photo_text_is_downscaled():
    big = pages.to_array(pages.render_page(size=(2480, 3508), font_px=110, margin=200).convert("L"))
    scaled = pp.scale_for_ocr(big)
    assert scaled.shape[0] < 0.7 * big.shape[0]
    assert 20 <= pp.estimate_x_height(scaled) <= 34


def test_noise_is_not_upscaled():
    noise = np.random.default_rng(0).integers(0, 256, (1000, 800), dtype=np.uint8)
    assert pp.preprocess_page(noise, SETTINGS).shape == noise.shape


# ------------------------------------------------------------------------------------------- rules

def test_table_borders_are_removed_and_cells_read():
    table = pages.render_page(table=True)
    gray = pages.to_array(table.convert("L"))
    cleaned = pp.remove_rules(gray)
    step = round(50 * 1.55)  # render_page's defaults: rules 4 px thick, 14 px above each text line
    rule_rows = [110 + i * step - 14 + 1 for i in range(1, len(pages.LINES))]
    assert all((gray[y] < 128).mean() > 0.7 for y in rule_rows), "the test page has long rules"
    assert all((cleaned[y] < 128).mean() < 0.02 for y in rule_rows)
    text_box = (slice(110 + step, 110 + step + 50), slice(110, 600))
    assert (cleaned[text_box] < 128).sum() > 0.9 * (gray[text_box] < 128).sum(), "text stays"
    text = ocr_page(pp.preprocess_page(pages.to_array(table), SETTINGS), 1, SETTINGS).text
    for line in (pages.KNOWN_LINE, "ИИН 960125400124", "Директор Ахметов Болат Ерланович"):
        assert pages.char_error_rate(text, line) <= 0.05, text


def test_page_without_rules_is_left_alone(page_gray):
    assert pp.remove_rules(np.full((500, 400), 250, np.uint8)).max() == 250
    np.testing.assert_array_equal(pp.remove_rules(page_gray), page_gray)


# ------------------------------------------------------------------------------------------ specks

def test_dust_is_removed_and_punctuation_kept(page_gray):
    assert pp.remove_specks(page_gray) is page_gray, "periods, commas, colons, dots of і stay"
    dusty = page_gray.copy()
    dust = [(40, 300), (45, 900), (600, 30), (1000, 1200), (1500, 60), (1700, 700), (1650, 1100)]
    for y, x in dust:
        cv2.circle(dusty, (x, y), 2, 70, -1)
    np.testing.assert_array_equal(pp.remove_specks(dusty), page_gray)


def test_speck_above_a_word_is_removed_and_the_word_read():
    lines = ("Приказ по личному составу", "Предоставить Ковальчук И.С. отпуск", "по уходу за ребенком.")
    gray = pages.to_array(pages.render_page(lines, spacing=2.4).convert("L"))
    dusty = gray.copy()
    for x in (420, 470, 520, 560):  # a line-height above "Ковальчук"
        cv2.circle(dusty, (x, 110 + round(50 * 2.4) - 45), 2, 60, -1)
    cleaned = pp.remove_specks(dusty)
    np.testing.assert_array_equal(cleaned, gray)
    text = ocr_page(cleaned, 1, SETTINGS).text
    assert "Предоставить Ковальчук И.С." in text


# ------------------------------------------------------------------------------------- composition

def test_a_clean_page_passes_through_unchanged(page):
    """No step changes a clean page (what the steps cost is measured by ``make bench-engine``)."""
    bgr = pages.to_array(page)
    prepared = pp.preprocess_page(bgr, SETTINGS)
    np.testing.assert_array_equal(prepared, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))


def test_phone_photo_reads_markedly_better_after_preprocessing(photo):
    image, _ = photo
    raw = read_text(pp.to_gray(image, drop_colour_ink=False), 1, SETTINGS)
    prepared = ocr_page(pp.preprocess_page(image, SETTINGS), 1, SETTINGS)
    cer_raw = pages.char_error_rate(raw.text, pages.KNOWN_LINE)
    cer_prepared = pages.char_error_rate(prepared.text, pages.KNOWN_LINE)
    print(f"CER of the known line: raw {cer_raw:.3f}, preprocessed {cer_prepared:.3f}")
    assert cer_prepared <= 0.05
    assert cer_raw >= cer_prepared + 0.3
    assert "960125400124" in prepared.text
