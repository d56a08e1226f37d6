"""The engine calls every path shares (the per-request asset, the prefix backfill, the re-check job).

``read_document_bytes`` and ``decide`` are two halves; ``read_and_decide`` joins them for the batch
paths, which read a document once and decide for each of its requests (in an engine process: its
arguments and results pickle). Plain Python, no Dagster.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

from .engine.models import Applicant, DocumentError, EngineSettings, ErrorCode, PageText, Verdict

log = logging.getLogger(__name__)

ENGINE_SETTINGS = EngineSettings()


def read_document_bytes(
    data: bytes,
    timings: dict[str, float],
    settings: EngineSettings = ENGINE_SETTINGS,
    prepared_pages: Optional[dict] = None,
) -> tuple[list[PageText], Optional[tuple[str, str]]]:
    """Load, preprocess and OCR ``data``: ``(pages, None)``, or ``([], (code, message))`` for a bad file.
    ``prepared_pages`` receives the prepared page images (see ``engine.pipeline.read_pages``)."""
    from .engine.pipeline import read_pages

    try:
        return read_pages(data, settings, timings, prepared_pages), None
    except DocumentError as error:
        return [], (error.code.value, error.message)


def decide(
    pages: list[PageText],
    error: Optional[tuple[str, str]],
    applicant: Applicant,
    timings: dict[str, float],
    settings: EngineSettings = ENGINE_SETTINGS,
) -> Verdict:
    """The verdict for ``applicant`` from the read pages (or the document error), with timings and
    engine versions filled in; ``timings`` gains ``verify``."""
    from .engine.ocr import engine_versions

    timings = dict(timings)
    if error is not None:
        code, message = error
        verdict = Verdict.from_error(DocumentError(ErrorCode(code), message))
    else:
        from .engine.verify import verify_pages

        started = time.perf_counter()
        try:
            verdict = verify_pages(pages, applicant, settings)
        except DocumentError as rejected:
            verdict = Verdict.from_error(rejected)
        timings["verify"] = time.perf_counter() - started
    verdict.timings = {name: round(seconds, 4) for name, seconds in timings.items()}
    verdict.processing_time_seconds = round(sum(timings.values()), 3)
    verdict.engine = engine_versions()
    return verdict


def read_and_decide(
    data: Optional[bytes],
    error: Optional[tuple[str, str]],
    applicants: list[Applicant],
    timings: dict[str, float],
    with_previews: bool,
    settings: EngineSettings = ENGINE_SETTINGS,
) -> list[tuple[Verdict, Optional[bytes]]]:
    """Read ``data`` once (unless ``error`` already ended it: e.g. FILE_TOO_LARGE) and decide for each
    applicant: ``(verdict, preview JPEG or None)`` in the applicants' order. A preview is drawn on the
    prepared pages the OCR read; one that cannot be made is None, never a failed verdict."""
    pages: list[PageText] = []
    prepared_pages: dict = {}
    if error is None:
        pages, error = read_document_bytes(data, timings, settings, prepared_pages)
    results = []
    for applicant in applicants:
        verdict = decide(pages, error, applicant, timings, settings)
        preview = None
        if with_previews and data is not None and any(page.words for page in pages):
            from .preview import make_preview

            try:
                preview = make_preview(data, pages, verdict, applicant, settings, prepared_pages)[1]
            except Exception as failure:  # an extra: never fails the verdict
                log.warning("no preview: %s: %s", type(failure).__name__, failure)
        results.append((verdict, preview))
    return results


def warm_up(settings: EngineSettings = ENGINE_SETTINGS) -> None:
    """Import the engine and load Tesseract's models (a blank page read): what a new process would
    otherwise pay on its first document."""
    import numpy as np

    from .engine.ocr import engine_versions, read_text
    from .engine.pipeline import read_pages  # noqa: F401  (OpenCV, pypdfium2)
    from .preview import make_preview  # noqa: F401

    engine_versions()
    read_text(np.full((64, 64), 255, dtype=np.uint8), 1, settings)


def current_engine_versions() -> dict[str, str]:
    """The engine versions a verdict made now would carry (compared for backfill idempotence)."""
    from .engine.ocr import engine_versions

    return engine_versions()
