#!/usr/bin/env python
"""Accuracy of the engine on a deterministic set of generated documents.

The set (about 190 documents, fixed seed, built in memory, nothing written to the repository) mixes
every document type, degradation (clean, scan, skew both signs, rot90/180/270, phone photos, 150 DPI),
name case, PDF container (scanned, text layer, name only on page 2) and the negatives (another person,
a relative, a namesake with another IIN, another patronymic, a page naming nobody, unreadable uploads).

    .venv/bin/python bench/evaluate.py                      # full set, 2 workers
    .venv/bin/python bench/evaluate.py --limit 40 --workers 1
    .venv/bin/python bench/evaluate.py --baseline --markdown --json /tmp/eval.json

``--baseline`` also runs the naive approach (Tesseract CLI on the raw image, exact search of the
nominative full name) on the same documents. Exit status 0 when the targets are met (>= 97 % correct,
no false accept, >= 95 % on photos and on rotated pages), 1 otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections import defaultdict  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr_pipeline.engine.models import Applicant  # noqa: E402
from ocr_pipeline_tests import docgen  # noqa: E402

SET_SEED = 20240611
POSITIVE_DEGRADATIONS = ("clean", "scan", "skew+", "skew-", "rot90", "rot180", "rot270", "photo", "dpi150")
NEGATIVE_DEGRADATIONS = ("clean", "scan", "photo", "skew-", "rot90", "dpi150", "skew+", "rot180", "photo")
FULL_CASES = ("nom", "gen", "dat", "acc", "ins")
PHOTO_CONDITIONS = ("photo", "photo_exif")
ROTATED_CONDITIONS = ("rot90", "rot180", "rot270")
EXPECTED_CODE = {
    "positive": None,
    "other_person": "NAME_NOT_FOUND",
    "relative": "NAME_NOT_FOUND",
    "other_patronymic": "NAME_NOT_FOUND",
    "no_person": "NAME_NOT_FOUND",
    "namesake": "IIN_MISMATCH",
    "unreadable": "UNREADABLE_DOCUMENT",
    "blank_photo": "UNREADABLE_DOCUMENT",
    "nothing": "UNREADABLE_DOCUMENT",
}


@dataclass(frozen=True)
class Spec:
    """One generated document: how to build it and what the engine should answer."""

    id: str
    group: str                      # "positive" or the kind of negative
    doc_type: str
    applicant: str                  # key of the person whose request it is
    subject: Optional[str]          # key of the person the document is about (None: nobody)
    name_case: str
    degradation: str
    container: str = "image"        # image | pdf_scan | pdf_scan_p2 | pdf_text | pdf_text_p2
    include_iin: bool = True
    extra: tuple[str, ...] = ()
    seed: int = 0

    @property
    def expected(self) -> bool:
        return self.group == "positive"

    @property
    def expected_code(self) -> Optional[str]:
        return EXPECTED_CODE[self.group]

    @property
    def condition(self) -> str:
        """The degradation, or the PDF container for PDFs."""
        return self.degradation if self.container == "image" else self.container


def _subject(spec: Spec) -> Optional[docgen.Person]:
    if spec.subject is None:
        return None
    if spec.subject.endswith("_namesake"):
        return docgen.namesake_of(docgen.PEOPLE[spec.subject[: -len("_namesake")]], spec.seed)
    return docgen.person_by_key(spec.subject)


def build_upload(spec: Spec) -> tuple[bytes, Applicant]:
    """The uploaded bytes and the request's applicant for one spec."""
    applicant = docgen.PEOPLE[spec.applicant].applicant()
    if spec.group == "nothing":
        return docgen.photo_of_nothing(spec.seed), applicant
    if spec.group == "blank_photo":
        return docgen.degrade(docgen.render_blank_page(spec.seed), "photo", spec.seed), applicant
    page = docgen.render_document(
        spec.doc_type, _subject(spec), name_case=spec.name_case, include_iin=spec.include_iin,
        extra_people=[docgen.PEOPLE[k] for k in spec.extra], seed=spec.seed,
    )
    if spec.container == "image":
        return docgen.degrade(page, spec.degradation, spec.seed), applicant
    pages = [page]
    if spec.container.endswith("_p2"):
        pages.insert(0, docgen.render_document("cover_letter", None, seed=spec.seed))
    if spec.container.startswith("pdf_text"):
        return docgen.to_pdf(pages, text_layer=True), applicant
    scanned = [docgen.degrade(p, spec.degradation, spec.seed + i) for i, p in enumerate(pages)]
    return docgen.to_pdf(scanned), applicant


def build_set(seed: int = SET_SEED) -> list[Spec]:
    """The deterministic evaluation set."""
    rng = random.Random(seed)
    people = list(docgen.PEOPLE.values())
    women = [p for p in people if p.female]
    specs: list[Spec] = []

    def person_for(doc_type: str) -> docgen.Person:
        return rng.choice(women if doc_type.startswith("maternity") else people)

    grid = [(t, d) for d in POSITIVE_DEGRADATIONS for t in docgen.DOC_TYPES] * 2
    cases = list(docgen.NAME_CASES) * (len(grid) // len(docgen.NAME_CASES) + 1)
    rng.shuffle(cases)
    for i, (doc_type, degradation) in enumerate(grid):
        person = person_for(doc_type)
        specs.append(Spec(f"pos-{i:03d}", "positive", doc_type, person.key, person.key, cases[i], degradation,
                          include_iin=rng.random() < 0.8, seed=seed + i))

    extra_positive = (
        [("pdf_scan", "scan")] * 2 + [("pdf_scan", "photo")] * 2 + [("pdf_scan_p2", "scan")] * 4
        + [("pdf_text", "clean")] * 3 + [("pdf_text_p2", "clean")] * 3 + [("image", "photo_exif")] * 4
    )
    for i, (container, degradation) in enumerate(extra_positive):
        doc_type = docgen.DOC_TYPES[i % len(docgen.DOC_TYPES)]
        person = person_for(doc_type)
        specs.append(Spec(f"pos-{container}-{i:02d}", "positive", doc_type, person.key, person.key,
                          rng.choice(docgen.NAME_CASES), degradation, container, rng.random() < 0.7,
                          seed=seed + 500 + i))
    for i in range(4):
        doc_type = ("maternity_order", "childcare_order", "dismissal_order", "maternity_order_kk")[i]
        person = person_for(doc_type)
        others = [p.key for p in rng.sample(people, 3) if p.last_name != person.last_name][: 1 + i % 2]
        specs.append(Spec(f"pos-multi-{i:02d}", "positive", doc_type, person.key, person.key,
                          rng.choice(FULL_CASES), ("clean", "scan", "photo", "skew-")[i], extra=tuple(others),
                          include_iin=True, seed=seed + 600 + i))

    negative_index = 0

    def negative(group: str, doc_type: str, applicant: str, subject: Optional[str], name_case: str,
                 include_iin: bool) -> None:
        nonlocal negative_index
        degradation = NEGATIVE_DEGRADATIONS[negative_index % len(NEGATIVE_DEGRADATIONS)]
        specs.append(Spec(f"neg-{group}-{negative_index:02d}", group, doc_type, applicant, subject, name_case,
                          degradation, include_iin=include_iin, seed=seed + 1000 + negative_index))
        negative_index += 1

    def any_doc_type(person: docgen.Person) -> str:
        return rng.choice([t for t in docgen.DOC_TYPES if person.female or not t.startswith("maternity")])

    for i in range(8):
        applicant = rng.choice(people)
        other = rng.choice([p for p in people if p.last_name[:4] != applicant.last_name[:4]])
        negative("other_person", any_doc_type(other), applicant.key, other.key, rng.choice(docgen.NAME_CASES),
                 i % 2 == 0)
    pairs = [(key, relative) for key, group in docgen.RELATIVES.items() for relative in group]
    for i in range(10):
        key, relative = pairs[i % len(pairs)]
        allowed = [c for c in docgen.NAME_CASES
                   if c in FULL_CASES or not docgen.initials_collide(relative, docgen.PEOPLE[key])]
        negative("relative", any_doc_type(relative), key, relative.key, rng.choice(allowed), i % 3 == 2)
    for i in range(8):
        applicant = rng.choice(people)
        negative("namesake", any_doc_type(applicant), applicant.key, f"{applicant.key}_namesake",
                 rng.choice(docgen.NAME_CASES), True)
    keys = list(docgen.OTHER_PATRONYMIC)
    for i in range(6):
        key = keys[i % len(keys)]
        other = docgen.OTHER_PATRONYMIC[key]
        negative("other_patronymic", any_doc_type(other), key, other.key, rng.choice(FULL_CASES), False)
    for i in range(5):
        negative("no_person", docgen.NO_PERSON_DOC_TYPES[i % 2], rng.choice(people).key, None, "nom", False)
    for i in range(4):
        applicant = rng.choice(people)
        specs.append(Spec(f"neg-unreadable-{i:02d}", "unreadable", any_doc_type(applicant), applicant.key,
                          applicant.key, "dat", "unreadable", seed=seed + 1100 + i))
    for i in range(2):
        specs.append(Spec(f"neg-blank_photo-{i:02d}", "blank_photo", "cover_letter", rng.choice(people).key,
                          None, "nom", "photo", seed=seed + 1200 + i))
        specs.append(Spec(f"neg-nothing-{i:02d}", "nothing", "cover_letter", rng.choice(people).key,
                          None, "nom", "photo", seed=seed + 1300 + i))
    return specs


# ------------------------------------------------------------------------------------------ running

@dataclass
class Outcome:
    id: str
    verdict: Optional[bool] = None
    codes: list[str] = field(default_factory=list)
    document_type: str = ""
    confidence: float = 0.0
    review_required: bool = False
    seconds: float = 0.0
    pages: int = 0
    name_snippet: Optional[str] = None
    crash: Optional[str] = None
    baseline: Optional[bool] = None
    baseline_seconds: float = 0.0


def _run_engine(spec: Spec) -> Outcome:
    outcome = Outcome(spec.id)
    try:
        from ocr_pipeline.engine.pipeline import verify_document

        data, applicant = build_upload(spec)
        started = time.perf_counter()
        verdict = verify_document(data, applicant)
        outcome.seconds = time.perf_counter() - started
        outcome.verdict = verdict.verdict
        outcome.codes = verdict.error_codes
        outcome.document_type = verdict.document_type
        outcome.confidence = verdict.confidence
        outcome.review_required = verdict.review_required
        outcome.pages = verdict.pages
        name_check = verdict.checks.get("name")
        outcome.name_snippet = name_check.snippet if name_check else None
    except Exception:  # a crash is a result too: it is reported, never hidden
        outcome.crash = traceback.format_exc(limit=6)
    return outcome


def _baseline_pages(data: bytes) -> list:
    from PIL import Image

    if data.startswith(b"%PDF"):
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(data)
        return [document[i].render(scale=300 / 72).to_pil() for i in range(len(document))]
    image = Image.open(io.BytesIO(data))
    image.load()
    return [image]


def _normalise(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())


def _run_baseline(spec: Spec) -> tuple[bool, float]:
    """Tesseract CLI on the raw pages, then an exact search of the nominative full name."""
    data, applicant = build_upload(spec)
    started = time.perf_counter()
    name = _normalise(" ".join(filter(None, (applicant.last_name, applicant.first_name, applicant.second_name))))
    text = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, page in enumerate(_baseline_pages(data)):
            path = Path(tmp, f"page{number}.png")
            page.convert("RGB").save(path)
            result = subprocess.run(["tesseract", str(path), "stdout", "-l", "rus+kaz"], capture_output=True,
                                    text=True, timeout=120, env={**os.environ, "OMP_THREAD_LIMIT": "1"})
            text.append(result.stdout)
    return name in _normalise("\n".join(text)), time.perf_counter() - started


def _run(args: tuple[Spec, bool]) -> Outcome:
    spec, with_baseline = args
    outcome = _run_engine(spec)
    if with_baseline:
        try:
            outcome.baseline, outcome.baseline_seconds = _run_baseline(spec)
        except Exception:
            outcome.baseline = False
    return outcome


# ------------------------------------------------------------------------------------------ reporting

def _correct(spec: Spec, outcome: Outcome) -> bool:
    return outcome.crash is None and outcome.verdict == spec.expected


def _code_right(spec: Spec, outcome: Outcome) -> bool:
    if outcome.crash is not None:
        return False
    if spec.expected_code is None:
        return not outcome.codes
    return spec.expected_code in outcome.codes


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}" if whole else "-"


def _table(title: str, key, specs: list[Spec], outcomes: dict[str, Outcome], baseline: bool,
           only=None) -> list[str]:
    rows = defaultdict(list)
    for spec in specs:
        if only is None or only(spec):
            rows[key(spec)].append(spec)
    header = ["", "n", "correct %", "right code %"] + (["baseline %"] if baseline else [])
    lines = [f"\n{title}", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in sorted(rows, key=str):
        group = rows[name]
        cells = [str(name), str(len(group)),
                 _percent(sum(_correct(s, outcomes[s.id]) for s in group), len(group)),
                 _percent(sum(_code_right(s, outcomes[s.id]) for s in group), len(group))]
        if baseline:
            cells.append(_percent(sum(outcomes[s.id].baseline == s.expected for s in group), len(group)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarise(specs: list[Spec], outcomes: dict[str, Outcome], baseline: bool) -> dict:
    """Totals, rates and the targets' status."""
    n = len(specs)
    correct = sum(_correct(s, outcomes[s.id]) for s in specs)
    false_accepts = [s.id for s in specs if not s.expected and outcomes[s.id].verdict is True]
    false_rejects = [s.id for s in specs if s.expected and outcomes[s.id].verdict is not True]
    crashes = [s.id for s in specs if outcomes[s.id].crash]
    times = [outcomes[s.id].seconds for s in specs if outcomes[s.id].crash is None]

    def rate(condition) -> Optional[float]:
        group = [s for s in specs if condition(s)]
        return 100.0 * sum(_correct(s, outcomes[s.id]) for s in group) / len(group) if group else None

    summary = {
        "documents": n,
        "correct": correct,
        "accuracy_percent": round(100.0 * correct / n, 2) if n else None,
        "false_accepts": false_accepts,
        "false_rejects": false_rejects,
        "crashes": crashes,
        "right_code_percent": round(100.0 * sum(_code_right(s, outcomes[s.id]) for s in specs) / n, 2) if n else None,
        "photo_accuracy_percent": rate(lambda s: s.condition in PHOTO_CONDITIONS),
        "rotated_accuracy_percent": rate(lambda s: s.condition in ROTATED_CONDITIONS),
        "seconds_median": round(statistics.median(times), 3) if times else None,
        "seconds_p95": round(_quantile(times, 0.95), 3) if times else None,
        "seconds_max": round(max(times), 3) if times else None,
        "document_type_right_percent": None,
    }
    positives = [s for s in specs if s.expected and outcomes[s.id].crash is None]
    if positives:
        typed = sum(outcomes[s.id].document_type == docgen.ENGINE_DOCUMENT_TYPE[s.doc_type] for s in positives)
        summary["document_type_right_percent"] = round(100.0 * typed / len(positives), 1)
    if baseline:
        summary["baseline_accuracy_percent"] = round(
            100.0 * sum(outcomes[s.id].baseline == s.expected for s in specs) / n, 2) if n else None
    summary["targets_met"] = bool(
        summary["accuracy_percent"] is not None and summary["accuracy_percent"] >= 97.0 and not false_accepts
        and (summary["photo_accuracy_percent"] is None or summary["photo_accuracy_percent"] >= 95.0)
        and (summary["rotated_accuracy_percent"] is None or summary["rotated_accuracy_percent"] >= 95.0)
    )
    return summary


def report(specs: list[Spec], outcomes: dict[str, Outcome], summary: dict, baseline: bool) -> str:
    lines = [
        f"documents: {summary['documents']}   correct: {summary['correct']} ({summary['accuracy_percent']} %)"
        f"   right error code: {summary['right_code_percent']} %",
        f"false accepts: {len(summary['false_accepts'])}   false rejects: {len(summary['false_rejects'])}"
        f"   crashes: {len(summary['crashes'])}",
        f"photos: {summary['photo_accuracy_percent']} %   rotated: {summary['rotated_accuracy_percent']} %"
        f"   document type right (positives): {summary['document_type_right_percent']} %",
        f"seconds per document: median {summary['seconds_median']}, p95 {summary['seconds_p95']},"
        f" max {summary['seconds_max']}",
    ]
    if baseline:
        lines.append(f"baseline (Tesseract CLI + exact nominative name): {summary['baseline_accuracy_percent']} %")
    lines.append(f"targets (>= 97 %, no false accept, >= 95 % photos and rotated): "
                 f"{'MET' if summary['targets_met'] else 'NOT MET'}")
    lines += _table("By condition (degradation or PDF container)", lambda s: s.condition, specs, outcomes, baseline)
    lines += _table("By kind (positive / negative kinds)", lambda s: s.group, specs, outcomes, baseline)
    lines += _table("By document type", lambda s: s.doc_type, specs, outcomes, baseline,
                    only=lambda s: s.group not in ("nothing", "blank_photo", "unreadable"))
    lines += _table("By name case (positives)", lambda s: s.name_case, specs, outcomes, baseline,
                    only=lambda s: s.expected)
    return "\n".join(lines)


def markdown(summary: dict, specs: list[Spec], outcomes: dict[str, Outcome], baseline: bool) -> str:
    """A compact table for the README."""
    groups = [
        ("all documents", lambda s: True),
        ("clean / scan / 150 DPI", lambda s: s.condition in ("clean", "scan", "dpi150")),
        ("skewed 1-4 degrees (both signs)", lambda s: s.condition in ("skew+", "skew-")),
        ("rotated 90/180/270", lambda s: s.condition in ROTATED_CONDITIONS),
        ("phone photos", lambda s: s.condition in PHOTO_CONDITIONS),
        ("PDF (scanned, text layer, name on page 2)", lambda s: s.container != "image"),
        ("declined names and initials (positives)", lambda s: s.expected and s.name_case != "nom"),
        ("negatives (must be rejected)", lambda s: not s.expected),
    ]
    header = "| documents | n | engine correct % |" + (" baseline correct % |" if baseline else "")
    lines = [header, "|---|---|---|" + ("---|" if baseline else "")]
    for title, condition in groups:
        group = [s for s in specs if condition(s)]
        if not group:
            continue
        row = (f"| {title} | {len(group)} | "
               f"{_percent(sum(_correct(s, outcomes[s.id]) for s in group), len(group))} |")
        if baseline:
            row += f" {_percent(sum(outcomes[s.id].baseline == s.expected for s in group), len(group))} |"
        lines.append(row)
    lines.append(f"\nFalse accepts: {len(summary['false_accepts'])}. Seconds per document (engine): median "
                 f"{summary['seconds_median']}, p95 {summary['seconds_p95']}.")
    return "\n".join(lines)


def explain_failure(spec: Spec, outcome: Outcome) -> str:
    """What the engine read near where the name should be (re-reads the document in this process)."""
    lines = [f"- {spec.id}: {spec.group} {spec.doc_type} case={spec.name_case} condition={spec.condition} "
             f"iin_printed={spec.include_iin} applicant={spec.applicant} subject={spec.subject}",
             f"  expected {spec.expected} {spec.expected_code or ''}; got {outcome.verdict} {outcome.codes} "
             f"type={outcome.document_type} conf={outcome.confidence:.2f} snippet={outcome.name_snippet!r}"]
    if outcome.crash:
        lines.append("  crash: " + outcome.crash.strip().splitlines()[-1])
        return "\n".join(lines)
    subject = _subject(spec)
    if subject is None:
        return "\n".join(lines)
    try:
        from rapidfuzz import fuzz

        from ocr_pipeline.engine.models import EngineSettings
        from ocr_pipeline.engine.pipeline import read_pages

        data, _ = build_upload(spec)
        pages = read_pages(data, EngineSettings(), {})
    except Exception as error:  # the verdict already says why; this is only a diagnostic
        lines.append(f"  (could not re-read: {error})")
        return "\n".join(lines)
    mention = subject.mention(spec.name_case)
    for page in pages:
        text_lines = [line for line in page.text.splitlines() if line.strip()]
        lines.append(f"  page {page.number}: source={page.source} rotation={page.rotation} "
                     f"mean_conf={page.mean_confidence:.0f} lines={len(text_lines)}")
        candidates = [line for line in text_lines if len(line.strip()) >= len(mention) // 2]
        scored = sorted(((fuzz.partial_ratio(mention.lower(), line.lower()), line) for line in candidates),
                        reverse=True)[:2]
        for score, line in scored:
            lines.append(f"    [{score:.0f}] {line.strip()[:160]}")
        numbers = [line.strip()[:120] for line in text_lines if "ИИН" in line or "ЖСН" in line]
        for line in numbers[:2]:
            lines.append(f"    iin line: {line}")
    lines.append(f"  expected mention: {mention!r}")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="only the first N documents of a fixed shuffle of the set")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="write specs, outcomes and the summary as JSON")
    parser.add_argument("--markdown", action="store_true", help="also print a table for the README")
    parser.add_argument("--baseline", action="store_true", help="also run Tesseract CLI + exact name search")
    parser.add_argument("--explain", type=int, default=25, metavar="N",
                        help="re-read up to N failing documents and show what OCR saw (default 25)")
    parser.add_argument("--save-failures", metavar="DIR", help="write failing uploads there (outside the repo)")
    parser.add_argument("--only", help="only specs whose id contains this text")
    args = parser.parse_args(argv)

    specs = build_set()
    if args.only:
        specs = [s for s in specs if args.only in s.id]
    if args.limit:
        shuffled = specs[:]
        random.Random(SET_SEED).shuffle(shuffled)
        chosen = {s.id for s in shuffled[: args.limit]}
        specs = [s for s in specs if s.id in chosen]
    print(f"evaluating {len(specs)} documents with {args.workers} worker(s)"
          f"{' + baseline' if args.baseline else ''} ...", file=sys.stderr, flush=True)

    try:  # imported once, before the workers fork: every document meets the same engine code
        import ocr_pipeline.engine.pipeline  # noqa: F401
    except Exception as error:
        print(f"the engine does not import: {error!r}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    outcomes: dict[str, Outcome] = {}
    jobs = [(spec, args.baseline) for spec in specs]
    if args.workers > 1:
        with multiprocessing.get_context("fork").Pool(args.workers, maxtasksperchild=20) as pool:
            for done, outcome in enumerate(pool.imap_unordered(_run, jobs), 1):
                outcomes[outcome.id] = outcome
                if done % 20 == 0:
                    print(f"  {done}/{len(specs)}", file=sys.stderr, flush=True)
    else:
        for done, job in enumerate(jobs, 1):
            outcome = _run(job)
            outcomes[outcome.id] = outcome
            if done % 20 == 0:
                print(f"  {done}/{len(specs)}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started

    summary = summarise(specs, outcomes, args.baseline)
    summary["wall_seconds"] = round(wall, 1)
    print(report(specs, outcomes, summary, args.baseline))
    print(f"\nwall time {wall:.0f} s for {len(specs)} documents (generation included)")
    if args.markdown:
        print("\n" + markdown(summary, specs, outcomes, args.baseline))

    failures = [s for s in specs if not _correct(s, outcomes[s.id])]
    wrong_codes = [s for s in specs if _correct(s, outcomes[s.id]) and not _code_right(s, outcomes[s.id])]
    if failures or wrong_codes:
        print(f"\nFailures ({len(failures)}), then right verdict with another error code ({len(wrong_codes)}):")
        for index, spec in enumerate(failures + wrong_codes):
            if index < args.explain:
                print(explain_failure(spec, outcomes[spec.id]))
            else:
                o = outcomes[spec.id]
                print(f"- {spec.id}: expected {spec.expected} {spec.expected_code or ''}; got {o.verdict} {o.codes}")
    if args.save_failures and failures:
        target = Path(args.save_failures)
        target.mkdir(parents=True, exist_ok=True)
        for spec in failures:
            data, applicant = build_upload(spec)
            suffix = ".pdf" if data.startswith(b"%PDF") else (".png" if data.startswith(b"\x89PNG") else ".jpg")
            (target / f"{spec.id}{suffix}").write_bytes(data)
            (target / f"{spec.id}.json").write_text(json.dumps(
                {"spec": asdict(spec), "applicant": asdict(applicant)}, ensure_ascii=False, indent=1))
        print(f"\nfailing uploads written to {target}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "summary": summary,
            "documents": [{"spec": asdict(s), "outcome": asdict(outcomes[s.id]),
                           "correct": _correct(s, outcomes[s.id])} for s in specs],
        }, ensure_ascii=False, indent=1))
    return 0 if summary["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
