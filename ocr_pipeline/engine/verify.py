"""``verify_pages``: the verdict on a document's text — readable, the applicant's name, IINs, type.

Verdict rule (DESIGN.md): true only when the document is readable, the applicant's name is in it
(surname with first name, or surname with matching initials; a patronymic in the document must
agree) and no IIN in the document contradicts the applicant's.

IIN decisions:

* the applicant's IIN, exact -> found. A number with a failing checksum that differs from it in one
  digit (or in two digits that OCR confuses: 3/8, 1/7, 5/6, 0/8 …) is the applicant's IIN misread,
  not a contradiction (a wrong checksum cannot be somebody's IIN as printed);
* a valid IIN that differs from the applicant's by digits OCR confuses is still a contradiction
  (twins' IINs differ in one serial digit and keep a valid checksum) but flags review;
* a BIN (5th digit 4-6: the employer) is never a contradiction; unlabelled failing-checksum numbers
  are unreadable and ignored (counted in the evidence);
* a number printed after an IIN label ("ИИН", "ЖСН") that OCR damaged (a digit added, lost or
  changed: "ИИН ; 17190 28310333") is the applicant's when within 2 edits of the applicant's IIN;
  when 3+ edits away (with 11-13 digits) it is somebody else's IIN and is judged like a valid one,
  except on a page of low OCR confidence (< 60), where it only flags review;
* another *valid* IIN contradicts the applicant's when it belongs to the applicant's mention: the
  nearest person mention to it (preferring one before it, within 200 characters; 60 after) is the
  applicant's name and no relation word ("ребенка", "сына", "баласы" …) stands between them. When
  it is nearer to another person named in the document (the director who signs, the child in a
  childcare order) it is that person's. A valid IIN near nobody is not a contradiction but flags
  review (a signer whose name OCR mangled must not reject the applicant's document); with the
  applicant's own IIN elsewhere in the document it is simply someone else's;
* a title in the nominative ("Директор", "Врач", "Исп.") between the applicant's mention and a
  valid IIN 40+ characters later introduces the signer: the IIN is the signer's;
* a valid IIN right after "ИП", "БИН", "ТОО", "работодатель" … is the employer's (an individual
  entrepreneur's IIN is their BIN), not a contradiction;
* the applicant's IIN absent altogether is allowed (orders rarely print it) but flags review.

Readability: a document is readable when its text holds at least 4 plausible words (3+ letters,
a vowel, no run of 5 consonants, no soft sign after a vowel, one alphabet), and either at least 2
different common words of such documents (of 3+ letters: "справка", "работает", "приказ", "жұмыс" …;
short words are what OCR makes of specks) or plausible words make half of its words, and its mean
OCR confidence is at least 35 — or when the applicant's name is found in it
anyway. A page of garbage has neither; the shortest real certificate ("СПРАВКА. Ким О.В. работает
в ТОО …") has both. Mean confidence under 60 flags review.

``confidence`` is how sure the engine is of its verdict (either way), in 0..1. ``review_required``
is set for borderline evidence; the reasons are listed in the checks' ``detail["review_reasons"]``
(``review_reasons(verdict)`` collects them).
"""

from __future__ import annotations

import logging
import re
from typing import Optional

from rapidfuzz.distance import Levenshtein

from .doctype import Classification, classify_pages
from .iin import DIGIT_LOOKALIKES, FoundNumber, find_numbers, mask_iin
from .matching import (
    NameMatcher, NameSearch, PreparedPage, find_person_mentions, fold, prepare_page, word_key,
)
from .models import (
    Applicant, CheckResult, EngineSettings, ErrorCode, PageText, Verdict, error_entry,
)
from .names import forms_for_applicant

log = logging.getLogger(__name__)

MIN_PLAUSIBLE_WORDS = 4
MIN_KNOWN_WORDS = 2
MIN_PLAUSIBLE_SHARE = 0.5
MIN_OCR_CONFIDENCE = 35.0
REVIEW_OCR_CONFIDENCE = 60.0
ATTRIBUTION_BEFORE_CHARS = 200
ATTRIBUTION_AFTER_CHARS = 60

_OCR_DIGIT_CONFUSIONS = frozenset(frozenset(p) for p in (
    "38", "17", "56", "08", "68", "06", "09", "35", "27", "89", "49", "14",
))
_RELATION_STEMS = tuple(word_key(w) for w in (
    "ребен", "ребён", "сын", "доч", "дет", "бала", "мать", "матер", "отец", "отц", "супруг", "муж",
    "жена", "жены", "представител", "опекун",
))
_SIGNER_TITLES = frozenset(word_key(w) for w in (
    "директор", "руководитель", "заведующий", "заведующая", "врач", "начальник", "исполнитель", "исп",
    "главный", "генеральный", "председатель", "директоры", "басшы", "дәрігер", "меңгеруші", "орындаған",
))
SIGNER_MIN_GAP_CHARS = 40
_EMPLOYER_WORDS = frozenset(word_key(w) for w in ("бин", "бсн", "ип", "тоо", "жшс", "жк", "ао"))
_EMPLOYER_STEMS = tuple(word_key(w) for w in ("предпринимател", "кәсіпкер", "работодател"))
_COMMON_WORDS = frozenset(word_key(w) for w in (
    "и", "в", "на", "с", "со", "по", "о", "об", "от", "за", "для", "из", "к", "что", "не", "до", "при",
    "года", "год", "г", "гг", "по", "том", "она", "он", "является", "был", "была", "её", "его",
    "приказ", "приказываю", "отпуск", "отпуска", "работы", "работает", "работу", "справка",
    "директор", "директора", "тоо", "ао", "ип", "гкп", "дней", "дня", "дата", "номер", "лист",
    "выдана", "выдан", "действительно", "должности", "должность", "предоставить", "уволить",
    "заявление", "заявления", "основание", "основании", "отдел", "отдела", "беременности", "родам",
    "уходу", "ребенком", "ребенка", "нетрудоспособности", "временной", "настоящая", "месту",
    "требования", "согласно", "трудового", "договора", "кодекса", "республики", "казахстан",
    "казахстана", "город", "улица", "менеджер", "бухгалтер", "специалист", "сотрудник", "работник",
    "место", "места", "время", "период", "календарных", "оплачиваемый", "ежегодный", "связи",
    "статьи", "статья", "подпись", "печать", "утвержден", "форма", "организации", "организация",
    "и", "және", "бойынша", "туралы", "жылғы", "жыл", "бұйрық", "анықтама", "берілді", "жұмыс",
    "демалыс", "демалысы", "байланысты", "қазақстан", "республикасы", "еңбек", "шарты", "шартын",
    "директоры", "күні", "күн", "негізінде", "лауазымы", "қызметкер", "бөлім", "бөлімінің", "мен",
))
_VOWELS = set("аеиоуыэюя")


def verify_pages(pages: list[PageText], applicant: Applicant, settings: EngineSettings) -> Verdict:
    """Decide from the pages' text whether the document belongs to ``applicant``.

    Fills ``checks`` with "readable", "name", "iin" and "document_type"; errors use the stable codes
    UNREADABLE_DOCUMENT, NAME_NOT_FOUND, IIN_MISMATCH and DOCUMENT_TYPE_NOT_ACCEPTED.
    """
    prepared = [prepare_page(p) for p in pages]
    forms = forms_for_applicant(applicant)
    search = NameMatcher(forms).search(prepared)
    readable = _readability(prepared, search)
    iin_check = _iin_check(prepared, applicant, search)
    classification = classify_pages(pages)
    doc_type = classification.document_type
    type_check = _type_check(classification, settings)
    name_check = _name_check(search, forms)

    errors: list[dict[str, str]] = []
    if not readable.matched:
        errors.append(error_entry(
            ErrorCode.UNREADABLE_DOCUMENT,
            f"too little legible text: {readable.detail['plausible_words']} plausible words, "
            f"{readable.detail['known_words']} common words, mean OCR confidence "
            f"{readable.detail['mean_ocr_confidence']}"))
    else:
        if not name_check.matched:
            errors.append(error_entry(ErrorCode.NAME_NOT_FOUND, "the applicant's name is not in the document"
                                      + _near_miss_hint(search)))
        if iin_check.detail.get("status") == "mismatch":
            errors.append(error_entry(
                ErrorCode.IIN_MISMATCH,
                f"the document names IIN {iin_check.detail['contradicting'][0]['iin']}, not the applicant's"))
        if not type_check.matched:
            errors.append(error_entry(ErrorCode.DOCUMENT_TYPE_NOT_ACCEPTED,
                                      f"document type '{doc_type.value}' is not accepted"))

    verdict_value = not errors
    review, reasons = _review(verdict_value, readable, name_check, iin_check, search)
    verdict = Verdict(
        verdict=verdict_value,
        errors=errors,
        document_type=doc_type.value,
        confidence=_confidence(verdict_value, errors, readable, name_check, iin_check, search),
        review_required=review,
        checks={"readable": readable, "name": name_check, "iin": iin_check, "document_type": type_check},
        pages=len(pages),
    )
    for reason in reasons:
        verdict.checks[_REVIEW_REASON_CHECK[reason]].detail.setdefault("review_reasons", []).append(reason)
    log.info("verified document for IIN %s: verdict=%s errors=%s type=%s review=%s",
             mask_iin(applicant.iin), verdict.verdict, verdict.error_codes, verdict.document_type,
             verdict.review_required)
    return verdict


# ------------------------------------------------------------------------------------ readability

def _plausible(key: str) -> bool:
    if len(key) < 3 or not key.isalpha():
        return False
    if not any(c in _VOWELS for c in key):
        return False
    if re.search(r"[^аеиоуыэюя]{5,}|^[ьы]|[аеиоуыэюя][ьы]|(.)\1\1", key):
        return False
    cyrillic = sum("а" <= c <= "я" for c in key)
    return cyrillic == len(key) or cyrillic == 0


def _mean_confidence(pages: list[PreparedPage]) -> Optional[float]:
    weighted = [(p.mean_confidence, max(p.word_count, 1)) for p in pages if p.source == "ocr"]
    if not weighted:
        return None
    total = sum(w for _, w in weighted)
    return round(sum(c * w for c, w in weighted) / total, 2)


def _readability(pages: list[PreparedPage], search: NameSearch) -> CheckResult:
    plausible = 0
    lettered = 0
    known: set[str] = set()
    for page in pages:
        for token in page.tokens:
            if any(c.isalpha() for c in token.key):
                lettered += 1
            if _plausible(token.key):
                plausible += 1
            if len(token.key) >= 3 and token.key in _COMMON_WORDS:
                known.add(token.key)
    confidence = _mean_confidence(pages)
    share = plausible / lettered if lettered else 0.0
    text_ok = plausible >= MIN_PLAUSIBLE_WORDS and (len(known) >= MIN_KNOWN_WORDS or share >= MIN_PLAUSIBLE_SHARE)
    confidence_ok = confidence is None or confidence >= MIN_OCR_CONFIDENCE
    readable = bool(pages) and ((text_ok and confidence_ok) or search.best is not None)
    quality = min(1.0, plausible / 40.0) * (1.0 if confidence is None else min(1.0, confidence / 90.0))
    best_page = max(pages, key=lambda p: len(p.tokens), default=None)
    return CheckResult(
        matched=readable, score=round(quality, 4), page=best_page.number if best_page else None,
        detail={"plausible_words": plausible, "plausible_share": round(share, 3), "known_words": len(known),
                "mean_ocr_confidence": confidence, "pages": len(pages),
                "sources": sorted({p.source for p in pages})})


# ------------------------------------------------------------------------------------------- name

def _name_check(search: NameSearch, forms) -> CheckResult:
    best = search.best
    if best is None:
        detail = {"forms_tried": len(forms.surname) + len(forms.first) + len(forms.patronymic),
                  "gender": _gender_label(forms.female), "gender_source": forms.gender_source}
        miss = search.near_misses[0] if search.near_misses else None
        if miss is not None:
            detail["near_miss"] = {"reason": miss.reason, "pattern": miss.pattern, "page": miss.page}
            return CheckResult(matched=False, score=miss.score, page=miss.page, snippet=_short(miss.found),
                               detail=detail)
        return CheckResult(matched=False, score=0.0, detail=detail)
    expected = " ".join(p["form"] for name, p in best.parts.items() if "form" in p)
    detail = {
        "pattern": best.pattern, "case": best.case, "form": expected, "exact": best.exact,
        "ocr_cost": best.cost, "hard_edits": best.hard_edits, "patronymic": best.patronymic,
        "parts": {name: {"form": part.get("form"), "variant": part.get("variant"), "cost": part.get("cost"),
                         "case": best.case if best.case in part.get("cases", ()) else part.get("case")}
                  for name, part in best.parts.items() if "form" in part},
        "mentions": len(search.accepted), "gender": _gender_label(forms.female),
        "gender_source": forms.gender_source,
    }
    return CheckResult(matched=True, score=best.score, page=best.page, snippet=_short(best.found), detail=detail)


def _gender_label(female: Optional[bool]) -> str:
    return "unknown" if female is None else ("female" if female else "male")


def _near_miss_hint(search: NameSearch) -> str:
    if not search.near_misses:
        return ""
    reasons = {
        "first_name_differs": "the surname is there with another first name",
        "patronymic_differs": "the surname and first name are there with another patronymic",
        "patronymic_initial_differs": "the name is there with another patronymic initial",
        "initials_differ": "the surname is there with other initials",
        "too_many_ocr_errors": "a similar name is there, too different to be OCR noise",
        "ocr_errors_in_surname_and_first_name": "a similar name is there, too different to be OCR noise",
    }
    return f" ({reasons.get(search.near_misses[0].reason, search.near_misses[0].reason)})"


def _short(text: str, limit: int = 80) -> str:
    return re.sub(r"\s+", " ", text).strip()[:limit]


# -------------------------------------------------------------------------------------------- IIN

def _ocr_copy_of(number: str, iin: str) -> Optional[int]:
    """How many digits OCR changed if ``number`` is a misread ``iin`` (1, or 2 confusable), else None."""
    if len(number) != len(iin):
        return None
    diffs = [(a, b) for a, b in zip(number, iin) if a != b]
    if len(diffs) <= 1:
        return len(diffs)
    if len(diffs) == 2 and all(frozenset(d) in _OCR_DIGIT_CONFUSIONS for d in diffs):
        return 2
    return None


_IIN_LABEL_RE = re.compile(r"(?<![^\W_])(?:иин|инн|иии|жсн)(?![^\W_])")
_LABELLED_DIGITS_RE = re.compile(r"[\s:;№.,]*([0-9OoОоIl|ЗзБб!](?:[ .\-]?[0-9OoОоIl|ЗзБб!]){9,15})(?![\w])")


def _labelled_numbers(page: PreparedPage) -> list[FoundNumber]:
    """Digit runs printed after an IIN label ("ИИН", "ЖСН"), whatever their length or checksum.

    ``find_numbers`` only sees clean 12-digit runs; OCR adds or drops digits ("ИИН ; 17190 28310333").
    A label joined with "БИН" ("ИИН/БИН") marks an employer and is skipped.
    """
    folded = fold(page.text)
    found = []
    for label in _IIN_LABEL_RE.finditer(folded):
        if re.match(r"\s*/\s*(?:бин|бсн)", folded[label.end():]):
            continue
        digits = _LABELLED_DIGITS_RE.match(page.text, label.end())
        if digits is None:
            continue
        raw = digits.group(1)
        number = re.sub(r"\D", "", raw.translate(DIGIT_LOOKALIKES))
        found.append(FoundNumber(number, "labelled", digits.start(1), digits.end(1), raw))
    return found


def _iin_check(pages: list[PreparedPage], applicant: Applicant, search: NameSearch) -> CheckResult:
    own: list[tuple[FoundNumber, int, int]] = []  # number, page, digits misread
    others: list[tuple[FoundNumber, PreparedPage]] = []
    unreadable: list[tuple[FoundNumber, PreparedPage]] = []
    ignored = {"bin": 0, "invalid": 0}
    for page in pages:
        numbers = find_numbers(page.text)
        labelled = _labelled_numbers(page)
        for number in numbers:
            if number.number == applicant.iin:
                own.append((number, page.number, 0))
            elif number.kind == "iin":
                others.append((number, page))
            elif (misread := _ocr_copy_of(number.number, applicant.iin)) is not None:
                own.append((number, page.number, misread))
            elif not any(_overlaps(number, label) for label in labelled):
                ignored[number.kind] += 1
        for number in labelled:
            if any(_overlaps(number, n) and (n.kind in ("iin", "bin") or n.number == applicant.iin)
                   for n in numbers) or any(_overlaps(number, o[0]) for o in own):
                continue
            distance = Levenshtein.distance(number.number, applicant.iin)
            if distance <= 2:
                own.append((number, page.number, max(distance, 1)))
            elif 11 <= len(number.number) <= 13:
                unreadable.append((number, page))
            else:
                ignored["invalid"] += 1

    contradicting, attributed, doubtful = [], [], []
    for number, page in others + unreadable:
        owner = _owner(number, page, search, applicant_iin_present=bool(own))
        entry = {"iin": mask_iin(number.number), "page": page.number, "owner": owner}
        if number.kind == "labelled":
            entry["unreadable"] = True
        if _ocr_copy_of(number.number, applicant.iin) is not None:
            entry["close_to_applicant_iin"] = True
        if owner not in ("applicant", "nobody"):
            attributed.append(entry)
        elif owner == "nobody" or (number.kind == "labelled" and page.source == "ocr"
                                   and page.mean_confidence < REVIEW_OCR_CONFIDENCE):
            doubtful.append(entry)
        else:
            contradicting.append(entry)

    detail: dict = {"bins_ignored": ignored["bin"], "unreadable_numbers": ignored["invalid"]}
    if attributed:
        detail["other_people_iins"] = attributed
    if doubtful:
        detail["doubtful_iins"] = doubtful
    if contradicting:
        detail.update(status="mismatch", contradicting=contradicting)
        first = contradicting[0]
        log.debug("IIN %s in the document contradicts the applicant's %s", first["iin"], mask_iin(applicant.iin))
        return CheckResult(matched=False, score=0.0, page=first["page"], snippet=f"ИИН {first['iin']}",
                           detail=detail)
    if own:
        own.sort(key=lambda item: item[2])
        number, page_number, misread = own[0]
        detail.update(status="found" if misread == 0 else "found_ocr_misread", found=mask_iin(number.number),
                      digits_misread=misread)
        return CheckResult(matched=True, score={0: 1.0, 1: 0.9}.get(misread, 0.75), page=page_number,
                           snippet=f"ИИН {mask_iin(number.number)}", detail=detail)
    detail["status"] = "absent"
    return CheckResult(matched=False, score=0.5, detail=detail)


def _overlaps(a: FoundNumber, b: FoundNumber) -> bool:
    return a.start < b.end and b.start < a.end


def _owner(number: FoundNumber, page: PreparedPage, search: NameSearch, applicant_iin_present: bool) -> str:
    """Whose valid IIN this is: 'applicant', 'other' (another person or a relation), 'employer' (an
    individual entrepreneur's IIN serving as the employer's BIN) or 'nobody'."""
    applicant_spans = [(o.start, o.end) for o in search.accepted if o.page == page.number]
    other_spans = [s for s in find_person_mentions(page)
                   if not any(s[0] < a_end and a_start < s[1] for a_start, a_end in applicant_spans)]
    candidates: list[tuple[float, str, tuple[int, int]]] = []
    for owner, spans in (("applicant", applicant_spans), ("other", other_spans)):
        for start, end in spans:
            if end <= number.start:
                gap = number.start - end
                if gap <= ATTRIBUTION_BEFORE_CHARS:
                    candidates.append((gap, owner, (end, number.start)))
            elif start >= number.end:
                gap = start - number.end
                if gap <= ATTRIBUTION_AFTER_CHARS:
                    candidates.append((gap * 2.0, owner, (number.end, start)))
    preceding = [end for start, end in applicant_spans + other_spans if end <= number.start]
    window_start = max([number.start - 40] + preceding)
    if _stem_between(page, window_start, number.start, _EMPLOYER_STEMS) or any(
            t.key in _EMPLOYER_WORDS for t in page.tokens if window_start <= t.start and t.end <= number.start):
        return "employer"
    if not candidates:
        if _stem_between(page, window_start, number.start, _RELATION_STEMS) or applicant_iin_present:
            return "other"
        return "nobody"
    candidates.sort(key=lambda c: (c[0], c[1] != "other"))
    _, owner, (gap_start, gap_end) = candidates[0]
    if owner == "applicant":
        if _stem_between(page, gap_start, gap_end, _RELATION_STEMS):
            return "other"
        if gap_end - gap_start > SIGNER_MIN_GAP_CHARS and any(
                t.key in _SIGNER_TITLES for t in page.tokens if gap_start <= t.start and t.end <= gap_end):
            return "other"  # "… Директор ТОО «Ромашка» Сейткали, ИИН …": the signer's
    return owner


def _stem_between(page: PreparedPage, start: int, end: int, stems: tuple[str, ...]) -> bool:
    """True when a word between the offsets starts with one of ``stems`` (folded)."""
    for token in page.tokens:
        if token.start >= start and token.end <= end and token.key.startswith(stems):
            return True
    return False


# ------------------------------------------------------------------------------------------- type

def _type_check(classification: Classification, settings: EngineSettings) -> CheckResult:
    doc_type = classification.document_type
    accepted = settings.accepted_document_types
    allowed = True
    detail: dict = {"type": doc_type.value, "order": classification.is_order,
                    "scores": dict(classification.scores)}
    if accepted:
        names = {getattr(a, "value", str(a)).lower() for a in accepted}
        allowed = doc_type.value in names or doc_type.name.lower() in names
        detail["accepted"] = sorted(names)
    return CheckResult(matched=allowed, score=classification.score, page=classification.page,
                       snippet=classification.snippet or None, detail=detail)


# ---------------------------------------------------------------------------------- confidence/review

_REVIEW_REASON_CHECK = {
    "low_ocr_confidence": "readable", "fuzzy_name": "name", "patronymic_unverified": "name",
    "conflicting_mention": "name", "near_miss_name": "name", "iin_absent": "iin", "iin_misread": "iin",
    "iin_possibly_misread": "iin", "iin_unreadable": "iin", "iin_unattributed": "iin",
}


def review_reasons(verdict: Verdict) -> list[str]:
    """Why ``verdict.review_required`` is set: the reasons recorded in its checks' details."""
    return [r for check in verdict.checks.values() for r in check.detail.get("review_reasons", [])]


def _review(verdict: bool, readable: CheckResult, name: CheckResult, iin: CheckResult,
            search: NameSearch) -> tuple[bool, list[str]]:
    reasons: list[str] = []
    ocr_confidence = readable.detail.get("mean_ocr_confidence")
    if readable.matched and ocr_confidence is not None and ocr_confidence < REVIEW_OCR_CONFIDENCE:
        reasons.append("low_ocr_confidence")
    if verdict:
        fuzzy = name.detail.get("hard_edits", 0) or name.detail.get("ocr_cost", 0) >= 1.0
        if not name.detail.get("exact", False) and fuzzy:
            reasons.append("fuzzy_name")
        if name.detail.get("patronymic") == "unverified":
            reasons.append("patronymic_unverified")
        doubtful = iin.detail.get("doubtful_iins", [])
        if any(d["owner"] == "nobody" for d in doubtful):
            reasons.append("iin_unattributed")
        if any(d["owner"] != "nobody" for d in doubtful):
            reasons.append("iin_unreadable")
        if iin.detail.get("status") == "absent":
            reasons.append("iin_absent")
        elif iin.detail.get("digits_misread", 0) >= 2:
            reasons.append("iin_misread")
        if any(m.reason in ("patronymic_differs", "patronymic_initial_differs")
               and m.parts.get("surname", {}).get("cost", 1) == 0 for m in search.near_misses):
            reasons.append("conflicting_mention")
    else:
        if readable.matched and search.near_misses and not search.accepted:
            reasons.append("near_miss_name")
        if any(c.get("close_to_applicant_iin") for c in iin.detail.get("contradicting", [])):
            reasons.append("iin_possibly_misread")
    return bool(reasons), reasons


def _confidence(verdict: bool, errors: list[dict[str, str]], readable: CheckResult, name: CheckResult,
                iin: CheckResult, search: NameSearch) -> float:
    ocr_confidence = readable.detail.get("mean_ocr_confidence")
    ocr_factor = 1.0 if ocr_confidence is None else max(0.5, min(1.0, 0.5 + ocr_confidence / 180.0))
    codes = {e["code"] for e in errors}
    if verdict:
        iin_factor = {"found": 1.0, "found_ocr_misread": 0.95}.get(iin.detail.get("status"), 0.85)
        value = name.score * iin_factor * ocr_factor
    elif ErrorCode.UNREADABLE_DOCUMENT.value in codes:
        value = 0.8 if readable.detail["plausible_words"] < 3 else 0.6
    elif ErrorCode.IIN_MISMATCH.value in codes:
        value = 0.9 * ocr_factor
    elif ErrorCode.NAME_NOT_FOUND.value in codes:
        value = (0.6 if search.near_misses else 0.9) * ocr_factor
    else:
        value = 0.8 * ocr_factor
    return round(max(0.0, min(1.0, value)), 4)
