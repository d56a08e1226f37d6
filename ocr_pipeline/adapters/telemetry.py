"""Metrics (Prometheus) and traces (OpenTelemetry): every metric and the tracer, defined once here.

Call sites add one line each (``telemetry.verdict_saved(...)``, ``with telemetry.span(...)``); the
engine imports nothing from here (stage durations come from the verdict's ``timings``).

Where the metrics are served (README, *Metrics*):

- the HTTP API: ``GET /metrics`` on its own port (behind the bearer token like every route but
  ``/health``);
- the run workers: the ``ocr-pipeline worker`` main process serves ``OCR_WORKER_METRICS_PORT``
  (default 9101), summing its pool processes through prometheus_client's multiprocess mode (each
  process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``; the CLI sets a fresh directory
  before anything imports prometheus_client);
- the Kafka sensor (consumer lag, invalid events, runs queued): the process that evaluates it (the
  code server the daemon talks to) serves ``OCR_SENSOR_METRICS_PORT`` (default 9102), started on its
  first tick.

A counter increment costs about a microsecond; nothing is scraped, flushed or written per document
beyond the multiprocess mode's memory-mapped value files.

Tracing is off unless the standard ``OTEL_*`` variables ask for it (``OTEL_TRACES_EXPORTER`` other
than ``none``, or ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); then the
SDK exports with a batch processor (service name ``OTEL_SERVICE_NAME``, read by the SDK). Off, the
spans are OpenTelemetry's no-op spans, yet a ``traceparent`` received with an event is still passed
on to the run (a no-op span keeps its parent's context).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Iterator, Mapping, Optional

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from . import config

log = logging.getLogger(__name__)

TRACEPARENT_TAG = "traceparent"  # run tag carrying the W3C trace context from the sensor to the run

_STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1800)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# --- requests and verdicts (run workers: path="run" and "backfill"; HTTP API uploads: path="api"); invalid
# events: ocr_kafka_events_total{outcome="invalid"}
REQUESTS = Counter("ocr_requests", "Requests ended, by path and outcome (completed = a verdict was reached and "
                   "saved where the path saves it, failed = the attempt ended without one)", ["path", "outcome"])
VERDICTS = Counter("ocr_verdicts", "Verdicts reached, by path and verdict (true/false)", ["path", "verdict"])
ERRORS = Counter("ocr_request_errors", "Error codes of verdicts and failed attempts, by path and code",
                 ["path", "code"])
REVIEW_REASONS = Counter("ocr_review_reasons", "Review reasons of verdicts (Verdict.review_reasons)",
                         ["path", "reason"])
STAGE_SECONDS = Histogram("ocr_stage_duration_seconds", "Seconds per stage of one document (download, load, "
                          "preprocess, ocr, second_look, verify)", ["path", "stage"], buckets=_STAGE_BUCKETS)
END_TO_END_SECONDS = Histogram("ocr_end_to_end_seconds", "Seconds from the event's recording (received) to its "
                               "verdict being saved", ["path"], buckets=_LATENCY_BUCKETS)

# --- S3 downloads
S3_RETRIES = Counter("ocr_s3_download_retries", "Download attempts that failed transiently and were retried")
S3_FAILURES = Counter("ocr_s3_download_failures", "Downloads that failed: retries exhausted or a non-retried "
                      "error (access denied, no such bucket)", ["kind"])

# --- the Kafka sensor
KAFKA_LAG = Gauge("ocr_kafka_consumer_lag", "Records of the request topic not yet read by the sensor "
                  "(high watermark minus the sensor's position), per partition", ["topic", "partition"],
                  multiprocess_mode="livemostrecent")


class _SensorEventTotals:
    """``ocr_kafka_events_total``: the totals the sensor keeps in its cursor (the daemon replaces the
    code server every minute; counts in the process would start again from zero each time)."""

    name, documentation = "ocr_kafka_events", (
        "Events the sensor read, by what became of them (run_requested, invalid, repeated, submitted_elsewhere, "
        "dead_lettered), from its cursor")

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def _family(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        return CounterMetricFamily(self.name, self.documentation, labels=["outcome"])

    def describe(self) -> list:
        return [self._family()]

    def collect(self) -> Iterator[Any]:
        family = self._family()
        for outcome, total in sorted(self.totals.items()):
            family.add_metric([outcome], total)
        yield family


KAFKA_EVENTS = _SensorEventTotals()
REGISTRY.register(KAFKA_EVENTS)
RUNS_QUEUED = Gauge("ocr_runs_queued", "verify_request runs waiting in Dagster's run queue (seen by the sensor)",
                    multiprocess_mode="livemostrecent")

# --- the HTTP API
HTTP_REQUESTS = Counter("ocr_api_requests", "HTTP requests answered, by method, route template and status",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("ocr_api_request_duration_seconds", "Seconds to answer an HTTP request",
                         ["method", "route"], buckets=_HTTP_BUCKETS)


# ------------------------------------------------------------------------------------------ metrics

def verdict_reached(path: str, verdict: Any) -> None:
    """A verdict was decided: true/false, its error codes, review reasons and stage durations
    (``verdict.timings``: load, preprocess, ocr, second_look, verify; download when the path downloads)."""
    VERDICTS.labels(path, "true" if verdict.verdict else "false").inc()
    for code in verdict.error_codes:
        ERRORS.labels(path, code).inc()
    for reason in verdict.review_reasons:
        REVIEW_REASONS.labels(path, reason).inc()
    for stage, seconds in (verdict.timings or {}).items():
        STAGE_SECONDS.labels(path, stage).observe(seconds)


def verdict_saved(path: str, seconds_since_received: Optional[float]) -> None:
    """A verdict was written to its row: the request completed."""
    REQUESTS.labels(path, "completed").inc()
    if seconds_since_received is not None:
        END_TO_END_SECONDS.labels(path).observe(max(0.0, seconds_since_received))


def request_failed(path: str, code: str) -> None:
    """An attempt ended without a verdict; ``code`` is an error code (S3_OBJECT_NOT_FOUND) or one of the
    failure kinds S3_DOWNLOAD_FAILED, INTERNAL_ERROR."""
    REQUESTS.labels(path, "failed").inc()
    ERRORS.labels(path, code).inc()


def kafka_events(totals: Mapping[str, int]) -> None:
    """The sensor's totals by outcome, as its cursor carries them."""
    KAFKA_EVENTS.totals = dict(totals)


def kafka_lag(topic: str, lag: Mapping[int, int]) -> None:
    """The sensor's lag per partition, as measured by its latest fetch."""
    for partition, records in lag.items():
        KAFKA_LAG.labels(topic, str(partition)).set(max(0, records))


def runs_queued(count: int) -> None:
    RUNS_QUEUED.set(count)


def s3_retry() -> None:
    S3_RETRIES.inc()


def s3_failure(kind: str) -> None:
    """``kind``: ``exhausted`` (every attempt failed transiently) or ``refused`` (not retried)."""
    S3_FAILURES.labels(kind).inc()


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


def exposition_registry() -> Any:
    """The registry to expose: this process's, or, in multiprocess mode, every process's sum."""
    if not config.PROMETHEUS_MULTIPROC_DIR.is_set():
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def render_metrics() -> tuple[bytes, str]:
    """``(body, content type)`` of a scrape, in Prometheus' text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(exposition_registry()), CONTENT_TYPE_LATEST


_served: dict[str, Any] = {}
_refused: set[str] = set()
_serve_lock = threading.Lock()


def serve_metrics(port: int, what: str, host: str = "0.0.0.0") -> bool:
    """Serve this process's metrics (all processes' in multiprocess mode) on ``port`` in a background
    thread, once per process; port 0 = off. A port already taken (e.g. by the code server this one
    replaces) is logged once and tried again on the next call: metrics never stop the work. True when
    serving."""
    if port <= 0:
        return False
    with _serve_lock:
        if what in _served:
            return True
        from prometheus_client import start_http_server

        try:
            _served[what] = start_http_server(port, addr=host, registry=exposition_registry())
        except OSError as error:
            if what not in _refused:
                _refused.add(what)
                log.warning("%s metrics not served on port %d (tried again later): %s", what, port, error)
            return False
    log.info("%s metrics on http://%s:%d/metrics", what, host, port)
    return True


def worker_metrics_port() -> int:
    return config.OCR_WORKER_METRICS_PORT.get()


def sensor_metrics_port() -> int:
    return config.OCR_SENSOR_METRICS_PORT.get()


# ------------------------------------------------------------------------------------------- traces

_tracing_configured = False
_tracing_lock = threading.Lock()


def tracing_requested(environ: Optional[Mapping[str, str]] = None) -> bool:
    """The ``OTEL_*`` variables ask for traces: an exporter other than ``none`` or an OTLP endpoint,
    and the SDK not disabled."""
    if config.OTEL_SDK_DISABLED.get(environ).lower() == "true":
        return False
    exporter = config.OTEL_TRACES_EXPORTER.get(environ)
    if exporter:
        return exporter.lower() != "none"
    return config.OTEL_EXPORTER_OTLP_ENDPOINT.is_set(environ) or config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.is_set(
        environ)


def configure_tracing() -> None:
    """Install the SDK's tracer provider when the ``OTEL_*`` variables ask for traces (once per
    process); otherwise leave OpenTelemetry's no-op provider."""
    global _tracing_configured
    if _tracing_configured:
        return
    with _tracing_lock:
        if _tracing_configured:
            return
        _tracing_configured = True
        if not tracing_requested():
            return
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

        provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
        for name in (config.OTEL_TRACES_EXPORTER.get() or "otlp").split(","):
            name = name.strip().lower()
            if name == "console":
                exporter: Any = ConsoleSpanExporter()
            elif name in ("otlp", "otlp_proto_http"):
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                exporter = OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, ...
            else:
                log.warning("OTEL_TRACES_EXPORTER %r is not supported (otlp, console, none): ignored", name)
                continue
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        log.info("tracing on: %s", config.OTEL_TRACES_EXPORTER.get() or "otlp")


_provider: Any = None  # a tracer provider given by use_tracer_provider (tests), else the global one


def use_tracer_provider(provider: Any) -> Any:
    """Trace with ``provider`` (e.g. the SDK's, with an ``InMemorySpanExporter``) instead of the global
    one, None to go back; returns the previous one. OpenTelemetry's global provider can be set only
    once per process: tests use this."""
    global _provider
    previous, _provider = _provider, provider
    return previous


def _tracer() -> Any:
    if _provider is not None:
        return _provider.get_tracer("ocr_pipeline")
    configure_tracing()
    from opentelemetry import trace

    return trace.get_tracer("ocr_pipeline")


def _context_of(traceparent: Optional[str]) -> Any:
    if not traceparent:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


@contextlib.contextmanager
def span(name: str, traceparent: Optional[str] = None, **attributes: Any) -> Iterator[Any]:
    """A span around the block: a child of the current span, or of ``traceparent`` (a W3C header value
    from a Kafka event or a run tag) when given. Attributes must hold no personal data."""
    with _tracer().start_as_current_span(name, context=_context_of(traceparent),
                                         attributes={k: v for k, v in attributes.items() if v is not None}) as current:
        yield current


def current_traceparent() -> Optional[str]:
    """The W3C ``traceparent`` of the current span (to pass to a run as a tag), None without one."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def traceparent_header(headers: Any) -> Optional[str]:
    """The ``traceparent`` value among Kafka record headers (``[(name, bytes)]``), None without one."""
    for name, value in headers or ():
        if name == "traceparent" and value:
            try:
                return value.decode("ascii") if isinstance(value, bytes) else str(value)
            except UnicodeDecodeError:
                return None
    return None
