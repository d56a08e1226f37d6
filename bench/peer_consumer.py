#!/usr/bin/env python
"""The peer of the pipeline benchmark: the plain service a team would write without an orchestrator.

A Kafka consumer loop in a consumer group (start one process per core): poll one event, validate it
(``ocr_pipeline.flows.events.parse_event``), download the document from S3 (``adapters.s3.download_object``),
go through the same stages as the ``request_verdict`` asset (``ocr_pipeline.flows.lifecycle``: record,
download, read, decide, save the ``ocr_requests`` row, upload the evidence preview), then commit the
offset (at-least-once). Runs until SIGTERM/SIGINT.

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
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr_pipeline.adapters.s3 import S3Settings, download_object, make_s3_client  # noqa: E402
from ocr_pipeline.adapters.store import VerdictStore  # noqa: E402
from ocr_pipeline.engine.iin import mask_iin  # noqa: E402
from ocr_pipeline.flows.events import InvalidEvent, RequestEvent, parse_event  # noqa: E402
from ocr_pipeline.flows.lifecycle import RequestFailed, RequestLifecycle, process_request  # noqa: E402
from ocr_pipeline.flows.verification import ENGINE_SETTINGS  # noqa: E402

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
        try:
            self._verify(event, f"peer-{uuid.uuid4()}")
        except Exception as error:  # the row says why (the lifecycle recorded it); the loop goes on
            log.warning("request %s failed: %s", event.request_id, type(error).__name__)

    def _verify(self, event: RequestEvent, run_id: str) -> None:
        """The stages of the ``request_verdict`` asset (``flows.lifecycle``), without Dagster."""
        lifecycle = RequestLifecycle(self.store, run_id, "peer")
        try:
            verdict = process_request(lifecycle, event, self._download, upload=self._upload,
                                      preview_prefix=self.preview_prefix)
        except RequestFailed:  # recorded on the row
            return
        log.info("request %s (IIN %s): verdict %s %s", event.request_id, mask_iin(event.iin), verdict.verdict,
                 ",".join(verdict.error_codes) or "-")

    def _download(self, key: str):
        return download_object(self.s3, self.bucket, key, max_bytes=ENGINE_SETTINGS.max_file_bytes, attempts=4)

    def _upload(self, key: str, image: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=image, ContentType="image/jpeg")
        return f"s3://{self.bucket}/{key}"


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
