"""The daily summary of the verdict table, with pandas. Plain Python (the asset is a thin wrapper).

``load_requests_frame`` reads the rows received in a time window; ``summarize`` counts them by status,
verdict, error code and document type and computes the median and p95 processing time of completed ones.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import pandas as pd

    from ..adapters.store import VerdictStore

FRAME_COLUMNS = ["request_id", "status", "verdict", "errors", "document_type", "processing_time_seconds",
                 "received_at", "completed_at"]


def load_requests_frame(store: "VerdictStore", start: dt.datetime, end: dt.datetime) -> "pd.DataFrame":
    """The requests received in ``[start, end)`` as a DataFrame (``FRAME_COLUMNS``; errors as lists)."""
    import pandas as pd

    query = sa.text(
        f"SELECT {', '.join(FRAME_COLUMNS)} FROM ocr_requests "
        "WHERE received_at >= :start AND received_at < :end ORDER BY request_id"
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query, {"start": start, "end": end}).mappings().all()
    frame = pd.DataFrame([dict(row) for row in rows], columns=FRAME_COLUMNS)
    frame["processing_time_seconds"] = pd.to_numeric(frame["processing_time_seconds"], errors="coerce").astype(float)
    return frame


def summarize(frame: "pd.DataFrame") -> dict[str, Any]:
    """Counts by dimension (``rows``: dimension, value, requests) and processing-time percentiles."""
    rows: list[dict[str, Any]] = []

    def count(dimension: str, values: "pd.Series") -> None:
        for value, requests in values.value_counts(dropna=False).sort_index(key=lambda s: s.astype(str)).items():
            if value is None or value != value:  # None or NaN
                label = "none"
            else:
                label = str(value).lower() if isinstance(value, bool) else str(value)
            rows.append({"dimension": dimension, "value": label, "requests": int(requests)})

    count("status", frame["status"])
    count("verdict", frame["verdict"].map(lambda v: None if v is None or v != v else bool(v)))
    codes = frame["errors"].map(lambda errors: [e.get("code") for e in errors or []]).explode().dropna()
    count("error_code", codes)
    count("document_type", frame["document_type"])
    times = frame.loc[frame["status"] == "completed", "processing_time_seconds"].dropna()
    return {
        "requests": int(len(frame)),
        "rows": rows,
        "median_processing_seconds": round(float(times.median()), 3) if len(times) else 0.0,
        "p95_processing_seconds": round(float(times.quantile(0.95)), 3) if len(times) else 0.0,
    }
