"""A request's life, written once: record → download → read → decide → save → preview. Plain Python.

Every path that verifies requests runs these stages: the per-request asset
(``defs/assets/request_verdict.py``: one op per stage), the prefix backfill and the re-checks
(``flows/backfill.py``, ``flows/recheck.py``: several requests of one document, the engine in engine
processes), uploads the HTTP API stores (``api/routes.py``) and the benchmark's peer service
(``bench/peer_consumer.py``). What differs between them is passed in: how the document is downloaded,
where the engine runs, which attempt (run id) works on the rows, and the path's name in the metrics.

The stages and the row's status (``ocr_requests.status``):

===========  ==============================================================================================
``claim``    ``received`` (a no-op for a request already recorded), then ``downloading`` under this attempt,
             which owns the row from now on (another run's attempt in progress keeps it: ``AttemptRefused``)
``fetch``    the document's bytes (and ETag). A missing object, or S3 failing after its retries, ends the
             attempt ``failed`` (:class:`RequestFailed`, already recorded on the rows); a document error
             that is itself a verdict (``FILE_TOO_LARGE``) goes on to be decided
``read``     ``processing``: the ETag remembered, the document read once (``engine.pipeline.read_document``)
``decide``   each request's applicant decided on that reading (``engine.pipeline.decide``)
``save``     ``completed``: the verdict and its evidence on the row (``VerdictStore.save_verdict``)
``preview``  the evidence preview uploaded next to the document (an extra: it never fails the verdict)
===========  ==============================================================================================

Any other exception marks the rows ``failed`` with its message (:meth:`RequestLifecycle.failures_recorded`)
and propagates: the caller decides whether to retry (the asset's retry policy) or go on (a backfill).
``processing_time_seconds`` is the engine's time (load, preprocess, OCR, second look, verify), whoever
ran it; the download is in ``evidence.timings`` beside it.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from ..adapters import telemetry
from ..adapters.store import DOWNLOADING, PROCESSING, AttemptRefused, VerdictStore
from ..engine.iin import mask_iin
from ..engine.models import DocumentError, EngineSettings, ErrorCode, Verdict, error_entry
from .events import RequestEvent
from .verification import ENGINE_SETTINGS, read_and_decide

if TYPE_CHECKING:
    from ..adapters.s3 import DownloadedObject

log = logging.getLogger(__name__)

Download = Callable[[str], "DownloadedObject"]
"""Downloads one S3 key: the object, or ``DocumentError`` (too large, missing) / ``S3DownloadError``."""

S3_DOWNLOAD_FAILED = "S3_DOWNLOAD_FAILED"
INTERNAL_ERROR = "INTERNAL_ERROR"


class RequestFailed(Exception):
    """The attempt ended without a verdict and its rows say so already: the document is missing from the
    bucket (``S3_OBJECT_NOT_FOUND``) or S3 failed after every retry (``S3_DOWNLOAD_FAILED``). Retrying in
    the same attempt does not help; an analyst (or a later run) does."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Fetched:
    """The download stage's outcome: the bytes, or the document error that the verdict will carry."""

    data: Optional[bytes]
    error: Optional[DocumentError] = None
    etag: Optional[str] = None
    seconds: float = 0.0

    @classmethod
    def upload(cls, data: bytes) -> "Fetched":
        """Bytes that came with the request (an HTTP upload): nothing to download."""
        return cls(data=data)

    def engine_error(self) -> Optional[tuple[str, str]]:
        """The document error as ``(code, message)``: what ``read_and_decide`` takes (it pickles)."""
        return None if self.error is None else (self.error.code.value, self.error.message)


@dataclass
class RequestLifecycle:
    """The stages of one attempt on requests: ``run_id`` owns their rows while it works on them (None:
    the HTTP API, which writes stored uploads without a run), ``path`` names the caller in the metrics
    (run, backfill, api, peer). ``parent_run_id``: the run a re-execution or a run retry takes over
    from; ``leave_submitted_rows`` (the batch paths): a request whose run was submitted is that run's."""

    store: VerdictStore
    run_id: Optional[str]
    path: str
    parent_run_id: Optional[str] = None
    leave_submitted_rows: bool = False

    def claim(self, event: RequestEvent) -> Optional[int]:
        """Record the request (if new) and start this attempt on its row: its retry count (None when
        the row is missing). Raises ``AttemptRefused`` when another run's attempt owns the row."""
        self.store.record_received(event)
        return self.store.start_attempt(event.request_id, self.run_id, DOWNLOADING,
                                        parent_run_id=self.parent_run_id,
                                        leave_submitted_rows=self.leave_submitted_rows)

    def fetch(self, events: Sequence[RequestEvent], key: str, download: Download) -> Fetched:
        """Download ``key``. A missing object or an S3 failure is recorded on every row and raised as
        :class:`RequestFailed`; any other document error (too large) is returned for the verdict."""
        from ..adapters.s3 import S3DownloadError

        started = time.perf_counter()
        try:
            obj = download(key)
        except DocumentError as error:
            if error.code is not ErrorCode.S3_OBJECT_NOT_FOUND:
                return Fetched(data=None, error=error, seconds=time.perf_counter() - started)
            self._fail(events, error.code.value, error.message, [error_entry(error.code, error.message)])
            raise RequestFailed(error.code.value, error.message) from None
        except S3DownloadError as error:
            message = f"S3 download failed: {error}"
            self._fail(events, S3_DOWNLOAD_FAILED, message)
            raise RequestFailed(S3_DOWNLOAD_FAILED, message) from error
        return Fetched(data=obj.data, etag=obj.etag, seconds=time.perf_counter() - started)

    def start_reading(self, events: Sequence[RequestEvent], fetched: Fetched) -> None:
        """The rows move to ``processing``, remembering which bytes (ETag) this attempt reads."""
        for event in events:
            self.store.start_attempt(event.request_id, self.run_id, PROCESSING)
            if fetched.etag:
                self.store.save_document_etag(event.request_id, fetched.etag, run_id=self.run_id)

    def decided(self, event: RequestEvent, verdict: Verdict) -> None:
        """Count and log a decided verdict (masked IIN, no names, no document text)."""
        telemetry.verdict_reached(self.path, verdict)
        log.debug("request %s (IIN %s): verdict %s %s", event.request_id, mask_iin(event.iin), verdict.verdict,
                  ",".join(verdict.error_codes) or "-")

    def save_verdict(self, request_id: int, verdict: Verdict) -> Optional[float]:
        """The verdict on its row (``completed``); seconds since the request was received. Raises
        ``AttemptRefused`` when a newer attempt owns the row (this verdict is stale)."""
        since_received = self.store.save_verdict(request_id, verdict, self.run_id)
        telemetry.verdict_saved(self.path, since_received)
        return since_received

    def upload_preview(self, event: RequestEvent, image: bytes, upload: Callable[[str, bytes], str],
                       preview_prefix: str) -> Optional[str]:
        """Upload an evidence preview JPEG under ``preview_prefix``; its address, or None when the upload
        failed (logged: a preview never fails the verdict)."""
        from .preview import preview_key

        try:
            return upload(preview_key(preview_prefix, event.s3_path, event.request_id), image)
        except Exception as error:
            log.warning("request %s: no preview: %s: %s", event.request_id, type(error).__name__, error)
            return None

    @contextmanager
    def failures_recorded(self, events: Sequence[RequestEvent]) -> Iterator[None]:
        """Any exception other than :class:`RequestFailed` marks the rows ``failed`` with its message,
        then propagates."""
        try:
            yield
        except RequestFailed:
            raise
        except Exception as error:
            self._fail(events, INTERNAL_ERROR, f"{type(error).__name__}: {error}")
            raise

    def _fail(self, events: Sequence[RequestEvent], code: str, message: str,
              errors: Optional[list[dict[str, str]]] = None) -> None:
        telemetry.request_failed(self.path, code)
        for event in events:
            try:
                self.store.mark_failed(event.request_id, message, errors=errors, run_id=self.run_id)
            except Exception:
                log.exception("could not mark request %s failed", event.request_id)


def process_document(
    lifecycle: RequestLifecycle,
    events: Sequence[RequestEvent],
    key: str,
    download: Download,
    *,
    fetched: Optional[Fetched] = None,
    engine: Any = None,
    upload: Optional[Callable[[str, bytes], str]] = None,
    preview_prefix: str = "",
    settings: EngineSettings = ENGINE_SETTINGS,
    on_refused: Optional[Callable[[RequestEvent, AttemptRefused], None]] = None,
) -> dict[int, Verdict]:
    """Every stage for the requests of one document (``key``): their saved verdicts by request id.

    ``fetched`` skips the download (bytes the caller has already); ``engine`` (``EngineProcesses``) reads
    and decides in an engine process instead of this thread; with ``upload`` and a ``preview_prefix``
    each verdict's evidence preview is uploaded; ``settings`` are the engine's. A request another run's
    attempt owns is left to it: ``on_refused`` hears of it (without it, ``AttemptRefused`` is raised).
    Raises :class:`RequestFailed` (recorded) or whatever else failed (recorded too)."""
    owned = []
    for event in events:
        try:
            lifecycle.claim(event)
        except AttemptRefused as refused:
            if on_refused is None:
                raise
            on_refused(event, refused)
            continue
        owned.append(event)
    if not owned:
        return {}
    with lifecycle.failures_recorded(owned):
        if fetched is None:
            fetched = lifecycle.fetch(owned, key, download)
        if fetched.error is None:
            lifecycle.start_reading(owned, fetched)
        timings = {"download": fetched.seconds}
        arguments = (fetched.data, fetched.engine_error(), [event.applicant() for event in owned], timings,
                     bool(upload and preview_prefix), settings)
        with telemetry.span("ocr"):
            results = engine.call(read_and_decide, *arguments) if engine else read_and_decide(*arguments)
        verdicts = {}
        for event, (verdict, preview) in zip(owned, results):
            lifecycle.decided(event, verdict)
            lifecycle.save_verdict(event.request_id, verdict)
            if preview is not None and upload is not None:
                lifecycle.upload_preview(event, preview, upload, preview_prefix)
            verdicts[event.request_id] = verdict
    return verdicts


def process_request(lifecycle: RequestLifecycle, event: RequestEvent, download: Download, **options: Any) -> Verdict:
    """Every stage for one request (see :func:`process_document`): its saved verdict."""
    return process_document(lifecycle, [event], event.s3_path, download, **options)[event.request_id]
