"""Settings of the HTTP API, read from environment variables.

The service variables (``DATABASE_URL``, ``S3_*``, ``AWS_*``, ``KAFKA_*``) and their defaults are the
code location's (``ocr_pipeline.resources.DEFAULTS``), so the API and the Dagster runs talk to the
same Postgres, bucket and topic. The API adds:

=============================  ==================================  ==========================================
Variable                       Default                             Meaning
=============================  ==================================  ==========================================
``DAGSTER_WEBSERVER_URL``      ``http://127.0.0.1:3000``           Where runs are submitted (GraphQL)
``DAGSTER_UI_URL``             ``DAGSTER_WEBSERVER_URL``           Base of the run links shown to people
``DAGSTER_LOCATION_NAME``      looked up                           Code location of ``verify_request``
``API_MAX_UPLOAD_BYTES``       20 MiB (the engine's limit)         Largest document ``/v1/verify`` takes
``API_BEARER_TOKEN``           unset (no auth)                     Token ``/v1/*`` requires when set
``API_REQUEST_TIMEOUT_SECONDS`` 120                                Longest a request may take (504 after)
``API_VERIFY_WORKERS``         2                                   Documents verified at once (threads)
``API_VERIFY_QUEUE``           8                                   Uploads waiting for a worker (503 beyond)
``API_HEALTH_TIMEOUT_SECONDS`` 2                                   Per-dependency timeout of ``/health``
=============================  ==================================  ==========================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from ..engine.models import EngineSettings

DEFAULT_DAGSTER_WEBSERVER_URL = "http://127.0.0.1:3000"


def _service_defaults() -> dict[str, Optional[str]]:
    from ..resources import DEFAULTS

    return dict(DEFAULTS)


def _text(environ: Mapping[str, str], name: str, default: Optional[str]) -> Optional[str]:
    value = environ.get(name, "").strip()
    return value or default


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API needs; secrets (the bearer token, SASL password) are kept out of ``repr``."""

    database_url: str
    s3_bucket: str
    s3_endpoint_url: Optional[str] = None
    s3_region: str = "us-east-1"
    s3_ca_bundle: Optional[str] = None
    kafka: dict[str, Any] = field(default_factory=dict, repr=False)
    dagster_webserver_url: str = DEFAULT_DAGSTER_WEBSERVER_URL
    dagster_ui_url: Optional[str] = None
    dagster_location_name: Optional[str] = None
    max_upload_bytes: int = EngineSettings().max_file_bytes
    bearer_token: Optional[str] = field(default=None, repr=False)
    request_timeout_seconds: float = 120.0
    verify_workers: int = 2
    verify_queue: int = 8
    health_timeout_seconds: float = 2.0
    dagster_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> "ApiSettings":
        """Settings from ``environ`` (default ``os.environ``); ``overrides`` replace single fields."""
        environ = os.environ if environ is None else environ
        defaults = _service_defaults()

        def service(name: str) -> Optional[str]:
            return _text(environ, name, defaults[name])

        kafka = {
            "bootstrap_servers": service("KAFKA_BOOTSTRAP_SERVERS"),
            "topic": service("KAFKA_TOPIC"),
            "group_id": service("KAFKA_GROUP_ID"),
            "security_protocol": service("KAFKA_SECURITY_PROTOCOL"),
            "sasl_mechanism": service("KAFKA_SASL_MECHANISM"),
            "sasl_username": service("KAFKA_SASL_USERNAME"),
            "sasl_password": service("KAFKA_SASL_PASSWORD"),
            "ssl_cafile": service("KAFKA_SSL_CAFILE"),
            "start_from": service("KAFKA_START_FROM"),
        }
        webserver = _text(environ, "DAGSTER_WEBSERVER_URL", DEFAULT_DAGSTER_WEBSERVER_URL).rstrip("/")
        settings = cls(
            database_url=service("DATABASE_URL"),
            s3_bucket=service("S3_BUCKET"),
            s3_endpoint_url=service("S3_ENDPOINT_URL"),
            s3_region=service("AWS_REGION") or "us-east-1",
            s3_ca_bundle=service("S3_CA_BUNDLE"),
            kafka=kafka,
            dagster_webserver_url=webserver,
            dagster_ui_url=(_text(environ, "DAGSTER_UI_URL", None) or webserver).rstrip("/"),
            dagster_location_name=_text(environ, "DAGSTER_LOCATION_NAME", None),
            max_upload_bytes=int(_number(environ, "API_MAX_UPLOAD_BYTES", cls.max_upload_bytes, 1)),
            bearer_token=_text(environ, "API_BEARER_TOKEN", None),
            request_timeout_seconds=_number(environ, "API_REQUEST_TIMEOUT_SECONDS", cls.request_timeout_seconds, 1),
            verify_workers=int(_number(environ, "API_VERIFY_WORKERS", cls.verify_workers, 1)),
            verify_queue=int(_number(environ, "API_VERIFY_QUEUE", cls.verify_queue, 0)),
            health_timeout_seconds=_number(environ, "API_HEALTH_TIMEOUT_SECONDS", cls.health_timeout_seconds, 0.1),
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def run_link_base(self) -> str:
        """Base URL of run links: ``<base>/runs/<run_id>``."""
        return (self.dagster_ui_url or self.dagster_webserver_url).rstrip("/")

    def engine_settings(self) -> EngineSettings:
        """The engine's settings, its file-size limit raised to the upload cap when that is larger."""
        default = EngineSettings()
        return replace(default, max_file_bytes=max(default.max_file_bytes, self.max_upload_bytes))


def database_url_with_timeouts(database_url: str, connect_timeout: int = 3, statement_timeout_ms: int = 15000) -> str:
    """A psycopg2 URL with a connect timeout and a statement timeout added (a dead or stuck server
    fails fast instead of holding a request); other URLs are returned unchanged. Values already in
    the URL win."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.endswith("psycopg2"):
        return database_url
    query = dict(url.query)
    query.setdefault("connect_timeout", str(connect_timeout))
    query.setdefault("options", f"-c statement_timeout={statement_timeout_ms}")
    return url.set(query=query).render_as_string(hide_password=False)
