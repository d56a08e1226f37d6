"""The fault suite's results table (README, "Reliability"): one row per fault or bad-input kind.

A test that injects a fault or feeds bad input counts what happened and calls
``record_fault(kind, count, lost=..., duplicated=..., crashed=..., note=...)`` *before* asserting the
zeros, so a failing run still shows its numbers. At the end of the session the rows are printed as a
Markdown table (``pytest_terminal_summary`` in conftest.py) and written to ``$OCR_FAULT_REPORT`` when
that is set (``make faults`` sets it).

- ``lost``: requests (or events, or files) that ended without a terminal row / error code.
- ``duplicated``: requests that got more than one run, or more than one terminal outcome.
- ``crashed``: processes that died unexpectedly or unhandled exceptions (a run worker, the sensor).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

FAULT_TEST_MARK = "faults"


@dataclass
class FaultRow:
    kind: str
    count: int
    lost: int = 0
    duplicated: int = 0
    crashed: int = 0
    note: str = ""


_rows: list[FaultRow] = []
_lock = threading.Lock()


def record_fault(kind: str, count: int, *, lost: int = 0, duplicated: int = 0, crashed: int = 0,
                 note: str = "") -> FaultRow:
    """Add one row to the session's fault table (call before asserting, so failures are reported)."""
    row = FaultRow(kind, count, lost, duplicated, crashed, note)
    with _lock:
        _rows.append(row)
    return row


def rows() -> list[FaultRow]:
    """The rows recorded so far, in order."""
    with _lock:
        return list(_rows)


def markdown_table(table_rows: list[FaultRow]) -> str:
    """The rows as the README's Markdown table."""
    lines = [
        "| Fault or input kind | Count | Lost | Duplicated | Crashed | Note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in table_rows:
        lines.append(
            f"| {row.kind} | {row.count} | {row.lost} | {row.duplicated} | {row.crashed} | {row.note} |"
        )
    return "\n".join(lines)


def write_report() -> None:
    """Write the rows to ``$OCR_FAULT_REPORT`` (``.md`` table, plus ``.json`` beside it) when it is set."""
    path = os.environ.get("OCR_FAULT_REPORT")
    table_rows = rows()
    if not path or not table_rows:
        return
    with open(path, "w", encoding="utf-8") as out:
        out.write(markdown_table(table_rows) + "\n")
    with open(os.path.splitext(path)[0] + ".json", "w", encoding="utf-8") as out:
        json.dump([asdict(row) for row in table_rows], out, ensure_ascii=False, indent=1)
