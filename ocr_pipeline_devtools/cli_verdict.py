"""The verdict ``ocr-pipeline verify --json`` gives for a file: the yardstick every other path must match.

The pipeline, the backfill and the HTTP API run the same engine as the command line; tests compare
what they stored or answered with this, field by field (``SAME_FIELDS``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ocr_pipeline.engine.models import Applicant

# what must be identical whichever path verified the document
SAME_FIELDS = ("verdict", "error_codes", "document_type", "confidence", "review_required", "review_reasons")


def cli_verdict(data: bytes, applicant: Applicant, suffix: str = ".bin") -> dict[str, Any]:
    """Run ``ocr-pipeline verify FILE --json`` on ``data`` in a process of its own; the parsed JSON."""
    cli = Path(sys.executable).with_name("ocr-pipeline")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, f"document{suffix}")
        path.write_bytes(data)
        command = [str(cli), "verify", str(path), "--json", "--iin", applicant.iin,
                   "--last-name", applicant.last_name, "--first-name", applicant.first_name,
                   "--second-name", applicant.second_name]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "OMP_THREAD_LIMIT": "1"})
    if result.returncode != 0:
        raise RuntimeError(f"ocr-pipeline verify exited {result.returncode}: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def comparable(verdict: dict[str, Any]) -> dict[str, Any]:
    """The ``SAME_FIELDS`` of a verdict as the CLI prints it, an API answers it or a row stores it."""
    codes = [error["code"] for error in verdict.get("errors") or []]
    values = {field: verdict.get(field) for field in SAME_FIELDS if field != "error_codes"}
    values.update(error_codes=codes, review_reasons=list(verdict.get("review_reasons") or []))
    return values
