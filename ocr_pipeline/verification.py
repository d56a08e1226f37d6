"""The engine calls every path shares (the per-request asset, the prefix backfill, the re-check job).

``read_document_bytes`` and ``decide`` are two halves: the batch paths read a document once and decide
for each of its requests. Plain Python, no Dagster.
"""

from __future__ import annotations

import time
from typing import Optional

from .engine.models import Applicant, DocumentError, EngineSettings, ErrorCode, PageText, Verdict

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


def current_engine_versions() -> dict[str, str]:
    """The engine versions a verdict made now would carry (compared for backfill idempotence)."""
    from .engine.ocr import engine_versions

    return engine_versions()
