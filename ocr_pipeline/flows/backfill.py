"""Batch verification inside one run: S3-prefix backfills (re-checks reuse it: ``flows.recheck``). Plain Python.

``run_prefix_backfill`` lists every object under a prefix (paginated), joins each document to its request
rows by ``s3_path``; an object with no row gets its applicant from a sidecar ``<key>.json`` (UTF-8:
``iin``, ``last_name``, ``first_name``, ``second_name``, optionally ``request_id``) or from the object's
user metadata (``iin``, ``last-name``, ``first-name``, ``second-name``: ASCII headers); objects with
neither are reported as unmatched. Documents are verified in batches with the same engine calls and
store writes as a per-request run (``ocr_pipeline.flows.verification``, ``VerdictStore.save_verdict``: upsert
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

from ..adapters.config import S3_DOWNLOAD_ATTEMPTS
from ..adapters.store import COMPLETED, AttemptRefused, VerdictStore, event_from_row
from ..engine.models import DocumentError, ErrorCode
from .engine_processes import EngineProcesses
from .events import InvalidEvent, RequestEvent
from .lifecycle import Fetched, RequestFailed, RequestLifecycle, process_document
from .verification import ENGINE_SETTINGS, current_engine_versions, warm_up

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
    skipped_owned: list[dict[str, Any]] = field(default_factory=list)  # requests a live run owns
    seconds: float = 0.0

    def add(self, other: "BatchReport") -> None:
        """Add the counts and lists of ``other`` (one document's report) to this one."""
        for name in ("verified", "skipped", "requests_written", "previews"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("by_source", "by_verdict", "by_error"):
            getattr(self, name).update(getattr(other, name))
        self.unmatched.extend(other.unmatched)
        self.failed.extend(other.failed)
        self.skipped_owned.extend(other.skipped_owned)

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
            "skipped_owned_by_a_run": len(self.skipped_owned),
            "by_source": dict(self.by_source),
            "by_verdict": dict(self.by_verdict),
            "by_error_code": dict(self.by_error),
            "unmatched_objects": self.unmatched[:MAX_LISTED_IN_METADATA],
            "failed_documents": self.failed[:MAX_LISTED_IN_METADATA],
            "requests_owned_by_a_run": self.skipped_owned[:MAX_LISTED_IN_METADATA],
            "seconds": round(self.seconds, 2),
            "documents_per_second": self.documents_per_second,
        }


@dataclass
class _Target:
    """A request a document is verified for."""

    event: RequestEvent
    source: str  # registered | sidecar | metadata | recheck
    row: Optional[dict[str, Any]] = None


def _not_in(targets: list[_Target], request_ids: set[int]) -> list[_Target]:
    return [target for target in targets if target.event.request_id not in request_ids]


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
        download_attempts: int = S3_DOWNLOAD_ATTEMPTS.default,
        preview_prefix: str = "",
        logger: Any = log,
        engine: Optional[EngineProcesses] = None,
    ):
        self.engine = engine
        self.preview_prefix = preview_prefix
        self.client = client
        self.bucket = bucket
        self.store = store
        self.lifecycle = RequestLifecycle(store, run_id, "backfill", leave_submitted_rows=True)
        self.download_attempts = download_attempts
        self.logger = logger

    def download(self, key: str):
        """The object (bytes, ETag, metadata); raises ``DocumentError`` or ``S3DownloadError``."""
        from ..adapters.s3 import download_object

        return download_object(
            self.client, self.bucket, key, max_bytes=ENGINE_SETTINGS.max_file_bytes,
            attempts=self.download_attempts,
        )

    def verify(self, key: str, targets: list[_Target], report: BatchReport, obj: Any = None,
               download_error: Optional[DocumentError] = None) -> None:
        """Verify one document for its targets (``flows.lifecycle``: the stages of every path); a
        failure is recorded on their rows and in ``report``. ``obj`` or ``download_error``: the
        download already happened."""
        events = [target.event for target in targets]
        fetched = None
        if download_error is not None:
            fetched = Fetched(data=None, error=download_error)
        elif obj is not None:
            fetched = Fetched(data=obj.data, etag=obj.etag)
        previews = 0

        def upload(preview_key: str, image: bytes) -> str:
            nonlocal previews
            self.client.put_object(Bucket=self.bucket, Key=preview_key, Body=image, ContentType="image/jpeg")
            previews += 1
            return f"s3://{self.bucket}/{preview_key}"

        skipped: set[int] = set()

        def left_to_its_run(event: RequestEvent, refused: AttemptRefused) -> None:
            self.logger.info("%s: left to that run", refused)
            skipped.add(event.request_id)
            report.skipped_owned.append({"request_id": event.request_id, "key": event.s3_path,
                                         "run_id": refused.owner or "", "status": refused.status})

        try:
            verdicts = process_document(self.lifecycle, events, key, self.download, fetched=fetched,
                                        engine=self.engine, upload=upload, preview_prefix=self.preview_prefix,
                                        on_refused=left_to_its_run)
        except RequestFailed as failed:
            self._report_failure(key, _not_in(targets, skipped), report, failed.code, failed.message)
            return
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            self.logger.warning("document %r failed: %s", key, message)
            self._report_failure(key, _not_in(targets, skipped), report, None, message)
            return
        if not verdicts:  # every request of the document is another run's
            return
        report.verified += 1
        report.previews += previews
        for target in _not_in(targets, skipped):
            verdict = verdicts[target.event.request_id]
            report.requests_written += 1
            report.by_source[target.source] += 1
            report.by_verdict[str(bool(verdict.verdict)).lower()] += 1
            for code in verdict.error_codes:
                report.by_error[code] += 1

    @staticmethod
    def _report_failure(key: str, targets: list[_Target], report: BatchReport, code: Optional[str],
                        message: str) -> None:
        report.by_verdict["failed"] += len(targets)
        if code == ErrorCode.S3_OBJECT_NOT_FOUND.value:
            report.by_error[code] += len(targets)
        report.failed.append({"key": key, "request_ids": [t.event.request_id for t in targets],
                              "error": code if code == ErrorCode.S3_OBJECT_NOT_FOUND.value else message[:500]})


def run_prefix_backfill(
    client: Any,
    bucket: str,
    prefix: str,
    store: VerdictStore,
    run_id: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 0,
    download_attempts: int = S3_DOWNLOAD_ATTEMPTS.default,
    preview_prefix: str = "",
    logger: Any = log,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchReport:
    """Verify every document under ``prefix`` in one call (see the module docstring) with ``workers``
    engine processes (0: one per core)."""
    started = clock()
    workers = workers or os.cpu_count() or 1
    engine_processes = EngineProcesses(workers, warm_up=warm_up).start()
    try:
        verifier = BatchVerifier(client, bucket, store, run_id, download_attempts=download_attempts,
                                 preview_prefix=preview_prefix, logger=logger, engine=engine_processes)
        backfill = _PrefixBackfill(verifier, prefix, logger, clock, started)
        backfill.run(workers, batch_size)
    finally:  # also when listing fails: idle engine processes would outlive the run in its worker
        engine_processes.close()
    report = backfill.report
    report.seconds = clock() - started
    logger.info("prefix %r done in %.1f s: %s", prefix, report.seconds, json.dumps(
        {"by_verdict": report.by_verdict, "by_error": report.by_error}, ensure_ascii=False))
    return report


class _PrefixBackfill:
    """One prefix's backfill: its listing, then its documents in batches, each verified on its own thread."""

    def __init__(self, verifier: BatchVerifier, prefix: str, logger: Any, clock: Callable[[], float],
                 started: float):
        self.verifier = verifier
        self.prefix = prefix
        self.logger = logger
        self.clock = clock
        self.started = started
        self.report = BatchReport(prefix=prefix)
        self.sidecars: set[str] = set()
        self.documents: list[ListedObject] = []
        self.engine: dict[str, str] = {}

    def run(self, workers: int, batch_size: int) -> None:
        """List the prefix, then verify its documents: the next batch is queued before the current one
        is collected, so no engine process waits for a batch's slowest document."""
        self._list()
        self.engine = current_engine_versions()
        # two threads per engine process: one downloads and writes rows while the other's document is read
        with ThreadPoolExecutor(max_workers=2 * workers, thread_name_prefix="backfill") as pool:
            in_flight: deque[tuple[int, list[Future]]] = deque()
            for batch_start in range(0, len(self.documents), batch_size):
                batch = self.documents[batch_start: batch_start + batch_size]
                in_flight.append((batch_start + len(batch), self._submit(pool, batch)))
                if len(in_flight) > 1:
                    self._collect(*in_flight.popleft())
            while in_flight:
                self._collect(*in_flight.popleft())

    def _list(self) -> None:
        verifier, report = self.verifier, self.report
        listed = list(list_prefix(verifier.client, verifier.bucket, self.prefix))
        keys = {item.key for item in listed}
        self.sidecars = {item.key for item in listed if item.key.endswith(SIDECAR_SUFFIX)}
        self.documents = [item for item in listed if item.key not in self.sidecars]
        report.objects_listed = len(listed)
        report.documents = len(self.documents)
        report.sidecars = sum(1 for key in self.sidecars if key[: -len(SIDECAR_SUFFIX)] in keys)
        report.orphan_sidecars = len(self.sidecars) - report.sidecars
        self.logger.info("prefix %r: %d objects listed, %d documents, %d sidecars", self.prefix, len(listed),
                         len(self.documents), report.sidecars)

    def _submit(self, pool: ThreadPoolExecutor, batch: list[ListedObject]) -> list[Future]:
        rows_by_key = self.verifier.store.rows_by_s3_path([item.key for item in batch])
        # the largest documents first, so that a batch ends on small ones rather than on one long PDF
        # while the other processes wait; results are still merged in listing order
        futures = {item.key: pool.submit(self._verify_one, item, rows_by_key.get(item.key, []))
                   for item in sorted(batch, key=lambda item: -item.size)}
        return [futures[item.key] for item in batch]

    def _verify_one(self, item: ListedObject, rows: list[dict[str, Any]]) -> BatchReport:
        part = BatchReport()
        if _already_verified(rows, item.etag, self.engine):
            part.skipped += 1
        elif rows:
            targets = [_Target(event_from_row(row), "registered", row) for row in rows]
            self.verifier.verify(item.key, targets, part)
        else:
            _verify_unregistered(self.verifier.client, self.verifier.bucket, item, self.sidecars, self.verifier, part)
        return part

    def _collect(self, done: int, futures: list[Future]) -> None:
        for future in futures:
            self.report.add(future.result())
        _log_progress(self.logger, self.prefix, done, len(self.documents), self.report, self.clock() - self.started)


def _log_progress(logger: Any, prefix: str, done: int, total: int, report: BatchReport, elapsed: float) -> None:
    logger.info(
        "prefix %r: %d/%d documents (%d verified, %d skipped, %d unmatched, %d failed), %.1f documents/s",
        prefix, done, total, report.verified, report.skipped, len(report.unmatched),
        len(report.failed), report.verified / elapsed if elapsed > 0 else 0.0,
    )


def _verify_unregistered(client: Any, bucket: str, item: ListedObject, sidecars: set[str],
                         verifier: BatchVerifier, report: BatchReport) -> None:
    """An object no request row names: applicant from its sidecar, else its user metadata."""
    from ..adapters.s3 import S3DownloadError

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

