"""Small, fast test pages for the image side of the engine (load, preprocess, OCR).

Independent of ``docgen`` (the realistic generator): a few lines of Russian and Kazakh text rendered
with Pillow and a DejaVu font at 300 DPI, plus the ways an upload can arrive: encoded files, a
phone photo, rotations, a PDF with a text layer, an encrypted PDF, a decompression bomb.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import math
import struct
import zlib
from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"
DPI = 300
PAGE_SIZE = (1240, 1754)  # A4 proportions; text is set at 12 pt for 300 DPI, so it holds few lines

KNOWN_LINE = "Жармағанбетова Әлия Серікқызы"
LINES = (
    "ПРИКАЗ № 42-К",
    "г. Астана, 22 мая 2025 года",
    "О предоставлении отпуска",
    "по уходу за ребенком",
    "Предоставить бухгалтеру отдела",
    "учета отпуск без сохранения",
    "заработной платы по уходу",
    "за ребенком до трех лет:",
    KNOWN_LINE,
    "ИИН 960125400124",
    "Бұйрық қызметкерге таныстырылсын.",
    "Директор Ахметов Болат Ерланович",
)


@lru_cache(maxsize=8)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def render_page(lines: Sequence[str] = LINES, size: tuple[int, int] = PAGE_SIZE, font_px: int = 50,
                margin: int = 110, spacing: float = 1.55, table: bool = False, stamp: bool = False) -> Image.Image:
    """White RGB page with ``lines`` in DejaVu Serif (``font_px`` = 12 pt at 300 DPI), first line bold.

    ``table`` draws cell borders around the lines after the title; ``stamp`` overlays a blue round
    stamp on the lower lines, as documents have.
    """
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    y = margin
    step = round(font_px * spacing)
    for i, line in enumerate(lines):
        font = _font(FONT_BOLD if i == 0 else FONT, font_px)
        draw.text((margin, y), line, font=font, fill=(20, 20, 20))
        if table and i > 0:
            draw.rectangle((margin - 20, y - 14, size[0] - margin + 20, y + step - 14), outline=(0, 0, 0), width=4)
            draw.line((margin + 560, y - 14, margin + 560, y + step - 14), fill=(0, 0, 0), width=4)
        y += step
    if stamp:
        cx, cy, r = size[0] // 2 + 150, y - 3 * step, 190
        for width, radius in ((8, r), (5, r - 45)):
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=(40, 70, 175), width=width)
        draw.text((cx, cy), "ПЕЧАТЬ", font=_font(FONT_BOLD, 44), fill=(40, 70, 175), anchor="mm")
    page.info["dpi"] = (DPI, DPI)
    return page


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """The bytes of ``image`` saved as ``fmt`` ("PNG", "JPEG", "TIFF", "PDF", "GIF"...)."""
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("L", "RGB", "CMYK"):
        image = image.convert("RGB")
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def to_array(image: Image.Image) -> np.ndarray:
    """A Pillow image as the engine holds pages: gray, or BGR for colour."""
    if image.mode == "L":
        return np.asarray(image).copy()
    return cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)


def rotate(image: Image.Image, degrees: float) -> Image.Image:
    """Turn the page counter-clockwise by ``degrees`` (negative: clockwise) on an enlarged white canvas."""
    return image.rotate(degrees, resample=Image.BICUBIC, expand=True, fillcolor="white")


def photo_of(page: Image.Image, seed: int = 0, frame: tuple[int, int] = (1500, 2000)) -> Image.Image:
    """A phone photo of ``page``: a perspective view on a dark table, light falling off across the
    frame, the soft shadow of the phone over the lower part (and the known line), a little blur and sensor noise.
    Returns RGB; ``info["page_quad"]`` holds the page corners (tl, tr, br, bl) in the photo."""
    rng = np.random.default_rng(seed)
    fw, fh = frame
    ph = 0.86 * fh
    pw = ph * page.width / page.height
    cx, cy = fw / 2, fh / 2
    tilt = 0.06 * pw
    quad = np.float32([[cx - pw / 2 + tilt, cy - ph / 2], [cx + pw / 2 - tilt * 0.4, cy - ph / 2 + 0.02 * ph],
                       [cx + pw / 2 + 0.02 * pw, cy + ph / 2], [cx - pw / 2 - 0.01 * pw, cy + ph / 2 - 0.01 * ph]])
    angle = math.radians(2.5)
    rot = np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    quad = (quad - [cx, cy]) @ rot.T + [cx, cy]
    source = np.asarray(page.convert("RGB"), dtype=np.float32)
    h, w = source.shape[:2]
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), quad.astype(np.float32))
    warped = cv2.warpPerspective(source, matrix, frame, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.ones((h, w), np.float32), matrix, frame, flags=cv2.INTER_LINEAR)[..., None]
    table = np.float32([70, 85, 105]) * (0.85 + 0.3 * rng.random((fh // 50 + 1, fw // 50 + 1, 1), dtype=np.float32))
    table = cv2.resize(table, frame, interpolation=cv2.INTER_CUBIC)
    photo = warped * mask + np.broadcast_to(table, warped.shape) * (1 - mask)
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    light = 0.35 + 0.7 * (0.6 * xx / fw + 0.4 * yy / fh)
    shadow = 1 - 0.55 / (1 + np.exp(-(yy - 0.36 * fh + 0.3 * (xx - fw / 2)) / (0.02 * fh)))
    photo *= (light * shadow)[..., None]
    photo = cv2.GaussianBlur(photo, (0, 0), 1.0)
    photo += rng.normal(0, 4, photo.shape).astype(np.float32)
    image = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    image.info["page_quad"] = quad
    return image


def char_error_rate(ocr_text: str, line: str) -> float:
    """CER of a known ``line`` in OCR output: the edit distance to the closest OCR line (or pair of
    consecutive lines, in case it was split) over the line's length; 1.0 when nothing is close."""
    candidates = [c for c in ocr_text.split("\n") if c.strip()]
    candidates += [a + " " + b for a, b in zip(candidates, candidates[1:])]
    target = " ".join(line.split())
    best = min((Levenshtein.distance(" ".join(c.split()), target) for c in candidates), default=len(target))
    return min(1.0, best / len(target))


# ----------------------------------------------------------------------------------------------- PDFs

def text_pdf(pages: Sequence[Sequence[str]], font_path: str = FONT, background: Image.Image | None = None) -> bytes:
    """A PDF whose pages carry ``pages[i]`` as real text (embedded TrueType font), like an HR export.

    With ``background`` each page is first covered by that picture (a scan), the text drawn over it,
    as e-signature systems stamp a text footer onto scanned documents.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    document = pdfium.PdfDocument.new()
    jpeg = encode(background, "JPEG", quality=85) if background is not None else None
    data = open(font_path, "rb").read()
    font_buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    font = raw.FPDFText_LoadFont(document, font_buffer, len(data), raw.FPDF_FONT_TRUETYPE, True)
    keep_alive = []
    for lines in pages:
        page = document.new_page(595, 842)
        if jpeg is not None:
            picture = pdfium.PdfImage.new(document)
            picture.load_jpeg(io.BytesIO(jpeg), inline=True)
            picture.set_matrix(pdfium.PdfMatrix().scale(595, 842))
            page.insert_obj(picture)
        for i, line in enumerate(lines):
            obj = raw.FPDFPageObj_CreateTextObj(document, font, 12)
            text = ctypes.create_string_buffer((line + "\x00").encode("utf-16-le"))
            keep_alive.append(text)
            raw.FPDFText_SetText(obj, ctypes.cast(text, ctypes.POINTER(raw.FPDF_WCHAR)))
            raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, 770 - 18 * i)
            raw.FPDFPage_InsertObject(page.raw, obj)
        raw.FPDFPage_GenerateContent(page.raw)
        page.close()
    buffer = io.BytesIO()
    document.save(buffer)
    raw.FPDFFont_Close(font)
    document.close()
    return buffer.getvalue()


def blank_pdf(page_count: int, size_pt: tuple[float, float] = (595, 842)) -> bytes:
    """A PDF of ``page_count`` empty pages."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(page_count):
        document.new_page(*size_pt).close()
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    return buffer.getvalue()


_PASSWORD_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def pdf_from_objects(objects: list[bytes], root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF file from object bodies numbered 1..n, with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, trailer_extra, xref)
    return bytes(out)


def encrypted_pdf(user_password: str = "secret", owner_password: str = "owner") -> bytes:
    """A one-page PDF encrypted with the standard security handler (RC4 40-bit, revision 2).

    With a non-empty ``user_password`` it cannot be opened without it; with an empty one it opens
    freely (only the owner's permissions are protected), as many "protected" PDFs do.
    """
    def padded(password: str) -> bytes:
        return (password.encode("latin-1") + _PASSWORD_PAD)[:32]

    permissions = -44
    file_id = hashlib.md5(b"ocr_pipeline encrypted test").digest()
    owner_entry = _rc4(hashlib.md5(padded(owner_password)).digest()[:5], padded(user_password))
    key = hashlib.md5(padded(user_password) + owner_entry + struct.pack("<i", permissions) + file_id).digest()[:5]
    user_entry = _rc4(key, _PASSWORD_PAD)

    def object_key(number: int) -> bytes:
        return hashlib.md5(key + number.to_bytes(3, "little") + (0).to_bytes(2, "little")).digest()[:10]

    content = _rc4(object_key(4), b"BT /F1 24 Tf 72 720 Td (Confidential order) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + owner_entry.hex().encode() + b"> /U <"
        + user_entry.hex().encode() + b"> /P %d >>" % permissions,
    ]
    file_ids = b"[<%s> <%s>]" % (file_id.hex().encode(), file_id.hex().encode())
    return pdf_from_objects(objects, trailer_extra=b"/Encrypt 6 0 R /ID %s " % file_ids)


# ------------------------------------------------------------------------------------------- images

def png_header_only(width: int, height: int, rows: int = 4) -> bytes:
    """A PNG declaring ``width`` x ``height`` 8-bit gray pixels whose data holds only ``rows`` rows:
    the cheapest decompression bomb (a few hundred bytes, gigapixels declared)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress((b"\x00" + b"\xff" * width) * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def jpeg_with_orientation(upright: Image.Image, orientation: int = 6) -> bytes:
    """A JPEG stored sideways with an EXIF Orientation tag, as phones save portrait photos.

    Orientation 6 means "turn 90 degrees clockwise to display", so the pixels are stored turned
    counter-clockwise; 8 the opposite; 3 upside down.
    """
    stored = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(upright.convert("RGB").transpose(stored[orientation]), "JPEG", quality=90, exif=exif.tobytes())
