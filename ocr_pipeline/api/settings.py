"""Settings of the HTTP API, read from environment variables (declared in ``ocr_pipeline.adapters.config``).

The service variables (``DATABASE_URL``, ``S3_*``, ``AWS_*``, ``KAFKA_*``) and their defaults are the
code location's, so the API and the Dagster runs talk to the same Postgres, bucket and topic. The API adds:

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
``API_RATE_LIMIT_PER_MINUTE``  60                                  Uploads + events a client may send a minute
=============================  ==================================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional

from ..adapters import config
from ..engine.models import EngineSettings

DEFAULT_DAGSTER_WEBSERVER_URL = config.DAGSTER_WEBSERVER_URL.default


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API needs; secrets (the bearer token, SASL password) are kept out of ``repr``."""

    database_url: str
    s3_bucket: str
    s3_endpoint_url: Optional[str] = None
    s3_region: str = config.AWS_REGION.default
    s3_ca_bundle: Optional[str] = None
    preview_prefix: str = config.OCR_PREVIEW_PREFIX.default  # where the runs put evidence previews
    kafka: dict[str, Any] = field(default_factory=dict, repr=False)
    dagster_webserver_url: str = DEFAULT_DAGSTER_WEBSERVER_URL
    dagster_ui_url: Optional[str] = None
    dagster_location_name: Optional[str] = None
    max_upload_bytes: int = EngineSettings().max_file_bytes
    bearer_token: Optional[str] = field(default=None, repr=False)
    request_timeout_seconds: float = config.API_REQUEST_TIMEOUT_SECONDS.default
    verify_workers: int = config.API_VERIFY_WORKERS.default
    verify_queue: int = config.API_VERIFY_QUEUE.default
    health_timeout_seconds: float = config.API_HEALTH_TIMEOUT_SECONDS.default
    rate_limit_per_minute: int = config.API_RATE_LIMIT_PER_MINUTE.default
    dagster_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> "ApiSettings":
        """Settings from ``environ`` (default ``os.environ``); ``overrides`` replace single fields.
        A value that cannot be used raises ``config.ConfigurationError`` (a ``ValueError``) naming it."""
        kafka = {name: variable.get(environ) for name, variable in config.KAFKA_FIELDS.items()}
        webserver = config.DAGSTER_WEBSERVER_URL.get(environ).rstrip("/")
        max_upload_bytes = config.API_MAX_UPLOAD_BYTES.get(environ)
        settings = cls(
            database_url=config.DATABASE_URL.get(environ),
            s3_bucket=config.S3_BUCKET.get(environ),
            s3_endpoint_url=config.S3_ENDPOINT_URL.get(environ),
            s3_region=config.AWS_REGION.get(environ),
            s3_ca_bundle=config.S3_CA_BUNDLE.get(environ),
            preview_prefix=config.OCR_PREVIEW_PREFIX.get(environ),
            kafka=kafka,
            dagster_webserver_url=webserver,
            dagster_ui_url=(config.DAGSTER_UI_URL.get(environ) or webserver).rstrip("/"),
            dagster_location_name=config.DAGSTER_LOCATION_NAME.get(environ),
            max_upload_bytes=cls.max_upload_bytes if max_upload_bytes is None else max_upload_bytes,
            bearer_token=config.API_BEARER_TOKEN.get(environ),
            request_timeout_seconds=config.API_REQUEST_TIMEOUT_SECONDS.get(environ),
            verify_workers=config.API_VERIFY_WORKERS.get(environ),
            verify_queue=config.API_VERIFY_QUEUE.get(environ),
            health_timeout_seconds=config.API_HEALTH_TIMEOUT_SECONDS.get(environ),
            rate_limit_per_minute=config.API_RATE_LIMIT_PER_MINUTE.get(environ),
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
    """A psycopg2 URL (``postgres://`` and ``postgresql://`` made psycopg2) with a connect timeout and a
    statement timeout added (a dead or stuck server fails fast instead of holding a request); other URLs
    are returned unchanged. Values already in the URL win."""
    from sqlalchemy.engine import make_url

    from ..adapters.db_url import psycopg2_url

    database_url = psycopg2_url(database_url)
    url = make_url(database_url)
    if not url.drivername.endswith("psycopg2"):
        return database_url
    query = dict(url.query)
    query.setdefault("connect_timeout", str(connect_timeout))
    query.setdefault("options", f"-c statement_timeout={statement_timeout_ms}")
    return url.set(query=query).render_as_string(hide_password=False)
