"""A preview for reviewers: the page the name was found on, with the name and the IIN boxed.

The verify step reports each check's page and text snippet, not word positions, so the boxes are found
here by locating the snippet's tokens among the page's OCR words (``PageText.words``, in the
coordinates of the prepared, upright page); they are drawn on the prepared page the OCR read (kept by
``read_pages``, or prepared again the same way), turned as the OCR turned it. Text-layer PDF pages have no word
boxes: no preview. Plain Python (OpenCV, numpy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..engine.models import Applicant, EngineSettings, OcrWord, PageText, Verdict

PREVIEW_LONG_SIDE = 1600
_PUNCTUATION = re.compile(r"[^\w]+", re.UNICODE)
_COLOURS = {"name": (0, 160, 0), "iin": (200, 90, 0)}  # BGR


@dataclass(frozen=True)
class EvidenceBox:
    """A region of a page (pixels of the prepared, upright page) and what it shows."""

    kind: str  # name | iin
    page: int
    left: int
    top: int
    width: int
    height: int


def _token(text: str) -> str:
    return _PUNCTUATION.sub("", text.lower().replace("ё", "е"))


def _union(words: list[OcrWord]) -> tuple[int, int, int, int]:
    left = min(w.left for w in words)
    top = min(w.top for w in words)
    right = max(w.left + w.width for w in words)
    bottom = max(w.top + w.height for w in words)
    return left, top, right - left, bottom - top


def find_snippet_words(words: list[OcrWord], snippet: str, min_ratio: float = 80.0) -> Optional[list[OcrWord]]:
    """The run of consecutive words that best spells ``snippet`` (fuzzy, OCR errors allowed), or None."""
    from rapidfuzz import fuzz

    wanted = [t for t in (_token(part) for part in snippet.split()) if t]
    tokens = [_token(w.text) for w in words]
    if not wanted:
        return None
    best: tuple[float, int] = (0.0, -1)
    for start in range(len(words) - len(wanted) + 1):
        score = sum(fuzz.ratio(tokens[start + i], wanted[i]) for i in range(len(wanted))) / len(wanted)
        if score > best[0]:
            best = (score, start)
    if best[0] < min_ratio:
        return None
    return words[best[1]: best[1] + len(wanted)]


def find_iin_words(words: list[OcrWord], iin: str) -> Optional[list[OcrWord]]:
    """The word(s) whose digits spell ``iin`` (one word, or up to four consecutive: "8402 1730 0615")."""
    digits = [re.sub(r"\D", "", w.text) for w in words]
    for size in (1, 2, 3, 4):
        for start in range(len(words) - size + 1):
            if "".join(digits[start: start + size]) == iin and all(digits[start: start + size]):
                return words[start: start + size]
    return None


def evidence_boxes(pages: list[PageText], verdict: Verdict, applicant: Applicant) -> list[EvidenceBox]:
    """Boxes around the matched name and the applicant's IIN, on the pages the checks name."""
    boxes: list[EvidenceBox] = []
    by_number = {page.number: page for page in pages}
    name = verdict.checks.get("name")
    if name is not None and name.matched and name.snippet and name.page in by_number:
        found = find_snippet_words(by_number[name.page].words, name.snippet)
        if found:
            boxes.append(EvidenceBox("name", name.page, *_union(found)))
    iin = verdict.checks.get("iin")
    if iin is not None and iin.matched and iin.page in by_number:
        found = find_iin_words(by_number[iin.page].words, applicant.iin)
        if found:
            boxes.append(EvidenceBox("iin", iin.page, *_union(found)))
    return boxes


def render_preview(
    data: bytes,
    pages: list[PageText],
    boxes: list[EvidenceBox],
    settings: EngineSettings,
    prepared_pages: Optional[dict] = None,
) -> Optional[bytes]:
    """A JPEG of the first boxed page with its boxes drawn (long side ``PREVIEW_LONG_SIDE``), or None.
    ``prepared_pages`` (page number -> prepared image, from ``read_pages``) saves preparing it again."""
    if not boxes:
        return None
    import cv2
    import numpy as np

    from ..engine.bounded_load import load_document_bounded as load_document
    from ..engine.preprocess import preprocess_page

    number = boxes[0].page
    page_text = next(p for p in pages if p.number == number)
    image = (prepared_pages or {}).get(number)
    if image is None:
        loaded = next(p for p in load_document(data, settings) if p.number == number)
        image = preprocess_page(loaded.image, settings)
    turns = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    if page_text.rotation in turns:
        image = cv2.rotate(image, turns[page_text.rotation])
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else np.ascontiguousarray(image)
    thickness = max(3, canvas.shape[1] // 400)
    for box in boxes:
        if box.page != number:
            continue
        pad = thickness * 2
        cv2.rectangle(canvas, (box.left - pad, box.top - pad),
                      (box.left + box.width + pad, box.top + box.height + pad), _COLOURS[box.kind], thickness)
    scale = PREVIEW_LONG_SIDE / max(canvas.shape[:2])
    if scale < 1:
        canvas = cv2.resize(canvas, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return encoded.tobytes() if ok else None


def preview_key(artefact_prefix: str, s3_path: str, request_id: int) -> str:
    """Where a request's preview goes: under the artefact prefix, mirroring the document's key (so a
    backfill of the document's prefix never lists it)."""
    return f"{artefact_prefix.rstrip('/')}/{s3_path}.{request_id}.preview.jpg"


def make_preview(
    data: bytes,
    pages: list[PageText],
    verdict: Verdict,
    applicant: Applicant,
    settings: EngineSettings,
    prepared_pages: Optional[dict] = None,
) -> tuple[list[EvidenceBox], Optional[bytes]]:
    """The evidence boxes and the preview JPEG (None when nothing could be boxed)."""
    boxes = evidence_boxes(pages, verdict, applicant)
    return boxes, render_preview(data, pages, boxes, settings, prepared_pages)
