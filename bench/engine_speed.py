#!/usr/bin/env python
"""Speed and memory of the engine against the raw ``tesseract`` CLI on the same pages, in one run.

Renders N clean one-page A4 documents at 300 DPI (PNG), a few phone photos (JPEG), one scanned
3-page PDF, and two groups that need the engine's second look: documents with a blue signature and
a stamp across the applicant's surname ("ink", PNG) and hard phone photos ("hard": docgen's
``photo_hard`` when it has it, else a photo reduced to about 120 DPI with motion blur, JPEG 45).
Then for each document, interleaved:

- raw: ``tesseract IMAGE stdout -l rus+kaz`` with ``OMP_THREAD_LIMIT=1`` (for the PDF: on each page
  rasterised beforehand at 300 DPI, times summed; the rasterising is not counted);
- engine: ``verify_document`` (``read_pages`` when the verify step is not available yet) on the
  file's bytes, in a fresh worker process that has warmed up on a tiny document first, so that
  its peak RSS (``VmHWM``) belongs to that document. Tesseract's peak RSS (GNU time, raw CLI on the
  same pages) is reported beside it: a document needs about the sum of the two.

Prints per-document rows and, per group, median and p95 seconds, the ratio engine/raw and how often
the second look ran (and decided).
Exit status 0 when the median ratio on clean pages is at most ``--target`` (1.6), 1 otherwise.

    .venv/bin/python bench/engine_speed.py
    .venv/bin/python bench/engine_speed.py --docs 20 --photos 5 --ink 4 --hard 4 --json /tmp/speed.json
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ocr_pipeline.engine.models import Applicant, EngineSettings  # noqa: E402

LANGUAGES = "rus+kaz"
FALLBACK_APPLICANT = Applicant(iin="960125400124", last_name="Жармағанбетова", first_name="Әлия",
                               second_name="Серікқызы")


@dataclass
class Document:
    name: str
    group: str  # "clean", "photo", "pdf", "ink" or "hard"
    path: str
    raw_pages: list[str]  # images the raw CLI reads
    applicant: Applicant


@dataclass
class Measurement:
    name: str
    group: str
    raw_seconds: float
    engine_seconds: float
    engine_rss_mb: float  # the Python worker (Tesseract processes not included)
    tesseract_rss_mb: float  # the Tesseract CLI on the same pages
    timings: dict = field(default_factory=dict)
    result: str = ""

    @property
    def ratio(self) -> float:
        return self.engine_seconds / self.raw_seconds if self.raw_seconds else float("nan")


# ------------------------------------------------------------------------------------------ documents

def _ink_across_surname(docgen, page, person, name_case: str, seed: int):
    """``page`` with a dark-blue signature and a blue stamp (pressed twice) across the surname."""
    import random

    from PIL import Image, ImageChops, ImageDraw

    surname = person.mention(name_case).split()[0]
    for x, baseline, text, path, size in page.info["docgen_runs"]:
        if surname in text:
            font = docgen._font(path, size)
            x0 = round(x + font.getlength(text[:text.index(surname)]))
            x1, y0, y1 = round(x0 + font.getlength(surname)), round(baseline - 0.75 * size), baseline
            break
    else:
        return page
    layer = Image.new("RGB", page.size, "white")
    docgen._scribble(ImageDraw.Draw(layer), (x0 - 60, y0 - 70, x1 + 120, y1 + 50), random.Random(seed))
    marked = ImageChops.multiply(page.convert("RGB"), layer)
    for _ in range(2):
        docgen._stamp(marked, ((x0 + x1) // 2, y0 - 190), "ТОО «АЛМАТЫ СЕРВИС» * БИН 070650003210 * ",
                      ["ДЛЯ ДОКУМЕНТОВ"], random.Random(seed))
    return marked


def _hard_photo(docgen, page, seed: int) -> bytes:
    """docgen's ``photo_hard`` when it exists; else a phone photo at about 120 DPI, motion-blurred, JPEG 45."""
    try:
        return docgen.degrade(page, "photo_hard", seed)
    except ValueError:
        pass
    import cv2
    from PIL import Image

    photo = Image.open(io.BytesIO(docgen.degrade(page, "photo", seed))).convert("RGB")
    scale = 1000 / photo.width * 1.15  # the page about 1000 px wide: ~120 DPI
    array = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS))
    kernel = np.zeros((5, 5), np.float32)
    kernel[2, :] = 1 / 5  # horizontal motion blur
    blurred = cv2.filter2D(array, -1, kernel)
    buffer = io.BytesIO()
    Image.fromarray(blurred).save(buffer, format="JPEG", quality=45)
    return buffer.getvalue()


def _render_documents(directory: Path, clean: int, photos: int, pdf_pages: int, seed: int,
                      ink: int = 0, hard: int = 0) -> list[Document]:
    try:
        from ocr_pipeline_devtools import docgen
    except ImportError:
        docgen = None
    documents: list[Document] = []
    if docgen is not None:
        people = sorted(docgen.PEOPLE)

        def render(i: int):
            person = docgen.PEOPLE[people[(seed + i) % len(people)]]
            doc_type = docgen.DOC_TYPES[(seed + i) % len(docgen.DOC_TYPES)]
            case = docgen.NAME_CASES[(seed + i) % 5]
            return docgen.render_document(doc_type, person, name_case=case, seed=seed + i), person.applicant(), doc_type

        for i in range(clean):
            page, applicant, doc_type = render(i)
            documents.append(_save(directory, f"clean-{i:02d}-{doc_type}", "clean", ".png",
                                   docgen.degrade(page, "clean", seed + i), applicant))
        for i in range(photos):
            page, applicant, doc_type = render(100 + i)
            documents.append(_save(directory, f"photo-{i:02d}-{doc_type}", "photo", ".jpg",
                                   docgen.degrade(page, "photo", seed + 100 + i), applicant))
        for i in range(ink):
            person = docgen.PEOPLE[people[(seed + 300 + i) % len(people)]]
            doc_type = docgen.DOC_TYPES[(seed + i) % len(docgen.DOC_TYPES)]
            page = docgen.render_document(doc_type, person, name_case="dat", seed=seed + 300 + i, stamp=False)
            page = _ink_across_surname(docgen, page, person, "dat", seed + i)
            documents.append(_save(directory, f"ink-{i:02d}-{doc_type}", "ink", ".png",
                                   docgen.degrade(page, "clean", seed + 300 + i), person.applicant()))
        for i in range(hard):
            page, applicant, doc_type = render(400 + i)
            documents.append(_save(directory, f"hard-{i:02d}-{doc_type}", "hard", ".jpg",
                                   _hard_photo(docgen, page, seed + 400 + i), applicant))
        if pdf_pages:
            rendered = [render(200 + i) for i in range(pdf_pages)]
            scans = [docgen.degrade(page, "scan", seed + 200 + i) for i, (page, _, _) in enumerate(rendered)]
            documents.append(_save(directory, f"pdf-{pdf_pages}pages", "pdf", ".pdf", docgen.to_pdf(scans),
                                   rendered[0][1]))
        return documents

    from PIL import Image

    from ocr_pipeline_devtools import engine_pages

    lines = list(engine_pages.LINES) * 3

    def page(i: int) -> Image.Image:
        return engine_pages.render_page(lines[i % 5:i % 5 + 30], size=(2480, 3508), margin=220)

    for i in range(clean):
        documents.append(_save(directory, f"clean-{i:02d}", "clean", ".png",
                               engine_pages.encode(page(i), "PNG", dpi=(300, 300)), FALLBACK_APPLICANT))
    for i in range(photos):
        photo = engine_pages.photo_of(page(i), seed=i, frame=(3000, 4000))
        documents.append(_save(directory, f"photo-{i:02d}", "photo", ".jpg",
                               engine_pages.encode(photo, "JPEG", quality=85), FALLBACK_APPLICANT))
    if pdf_pages:
        images = [page(i).convert("L") for i in range(pdf_pages)]
        data = engine_pages.encode(images[0], "PDF", resolution=300.0, save_all=True, append_images=images[1:])
        documents.append(_save(directory, f"pdf-{pdf_pages}pages", "pdf", ".pdf", data, FALLBACK_APPLICANT))
    return documents


def _save(directory: Path, name: str, group: str, suffix: str, data: bytes, applicant: Applicant) -> Document:
    path = directory / f"{name}{suffix}"
    path.write_bytes(data)
    raw_pages = [str(path)]
    if suffix == ".pdf":
        raw_pages = _rasterise_for_cli(path, directory)
    return Document(name, group, str(path), raw_pages, applicant)


def _rasterise_for_cli(path: Path, directory: Path) -> list[str]:
    import pypdfium2 as pdfium

    out = []
    document = pdfium.PdfDocument(str(path))
    for index in range(len(document)):
        image = document[index].render(scale=300 / 72, grayscale=True).to_pil()
        target = directory / f"{path.stem}-page{index + 1}.png"
        image.save(target, dpi=(300, 300))
        out.append(str(target))
    document.close()
    return out


# ------------------------------------------------------------------------------------------- running

def _raw_cli(images: list[str], directory: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of the Tesseract CLI over ``images``, one process per page.

    The peak comes from GNU time (``%M``; NaN without /usr/bin/time): a process's ``ru_maxrss`` also
    counts the memory of the parent it was forked from until it exec'd, so measuring from this
    (large) process would not do.
    """
    total, peak = 0.0, float("nan")
    report = directory / "time.txt"
    gnu_time = ["/usr/bin/time", "-f", "%M", "-o", str(report)] if os.path.exists("/usr/bin/time") else []
    for image in images:
        started = time.perf_counter()
        subprocess.run([*gnu_time, "tesseract", image, "stdout", "-l", LANGUAGES], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True, env=dict(os.environ, OMP_THREAD_LIMIT="1"))
        total += time.perf_counter() - started
        if gnu_time:
            rss = int(report.read_text().split()[-1]) / 1024
            peak = rss if peak != peak else max(peak, rss)
    return total, peak


def _peak_rss_mb() -> float:
    """This process's peak resident memory since its exec (``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _engine_in_worker(document: Document) -> dict:
    payload = json.dumps({"path": document.path, "applicant": asdict(document.applicant)})
    result = subprocess.run([sys.executable, __file__, "--worker"], input=payload, capture_output=True,
                            text=True, env=dict(os.environ, OMP_THREAD_LIMIT="1"), check=False)
    if result.returncode:
        raise RuntimeError(f"worker failed on {document.name}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _engine_entry():
    """``verify_document`` when the whole pipeline imports; otherwise the same loop as ``read_pages``."""
    try:
        from ocr_pipeline.engine.pipeline import verify_document

        def run(data: bytes, applicant: Applicant, settings: EngineSettings) -> tuple[str, dict]:
            verdict = verify_document(data, applicant, settings)
            outcome = "verdict=%s %s" % (verdict.verdict, ",".join(verdict.error_codes))
            looks = verdict.checks["readable"].detail.get("looks") if "readable" in verdict.checks else None
            if looks is not None:
                outcome += " looks=" + ",".join(looks)
            return outcome, dict(verdict.timings)

        return "verify_document", run
    except ImportError:
        pass

    from ocr_pipeline.engine.load import load_document
    from ocr_pipeline.engine.ocr import engine_versions, ocr_page
    from ocr_pipeline.engine.preprocess import preprocess_page

    def run(data: bytes, applicant: Applicant, settings: EngineSettings) -> tuple[str, dict]:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        pages = load_document(data, settings)
        timings["load"] = time.perf_counter() - started
        chars = 0
        for page in pages:
            if page.text_layer and len(page.text_layer.strip()) >= settings.text_layer_min_chars:
                chars += len(page.text_layer)
                continue
            started = time.perf_counter()
            prepared = preprocess_page(page.image, settings)
            timings["preprocess"] = timings.get("preprocess", 0.0) + time.perf_counter() - started
            started = time.perf_counter()
            chars += len(ocr_page(prepared, page.number, settings).text)
            timings["ocr"] = timings.get("ocr", 0.0) + time.perf_counter() - started
        engine_versions()
        return f"{len(pages)} pages, {chars} chars", timings

    return "read_pages (verify step not available)", run


def worker() -> None:
    """Run the engine on one document (read from stdin as JSON) after a warm-up; print JSON."""
    request = json.loads(sys.stdin.read())
    label, run = _engine_entry()
    settings = EngineSettings(languages=LANGUAGES)
    from PIL import Image

    warm = io.BytesIO()
    Image.new("L", (200, 60), 255).save(warm, format="PNG")
    run(warm.getvalue(), FALLBACK_APPLICANT, settings)  # imports, caches, engine_versions
    data = Path(request["path"]).read_bytes()
    applicant = Applicant(**request["applicant"])
    started = time.perf_counter()
    outcome, timings = run(data, applicant, settings)
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "label": label, "seconds": elapsed, "outcome": outcome,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "rss_mb": _peak_rss_mb(),
    }))


# ------------------------------------------------------------------------------------------- report

def _summary(rows: list[Measurement]) -> dict:
    raw = np.array([r.raw_seconds for r in rows])
    engine = np.array([r.engine_seconds for r in rows])
    return {
        "n": len(rows),
        "raw_median": float(np.median(raw)), "raw_p95": float(np.percentile(raw, 95)),
        "engine_median": float(np.median(engine)), "engine_p95": float(np.percentile(engine, 95)),
        "ratio_of_medians": float(np.median(engine) / np.median(raw)),
        "median_ratio": float(np.median(engine / raw)),
        "engine_rss_mb_max": float(max(r.engine_rss_mb for r in rows)),
        "tesseract_rss_mb_max": float(max(r.tesseract_rss_mb for r in rows)),
        "second_look": sum("second_look" in r.timings for r in rows),
        "second_look_decided": sum("+" in r.result.split("looks=")[-1] for r in rows if "looks=" in r.result),
        "verdict_true": sum(r.result.startswith("verdict=True") for r in rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10, help="clean one-page A4 documents (PNG, 300 DPI)")
    parser.add_argument("--photos", type=int, default=3, help="phone photos (JPEG)")
    parser.add_argument("--pdf-pages", type=int, default=3, help="pages of the scanned PDF (0: none)")
    parser.add_argument("--ink", type=int, default=4, help="documents with ink across the surname (PNG)")
    parser.add_argument("--hard", type=int, default=4, help="hard phone photos (JPEG)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", type=float, default=1.6, help="maximum median ratio engine/raw on clean pages")
    parser.add_argument("--json", help="write the measurements here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return 0

    with tempfile.TemporaryDirectory(prefix="engine-speed-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        documents = _render_documents(directory, args.docs, args.photos, args.pdf_pages, args.seed, args.ink,
                                      args.hard)
        print(f"rendered {len(documents)} documents in {time.perf_counter() - started:.1f} s; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
        _raw_cli(documents[0].raw_pages, directory)  # page cache: traineddata, binaries
        rows: list[Measurement] = []
        label = ""
        print(f"{'document':34s} {'raw s':>6s} {'engine s':>8s} {'ratio':>6s} {'py MB':>6s} {'tess MB':>7s}"
              "  engine timings", flush=True)
        for document in documents:
            raw_seconds, raw_rss = _raw_cli(document.raw_pages, directory)
            engine = _engine_in_worker(document)
            label = engine["label"]
            row = Measurement(document.name, document.group, raw_seconds, engine["seconds"], engine["rss_mb"],
                              raw_rss, engine["timings"], engine["outcome"])
            rows.append(row)
            timings = " ".join(f"{k}={v:.2f}" for k, v in row.timings.items())
            print(f"{row.name:34s} {row.raw_seconds:6.2f} {row.engine_seconds:8.2f} {row.ratio:6.2f} "
                  f"{row.engine_rss_mb:6.0f} {row.tesseract_rss_mb:7.0f}  {timings}  [{row.result}]", flush=True)

    print(f"\nengine = {label}; raw = tesseract CLI -l {LANGUAGES}, OMP_THREAD_LIMIT=1")
    summaries = {}
    for group in ("clean", "photo", "pdf", "ink", "hard", "all"):
        selected = [r for r in rows if r.group == group or group == "all"]
        if not selected:
            continue
        s = summaries[group] = _summary(selected)
        print(f"{group:6s} n={s['n']:2d}  raw median {s['raw_median']:.2f} s p95 {s['raw_p95']:.2f} s | "
              f"engine median {s['engine_median']:.2f} s p95 {s['engine_p95']:.2f} s | "
              f"ratio of medians {s['ratio_of_medians']:.2f}, median ratio {s['median_ratio']:.2f} | "
              f"peak RSS: Python worker {s['engine_rss_mb_max']:.0f} MB + "
              f"Tesseract {s['tesseract_rss_mb_max']:.0f} MB | "
              f"verdict true {s['verdict_true']}/{s['n']}, second look {s['second_look']}/{s['n']} "
              f"(decided {s['second_look_decided']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"engine": label, "summaries": summaries,
                                               "rows": [asdict(r) | {"ratio": r.ratio} for r in rows]},
                                              ensure_ascii=False, indent=2))
    clean = summaries.get("clean")
    if clean is None:
        return 0
    met = clean["ratio_of_medians"] <= args.target
    print(f"target: median engine/raw on clean pages <= {args.target}: "
          f"{'met' if met else 'NOT met'} ({clean['ratio_of_medians']:.2f})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
