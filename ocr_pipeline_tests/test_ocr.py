"""``engine.ocr``: real Tesseract (rus+kaz) on rendered pages: text, words, lines, rotation, limits."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytesseract
import pytest
from PIL import Image

from ocr_pipeline.engine import ocr
from ocr_pipeline.engine.models import DocumentError, EngineSettings, ErrorCode
from ocr_pipeline.engine.preprocess import preprocess_page
from ocr_pipeline_devtools import engine_pages as pages

pytestmark = pytest.mark.unit

SETTINGS = EngineSettings()


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return pages.render_page()


@pytest.fixture(scope="module")
def clean_reading(page):
    return ocr.ocr_page(preprocess_page(pages.to_array(page), SETTINGS), 3, SETTINGS)


def test_reads_russian_and_kazakh(clean_reading):
    text = clean_reading.text
    assert "ПРИКАЗ" in text
    assert pages.KNOWN_LINE in text, "Kazakh letters (ғ, Ә, і, қ) must survive: rus+kaz"
    assert "Бұйрық қызметкерге" in text
    assert "960125400124" in text


def test_page_text_fields(clean_reading, page):
    assert clean_reading.number == 3
    assert clean_reading.source == "ocr" and clean_reading.rotation == 0
    assert clean_reading.image_size == (page.width, page.height)
    assert clean_reading.mean_confidence > 85
    words = clean_reading.words
    assert len(words) >= 40
    assert clean_reading.mean_confidence == pytest.approx(sum(w.confidence for w in words) / len(words), abs=0.01)
    for word in words:
        assert word.text.strip() == word.text and word.text
        assert 0 <= word.confidence <= 100
        assert 0 <= word.left and word.left + word.width <= page.width
        assert 0 <= word.top and word.top + word.height <= page.height
    known = [w for w in words if w.text == "Жармағанбетова"]
    assert len(known) == 1 and known[0].confidence > 80


def test_lines_in_reading_order(clean_reading):
    lines = clean_reading.text.split("\n")
    assert len(lines) == len(pages.LINES)
    for expected, got in zip(pages.LINES, lines):
        assert pages.char_error_rate(got, expected) <= 0.05, (expected, got)
    line_ids = [w.line for w in clean_reading.words]
    assert line_ids == sorted(line_ids), "words come in reading order, grouped by line"
    assert len(set(line_ids)) == len(pages.LINES)


def test_colour_input_is_read(page):
    reading = ocr.ocr_page(pages.to_array(pages.render_page(stamp=True)), 1, SETTINGS)
    assert pages.KNOWN_LINE in reading.text and reading.rotation == 0


def test_page_text_from_tesseract_data():
    data = {
        "level": [1, 5, 5, 5, 5, 5],
        "block_num": [0, 1, 1, 1, 1, 2], "par_num": [0, 1, 1, 1, 1, 1], "line_num": [0, 1, 1, 2, 2, 1],
        "left": [0, 10, 60, 10, 70, 10], "top": [0, 5, 5, 40, 40, 90], "width": [200, 40, 50, 50, 30, 40],
        "height": [100, 20, 20, 20, 20, 20],
        "conf": [-1, 96.5, 90, 80, "-1", 70], "text": ["", "Приказ", "№42", "Иванова", " ", "М.П."],
    }
    page_text = ocr.page_text_from_data(data, 2, (200, 100))
    assert page_text.text == "Приказ №42\nИванова\nМ.П."
    assert [w.text for w in page_text.words] == ["Приказ", "№42", "Иванова", "М.П."]
    assert page_text.words[2].line == (1, 1, 2) and page_text.words[3].line == (2, 1, 1)
    assert page_text.mean_confidence == pytest.approx((96.5 + 90 + 80 + 70) / 4, abs=0.01)
    empty = ocr.page_text_from_data({"text": []}, 1, (10, 10))
    assert empty.text == "" and empty.words == [] and empty.mean_confidence == 0.0


def test_blank_page_gives_empty_text():
    blank = np.full((1754, 1240), 250, np.uint8)
    reading = ocr.ocr_page(preprocess_page(blank, SETTINGS), 1, SETTINGS)
    assert reading.text == "" and reading.words == [] and reading.mean_confidence == 0.0


@pytest.mark.parametrize("turned_ccw", [90, 180, 270])
def test_rotated_page_is_turned_upright(page, turned_ccw):
    turned = pages.to_array(pages.rotate(page, turned_ccw))
    reading = ocr.ocr_page(preprocess_page(turned, SETTINGS), 1, SETTINGS)
    assert reading.rotation == turned_ccw, "the clockwise turn that undoes a counter-clockwise one"
    assert pages.char_error_rate(reading.text, pages.KNOWN_LINE) <= 0.04, reading.text
    assert reading.image_size == (page.width, page.height)


def test_reading_score_separates_upright_from_upside_down(page):
    upright = ocr.read_text(pages.to_array(page.convert("L")), 1, SETTINGS)
    upside_down = ocr.read_text(pages.to_array(page.convert("L").rotate(180)), 1, SETTINGS)
    assert ocr.reading_score(upright) > 0.4
    assert ocr.reading_score(upside_down) < ocr.POOR_READING_SHARE


def test_orientation_detection(page):
    gray = pages.to_array(page.convert("L"))
    for turned_ccw in (0, 90, 180, 270):
        orientation = ocr.detect_orientation(pages.to_array(pages.rotate(page.convert("L"), turned_ccw)), SETTINGS)
        assert orientation is not None and orientation.rotate == turned_ccw
    assert ocr.detect_orientation(np.full_like(gray, 255), SETTINGS) is None


def test_timeout_makes_the_document_unreadable(page):
    big = pages.to_array(page.convert("L").resize((page.width * 2, page.height * 2)))
    started = time.perf_counter()
    with pytest.raises(DocumentError) as caught:
        ocr.ocr_page(big, 4, EngineSettings(ocr_timeout_seconds=0.2))
    assert caught.value.code is ErrorCode.UNREADABLE_DOCUMENT
    assert "page 4" in caught.value.message and "longer than" in caught.value.message
    assert time.perf_counter() - started < 5


def test_missing_language_data_is_an_engine_error_not_a_document_error(page):
    with pytest.raises(RuntimeError, match="not set up"):
        ocr.read_text(pages.to_array(page.convert("L")), 1, EngineSettings(languages="xxx"))


def test_every_tesseract_call_is_single_threaded(tmp_path, monkeypatch, page):
    """A wrapper script in front of the real Tesseract records the environment of each call."""
    record = tmp_path / "calls.log"
    wrapper = tmp_path / "tesseract"
    real = subprocess.run(["which", "tesseract"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper.write_text(f'#!/bin/sh\necho "OMP_THREAD_LIMIT=$OMP_THREAD_LIMIT $*" >> "{record}"\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(wrapper))
    monkeypatch.setenv("OMP_THREAD_LIMIT", "4")
    monkeypatch.setenv("OCR_TESSERACT_IN_PROCESS", "0")  # the command path (OSD always takes it)
    upside_down = pages.to_array(page.convert("L").rotate(180))  # OCR, OSD and OCR again
    reading = ocr.ocr_page(upside_down, 1, SETTINGS)
    assert reading.rotation == 180
    calls = record.read_text().splitlines()
    assert len([c for c in calls if "--psm 0" in c]) == 1 and len(calls) >= 3
    assert all(c.startswith("OMP_THREAD_LIMIT=1 ") for c in calls), calls
    assert all(re.search(r"\.bmp\b", c) for c in calls), "images are handed over as BMP files"


def test_upright_pages_are_read_in_process_without_starting_tesseract(tmp_path, monkeypatch, page):
    record = tmp_path / "calls.log"
    wrapper = tmp_path / "tesseract"
    real = subprocess.run(["which", "tesseract"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{record}"\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    ocr.tessdata_directory()  # found once per process, before the wrapper is in place
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(wrapper))
    assert ocr.in_process_ocr()
    image = pages.to_array(page.convert("L"))
    in_process = ocr.read_text(image, 1, SETTINGS)
    assert not record.exists()
    monkeypatch.setenv("OCR_TESSERACT_IN_PROCESS", "0")
    by_command = ocr.read_text(image, 1, SETTINGS)
    assert len(record.read_text().splitlines()) == 1
    # the same page, the same words (the library and the command may differ in a character or two)
    import difflib

    assert difflib.SequenceMatcher(None, in_process.text, by_command.text).ratio() > 0.97
    assert in_process.words and abs(len(in_process.words) - len(by_command.words)) <= 2


def test_in_process_ocr_times_out_as_a_document_error(monkeypatch, page):
    import dataclasses

    image = pages.to_array(page.convert("L"))
    quick = dataclasses.replace(SETTINGS, ocr_timeout_seconds=0.001)
    with pytest.raises(DocumentError) as error:
        ocr.read_text(image, 2, quick)
    assert error.value.code is ErrorCode.UNREADABLE_DOCUMENT and "page 2" in error.value.message


def test_engine_versions_are_cached_copies():
    versions = ocr.engine_versions()
    assert set(versions) >= {"tesseract", "opencv", "pypdfium2", "pillow", "ocr_pipeline"}
    if ocr.in_process_ocr():
        import tesserocr

        cli = tesserocr.tesseract_version().split()[1] + " (tesserocr " + tesserocr.__version__ + ")"
    else:
        cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split()[1]
    assert versions["tesseract"] == cli
    versions["tesseract"] = "changed"
    started = time.perf_counter()
    again = ocr.engine_versions()
    assert time.perf_counter() - started < 0.001
    assert again["tesseract"] == cli


# ------------------------------------------------------------ temporary directories of killed processes

_OCR_IN_A_CHILD = """
import sys
import numpy as np
import pytesseract
from ocr_pipeline.engine import ocr
from ocr_pipeline.engine.models import EngineSettings

pytesseract.pytesseract.tesseract_cmd = sys.argv[1]
ocr.detect_orientation(np.full((200, 300), 255, dtype=np.uint8), EngineSettings(ocr_timeout_seconds=120))
"""


def _backdate(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_directory_of_a_process_killed_mid_ocr_is_swept_and_a_live_ones_kept(tmp_path):
    """A child process killed with SIGKILL while its Tesseract command runs leaves ``ocr-<pid>-*``
    behind; the sweep keeps it while it is younger than a minute, then removes it, and never removes the
    directory of a live process (this one's, and a live child's), however old."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    slow_tesseract = tmp_path / "slow-tesseract"
    slow_tesseract.write_text(f"#!/bin/sh\nsleep 60\nexec {pytesseract.pytesseract.tesseract_cmd} \"$@\"\n")
    slow_tesseract.chmod(0o755)
    env = {**os.environ, "TMPDIR": str(temp), "OCR_TESSERACT_IN_PROCESS": "0"}
    children = [subprocess.Popen([sys.executable, "-c", _OCR_IN_A_CHILD, str(slow_tesseract)], env=env,
                                 start_new_session=True) for _ in range(2)]
    victim, survivor = children
    try:
        def directory_of(child) -> list:
            return [p for p in temp.iterdir() if p.name.startswith(f"ocr-{child.pid}-") and (p / "page.bmp").exists()]

        deadline = time.monotonic() + 60
        while not (directory_of(victim) and directory_of(survivor)):
            assert time.monotonic() < deadline, sorted(p.name for p in temp.iterdir())
            assert victim.poll() is None and survivor.poll() is None
            time.sleep(0.1)
        [victim_dir], [survivor_dir] = directory_of(victim), directory_of(survivor)
        os.killpg(victim.pid, signal.SIGKILL)  # the child and its Tesseract command, mid-OCR
        victim.wait(10)
        assert victim_dir.exists()  # nobody removed it

        own_dir = temp / f"{ocr.temp_dir_prefix()}held"
        own_dir.mkdir()
        foreign = temp / "ocr-worker-metrics-x"  # not an OCR directory of a pid
        foreign.mkdir()
        assert ocr.sweep_orphaned_temp_dirs(str(temp)) == []  # the orphan is younger than a minute
        for path in (victim_dir, survivor_dir, own_dir, foreign):
            _backdate(path, 3600)
        removed = ocr.sweep_orphaned_temp_dirs(str(temp))
        assert removed == [str(victim_dir)]
        assert not victim_dir.exists()
        assert survivor_dir.exists() and own_dir.exists() and foreign.exists()
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)


def test_each_process_names_its_ocr_directories_after_its_pid(tmp_path, monkeypatch):
    """``ocr-<pid>-``: the sweep can tell whose directory it is."""
    assert ocr.temp_dir_prefix() == f"ocr-{os.getpid()}-"
    seen = []
    real = pytesseract.pytesseract.run_tesseract

    def spy(path, *args, **kwargs):
        seen.append(os.path.basename(os.path.dirname(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", spy)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ocr.detect_orientation(np.full((200, 300), 255, dtype=np.uint8), SETTINGS)
    assert seen and all(name.startswith(ocr.temp_dir_prefix()) for name in seen)
    assert list(tmp_path.iterdir()) == []


def test_coverage_says_how_much_of_the_page_the_reading_holds(clean_reading, page):
    assert clean_reading.coverage >= 0.9
    prepared = preprocess_page(pages.to_array(page), SETTINGS)
    first_lines = sorted({w.line for w in clean_reading.words})[: len(pages.LINES) // 2]
    half = [w for w in clean_reading.words if w.line in first_lines]
    assert ocr.reading_coverage(prepared, half) < 0.8, "a reading that dropped paragraphs covers less"
    assert ocr.reading_coverage(np.full((800, 600), 250, np.uint8), []) == 1.0


@pytest.mark.parametrize("turned_ccw, hint", [(270, 90), (0, 180)])
def test_a_known_turn_is_read_first_and_a_wrong_one_corrected(page, turned_ccw, hint):
    """A second look passes the first pass's turn; when that turn reads poorly, OSD decides again."""
    turned = preprocess_page(pages.to_array(pages.rotate(page, turned_ccw)), SETTINGS)
    reading = ocr.ocr_page(turned, 1, SETTINGS, rotation=hint)
    assert reading.rotation == turned_ccw
    assert pages.char_error_rate(reading.text, pages.KNOWN_LINE) <= 0.04, reading.text
