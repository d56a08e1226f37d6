"""Data types shared by the engine steps and the verdict contract."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional


class ErrorCode(str, Enum):
    """Stable error codes of the verdict contract."""

    NAME_NOT_FOUND = "NAME_NOT_FOUND"
    IIN_MISMATCH = "IIN_MISMATCH"
    UNREADABLE_DOCUMENT = "UNREADABLE_DOCUMENT"
    UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
    CORRUPT_FILE = "CORRUPT_FILE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    DOCUMENT_TYPE_NOT_ACCEPTED = "DOCUMENT_TYPE_NOT_ACCEPTED"
    S3_OBJECT_NOT_FOUND = "S3_OBJECT_NOT_FOUND"


class DocumentError(Exception):
    """A document that cannot be processed; ends in a verdict carrying ``code``, never a traceback."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class DocumentType(str, Enum):
    MATERNITY_LEAVE_ORDER = "maternity_leave_order"
    CHILDCARE_LEAVE_ORDER = "childcare_leave_order"
    SICK_LEAVE_CERTIFICATE = "sick_leave_certificate"
    EMPLOYMENT_CERTIFICATE = "employment_certificate"
    DISMISSAL_ORDER = "dismissal_order"
    OTHER = "other"


@dataclass(frozen=True)
class Applicant:
    """The person a request names; ``second_name`` is the patronymic and may be empty."""

    iin: str
    last_name: str
    first_name: str
    second_name: str = ""


@dataclass(frozen=True)
class EngineSettings:
    """Limits and options of the engine; every field has a production default."""

    max_file_bytes: int = 20 * 1024 * 1024
    max_pages: int = 10
    max_pixels_per_page: int = 60_000_000
    pdf_dpi: int = 300
    languages: str = "rus+kaz"
    ocr_timeout_seconds: float = 60.0
    text_layer_min_chars: int = 80
    accepted_document_types: Optional[frozenset[str]] = None
    # decoding (``bounded_load``): memory beyond the decoder's own, and time, for one document
    max_decode_bytes: int = 1024 * 1024 * 1024
    max_decode_seconds: float = 30.0


@dataclass
class Page:
    """One loaded page: a raster image (grayscale or BGR uint8) or a PDF text layer, or both."""

    number: int
    image: Any = None
    text_layer: Optional[str] = None


@dataclass
class OcrWord:
    text: str
    confidence: float
    left: int
    top: int
    width: int
    height: int
    line: tuple[int, int, int] = (0, 0, 0)


@dataclass
class PageText:
    """The text of one page as read (by OCR or from a PDF text layer), with word boxes when OCR'd."""

    number: int
    text: str
    words: list[OcrWord] = field(default_factory=list)
    mean_confidence: float = 100.0
    source: str = "ocr"
    rotation: int = 0
    image_size: Optional[tuple[int, int]] = None
    # share of the page's letter-sized ink inside the words read (``ocr.reading_coverage``; None for a
    # text layer): about 0.9 or more for a page read whole, lower when Tesseract's layout analysis
    # dropped blocks of text (a textured photo's background)
    coverage: Optional[float] = None


@dataclass
class CheckResult:
    """Evidence of one check: whether it matched, how strongly, and where."""

    matched: bool
    score: float = 0.0
    page: Optional[int] = None
    snippet: Optional[str] = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """The verdict contract: the asset value, the ``ocr_requests`` row and ``verify --json``."""

    verdict: bool
    errors: list[dict[str, str]] = field(default_factory=list)
    document_type: str = DocumentType.OTHER.value
    confidence: float = 0.0
    review_required: bool = False
    review_reasons: list[str] = field(default_factory=list)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    pages: int = 0
    processing_time_seconds: float = 0.0
    engine: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.errors]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Verdict":
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["checks"] = {k: CheckResult(**c) for k, c in (data.get("checks") or {}).items()}
        return cls(**values)

    @classmethod
    def from_error(cls, error: DocumentError, **kwargs: Any) -> "Verdict":
        return cls(verdict=False, errors=[error_entry(error.code, error.message)], **kwargs)


def error_entry(code: ErrorCode, message: str) -> dict[str, str]:
    return {"code": code.value, "message": message}
