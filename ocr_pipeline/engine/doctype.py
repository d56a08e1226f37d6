"""Document type from Russian and Kazakh keywords, tolerant of OCR noise.

Key phrases are searched in the folded text (see ``matching.fold``) with rapidfuzz's
``partial_ratio`` (a phrase matches a stretch of text with a few wrong, missing or extra characters);
title words ("ПРИКАЗ", "АНЫҚТАМА", "уволить") must match a whole word. What decides between types:

* an *order* marker (a "ПРИКАЗ"/"БҰЙРЫҚ" title word or "приказываю"/"бұйырамын") favours the three
  order types and disfavours the certificates, because an order on maternity leave cites the
  sick-leave certificate it is based on ("на основании листа временной нетрудоспособности");
* without an order marker the certificates win over a leave phrase they mention in passing
  ("действительно работает …, находится в отпуске по уходу за ребенком");
* a phrase in the heading (first lines of the first page) weighs more, and when both leave phrases
  occur the one that comes first wins ("О предоставлении отпуска по уходу за ребенком … по окончании
  отпуска по беременности и родам").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Optional

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from .matching import fold, normalize_text, ocr_distance, tokenize, word_key
from .models import DocumentType, PageText

PHRASE_MIN_SCORE = 86.0
TYPE_MIN_SCORE = 0.6
HEADING_CHARS = 400


@dataclass(frozen=True)
class _Cue:
    text: str
    weight: float
    whole_word: bool = False

    @cached_property
    def key(self) -> str:
        """The cue's folded word key (for whole-word cues); computed once, not per page."""
        return word_key(self.text)

    @cached_property
    def needle(self) -> str:
        """The cue's folded phrase with single spaces (for phrase cues); computed once, not per page."""
        return " ".join(fold(self.text).split())


_ORDER_CUES = (
    _Cue("приказ", 1.0, True), _Cue("бұйрық", 1.0, True), _Cue("приказываю", 1.0),
    _Cue("бұйырамын", 1.0), _Cue("распоряжение", 0.8, True), _Cue("өкім", 0.8, True),
)

_TYPE_CUES: dict[DocumentType, tuple[_Cue, ...]] = {
    DocumentType.MATERNITY_LEAVE_ORDER: (
        _Cue("отпуск по беременности и родам", 1.0),
        _Cue("отпуска по беременности и родам", 1.0),
        _Cue("по беременности и родам", 0.85),
        _Cue("жүктілігіне және босануына байланысты демалыс", 1.0),
        _Cue("жүктілігі және босануы бойынша демалыс", 1.0),
        _Cue("жүктілігіне және босануына", 0.85),
        _Cue("жүктілік және босану", 0.85),
        _Cue("декретный отпуск", 0.85),
        _Cue("декретного отпуска", 0.85),
    ),
    DocumentType.CHILDCARE_LEAVE_ORDER: (
        _Cue("отпуск по уходу за ребенком", 1.0),
        _Cue("отпуска по уходу за ребенком", 1.0),
        _Cue("по уходу за ребенком", 0.85),
        _Cue("бала күтіміне байланысты демалыс", 1.0),
        _Cue("бала күтімі бойынша демалыс", 1.0),
        _Cue("баланы күту бойынша демалыс", 1.0),
        _Cue("бала күтіміне байланысты", 0.85),
        _Cue("баланы күтуге байланысты", 0.85),
    ),
    DocumentType.SICK_LEAVE_CERTIFICATE: (
        _Cue("лист временной нетрудоспособности", 1.0),
        _Cue("листок временной нетрудоспособности", 1.0),
        _Cue("листок нетрудоспособности", 0.9),
        _Cue("больничный лист", 1.0),
        _Cue("справка о временной нетрудоспособности", 1.0),
        _Cue("временной нетрудоспособности", 0.75),
        _Cue("уақытша еңбекке жарамсыздық парағы", 1.0),
        _Cue("еңбекке уақытша жарамсыздық", 1.0),
        _Cue("еңбекке жарамсыздық", 0.8),
    ),
    DocumentType.EMPLOYMENT_CERTIFICATE: (
        _Cue("справка с места работы", 1.0),
        _Cue("действительно работает", 1.0),
        _Cue("работает в должности", 0.75),
        _Cue("по настоящее время", 0.5),
        _Cue("выдана для предоставления по месту требования", 0.7),
        _Cue("жұмыс орнынан анықтама", 1.0),
        _Cue("жұмыс орнынан", 0.8),
        _Cue("шынымен жұмыс істейді", 1.0),
        _Cue("жұмыс істейді", 0.75),
        _Cue("справка", 0.45, True),
        _Cue("анықтама", 0.7, True),
    ),
    DocumentType.DISMISSAL_ORDER: (
        _Cue("об увольнении", 1.0),
        _Cue("уволить", 1.0, True),
        _Cue("уволена", 0.8, True),
        _Cue("уволен", 0.8, True),
        _Cue("расторгнуть трудовой договор", 1.0),
        _Cue("прекратить трудовой договор", 1.0),
        _Cue("прекращении трудового договора", 1.0),
        _Cue("расторжении трудового договора", 1.0),
        _Cue("жұмыстан босату", 1.0),
        _Cue("жұмыстан босатылсын", 1.0),
        _Cue("еңбек шартын бұзу", 1.0),
        _Cue("еңбек шартын тоқтату", 1.0),
        _Cue("еңбек шарты бұзылсын", 1.0),
        _Cue("еңбек шарты тоқтатылсын", 1.0),
    ),
}

_ORDER_TYPES = {DocumentType.MATERNITY_LEAVE_ORDER, DocumentType.CHILDCARE_LEAVE_ORDER,
                DocumentType.DISMISSAL_ORDER}
_LEAVE_TYPES = (DocumentType.MATERNITY_LEAVE_ORDER, DocumentType.CHILDCARE_LEAVE_ORDER)


@dataclass
class _Hit:
    score: float  # weight x similarity x heading bonus
    similarity: float
    page: int
    start: int
    end: int
    cue: str


@dataclass
class _Page:
    number: int
    text: str
    searchable: str
    positions: dict[str, list[int]]

    @property
    def keys(self) -> list[str]:
        return list(self.positions)


def _prepare(page: PageText) -> _Page:
    text = normalize_text(page.text)
    searchable = "".join(c if c.isalnum() else " " for c in fold(text))
    positions: dict[str, list[int]] = {}
    for token in tokenize(text):
        positions.setdefault(token.key, []).append(token.start)
    return _Page(page.number, text, searchable, positions)


def _find(cue: _Cue, page: _Page, heading: bool) -> Optional[_Hit]:
    if cue.whole_word:
        key = cue.key
        found = [(1.0, start) for start in page.positions.get(key, ())]
        if len(key) >= 5:
            limit = 0.5 if len(key) < 8 else 1.0
            for other, starts in page.positions.items():
                if other != key and abs(len(other) - len(key)) <= 1 \
                        and Levenshtein.distance(key, other, score_cutoff=2) <= 2 \
                        and ocr_distance(key, other).cost <= limit:
                    found += [(0.9, start) for start in starts]
        if not found:
            return None
        similarity, start = min(found, key=lambda f: (f[1], -f[0]))
        bonus = 1.25 if heading and start < HEADING_CHARS else 1.0
        return _Hit(cue.weight * similarity * bonus, similarity, page.number, start, start + len(key), cue.text)
    needle = cue.needle
    best = None
    for window_start, window_end in _windows(needle, page):
        alignment = fuzz.partial_ratio_alignment(needle, page.searchable[window_start:window_end],
                                                 score_cutoff=PHRASE_MIN_SCORE)
        if alignment is not None and (best is None or alignment.score > best[0]):
            best = (alignment.score, window_start + alignment.dest_start, window_start + alignment.dest_end)
    if best is None:
        return None
    similarity = best[0] / 100.0
    start, end = best[1], best[2]
    bonus = 1.25 if heading and start < HEADING_CHARS else 1.0
    return _Hit(cue.weight * similarity * bonus, similarity, page.number, start, end, cue.text)


def _windows(needle: str, page: _Page) -> list[tuple[int, int]]:
    """Stretches of the page worth a fuzzy phrase search: around words like the phrase's longest words.

    A full ``partial_ratio`` over a page costs ~5 ms per phrase; anchoring on words that resemble
    one of the phrase's two longest words (OCR-damaged or declined) keeps the search to a few windows.
    """
    anchors = sorted({w for w in needle.split() if len(w) >= 4}, key=len, reverse=True)[:2]
    if not anchors:
        return [(0, len(page.searchable))]
    keys = page.keys
    starts: set[int] = set()
    for anchor in anchors:
        for key, _, _ in process.extract(anchor, keys, scorer=fuzz.ratio, score_cutoff=70, limit=None):
            starts.update(page.positions[key])
    margin = len(needle) + 8
    windows: list[tuple[int, int]] = []
    for start in sorted(starts):
        window = (max(0, start - margin), min(len(page.searchable), start + margin))
        if windows and window[0] <= windows[-1][1]:
            windows[-1] = (windows[-1][0], window[1])
        else:
            windows.append(window)
    return windows


def _best(cues: tuple[_Cue, ...], pages: list[_Page]) -> tuple[Optional[_Hit], int]:
    best: Optional[_Hit] = None
    count = 0
    for index, page in enumerate(pages):
        for cue in cues:
            hit = _find(cue, page, heading=index == 0)
            if hit is None:
                continue
            count += 1
            if best is None or hit.score > best.score or (hit.score == best.score and hit.start < best.start):
                best = hit
    return best, count


@dataclass(frozen=True)
class Classification:
    """The document type, a score in 0..1, the deciding text and its page (None for OTHER)."""

    document_type: DocumentType
    score: float
    snippet: str = ""
    page: Optional[int] = None
    is_order: bool = False
    scores: tuple[tuple[str, float], ...] = ()


def classify_document(pages: list[PageText]) -> tuple[DocumentType, float, str]:
    """The document's type, a score in 0..1 and the text that decided it ("" for OTHER)."""
    result = classify_pages(pages)
    return result.document_type, result.score, result.snippet


def classify_pages(pages: list[PageText]) -> Classification:
    """``classify_document`` with more evidence: the page of the deciding text and every type's score."""
    prepared = [_prepare(p) for p in pages if p.text and p.text.strip()]
    if not prepared:
        return Classification(DocumentType.OTHER, 0.0)
    order_hit, _ = _best(_ORDER_CUES, prepared)
    is_order = order_hit is not None
    scored: dict[DocumentType, tuple[float, _Hit]] = {}
    for doc_type, cues in _TYPE_CUES.items():
        hit, count = _best(cues, prepared)
        if hit is None:
            continue
        score = hit.score + 0.05 * min(count - 1, 4)
        if doc_type in _ORDER_TYPES:
            score *= 1.3 if is_order else 0.8
        elif is_order:
            score *= 0.6
        scored[doc_type] = (score, hit)
    if all(t in scored for t in _LEAVE_TYPES):
        m_hit, c_hit = scored[_LEAVE_TYPES[0]][1], scored[_LEAVE_TYPES[1]][1]
        earlier = _LEAVE_TYPES[0] if (m_hit.page, m_hit.start) < (c_hit.page, c_hit.start) else _LEAVE_TYPES[1]
        score, hit = scored[earlier]
        scored[earlier] = (score * 1.1, hit)
    ranking = sorted(scored.items(), key=lambda item: -item[1][0])
    scores = tuple((t.value, round(v[0], 3)) for t, v in ranking)
    if not ranking or ranking[0][1][0] < TYPE_MIN_SCORE:
        return Classification(DocumentType.OTHER, 0.0, is_order=is_order, scores=scores)
    doc_type, (score, hit) = ranking[0]
    runner_up = ranking[1][1][0] if len(ranking) > 1 else 0.0
    confidence = hit.similarity * (0.6 + 0.4 * (1 - runner_up / score))
    page = next(p for p in prepared if p.number == hit.page)
    return Classification(doc_type, round(min(1.0, confidence), 4), _snippet(page.text, hit.start, hit.end),
                          hit.page, is_order, scores)


def _snippet(text: str, start: int, end: int, limit: int = 80) -> str:
    snippet = text[max(0, start):min(len(text), end)]
    return re.sub(r"\s+", " ", snippet).strip()[:limit]
