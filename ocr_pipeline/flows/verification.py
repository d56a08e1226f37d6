"""The engine calls the request lifecycle (``flows.lifecycle``) makes: ``read_and_decide`` (a document read
once, decided for each of its requests, possibly in an engine process: arguments and results pickle),
the evidence preview, warming a new process. The engine itself is ``engine.pipeline.read_document`` and
``decide``. Plain Python, no Dagster.
"""

from __future__ import annotations

import logging
from typing import Optional

from ..engine.models import Applicant, DocumentError, EngineSettings, ErrorCode, Verdict

log = logging.getLogger(__name__)

ENGINE_SETTINGS = EngineSettings()


def read_and_decide(
    data: Optional[bytes],
    error: Optional[tuple[str, str]],
    applicants: list[Applicant],
    timings: dict[str, float],
    with_previews: bool,
    settings: EngineSettings = ENGINE_SETTINGS,
) -> list[tuple[Verdict, Optional[bytes]]]:
    """Read ``data`` once (unless ``error`` already ended it: e.g. FILE_TOO_LARGE) and decide for each
    applicant: ``(verdict, preview JPEG or None)`` in the applicants' order."""
    from ..engine.pipeline import ReadDocument, decide, read_document

    if error is not None:
        document = ReadDocument.failed(DocumentError(ErrorCode(error[0]), error[1]))
    else:
        document = read_document(data, settings, timings)
    results = []
    for applicant in applicants:
        verdict = decide(document, applicant, settings, timings)
        preview = evidence_preview(data, document, verdict, applicant, settings) if with_previews else None
        results.append((verdict, preview[1] if preview else None))
    return results


def evidence_preview(data: Optional[bytes], document, verdict: Verdict, applicant: Applicant,
                     settings: EngineSettings = ENGINE_SETTINGS):
    """``(evidence boxes, preview JPEG)`` drawn on the pages the OCR read; None for text layers and bad
    files, or when it cannot be made (a preview is an extra: it never fails the verdict)."""
    if data is None or not any(page.words for page in document.pages):
        return None
    from .preview import make_preview

    try:
        boxes, image = make_preview(data, document.pages, verdict, applicant, settings, document.prepared)
    except Exception as failure:  # an extra: never fails the verdict
        log.warning("no preview: %s: %s", type(failure).__name__, failure)
        return None
    return (boxes, image) if image is not None else None


def warm_up(settings: EngineSettings = ENGINE_SETTINGS) -> None:
    """Import the engine and load Tesseract's models (a blank page read): what a new process would
    otherwise pay on its first document."""
    import numpy as np

    from ..engine.ocr import engine_versions, read_text
    from ..engine.pipeline import read_pages  # noqa: F401  (OpenCV, pypdfium2)
    from .preview import make_preview  # noqa: F401

    engine_versions()
    read_text(np.full((64, 64), 255, dtype=np.uint8), 1, settings)


def current_engine_versions() -> dict[str, str]:
    """The engine versions a verdict made now would carry (compared for backfill idempotence)."""
    from ..engine.ocr import engine_versions

    return engine_versions()
