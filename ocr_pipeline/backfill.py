"""Batch verification inside one run: S3-prefix backfills and analysts' re-checks. Plain Python.

``backfill_prefix`` lists every object under a prefix (paginated), joins each document to its request
rows by ``s3_path``; an object with no row gets its applicant from a sidecar ``<key>.json`` (UTF-8:
``iin``, ``last_name``, ``first_name``, ``second_name``, optionally ``request_id``) or from the object's
user metadata (``iin``, ``last-name``, ``first-name``, ``second-name``: ASCII headers); objects with
neither are reported as unmatched. Documents are verified in batches with the same engine calls and
store writes as a per-request run (``ocr_pipeline.verification``, ``VerdictStore.save_verdict``: upsert
on request_id). One bad document fails that document only.

Synthetic request ids: an object that never came through Kafka and whose sidecar names no request_id
gets ``synthetic_request_id(bucket, key)``, a negative BIGINT derived from SHA-256 of bucket and key.
Real request ids are positive (the event contract), so the two can never collide; the same object
always gets the same id, so a re-run updates the same row.

Idempotence: a document whose rows are all ``completed`` on the same ETag with the same engine versions
is skipped without being downloaded; anything else is verified again (a new attempt: retry_count + 1).

Parallelism: ``workers`` engine processes (default: one per core; ``engine_processes``) read and decide
the documents; two threads per process download them and write the rows, so a process has the next
document as soon as it is free. The Python parts of the engine hold the GIL: threads alone did not use
the cores. A batch's largest documents go first, and the next batch is queued before the current one
is collected, so no core waits on the slowest document of a batch. Each document reports into its own
``BatchReport``, merged in listing order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from .engine.iin import mask_iin
from .engine.models import DocumentError, ErrorCode, error_entry
from .engine_processes import EngineProcesses
from .events import InvalidEvent, RequestEvent
from .store import COMPLETED, DOWNLOADING, PROCESSING, VerdictStore, event_from_row
from .verification import ENGINE_SETTINGS, current_engine_versions, read_and_decide, warm_up

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"
METADATA_FIELDS = {"iin": "iin", "last-name": "last_name", "first-name": "first_name", "second-name": "second_name"}
MAX_SIDECAR_BYTES = 64 * 1024
MAX_LISTED_IN_METADATA = 100
DEFAULT_BATCH_SIZE = 50


@dataclass(frozen=True)
class ListedObject:
    """One key of a prefix listing."""

    key: str
    etag: Optional[str]
    size: int


@dataclass
class BatchReport:
    """What a backfill or re-check did; ``metadata()`` is its materialization metadata."""

    prefix: Optional[str] = None
    objects_listed: int = 0
    documents: int = 0
    sidecars: int = 0
    orphan_sidecars: int = 0
    verified: int = 0
    skipped: int = 0
    requests_written: int = 0
    previews: int = 0
    by_source: Counter = field(default_factory=Counter)
    by_verdict: Counter = field(default_factory=Counter)
    by_error: Counter = field(default_factory=Counter)
    unmatched: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: "BatchReport") -> None:
        """Add the counts and lists of ``other`` (one document's report) to this one."""
        for name in ("verified", "skipped", "requests_written", "previews"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("by_source", "by_verdict", "by_error"):
            getattr(self, name).update(getattr(other, name))
        self.unmatched.extend(other.unmatched)
        self.failed.extend(other.failed)

    @property
    def documents_per_second(self) -> float:
        """Documents verified per second of the whole run (listing and store writes included)."""
        return round(self.verified / self.seconds, 2) if self.seconds > 0 else 0.0

    def metadata(self) -> dict[str, Any]:
        """Plain values (Dagster turns them into metadata entries); lists are capped."""
        return {
            "prefix": self.prefix or "",
            "objects_listed": self.objects_listed,
            "documents": self.documents,
            "sidecars": self.sidecars,
            "orphan_sidecars": self.orphan_sidecars,
            "verified": self.verified,
            "skipped_already_verified": self.skipped,
            "requests_written": self.requests_written,
            "previews": self.previews,
            "unmatched": len(self.unmatched),
            "failed": len(self.failed),
            "by_source": dict(self.by_source),
            "by_verdict": dict(self.by_verdict),
            "by_error_code": dict(self.by_error),
            "unmatched_objects": self.unmatched[:MAX_LISTED_IN_METADATA],
            "failed_documents": self.failed[:MAX_LISTED_IN_METADATA],
            "seconds": round(self.seconds, 2),
            "documents_per_second": self.documents_per_second,
        }


@dataclass
class _Target:
    """A request a document is verified for."""

    event: RequestEvent
    source: str  # registered | sidecar | metadata | recheck
    row: Optional[dict[str, Any]] = None


def synthetic_request_id(bucket: str, key: str) -> int:
    """A stable negative request id for an object that never came through Kafka (-1 … -(2**63-1))."""
    digest = hashlib.sha256(f"{bucket}\x00{key}".encode("utf-8")).digest()
    return -(1 + int.from_bytes(digest[:8], "big") % (2**63 - 1))


def list_prefix(client: Any, bucket: str, prefix: str) -> Iterator[ListedObject]:
    """Every object under ``prefix`` (ListObjectsV2, paginated: 1,000 keys a page)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield ListedObject(key=item["Key"], etag=item.get("ETag"), size=int(item.get("Size") or 0))


def applicant_fields_from_metadata(metadata: dict[str, str]) -> Optional[dict[str, str]]:
    """The applicant's fields from S3 user metadata (keys as boto3 returns them), or None without an IIN."""
    lowered = {str(k).lower(): v for k, v in (metadata or {}).items()}
    if not lowered.get("iin"):
        return None
    return {field_name: lowered.get(header, "") or "" for header, field_name in METADATA_FIELDS.items()}


def event_for_object(bucket: str, key: str, fields: dict[str, Any]) -> RequestEvent:
    """Validate sidecar/metadata fields as an event for ``key``; raises ``InvalidEvent``.

    A positive ``request_id`` in the fields is kept; otherwise the synthetic id is used.
    """
    request_id = fields.get("request_id")
    has_real_id = isinstance(request_id, int) and not isinstance(request_id, bool) and request_id > 0
    data = {name: fields.get(name) for name in ("iin", "last_name", "first_name", "second_name")}
    event = RequestEvent.from_dict({**data, "request_id": request_id if has_real_id else 1, "s3_path": key})
    return event if has_real_id else dataclasses.replace(event, request_id=synthetic_request_id(bucket, key))


def _already_verified(rows: list[dict[str, Any]], etag: Optional[str], engine: dict[str, str]) -> bool:
    if not rows or not etag:
        return False
    for row in rows:
        evidence = row.get("evidence") or {}
        if row["status"] != COMPLETED or row.get("s3_etag") != etag or evidence.get("engine") != engine:
            return False
    return True


def _read_sidecar(client: Any, bucket: str, key: str) -> dict[str, Any]:
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        raw = body.read(MAX_SIDECAR_BYTES + 1)
    finally:
        body.close()
    if len(raw) > MAX_SIDECAR_BYTES:
        raise InvalidEvent(f"sidecar larger than {MAX_SIDECAR_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidEvent(f"sidecar is not UTF-8 JSON: {type(error).__name__}") from None
    if not isinstance(data, dict):
        raise InvalidEvent("sidecar is not a JSON object")
    return data


class BatchVerifier:
    """Downloads, reads and decides documents for their requests, writing each verdict to the store.
    With ``engine`` the reading and deciding run in its processes, else in the calling thread."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        store: VerdictStore,
        run_id: str,
        *,
        download_attempts: int = 4,
        preview_prefix: str = "",
        logger: Any = log,
        engine: Optional[EngineProcesses] = None,
    ):
        self.engine = engine
        self.preview_prefix = preview_prefix
        self.client = client
        self.bucket = bucket
        self.store = store
        self.run_id = run_id
        self.download_attempts = download_attempts
        self.logger = logger

    def download(self, key: str):
        """The object (bytes, ETag, metadata); raises ``DocumentError`` or ``S3DownloadError``."""
        from .s3_download import download_object

        return download_object(
            self.client, self.bucket, key, max_bytes=ENGINE_SETTINGS.max_file_bytes,
            attempts=self.download_attempts,
        )

    def verify(self, key: str, targets: list[_Target], report: BatchReport, obj: Any = None,
               download_error: Optional[DocumentError] = None) -> None:
        """Verify one document for its targets; a failure is recorded on their rows and in ``report``."""
        try:
            self._verify(key, targets, report, obj, download_error)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            self.logger.warning("document %r failed: %s", key, message)
            for target in targets:
                try:
                    self.store.mark_failed(target.event.request_id, message, run_id=self.run_id)
                except Exception:
                    log.exception("could not mark request %s failed", target.event.request_id)
                report.by_verdict["failed"] += 1
            report.failed.append({"key": key, "request_ids": [t.event.request_id for t in targets],
                                  "error": message[:500]})

    def _verify(self, key: str, targets: list[_Target], report: BatchReport, obj: Any,
                download_error: Optional[DocumentError]) -> None:
        from .s3_download import S3DownloadError

        for target in targets:
            self.store.record_received(target.event)  # no-op for a request already recorded
            self.store.start_attempt(target.event.request_id, self.run_id, DOWNLOADING)
        timings: dict[str, float] = {}
        if obj is None and download_error is None:
            started = time.perf_counter()
            try:
                obj = self.download(key)
            except DocumentError as error:
                download_error = error
            except S3DownloadError:
                raise
            timings["download"] = time.perf_counter() - started
        if download_error is not None and download_error.code is ErrorCode.S3_OBJECT_NOT_FOUND:
            for target in targets:
                self.store.mark_failed(
                    target.event.request_id, download_error.message,
                    errors=[error_entry(download_error.code, download_error.message)], run_id=self.run_id,
                )
                report.by_verdict["failed"] += 1
                report.by_error[download_error.code.value] += 1
            report.failed.append({"key": key, "request_ids": [t.event.request_id for t in targets],
                                  "error": download_error.code.value})
            return
        for target in targets:
            self.store.start_attempt(target.event.request_id, self.run_id, PROCESSING)
            if obj is not None and obj.etag:
                self.store.save_document_etag(target.event.request_id, obj.etag)
        data, error = None, None
        if download_error is not None:
            error = (download_error.code.value, download_error.message)
        else:
            data = obj.data
        arguments = (data, error, [target.event.applicant() for target in targets], timings,
                     bool(self.preview_prefix))
        results = self.engine.call(read_and_decide, *arguments) if self.engine else read_and_decide(*arguments)
        for target, (verdict, preview) in zip(targets, results):
            self.store.save_verdict(target.event.request_id, verdict, self.run_id)
            report.requests_written += 1
            if preview is not None:
                self._upload_preview(preview, target.event, report)
            report.by_source[target.source] += 1
            report.by_verdict[str(bool(verdict.verdict)).lower()] += 1
            for code in verdict.error_codes:
                report.by_error[code] += 1
            self.logger.debug(
                "request %s (IIN %s): verdict %s %s", target.event.request_id, mask_iin(target.event.iin),
                verdict.verdict, ",".join(verdict.error_codes) or "-",
            )
        report.verified += 1


    def _upload_preview(self, image: bytes, event: RequestEvent, report: BatchReport) -> None:
        from .preview import preview_key

        try:
            self.client.put_object(Bucket=self.bucket, Body=image, ContentType="image/jpeg",
                                   Key=preview_key(self.preview_prefix, event.s3_path, event.request_id))
            report.previews += 1
        except Exception as error:  # a preview is an extra: never fails the verdict
            self.logger.warning("request %s: no preview: %s", event.request_id, type(error).__name__)


def backfill_prefix(
    client: Any,
    bucket: str,
    prefix: str,
    store: VerdictStore,
    run_id: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 0,
    download_attempts: int = 4,
    preview_prefix: str = "",
    logger: Any = log,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchReport:
    """Verify every document under ``prefix`` in one call (see the module docstring) with ``workers``
    engine processes (0: one per core)."""
    started = clock()
    report = BatchReport(prefix=prefix)
    workers = workers or os.cpu_count() or 1
    engine_processes = EngineProcesses(workers, warm_up=warm_up).start()
    try:
        verifier = BatchVerifier(client, bucket, store, run_id, download_attempts=download_attempts,
                                 preview_prefix=preview_prefix, logger=logger, engine=engine_processes)
        listed = list(list_prefix(client, bucket, prefix))
        report.objects_listed = len(listed)
        keys = {item.key for item in listed}
        sidecars = {item.key for item in listed if item.key.endswith(SIDECAR_SUFFIX)}
        documents = [item for item in listed if item.key not in sidecars]
        report.documents = len(documents)
        report.sidecars = sum(1 for key in sidecars if key[: -len(SIDECAR_SUFFIX)] in keys)
        report.orphan_sidecars = len(sidecars) - report.sidecars
        engine = current_engine_versions()
        logger.info(
            "prefix %r: %d objects listed, %d documents, %d sidecars", prefix, len(listed), len(documents),
            report.sidecars,
        )

        def verify_one(item: ListedObject, rows: list[dict[str, Any]]) -> BatchReport:
            part = BatchReport()
            if _already_verified(rows, item.etag, engine):
                part.skipped += 1
            elif rows:
                targets = [_Target(event_from_row(row), "registered", row) for row in rows]
                verifier.verify(item.key, targets, part)
            else:
                _verify_unregistered(client, bucket, item, sidecars, verifier, part)
            return part

        # two threads per engine process: one downloads and writes rows while the other's document is read
        pool = ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="backfill")

        def submit(batch: list[ListedObject]) -> list[Future]:
            rows_by_key = store.rows_by_s3_path([item.key for item in batch])
            # the largest documents first, so that a batch ends on small ones rather than on one long PDF
            # while the other processes wait; results are still merged in listing order
            futures = {item.key: pool.submit(verify_one, item, rows_by_key.get(item.key, []))
                       for item in sorted(batch, key=lambda item: -item.size)}
            return [futures[item.key] for item in batch]

        def collect(done: int, futures: list[Future]) -> None:
            for future in futures:
                report.add(future.result())
            _log_progress(logger, prefix, done, len(documents), report, clock() - started)

        with pool:
            in_flight: deque[tuple[int, list[Future]]] = deque()
            for batch_start in range(0, len(documents), batch_size):
                batch = documents[batch_start: batch_start + batch_size]
                in_flight.append((batch_start + len(batch), submit(batch)))
                if len(in_flight) > 1:  # the next batch is queued before this one is collected: no pause
                    collect(*in_flight.popleft())
            while in_flight:
                collect(*in_flight.popleft())
    finally:  # also when listing fails: idle engine processes would outlive the run in its worker
        engine_processes.close()
    report.seconds = clock() - started
    logger.info("prefix %r done in %.1f s: %s", prefix, report.seconds, json.dumps(
        {"by_verdict": report.by_verdict, "by_error": report.by_error}, ensure_ascii=False))
    return report


def _log_progress(logger: Any, prefix: str, done: int, total: int, report: BatchReport, elapsed: float) -> None:
    logger.info(
        "prefix %r: %d/%d documents (%d verified, %d skipped, %d unmatched, %d failed), %.1f documents/s",
        prefix, done, total, report.verified, report.skipped, len(report.unmatched),
        len(report.failed), report.verified / elapsed if elapsed > 0 else 0.0,
    )


def _verify_unregistered(client: Any, bucket: str, item: ListedObject, sidecars: set[str],
                         verifier: BatchVerifier, report: BatchReport) -> None:
    """An object no request row names: applicant from its sidecar, else its user metadata."""
    from .s3_download import S3DownloadError

    sidecar_key = item.key + SIDECAR_SUFFIX
    if sidecar_key in sidecars:
        try:
            event = event_for_object(bucket, item.key, _read_sidecar(client, bucket, sidecar_key))
        except InvalidEvent as error:
            report.unmatched.append({"key": item.key, "reason": f"sidecar: {error.reason}"})
            return
        except Exception as error:
            report.unmatched.append({"key": item.key, "reason": f"sidecar unreadable: {type(error).__name__}"})
            return
        if event.request_id > 0:
            existing = verifier.store.get(event.request_id)
            if existing is not None and existing["status"] != "invalid" and existing["s3_path"] != item.key:
                report.unmatched.append({"key": item.key, "reason": f"sidecar: request {event.request_id} "
                                         "belongs to another document"})
                return
        verifier.verify(item.key, [_Target(event, "sidecar")], report)
        return
    obj, download_error = None, None
    try:
        obj = verifier.download(item.key)
        metadata = obj.metadata
    except DocumentError as error:  # too large (or gone): the HEAD still has the metadata
        download_error = error
        try:
            metadata = client.head_object(Bucket=bucket, Key=item.key).get("Metadata") or {}
        except Exception:
            metadata = {}
    except S3DownloadError as error:
        report.failed.append({"key": item.key, "request_ids": [], "error": str(error)[:500]})
        return
    fields = applicant_fields_from_metadata(metadata)
    if fields is None:
        report.unmatched.append({"key": item.key, "reason": "no request row, sidecar or applicant metadata"})
        return
    try:
        event = event_for_object(bucket, item.key, fields)
    except InvalidEvent as error:
        report.unmatched.append({"key": item.key, "reason": f"metadata: {error.reason}"})
        return
    verifier.verify(item.key, [_Target(event, "metadata")], report, obj=obj, download_error=download_error)


def recheck_requests(
    client: Any,
    bucket: str,
    store: VerdictStore,
    request_ids: list[int],
    run_id: str,
    *,
    download_attempts: int = 4,
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
