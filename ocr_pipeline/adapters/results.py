"""Result events: every request in a terminal status is published to ``KAFKA_RESULTS_TOPIC``.

An outbox on the ``ocr_requests`` rows: a row whose ``result_published_at`` is older than its
``updated_at`` has an unpublished result. ``publish_results`` sends those (key = request_id), waits for
the acknowledgements and only then marks the rows; a failed send leaves them for the next call, so
delivery is at least once, and the verdict write never waits for Kafka. A row that changed while its
event was in flight (a re-check) stays unpublished and is sent again with its new state.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Optional

from .kafka import KafkaSettings, KafkaUnavailable
from .store import VerdictStore

log = logging.getLogger(__name__)


def result_event(row: dict[str, Any]) -> dict[str, Any]:
    """The result event of a request row (``request_id, status, verdict, errors, document_type,
    processed_at``; ``error_message`` for a failed or invalid request).

    Added fields (older consumers ignore them; ``verdict`` stays the engine's): ``review_required``;
    ``final_verdict``: the verdict to act on (the reviewer's once decided, the engine's when no review is
    required, null while a review is awaited); ``review``: ``{decision, reviewed_by, reviewed_at}`` once a
    reviewer decided (the comment stays in ``ocr_reviews``: free text may name people)."""
    processed_at = row.get("completed_at") or row.get("updated_at")
    event = {
        "request_id": row["request_id"],
        "status": row["status"],
        "verdict": row.get("verdict"),
        "errors": list(row.get("errors") or []),
        "document_type": row.get("document_type"),
        "processed_at": processed_at.isoformat() if processed_at is not None else None,
    }
    review_required = bool(row.get("review_required"))
    event["review_required"] = review_required
    reviewed_at = row.get("reviewed_at")
    if reviewed_at is not None:
        event["final_verdict"] = row.get("final_verdict")
        event["review"] = {"decision": row.get("review_decision"), "reviewed_by": row.get("reviewed_by"),
                           "reviewed_at": reviewed_at.isoformat()}
    else:
        awaiting = review_required or row["status"] != "completed"
        event["final_verdict"] = None if awaiting else row.get("verdict")
        event["review"] = None
    if row["status"] != "completed" and row.get("error_message"):
        event["error_message"] = row["error_message"]
    return event


def publish_results(
    settings: KafkaSettings, results_topic: Optional[str], store: VerdictStore, *, limit: int = 500
) -> int:
    """Publish the unpublished results (at most ``limit``); returns how many were acknowledged.

    Off (returns 0) when ``results_topic`` is unset. Raises ``KafkaUnavailable`` when the brokers
    cannot be reached (nothing is marked).
    """
    if not results_topic:
        return 0
    rows = store.unpublished_results(limit)
    if not rows:
        return 0
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    config = dataclasses.replace(settings, topic=results_topic).producer_config()
    try:
        producer = KafkaProducer(**config)
    except KafkaError as error:
        raise KafkaUnavailable(f"cannot connect to Kafka at {settings.bootstrap_servers}: {error}") from error
    acknowledged: dict[int, Any] = {}
    timeout = settings.request_timeout_ms / 1000
    try:
        futures = []
        for row in rows:
            value = json.dumps(result_event(row), ensure_ascii=False, default=str).encode("utf-8")
            futures.append((row, producer.send(results_topic, key=str(row["request_id"]).encode(), value=value)))
        producer.flush(timeout)
        for row, future in futures:
            try:
                future.get(timeout=timeout)
            except KafkaError as error:
                log.warning("result of request %s not acknowledged: %s", row["request_id"], error)
                continue
            acknowledged[row["request_id"]] = row["updated_at"]
    finally:
        producer.close(timeout=timeout)
    store.mark_results_published(acknowledged)
    log.info("%d result event(s) published to %s", len(acknowledged), results_topic)
    return len(acknowledged)
