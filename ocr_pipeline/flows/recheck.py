"""Re-checks: verify given requests again from their stored events, in one run. Plain Python.

The analysts' ``recheck_requests`` job calls :func:`recheck_requests`; each request goes through the
backfill's ``BatchVerifier`` (same download, engine calls, preview and row writes as a backfill).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..adapters.config import S3_DOWNLOAD_ATTEMPTS
from ..adapters.store import VerdictStore
from .backfill import BatchReport, BatchVerifier, _Target

log = logging.getLogger(__name__)


def recheck_requests(
    client: Any,
    bucket: str,
    store: VerdictStore,
    request_ids: list[int],
    run_id: str,
    *,
    download_attempts: int = S3_DOWNLOAD_ATTEMPTS.default,
    preview_prefix: str = "",
    logger: Any = log,
) -> BatchReport:
    """Verify the given requests again from their stored events, whatever their last outcome.

    Each request is a new attempt on its row (retry_count + 1, as a re-execution). Unknown ids (and
    rows that are only ``invalid`` events) are listed in ``report.unmatched``.
    """
    started = time.perf_counter()
    report = BatchReport()
    verifier = BatchVerifier(client, bucket, store, run_id, download_attempts=download_attempts,
                             preview_prefix=preview_prefix, logger=logger)
    for request_id in dict.fromkeys(request_ids):
        event = store.load_event(request_id)
        if event is None:
            report.unmatched.append({"request_id": str(request_id), "reason": "no stored event"})
            continue
        report.documents += 1
        verifier.verify(event.s3_path, [_Target(event, "recheck")], report)
        logger.info("re-check %d/%d: request %s", report.documents, len(request_ids), request_id)
    report.seconds = time.perf_counter() - started
    return report
