"""``engine.load``: formats by magic bytes, decoding to gray/BGR arrays, limits and broken files."""

from __future__ import annotations

import io
import time

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from ocr_pipeline.engine.load import detect_format, image_to_array, is_readable_text, load_document
from ocr_pipeline.engine.models import DocumentError, EngineSettings, ErrorCode
from ocr_pipeline.engine.preprocess import to_gray
from ocr_pipeline_devtools import engine_pages as pages

pytestmark = pytest.mark.unit

SETTINGS = EngineSettings()


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return pages.render_page()


def _error(data: bytes, settings: EngineSettings = SETTINGS) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        load_document(data, settings)
    return caught.value


def _corner_block(size=(400, 600)) -> Image.Image:
    """A white page with a black block in its top-left corner (to see where "up" went)."""
    image = Image.new("RGB", size, "white")
    image.paste((0, 0, 0), (20, 20, 120, 80))
    return image


# ------------------------------------------------------------------------------------------ formats

@pytest.mark.parametrize("fmt, expected", [("PNG", "png"), ("JPEG", "jpeg"), ("TIFF", "tiff"), ("PDF", "pdf")])
def test_detect_format_by_magic_bytes(page, fmt, expected):
    assert detect_format(pages.encode(page, fmt)) == expected


def test_pdf_with_junk_before_header_is_pdf():
    assert detect_format(b"\r\n\x00junk" + pages.blank_pdf(1)) == "pdf"


@pytest.mark.parametrize("data, hint", [
    (b"", "empty"),
    ("<!DOCTYPE html><html><body><h1>Приказ</h1></body></html>".encode(), "HTML"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64, "executable"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "executable"),
    (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "ZIP"),
    (b"just some text that is not a document", "unknown"),
])
def test_unknown_formats_are_unsupported(data, hint):
    error = _error(data)
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT
    assert hint.lower() in error.message.lower()


def test_gif_is_unsupported(page):
    error = _error(pages.encode(page.convert("P"), "GIF"))
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT and "GIF" in error.message


# ------------------------------------------------------------------------------------------- images

def test_png_rgb_loads_as_bgr(page):
    [loaded] = load_document(pages.encode(page, "PNG"), SETTINGS)
    assert loaded.number == 1 and loaded.text_layer is None
    assert loaded.image.shape == (page.height, page.width, 3) and loaded.image.dtype == np.uint8
    np.testing.assert_array_equal(loaded.image[..., ::-1], np.asarray(page))


def test_colour_channel_order_is_bgr():
    image = Image.new("RGB", (50, 40), (255, 0, 0))  # pure red
    [loaded] = load_document(pages.encode(image, "PNG"), SETTINGS)
    assert tuple(loaded.image[10, 10]) == (0, 0, 255)


def test_gray_png_stays_gray(page):
    [loaded] = load_document(pages.encode(page.convert("L"), "PNG"), SETTINGS)
    assert loaded.image.ndim == 2 and loaded.image.shape == (page.height, page.width)


def test_jpeg_loads(page):
    [loaded] = load_document(pages.encode(page, "JPEG", quality=90), SETTINGS)
    assert loaded.image.shape == (page.height, page.width, 3)
    assert loaded.image.mean() > 200  # mostly paper


def test_huge_jpeg_is_decoded_at_reduced_scale():
    from ocr_pipeline.engine.load import JPEG_REDUCED_MIN_PIXELS

    photo = _corner_block((7000, 5000))  # 35 Mpx: at 1/2 scale 8.75 Mpx remain
    data = pages.encode(photo, "JPEG", quality=80)
    assert 3500 * 2500 >= JPEG_REDUCED_MIN_PIXELS
    [loaded] = load_document(data, SETTINGS)
    assert loaded.image.shape[:2] == (2500, 3500)
    assert loaded.image[25, 30].max() < 60 and loaded.image[2000, 3000].min() > 200
    [rotated] = load_document(pages.jpeg_with_orientation(photo, 6), SETTINGS)
    assert rotated.image.shape[:2] == (2500, 3500), "EXIF orientation applies after the reduction"
    [normal] = load_document(pages.encode(_corner_block((4000, 3000)), "JPEG"), SETTINGS)
    assert normal.image.shape[:2] == (3000, 4000), "a 12 Mpx photo is decoded in full"


@pytest.mark.parametrize("orientation", [6, 8, 3])
def test_exif_orientation_is_applied(orientation):
    upright = _corner_block()
    [loaded] = load_document(pages.jpeg_with_orientation(upright, orientation), SETTINGS)
    assert loaded.image.shape[:2] == (upright.height, upright.width)
    gray = loaded.image.mean(axis=2)
    assert gray[30:70, 30:110].mean() < 60, "the black block must be top-left after EXIF rotation"
    assert gray[-80:, -120:].mean() > 200


def test_cmyk_jpeg_is_not_inverted(page):
    data = pages.encode(page.convert("CMYK"), "JPEG", quality=90)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    [loaded] = load_document(data, SETTINGS)
    assert loaded.image.ndim == 3
    gray = loaded.image.mean(axis=2)
    assert np.median(gray) > 230, "paper must stay white"
    assert gray.min() < 80, "ink must stay dark"


def test_16_bit_png_is_scaled_to_8_bits():
    values = np.zeros((60, 80), np.uint16)
    values[:, 20:40] = 32896  # half
    values[:, 40:] = 65535
    data = pages.encode(Image.fromarray(values), "PNG")
    assert data[24] == 16, "the PNG must really be 16-bit"
    [loaded] = load_document(data, SETTINGS)
    assert loaded.image.dtype == np.uint8 and loaded.image.ndim == 2
    assert (loaded.image[0, 0], loaded.image[0, 30], loaded.image[0, 70]) == (0, 128, 255)


def test_palette_png_with_transparency_on_white():
    image = Image.new("RGBA", (60, 40), (0, 0, 0, 0))  # fully transparent
    image.paste((0, 0, 0, 255), (10, 10, 30, 30))
    [loaded] = load_document(pages.encode(image.convert("P"), "PNG"), SETTINGS)
    gray = loaded.image if loaded.image.ndim == 2 else loaded.image.mean(axis=2)
    assert gray[0, 0] > 250 and gray[20, 20] < 5


def test_rgba_png_is_composited_on_white():
    image = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    image.paste((10, 20, 30, 255), (10, 10, 30, 30))
    [loaded] = load_document(pages.encode(image, "PNG"), SETTINGS)
    assert tuple(loaded.image[0, 0]) == (255, 255, 255)
    assert tuple(loaded.image[20, 20]) == (30, 20, 10)


@pytest.mark.parametrize("mode", ["1", "L", "I", "F", "LA", "CMYK", "YCbCr"])
def test_image_to_array_modes(mode):
    image = Image.new("L", (30, 20), 255)
    image.paste(0, (5, 5, 15, 15))
    converted = image.convert(mode)
    array = image_to_array(converted)
    assert array.dtype == np.uint8 and array.shape[:2] == (20, 30)
    gray = array if array.ndim == 2 else array.mean(axis=2)
    assert gray[0, 0] > 240 and gray[10, 10] < 15


def test_multipage_tiff_gives_several_pages(page):
    frames = [page.convert("L"), page.convert("1"), page.rotate(180)]
    data = pages.encode(frames[0], "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    loaded = load_document(data, SETTINGS)
    assert [p.number for p in loaded] == [1, 2, 3]
    assert all(p.image.shape[:2] == (page.height, page.width) for p in loaded)
    assert loaded[1].image.ndim == 2


def test_tiff_with_too_many_pages_is_too_large():
    frames = [Image.new("L", (20, 20), 255) for _ in range(4)]
    data = pages.encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    assert len(load_document(data, SETTINGS)) == 4
    assert _error(data, EngineSettings(max_pages=3)).code is ErrorCode.FILE_TOO_LARGE


# ---------------------------------------------------------------------------------------------- PDF

def test_scanned_pdf_is_rasterised_at_pdf_dpi(page):
    data = pages.encode(page, "PDF", resolution=300.0, save_all=True, append_images=[page.rotate(180)])
    loaded = load_document(data, EngineSettings(pdf_dpi=150))
    assert [p.number for p in loaded] == [1, 2]
    for p in loaded:
        assert p.image.ndim == 2 and p.image.dtype == np.uint8
        assert abs(p.image.shape[1] - page.width / 2) <= 2 and abs(p.image.shape[0] - page.height / 2) <= 2
        assert not p.text_layer


def test_pdf_page_with_coloured_ink_keeps_its_colour_and_one_without_is_gray():
    """A scanned page with a blue stamp stays BGR, as a photo does (the second look separates the ink
    from the print); the first pass's gray drops the ink. A page of black print alone is gray."""
    image = Image.new("RGB", (600, 400), "white")
    image.paste((20, 20, 20), (50, 50, 250, 150))  # black print
    image.paste((40, 70, 175), (300, 50, 500, 150))  # blue stamp ink (RGB)
    [loaded] = load_document(pages.encode(image, "PDF", resolution=150.0), EngineSettings(pdf_dpi=150))
    assert loaded.image.ndim == 3 and loaded.image.shape == (400, 600, 3)
    assert [int(v) for v in loaded.image[100, 400]] == pytest.approx([175, 70, 40], abs=6)  # BGR
    gray = to_gray(loaded.image)
    assert gray[100, 150] < 40 and gray[100, 400] > 160 and gray[300, 300] > 250
    image.paste((255, 255, 255), (300, 50, 500, 150))
    [plain] = load_document(pages.encode(image, "PDF", resolution=150.0), EngineSettings(pdf_dpi=150))
    assert plain.image.ndim == 2 and plain.image.shape == (400, 600)


def test_pdf_page_beyond_pixel_limit_is_rendered_smaller():
    data = pages.blank_pdf(1, size_pt=(595, 842))  # A4: 2480x3508 = 8.7 Mpx at 300 DPI
    [loaded] = load_document(data, EngineSettings(max_pixels_per_page=2_000_000))
    assert loaded.image.size <= 2_000_000
    assert loaded.image.shape[0] > 1000


def test_text_layer_pdf_is_not_rasterised():
    text = [[pages.KNOWN_LINE, "ПРИКАЗ № 42-К о предоставлении отпуска по уходу за ребенком",
             "ИИН 960125400124, бухгалтеру отдела учета"], ["Вторая страница"]]
    loaded = load_document(pages.text_pdf(text), SETTINGS)
    assert len(loaded) == 2
    first, second = loaded
    assert first.image is None, "a page with a substantial text layer needs no raster"
    assert pages.KNOWN_LINE in first.text_layer and "960125400124" in first.text_layer
    assert second.image is not None and second.text_layer.strip() == "Вторая страница"


def test_scan_with_a_text_footer_is_rasterised(page):
    footer = ["Документ подписан электронной цифровой подписью: ТОО «Нур Құрылыс Инвест», 22.05.2025 14:03"]
    [loaded] = load_document(pages.text_pdf([footer], background=page), SETTINGS)
    assert loaded.image is not None and loaded.text_layer is None
    height, width = loaded.image.shape
    assert abs(height - 3508) <= 2 and abs(width - 2480) <= 2
    assert loaded.image.min() < 60, "the scan is in the raster"


def test_is_readable_text():
    assert is_readable_text("Приказ № 42-К от 22.05.2025 «О предоставлении отпуска»")
    assert not is_readable_text("\x01\x02\x03\x04\ue000\ue001\ue002 ab")
    assert is_readable_text("")


def test_pdf_with_too_many_pages_is_too_large():
    data = pages.blank_pdf(11)
    error = _error(data)
    assert error.code is ErrorCode.FILE_TOO_LARGE and "11 pages" in error.message
    assert len(load_document(data, EngineSettings(max_pages=11))) == 11


def test_password_protected_pdf_is_unsupported():
    data = pages.encrypted_pdf(user_password="secret")
    pdfium.PdfDocument(data, password="secret").close()  # a valid PDF with that password
    error = _error(data)
    assert error.code is ErrorCode.UNSUPPORTED_FORMAT and "password" in error.message


def test_pdf_encrypted_with_empty_user_password_opens():
    loaded = load_document(pages.encrypted_pdf(user_password=""), SETTINGS)
    assert len(loaded) == 1 and loaded[0].image is not None


def test_pdf_without_pages_is_corrupt():
    data = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    assert _error(data).code is ErrorCode.CORRUPT_FILE


# ------------------------------------------------------------------------------------- broken files

@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "PDF", "TIFF"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.95])
def test_truncated_files_are_corrupt(page, fmt, fraction):
    data = pages.encode(page, fmt) if fmt != "TIFF" else pages.encode(page, fmt, compression="tiff_deflate")
    assert load_document(data, SETTINGS)
    error = _error(data[: int(len(data) * fraction)])
    assert error.code is ErrorCode.CORRUPT_FILE, error.message


def test_bytes_after_magic_only_are_corrupt():
    for data in (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"%PDF-1.7\n"):
        assert _error(data).code is ErrorCode.CORRUPT_FILE


def test_garbage_inside_png_is_corrupt(page):
    data = bytearray(pages.encode(page, "PNG"))
    data[200:260] = b"\x00" * 60  # breaks the data stream and its CRC
    assert _error(bytes(data)).code is ErrorCode.CORRUPT_FILE


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "PDF", "text PDF"])
def test_damaged_files_never_raise_anything_but_document_errors(fmt):
    import random

    small = pages.render_page(size=(400, 560), font_px=20, margin=30)
    original = {
        "PNG": lambda: pages.encode(small, "PNG"),
        "JPEG": lambda: pages.encode(small, "JPEG"),
        "TIFF": lambda: pages.encode(small.convert("L"), "TIFF", save_all=True, append_images=[small.convert("1")]),
        "PDF": lambda: pages.encode(small, "PDF"),
        "text PDF": lambda: pages.text_pdf([[pages.KNOWN_LINE + " " + "о предоставлении отпуска " * 4]]),
    }[fmt]()
    rng = random.Random(fmt)
    for _ in range(40):
        data = bytearray(original)
        damage = rng.choice(("flip", "cut", "splice"))
        if damage == "flip":
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(8, len(data))] = rng.randrange(256)
        elif damage == "cut":
            data = data[: rng.randrange(1, len(data))]
        else:
            at = rng.randrange(8, len(data))
            data[at:at + rng.randint(1, 500)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 50)))
        try:
            loaded = load_document(bytes(data), SETTINGS)
        except DocumentError as error:
            assert error.code in (ErrorCode.CORRUPT_FILE, ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.FILE_TOO_LARGE)
        else:
            assert loaded and all(p.image is not None or p.text_layer for p in loaded)


# ------------------------------------------------------------------------------------------- limits

def test_file_over_byte_limit_is_too_large(page):
    data = pages.encode(page, "PNG")
    error = _error(data, EngineSettings(max_file_bytes=len(data) - 1))
    assert error.code is ErrorCode.FILE_TOO_LARGE
    assert load_document(data, EngineSettings(max_file_bytes=len(data)))


@pytest.mark.parametrize("width, height", [(30000, 30000), (9000, 9000), (100_000, 700)])
def test_decompression_bomb_is_refused_fast_without_decoding(width, height):
    data = pages.png_header_only(width, height)
    assert len(data) < 10_000
    started = time.perf_counter()
    error = _error(data)
    assert time.perf_counter() - started < 0.5
    assert error.code is ErrorCode.FILE_TOO_LARGE


def test_pixel_limit_applies_to_real_images():
    data = pages.encode(Image.new("L", (1200, 1000), 255), "PNG")
    assert _error(data, EngineSettings(max_pixels_per_page=1_000_000)).code is ErrorCode.FILE_TOO_LARGE
    assert load_document(data, EngineSettings(max_pixels_per_page=1_200_000))


def test_bomb_inside_tiff_page_is_refused():
    small = Image.new("1", (20, 20), 1)
    data = pages.encode(small, "TIFF", save_all=True, append_images=[Image.new("1", (12000, 6000), 1)],
                        compression="group4")
    assert len(data) < 200_000
    error = _error(data)
    assert error.code is ErrorCode.FILE_TOO_LARGE and "page 2" in error.message
