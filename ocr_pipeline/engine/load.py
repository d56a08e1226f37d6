"""Loading an uploaded file into pages: PDF (pypdfium2), JPEG, PNG and TIFF (Pillow).

The format is decided by the file's magic bytes, never by its name. Every problem with the file ends
in a ``DocumentError`` with a stable code, never in a library exception:

- ``FILE_TOO_LARGE``: more bytes than ``max_file_bytes``, more pages than ``max_pages``, or an image
  whose header declares more pixels than ``max_pixels_per_page`` (checked before any pixel is decoded,
  so a decompression bomb costs neither time nor memory), or a PDF holding a Flate stream that
  inflates beyond its limit (see ``check_pdf_streams``): pdfium holds a page's inflated content
  stream in memory about twice over, so a 1 MB PDF inflating to 1 GB took 2 GB and, under a 1.5 GiB
  memory limit, aborted the process (measured). A PDF page is rasterised at ``pdf_dpi``, or
  at the lower resolution that keeps it within ``max_pixels_per_page`` (a poster-sized page is
  scaled down, not refused), to grayscale, or to BGR when the page carries coloured ink (stamps,
  signatures: the second look separates them from the print).
- ``UNSUPPORTED_FORMAT``: empty files, anything that is not PDF/JPEG/PNG/TIFF (HTML, SVG, GIF, ZIP,
  executables...), and password-protected PDFs: the file is intact but cannot be opened without the
  password, so the applicant has to upload an unprotected copy.
- ``CORRUPT_FILE``: truncated or damaged files of a supported format, PDFs without pages.

Images come out as uint8 arrays, grayscale ``(h, w)`` or BGR ``(h, w, 3)`` (OpenCV's order), with the
EXIF orientation applied; alpha is composited onto white, CMYK/palette/16-bit/float are converted.
Big JPEGs are decoded at 1/2 (1/4, 1/8) scale when at least ``JPEG_REDUCED_MIN_PIXELS`` remain
(an A4 page at 300 DPI has 8.7 megapixels): faster, smaller, and still plenty for OCR.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
import zlib

import cv2
import numpy as np
from PIL import Image, ImageOps

from .models import DocumentError, EngineSettings, ErrorCode, Page
from .preprocess import has_colour_ink, to_gray

log = logging.getLogger(__name__)

JPEG_REDUCED_MIN_PIXELS = 8_000_000  # big photos are decoded at a reduced scale down to this
PDF_STREAM_LIMIT_BYTES = 64 * 1024 * 1024  # an inflated PDF stream other than an image (page content)
_PDF_HEADER_WINDOW = 1024  # PDF readers accept junk before "%PDF-" in the first kilobyte

# Pillow decoders to allow: a JPEG/PNG/TIFF magic must not let any other plugin parse the bytes.
_PILLOW_FORMATS = {"jpeg": ["JPEG", "MPO"], "png": ["PNG"], "tiff": ["TIFF"]}

_NOT_SUPPORTED_HINTS = (
    (b"GIF8", "GIF image"),
    (b"BM", "BMP image"),
    (b"RIFF", "RIFF container (WebP/AVI/WAV)"),
    (b"PK\x03\x04", "ZIP archive (DOCX/XLSX/ODT?)"),
    (b"\xd0\xcf\x11\xe0", "legacy MS Office document"),
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"{\\rtf", "RTF document"),
    (b"\x00\x00\x00\x0cjP", "JPEG 2000 image"),
)


def detect_format(data: bytes) -> str:
    """Return "pdf", "jpeg", "png" or "tiff" from the magic bytes of ``data``.

    Raises ``DocumentError(UNSUPPORTED_FORMAT)`` for anything else (empty input included), with a
    message naming what the bytes look like when that is recognisable.
    """
    if not data:
        raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT, "empty file (0 bytes)")
    head = bytes(data[:_PDF_HEADER_WINDOW])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if b"%PDF-" in head:
        return "pdf"
    raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT, f"not a PDF, JPEG, PNG or TIFF file: {_describe(head)}")


def _describe(head: bytes) -> str:
    for magic, name in _NOT_SUPPORTED_HINTS:
        if head.startswith(magic):
            return f"looks like {'an' if name[0] in 'AEIOU' else 'a'} {name}"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "looks like an HTML page"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "looks like an SVG image"
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        return "looks like XML/markup"
    return f"unknown signature {head[:8].hex(' ')}"


def load_document(data: bytes, settings: EngineSettings) -> list[Page]:
    """Decode an uploaded file into pages (numbered from 1).

    PDF pages carry their text layer in ``Page.text_layer``; a page whose text layer has at least
    ``settings.text_layer_min_chars`` characters is not rasterised (``image`` is None), since its text
    needs no OCR, unless the page is mostly a picture (a scan with a text footer or a hidden OCR
    layer): such a page is rasterised and its text layer dropped, the raster shows that text too.
    Image pages carry a uint8 grayscale or BGR array. Raises ``DocumentError`` for files that are too
    large, unsupported or corrupt (see the module docstring).
    """
    if len(data) > settings.max_file_bytes:
        raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                            f"file has {len(data)} bytes, the limit is {settings.max_file_bytes}")
    kind = detect_format(data)
    if kind == "pdf":
        return _load_pdf(data, settings)
    return _load_image(data, kind, settings)


# ------------------------------------------------------------------------------------------------ PDF

def _load_pdf(data: bytes, settings: EngineSettings) -> list[Page]:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if getattr(error, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD:
            raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT, "password-protected PDF") from None
        raise DocumentError(ErrorCode.CORRUPT_FILE, f"PDF cannot be opened: {error}") from None
    try:
        document.init_forms()  # so that filled-in form fields are rendered
        page_count = len(document)
        if page_count == 0:
            raise DocumentError(ErrorCode.CORRUPT_FILE, "PDF has no pages")
        if page_count > settings.max_pages:
            raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                                f"PDF has {page_count} pages, the limit is {settings.max_pages}")
        check_pdf_streams(data, settings)
        return [_load_pdf_page(document, index, settings) for index in range(page_count)]
    except DocumentError:
        raise
    except (pdfium.PdfiumError, ValueError, OSError) as error:
        raise DocumentError(ErrorCode.CORRUPT_FILE, f"PDF cannot be read: {error}") from None
    finally:
        document.close()


_STREAM_KEYWORD = re.compile(rb"(?<!end)stream(?:\r\n|\n|\r)")
_FILTERS = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_FLATE_NAMES = (b"FlateDecode", b"Fl")
_RUN_LENGTH_NAMES = (b"RunLengthDecode", b"RL")
_DICTIONARY_WINDOW = 16 * 1024
_INFLATE_SLICE = 4 * 1024 * 1024
_IMAGE_SUBTYPE = re.compile(rb"/Subtype\s*/Image\b")


def check_pdf_streams(data: bytes, settings: EngineSettings) -> None:
    """Raise ``FILE_TOO_LARGE`` when a Flate stream of the PDF inflates beyond its limit: an image
    beyond ``4 * max_pixels_per_page`` bytes (every pixel in CMYK), any other stream (page content,
    fonts) beyond ``PDF_STREAM_LIMIT_BYTES``, all of them together beyond twice the image limit.

    Streams are inflated in slices and counted, never kept; counting stops at the limit, so the check
    costs no memory and at most about a second (measured here: 0.15 s to refuse a 1 GB content stream,
    0.6 s a 2.5 GB image, under 60 ms for ordinary PDFs). A RunLength filter after Flate is counted at
    its worst ratio (64:1). RunLength alone was measured harmless (a 10 MB RunLength content stream,
    640 MB decoded, cost pdfium 110 MB in all).
    """
    image_limit = 4 * settings.max_pixels_per_page
    total_limit = 2 * image_limit
    total = 0
    for match in _STREAM_KEYWORD.finditer(data):
        header_start = data.rfind(b"obj", max(0, match.start() - _DICTIONARY_WINDOW), match.start())
        if header_start < 0:
            continue
        filters = _FILTERS.search(data, header_start, match.start())
        if not filters:
            continue
        names = re.findall(rb"/([A-Za-z0-9]+)", filters.group(1))
        if not names or names[0] not in _FLATE_NAMES:
            continue
        is_image = _IMAGE_SUBTYPE.search(data, header_start, match.start()) is not None
        ratio = 64 if len(names) > 1 and names[1] in _RUN_LENGTH_NAMES else 1
        limit = min(image_limit if is_image else PDF_STREAM_LIMIT_BYTES, total_limit - total)
        inflated = _inflated_size(data, match.end(), limit // ratio + 1) * ratio
        if inflated > limit:
            what = "an image" if is_image else "a stream"
            raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                                f"PDF holds {what} (at byte {match.end()}) inflating to more than "
                                f"{limit / 2**20:.0f} MB (limits: {PDF_STREAM_LIMIT_BYTES // 2**20} MB per "
                                f"stream, {image_limit / 2**20:.0f} MB per image, {total_limit / 2**20:.0f} MB in all)")
        total += inflated


def _inflated_size(data: bytes, start: int, cap: int) -> int:
    """Bytes the zlib stream at ``data[start:]`` inflates to, counted up to just over ``cap``."""
    inflater = zlib.decompressobj()
    view = memoryview(data)
    position, total = start, 0
    pending: bytes | memoryview = b""
    try:
        while total <= cap and not inflater.eof:
            if not pending:
                if position >= len(data):
                    break
                pending = view[position:position + 65536]
                position += len(pending)
            total += len(inflater.decompress(pending, _INFLATE_SLICE))
            pending = inflater.unconsumed_tail
    except zlib.error:  # not (or no longer) zlib data: pdfium will judge the stream itself
        pass
    return total


def _load_pdf_page(document, index: int, settings: EngineSettings) -> Page:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
        finally:
            textpage.close()
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not is_readable_text(text):
            log.info("PDF page %d: text layer of %d chars looks like garbage, ignored", index + 1, len(text))
            text = ""
        if len(text.strip()) >= settings.text_layer_min_chars:
            if not _mostly_image(page):
                return Page(number=index + 1, image=None, text_layer=text)
            # A scan carrying some text (an e-signature footer, a scanner's hidden OCR layer): the
            # text layer may miss what the picture shows, and the raster holds that text as well.
            log.info("PDF page %d: a scanned image with a text layer, OCR'd instead", index + 1)
            text = ""
        _check_embedded_images(page, index, settings)
        width_pt, height_pt = page.get_size()
        scale = _pdf_scale(width_pt, height_pt, settings)
        # Rendered in colour; kept in colour only when it carries coloured ink (a blue seal or
        # signature over the name: the second look separates it, as for a photographed page),
        # otherwise reduced to gray at once (one byte per pixel).
        bitmap = page.render(scale=scale, draw_annots=True)
        try:
            pixels = bitmap.to_numpy()
            if pixels.ndim == 3 and pixels.shape[2] >= 3 and has_colour_ink(pixels):
                image = np.ascontiguousarray(pixels[..., :3])
            else:
                image = to_gray(pixels)
            image = image.copy() if not image.flags.owndata else image
        finally:
            bitmap.close()
        return Page(number=index + 1, image=image, text_layer=text or None)
    finally:
        page.close()


def _check_embedded_images(page, index: int, settings: EngineSettings) -> None:
    """Refuse a page drawing an image that declares more pixels than ``max_pixels_per_page`` (read from
    the image's dictionary, before pdfium decodes it: a 2-gigapixel JBIG2 image is a few KB of file and
    seconds of decoding; the decoder's time limit would stop it too, but later and only on a slow machine)."""
    import pypdfium2.raw as pdfium_c

    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        try:
            width, height = obj.get_px_size()
        except Exception:  # pdfium cannot tell: the render and the decoder's limits judge it
            continue
        if width * height > settings.max_pixels_per_page:
            raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                                f"page {index + 1} draws an image of {width}x{height} pixels, more than "
                                f"{settings.max_pixels_per_page} pixels")


def _mostly_image(page, share: float = 0.3) -> bool:
    """True when image objects cover at least ``share`` of the page (a scanned page)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    covered = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        covered += max(0.0, right - left) * max(0.0, top - bottom)
        if covered >= share * width * height:
            return True
    return False


def is_readable_text(text: str) -> bool:
    """False for a text layer that is mostly not letters, digits, spaces or punctuation.

    PDFs whose fonts lack a Unicode map extract as control characters or private-use code points;
    such a page must be OCR'd instead.
    """
    stripped = "".join(text.split())
    if not stripped:
        return True
    readable = sum(1 for c in stripped if c.isalnum() or c in _PUNCTUATION)
    return readable >= 0.85 * len(stripped)


_PUNCTUATION = set(".,:;!?\"'«»„“”‘’()[]{}<>-‐‑‒–—―/\\|№#%&*+=_@$€₸§°•·…~^`")


def _pdf_scale(width_pt: float, height_pt: float, settings: EngineSettings) -> float:
    """Pixels per PDF point: ``pdf_dpi``, lowered when the page would exceed the pixel limit."""
    if not (width_pt > 0 and height_pt > 0) or not math.isfinite(width_pt * height_pt):
        raise DocumentError(ErrorCode.CORRUPT_FILE, f"PDF page has an invalid size {width_pt}x{height_pt} pt")
    scale = settings.pdf_dpi / 72.0
    pixels = width_pt * height_pt * scale * scale
    if pixels > settings.max_pixels_per_page:
        scale *= math.sqrt(settings.max_pixels_per_page / pixels) * 0.999
        log.info("PDF page of %.0fx%.0f pt rasterised at %.0f DPI to stay within the pixel limit",
                 width_pt, height_pt, scale * 72)
    if width_pt * scale < 1 or height_pt * scale < 1:
        raise DocumentError(ErrorCode.CORRUPT_FILE, f"PDF page has a degenerate size {width_pt}x{height_pt} pt")
    return scale


# --------------------------------------------------------------------------------------------- images

def _load_image(data: bytes, kind: str, settings: EngineSettings) -> list[Page]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about odd metadata and tags; errors still raise
        return _decode_image(data, kind, settings)


def _decode_image(data: bytes, kind: str, settings: EngineSettings) -> list[Page]:
    try:
        image = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[kind])
    except Image.DecompressionBombError as error:
        raise DocumentError(ErrorCode.FILE_TOO_LARGE, f"image too large: {error}") from None
    except Exception as error:  # Pillow raises many types for broken headers
        raise DocumentError(ErrorCode.CORRUPT_FILE, f"{kind.upper()} cannot be decoded: {_short(error)}") from None
    with image:
        try:
            frame_count = getattr(image, "n_frames", 1) if kind == "tiff" else 1
        except Exception as error:  # a broken chain of TIFF directories
            raise DocumentError(ErrorCode.CORRUPT_FILE, f"TIFF cannot be decoded: {_short(error)}") from None
        if frame_count > settings.max_pages:
            raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                                f"TIFF has {frame_count} pages, the limit is {settings.max_pages}")
        pages = []
        for index in range(frame_count):
            try:
                if index:
                    image.seek(index)
                _check_pixels(image.size, index + 1, settings)
                if kind == "jpeg":
                    _reduce_large_jpeg(image)
                image.load()
                array = image_to_array(_upright(image))
            except (DocumentError, MemoryError):
                raise
            except Image.DecompressionBombError as error:
                raise DocumentError(ErrorCode.FILE_TOO_LARGE, f"image too large: {error}") from None
            except Exception as error:  # truncated data, bad chunks, unsupported compression...
                raise DocumentError(ErrorCode.CORRUPT_FILE,
                                    f"{kind.upper()} cannot be decoded (page {index + 1}): {_short(error)}") from None
            pages.append(Page(number=index + 1, image=array))
    return pages


def _reduce_large_jpeg(image: Image.Image) -> None:
    """Decode a big photo at 1/2, 1/4 or 1/8 scale (JPEG's cheap DCT scaling) when that still leaves
    ``JPEG_REDUCED_MIN_PIXELS``: a 48-megapixel phone photo has far more resolution than OCR needs."""
    width, height = image.size
    shift = 0
    while shift < 3 and width * height / 4 ** (shift + 1) >= JPEG_REDUCED_MIN_PIXELS:
        shift += 1
    if shift:
        image.draft(None, (math.ceil(width / 2 ** shift), math.ceil(height / 2 ** shift)))
        log.debug("JPEG of %dx%d decoded at %dx%d", width, height, *image.size)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block is ignored rather than failing the page."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as error:
        log.info("EXIF orientation ignored: %s", _short(error))
        return image


def _check_pixels(size: tuple[int, int], number: int, settings: EngineSettings) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise DocumentError(ErrorCode.CORRUPT_FILE, f"page {number} has an invalid size {width}x{height}")
    if width * height > settings.max_pixels_per_page:
        raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                            f"page {number} is {width}x{height} pixels, the limit is "
                            f"{settings.max_pixels_per_page} pixels")


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def image_to_array(image: Image.Image) -> np.ndarray:
    """A Pillow image as a uint8 array: grayscale ``(h, w)`` or BGR ``(h, w, 3)``.

    Alpha is composited onto white; palette, CMYK, YCbCr and LAB become BGR (or gray for grayscale
    palettes); 16-bit and 32-bit integer images are scaled to 8 bits; float images are stretched to
    their own range.
    """
    mode = image.mode
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode == "L":
        return np.asarray(image)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image.convert("I") if mode != "I" else image).astype(np.int64)
        top = 65535 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255
        return (np.clip(values, 0, top) * 255 // top).astype(np.uint8)
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        low, high = float(values.min(initial=0)), float(values.max(initial=0))
        if high <= low:
            return np.full(values.shape, 255, np.uint8)
        return ((values - low) * (255.0 / (high - low))).astype(np.uint8)
    if mode in ("P", "PA", "LA", "La", "RGBA", "RGBa"):
        rgba = image.convert("RGBA")
        if int(np.asarray(rgba.getchannel("A")).min()) < 255:
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgba = Image.alpha_composite(background, rgba)
        image = rgba.convert("RGB")
    elif mode != "RGB":
        image = image.convert("RGB")
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)

