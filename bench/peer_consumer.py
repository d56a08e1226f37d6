#!/usr/bin/env python
"""The peer of the pipeline benchmark: the plain service a team would write without an orchestrator.

A Kafka consumer loop in a consumer group (start one process per core): poll one event, validate it
(``ocr_pipeline.events.parse_event``), download the document from S3 (``s3_download.download_object``),
run the same engine calls as the ``request_verdict`` asset (``verification.read_document_bytes`` then
``decide``; the evidence preview uploaded as the asset does), write the same ``ocr_requests`` row through
``VerdictStore`` (``record_received``, ``start_attempt``, ``save_document_etag``, ``save_verdict`` or
``mark_failed``), then commit the offset (at-least-once). Runs until SIGTERM/SIGINT.

    .venv/bin/python bench/peer_consumer.py --bootstrap 127.0.0.1:9092 --topic requests \
        --group peer --bucket documents --database-url postgresql+psycopg2://postgres@127.0.0.1/db

S3 endpoint and credentials come from the environment (``S3_ENDPOINT_URL``, ``AWS_*``). Prints
``READY partitions=[...]`` once the group has given this process partitions.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr_pipeline.engine.iin import mask_iin  # noqa: E402
from ocr_pipeline.engine.models import DocumentError, ErrorCode, error_entry  # noqa: E402
from ocr_pipeline.events import InvalidEvent, RequestEvent, parse_event  # noqa: E402
from ocr_pipeline.s3_download import S3DownloadError, S3Settings, download_object, make_s3_client  # noqa: E402
from ocr_pipeline.store import DOWNLOADING, PROCESSING, VerdictStore  # noqa: E402
from ocr_pipeline.verification import ENGINE_SETTINGS, decide, read_document_bytes  # noqa: E402

log = logging.getLogger("peer_consumer")


class PeerService:
    """One consumer process: the verification of one event, written to the store like a run does."""

    def __init__(self, store: VerdictStore, s3_client, bucket: str, preview_prefix: str):
        self.store = store
        self.s3 = s3_client
        self.bucket = bucket
        self.preview_prefix = preview_prefix

    def handle(self, topic: str, partition: int, offset: int, raw: bytes) -> None:
        """Validate, record, download, read, decide and store one Kafka record."""
        try:
            event = parse_event(raw)
        except InvalidEvent as invalid:
            self.store.record_invalid(topic=topic, partition=partition, offset=offset, reason=invalid.reason,
                                      request_id=invalid.request_id, raw=raw)
            return
        self.store.record_received(event, partition, offset)
        run_id = f"peer-{uuid.uuid4()}"
        try:
            self._verify(event, run_id)
        except Exception as error:  # the row says why; the loop goes on
            log.warning("request %s failed: %s", event.request_id, type(error).__name__)
            self.store.mark_failed(event.request_id, f"{type(error).__name__}: {error}", run_id=run_id)

    def _verify(self, event: RequestEvent, run_id: str) -> None:
        """The body of the ``request_verdict`` asset, without Dagster."""
        store = self.store
        store.start_attempt(event.request_id, run_id, DOWNLOADING)
        timings: dict[str, float] = {}
        data, error = None, None
        started = time.perf_counter()
        try:
            obj = download_object(self.s3, self.bucket, event.s3_path, max_bytes=ENGINE_SETTINGS.max_file_bytes,
                                  attempts=4)
            data = obj.data
            if obj.etag:
                store.save_document_etag(event.request_id, obj.etag)
        except DocumentError as rejected:
            if rejected.code is ErrorCode.S3_OBJECT_NOT_FOUND:
                store.mark_failed(event.request_id, rejected.message,
                                  errors=[error_entry(rejected.code, rejected.message)], run_id=run_id)
                return
            error = (rejected.code.value, rejected.message)
        except S3DownloadError as failure:
            store.mark_failed(event.request_id, f"S3 download failed: {failure}", run_id=run_id)
            return
        finally:
            timings["download"] = time.perf_counter() - started
        pages: list = []
        prepared_pages: dict = {}
        if error is None:
            store.start_attempt(event.request_id, run_id, PROCESSING)
            pages, error = read_document_bytes(data, timings, ENGINE_SETTINGS, prepared_pages)
        verdict = decide(pages, error, event.applicant(), timings, ENGINE_SETTINGS)
        if self.preview_prefix and data is not None and any(page.words for page in pages):
            self._upload_preview(data, pages, prepared_pages, verdict, event)
        store.save_verdict(event.request_id, verdict, run_id)
        log.info("request %s (IIN %s): verdict %s %s", event.request_id, mask_iin(event.iin), verdict.verdict,
                 ",".join(verdict.error_codes) or "-")

    def _upload_preview(self, data: bytes, pages: list, prepared_pages: dict, verdict, event: RequestEvent) -> None:
        from ocr_pipeline.preview import make_preview, preview_key

        try:
            _, image = make_preview(data, pages, verdict, event.applicant(), ENGINE_SETTINGS, prepared_pages)
            if image is not None:
                self.s3.put_object(Bucket=self.bucket, Key=preview_key(self.preview_prefix, event.s3_path,
                                                                        event.request_id),
                                   Body=image, ContentType="image/jpeg")
        except Exception as error:  # a preview is an extra, as in the asset
            log.warning("request %s: no preview: %s", event.request_id, type(error).__name__)


def main() -> int:
    """Consume until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--bucket", required=True, help="S3 bucket of the documents")
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL of the verdict store")
    parser.add_argument("--preview-prefix", default=os.environ.get("OCR_PREVIEW_PREFIX", "_previews/"),
                        help="S3 prefix for evidence previews, as the pipeline ('' = none)")
    parser.add_argument("--max-poll-interval-ms", type=int, default=20_000,
                        help="also the group's rebalance timeout: Tansu makes a join wait that long")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s peer[{os.getpid()}] %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)

    from kafka import KafkaConsumer
    from kafka.errors import CommitFailedError

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    store = VerdictStore(args.database_url)
    store.ensure_schema()
    settings = S3Settings(endpoint_url=os.environ.get("S3_ENDPOINT_URL") or None, bucket=args.bucket,
                          region=os.environ.get("AWS_REGION", "us-east-1"))
    service = PeerService(store, make_s3_client(settings), args.bucket, args.preview_prefix)
    consumer = KafkaConsumer(
        args.topic, bootstrap_servers=args.bootstrap, group_id=args.group, client_id=f"peer-{os.getpid()}",
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=1,
        max_poll_interval_ms=args.max_poll_interval_ms, session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
    )
    ready = False
    try:
        while not stopping:
            batches = consumer.poll(timeout_ms=500, max_records=1)
            assigned = sorted(p.partition for p in consumer.assignment())
            if assigned and not ready:
                ready = True
                print(f"READY partitions={assigned}", flush=True)
            for tp, records in batches.items():
                for record in records:
                    service.handle(tp.topic, tp.partition, record.offset, record.value)
                try:
                    consumer.commit()
                except CommitFailedError:  # the group rebalanced meanwhile: the record may come again
                    log.warning("offset commit failed after a rebalance")
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
