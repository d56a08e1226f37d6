"""The review desk: verdicts the engine flagged ``review_required`` wait here for a person.

- ``GET /v1/reviews``: the queue (completed, flagged, undecided; oldest verdict first; paged).
- ``GET /v1/reviews/{request_id}``: one case: what the reviewer compares (the applicant's name in full,
  the IIN masked), the engine's verdict, reasons and evidence snippets, and the decisions so far.
- ``GET /v1/requests/{request_id}/preview``: the evidence preview JPEG the run stored in S3 (the page
  with the name and the IIN already boxed), streamed through the API so the bucket stays private.
- ``POST /v1/requests/{request_id}/review``: ``{decision: accept|reject, reviewer, comment}``. Accept
  means the document is the applicant's (final verdict true), reject that it is not (false). The
  engine's ``verdict`` is kept; the decision goes to ``final_verdict``/``reviewed_*`` on the row and to
  the ``ocr_reviews`` audit table, and the row is published on the results topic again. One decision
  per engine verdict: a second one answers 409 (a re-check that yields a new verdict opens a new review).
- ``GET /review``: the reviewers' web page (static HTML + vanilla JS in ``static/``, open like the API
  docs: it holds no data; it asks for the bearer token and sends it on every call).
"""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, Optional

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, field_validator

from ..engine.iin import mask_iin
from ..flows.events import MAX_REQUEST_ID
from .errors import ApiError

if TYPE_CHECKING:
    from .app import ApiState

log = logging.getLogger("ocr_pipeline.api.app")

REVIEW_PAGE_PATH = "/review"
REVIEW_SCRIPT_PATH = "/review/review.js"
PAGE_PATHS = (REVIEW_PAGE_PATH, REVIEW_SCRIPT_PATH)
MAX_PAGE_SIZE = 200


class ReviewDecision(BaseModel):
    """A reviewer's decision on a flagged verdict."""

    decision: Literal["accept", "reject"] = Field(
        description="accept: the document is the applicant's (final verdict true); reject: it is not (false).")
    reviewer: str = Field(min_length=1, max_length=200, description="Who decides (e.g. an employee login).")
    comment: str = Field("", max_length=2000, description="Why; kept in the audit table, not published.")

    @field_validator("reviewer", "comment")
    @classmethod
    def _printable(cls, value: str) -> str:
        value = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
        return value


class QueueItem(BaseModel):
    """One request awaiting review (no personal data: the case page shows what is needed)."""

    request_id: int
    document_type: Optional[str] = None
    verdict: Optional[bool] = Field(description="The engine's verdict.")
    confidence: Optional[float] = None
    review_reasons: list[str] = Field(default_factory=list)
    received_at: Optional[datetime] = None
    completed_at: Optional[datetime] = Field(default=None, description="When the engine's verdict was saved.")


class ReviewQueue(BaseModel):
    total: int = Field(description="How many requests await review in all.")
    limit: int
    offset: int
    items: list[QueueItem]


class ReviewEntry(BaseModel):
    """One decision of the audit trail."""

    decision: str
    reviewer: str
    comment: str
    engine_verdict: Optional[bool]
    final_verdict: bool
    review_reasons: list[str] = Field(default_factory=list)
    run_id: Optional[str] = None
    decided_at: datetime


class ReviewCase(BaseModel):
    """What a reviewer needs to decide: the applicant's name in full (it is what they compare with the
    document), the IIN masked (the preview shows the document's, boxed), the engine's outcome."""

    request_id: int
    status: str
    s3_path: Optional[str] = None
    applicant_name: str
    iin_masked: str
    document_type: Optional[str] = None
    verdict: Optional[bool] = Field(description="The engine's verdict (never changed by a review).")
    confidence: Optional[float] = None
    review_required: bool
    review_reasons: list[str] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    checks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    awaiting_review: bool
    final_verdict: Optional[bool] = None
    reviewed_by: Optional[str] = None
    reviewed_at: Optional[datetime] = None
    preview_url: Optional[str] = Field(description="The evidence preview (needs the bearer token), if any.")
    reviews: list[ReviewEntry] = Field(default_factory=list)


def _queue_item(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in QueueItem.model_fields} | {
        "review_reasons": list(row.get("review_reasons") or [])}


def _checks_for_review(evidence: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each check's outcome, score, page and snippet (the IIN snippet is masked by the verify step);
    the details, which may quote other people's names and IINs, are left out."""
    return {
        name: {key: check.get(key) for key in ("matched", "score", "page", "snippet")}
        for name, check in (evidence.get("checks") or {}).items()
    }


def preview_object_key(prefix: str, row: dict[str, Any]) -> Optional[str]:
    """Where the run stored the request's preview (``flows.preview.preview_key``); None when previews
    are off."""
    from ..flows.preview import preview_key

    if not prefix or not row.get("s3_path"):
        return None
    return preview_key(prefix, row["s3_path"], row["request_id"])


async def review_queue(
    request: Request,
    limit: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
    offset: int = Query(0, ge=0),
) -> Any:
    """Completed verdicts flagged ``review_required`` and not decided yet, oldest verdict first."""
    state: ApiState = request.app.state.api
    store = await state.blocking(state.store)
    rows, total = await state.blocking(store.review_queue, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "items": [_queue_item(r) for r in rows]}


async def review_case(request: Request, request_id: int = Path(ge=1, le=MAX_REQUEST_ID)) -> Any:
    """One case with its evidence and audit trail."""
    state: ApiState = request.app.state.api
    store = await state.blocking(state.store)
    row = await state.blocking(store.get, request_id)
    if row is None or row["status"] == "invalid":
        raise ApiError(404, f"no request {request_id}")
    reviews = await state.blocking(store.reviews_of, request_id)
    name = " ".join(part for part in (row.get("last_name"), row.get("first_name"), row.get("second_name")) if part)
    awaiting = row["status"] == "completed" and bool(row.get("review_required")) and row.get("reviewed_at") is None
    has_preview = preview_object_key(state.settings.preview_prefix, row) is not None
    return {
        "request_id": request_id,
        "status": row["status"],
        "s3_path": row.get("s3_path") or None,
        "applicant_name": name,
        "iin_masked": mask_iin(row.get("iin") or ""),
        "document_type": row.get("document_type"),
        "verdict": row.get("verdict"),
        "confidence": row.get("confidence"),
        "review_required": bool(row.get("review_required")),
        "review_reasons": list(row.get("review_reasons") or []),
        "errors": list(row.get("errors") or []),
        "checks": _checks_for_review(row.get("evidence") or {}),
        "awaiting_review": awaiting,
        "final_verdict": row.get("final_verdict"),
        "reviewed_by": row.get("reviewed_by"),
        "reviewed_at": row.get("reviewed_at"),
        "preview_url": f"/v1/requests/{request_id}/preview" if has_preview else None,
        "reviews": [{**r, "review_reasons": list(r.get("review_reasons") or [])} for r in reviews],
    }


async def preview(request: Request, request_id: int = Path(ge=1, le=MAX_REQUEST_ID)) -> Any:
    """The evidence preview JPEG of the request (404 when the run made none)."""
    state: ApiState = request.app.state.api
    store = await state.blocking(state.store)
    row = await state.blocking(store.get, request_id)
    key = None if row is None else preview_object_key(state.settings.preview_prefix, row)
    if key is None:
        raise ApiError(404, f"no preview of request {request_id}")
    data = await state.blocking(_read_preview, state, key)
    if data is None:
        raise ApiError(404, f"no preview of request {request_id}")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})


def _read_preview(state: "ApiState", key: str) -> Optional[bytes]:
    from botocore.exceptions import ClientError

    from .health import s3_health_client

    client = s3_health_client(state.settings, timeout=10.0)
    try:
        return client.get_object(Bucket=state.settings.s3_bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


async def decide(request: Request, body: ReviewDecision, request_id: int = Path(ge=1, le=MAX_REQUEST_ID)) -> Any:
    """Record the decision (audit row + the request's final verdict) and queue the result event."""
    from ..adapters.store import ReviewRefused

    if not body.reviewer:
        raise ApiError(422, "reviewer must not be empty")
    state: ApiState = request.app.state.api
    store = await state.blocking(state.store)
    try:
        entry = await state.blocking(store.record_review, request_id, body.decision, body.reviewer, body.comment)
    except ReviewRefused as refused:
        raise ApiError(refused.status, str(refused)) from None
    log.info("request %s reviewed: %s (engine verdict %s)", request_id, body.decision, entry["engine_verdict"])
    return {**entry, "review_reasons": list(entry.get("review_reasons") or [])}


def _static(name: str) -> str:
    return resources.files("ocr_pipeline.api").joinpath("static", name).read_text(encoding="utf-8")


async def review_page() -> Any:
    """The reviewers' page; its data comes from the API with the bearer token the page asks for."""
    return HTMLResponse(_static("review.html"), headers={"Cache-Control": "no-store"})


async def review_script() -> Any:
    return Response(_static("review.js"), media_type="text/javascript", headers={"Cache-Control": "no-store"})


def add_review_routes(app: FastAPI, secured: list, error_responses: dict) -> None:
    """Register the review desk's routes (``secured``: the token dependency of the other /v1 routes)."""
    app.add_api_route("/v1/reviews", review_queue, methods=["GET"], response_model=ReviewQueue,
                      dependencies=secured, summary="Requests awaiting a reviewer's decision",
                      responses=error_responses)
    app.add_api_route("/v1/reviews/{request_id}", review_case, methods=["GET"], response_model=ReviewCase,
                      dependencies=secured, summary="One review case with its evidence and audit trail",
                      responses={404: {"description": "Unknown request_id."}, **error_responses})
    app.add_api_route("/v1/requests/{request_id}/preview", preview, methods=["GET"], dependencies=secured,
                      response_class=Response, summary="The evidence preview JPEG",
                      responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No preview."},
                                 **error_responses})
    app.add_api_route("/v1/requests/{request_id}/review", decide, methods=["POST"], response_model=ReviewEntry,
                      dependencies=secured, summary="Record a reviewer's decision",
                      responses={404: {"description": "Unknown request_id."},
                                 409: {"description": "Not awaiting review, or already decided."},
                                 **error_responses})
    app.add_api_route(REVIEW_PAGE_PATH, review_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(REVIEW_SCRIPT_PATH, review_script, methods=["GET"], include_in_schema=False)
