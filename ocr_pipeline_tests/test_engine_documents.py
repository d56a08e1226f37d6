"""The engine end to end on generated documents, with real Tesseract (rus+kaz+osd).

A representative subset of what ``bench/evaluate.py`` measures: every document type and name case,
scans, skew of both signs, rotated pages, phone photos, 150 DPI, PDFs (scanned with the name on page 2,
text layer), the negatives, and malformed files. Each document is built and verified once per session.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import struct  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import lru_cache  # noqa: E402
from typing import Optional  # noqa: E402

import pytest  # noqa: E402

from ocr_pipeline.engine.models import Applicant, ErrorCode, Verdict  # noqa: E402
from ocr_pipeline.engine.pipeline import verify_document  # noqa: E402
from ocr_pipeline_devtools import docgen  # noqa: E402

pytestmark = pytest.mark.integration

P = docgen.PEOPLE


@dataclass(frozen=True)
class Case:
    id: str
    doc_type: str
    subject: str                    # person key the document is about (a namesake: "<key>_namesake")
    name_case: str
    degradation: str
    applicant: Optional[str] = None  # whose request; default: the subject
    container: str = "image"        # image | pdf_scan_p2 | pdf_text
    include_iin: bool = True
    seed: int = 1


POSITIVE = [
    Case("maternity-dat-clean", "maternity_order", "ivanova", "dat", "clean"),
    Case("childcare-acc-scan", "childcare_order", "kim", "acc", "scan"),
    Case("sickleave-nom-skew+", "sick_leave", "akhmetov", "nom", "skew+"),
    Case("certificate-dat-skew-", "employment_certificate", "petrenko", "dat", "skew-"),
    Case("dismissal-acc-photo", "dismissal_order", "zharmaganbetova", "acc", "photo"),
    Case("maternity-kk-gen-clean", "maternity_order_kk", "suleimenova", "gen", "clean"),
    Case("certificate-kk-ins-scan", "employment_certificate_kk", "bekmukhambetov", "ins", "scan"),
    Case("childcare-initials-rot90", "childcare_order", "tazhibaeva", "initials", "rot90"),
    Case("dismissal-ins-rot180", "dismissal_order", "smirnov", "ins", "rot180"),
    Case("certificate-gen-dpi150", "employment_certificate", "nurgalieva", "gen", "dpi150"),
    Case("maternity-initials_dat-photo", "maternity_order", "kovalchuk", "initials_dat", "photo", seed=2),
    Case("sickleave-dat-korean-male-rot270", "sick_leave", "tsoi", "dat", "rot270"),
    Case("certificate-nom-no-patronymic", "employment_certificate", "kasymova", "nom", "clean"),
    Case("childcare-dat-yo-vs-ye", "childcare_order", "yolkina", "dat", "scan"),
    Case("dismissal-initials_before", "dismissal_order", "ospanov", "initials_before", "clean", include_iin=False),
    Case("pdf-scanned-name-on-page-2", "maternity_order", "kuznetsova", "dat", "scan", container="pdf_scan_p2"),
    Case("pdf-text-layer", "employment_certificate", "grigoriev", "acc", "clean", container="pdf_text"),
    Case("photo-exif-orientation", "employment_certificate", "akhmetov", "gen", "photo_exif"),
]

NEGATIVE = [
    (Case("another-person", "maternity_order", "kim", "dat", "scan", applicant="ivanova"),
     ErrorCode.NAME_NOT_FOUND),
    (Case("sister", "employment_certificate", "ivanova_sister", "dat", "clean", applicant="ivanova",
          include_iin=False), ErrorCode.NAME_NOT_FOUND),
    (Case("husband", "dismissal_order", "ivanova_husband", "acc", "photo", applicant="ivanova",
          include_iin=False), ErrorCode.NAME_NOT_FOUND),
    (Case("brother", "sick_leave", "akhmetov_brother", "nom", "scan", applicant="akhmetov", include_iin=False),
     ErrorCode.NAME_NOT_FOUND),
    (Case("other-patronymic", "childcare_order", "kim_other_patronymic", "dat", "clean", applicant="kim",
          include_iin=False), ErrorCode.NAME_NOT_FOUND),
    (Case("namesake-other-iin", "maternity_order", "zharmaganbetova_namesake", "dat", "scan",
          applicant="zharmaganbetova"), ErrorCode.IIN_MISMATCH),
    (Case("nobody-named", "announcement", "", "nom", "clean", applicant="smirnov"), ErrorCode.NAME_NOT_FOUND),
    (Case("unreadable-blur", "dismissal_order", "smirnov", "dat", "unreadable"), ErrorCode.UNREADABLE_DOCUMENT),
    (Case("photo-of-nothing", "", "", "nom", "nothing", applicant="kim"), ErrorCode.UNREADABLE_DOCUMENT),
]


def _person(key: str) -> Optional[docgen.Person]:
    if not key:
        return None
    if key.endswith("_namesake"):
        return docgen.namesake_of(P[key[: -len("_namesake")]], seed=1)
    return docgen.person_by_key(key)


def build(case: Case) -> tuple[bytes, Applicant]:
    applicant = P[case.applicant or case.subject].applicant()
    if case.degradation == "nothing":
        return docgen.photo_of_nothing(case.seed), applicant
    page = docgen.render_document(case.doc_type, _person(case.subject), name_case=case.name_case,
                                  include_iin=case.include_iin, seed=case.seed)
    if case.container == "pdf_text":
        return docgen.to_pdf([page], text_layer=True), applicant
    if case.container == "pdf_scan_p2":
        cover = docgen.render_document("cover_letter", None, seed=case.seed)
        return docgen.to_pdf([docgen.degrade(cover, "scan", 1), docgen.degrade(page, "scan", 2)]), applicant
    return docgen.degrade(page, case.degradation, case.seed), applicant


@lru_cache(maxsize=None)
def verdict_for(case: Case) -> Verdict:
    data, applicant = build(case)
    return verify_document(data, applicant)


def _describe(verdict: Verdict) -> str:
    checks = {name: (c.matched, round(c.score, 2), c.page, c.snippet) for name, c in verdict.checks.items()}
    return f"verdict={verdict.verdict} errors={verdict.errors} type={verdict.document_type} checks={checks}"


@pytest.mark.parametrize("case", POSITIVE, ids=lambda c: c.id)
def test_document_of_the_applicant_is_accepted(case):
    verdict = verdict_for(case)
    assert verdict.verdict is True, _describe(verdict)
    assert verdict.errors == []
    assert 0.0 < verdict.confidence <= 1.0


@pytest.mark.parametrize("case", [c for c in POSITIVE if c.degradation in ("clean", "scan", "skew+", "skew-")],
                         ids=lambda c: c.id)
def test_document_type_is_recognised(case):
    verdict = verdict_for(case)
    assert verdict.document_type == docgen.ENGINE_DOCUMENT_TYPE[case.doc_type], _describe(verdict)


def test_name_found_on_page_two_of_a_scanned_pdf():
    verdict = verdict_for(next(c for c in POSITIVE if c.container == "pdf_scan_p2"))
    assert verdict.pages == 2
    name_checks = [c for n, c in verdict.checks.items() if n.startswith("name") and c.matched]
    assert name_checks and name_checks[0].page == 2, _describe(verdict)


@pytest.mark.parametrize("case,code", NEGATIVE, ids=lambda c: getattr(c, "id", ""))
def test_document_of_someone_else_or_nobody_is_rejected(case, code):
    verdict = verdict_for(case)
    assert verdict.verdict is False, _describe(verdict)
    assert code.value in verdict.error_codes, _describe(verdict)


# ------------------------------------------------------------------------------------- bad files

APPLICANT = P["ivanova"].applicant()


def _huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of the given size, white, built row by row (small file, huge image)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    parts = [compressor.compress(row * 1000) for _ in range(height // 1000)]
    parts.append(compressor.compress(row * (height % 1000)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def good_pdf() -> bytes:
    page = docgen.render_document("maternity_order", P["ivanova"], name_case="dat", seed=1)
    return docgen.to_pdf([docgen.degrade(page, "scan", 1)])


def test_truncated_pdf_is_corrupt(good_pdf):
    verdict = verify_document(good_pdf[: len(good_pdf) // 3], APPLICANT)
    assert verdict.verdict is False and verdict.error_codes == [ErrorCode.CORRUPT_FILE.value], _describe(verdict)


def test_zero_bytes():
    verdict = verify_document(b"", APPLICANT)
    assert verdict.verdict is False
    assert verdict.error_codes in ([ErrorCode.UNSUPPORTED_FORMAT.value], [ErrorCode.CORRUPT_FILE.value])


def test_html_named_pdf_is_unsupported():
    html = "<!DOCTYPE html><html><body><h1>Приказ</h1><p>Иванова Мария Петровна</p></body></html>".encode()
    verdict = verify_document(html, APPLICANT)
    assert verdict.verdict is False and verdict.error_codes == [ErrorCode.UNSUPPORTED_FORMAT.value], \
        _describe(verdict)


def test_30000_by_30000_png_is_too_large():
    data = _huge_png(30000, 30000)
    assert len(data) < 1_000_000
    verdict = verify_document(data, APPLICANT)
    assert verdict.verdict is False and verdict.error_codes == [ErrorCode.FILE_TOO_LARGE.value], _describe(verdict)
