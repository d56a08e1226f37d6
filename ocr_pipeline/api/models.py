"""Request and response bodies of the HTTP API (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..flows.events import MAX_NAME_CHARS, MAX_REQUEST_ID, MAX_S3_KEY_BYTES


class ErrorEntry(BaseModel):
    """One error of the verdict contract: a stable ``code`` and a human ``message``."""

    code: str = Field(examples=["NAME_NOT_FOUND"])
    message: str


class Check(BaseModel):
    """Evidence of one check of the verdict."""

    matched: bool
    score: float = 0.0
    page: Optional[int] = None
    snippet: Optional[str] = None
    detail: dict[str, Any] = Field(default_factory=dict)


class VerdictResponse(BaseModel):
    """The verdict contract (as ``ocr-pipeline verify --json`` prints it and ``ocr_requests`` stores it)."""

    verdict: bool
    errors: list[ErrorEntry] = Field(default_factory=list)
    document_type: str = "other"
    confidence: float = 0.0
    review_required: bool = False
    review_reasons: list[str] = Field(default_factory=list, description="Why review is required (e.g. initials_only).")
    checks: dict[str, Check] = Field(default_factory=dict)
    pages: int = 0
    processing_time_seconds: float = 0.0
    engine: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    request_id: Optional[int] = Field(default=None, description="Set when the verdict was stored (store=true).")


class KafkaEvent(BaseModel):
    """The request event, exactly as the mobile app publishes it on the Kafka topic.

    Documentation only: the body is validated by the sensor's own parser (``ocr_pipeline.flows.events``),
    so the API accepts and rejects exactly what the Kafka path does. Extra fields are kept.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{
                "request_id": 1234567,
                "s3_path": "2024/12/Приказ о выходе в декретный отпуск - Жармағанбетова.pdf",
                "iin": "960125400123",
                "last_name": "Жармағанбетова",
                "first_name": "Әлия",
                "second_name": "Серікқызы",
            }]
        },
    )

    request_id: int = Field(ge=1, description=f"Unique request id: a JSON integer, 1 … {MAX_REQUEST_ID}.")
    s3_path: str = Field(
        min_length=1, description=f"Object key in the document bucket (any Unicode, ≤ {MAX_S3_KEY_BYTES} bytes UTF-8)."
    )
    iin: str = Field(pattern=r"^[0-9]{12}$", description="Applicant's IIN: 12 digits with a valid checksum.")
    last_name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    first_name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    second_name: Optional[str] = Field(default="", max_length=MAX_NAME_CHARS, description="Patronymic; may be empty.")


class RequestStatus(BaseModel):
    """A request's state in ``ocr_requests`` and the Dagster run working on it."""

    request_id: int
    status: str = Field(description="received, downloading, processing, completed, failed or invalid.")
    s3_path: Optional[str] = None
    verdict: Optional[bool] = None
    errors: list[ErrorEntry] = Field(default_factory=list)
    error_message: Optional[str] = None
    document_type: Optional[str] = None
    confidence: Optional[float] = None
    review_required: Optional[bool] = None
    review_reasons: list[str] = Field(default_factory=list, description="Why review is required (e.g. initials_only).")
    pages: Optional[int] = None
    checks: dict[str, Check] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    processing_time_seconds: Optional[float] = None
    retry_count: int = 0
    received_at: Optional[datetime] = None
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    run_id: Optional[str] = None
    run_url: Optional[str] = Field(default=None, description="The run in the Dagster UI.")


class KafkaVerifyResponse(RequestStatus):
    """The answer to ``POST /v1/kafka-verify``: the request's status, and whether it was new."""

    duplicate: bool = Field(description="True when the request_id was already known: no run was submitted.")
    message: str


class DependencyHealth(BaseModel):
    status: Literal["up", "down"]
    latency_ms: Optional[float] = None
    detail: Optional[str] = None


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, DependencyHealth]


class ErrorResponse(BaseModel):
    """Every error answer: ``detail`` says what went wrong; ``errors`` carries verdict error codes when
    one applies (``UNSUPPORTED_FORMAT``, ``FILE_TOO_LARGE``)."""

    detail: Any
    errors: list[ErrorEntry] = Field(default_factory=list)
    error_id: Optional[str] = Field(default=None, description="Quote it to find the failure in the server log.")


def status_from_row(row: dict[str, Any], run_url: Optional[str]) -> dict[str, Any]:
    """An ``ocr_requests`` row as :class:`RequestStatus` fields (no IIN, no names)."""
    evidence = row.get("evidence") or {}
    return {
        "request_id": row["request_id"],
        "status": row["status"],
        "s3_path": row.get("s3_path") or None,
        "verdict": row.get("verdict"),
        "errors": list(row.get("errors") or []),
        "error_message": row.get("error_message"),
        "document_type": row.get("document_type"),
        "confidence": row.get("confidence"),
        "review_required": row.get("review_required"),
        "review_reasons": list(row.get("review_reasons") or []),
        "pages": row.get("pages"),
        "checks": dict(evidence.get("checks") or {}),
        "timings": dict(evidence.get("timings") or {}),
        "processing_time_seconds": row.get("processing_time_seconds"),
        "retry_count": row.get("retry_count") or 0,
        "received_at": row.get("received_at"),
        "started_at": row.get("started_at"),
        "completed_at": row.get("completed_at"),
        "updated_at": row.get("updated_at"),
        "run_id": row.get("run_id"),
        "run_url": run_url,
    }
