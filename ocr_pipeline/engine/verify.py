"""``verify_pages``: the verdict on a document's text — readable, the applicant's name, IINs, type.

Verdict rule: true only when the document is readable, the applicant's name is in it (surname with
first name, or surname with matching initials; a patronymic in the document must agree) and no IIN in
the document contradicts the applicant's.

Mentions, not strings (``resolve_mentions``): paperwork names one person several ways (in full in the
body, by initials in signature and acknowledgement lines) and names other people too. Initials that
fit the applicant are evidence for her only when no full mention in the document names a different
person with her surname whom they could abbreviate ("Ахметовой Динаре Ерлановне … Ахметова Д.Е." is
Динара's document, not Дина's). A relative named in full (another first name, patronymic or first
initial, or the other gender's surname) is a clear reject, not a review case, unless a relation word
introduces him ("Ребенок: Кузнецов Андрей …", ``mark_relatives``): the child or spouse of the person
the document is about says nothing about who that person is. Her surname and first name with a word
in the patronymic's place that is not hers (``_patronymic_unread``) are a namesake's as much as hers
on a poor reading; a patronymic within two letters of hers is no sure other person either.

The applicant's IIN is the strongest identifier (``_identified_by_iin``): printed exactly (checksum
valid) beside her surname it identifies her when a seal, a signature or one misread letter hides the
rest of the name; with no surname of hers readable at all the verdict stands on the IIN and goes to
review. Initials alone lose to a stranger's valid IIN standing where the full name was lost.

IIN decisions:

* the applicant's IIN, exact -> found. A number with a failing checksum that differs from it in one
  digit (or in two digits that OCR confuses: 3/8, 1/7, 5/6, 0/8 …) is the applicant's IIN misread,
  not a contradiction (a wrong checksum cannot be somebody's IIN as printed);
* a valid IIN that differs from the applicant's by digits OCR confuses is still a contradiction
  (twins' IINs differ in one serial digit and keep a valid checksum) but flags review;
* a BIN (5th digit 4-6: the employer) is never a contradiction; unlabelled failing-checksum numbers
  are unreadable and ignored (counted in the evidence), except one that reads like a printed IIN
  (10+ real digits, in one run or in space-separated groups) beside the applicant's name when her own
  IIN is nowhere: a namesake differs only by the IIN, so her name alone does not settle it
  (accepted, review ``iin_unreadable``, confidence at most 0.8);
* a number printed after an IIN label ("ИИН", "ЖСН") that OCR damaged (a digit added, lost or
  changed: "ИИН ; 17190 28310333") is the applicant's when within 2 edits of the applicant's IIN;
  when 3+ edits away (with 11-13 digits) it is somebody else's IIN and is judged like a valid one,
  except on a page of low OCR confidence (< 60), where it only flags review;
* another *valid* IIN contradicts the applicant's when it belongs to the applicant's mention: the
  nearest person mention to it (preferring one before it, within 200 characters; 60 after) is the
  applicant's name (or a mention made only of her name's parts: a two-column page read across its
  columns tears her name apart) and no relation word ("ребенка", "сына", "баласы" …) stands between them. When
  it is nearer to another person named in the document (the director who signs, the child in a
  childcare order) it is that person's. A valid IIN near nobody is not a contradiction but flags
  review (a signer whose name OCR mangled must not reject the applicant's document); with the
  applicant's own IIN elsewhere in the document, or on a line a relation word opens ("Супруга
  работника: <a name OCR garbled>, ИИН …"), it is simply someone else's;
* an IIN label with no number after it and a valid IIN (not hers) with no label before it, that IIN
  attributed to another person by nearness alone, belong together: a table read column by column
  (labels first, then values) puts the label far from its number and the value nearer a doctor's or
  a signer's name than the patient's. The IIN is the document's and contradicts her (review
  ``iin_unattributed``, confidence 0.8: a namesake's sheet was accepted on her exact name);
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

Three outcomes a bank can staff: accepted, rejected, and review (``review_required`` with
``Verdict.review_reasons``, each reason also in its check's ``detail["review_reasons"]``; see
``_review`` for when a person must look). ``confidence`` is how likely the verdict is right, either
way, from the kind of evidence it rests on (``_confidence``); ``make evaluate`` reports its
calibration.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Optional

from rapidfuzz.distance import Levenshtein

from .doctype import Classification, classify_pages
from .iin import DIGIT_LOOKALIKES, FoundNumber, find_numbers, is_bin, mask_iin
from .matching import (
    NameMatcher,
    NameOccurrence,
    NameSearch,
    PreparedPage,
    find_person_mentions,
    fold,
    ocr_confusable,
    prepare_page,
    word_key,
)
from .models import (
    Applicant,
    CheckResult,
    EngineSettings,
    ErrorCode,
    PageText,
    Verdict,
    error_entry,
)
from .names import forms_for_applicant

log = logging.getLogger(__name__)

MIN_PLAUSIBLE_WORDS = 4
MIN_KNOWN_WORDS = 2
MIN_PLAUSIBLE_SHARE = 0.5
MIN_OCR_CONFIDENCE = 35.0
REVIEW_OCR_CONFIDENCE = 60.0
PARTIAL_IIN_DIGITS = 8  # a labelled number this long that is her IIN with digits lost is hers partly read
MAX_DIGITS_BLURRED = 5  # of 12: a checksum-failing number beside her name this close to her IIN is hers misread
UNREAD_LABEL_CHARS = 30  # an IIN label with no number found within this many characters was not read
ATTRIBUTION_BEFORE_CHARS = 200
ATTRIBUTION_AFTER_CHARS = 60
RELATION_LINE_CHARS = 100  # how far back on its line a relation word claims an IIN no readable name claims

_OCR_DIGIT_CONFUSIONS = frozenset(frozenset(p) for p in (
    "38", "17", "56", "08", "68", "06", "09", "35", "27", "89", "49", "14",
))
_RELATION_STEMS = tuple(word_key(w) for w in (
    "ребен", "ребён", "сын", "доч", "дет", "бала", "мать", "матер", "отец", "отц", "супруг", "муж",
    "жена", "жены", "представител", "опекун", "сестр", "брат", "әпке", "қарындас", "сіңлі", "бауыр",
))
_CHILD_OR_SPOUSE_STEMS = tuple(word_key(w) for w in (
    "ребен", "ребён", "сын", "доч", "дет", "бала", "супруг", "муж", "жена", "жены", "жұбай",
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
    matcher = NameMatcher(forms)
    search = mark_relatives(matcher.search(prepared), prepared, bool(applicant.second_name))
    search = mark_other_patronymics(search, prepared, applicant.second_name)
    search = resolve_mentions(mark_unread_full_mentions(search, prepared, matcher))
    readable = _readability(prepared, search)
    iin_check = _iin_check(prepared, applicant, search, matcher)
    classification = classify_pages(pages)
    doc_type = classification.document_type
    type_check = _type_check(classification, settings)
    name_check = _name_check(search, forms)
    if not name_check.matched:
        name_check = _identified_by_iin(search, iin_check) or name_check
    else:
        _weigh_name_against_foreign_iin(name_check, iin_check, readable)
        name_check = _uncorroborated_repairs(name_check, iin_check, readable)
        name_check = _patronymic_unread(name_check, iin_check, readable, search, prepared)

    errors: list[dict[str, str]] = []
    if not readable.matched:
        errors.append(error_entry(
            ErrorCode.UNREADABLE_DOCUMENT,
            f"too little legible text: {readable.detail['plausible_words']} plausible words, "
            f"{readable.detail['known_words']} common words, mean OCR confidence "
            f"{readable.detail['mean_ocr_confidence']}"))
    else:
        if name_check.detail.get("patronymic_unread"):
            errors.append(error_entry(ErrorCode.NAME_NOT_FOUND, "her surname and first name are there, the word in "
                                      "the patronymic's place cannot be read as hers, and no IIN of the "
                                      "applicant confirms it"))
        elif name_check.detail.get("uncorroborated"):
            errors.append(error_entry(ErrorCode.NAME_NOT_FOUND, "only a similar name is in the document (letters "
                                      "OCR does not confuse differ, or the reading is too poor to tell) and no "
                                      "IIN of the applicant confirms it"))
        elif not name_check.matched:
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
    reasons = _review(verdict_value, errors, readable, name_check, iin_check, search)
    verdict = Verdict(
        verdict=verdict_value,
        errors=errors,
        document_type=doc_type.value,
        confidence=_confidence(verdict_value, errors, readable, name_check, iin_check, search),
        review_required=bool(reasons),
        checks={"readable": readable, "name": name_check, "iin": iin_check, "document_type": type_check},
        pages=len(pages),
    )
    verdict.review_reasons = list(reasons)
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

INITIALS_PATTERNS = frozenset({"surname initials", "initials surname"})
# near misses that name, in full, another person with the applicant's surname (a relative, a namesake)
OTHER_PERSON_REASONS = frozenset({"first_name_differs", "patronymic_differs", "patronymic_initial_differs",
                                  "initials_of_other_person", "initials_differ", "other_gender_surname"})


RELATION_WINDOW_CHARS = 30  # "Ребенок: ", "Супруг работника: ", "(сын) " before the name
RELATION_AFTER_CHARS = 12  # " (сестра)", " – брат" right after the name
OTHER_PATRONYMIC_WINDOW_CHARS = 40  # after a first name: where its patronymic stands, noise between
PATRONYMIC_STEM_LETTERS = 5  # a patronymic's first letters, compared within one edit
_PATRONYMIC_SUFFIXES = tuple(word_key(w) for w in ("овн", "евн", "ович", "евич", "ичн", "ұлы", "улы", "қызы", "кызы"))
RELATION_LABEL_MARKS = (":", " - ", " – ", " — ")  # a label ("Ребенок: …"), not prose ("за ребенком Ивановой")
MAX_LABEL_WORDS = 2  # between the relation word and the name: "Супруга работника: "


def mark_relatives(search: NameSearch, pages: list[PreparedPage], has_patronymic: bool = True) -> NameSearch:
    """Near misses introduced as a relation ("Ребенок: Кузнецов Андрей Ильдусович", "Супруг работника:
    …") or followed by one ("Мухаметшина Резеда Владимировна (сестра)") become ``relative_of_subject``:
    a relative of the person the document is about, so no sign that the document is about someone else.
    An order about the applicant names her son in full; when OCR loses her own name, the son's must not
    turn the verdict into a sure "another person".

    Her surname and first name without her patronymic, introduced as a child or a spouse ("Ребенок:
    Кравчук Оксана Ильин…": the patronymic cut by OCR), are a relative's who shares them, not her: the
    mention moves to the near misses the same way. So is any mention of her under a child's or a
    spouse's label ("2. Ребенок: Закиров Рустам Рашидович, 27.02.2022 г.", "Супруга работника: …"): the
    document is her parent's or her spouse's, not hers. A mother or father named so stays hers (her
    child's birth certificate names her as the mother)."""
    by_number = {page.number: page for page in pages}

    def introduced_as(mention, stems: tuple[str, ...], labelled: bool = False) -> bool:
        page = by_number.get(mention.page)
        start = max(0, mention.start - RELATION_WINDOW_CHARS)
        if page is None:
            return False
        if not labelled:
            return _stem_between(page, start, mention.start, stems)
        def label_of_mention(token) -> bool:  # "Супруга работника: <her>", not "Ребенок: Иванов А.С. Мать: <her>"
            words_between = sum(1 for t in page.tokens if token.end <= t.start and t.end <= mention.start)
            return words_between <= MAX_LABEL_WORDS and any(
                mark in page.text[token.end:mention.start] for mark in RELATION_LABEL_MARKS)

        return any(token.start >= start and token.key.startswith(stems) and label_of_mention(token)
                   for token in page.tokens if token.end <= mention.start)

    def relation_follows(mention) -> bool:  # "Мухаметшина Резеда Владимировна (сестра)"
        page = by_number.get(mention.page)
        return page is not None and any(
            mention.end <= token.start < mention.end + RELATION_AFTER_CHARS and token.key.startswith(_RELATION_STEMS)
            and not re.search(r"\w", page.text[mention.end:token.start]) for token in page.tokens)

    for miss in search.near_misses:
        if miss.reason in OTHER_PERSON_REASONS and (introduced_as(miss, _RELATION_STEMS) or relation_follows(miss)):
            miss.reason = "relative_of_subject"
    for mention in list(search.accepted):
        cut_short = has_patronymic and mention.patronymic in ("absent", "unread")
        if introduced_as(mention, _CHILD_OR_SPOUSE_STEMS, labelled=not cut_short):
            mention.accepted, mention.reason, mention.score = False, "relative_of_subject", 0.0
            search.accepted.remove(mention)
            search.near_misses.append(mention)
    search.near_misses.sort(key=lambda m: m.reason == "relative_of_subject")
    return search


def mark_other_patronymics(search: NameSearch, pages: list[PreparedPage], patronymic: Optional[str]) -> NameSearch:
    """Her surname and first name read without her patronymic, followed closely by another
    patronymic, are another person's mention (``patronymic_differs``), not hers with the patronymic lost.

    A seal or dust between the name and its patronymic, or a line break in a Kazakh sentence that
    declines a Russian patronymic ("Соколова Наталья 15 ‚ …\nСериковнаға"), separates them in the
    reading: the first name then ends the mention. A word within ``OTHER_PATRONYMIC_WINDOW_CHARS`` after
    it that carries a patronymic's suffix (any case, Russian or Kazakh) and does not begin like hers
    names the patronymic the document gives that person (not past a label: "Мать: Иванова Мария\nОтец:
    Иванов Сергей Олегович" names her and her child's father).
    """
    if not patronymic:
        return search
    own = word_key(patronymic)[:PATRONYMIC_STEM_LETTERS]
    by_number = {page.number: page for page in pages}
    for mention in list(search.accepted):
        page = by_number.get(mention.page)
        if mention.patronymic not in ("absent", "unread") or page is None:
            continue
        following = [t for t in page.tokens if mention.end <= t.start < mention.end + OTHER_PATRONYMIC_WINDOW_CHARS
                     and ":" not in page.text[mention.end:t.start]]  # not past the next field's label
        if any(len(t.key) >= 7 and any(suffix in t.key[3:] for suffix in _PATRONYMIC_SUFFIXES)
               and Levenshtein.distance(t.key[:PATRONYMIC_STEM_LETTERS], own) > 1 for t in following):
            mention.accepted, mention.reason, mention.score = False, "patronymic_differs", 0.0
            search.accepted.remove(mention)
            search.near_misses.insert(0, mention)
    return search


def mark_unread_full_mentions(search: NameSearch, pages: list[PreparedPage], matcher: NameMatcher) -> NameSearch:
    """Her patronymic standing alone, outside every mention read, is a full mention whose surname and
    first name a pen stroke or a seal made unreadable ("ДЖенФай Жанры\nКайратовны" for "Абеновой
    Динары Кайратовны"): it is added to the near misses with its first name lost (``first_lost``).

    Initials alone that fit her ("Абенова Д.К.") then count for no one (``resolve_mentions``: the
    unread mention may be hers or a sister's the initials abbreviate, Дина or Динара Кайратовна). Only
    looked for when every mention of her is by initials; a patronymic right after her first name ("Дина
    Кайратовна", an address without the surname) is hers and is no such mention.
    """
    if matcher.patronymic is None or not search.accepted or any(
            m.pattern not in INITIALS_PATTERNS for m in search.accepted):
        return search
    read = [(m.page, m.start, m.end) for m in search.accepted + search.near_misses]
    for page in pages:
        for k, token in enumerate(page.tokens):
            if any(number == page.number and start <= token.start < end for number, start, end in read):
                continue
            if len(token.key) < 6 or matcher.patronymic.match_key(token.key) is None:
                continue
            if k > 0 and matcher.first.match_key(page.tokens[k - 1].key) is not None:
                continue
            search.near_misses.append(NameOccurrence(page.number, token.start, token.end, token.raw, "patronymic",
                                                     False, reason="name_unreadable", first_lost=token.key))
    return search


def resolve_mentions(search: NameSearch) -> NameSearch:
    """Decide whose each initials mention is before it counts for the applicant.

    Paperwork names one person several ways: in full in the body ("предоставить Ахметовой Динаре
    Ерлановне"), by initials in signature and acknowledgement lines ("Ахметова Д.Е."). Initials that fit
    the applicant (Ахметова Дина Ерлановна) are hers only when no full mention in the document names a
    different person with her surname whom they could abbreviate (Динара Ерлановна): then they are that
    person's, and they move to the near misses as ``initials_of_other_person``.

    OCR damages the full mention as often as any other line, so initials are not evidence for her
    either (they move to the near misses as ``initials_unconfirmed``, and a person looks) when the full
    mention they could abbreviate cannot be read as surely another person or as surely her
    (``_doubtful_full_mentions``): its first name matches hers only through letters OCR does not
    confuse ("Дана" read where she is Диана: her name damaged, or her sister Дана's), its first name
    was lost ("Орловой Владимировне": a stroke, a seal, a line break of two columns), the name is too
    damaged to match, or the other first name starts with a letter OCR confuses with her initial
    ("Лане" for a Д.), or its surname or patronymic may be hers damaged (``_maybe_hers_damaged``). Full mentions of the
    applicant are never reassigned.
    """
    others = [m for m in search.near_misses if m.other and m.reason in OTHER_PERSON_REASONS
              and not m.other.get("initials") and not _maybe_hers_damaged(m)]
    doubtful = _doubtful_full_mentions(search)
    if not others and not doubtful:
        return search
    accepted, reassigned = [], []
    for occurrence in search.accepted:
        owner = next((o for o in others if _abbreviates(occurrence, o)), None)
        if owner is not None:
            occurrence.accepted, occurrence.reason, occurrence.score = False, "initials_of_other_person", 0.0
            occurrence.other = dict(owner.other or {}, named_as=_short(owner.found))
            reassigned.append(occurrence)
            continue
        unsure = occurrence.pattern in INITIALS_PATTERNS and next(
            (o for o in others + doubtful if o is not occurrence and _may_abbreviate(occurrence, o)), None)
        if unsure:
            occurrence.accepted, occurrence.reason, occurrence.score = False, "initials_unconfirmed", 0.0
            occurrence.other = None
            reassigned.append(occurrence)
            continue
        accepted.append(occurrence)
    if not reassigned:
        return search
    misses = sorted(search.near_misses + reassigned,
                    key=lambda o: (o.reason not in ("initials_of_other_person", "initials_unconfirmed"),
                                   -o.score, o.page, o.start))
    return NameSearch(accepted, misses, search.surname_hits, search.given_names_hits)


def _abbreviates(short: NameOccurrence, full: NameOccurrence) -> bool:
    """True when the shorter mention ``short`` can stand for the person ``full`` names: initials
    ("Д.Е." for Динара Ерлановна), or the surname and first name without the patronymic ("Ахметову
    Нұрлану" for Ахметов Нұрлан Қанатұлы, whose patronymic is not the applicant's)."""
    other = full.other or {}
    first, patronymic = other.get("first", ""), other.get("patronymic", "")
    if short.pattern not in INITIALS_PATTERNS:  # the full mention has her first name, another patronymic
        return short.patronymic in ("absent", "unread") and full.reason in (
            "patronymic_differs", "patronymic_initial_differs")
    letters = [c for c in short.parts.get("initials", {}).get("found", "").split(".") if c]
    if not letters or not first or first[0] != letters[0]:
        return False
    return len(letters) < 2 or not patronymic or patronymic[0] == letters[1]


def _initials_unconfirmed(search: NameSearch) -> bool:
    """True when initials that fit the applicant were set aside only because the full mention beside
    them is in doubt (``resolve_mentions``): a reject on them is no clear reject, a person looks."""
    return any(m.reason == "initials_unconfirmed" for m in search.near_misses)


def _doubtful_full_mentions(search: NameSearch) -> list[NameOccurrence]:
    """Full mentions with the applicant's surname that may name her or another person: a first name
    matched only through letters OCR does not confuse (a near name: Дана/Диана), a first name lost
    (``NameOccurrence.first_lost``), or a name too damaged to match."""
    doubtful = [o for o in search.accepted if o.pattern not in INITIALS_PATTERNS
                and o.parts.get("first", {}).get("hard_edits")]
    doubtful += [m for m in search.near_misses if m.first_lost or (
        m.reason in ("too_many_ocr_errors", "ocr_errors_in_surname_and_first_name") and "first" in m.parts)
        or (m.other and m.reason in OTHER_PERSON_REASONS and not m.other.get("initials") and _maybe_hers_damaged(m))]
    return doubtful


def _maybe_hers_damaged(mention: NameOccurrence) -> bool:
    """True when a full mention naming another first name or patronymic may be hers damaged by OCR.

    Its surname read only through letters OCR does not confuse: a pen stroke across the line ("Побова
    Дуйтрия ИЙьича" for Попова Дмитрия Ильича) damages every part of her name alike, so the first name
    that differs is no sure sign of another person (a relative's or a namesake's surname is read as well
    as the line). Or its patronymic is a letter or two from hers (``other["near_hers"]``: "Сершкызы"
    for Серікқызы), which one OCR slip makes as easily as a namesake's patronymic does.
    """
    other = mention.other or {}
    surname_damaged = bool(mention.parts.get("surname", {}).get("hard_edits")) and not other.get("other_gender")
    return surname_damaged or bool(other.get("near_hers"))


def _may_abbreviate(short: NameOccurrence, full: NameOccurrence) -> bool:
    """True when initials ``short`` could stand for the person of the full mention ``full`` once OCR
    damage is allowed for: each letter read in ``full`` (its first name's, its patronymic's) is the
    initial's or one OCR confuses with it; a part not read fits any initial."""
    if full.page == short.page and full.start < short.end and short.start < full.end:
        return False
    letters = [c for c in short.parts.get("initials", {}).get("found", "").split(".") if c]
    if not letters:
        return False
    other = full.other or {}
    first = other.get("first", "") or ("" if full.first_lost else full.parts.get("first", {}).get("found", ""))
    patronymic = full.first_lost or other.get("patronymic", "") or full.parts.get("patronymic", {}).get("found", "")
    return _letter_fits(word_key(first)[:1], letters[0]) and (
        len(letters) < 2 or _letter_fits(word_key(patronymic)[:1], letters[1]))


def _letter_fits(found: str, initial: str) -> bool:
    return not found or found == initial or ocr_confusable(found, initial)


def other_person_named(search: NameSearch) -> Optional[NameOccurrence]:
    """The near miss that names another person with the applicant's surname (a relative, a namesake:
    another first name, patronymic or first initial, or the other gender's form of the surname).

    Initials say less than a first name: "П.С. Иванов" signing an order whose body lost the applicant's
    name to a stroke is no evidence the order is about someone else. A mention by other initials counts
    only when the applicant's surname appears nowhere else in the document.
    """
    others = [m for m in search.near_misses if m.other and m.reason in OTHER_PERSON_REASONS
              and (m.parts.get("surname", {}).get("cost", 1.0) <= 0.5 or m.other.get("other_gender"))
              and not m.other.get("near_hers")]
    for other in others:
        if not (other.other or {}).get("initials"):
            return other
        if all(any(o.page == hit.page and o.start <= hit.start < o.end for o in others)
               for hit in search.surname_hits):
            return other
    return None


def _identified_by_iin(search: NameSearch, iin: CheckResult) -> Optional[CheckResult]:
    """The name check passed on the applicant's IIN, when the name itself could not be read in full.

    An IIN equal to the applicant's (checksum valid: it is hers as printed, not a misreading) is the
    strongest identifier a document carries. With it, a surname of hers in the document is enough (a
    seal or a signature across the first name, one misread letter in the patronymic). Where the
    document seems to name another first name with her surname (a seal turns "Дине" into "Дпе" as
    easily as a relative's name would stand there) or her surname is not found at all, the verdict
    stands on the IIN and a person must look (``name_conflicts`` / ``name_not_read``).
    """
    if iin.detail.get("status") != "found" or iin.detail.get("digits_misread", 1) != 0:
        return None
    other = other_person_named(search)
    hit = search.surname_hits[0] if search.surname_hits else None
    detail: dict = {"pattern": "iin", "identified_by": "iin_and_surname" if hit else "iin_only",
                    "case": "mixed", "exact": False, "ocr_cost": hit.cost if hit else None}
    if other is not None:
        detail["near_miss"] = {"reason": other.reason, "pattern": other.pattern, "page": other.page}
        detail["conflicting"] = other.reason in ("first_name_differs", "initials_of_other_person")
    if hit is None:
        return CheckResult(matched=True, score=0.6, page=iin.page, snippet=None, detail=detail)
    return CheckResult(matched=True, score=round(0.92 - 0.04 * hit.cost, 4), page=hit.page,
                       snippet=_short(other.found) if other else None, detail=detail)


def _weigh_name_against_foreign_iin(name: CheckResult, iin: CheckResult, readable: CheckResult) -> None:
    """Weak name evidence against a stranger's IIN: the IIN wins.

    When the applicant's IIN is nowhere and a valid IIN of someone else stands where no readable name
    claims it, the document may well be about that IIN's owner: the body's full name was lost to a stamp
    or a poor photo ("… о ж ууакан, Юрьевны (ИИН № 0002…)") while the initials in the acknowledgement
    line fit both, or a poor reading cannot tell whose name the IIN follows. With the applicant named
    only by initials, or on a poorly read page, the IIN becomes a contradiction.
    """
    confidence = readable.detail.get("mean_ocr_confidence")
    poor_reading = confidence is not None and confidence < CLEAR_READING_CONFIDENCE
    if iin.detail.get("status") != "absent" or not (name.detail.get("initials_only") or poor_reading):
        return
    foreign = [d for d in iin.detail.get("doubtful_iins", []) if d["owner"] == "nobody" and not d.get("unreadable")]
    if not foreign:
        return
    remaining = [d for d in iin.detail["doubtful_iins"] if d not in foreign]
    if remaining:
        iin.detail["doubtful_iins"] = remaining
    else:
        del iin.detail["doubtful_iins"]
    against = "initials_only" if name.detail.get("initials_only") else "poor_reading"
    iin.detail.update(status="mismatch", contradicting=[dict(d, against=against) for d in foreign])
    iin.matched, iin.score, iin.page, iin.snippet = False, 0.0, foreign[0]["page"], f"ИИН {foreign[0]['iin']}"


def _uncorroborated_repairs(name: CheckResult, iin: CheckResult, readable: CheckResult) -> CheckResult:
    """A name found only through repairs, with no IIN of hers to confirm it, is not hers: the name
    check fails and a person looks (``fuzzy_name``).

    A letter lost, added or changed for one OCR does not confuse it with is how near-namesakes differ
    (Диана/Дана, Ахметова/Ахмедова); her IIN beside such a name settles it, its absence does not. On a
    poor reading (mean OCR confidence under ``POOR_READING_CONFIDENCE``) even a slip OCR makes in a
    first name cannot tell two first names a letter apart: "Марин»" is as much Марине, a namesake's, as
    Марии, hers. Near-namesakes named beside each other (sisters, colleagues) share the surname, so a
    surname with one OCR slip on a poor photo stays hers.
    """
    if iin.detail.get("status") in ("found", "found_ocr_misread"):
        return name
    surname, first = (name.detail.get("parts", {}).get(part, {}) for part in ("surname", "first"))
    confidence = readable.detail.get("mean_ocr_confidence")
    poor_reading = confidence is not None and confidence < POOR_READING_CONFIDENCE
    if not (surname.get("hard_edits") or first.get("hard_edits") or (poor_reading and first.get("cost"))):
        return name
    detail = dict(name.detail, uncorroborated=True)
    return CheckResult(matched=False, score=round(name.score * 0.5, 4), page=name.page, snippet=name.snippet,
                       detail=detail)


def _patronymic_unread(name: CheckResult, iin: CheckResult, readable: CheckResult, search: NameSearch,
                       pages: list[PreparedPage]) -> CheckResult:
    """Her surname and first name with an unreadable word where the patronymic stands, on a reading
    that is not clear, and nothing else of her (her patronymic, its initial, her IIN) are not hers: the
    name check fails and a person looks (``patronymic_unread``).

    Surname and first name are shared by namesakes far more often than the full name is (Иванова
    Мария): the patronymic is what tells them apart, and OCR that garbles it ("Ивановой Марии
    Сариветчы", a photo of Мария Сергеевна's order) leaves no way to tell hers from another's. A clear
    reading reads a patronymic as one (``patronymic_differs``); a word it reads there is the next
    column's ("Есенов Жандос Настоящая": a bilingual page read across), not a patronymic. So is a common
    word of such documents however poorly read ("Настояшая").
    """
    confidence = readable.detail.get("mean_ocr_confidence")
    if (name.matched is False or iin.detail.get("status") != "absent"
            or confidence is None or confidence >= CLEAR_READING_CONFIDENCE):
        return name
    by_number = {page.number: page for page in pages}
    if not any(m.patronymic == "unread" and not _common_word_ends(m, by_number.get(m.page)) for m in search.accepted) \
            or any(m.patronymic in ("matched", "initial") for m in search.accepted):
        return name
    detail = dict(name.detail, patronymic_unread=True)
    return CheckResult(matched=False, score=round(name.score * 0.5, 4), page=name.page, snippet=name.snippet,
                       detail=detail)


def _common_word_ends(mention: NameOccurrence, page: Optional[PreparedPage]) -> bool:
    """True when the last word of ``mention`` is one of ``_COMMON_WORDS`` (5+ letters) or one OCR slip
    or two from it."""
    last = next((t for t in reversed(page.tokens) if t.end <= mention.end), None) if page else None
    return last is not None and any(
        len(word) >= 5 and Levenshtein.distance(word, last.key, score_cutoff=2) <= 2 for word in _COMMON_WORDS)


def _name_check(search: NameSearch, forms) -> CheckResult:
    best = search.best
    if best is None:
        detail = {"forms_tried": len(forms.surname) + len(forms.first) + len(forms.patronymic),
                  "gender": _gender_label(forms.female), "gender_source": forms.gender_source}
        miss = search.near_misses[0] if search.near_misses else None
        if miss is not None:
            detail["near_miss"] = {"reason": miss.reason, "pattern": miss.pattern, "page": miss.page}
            if (miss.other or {}).get("near_hers"):
                detail["near_miss"]["near_hers"] = True
            return CheckResult(matched=False, score=miss.score, page=miss.page, snippet=_short(miss.found),
                               detail=detail)
        if search.given_names_hits:
            given = search.given_names_hits[0]
            return CheckResult(matched=False, score=0.0, page=given.page, snippet=_short(given.found), detail=detail)
        return CheckResult(matched=False, score=0.0, detail=detail)
    expected = " ".join(p["form"] for name, p in best.parts.items() if "form" in p)
    detail = {
        "pattern": best.pattern, "case": best.case, "form": expected, "exact": best.exact,
        "ocr_cost": best.cost, "hard_edits": best.hard_edits, "patronymic": best.patronymic,
        "parts": {name: {"form": part.get("form"), "variant": part.get("variant"), "cost": part.get("cost"),
                         "hard_edits": part.get("hard_edits"),
                         "case": best.case if best.case in part.get("cases", ()) else part.get("case")}
                  for name, part in best.parts.items() if "form" in part},
        "mentions": len(search.accepted), "gender": _gender_label(forms.female),
        "initials_only": all(o.pattern in INITIALS_PATTERNS for o in search.accepted),
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
        "relative_of_subject": "the surname is there in a relative named beside the person the document is about",
        "initials_of_other_person": "the initials there abbreviate another person named in full",
        "initials_unconfirmed": "the initials there may abbreviate another person: the full name beside them is "
                                "not surely hers",
        "too_many_ocr_errors": "a similar name is there, too different to be OCR noise",
        "ocr_errors_in_surname_and_first_name": "a similar name is there, too different to be OCR noise",
    }
    miss = search.near_misses[0]
    if miss.reason == "first_name_differs" and not miss.other:
        return " (the surname is there, the word beside it too damaged to tell whose first name it is)"
    if (miss.other or {}).get("near_hers"):
        return " (the surname and first name are there with a patronymic a letter or two from hers)"
    return f" ({reasons.get(miss.reason, miss.reason)})"


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
_PARTIAL_DIGITS_RE = re.compile(r"[\s:;№.,]*([0-9OoОоIl|ЗзБб!](?:[ .\-]?[0-9OoОоIl|ЗзБб!]){5,15})(?![\w])")
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


def _unread_iin_labels(page: PreparedPage) -> int:
    """IIN labels ("ИИН", "ЖСН"; not "ИИН/БИН") with no number read after them: a printed IIN that OCR
    lost (a form's boxed field, a stamp over it) or garbled beyond a number ("ИИН:\n907 1646 90/2" on a
    hard photo: nine digits, a slash)."""
    folded = fold(page.text)
    numbers = find_numbers(page.text)
    unread = 0
    for label in _IIN_LABEL_RE.finditer(folded):
        window = (label.end(), label.end() + UNREAD_LABEL_CHARS)
        if re.match(r"\s*/\s*(?:бин|бсн)", folded[window[0]:window[1]]):
            continue
        if _LABELLED_DIGITS_RE.match(page.text, label.end()) is None and not any(
                window[0] <= number.start < window[1] for number in numbers):
            unread += 1
    return unread


def _iin_check(pages: list[PreparedPage], applicant: Applicant, search: NameSearch,
               matcher: NameMatcher) -> CheckResult:
    own: list[tuple[FoundNumber, int, int]] = []  # number, page, digits misread
    others: list[tuple[FoundNumber, PreparedPage]] = []
    unreadable: list[tuple[FoundNumber, PreparedPage]] = []
    garbled: list[tuple[FoundNumber, PreparedPage]] = []
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
            elif any(_overlaps(number, label) for label in labelled):
                continue
            elif _garbled_iin(number):
                garbled.append((number, page))  # an IIN the OCR garbled (its label too, often): whose?
            else:
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

    contradicting: list[dict[str, Any]] = []
    attributed: list[dict[str, Any]] = []
    doubtful: list[dict[str, Any]] = []
    apart: list[dict[str, Any]] = []  # other people's valid IINs without a label before them
    for number, page in [] if own else garbled:
        if _owner(number, page, search, matcher, applicant_iin_present=bool(own)) == "applicant":
            entry = {"iin": mask_iin(number.number), "page": page.number, "owner": "applicant", "unreadable": True}
            if _blurred_copy_of(number.number, applicant.iin):
                doubtful.append(entry)
            else:  # printed in IIN groups beside her name, far from hers: another person's, misread
                contradicting.append(entry | {"uncertain": True})
        else:
            ignored["invalid"] += 1
    for number, page in others + unreadable:
        hers_misread = number.kind == "labelled" and _blurred_copy_of(number.number, applicant.iin)
        if own and hers_misread:
            ignored["invalid"] += 1  # another, worse reading of her IIN
            continue
        owner = _owner(number, page, search, matcher, applicant_iin_present=bool(own),
                       her_iins=[n for n, on_page, misread in own if on_page == page.number and not misread])
        entry = {"iin": mask_iin(number.number), "page": page.number, "owner": owner}
        if number.kind == "labelled":
            entry["unreadable"] = True
            if page.source == "ocr" and page.mean_confidence < REVIEW_OCR_CONFIDENCE:
                entry["uncertain"] = True
        if _ocr_copy_of(number.number, applicant.iin) is not None:
            entry["close_to_applicant_iin"] = True
        if owner not in ("applicant", "nobody"):
            if number.kind == "iin" and not _label_before(number, page):
                apart.append(entry)  # its "ИИН" label may be elsewhere: a table read column by column
            attributed.append(entry)
        elif owner == "nobody" or hers_misread:
            doubtful.append(entry)
        else:
            contradicting.append(entry)
    if any(d.get("unreadable") and d["owner"] == "applicant" for d in doubtful):
        # her IIN printed twice (a bilingual certificate) and read two ways, one of them her blurred copy:
        # the other reading, failing its checksum too, is the same number worse read, not a namesake's
        doubtful += [c for c in contradicting if c.get("unreadable")]
        contradicting = [c for c in contradicting if not c.get("unreadable")]

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
    if not doubtful and (unread := sum(_unread_iin_labels(page) for page in pages)):
        if apart:
            # an IIN label with no number after it, and a valid IIN with no label before it: a table read
            # column by column (labels, then values) put them apart, and the document's IIN is that one
            remaining = [a for a in attributed if a not in apart]
            if remaining:
                detail["other_people_iins"] = remaining
            else:
                del detail["other_people_iins"]
            detail.update(status="mismatch", contradicting=[dict(a, against="label_apart") for a in apart])
            return CheckResult(matched=False, score=0.0, page=apart[0]["page"], snippet=f"ИИН {apart[0]['iin']}",
                               detail=detail)
        detail["unread_labels"] = unread
        partly_read = [{"iin": mask_iin(number), "page": page.number}
                       for page in pages for number in _partly_read_iins(page, applicant.iin)]
        if partly_read:
            detail["partly_read"] = partly_read
    return CheckResult(matched=False, score=0.5, detail=detail)


def _label_before(number: FoundNumber, page: PreparedPage) -> bool:
    """True when an IIN label ("ИИН", "ЖСН") stands within ``UNREAD_LABEL_CHARS`` before ``number``."""
    return _IIN_LABEL_RE.search(fold(page.text[max(0, number.start - UNREAD_LABEL_CHARS): number.start])) is not None


def _blurred_copy_of(number: str, iin: str) -> bool:
    """True when a number that fails the checksum is her IIN with at most 5 of its 12 digits changed
    (a digit gained or lost counts as one): her IIN with blur-merged digits (3/2, 6/0, 8/1 …), not a
    namesake's, whose birth date and serial differ in 9-10 places. A labelled number beside her name
    that is not her blurred copy is another person's IIN misread: a reject, sent to review when the
    page reads poorly."""
    return abs(len(number) - len(iin)) <= 1 and Levenshtein.distance(number, iin) <= MAX_DIGITS_BLURRED


def _partly_read_iins(page: PreparedPage, iin: str) -> list[str]:
    """Numbers of ``PARTIAL_IIN_DIGITS`` to 11 digits after an IIN label that are her IIN with digits
    lost and none changed ("ИИН № 78120245 7" for 781202453297: ink over the line): her birth date and
    the digits after it, in order. Another person's IIN agrees with hers that far only when born the
    same day (a twin): such a number proves nothing either way, but a reject that ignores it is no
    clear reject."""
    folded = fold(page.text)
    found = []
    for label in _IIN_LABEL_RE.finditer(folded):
        digits = _PARTIAL_DIGITS_RE.match(page.text, label.end())
        if digits is None:
            continue
        number = re.sub(r"\D", "", digits.group(1).translate(DIGIT_LOOKALIKES))
        if PARTIAL_IIN_DIGITS <= len(number) < len(iin) and \
                Levenshtein.distance(number, iin) == len(iin) - len(number):
            found.append(number)
    return found


def _garbled_iin(number: FoundNumber) -> bool:
    """A 12-digit run that fails the checksum and reads like a printed IIN: digits (10 or more real ones)
    in one run or in groups split by spaces, not a BIN. Dots and dashes mean a date or a document number
    glued to its neighbour ("№ 172-0 08.08.2023"); so does a whole date among the digits, its dots lost
    ("№ 367-к/о 12.03.2025" read "о 71112032025")."""
    return (number.kind == "invalid" and not is_bin(number.number) and not re.search(r"[.\-]", number.raw)
            and sum(c.isdigit() for c in number.raw) >= 10 and not _GLUED_DATE_RE.search(number.number))


# day, month and a four-digit year of 1950-2039 run together: a date that lost its dots
_GLUED_DATE_RE = re.compile(r"(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])(?:19[5-9]\d|20[0-3]\d)")


def _overlaps(a: FoundNumber, b: FoundNumber) -> bool:
    return a.start < b.end and b.start < a.end


def _owner(number: FoundNumber, page: PreparedPage, search: NameSearch, matcher: NameMatcher,
           applicant_iin_present: bool, her_iins: Sequence[FoundNumber] = ()) -> str:
    """Whose valid IIN this is: 'applicant', 'other' (another person or a relation), 'employer' (an
    individual entrepreneur's IIN serving as the employer's BIN) or 'nobody'.

    Mentions made only of her name's parts (torn apart by a two-column reading) count as hers. A person
    has one IIN: a mention of hers with her own IIN (``her_iins``, exact, on this page) between it and
    the number does not claim the number ("Жаксылыкова Серика, ИИН <hers>, … ИИН <another>": the
    spouse's line whose name OCR lost)."""
    applicant_spans = [(o.start, o.end) for o in search.accepted if o.page == page.number]
    other_spans = []
    for span in find_person_mentions(page):
        if any(span[0] < a_end and a_start < span[1] for a_start, a_end in applicant_spans):
            continue
        if applicant_spans and matcher.could_be_applicant(page, *span):
            applicant_spans.append(span)
        else:
            other_spans.append(span)
    candidates: list[tuple[float, str, tuple[int, int]]] = []
    for owner, spans in (("applicant", applicant_spans), ("other", other_spans)):
        for start, end in spans:
            if owner == "applicant" and any(min(end, number.end) <= own.start and own.end <= max(start, number.start)
                                            for own in her_iins):
                continue  # her own IIN stands between her name and this number
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
        # a relation labelling the number's line ("Супруга работника: <name OCR garbled>, ИИН …")
        line_start = max(page.text.rfind("\n", 0, number.start) + 1, number.start - RELATION_LINE_CHARS)
        relation_start = max([min(window_start, line_start)] + preceding)
        if _stem_between(page, relation_start, number.start, _RELATION_STEMS) or applicant_iin_present:
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

# Which check records each review reason (``review_reasons(verdict)`` reads them back from there).
_REVIEW_REASON_CHECK = {
    "initials_only": "name", "fuzzy_name": "name", "patronymic_unverified": "name",
    "conflicting_mention": "name", "name_not_read": "name", "name_conflicts": "name", "initials_unconfirmed": "name",
    "surname_only": "name", "surname_unread": "name", "patronymic_unread": "name", "poor_reading": "readable",
    "iin_misread": "iin", "iin_possibly_misread": "iin", "iin_partly_read": "iin", "iin_unreadable": "iin",
    "iin_unattributed": "iin",
}
POOR_READING_CONFIDENCE = 60.0  # mean OCR confidence under which a missing name may be a misreading
CLEAR_READING_CONFIDENCE = 85.0  # above it, another person's name read where hers should be is no misreading


# reasons that say the name itself was not (fully) read: another reading may settle them
NAME_READING_REASONS = frozenset({"name_not_read", "name_conflicts", "surname_only", "surname_unread",
                                  "poor_reading", "patronymic_unread"})


def settled(verdict: Verdict) -> bool:
    """The evidence decides: an IIN contradiction or a refused document type; the name read (not only
    her IIN standing in for it); or the name absent while another person with her surname is named.
    A verdict that is not settled is worth a second reading (``engine.pipeline.second_look``)."""
    codes = set(verdict.error_codes)
    if codes & {ErrorCode.IIN_MISMATCH.value, ErrorCode.DOCUMENT_TYPE_NOT_ACCEPTED.value}:
        return True
    if NAME_READING_REASONS & set(verdict.review_reasons):
        return False
    if verdict.verdict:
        return True
    near_miss = verdict.checks["name"].detail.get("near_miss", {}) if "name" in verdict.checks else {}
    ocr_confidence = verdict.checks["readable"].detail.get("mean_ocr_confidence") if "readable" in verdict.checks \
        else None
    clear_reading = ocr_confidence is None or ocr_confidence >= CLEAR_READING_CONFIDENCE
    return (codes == {ErrorCode.NAME_NOT_FOUND.value} and near_miss.get("reason") in OTHER_PERSON_REASONS
            and not near_miss.get("near_hers") and clear_reading)


def name_glimpsed(verdict: Verdict) -> bool:
    """True when the reading saw something of the applicant's name without accepting it: her surname
    alone, her first name and patronymic alone, a mention too damaged to be surely hers, initials in
    doubt. A reject that glimpsed nothing of her (another person's document, no person at all) is as
    clear as its reading."""
    name = verdict.checks.get("name")
    return name is not None and bool(name.snippet or name.detail.get("near_miss")
                                     or {"surname_only", "surname_unread"} & set(verdict.review_reasons))


def review_reasons(verdict: Verdict) -> list[str]:
    """Why ``verdict.review_required`` is set: the reasons recorded in its checks' details."""
    return [r for check in verdict.checks.values() for r in check.detail.get("review_reasons", [])]


def _review(verdict: bool, errors: list[dict[str, str]], readable: CheckResult, name: CheckResult,
            iin: CheckResult, search: NameSearch) -> list[str]:
    """The reasons a person must look at this document (none for a clear case either way).

    A bank staffs this queue, so a reason is raised only where the evidence can really be read both
    ways: the name is not corroborated by the applicant's IIN *and* is weak (initials alone, heavy OCR
    repairs, a patronymic the request cannot confirm, a namesake beside her), or the only evidence is
    her IIN, or a reject rests on a poor reading (text OCR could not read, a hard phone photo) or on an
    IIN one OCR digit from hers. A full name without an IIN, a relative named in full, an upload with no
    text on it are decided without a person.
    """
    reasons: list[str] = []
    codes = {e["code"] for e in errors}
    iin_found = iin.detail.get("status") in ("found", "found_ocr_misread")
    if verdict:
        identified_by = name.detail.get("identified_by")
        if identified_by == "iin_only":
            reasons.append("name_not_read")
        elif identified_by == "iin_and_surname" and name.detail.get("conflicting"):
            reasons.append("name_conflicts")
        if not iin_found:
            if name.detail.get("initials_only"):
                reasons.append("initials_only")
            fuzzy = name.detail.get("hard_edits", 0) or name.detail.get("ocr_cost", 0) >= 1.0
            if not name.detail.get("exact", False) and fuzzy:
                reasons.append("fuzzy_name")
            if name.detail.get("patronymic") == "unverified":
                reasons.append("patronymic_unverified")
            if any(m.reason in ("patronymic_differs", "patronymic_initial_differs")
                   and m.parts.get("surname", {}).get("cost", 1) == 0 for m in search.near_misses):
                reasons.append("conflicting_mention")
        doubtful = iin.detail.get("doubtful_iins", [])
        if any(d["owner"] == "nobody" for d in doubtful) and iin.detail.get("status") != "found":
            reasons.append("iin_unattributed")
        if any(d["owner"] != "nobody" for d in doubtful) or iin.detail.get("unread_labels"):
            reasons.append("iin_unreadable")  # an IIN printed there that no one can read: a namesake's?
        if iin.detail.get("digits_misread", 0) >= 2 and not name.detail.get("exact", False):
            reasons.append("iin_misread")
    elif ErrorCode.UNREADABLE_DOCUMENT.value in codes:
        if _text_unread(readable):
            reasons.append("poor_reading")
    elif ErrorCode.IIN_MISMATCH.value in codes:
        contradicting = iin.detail.get("contradicting", [])
        if any(c.get("close_to_applicant_iin") for c in contradicting) or _misread_beside_her_name(
                contradicting, name, readable):
            reasons.append("iin_possibly_misread")
        if any(c.get("against") for c in contradicting):
            reasons.append("iin_unattributed")  # a stranger's IIN nobody's name claims decided it
        if any(c.get("uncertain") for c in contradicting):
            reasons.append("iin_unreadable")  # a checksum-failing number unlabelled or poorly read decided it
    elif name.detail.get("patronymic_unread"):
        reasons.append("patronymic_unread")
    elif name.detail.get("uncorroborated"):
        reasons.append("fuzzy_name")
    elif ErrorCode.NAME_NOT_FOUND.value in codes and iin.detail.get("partly_read"):
        reasons.append("iin_partly_read")
    elif ErrorCode.NAME_NOT_FOUND.value in codes and _initials_unconfirmed(search):
        reasons.append("initials_unconfirmed")
    elif ErrorCode.NAME_NOT_FOUND.value in codes and other_person_named(search) is None:
        ocr_confidence = readable.detail.get("mean_ocr_confidence")
        if name.detail.get("near_miss", {}).get("near_hers"):
            reasons.append("fuzzy_name")  # her name with a patronymic a letter or two from hers
        elif search.surname_hits:
            reasons.append("surname_only")
        elif search.given_names_hits:
            reasons.append("surname_unread")
        elif ocr_confidence is not None and ocr_confidence < POOR_READING_CONFIDENCE:
            reasons.append("poor_reading")
    return reasons


def _text_unread(readable: CheckResult) -> bool:
    """True when an unreadable page still holds text (``MIN_PLAUSIBLE_WORDS`` word-like readings): a
    hard phone photo of a document a person reads without effort, not a blank page or a photo of nothing."""
    return not readable.matched and readable.detail.get("plausible_words", 0) >= MIN_PLAUSIBLE_WORDS


def _misread_beside_her_name(contradicting: list[dict[str, Any]], name: CheckResult, readable: CheckResult) -> bool:
    """True when valid IINs contradict her exact full name on a reading that is not clear (mean OCR
    confidence under ``CLEAR_READING_CONFIDENCE``): one random misreading in eleven passes the checksum,
    so on a blurred photo her own IIN can come out as another valid one ("921027420022" for
    931027480088). A namesake's document reads the same, so the reject stands and a person compares.
    Numbers failing their checksum, or claimed by no name, have reasons of their own."""
    confidence = readable.detail.get("mean_ocr_confidence")
    return bool(name.matched and name.detail.get("exact") and confidence is not None
                and confidence < CLEAR_READING_CONFIDENCE
                and not any(c.get("against") or c.get("unreadable") for c in contradicting))


def _ocr_factor(readable: CheckResult) -> float:
    """How much a poor reading (mean OCR confidence) discounts the evidence: 1.0 from 75, 0.85 at 35."""
    confidence = readable.detail.get("mean_ocr_confidence")
    if confidence is None:
        return 1.0
    return max(0.85, min(1.0, 0.85 + 0.15 * (confidence - 35.0) / 40.0))


def _confidence(verdict: bool, errors: list[dict[str, str]], readable: CheckResult, name: CheckResult,
                iin: CheckResult, search: NameSearch) -> float:
    """How likely the verdict is right (either way), in 0..1, from the kind of evidence it rests on.

    Each kind of evidence has a base value (how often that kind was right on the development set of
    generated documents), discounted by the reading's OCR confidence; ``make evaluate`` reports the
    calibration (a confidence of 0.9 must mean right at least 99 % of the time).
    """
    codes = {e["code"] for e in errors}
    iin_status = iin.detail.get("status")
    if verdict:
        identified_by = name.detail.get("identified_by")
        if identified_by == "iin_only":
            value = 0.6
        elif identified_by == "iin_and_surname":
            value = 0.7 if name.detail.get("conflicting") else 0.95
        else:
            strength = name.score  # 1.0 for an exact full name, less for OCR repairs and initials
            if iin_status == "found":
                value = 0.97 + 0.03 * strength
            elif iin_status == "found_ocr_misread":
                value = 0.9 + 0.08 * strength
            elif name.detail.get("initials_only"):
                value = 0.75 * strength
            else:
                value = 0.96 * strength
            if iin_status == "absent" and (iin.detail.get("unread_labels") or any(
                    d["owner"] == "applicant" for d in iin.detail.get("doubtful_iins", []))):
                value = min(value, 0.8)  # an IIN printed there that no one can read: a namesake's?
    elif ErrorCode.UNREADABLE_DOCUMENT.value in codes:
        value = 0.85 if _text_unread(readable) else 0.95
    elif ErrorCode.IIN_MISMATCH.value in codes:
        contradicting = iin.detail.get("contradicting", [])
        close = any(c.get("close_to_applicant_iin") for c in contradicting)
        value = 0.6 if close else 0.8 if any(c.get("against") or c.get("uncertain") for c in contradicting) \
            else 0.7 if _misread_beside_her_name(contradicting, name, readable) else 0.96
    elif name.detail.get("uncorroborated") or name.detail.get("patronymic_unread"):
        value = 0.6
    elif ErrorCode.NAME_NOT_FOUND.value in codes:
        if iin.detail.get("partly_read"):
            value = 0.6
        elif _initials_unconfirmed(search):
            value = 0.7
        elif other_person_named(search) is not None:
            value = 0.97
        elif search.surname_hits or search.near_misses or search.given_names_hits:
            value = 0.7
        else:
            value = 0.95
    else:
        value = 0.9
    return round(max(0.0, min(1.0, value * _ocr_factor(readable))), 4)
