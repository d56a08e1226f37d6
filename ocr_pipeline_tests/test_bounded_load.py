"""``engine.bounded_load``: the decoder process's memory and time limits, and what survives them."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from ocr_pipeline.engine import bounded_load
from ocr_pipeline.engine.bounded_load import load_document_bounded
from ocr_pipeline.engine.load import load_document
from ocr_pipeline.engine.models import DocumentError, EngineSettings, ErrorCode
from ocr_pipeline_devtools import bad_files
from ocr_pipeline_devtools import engine_pages as pages

pytestmark = pytest.mark.unit


def _scan_pdf() -> bytes:
    return pages.encode(pages.render_page(), "PDF")


def test_same_pages_and_errors_as_load_document():
    settings = EngineSettings()
    for data in (_scan_pdf(), pages.text_pdf([[pages.KNOWN_LINE] * 10]), pages.encode(pages.render_page(), "PNG")):
        bounded, direct = load_document_bounded(data, settings), load_document(data, settings)
        assert [(p.number, p.text_layer) for p in bounded] == [(p.number, p.text_layer) for p in direct]
        for b, d in zip(bounded, direct):
            assert (b.image is None and d.image is None) or np.array_equal(b.image, d.image)
    with pytest.raises(DocumentError) as caught:
        load_document_bounded(b"%PDF-1.7\n" + b"\x00" * 100, settings)
    assert caught.value.code is ErrorCode.CORRUPT_FILE


def test_a_decoder_out_of_memory_is_file_too_large_and_the_next_document_is_read():
    data = _scan_pdf()  # an A4 page at 300 DPI: 35 MB rendered
    with pytest.raises(DocumentError) as caught:
        load_document_bounded(data, replace(EngineSettings(), max_decode_bytes=16 * 1024 * 1024))
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE and "memory" in caught.value.message
    assert load_document_bounded(data, EngineSettings())[0].image is not None


def test_a_bomb_the_pattern_check_misses_is_file_too_large():
    with pytest.raises(DocumentError) as caught:
        load_document_bounded(bad_files.pdf_flate_bomb_escaped_name(), EngineSettings())
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE


def test_a_decoder_over_its_time_is_killed_and_the_next_document_is_read():
    data = _scan_pdf()
    with pytest.raises(DocumentError) as caught:
        load_document_bounded(data, replace(EngineSettings(), max_decode_seconds=0.001))
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE and "took more than" in caught.value.message
    assert load_document_bounded(data, EngineSettings())[0].image is not None


def _load_in_daemon(data: bytes, results) -> None:
    try:
        results.put(len(load_document_bounded(data, EngineSettings())))
    except BaseException as error:  # reported to the test
        results.put(repr(error))


def test_works_in_a_daemonic_process_like_celerys_prefork_pool():
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=_load_in_daemon, args=(_scan_pdf(), results), daemon=True)
    process.start()
    outcome = results.get(timeout=120)
    process.join(30)
    assert outcome == 1


@pytest.mark.parametrize("sig, code", [(signal.SIGSEGV, ErrorCode.CORRUPT_FILE),
                                       (signal.SIGKILL, ErrorCode.FILE_TOO_LARGE)])
def test_a_decoder_that_dies_mid_document_gives_a_verdict_code_and_the_next_document_is_read(sig, code):
    """A crash in a native library (SIGSEGV) is a corrupt file; a kill (the kernel's OOM killer, pdfium's
    abort on a failed allocation) a file too large to decode."""
    data = pages.blank_pdf(4, size_pt=(14400, 14400))  # 4 posters, 1.7 s of rendering: time to kill the decoder
    load_document_bounded(pages.text_pdf([["warm"]]), EngineSettings())  # a warm decoder, idle
    warm = [decoder.process.pid for decoder in bounded_load._POOL.idle]
    outcome: dict = {}

    def load() -> None:
        try:
            load_document_bounded(data, EngineSettings())
        except DocumentError as error:
            outcome["error"] = error

    reader = threading.Thread(target=load)
    reader.start()
    time.sleep(0.3)  # the warm decoder has the document
    for pid in warm:
        os.kill(pid, sig)
    reader.join(60)
    assert outcome["error"].code is code, outcome
    assert load_document_bounded(_scan_pdf(), EngineSettings())[0].image is not None
