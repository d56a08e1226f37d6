"""Tesseract OCR of one prepared page, with orientation correction by OSD when needed.

Pages are read in-process through Tesseract's C++ API (tesserocr), one API kept open per thread with
the languages loaded: that saves the process start and the loading of the rus+kaz models that a
``tesseract`` command pays on every page (measured: 0.73 s instead of 1.0 s of CPU for a typical
page, the same text). ``OCR_TESSERACT_IN_PROCESS=0`` — or tesserocr or the language data missing —
falls back to the ``tesseract`` command through pytesseract, which the rarer OSD calls always use.

Every Tesseract command runs with ``OMP_THREAD_LIMIT=1`` (OpenMP threads oversubscribe the cores and
make Tesseract several times slower; pytesseract hands ``os.environ`` to Tesseract, so the variable
is set there before each call) and a timeout. The image is handed over as an uncompressed BMP
encoded by OpenCV (a few milliseconds), not as the PNG pytesseract would encode, in a private
temporary directory that also receives Tesseract's output and is removed on every path. A process killed
with SIGKILL cannot remove its directory: the directories are named ``ocr-<pid>-*`` after the process that
made them, and :func:`sweep_orphaned_temp_dirs` (run by the run workers at start and by every process
before its first Tesseract command and then every ``TEMP_SWEEP_INTERVAL_SECONDS``) removes those whose
process is gone.

Orientation (90/180/270 degrees) costs an extra Tesseract call (OSD, ``--psm 0``), so it is only
asked for when the page's text lines run vertically or when the first reading looks poor (few
confident words); the page is then read again turned, and the better reading is kept.

A page whose OCR exceeds ``settings.ocr_timeout_seconds`` raises
``DocumentError(UNREADABLE_DOCUMENT)``: a page that takes that long is noise or a picture, and going on
with the other pages would multiply the wait.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import pytesseract

from .models import DocumentError, EngineSettings, ErrorCode, OcrWord, PageText
from .preprocess import InkMap, rotate_right_angle, text_line_direction, to_gray

log = logging.getLogger(__name__)

# A reading is "poor" when fewer than this share of its words are confident, letter-only words.
POOR_READING_SHARE = 0.25
CONFIDENT_WORD = 80.0
MIN_WORDS_FOR_JUDGEMENT = 8

_WORD_RE = re.compile(r"[^\W\d_]{3,}[.,:;!?»\")]*", re.UNICODE)


class _Timeout(Exception):
    pass


def _ensure_single_thread() -> None:
    # pytesseract passes os.environ to every Tesseract process it starts.
    if os.environ.get("OMP_THREAD_LIMIT") != "1":
        os.environ["OMP_THREAD_LIMIT"] = "1"


def _write_image(image: np.ndarray, directory: str) -> str:
    ok, encoded = cv2.imencode(".bmp", image)
    if not ok:
        raise OSError("cannot encode the page as BMP")
    path = os.path.join(directory, "page.bmp")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(encoded.tobytes())
    return path


TEMP_DIR_PREFIX = "ocr-"
_TEMP_DIR_NAME = re.compile(r"ocr-(?P<pid>[1-9][0-9]*)-")
ORPHAN_MIN_AGE_SECONDS = 60.0  # a directory younger than this is never swept, whatever its pid says
TEMP_SWEEP_INTERVAL_SECONDS = 600.0
_last_sweep: Optional[float] = None
_sweep_lock = threading.Lock()


def temp_dir_prefix() -> str:
    """The prefix of this process's OCR temporary directories: ``ocr-<pid>-``."""
    return f"{TEMP_DIR_PREFIX}{os.getpid()}-"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_orphaned_temp_dirs(directory: Optional[str] = None,
                             min_age_seconds: float = ORPHAN_MIN_AGE_SECONDS) -> list[str]:
    """Remove the OCR temporary directories (``ocr-<pid>-*`` in ``directory``, default the temporary
    directory) left by processes that died without removing them (SIGKILL, the kernel's OOM killer);
    return the paths removed.

    A directory is removed only when it is this user's, not a symbolic link, last modified more than
    ``min_age_seconds`` ago, and no process with its pid exists. A live process's directory is never
    removed: its pid exists (a reused pid keeps a dead process's directory until that pid is free again,
    which is harmless). Pids are this machine's: processes whose pids another pid namespace gives must
    not share the temporary directory. Errors are logged, never raised.
    """
    root = directory or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError as error:
        log.warning("cannot list %s for orphaned OCR directories: %s", root, error)
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_DIR_NAME.match(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if (not entry.is_dir(follow_symlinks=False) or info.st_uid != os.getuid()
                    or now - info.st_mtime < min_age_seconds or _process_alive(int(match.group("pid")))):
                continue
            shutil.rmtree(entry.path)
            removed.append(entry.path)
        except OSError as error:
            log.warning("cannot remove the orphaned OCR directory %s: %s", entry.path, error)
    if removed:
        log.info("removed %d OCR temporary directories of processes that are gone", len(removed))
    return removed


def _sweep_if_due() -> None:
    global _last_sweep
    with _sweep_lock:
        now = time.monotonic()
        if _last_sweep is not None and now - _last_sweep < TEMP_SWEEP_INTERVAL_SECONDS:
            return
        _last_sweep = now
    sweep_orphaned_temp_dirs()


def _tesseract(image: np.ndarray, extension: str, timeout: float, lang: Optional[str], config: str) -> str:
    """Run Tesseract on ``image`` and return its ``extension`` output (``tsv``, ``osd``) as text;
    ``_Timeout`` when it runs too long.

    The page and Tesseract's output (the document's text) live in a private directory (mode 0700, the
    page 0600) that is removed on every path, timeout and error included. pytesseract's own helpers
    would put them in the shared temporary directory, the output file world-readable.
    """
    _ensure_single_thread()
    _sweep_if_due()
    with tempfile.TemporaryDirectory(prefix=temp_dir_prefix()) as directory:
        path = _write_image(image, directory)
        output = os.path.join(directory, "out")
        try:
            pytesseract.pytesseract.run_tesseract(path, output, extension, lang, config, timeout=timeout)
        except RuntimeError as error:
            if "timeout" in str(error).lower() and not isinstance(error, pytesseract.TesseractError):
                raise _Timeout(str(error)) from None
            raise
        with open(f"{output}.{extension}", "rb") as f:
            return f.read().decode("utf-8", errors="replace")


@dataclass
class _Reading:
    page: PageText
    score: float  # share of confident letter words; higher is better

    @property
    def poor(self) -> bool:
        return self.score < POOR_READING_SHARE


_TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
_apis = threading.local()


@functools.lru_cache(maxsize=1)
def tessdata_directory() -> Optional[str]:
    """Where the system's Tesseract keeps its language data (``TESSDATA_PREFIX``, else what
    ``tesseract --list-langs`` names), or None."""
    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    try:
        import subprocess

        listing = subprocess.run([pytesseract.pytesseract.tesseract_cmd, "--list-langs"], capture_output=True,
                                 text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'"([^"]+)"', listing)
    return found.group(1) if found else None


def in_process_ocr() -> bool:
    """Whether pages are read through tesserocr (the default when it and the language data are there)."""
    if os.environ.get("OCR_TESSERACT_IN_PROCESS", "1").strip() in ("0", "false", "no"):
        return False
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return tessdata_directory() is not None


def _api(languages: str, psm: int):
    """This thread's open Tesseract API for ``languages`` and ``psm`` (made on first use)."""
    import tesserocr

    key = (languages, psm)
    apis = getattr(_apis, "by_key", None)
    if apis is None:
        apis = _apis.by_key = {}
    api = apis.get(key)
    if api is None:
        try:
            api = tesserocr.PyTessBaseAPI(path=tessdata_directory(), lang=languages, psm=psm)
        except RuntimeError as error:
            raise RuntimeError(f"Tesseract is not set up for {languages!r}: {error}") from None
        apis[key] = api
    return api


def _tsv_in_process(image: np.ndarray, languages: str, psm: int, timeout: float) -> str:
    """Tesseract's TSV of ``image`` (uint8 gray) through the kept API; ``_Timeout`` when it runs too long."""
    image = np.ascontiguousarray(to_gray(image))
    api = _api(languages, psm)
    height, width = image.shape
    api.SetImageBytes(image.tobytes(), width, height, 1, width)
    try:
        if not api.Recognize(timeout=max(1, int(timeout * 1000))):
            raise _Timeout(f"recognition stopped after {timeout:g} s")
        return _TSV_HEADER + api.GetTSVText(0)
    finally:
        api.Clear()


def read_text(image: np.ndarray, page_number: int, settings: EngineSettings, psm: int = 3) -> PageText:
    """One Tesseract pass (``image_to_data``) over ``image`` as it is: words, boxes, lines, confidence.

    Raises ``DocumentError(UNREADABLE_DOCUMENT)`` on timeout or when Tesseract rejects the image, and
    ``RuntimeError`` when Tesseract itself is not usable (language data missing): that must fail the
    run loudly instead of marking documents unreadable.
    """
    try:
        if in_process_ocr():
            tsv = _tsv_in_process(image, settings.languages, psm, settings.ocr_timeout_seconds)
        else:
            tsv = _tesseract(image, "tsv", settings.ocr_timeout_seconds, settings.languages,
                             f"-c tessedit_create_tsv=1 --psm {psm}")
        data = pytesseract.pytesseract.file_to_dict(tsv, "\t", -1)
    except _Timeout:
        raise DocumentError(ErrorCode.UNREADABLE_DOCUMENT,
                            f"OCR of page {page_number} took longer than {settings.ocr_timeout_seconds:g} s") from None
    except pytesseract.TesseractError as error:
        if _is_setup_error(str(error)):
            raise RuntimeError(f"Tesseract is not set up for {settings.languages!r}: {error}") from None
        log.warning("Tesseract failed on page %d: %s", page_number, str(error)[:300])
        raise DocumentError(ErrorCode.UNREADABLE_DOCUMENT, f"OCR failed on page {page_number}") from None
    return page_text_from_data(data, page_number, (image.shape[1], image.shape[0]))


def _is_setup_error(message: str) -> bool:
    """Missing language data or a bad configuration: the engine's fault, not the document's."""
    lowered = message.lower()
    return any(marker in lowered for marker in ("loading language", "error opening data file",
                                                 "could not initialize tesseract", "read_params_file"))


def page_text_from_data(data: dict, page_number: int, image_size: tuple[int, int]) -> PageText:
    """Build a ``PageText`` from pytesseract's ``image_to_data`` dictionary (Tesseract's reading order)."""
    words: list[OcrWord] = []
    lines: list[list[str]] = []
    current_line = None
    for i, text in enumerate(data.get("text", [])):
        text = (text or "").strip()
        confidence = float(data["conf"][i])
        if not text or confidence < 0:
            continue
        line = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        words.append(OcrWord(text=text, confidence=confidence, left=int(data["left"][i]),
                             top=int(data["top"][i]), width=int(data["width"][i]),
                             height=int(data["height"][i]), line=line))
        if line != current_line:
            lines.append([])
            current_line = line
        lines[-1].append(text)
    mean = round(sum(w.confidence for w in words) / len(words), 2) if words else 0.0
    return PageText(number=page_number, text="\n".join(" ".join(line) for line in lines), words=words,
                    mean_confidence=mean, source="ocr", rotation=0, image_size=image_size)


def reading_score(page: PageText) -> float:
    """Share of the page's words that are confident words of three or more letters (0..1).

    An upright page of text scores about 0.5 (the rest is short words, numbers, punctuation); a page
    read upside down or sideways scores under 0.1.
    """
    if not page.words:
        return 0.0
    good = sum(1 for w in page.words if w.confidence >= CONFIDENT_WORD and _WORD_RE.fullmatch(w.text))
    return good / len(page.words)


def reading_coverage(image: np.ndarray, words: list[OcrWord]) -> float:
    """Share of the letter-sized ink of ``image`` (gray, as read) that lies inside the boxes of ``words``.

    A page read whole covers about 0.9 or more (the rest is specks and marks that are not words); on
    phone photos with a textured background Tesseract's layout analysis can drop whole paragraphs
    with a confident reading of the rest (measured: 0.4-0.8). 1.0 for a page without letters.
    """
    ink = InkMap.of(image)
    letters = np.isin(ink.labels, ink.letters)
    total = int(letters.sum())
    if not total:
        return 1.0
    inside = np.zeros_like(letters)
    for word in words:
        inside[int(word.top * ink.scale): int((word.top + word.height) * ink.scale) + 1,
               int(word.left * ink.scale): int((word.left + word.width) * ink.scale) + 1] = True
    return round(float((letters & inside).sum()) / total, 3)


@dataclass(frozen=True)
class Orientation:
    """Tesseract OSD: turn the image clockwise by ``rotate`` degrees to make it upright."""

    rotate: int
    confidence: float


def detect_orientation(image: np.ndarray, settings: EngineSettings) -> Optional[Orientation]:
    """Tesseract OSD on a half-size copy of ``image``; None when OSD cannot tell (too little text)."""
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) \
        if min(image.shape[:2]) > 1200 else image
    try:
        result = pytesseract.pytesseract.osd_to_dict(
            _tesseract(small, "osd", min(settings.ocr_timeout_seconds, 30.0), "osd", "--psm 0"))
    except (_Timeout, pytesseract.TesseractError) as error:
        log.info("orientation not detected: %s", str(error)[:200])
        return None
    return Orientation(rotate=int(result.get("rotate", 0)) % 360,
                       confidence=float(result.get("orientation_conf", 0.0)))


def ocr_page(image: np.ndarray, page_number: int, settings: EngineSettings, psm: int = 3,
             rotation: Optional[int] = None) -> PageText:
    """Read one prepared page (uint8 gray or BGR) with Tesseract, turned upright if it was rotated.

    One Tesseract pass for an upright page. Orientation detection (OSD) runs first when the text
    lines are vertical, or after a poor first reading (see ``reading_score``); the page is then read
    turned and the better reading kept. On a page whose lines run across, a sideways turn is never
    tried: OSD asked after a poor reading of a blurred photo answers 90 or 270 for upright pages.
    ``rotation``, when given, is the turn to read at first instead (another preparation of a page
    whose turn is known): OSD runs only when that reading is poor.
    ``PageText.rotation`` is the clockwise turn applied (0, 90, 180, 270); words' boxes refer to the
    image as turned; ``PageText.coverage`` is filled in. Raises ``DocumentError(UNREADABLE_DOCUMENT)``
    on OCR timeout or Tesseract failure.
    """
    image = np.ascontiguousarray(to_gray(image))
    lines = text_line_direction(image)
    vertical, osd_done = lines == "vertical", False
    if rotation is None:
        rotation = 0
        if vertical:
            orientation = detect_orientation(image, settings)
            osd_done = True
            if orientation and orientation.rotate in (90, 270):
                rotation = orientation.rotate
    best = _read(image, rotation, page_number, settings, psm)
    too_few_words_to_judge = 0 < len(best.page.words) < MIN_WORDS_FOR_JUDGEMENT
    if not best.poor or too_few_words_to_judge:
        return _with_coverage(best.page, image)

    candidates: list[int] = []
    if not osd_done:
        orientation = detect_orientation(image, settings)
        # OSD guesses on a poor reading; lines running across leave only upright or upside down
        sideways = orientation is not None and orientation.rotate % 180 != 0
        if orientation and orientation.rotate != rotation and not (sideways and lines == "horizontal"):
            candidates.append(orientation.rotate)
    elif rotation:
        candidates.append((rotation + 180) % 360)  # OSD may confuse 90 with 270
    elif vertical:
        candidates.extend((90, 270))  # sideways, and OSD could not tell which way
    for candidate in candidates:
        reading = _read(image, candidate, page_number, settings, psm)
        log.debug("page %d: rotation %d scores %.2f (was %d: %.2f)", page_number, candidate,
                  reading.score, best.page.rotation, best.score)
        if reading.score > best.score:
            best = reading
    return _with_coverage(best.page, image)


def _with_coverage(page: PageText, image: np.ndarray) -> PageText:
    page.coverage = reading_coverage(rotate_right_angle(image, page.rotation), page.words)
    return page


def _read(image: np.ndarray, rotation: int, page_number: int, settings: EngineSettings, psm: int) -> _Reading:
    page = read_text(rotate_right_angle(image, rotation), page_number, settings, psm=psm)
    page.rotation = rotation
    return _Reading(page, reading_score(page))


def engine_versions() -> dict[str, str]:
    """Versions of the engine's parts: Tesseract, OpenCV, pypdfium2/PDFium, Pillow, this package.

    Computed once per process and OCR path (the command's version needs a subprocess); each call returns a
    fresh copy.
    """
    return dict(_engine_versions(in_process_ocr()))


@functools.lru_cache(maxsize=2)
def _engine_versions(in_process: bool) -> tuple[tuple[str, str], ...]:
    versions = {"ocr_pipeline": _package_version()}
    try:
        if in_process:
            import tesserocr

            versions["tesseract"] = tesserocr.tesseract_version().split()[1] + " (tesserocr "
            versions["tesseract"] += getattr(tesserocr, "__version__", "?") + ")"
        else:
            versions["tesseract"] = str(pytesseract.get_tesseract_version())
    except Exception as error:  # Tesseract missing: the OCR itself will fail loudly
        log.warning("Tesseract version unavailable: %s", error)
        versions["tesseract"] = "unavailable"
    versions["opencv"] = cv2.__version__
    try:
        import pypdfium2.version as pdfium_version

        versions["pypdfium2"] = str(pdfium_version.PYPDFIUM_INFO)
        versions["pdfium"] = str(pdfium_version.PDFIUM_INFO)
    except Exception:
        versions["pypdfium2"] = "unavailable"
    import PIL

    versions["pillow"] = PIL.__version__
    versions["pytesseract"] = str(getattr(pytesseract, "__version__", "unknown"))
    return tuple(versions.items())


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("ocr_pipeline")
    except Exception:
        from ocr_pipeline import __version__

        return __version__
