"""Every environment variable ocr_pipeline reads (the engine aside): its name, default, parser and meaning.

Nothing else in the package calls ``os.environ`` for its configuration: the code location's resources
(``defs/resources``), the sensors, the HTTP API (``api/settings.py``), the run launcher and workers
(``deploy/``) and the S3 client read the variables declared here, with ``VARIABLE.get()`` (parsed value
or default) or, where a value goes to Dagster as ``dg.EnvVar``, ``VARIABLE.is_set()``.

A value that is set but cannot be parsed raises :class:`ConfigurationError` naming the variable, e.g.
``S3_DOWNLOAD_ATTEMPTS must be a number, got 'four'``. An unset or empty variable (blanks ignored) gives
the default, so everything loads with no environment at all (``OCR_PREVIEW_PREFIX`` is the exception:
set to empty it turns previews off).

Adding a variable: declare it below in its group, read it with ``.get()`` where it is used, and add a
row to the README's Configuration tables. The engine's own (``OMP_THREAD_LIMIT``,
``OCR_TESSERACT_IN_PROCESS``, ``TESSDATA_PREFIX``) are read in ``engine/ocr.py``; ``DAGSTER_PG_URL`` is
read by Dagster itself (``dagster.yaml``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional


class ConfigurationError(ValueError):
    """An environment variable holds a value that cannot be used; the message starts with its name."""


def text(raw: str) -> str:
    return raw


def number(minimum: Optional[float] = None) -> Callable[[str], float]:
    """A parser of decimal numbers, refusing values below ``minimum``."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, got {raw!r}") from None
        if value != value or (minimum is not None and value < minimum):  # NaN, or too small
            raise ValueError(f"must be at least {minimum}, got {raw!r}")
        return value

    return parse


def integer(minimum: Optional[int] = None) -> Callable[[str], int]:
    """A parser of whole numbers (``"50"``; a decimal is cut to its whole part, as before)."""
    parse_number = number(minimum)

    def parse(raw: str) -> int:
        return int(parse_number(raw))

    return parse


@dataclass(frozen=True)
class Variable:
    """One environment variable. ``default`` is the parsed value used when it is unset or empty."""

    name: str
    default: Any
    meaning: str
    parse: Callable[[str], Any] = text
    secret: bool = False  # never logged or shown; passed to Dagster as dg.EnvVar
    empty_is_unset: bool = True  # False: an empty value is a value (OCR_PREVIEW_PREFIX)

    def raw(self, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
        """The variable's text, None when unset (or empty, blanks stripped, unless ``empty_is_unset`` is off)."""
        value = (os.environ if environ is None else environ).get(self.name)
        if value is None or not self.empty_is_unset:
            return value
        return value.strip() or None

    def is_set(self, environ: Optional[Mapping[str, str]] = None) -> bool:
        return self.raw(environ) is not None

    def get(self, environ: Optional[Mapping[str, str]] = None) -> Any:
        """The parsed value, or the default when unset; :class:`ConfigurationError` naming the variable
        when the value is unusable."""
        raw = self.raw(environ)
        if raw is None:
            return self.default
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ConfigurationError(f"{self.name} {error}") from None

    def set(self, value: str) -> None:
        """Set the variable in this process's environment, for a library that reads it itself and for
        the child processes (``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is imported)."""
        os.environ[self.name] = value

    def __repr__(self) -> str:  # never the value
        return f"Variable({self.name!r})"


# --- Kafka: the request topic (sensor, API) and result events -------------------------------------
KAFKA_BOOTSTRAP_SERVERS = Variable("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "brokers, comma-separated host:port")
KAFKA_TOPIC = Variable("KAFKA_TOPIC", "dl-loan-delay-requests", "topic the mobile app publishes requests to")
KAFKA_GROUP_ID = Variable("KAFKA_GROUP_ID", "nohd_MSB", "consumer group the sensor commits offsets to")
KAFKA_SECURITY_PROTOCOL = Variable("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT",
                                   "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (checked by KafkaSettings)")
KAFKA_SASL_MECHANISM = Variable("KAFKA_SASL_MECHANISM", None, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
KAFKA_SASL_USERNAME = Variable("KAFKA_SASL_USERNAME", None, "SASL user")
KAFKA_SASL_PASSWORD = Variable("KAFKA_SASL_PASSWORD", None, "SASL password", secret=True)
KAFKA_SSL_CAFILE = Variable("KAFKA_SSL_CAFILE", None, "PEM file of the brokers' CA")
KAFKA_START_FROM = Variable("KAFKA_START_FROM", "earliest", "where a partition without a position starts")
KAFKA_OFFSET_RESET = Variable("KAFKA_OFFSET_RESET", "earliest", "where a partition restarts when the cursor is out "
                              "of range (topic recreated or truncated): earliest or latest")
KAFKA_RESULTS_TOPIC = Variable("KAFKA_RESULTS_TOPIC", None, "topic for result events; unset: off")
KAFKA_DEAD_LETTER_TOPIC = Variable("KAFKA_DEAD_LETTER_TOPIC", None, "where events that cannot even be recorded as "
                                   "invalid go; unset: <KAFKA_TOPIC>-dead-letter")

# --- S3: the document bucket ------------------------------------------------------------------------
S3_ENDPOINT_URL = Variable("S3_ENDPOINT_URL", None, "S3 endpoint; unset: AWS")
S3_BUCKET = Variable("S3_BUCKET", "loan-documents", "bucket holding the request documents")
AWS_ACCESS_KEY_ID = Variable("AWS_ACCESS_KEY_ID", None, "S3 access key", secret=True)
AWS_SECRET_ACCESS_KEY = Variable("AWS_SECRET_ACCESS_KEY", None, "S3 secret key", secret=True)
AWS_SESSION_TOKEN = Variable("AWS_SESSION_TOKEN", None, "S3 session token (make_s3_client without credentials)",
                             secret=True)
AWS_REGION = Variable("AWS_REGION", "us-east-1", "region used for request signing")
S3_CA_BUNDLE = Variable("S3_CA_BUNDLE", None, "PEM bundle verifying an internal S3's certificate")
AWS_CA_BUNDLE = Variable("AWS_CA_BUNDLE", None, "boto3's own CA bundle variable, used when S3_CA_BUNDLE is unset")
S3_CONNECT_TIMEOUT_SECONDS = Variable("S3_CONNECT_TIMEOUT_SECONDS", 5.0, "per-attempt connect timeout",
                                      number(minimum=0.1))
S3_READ_TIMEOUT_SECONDS = Variable("S3_READ_TIMEOUT_SECONDS", 60.0, "per-attempt read timeout", number(minimum=0.1))
S3_DOWNLOAD_ATTEMPTS = Variable("S3_DOWNLOAD_ATTEMPTS", 4, "attempts per download (backoff between)",
                                integer(minimum=1))
S3_BREAKER_FAILURES = Variable("S3_BREAKER_FAILURES", 5, "transient S3 failures within the window that open the "
                               "circuit breaker (sensor stops creating runs); 0: no breaker", integer(minimum=0))
S3_BREAKER_WINDOW_SECONDS = Variable("S3_BREAKER_WINDOW_SECONDS", 60.0, "window the breaker counts failures in",
                                     number(minimum=1))
S3_BREAKER_COOLDOWN_SECONDS = Variable("S3_BREAKER_COOLDOWN_SECONDS", 15.0, "open breaker: seconds after the last "
                                       "failure before the sensor probes S3 (head_bucket)", number(minimum=0))
S3_OUTAGE_WAIT_SECONDS = Variable("S3_OUTAGE_WAIT_SECONDS", 300.0, "how long a run keeps retrying a download "
                                  "while S3 is unavailable before it fails", number(minimum=0))
OCR_PREVIEW_PREFIX = Variable("OCR_PREVIEW_PREFIX", "_previews/", "S3 prefix of evidence previews; empty: none",
                              empty_is_unset=False)


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser accepting only ``choices``."""

    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    return parse


# --- The per-request job ---------------------------------------------------------------------------------
OCR_REQUEST_STAGES = Variable("OCR_REQUEST_STAGES", "ops", "shape of request_verdict: ops (download, read and "
                              "decide as three ops) or one-step (one op)", one_of("ops", "one-step"))

# --- Postgres: the verdict store -------------------------------------------------------------------------
DATABASE_URL = Variable("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/ocr_pipeline",
                        "verdict store (SQLAlchemy URL, keep +psycopg2)", secret=True)

# --- Sensors and the daemon ----------------------------------------------------------------------------
OCR_SENSOR_INTERVAL_SECONDS = Variable("OCR_SENSOR_INTERVAL_SECONDS", 1, "minimum seconds between Kafka sensor "
                                       "ticks (read when the code location loads)", integer(minimum=0))
OCR_SENSOR_LOOP_SECONDS = Variable("OCR_SENSOR_LOOP_SECONDS", 1.0, "how often the daemon's sensor loop wakes",
                                   number(minimum=0.1))
OCR_SENSOR_MAX_EVENTS_PER_TICK = Variable("OCR_SENSOR_MAX_EVENTS_PER_TICK", 50, "events read per tick at most",
                                          integer(minimum=1))
OCR_SENSOR_TIME_BUDGET_SECONDS = Variable("OCR_SENSOR_TIME_BUDGET_SECONDS", 20.0,
                                          "seconds of Kafka polling per tick at most", number(minimum=0))
OCR_SENSOR_MAX_QUEUED_RUNS = Variable("OCR_SENSOR_MAX_QUEUED_RUNS", 100, "back-pressure: queued runs at which "
                                      "the sensor stops reading; 0 = no limit", integer(minimum=0))
OCR_SENSOR_RECORD_ATTEMPTS = Variable("OCR_SENSOR_RECORD_ATTEMPTS", 3, "ticks an event that cannot even be "
                                      "recorded as invalid is tried before it is dead-lettered", integer(minimum=1))
OCR_STUCK_REQUEST_GRACE_SECONDS = Variable("OCR_STUCK_REQUEST_GRACE_SECONDS", 120.0, "a request received longer "
                                           "ago without a run gets one; 0 = off", number(minimum=0))
OCR_STUCK_REQUEST_INTERVAL_SECONDS = Variable("OCR_STUCK_REQUEST_INTERVAL_SECONDS", 30, "seconds between checks "
                                              "for such requests (read at load)", integer(minimum=1))
OCR_PREFIX_SENSOR_DEPTH = Variable("OCR_PREFIX_SENSOR_DEPTH", 2, "folder depth of backfill prefixes (2024/12/)",
                                   integer(minimum=1))

# --- Dagster instance and run workers (deploy/) -----------------------------------------------------
DAGSTER_HOME = Variable("DAGSTER_HOME", ".", "Dagster's home; compute logs under $DAGSTER_HOME/storage")
CELERY_BROKER_URL = Variable("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0", "where runs are queued for the "
                             "run workers", secret=True)
CELERY_RESULT_BACKEND = Variable("CELERY_RESULT_BACKEND", None, "where task states are kept; unset: the broker",
                                 secret=True)
CELERY_RUN_QUEUE = Variable("CELERY_RUN_QUEUE", "dagster", "queue name of the runs")
CELERY_WORKER_HEARTBEAT_SECONDS = Variable("CELERY_WORKER_HEARTBEAT_SECONDS", 5.0, "how often a run worker says "
                                           "it is alive; silent for 3 times this, its runs are failed",
                                           number(minimum=0.5))

# --- HTTP API (api/settings.py) ---------------------------------------------------------------------------
DAGSTER_WEBSERVER_URL = Variable("DAGSTER_WEBSERVER_URL", "http://127.0.0.1:3000", "where the API submits runs")
DAGSTER_UI_URL = Variable("DAGSTER_UI_URL", None, "base of run links; unset: DAGSTER_WEBSERVER_URL")
DAGSTER_LOCATION_NAME = Variable("DAGSTER_LOCATION_NAME", None, "code location of verify_request; unset: looked up")
API_MAX_UPLOAD_BYTES = Variable("API_MAX_UPLOAD_BYTES", None, "largest upload; unset: the engine's file limit",
                                integer(minimum=1))
API_BEARER_TOKEN = Variable("API_BEARER_TOKEN", None, "bearer token /v1/* requires; unset: no auth", secret=True)
API_REQUEST_TIMEOUT_SECONDS = Variable("API_REQUEST_TIMEOUT_SECONDS", 120.0, "longest a request may take",
                                       number(minimum=1))
API_VERIFY_WORKERS = Variable("API_VERIFY_WORKERS", 2, "documents verified at once", integer(minimum=1))
API_VERIFY_QUEUE = Variable("API_VERIFY_QUEUE", 8, "uploads waiting for a worker", integer(minimum=0))
API_HEALTH_TIMEOUT_SECONDS = Variable("API_HEALTH_TIMEOUT_SECONDS", 2.0, "per-dependency timeout of /health",
                                      number(minimum=0.1))
API_RATE_LIMIT_PER_MINUTE = Variable("API_RATE_LIMIT_PER_MINUTE", 60, "requests a client may make to /v1/verify "
                                     "and /v1/kafka-verify a minute (429 beyond); 0: no limit", integer(minimum=0))

# --- Metrics and traces (adapters/telemetry.py) ------------------------------------------------------
OCR_WORKER_METRICS_PORT = Variable("OCR_WORKER_METRICS_PORT", 9101, "port the run workers' main process serves "
                                   "/metrics on (all pool processes); 0 = off", integer(minimum=0))
OCR_SENSOR_METRICS_PORT = Variable("OCR_SENSOR_METRICS_PORT", 9102, "port the process evaluating the Kafka sensor "
                                   "serves /metrics on; 0 = off", integer(minimum=0))
PROMETHEUS_MULTIPROC_DIR = Variable("PROMETHEUS_MULTIPROC_DIR", None, "prometheus_client's multiprocess directory; "
                                    "unset: ocr-pipeline worker makes a temporary one")
OTEL_TRACES_EXPORTER = Variable("OTEL_TRACES_EXPORTER", None, "otlp, console or none; unset: otlp when an OTLP "
                                "endpoint is set, else tracing off")
OTEL_EXPORTER_OTLP_ENDPOINT = Variable("OTEL_EXPORTER_OTLP_ENDPOINT", None, "OTLP/HTTP collector (traces go to "
                                       "<endpoint>/v1/traces); set: tracing on")
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = Variable("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None, "full OTLP/HTTP traces "
                                              "URL; set: tracing on")
OTEL_SDK_DISABLED = Variable("OTEL_SDK_DISABLED", "false", "true: tracing off whatever else is set")

# KafkaSettings / KafkaResource field -> variable (the request topic's connection).
KAFKA_FIELDS: dict[str, Variable] = {
    "bootstrap_servers": KAFKA_BOOTSTRAP_SERVERS,
    "topic": KAFKA_TOPIC,
    "group_id": KAFKA_GROUP_ID,
    "security_protocol": KAFKA_SECURITY_PROTOCOL,
    "sasl_mechanism": KAFKA_SASL_MECHANISM,
    "sasl_username": KAFKA_SASL_USERNAME,
    "sasl_password": KAFKA_SASL_PASSWORD,
    "ssl_cafile": KAFKA_SSL_CAFILE,
    "start_from": KAFKA_START_FROM,
    "offset_reset": KAFKA_OFFSET_RESET,
}

VARIABLES: tuple[Variable, ...] = tuple(value for value in list(globals().values()) if isinstance(value, Variable))
_BY_NAME = {variable.name: variable for variable in VARIABLES}


def variable(name: str) -> Variable:
    """The declared variable called ``name`` (``KeyError`` when it is not declared here)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not declared in ocr_pipeline.adapters.config") from None


def check(environ: Optional[Mapping[str, str]] = None) -> None:
    """Parse every variable once: :class:`ConfigurationError` for the first unusable one."""
    for variable in VARIABLES:
        variable.get(environ)
