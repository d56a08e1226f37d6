"""The engine composed once: ``read_document`` (load -> preprocess -> OCR), then ``decide`` (verify, and a
second look where the first pass was not decisive). ``verify_document`` is the two for one file; the
pipeline's run, the backfill, the HTTP API and the command line all go through these two functions,
so a document gets the same verdict, reasons and confidence whichever way it came in.

``Verdict.timings`` has the seconds of each stage (``load``, ``preprocess``, ``ocr``, ``verify``,
``second_look``; a caller adds ``download``); ``processing_time_seconds`` is the engine's share: the sum
of the engine stages, never the download.

A first pass reads every page once with the standard preparation; it decides most documents (about
1 s a page). When its verdict is not decisive — the applicant's name not found, or the document
called unreadable, and no IIN contradiction — ``second_look`` reads the page(s) again with other
preparations (``preprocess.prepare_look``: coloured ink removed, a gray seal removed, a photo's motion blur undone, a
photo sharpened and enlarged, a local binarisation; other page segmentation modes) and verifies
again after each try, stopping as soon as the evidence is decisive. Documents the first pass decides
pay nothing for it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .bounded_load import load_document_bounded
from .iin import mask_iin
from .models import Applicant, DocumentError, EngineSettings, ErrorCode, PageText, Verdict
from .ocr import engine_versions, ocr_page
from .preprocess import has_colour_ink, prepare_look, preprocess_page
from .verify import name_glimpsed, settled, verify_pages

log = logging.getLogger(__name__)

SECOND_LOOK_MAX_TRIES = 3  # Tesseract passes per document, about 1 s each: the slow tail's bound
SECOND_LOOK_MAX_PAGES = 2
LOW_CONFIDENCE = 85.0  # a first reading below this mean confidence is a hard photo or scan
INCOMPLETE_READING = 0.85  # a first reading covering less of the page's letters than this dropped text
UNSETTLED_REJECT_CONFIDENCE = 0.8  # at most, for "name not found" after a second look that found nothing
# review reasons of a reject that say a reading saw something like her name: a person should look
NAME_GLIMPSED_REASONS = frozenset({"initials_unconfirmed", "fuzzy_name", "patronymic_unread", "surname_unread"})
ENGINE_STAGES = ("load", "preprocess", "ocr", "verify", "second_look")


@dataclass
class ReadDocument:
    """A document as the first pass read it: each page's text, the page images as loaded (colour kept:
    a second look prepares them again) and as prepared for the OCR (the evidence preview is drawn on
    them), or the ``error`` that ended the reading (corrupt, too large, unsupported)."""

    pages: list[PageText] = field(default_factory=list)
    loaded: dict[int, np.ndarray] = field(default_factory=dict)
    prepared: dict[int, np.ndarray] = field(default_factory=dict)
    error: Optional[DocumentError] = None

    @classmethod
    def failed(cls, error: DocumentError) -> "ReadDocument":
        """A document that ends before it is read (e.g. FILE_TOO_LARGE at the download)."""
        return cls(error=error)


def read_document(data: bytes, settings: EngineSettings, timings: dict[str, float]) -> ReadDocument:
    """Load and read ``data``; a bad file ends in ``ReadDocument.error``, never an exception."""
    document = ReadDocument()
    try:
        document.pages = read_pages(data, settings, timings, document.prepared, document.loaded)
    except DocumentError as error:
        return ReadDocument.failed(error)
    return document


def decide(document: ReadDocument, applicant: Applicant, settings: EngineSettings,
           timings: dict[str, float]) -> Verdict:
    """The verdict on ``document`` for ``applicant``: verify, a second look where it pays, timings and
    engine versions filled in. ``timings`` (the stages so far) is copied, not changed: one reading is
    decided for several applicants by the backfill."""
    timings = dict(timings)
    if document.error is not None:
        verdict = Verdict.from_error(document.error)
    else:
        started = time.perf_counter()
        try:
            verdict = verify_pages(document.pages, applicant, settings)
            timings["verify"] = time.perf_counter() - started
            verdict = second_look(verdict, document.pages, applicant, settings, timings, document.loaded)
        except DocumentError as error:
            log.info("document rejected for IIN %s: %s", mask_iin(applicant.iin), error.code.value)
            verdict = Verdict.from_error(error)
            timings.setdefault("verify", time.perf_counter() - started)
    verdict.timings = {name: round(seconds, 4) for name, seconds in timings.items()}
    verdict.processing_time_seconds = round(sum(timings.get(stage, 0.0) for stage in ENGINE_STAGES), 3)
    verdict.engine = engine_versions()
    return verdict


def read_pages(
    data: bytes,
    settings: EngineSettings,
    timings: dict[str, float],
    prepared_pages: Optional[dict[int, np.ndarray]] = None,
    loaded_pages: Optional[dict[int, np.ndarray]] = None,
) -> list[PageText]:
    """Load a document and return the text of each page (text layer where substantial, else OCR).

    ``prepared_pages``, when given, receives each OCR'd page's prepared image by page number (before
    the OCR's rotation), for drawing evidence on without preparing the page again. ``loaded_pages``
    receives each OCR'd page's image as loaded (colour kept), for a ``second_look`` without loading
    the file again.
    """
    started = time.perf_counter()
    pages = load_document_bounded(data, settings)
    timings["load"] = time.perf_counter() - started
    texts: list[PageText] = []
    for page in pages:
        if page.image is None:  # load_document rasterises only pages without a substantial text layer
            texts.append(PageText(number=page.number, text=page.text_layer or "", source="text_layer"))
            continue
        if loaded_pages is not None:
            loaded_pages[page.number] = page.image
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
    timings: dict[str, float] = {}
    return decide(read_document(data, settings, timings), applicant, settings, timings)


# ---------------------------------------------------------------------------------------- second look

def needs_second_look(verdict: Verdict) -> bool:
    """Whether another reading could change ``verdict``: the verifier's evidence is not ``settled``
    (the name not read, the document called unreadable, or a verdict resting on the IIN alone)."""
    return bool(verdict.checks) and not settled(verdict)


def looks_for(image: np.ndarray, reading: PageText, unreadable: bool,
              glimpsed: bool = False) -> list[tuple[str, int]]:
    """The tries worth making on one page, best first: (``prepare_look`` preparation, Tesseract page
    segmentation mode).

    Measured on rendered pages with stamps and signatures across the surname and on hard phone
    photos: the colour-separated page finds the name under coloured ink in most of them; on a photo
    (a first reading of low confidence) the page with the camera's motion deconvolved first (on 209
    hard phone photos it settled 18, 7 of them documents the other looks had got wrong), then the
    sharpened, enlarged page locally binarised and read as one block of text (psm 6), then that page
    as it is. A reading that left part of the page's letters outside its words (``PageText.coverage``
    under ``INCOMPLETE_READING``: Tesseract's layout analysis dropped paragraphs of a textured photo,
    however confident the rest) gets the photo's tries too.
    A confident reading of a page without coloured ink that ``glimpsed`` her name (her surname alone,
    a mention too damaged to accept) gets one try, the page with only its darkest ink kept
    (``dark_print``): a seal scanned in gray over the name (it settled 3 of the development set's 6
    false rejects that were no hard photos). A page that glimpsed nothing of her is not read again: a
    seal stands on most documents, so its presence cannot tell, and other people's documents would
    pay the pass. Re-reading a confident page with sparse-text mode (psm 11) or enlarged found no name
    the first pass had missed.
    """
    colour = has_colour_ink(image)
    incomplete = reading.coverage is not None and reading.coverage < INCOMPLETE_READING
    photo = unreadable or incomplete or reading.mean_confidence < LOW_CONFIDENCE
    tries: list[tuple[str, int]] = []
    if colour:
        tries.append(("ink", 3))
    elif glimpsed and not photo:
        tries.append(("dark_print", 3))
    if photo:
        tries += [("ink+photo_deblur", 3), ("ink+photo_binary", 6), ("ink+photo", 3)] if colour \
            else [("photo_deblur", 3), ("photo_binary", 6), ("photo", 3)]
    return tries


def second_look(
    verdict: Verdict,
    pages: list[PageText],
    applicant: Applicant,
    settings: EngineSettings,
    timings: dict[str, float],
    loaded_pages: dict[int, np.ndarray],
) -> Verdict:
    """Read again where the first pass was not decisive; the first verdict when no try is.

    Pages are tried in order of evidence: the page of the name's near miss first, then the other
    OCR'd pages (at most ``SECOND_LOOK_MAX_PAGES``, ``SECOND_LOOK_MAX_TRIES`` Tesseract passes in
    all). After each try the document is verified again with that page's text being the union of its
    first reading and the new one: a valid IIN that only the first reading saw still counts against
    the applicant (or flags review) and the name must be found by the same verifier, on real text.
    A try that decides nothing is dropped, so readings of noise do not accumulate. The images are
    the pages as loaded (``ReadDocument.loaded``). A "name not found" that no try settled keeps its
    verdict with confidence at most ``UNSETTLED_REJECT_CONFIDENCE``: the page hid the name from two
    readings, which says less about its absence than one clear reading does. When a try glimpsed her
    name without settling it (a reject sent to review for ``NAME_GLIMPSED_REASONS``: initials that fit
    her beside a mention that cannot be read, a name a letter from hers) and the first verdict sends
    no one to look, that try's reject is kept instead: the same verdict, and a person looks.

    ``timings["second_look"]`` is the time spent; ``checks["readable"].detail["looks"]`` lists the
    Tesseract passes ("page:look:psm") with the one that decided marked "+". Neither is set when no
    try was worth making.
    """
    if not needs_second_look(verdict):
        return verdict
    started = time.perf_counter()
    by_number = {p.number: p for p in pages}
    order = [n for n in sorted(loaded_pages) if by_number.get(n) is not None and by_number[n].source == "ocr"]
    name = verdict.checks.get("name")
    near_page = name.page if name else None
    if near_page in order:
        order.remove(near_page)
        order.insert(0, near_page)
    unreadable = ErrorCode.UNREADABLE_DOCUMENT.value in verdict.error_codes
    saw_her_name = name_glimpsed(verdict)
    looks: list[str] = []
    result = verdict
    glimpsed: Optional[Verdict] = None
    try:
        for number in order[:SECOND_LOOK_MAX_PAGES]:
            first = by_number[number]
            for look, psm in looks_for(loaded_pages[number], first, unreadable, saw_her_name):
                if len(looks) >= SECOND_LOOK_MAX_TRIES:
                    break
                reading = ocr_page(prepare_look(loaded_pages[number], look), number, settings, psm=psm,
                                   rotation=first.rotation)
                looks.append(f"{number}:{look}:{psm}")
                candidate = verify_pages([_union(first, reading) if p.number == number else p for p in pages],
                                         applicant, settings)
                if settled(candidate):
                    looks[-1] += "+"
                    result = candidate
                    break
                if glimpsed is None and not candidate.verdict and NAME_GLIMPSED_REASONS & set(candidate.review_reasons):
                    glimpsed = candidate
            if result is not verdict or len(looks) >= SECOND_LOOK_MAX_TRIES:
                break
    except DocumentError as error:  # a try that times out ends the second look, not the verdict
        log.info("second look stopped: %s", error.code.value)
    if not looks:
        return verdict  # nothing worth trying (a confident reading without coloured ink)
    if result is verdict and glimpsed is not None and not verdict.verdict and not verdict.review_required:
        result = glimpsed
    if result is verdict and ErrorCode.NAME_NOT_FOUND.value in verdict.error_codes:
        # the name was looked for again and still not read: the page hides it, not that it is absent
        verdict.confidence = min(verdict.confidence, UNSETTLED_REJECT_CONFIDENCE)
    timings["second_look"] = time.perf_counter() - started
    result.checks["readable"].detail["looks"] = looks
    log.info("second look for IIN %s: %s -> %s", mask_iin(applicant.iin), ",".join(looks),
             "decided" if looks[-1].endswith("+") else "undecided")
    return result


def _union(first: PageText, again: PageText) -> PageText:
    """One page's two readings as one text: the new reading, then the first.

    The new reading comes first so that a mention of the applicant it found is not brought within
    attribution distance (60 characters after a number) of an IIN at the end of the first reading.
    Word boxes and image size are the new reading's: they refer to the look's image, not to the
    first pass's prepared page (a preview drawn from them needs that image).
    """
    return PageText(number=first.number, text=f"{again.text}\n\n{first.text}", words=list(again.words),
                    mean_confidence=max(first.mean_confidence, again.mean_confidence), source="ocr",
                    rotation=again.rotation, image_size=again.image_size)
