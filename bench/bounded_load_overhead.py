#!/usr/bin/env python
"""What the decoder process (``engine.bounded_load``) costs a clean document: ``load_document`` in
this process against ``load_document_bounded`` (a warm decoder), interleaved, on three kinds of clean
upload (an A4 scan as a PDF, a text PDF, an A4 PNG at 300 DPI), and the cost of a fresh decoder
(process start and imports) for comparison with forking one per document.

Prints the median and p95 seconds per kind and the median per-document overhead.

    .venv/bin/python bench/bounded_load_overhead.py --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import time

from ocr_pipeline.engine import bounded_load
from ocr_pipeline.engine.load import load_document
from ocr_pipeline.engine.models import EngineSettings
from ocr_pipeline_devtools import engine_pages as pages


def _seconds(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    settings = EngineSettings()
    page = pages.render_page(size=(2480, 3508), font_px=44, margin=200)  # A4 at 300 DPI, colour
    documents = {
        "A4 scan PDF (rasterised)": pages.encode(page, "PDF", resolution=300),
        "text PDF (text layer)": pages.text_pdf([[pages.KNOWN_LINE] * 10]),
        "A4 PNG 300 DPI": pages.encode(page, "PNG"),
    }
    bounded_load.load_document_bounded(documents["text PDF (text layer)"], settings)  # a warm decoder
    print(f"{'document':28} {'in-process med':>14} {'bounded med':>12} {'overhead med':>13} {'p95 in/bounded':>16}")
    for name, data in documents.items():
        direct, bounded, overhead = [], [], []
        for _ in range(args.repeat):
            d = _seconds(load_document, data, settings)
            b = _seconds(bounded_load.load_document_bounded, data, settings)
            direct.append(d)
            bounded.append(b)
            overhead.append(b - d)
        p95 = lambda values: sorted(values)[int(0.95 * (len(values) - 1))]  # noqa: E731
        print(f"{name:28} {statistics.median(direct):14.3f} {statistics.median(bounded):12.3f} "
              f"{statistics.median(overhead) * 1000:10.1f} ms {p95(direct):7.3f}/{p95(bounded):.3f}")
    starts = []
    for _ in range(min(args.repeat, 5)):
        started = time.perf_counter()
        decoder = bounded_load._Decoder(settings.max_decode_bytes)
        decoder.load(documents["text PDF (text layer)"], settings)
        starts.append(time.perf_counter() - started)
        decoder.stop()
    print(f"a fresh decoder (start, imports, a text PDF): median {statistics.median(starts):.3f} s")


if __name__ == "__main__":
    main()
