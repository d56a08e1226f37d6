"""Metrics and traces in process, against the real services: Kafka lag and invalid events counted by the
sensor (Tansu, Postgres), S3 retries (moto_server behind the fault proxy), the span structure of one
request (moto_server, Postgres, real Tesseract) and a ``traceparent`` header carried from a Kafka event
through the sensor into the run. The scrapes of the real endpoints are in ``test_metrics_endpoints.py``."""

from __future__ import annotations

import dagster as dg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from ocr_pipeline.adapters import telemetry
from ocr_pipeline.adapters.kafka import KafkaSettings, fetch_batch
from ocr_pipeline.defs.sensors.kafka_requests import SensorLimits, poll_requests
from ocr_pipeline_devtools import docgen, services
from ocr_pipeline_devtools.dagster_fixtures import event_bytes, new_request_id, run_verify_request
from ocr_pipeline_devtools.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

SMIRNOV = docgen.PEOPLE["smirnov"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = telemetry.use_tracer_provider(provider)
    try:
        yield exporter
    finally:
        telemetry.use_tracer_provider(previous)


def _event(request_id: int, key: str, person=SMIRNOV) -> bytes:
    applicant = person.applicant()
    return event_bytes(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                       first_name=applicant.first_name, second_name=applicant.second_name)


def _text_pdf() -> bytes:
    return docgen.to_pdf([docgen.render_document("dismissal_order", SMIRNOV, seed=4)], text_layer=True)


def test_the_lag_gauge_is_what_was_produced_and_not_yet_read(kafka_broker, new_topic):
    topic = new_topic(partitions=1, prefix="lag")
    services.produce(kafka_broker.bootstrap_servers, topic, [b"%d" % i for i in range(5)], partition=0)
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, request_timeout_ms=5000)

    records, cursor = fetch_batch(settings, {}, max_records=2, time_budget_seconds=10)
    assert len(records) == 2
    assert _value("ocr_kafka_consumer_lag", topic=topic, partition="0") == 3

    records, cursor = fetch_batch(settings, cursor, max_records=50, time_budget_seconds=10)
    assert len(records) == 3
    assert _value("ocr_kafka_consumer_lag", topic=topic, partition="0") == 0


def test_the_sensor_counts_events_in_its_cursor_so_a_new_code_server_carries_on(kafka_broker, new_topic,
                                                                                 pg_database_url):
    from ocr_pipeline.adapters.store import VerdictStore

    topic = new_topic(partitions=1, prefix="counted")
    store = VerdictStore(pg_database_url)
    store.ensure_schema()
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, request_timeout_ms=5000)
    limits = SensorLimits(max_queued_runs=0)
    repeated = new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic,
                     [_event(repeated, "a.pdf"), b"{not json", b'{"request_id": "x"}', _event(repeated, "a.pdf")],
                     partition=0)

    first = poll_requests(settings, store, None, limits)
    assert len(first.run_requests) == 1
    assert _value("ocr_kafka_events_total", outcome="invalid") == 2
    assert _value("ocr_kafka_events_total", outcome="run_requested") == 1
    assert _value("ocr_kafka_events_total", outcome="repeated") == 1

    telemetry.kafka_events({})  # as a code server started anew by the daemon
    services.produce(kafka_broker.bootstrap_servers, topic, [b"[]", _event(new_request_id(), "b.pdf")], partition=0)
    second = poll_requests(settings, store, first.cursor, limits)
    assert len(second.run_requests) == 1
    assert _value("ocr_kafka_events_total", outcome="invalid") == 3
    assert _value("ocr_kafka_events_total", outcome="run_requested") == 2

    telemetry.kafka_events({})
    idle = poll_requests(settings, store, second.cursor, limits)  # nothing new: the totals still served
    assert not idle.run_requests and _value("ocr_kafka_events_total", outcome="invalid") == 3


def test_s3_retries_and_exhausted_downloads_are_counted(s3_server, s3_bucket):
    from ocr_pipeline.adapters.s3 import S3DownloadError, S3Settings, download_object, make_s3_client

    s3_server.client().put_object(Bucket=s3_bucket, Key="flaky.pdf", Body=b"%PDF-1.4 small")
    retries, exhausted = _value("ocr_s3_download_retries_total"), _value("ocr_s3_download_failures_total",
                                                                         kind="exhausted")
    settings = S3Settings(endpoint_url=None, bucket=s3_bucket, connect_timeout=2, read_timeout=5)
    with FaultProxy(s3_server.endpoint_url, plan={"HEAD": ["503", "503"]}) as proxy:
        settings.endpoint_url = proxy.endpoint_url
        with services.aws_test_credentials():
            client = make_s3_client(settings)
        download_object(client, s3_bucket, "flaky.pdf", max_bytes=1000, attempts=3, sleep=lambda _: None)
        assert _value("ocr_s3_download_retries_total") - retries == 2
    with FaultProxy(s3_server.endpoint_url, plan={"HEAD": ["503"] * 3}) as proxy:
        settings.endpoint_url = proxy.endpoint_url
        with services.aws_test_credentials():
            client = make_s3_client(settings)
        with pytest.raises(S3DownloadError):
            download_object(client, s3_bucket, "flaky.pdf", max_bytes=1000, attempts=3, sleep=lambda _: None)
    assert _value("ocr_s3_download_retries_total") - retries == 4
    assert _value("ocr_s3_download_failures_total", kind="exhausted") - exhausted == 1


def test_one_request_is_a_span_per_stage_and_the_write_beside_them(
        spans, s3_server, s3_bucket, pg_database_url):
    key = "2024/12/Приказ об увольнении - Смирнов.pdf"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=_text_pdf())
    run_verify_request(s3_server.endpoint_url, s3_bucket, pg_database_url, key, SMIRNOV.applicant(),
                       traceparent=TRACEPARENT)

    by_name = {span.name: span for span in spans.get_finished_spans()}
    assert {"download", "ocr", "verify", "write"} <= set(by_name)
    for name in ("download", "ocr", "verify", "write"):  # each op's span: a child of the event's context
        assert format(by_name[name].context.trace_id, "032x") == TRACE_ID
        assert format(by_name[name].parent.span_id, "016x") == PARENT_SPAN_ID
    assert by_name["download"].end_time <= by_name["ocr"].start_time <= by_name["verify"].start_time
    assert "iin" not in {k.lower() for span in by_name.values() for k in span.attributes}


def test_a_traceparent_header_of_a_kafka_event_is_the_parent_of_the_sensor_and_run_spans(
        spans, kafka_broker, new_topic, s3_server, s3_bucket, pg_database_url, monkeypatch):
    from ocr_pipeline.adapters.store import VerdictStore
    from ocr_pipeline.defs.assets import request_verdict
    from ocr_pipeline.defs.jobs import verify_request_job
    from ocr_pipeline.defs.resources import build_resources

    key = "2024/12/Приказ об увольнении - Смирнов (trace).pdf"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=_text_pdf())
    topic = new_topic(partitions=1, prefix="traced")
    request_id = new_request_id()
    services.produce(kafka_broker.bootstrap_servers, topic, [_event(request_id, key)], partition=0,
                     headers=[("traceparent", TRACEPARENT.encode())])
    store = VerdictStore(pg_database_url)
    store.ensure_schema()
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic, request_timeout_ms=5000)

    [run_request] = poll_requests(settings, store, None, SensorLimits(max_queued_runs=0)).run_requests

    [sensor_span] = [span for span in spans.get_finished_spans() if span.name == "kafka_requests_sensor event"]
    assert format(sensor_span.context.trace_id, "032x") == TRACE_ID
    assert format(sensor_span.parent.span_id, "016x") == PARENT_SPAN_ID
    assert run_request.tags[telemetry.TRACEPARENT_TAG] == f"00-{TRACE_ID}-{sensor_span.context.span_id:016x}-01"

    for name, value in {"S3_ENDPOINT_URL": s3_server.endpoint_url, "S3_BUCKET": s3_bucket,
                        "DATABASE_URL": pg_database_url, **services.AWS_TEST_ENV}.items():
        monkeypatch.setenv(name, value)
    defs = dg.Definitions(assets=[request_verdict], jobs=[verify_request_job], resources=build_resources())
    result = defs.resolve_job_def("verify_request").execute_in_process(run_config=run_request.run_config,
                                                                       tags=run_request.tags)
    assert result.success
    [download_span] = [span for span in spans.get_finished_spans() if span.name == "download"]
    assert download_span.context.trace_id == sensor_span.context.trace_id
    assert download_span.parent.span_id == sensor_span.context.span_id
    assert store.get(request_id)["status"] == "completed"


def test_without_otel_variables_tracing_is_off_and_spans_cost_nothing_but_pass_the_parent_on():
    assert not telemetry.tracing_requested({})
    assert not telemetry.tracing_requested({"OTEL_SERVICE_NAME": "ocr"})
    assert not telemetry.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"})
    assert not telemetry.tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"})
    assert telemetry.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert telemetry.tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    with telemetry.span("off", TRACEPARENT) as current:
        assert not current.is_recording()
        assert telemetry.current_traceparent() == TRACEPARENT


def test_otel_variables_alone_send_the_spans_to_an_otlp_http_collector(tmp_path):
    """A process with only OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME set exports its spans over
    OTLP/HTTP (a local receiver decodes them), continuing the given traceparent."""
    import http.server
    import os
    import subprocess
    import sys
    import threading

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[ExportTraceServiceRequest] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.append(ExportTraceServiceRequest.FromString(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((services.LOOPBACK, 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{services.LOOPBACK}:{server.server_port}",
               OTEL_SERVICE_NAME="ocr-pipeline-test")
    code = ("from ocr_pipeline.adapters import telemetry\n"
            f"with telemetry.span('verify_request run', {TRACEPARENT!r}, request_id=7):\n"
            "    with telemetry.span('download'):\n"
            "        pass\n")
    try:
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60, cwd=tmp_path)
    finally:
        server.shutdown()
    spans = {span.name: span for request in received for resource_spans in request.resource_spans
             for scope in resource_spans.scope_spans for span in scope.spans}
    services_named = {attribute.value.string_value for request in received for resource_spans in request.resource_spans
                      for attribute in resource_spans.resource.attributes if attribute.key == "service.name"}
    assert set(spans) == {"verify_request run", "download"}
    assert services_named == {"ocr-pipeline-test"}
    assert spans["verify_request run"].trace_id.hex() == TRACE_ID
    assert spans["verify_request run"].parent_span_id.hex() == PARENT_SPAN_ID
    assert spans["download"].parent_span_id == spans["verify_request run"].span_id
