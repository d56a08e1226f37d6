"""``verify_document``: the whole engine, load -> preprocess -> OCR -> verify, for one document."""

from __future__ import annotations

import logging
import time
from typing import Optional

import numpy as np

from .iin import mask_iin
from .load import load_document
from .models import Applicant, DocumentError, EngineSettings, PageText, Verdict
from .ocr import engine_versions, ocr_page
from .preprocess import preprocess_page
from .verify import verify_pages

log = logging.getLogger(__name__)


def read_pages(
    data: bytes,
    settings: EngineSettings,
    timings: dict[str, float],
    prepared_pages: Optional[dict[int, np.ndarray]] = None,
) -> list[PageText]:
    """Load a document and return the text of each page (text layer where substantial, else OCR).

    ``prepared_pages``, when given, receives each OCR'd page's prepared image by page number (before
    the OCR's rotation), for drawing evidence on without preparing the page again.
    """
    started = time.perf_counter()
    pages = load_document(data, settings)
    timings["load"] = time.perf_counter() - started
    texts: list[PageText] = []
    for page in pages:
        if page.image is None:  # load_document rasterises only pages without a substantial text layer
            texts.append(PageText(number=page.number, text=page.text_layer, source="text_layer"))
            continue
        started = time.perf_counter()
        prepared = preprocess_page(page.image, settings)
        if prepared_pages is not None:
            prepared_pages[page.number] = prepared
        timings["preprocess"] = timings.get("preprocess", 0.0) + time.perf_counter() - started
        started = time.perf_counter()
        texts.append(ocr_page(prepared, page.number, settings))
        timings["ocr"] = timings.get("ocr", 0.0) + time.perf_counter() - started
    return texts


def verify_document(data: bytes, applicant: Applicant, settings: EngineSettings | None = None) -> Verdict:
    """Decide whether the document in ``data`` belongs to ``applicant``.

    Never raises for a bad document: unreadable, corrupt, oversized or unsupported files end in a
    verdict of ``False`` carrying the matching error code.
    """
    settings = settings or EngineSettings()
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        pages = read_pages(data, settings, timings)
        verdict = verify_pages(pages, applicant, settings)
    except DocumentError as error:
        log.info("document rejected for IIN %s: %s", mask_iin(applicant.iin), error.code.value)
        verdict = Verdict.from_error(error)
    verdict.timings = {k: round(v, 4) for k, v in timings.items()}
    verdict.processing_time_seconds = round(time.perf_counter() - started, 3)
    verdict.engine = engine_versions()
    return verdict
