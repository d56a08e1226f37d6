"""The HTTP API against real services: uvicorn on a free port, Postgres, moto_server (S3), Tansu
(Kafka) and a real ``dagster-webserver`` (the project's workspace.yaml, a temporary DAGSTER_HOME whose
runs the webserver launches itself, so no daemon is needed).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import dagster as dg
import httpx
import pytest
import uvicorn

from ocr_pipeline.adapters.log_masking import MaskIinFilter, mask_iins
from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.api import ApiSettings, create_app
from ocr_pipeline.api.dagster_client import DagsterClient, safe_message
from ocr_pipeline.api.submission import SUBMISSION_FAILED_PREFIX
from ocr_pipeline.engine.iin import mask_iin
from ocr_pipeline.flows.events import InvalidEvent, parse_event
from ocr_pipeline_devtools import docgen, services
from ocr_pipeline_devtools.cli_verdict import cli_verdict, comparable
from ocr_pipeline_devtools.dagster_fixtures import (
    REPO_ROOT,
    event_bytes,
    event_dict,
    make_iin,
    new_request_id,
    running_daemon,
    wait_for,
)
from ocr_pipeline_devtools.fault_report import record_fault

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WEBSERVER_START_TIMEOUT = 90
RUN_TIMEOUT = 120
IVANOVA = docgen.PEOPLE["ivanova"]

_DAGSTER_YAML = """\
storage:
  postgres:
    postgres_url:
      env: DAGSTER_PG_URL
# the webserver launches runs at once (no daemon in these tests)
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


# ------------------------------------------------------------------------------------------ helpers

class UvicornThread:
    """A real uvicorn server for ``app`` on a free loopback port, in a daemon thread."""

    def __init__(self, app):
        self.port = services.free_port()
        config = uvicorn.Config(app, host=services.LOOPBACK, port=self.port, log_config=None, lifespan="on",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)
        self.url = f"http://{services.LOOPBACK}:{self.port}"

    def __enter__(self) -> "UvicornThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 60), **kwargs)


@contextlib.contextmanager
def serving(settings: ApiSettings) -> Iterator[UvicornThread]:
    """``create_app(settings)`` served by uvicorn for the block."""
    with UvicornThread(create_app(settings)) as server:
        yield server


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung dependency)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((services.LOOPBACK, 0))
    sock.listen(64)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    return services.free_port()


@dataclass
class Webserver:
    url: str
    home: Path
    process: subprocess.Popen
    log_path: Path
    dagster_pg_url: str
    env: dict

    def log_tail(self, lines: int = 60) -> str:
        return services.log_tail(self.log_path, lines)

    def instance(self) -> dg.DagsterInstance:
        """The webserver's Dagster instance, opened from this process (its storage URL written out)."""
        home = self.home / "test-process"
        if not home.exists():
            home.mkdir()
            (home / "dagster.yaml").write_text(
                _DAGSTER_YAML.replace("postgres_url:\n      env: DAGSTER_PG_URL",
                                      f"postgres_url: {json.dumps(self.dagster_pg_url)}")
            )
        return dg.DagsterInstance.from_config(str(home))


@dataclass
class Deployment:
    """The services of this module: one topic, one bucket, one database, one webserver."""

    database_url: str
    bucket: str
    topic: str
    kafka: str
    s3_endpoint: str
    webserver: Optional[Webserver] = None

    def settings(self, **overrides) -> ApiSettings:
        environ = {
            "DATABASE_URL": self.database_url,
            "S3_ENDPOINT_URL": self.s3_endpoint,
            "S3_BUCKET": self.bucket,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "KAFKA_TOPIC": self.topic,
            "DAGSTER_WEBSERVER_URL": self.webserver.url if self.webserver else f"http://127.0.0.1:{closed_port()}",
            "API_HEALTH_TIMEOUT_SECONDS": "1.5",
            "API_RATE_LIMIT_PER_MINUTE": "0",  # the flood test sets its own
        }
        return ApiSettings.from_env(environ, **overrides)


@pytest.fixture(scope="module")
def deployment(kafka_broker, s3_server, pg_database_url):
    topic = f"api-{new_request_id()}"
    services.create_topic(kafka_broker.bootstrap_servers, topic, 2)
    bucket = s3_server.create_bucket()
    VerdictStore(pg_database_url).ensure_schema()
    return Deployment(pg_database_url, bucket, topic, kafka_broker.bootstrap_servers, s3_server.endpoint_url)


@pytest.fixture(scope="module")
def webserver(deployment, tmp_path_factory) -> Iterator[Webserver]:
    """``dagster-webserver -w workspace.yaml`` with Dagster's storage in a Postgres database of its own."""
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text(_DAGSTER_YAML)
    log_path = home / "webserver.log"
    port = services.free_port()
    with services.temporary_postgres_database(prefix="ocr_api_dagster") as dagster_url:
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(home), DAGSTER_PG_URL=dagster_url, DATABASE_URL=deployment.database_url,
            S3_ENDPOINT_URL=deployment.s3_endpoint, S3_BUCKET=deployment.bucket,
            KAFKA_BOOTSTRAP_SERVERS=deployment.kafka, KAFKA_TOPIC=deployment.topic,
            AWS_REGION="us-east-1", OMP_THREAD_LIMIT="1", PYTHONUNBUFFERED="1",
        )
        started = time.monotonic()
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(REPO_ROOT / "workspace.yaml"),
                 "-h", services.LOOPBACK, "-p", str(port)],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Webserver(f"http://{services.LOOPBACK}:{port}", home, process, log_path, dagster_url, env)
        try:
            client = DagsterClient(server.url, timeout=5)

            def location_loaded():
                assert process.poll() is None, f"dagster-webserver exited:\n{server.log_tail()}"
                try:
                    return client.job_location("verify_request")
                except Exception:
                    return None

            wait_for(location_loaded, WEBSERVER_START_TIMEOUT, interval=0.3, what="the code location in the webserver",
                     on_timeout=server.log_tail)
            print(f"\nAPI: dagster-webserver with the code location up in {time.monotonic() - started:.1f} s")
            deployment.webserver = server
            yield server
        finally:
            deployment.webserver = None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


@pytest.fixture(scope="module")
def api(deployment, webserver) -> Iterator[UvicornThread]:
    """The API wired to every real service, the webserver included."""
    with serving(deployment.settings()) as server:
        yield server


@pytest.fixture(scope="module")
def api_without_dagster(deployment) -> Iterator[UvicornThread]:
    """The API with Postgres, S3 and Kafka, and a Dagster webserver URL where nothing listens."""
    with serving(deployment.settings(dagster_webserver_url=f"http://127.0.0.1:{closed_port()}")) as server:
        yield server


def _event(request_id: int, key: str, person=IVANOVA, **extra) -> dict:
    applicant = person.applicant()
    return event_dict(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                      first_name=applicant.first_name, second_name=applicant.second_name, **extra)


def _upload_form(person=IVANOVA, **fields) -> dict:
    applicant = person.applicant()
    form = {"iin": applicant.iin, "last_name": applicant.last_name, "first_name": applicant.first_name,
            "second_name": applicant.second_name}
    form.update({k: str(v) for k, v in fields.items()})
    return form


def _text_pdf(person=IVANOVA, doc_type: str = "maternity_order", seed: int = 1) -> bytes:
    return docgen.to_pdf([docgen.render_document(doc_type, person, seed=seed)], text_layer=True)


def _runs_for(webserver: Webserver, request_id: int) -> list[dg.DagsterRun]:
    with webserver.instance() as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": str(request_id)})))


# --------------------------------------------------------------------------------------- /health

def test_health_reports_every_dependency_up(api):
    with api.client() as client:
        started = time.monotonic()
        response = client.get("/health")
        elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"postgres", "s3", "kafka", "dagster"}
    for name, check in body["checks"].items():
        assert check["status"] == "up", (name, check)
        assert check["latency_ms"] >= 0
    assert "2 partition(s)" in body["checks"]["kafka"]["detail"]
    print(f"\nAPI /health, all up: {elapsed * 1000:.0f} ms "
          + ", ".join(f"{n} {c['latency_ms']:.0f} ms" for n, c in body["checks"].items()))


def test_health_is_503_within_seconds_when_postgres_is_refused_and_kafka_and_dagster_hang(deployment):
    with silent_port() as hung_kafka, silent_port() as hung_dagster:
        settings = deployment.settings(
            database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}/nothing",
            kafka={**deployment.settings().kafka, "bootstrap_servers": f"127.0.0.1:{hung_kafka}"},
            dagster_webserver_url=f"http://127.0.0.1:{hung_dagster}",
            health_timeout_seconds=1.5,
        )
        with serving(settings) as server, server.client() as client:
            started = time.monotonic()
            response = client.get("/health")
            elapsed = time.monotonic() - started
            # a second call while the hung checks may still run: still answered in time
            again = client.get("/health")
            # the endpoints that need Postgres say so, with no traceback
            status = client.get(f"/v1/requests/{new_request_id()}")
            submitted = client.post("/v1/kafka-verify", content=json.dumps(_event(new_request_id(), "a.pdf")))
    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "unavailable"
    checks = body["checks"]
    assert checks["postgres"]["status"] == "down" and "refused" in checks["postgres"]["detail"].lower()
    assert checks["s3"]["status"] == "up"
    assert checks["kafka"]["status"] == "down"
    assert checks["dagster"]["status"] == "down"
    assert elapsed < 4.5, elapsed  # the checks time out after 1.5 s (+0.5 s grace); the rest is a loaded machine
    assert again.status_code == 503
    for answer in (status, submitted):
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"] == "the database is unavailable" and "Traceback" not in answer.text
    print(f"\nAPI /health with Postgres refused, Kafka and Dagster hanging: 503 in {elapsed:.2f} s")


# ------------------------------------------------------------------------------------ /v1/verify

def test_verify_returns_the_verdict_of_an_upload_and_stores_nothing(api, deployment):
    store = VerdictStore(deployment.database_url)
    rows_before = sum(store.status_counts().values())
    with api.client() as client:
        started = time.monotonic()
        response = client.post("/v1/verify", data=_upload_form(),
                               files={"file": ("Приказ.pdf", _text_pdf(), "application/pdf")})
        pdf_seconds = time.monotonic() - started
        png = docgen.degrade(docgen.render_document("sick_leave", IVANOVA, seed=4), "clean")
        started = time.monotonic()
        photo = client.post("/v1/verify", data=_upload_form(),
                            files={"file": ("scan.bin", png, "application/octet-stream")})
        png_seconds = time.monotonic() - started
        stranger = client.post("/v1/verify", data=_upload_form(docgen.PEOPLE["akhmetov"]),
                               files={"file": ("Приказ.pdf", _text_pdf(), "application/pdf")})
    body = response.json()
    assert response.status_code == 200, body
    assert body["verdict"] is True and body["errors"] == [], body
    assert body["request_id"] is None
    assert body["pages"] == 1 and body["engine"]
    assert photo.status_code == 200 and photo.json()["verdict"] is True, photo.json()
    assert comparable(photo.json()) == comparable(cli_verdict(png, IVANOVA.applicant(), ".png"))  # one engine
    assert stranger.status_code == 200 and stranger.json()["verdict"] is False
    assert "NAME_NOT_FOUND" in [e["code"] for e in stranger.json()["errors"]]
    assert sum(store.status_counts().values()) == rows_before
    print(f"\nAPI /v1/verify: text PDF {pdf_seconds:.2f} s, clean PNG (OCR) {png_seconds:.2f} s")


def test_verify_with_store_writes_the_row_once(api, deployment):
    request_id = new_request_id()
    store = VerdictStore(deployment.database_url)
    with api.client() as client:
        response = client.post("/v1/verify", data=_upload_form(store="true", request_id=request_id),
                               files={"file": ("Приказ о выходе.pdf", _text_pdf(), "application/pdf")})
        assert response.status_code == 200, response.json()
        assert response.json()["request_id"] == request_id and response.json()["verdict"] is True
        row = store.get(request_id)
        assert row["status"] == "completed" and row["verdict"] is True
        assert row["s3_path"] == "upload:Приказ о выходе.pdf" and row["extra"]["source"] == "api_upload"
        status = client.get(f"/v1/requests/{request_id}").json()
        assert status["status"] == "completed" and status["verdict"] is True and status["run_id"] is None
        assert status["checks"]["name"]["matched"] is True

        again = client.post("/v1/verify", data=_upload_form(store="true", request_id=request_id),
                            files={"file": ("x.pdf", _text_pdf(), "application/pdf")})
        assert again.status_code == 409, again.json()
        without_id = client.post("/v1/verify", data=_upload_form(store="true"),
                                 files={"file": ("x.pdf", _text_pdf(), "application/pdf")})
        assert without_id.status_code == 422
        assert without_id.json()["detail"][0]["loc"] == ["body", "request_id"]


def test_review_reasons_of_a_stored_upload_are_returned_and_stored(api_without_dagster, deployment):
    request_id = new_request_id()
    page = docgen.render_document("maternity_order", IVANOVA, name_case="initials", seed=1, include_iin=False)
    pdf = docgen.to_pdf([page], text_layer=True)  # initials alone, no IIN: a person must look
    with api_without_dagster.client() as client:
        response = client.post("/v1/verify", data=_upload_form(store="true", request_id=request_id),
                               files={"file": ("Приказ.pdf", pdf, "application/pdf")})
        assert response.status_code == 200, response.json()
        assert response.json()["review_required"] is True and response.json()["review_reasons"] == ["initials_only"]
        status = client.get(f"/v1/requests/{request_id}").json()
    assert status["review_required"] is True and status["review_reasons"] == ["initials_only"], status
    assert VerdictStore(deployment.database_url).get(request_id)["review_reasons"] == ["initials_only"]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_the_api_accepts_plain_postgres_urls(scheme, deployment):
    request_id = new_request_id()
    VerdictStore(deployment.database_url).record_received(
        parse_event(json.dumps(_event(request_id, "docs/a.pdf")).encode()))
    plain = f"{scheme}://{deployment.database_url.split('://', 1)[1]}"
    with serving(deployment.settings(database_url=plain)) as server, server.client() as client:
        assert client.get("/health").json()["checks"]["postgres"]["status"] == "up"
        assert client.get(f"/v1/requests/{request_id}").json()["status"] == "received"


def test_upload_file_names_are_cleaned_for_the_row():
    from ocr_pipeline.api.routes import _clean_filename

    assert _clean_filename("Приказ\x00 о\x07 выходе\u202e.pdf") == "Приказ о выходе.pdf"
    assert _clean_filename(None) == _clean_filename("\x00") == "upload"
    assert len(_clean_filename("я" * 1000)) == 200


def test_verify_answers_503_when_every_engine_worker_is_busy(deployment):
    app = create_app(deployment.settings(verify_workers=1, verify_queue=0))
    png = docgen.degrade(docgen.render_document("dismissal_order", IVANOVA, seed=8), "scan", seed=8)
    with UvicornThread(app) as server, server.client() as client:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, "/v1/verify", data=_upload_form(),
                                files={"file": ("a.jpg", png, "image/jpeg")})
            wait_for(lambda: app.state.api.engine_slots.taken == 1 or first.done(), 30, interval=0.01,
                     what="the first upload to take the worker")
            second = client.post("/v1/verify", data=_upload_form(), files={"file": ("b.jpg", png, "image/jpeg")})
            assert first.result().status_code == 200
        assert second.status_code == 503 and second.headers["retry-after"]
        assert app.state.api.engine_slots.taken == 0
        assert client.post("/v1/verify", data=_upload_form(),
                           files={"file": ("a.pdf", _text_pdf(), "application/pdf")}).status_code == 200


def test_a_flood_of_uploads_gets_429_per_client_while_health_and_status_answer(deployment):
    """200 uploads from 20 clients (20 loopback addresses), 3 a minute allowed each: the rest are 429 with
    Retry-After before their body is read, the engine slots stay bounded, ``/health`` and
    ``/v1/requests/{id}`` answer throughout, and a client that kept quiet is still served."""
    per_minute, clients, per_client = 3, 20, 10
    settings = deployment.settings(rate_limit_per_minute=per_minute,
                                   dagster_webserver_url=f"http://127.0.0.1:{closed_port()}")
    app = create_app(settings)
    slot_limit = settings.verify_workers + settings.verify_queue
    pdf = _text_pdf()
    flood_done = threading.Event()
    probes: dict[str, list[tuple[int, float]]] = {"health": [], "status": []}
    most_slots = 0

    def upload_client(index: int) -> list[httpx.Response]:
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{index + 2}")
        with httpx.Client(base_url=server.url, timeout=120, transport=transport) as client:
            return [client.post("/v1/verify", data=_upload_form(), files={"file": ("a.pdf", pdf, "application/pdf")})
                    for _ in range(per_client)]

    def probe() -> None:
        nonlocal most_slots
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not flood_done.is_set():
                for name, path in (("health", "/health"), ("status", f"/v1/requests/{new_request_id()}")):
                    started = time.monotonic()
                    status = client.get(path).status_code
                    probes[name].append((status, time.monotonic() - started))
                    most_slots = max(most_slots, app.state.api.engine_slots.taken)
                time.sleep(0.05)

    with UvicornThread(app) as server:
        with concurrent.futures.ThreadPoolExecutor(clients + 1) as pool:
            prober = pool.submit(probe)
            started = time.monotonic()
            per_address = list(pool.map(upload_client, range(clients)))
            elapsed = time.monotonic() - started
            flood_done.set()
            prober.result()
        quiet = httpx.HTTPTransport(local_address="127.0.0.250")
        with httpx.Client(base_url=server.url, timeout=120, transport=quiet) as client:
            later = client.post("/v1/verify", data=_upload_form(), files={"file": ("a.pdf", pdf, "application/pdf")})

    statuses = [r.status_code for responses in per_address for r in responses]
    counts = {code: statuses.count(code) for code in sorted(set(statuses))}
    assert set(counts) <= {200, 429, 503}, counts
    windows = 1 + int(elapsed // 60)
    for responses in per_address:
        assert sum(r.status_code != 429 for r in responses) <= per_minute * windows
        refused = [r for r in responses if r.status_code == 429]
        assert refused and all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    assert 0 < most_slots <= slot_limit and app.state.api.engine_slots.taken == 0
    assert probes["health"] and probes["status"]
    assert all(status in (200, 503) for status, _ in probes["health"])  # 503: the Dagster URL is closed
    assert all(status == 404 for status, _ in probes["status"])
    assert later.status_code == 200

    def latency(name: str) -> str:
        seconds = sorted(t for _, t in probes[name])
        return (f"{len(seconds)} probes, median {seconds[len(seconds) // 2] * 1000:.0f} ms, "
                f"p95 {seconds[int(len(seconds) * 0.95)] * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms")

    print(f"\nflood: {len(statuses)} uploads from {clients} clients in {elapsed:.1f} s: {counts}; "
          f"engine slots at most {most_slots}/{slot_limit}\n/health: {latency('health')}\n"
          f"/v1/requests/{{id}}: {latency('status')}")


def test_verify_refuses_a_25_mb_upload_with_413(api):
    big = b"%PDF-1.7\n" + os.urandom(25 * 1024 * 1024)
    with api.client() as client:
        started = time.monotonic()
        try:
            response = client.post("/v1/verify", data=_upload_form(),
                                   files={"file": ("big.pdf", big, "application/pdf")})
        except httpx.TransportError as error:  # pragma: no cover - the assertion below explains
            pytest.fail(f"the 413 was lost: the server dropped the connection ({error!r})")
        elapsed = time.monotonic() - started
        assert response.status_code == 413, response.text
        # the server still serves after refusing it
        assert client.get("/health").status_code in (200, 503)
    print(f"\nAPI 25 MB upload refused with 413 in {elapsed:.2f} s")


def test_verify_refuses_a_file_just_over_the_cap_with_a_file_too_large_error(deployment):
    with serving(deployment.settings(max_upload_bytes=50_000)) as server, server.client() as client:
        response = client.post("/v1/verify", data=_upload_form(),
                               files={"file": ("a.pdf", b"%PDF-1.7\n" + b"0" * 50_000, "application/pdf")})
    assert response.status_code == 413
    assert [e["code"] for e in response.json()["errors"]] == ["FILE_TOO_LARGE"]


@pytest.mark.parametrize("name, content, type_", [
    ("Приказ.pdf", "<!DOCTYPE html>\n<html><head><title>Ошибка 404</title></head><body>Файл не найден</body></html>"
     .encode(), "application/pdf"),
    ("scan.png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/png"),
    ("order.pdf", b"PK\x03\x04" + b"\x00" * 100, "application/pdf"),
])
def test_verify_sniffs_the_content_and_refuses_other_types_with_415(api, name, content, type_):
    with api.client() as client:
        response = client.post("/v1/verify", data=_upload_form(), files={"file": (name, content, type_)})
    assert response.status_code == 415, response.text
    assert [e["code"] for e in response.json()["errors"]] == ["UNSUPPORTED_FORMAT"]


def test_verify_validates_the_applicant_like_the_event_and_echoes_no_iin(api):
    bad_iin = IVANOVA.iin[:-1] + str((int(IVANOVA.iin[-1]) + 1) % 10)
    with api.client() as client:
        response = client.post("/v1/verify", data=_upload_form(iin=bad_iin),
                               files={"file": ("a.pdf", _text_pdf(), "application/pdf")})
        no_name = client.post("/v1/verify", data=_upload_form(last_name="  "),
                              files={"file": ("a.pdf", _text_pdf(), "application/pdf")})
        no_file = client.post("/v1/verify", data=_upload_form())
        empty = client.post("/v1/verify", data=_upload_form(), files={"file": ("a.pdf", b"", "application/pdf")})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "iin"]
    assert "checksum" in response.json()["detail"][0]["msg"]
    assert bad_iin not in response.text
    assert no_name.status_code == 422 and no_name.json()["detail"][0]["loc"] == ["body", "last_name"]
    assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "file"]
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "file"]


# ------------------------------------------------------------------------------ /v1/kafka-verify

@pytest.mark.parametrize("body", [
    b"{not json",
    json.dumps({"request_id": 5, "s3_path": "a.pdf"}).encode(),
    json.dumps(_event(7, "a.pdf") | {"request_id": "7"}).encode(),
    json.dumps(_event(8, "a.pdf") | {"iin": "123456789012"}).encode(),
    json.dumps(_event(9, "s3://bucket/a.pdf")).encode(),
    json.dumps(_event(10, "a.pdf") | {"first_name": "1234"}).encode(),
    b'{"request_id": 11, "request_id": 12}',
    b"[1, 2]",
    b"",
])
def test_kafka_verify_rejects_what_the_sensor_rejects_with_422(api_without_dagster, body):
    with pytest.raises(InvalidEvent) as expected:
        parse_event(body)
    with api_without_dagster.client() as client:
        response = client.post("/v1/kafka-verify", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["msg"] == expected.value.reason
    assert detail["loc"] == (["body", expected.value.field] if expected.value.field else ["body"])
    assert IVANOVA.iin not in response.text


def test_kafka_verify_refuses_a_body_over_1_mib_with_413(api_without_dagster):
    body = json.dumps(_event(new_request_id(), "a.pdf", padding="x" * (1024 * 1024))).encode()
    with api_without_dagster.client() as client:
        response = client.post("/v1/kafka-verify", content=body)
        just_over_the_event_limit = client.post(
            "/v1/kafka-verify", content=json.dumps(_event(new_request_id(), "a.pdf", padding="x" * 70_000)))
    assert response.status_code == 413
    assert just_over_the_event_limit.status_code == 422  # the sensor's own size rule
    assert "too large" in just_over_the_event_limit.json()["detail"][0]["msg"]


def test_kafka_verify_concurrent_duplicates_make_one_run_that_completes(api, deployment, webserver, s3_server):
    request_id = new_request_id()
    key = "2024/12/Приказ о выходе в декретный отпуск - Иванова.pdf"
    s3_server.client().put_object(Bucket=deployment.bucket, Key=key, Body=_text_pdf())
    body = json.dumps(_event(request_id, key, device="android"), ensure_ascii=False).encode()

    def post(_):
        with api.client() as client:
            return client.post("/v1/kafka-verify", content=body, headers={"content-type": "application/json"})

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, range(6)))
    submit_seconds = time.monotonic() - started
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 5 + [202], [(r.status_code, r.text) for r in responses]
    accepted = next(r.json() for r in responses if r.status_code == 202)
    assert accepted["duplicate"] is False
    assert accepted["status"] in ("received", "downloading", "processing", "completed")
    assert accepted["run_id"] and accepted["run_url"] == f"{webserver.url}/runs/{accepted['run_id']}"
    for duplicate in (r.json() for r in responses if r.status_code == 200):
        assert duplicate["duplicate"] is True and duplicate["request_id"] == request_id

    runs = _runs_for(webserver, request_id)
    assert [run.run_id for run in runs] == [accepted["run_id"]]
    run = runs[0]
    assert run.job_name == "verify_request"
    assert run.tags["request_id"] == str(request_id)
    assert run.tags["iin"] == mask_iin(IVANOVA.iin)
    assert run.tags["dagster/sensor_name"] == "kafka_requests_sensor"
    assert run.tags["ocr_pipeline/submitted_by"] == "api"
    assert run.run_config["ops"]["request_verdict"]["config"] == {"request_id": request_id}

    with api.client() as client:
        def completed():
            status = client.get(f"/v1/requests/{request_id}").json()
            return status if status["status"] in ("completed", "failed") else None

        final = wait_for(completed, RUN_TIMEOUT, interval=0.5, what="the run to finish",
                         on_timeout=webserver.log_tail)
        run_seconds = time.monotonic() - started
        assert final["status"] == "completed" and final["verdict"] is True, final
        assert final["run_id"] == accepted["run_id"] and final["retry_count"] == 0
        assert final["timings"] and final["processing_time_seconds"] is not None
        assert final["run_url"].endswith(f"/runs/{accepted['run_id']}")

        later = client.post("/v1/kafka-verify", content=body, headers={"content-type": "application/json"})
        assert later.status_code == 200 and later.json()["status"] == "completed" and later.json()["verdict"] is True
        other = json.dumps(_event(request_id, "2024/12/another.pdf")).encode()
        conflict = client.post("/v1/kafka-verify", content=other, headers={"content-type": "application/json"})
        assert conflict.status_code == 409
    assert len(_runs_for(webserver, request_id)) == 1
    with webserver.instance() as instance:
        assert instance.get_run_by_id(accepted["run_id"]).status == dg.DagsterRunStatus.SUCCESS
    print(f"\nAPI kafka-verify: 6 concurrent posts answered in {submit_seconds:.2f} s (one run); "
          f"verdict stored {run_seconds:.1f} s after the posts")


def test_kafka_verify_passes_the_callers_traceparent_to_the_run(api, deployment, webserver):
    """The run's spans continue the caller's trace: the HTTP ``traceparent`` header reaches the run tag
    (tracing off in this process: the context passes through the no-op span)."""
    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    request_id = new_request_id()
    with api.client() as client:
        response = client.post("/v1/kafka-verify", content=json.dumps(_event(request_id, "2024/12/t.pdf")).encode(),
                               headers={"content-type": "application/json",
                                        "traceparent": f"00-{trace_id}-{parent}-01"})
    assert response.status_code == 202, response.text
    [run] = _runs_for(webserver, request_id)
    assert run.tags["traceparent"] == f"00-{trace_id}-{parent}-01"


def test_kafka_verify_with_the_webserver_down_answers_503_and_a_retry_submits(api, api_without_dagster, deployment,
                                                                              webserver):
    request_id = new_request_id()
    body = json.dumps(_event(request_id, "2024/12/not-uploaded.pdf")).encode()
    store = VerdictStore(deployment.database_url)
    with api_without_dagster.client() as client:
        first = client.post("/v1/kafka-verify", content=body)
        assert first.status_code == 503, first.text
        assert first.headers.get("retry-after")
        row = store.get(request_id)
        assert row["status"] == "failed" and row["error_message"].startswith(SUBMISSION_FAILED_PREFIX)
        assert client.post("/v1/kafka-verify", content=body).status_code == 503  # claimed and failed again
    with api.client() as client:
        retry = client.post("/v1/kafka-verify", content=body)
    assert retry.status_code == 202, retry.text
    assert retry.json()["run_id"]
    assert [run.run_id for run in _runs_for(webserver, request_id)] == [retry.json()["run_id"]]


def test_kafka_verify_answers_504_when_dagster_hangs_past_the_request_timeout(deployment):
    request_id = new_request_id()
    with silent_port() as hung:
        settings = deployment.settings(dagster_webserver_url=f"http://127.0.0.1:{hung}", request_timeout_seconds=1.0,
                                       dagster_timeout_seconds=2.0, dagster_location_name="ocr_pipeline")
        with serving(settings) as server, server.client() as client:
            started = time.monotonic()
            response = client.post("/v1/kafka-verify", content=json.dumps(_event(request_id, "a.pdf")).encode())
            elapsed = time.monotonic() - started
            assert response.status_code == 504, response.text
            assert elapsed < 3
            # the submission thread gives up on its own timeout and leaves the row retryable
            store = VerdictStore(deployment.database_url)
            row = wait_for(lambda: (r := store.get(request_id)) and r["status"] == "failed" and r, 10,
                           interval=0.2, what="the row to be marked failed")
            assert row["error_message"].startswith(SUBMISSION_FAILED_PREFIX)


def test_an_event_submitted_by_the_api_and_then_read_by_the_sensor_runs_once(api, deployment, webserver, s3_server,
                                                                             tmp_path):
    """The API's run carries the sensor's run-key tags, so the daemon's sensor skips the same request."""
    key = "2024/12/Справка - Иванова.pdf"
    s3_server.client().put_object(Bucket=deployment.bucket, Key=key, Body=_text_pdf(seed=3))
    via_api, control = new_request_id(), new_request_id()
    with api.client() as client:
        accepted = client.post("/v1/kafka-verify", content=json.dumps(_event(via_api, key)))
    assert accepted.status_code == 202, accepted.text
    events = [event_bytes(**_event(via_api, key)), event_bytes(**_event(control, key))]
    services.produce(deployment.kafka, deployment.topic, events, partition=0)
    env = dict(webserver.env, OCR_SENSOR_INTERVAL_SECONDS="1", KAFKA_GROUP_ID=f"group-{deployment.topic}")
    started = time.monotonic()
    with running_daemon(env, tmp_path / "daemon.log") as daemon:
        wait_for(lambda: _runs_for(webserver, control), 120, interval=0.5, what="the sensor's run of the control event",
                 on_timeout=lambda: daemon.log_tail(80))
        print(f"\nAPI + sensor: the daemon's sensor submitted the control run {time.monotonic() - started:.1f} s "
              "after the daemon started")
    runs = _runs_for(webserver, via_api)
    assert [run.run_id for run in runs] == [accepted.json()["run_id"]], [r.tags for r in runs]
    assert VerdictStore(deployment.database_url).get(via_api)["kafka_partition"] is None


@pytest.mark.faults
@pytest.mark.timeout(600)
def test_the_api_and_the_sensor_racing_on_one_request_start_exactly_one_run(deployment, webserver, s3_server,
                                                                            tmp_path, monkeypatch):
    """The worst interleaving, made certain: ``/v1/kafka-verify`` records the request and finds no run,
    then is held just before it launches one; meanwhile the same event arrives through Kafka and the
    daemon's sensor reads it (a control event after it proves the sensor got that far). Both sides
    claim the row's submission in Postgres, so the sensor requests no run and the API launches the only
    one. Counted by the runs tagged with the request_id."""
    key = "2024/12/Приказ - гонка.pdf"
    s3_server.client().put_object(Bucket=deployment.bucket, Key=key, Body=_text_pdf(seed=5))
    request_id, control = new_request_id(), new_request_id()
    launching, release = threading.Event(), threading.Event()
    submit_run = DagsterClient.submit_run

    def held_submit_run(self, job_name, run_config, tags):
        if tags.get("request_id") == str(request_id):
            launching.set()
            release.wait(RUN_TIMEOUT)
        return submit_run(self, job_name, run_config, tags)

    monkeypatch.setattr(DagsterClient, "submit_run", held_submit_run)
    env = dict(webserver.env, OCR_SENSOR_INTERVAL_SECONDS="1", KAFKA_GROUP_ID=f"group-{deployment.topic}",
               OCR_STUCK_REQUEST_GRACE_SECONDS="0")
    body = json.dumps(_event(request_id, key)).encode()
    settings = deployment.settings(request_timeout_seconds=float(3 * RUN_TIMEOUT))
    with serving(settings) as server, concurrent.futures.ThreadPoolExecutor(1) as pool, \
            running_daemon(env, tmp_path / "daemon.log") as daemon:
        def post():
            with server.client(timeout=3 * RUN_TIMEOUT) as client:
                return client.post("/v1/kafka-verify", content=body, headers={"content-type": "application/json"})

        posted = pool.submit(post)
        assert launching.wait(60), "the API never reached its launch"
        services.produce(deployment.kafka, deployment.topic,
                         [event_bytes(**_event(request_id, key)), event_bytes(**_event(control, "2024/12/none.pdf"))],
                         partition=0)
        wait_for(lambda: _runs_for(webserver, control), RUN_TIMEOUT, interval=0.5,
                 what="the sensor to read both events (the control event's run)",
                 on_timeout=lambda: daemon.log_tail(80))
        release.set()
        response = posted.result(RUN_TIMEOUT)
        with webserver.instance() as instance:
            runs = list(instance.get_runs(filters=dg.RunsFilter(tags={"request_id": str(request_id)})))
        store = VerdictStore(deployment.database_url)
        row = wait_for(lambda: (r := store.get(request_id)) and r["status"] in ("completed", "failed") and r,
                       RUN_TIMEOUT, interval=0.5, what="the run to finish", on_timeout=lambda: daemon.log_tail(80))
    record_fault("API and Kafka racing on one id", 1, lost=int(row["status"] != "completed"),
                 duplicated=max(0, len(runs) - 1),
                 note=f"{len(runs)} run(s); the sensor's claim lost to the API's: row {row['status']}, "
                      f"submitted by {row.get('submitted_by')}")
    assert response.status_code == 202, response.text
    assert [run.run_id for run in runs] == [response.json()["run_id"]], [run.tags for run in runs]
    assert row["status"] == "completed" and row["run_id"] == response.json()["run_id"] and row["submitted_by"] == "api"


# ---------------------------------------------------------------------------- /v1/requests/{id}

def test_request_status_404_and_422(api_without_dagster):
    with api_without_dagster.client() as client:
        assert client.get(f"/v1/requests/{new_request_id()}").status_code == 404
        assert client.get("/v1/requests/0").status_code == 422
        assert client.get(f"/v1/requests/{2**63}").status_code == 422
        assert client.get("/v1/requests/abc").status_code == 422


def test_request_status_finds_the_run_of_a_sensor_recorded_request(api, deployment, webserver):
    """A row the sensor recorded (no run id on it yet) shows the run looked up by its run key."""
    from ocr_pipeline.api.submission import run_tags_and_config
    from ocr_pipeline.flows.events import validate_event_object

    request_id = new_request_id()
    event = validate_event_object(_event(request_id, "2024/12/not-there.pdf"))
    store = VerdictStore(deployment.database_url)
    store.record_received(event, partition=0, offset=5)
    run_config, tags = run_tags_and_config(event)
    with api.client() as client:
        assert client.get(f"/v1/requests/{request_id}").json()["run_id"] is None
        run_id = DagsterClient(webserver.url).submit_run("verify_request", run_config, tags)
        status = client.get(f"/v1/requests/{request_id}").json()
        assert status["run_id"] == run_id and status["run_url"] == f"{webserver.url}/runs/{run_id}"
        duplicate = client.post("/v1/kafka-verify", content=json.dumps(_event(request_id, "2024/12/not-there.pdf")))
        assert duplicate.status_code == 200 and duplicate.json()["run_id"] == run_id
    assert len(_runs_for(webserver, request_id)) == 1


# --------------------------------------------------------------------------------- safety rails

def test_bearer_token_guards_v1_but_not_health(deployment):
    token = "s3cret-Токен"
    with serving(deployment.settings(bearer_token=token)) as server, server.client() as client:
        url = f"/v1/requests/{new_request_id()}"
        assert client.get(url).status_code == 401
        assert client.get(url).headers["www-authenticate"] == "Bearer"
        assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(url, headers={"Authorization": "Basic czNjcmV0"}).status_code == 401
        good = {"Authorization": "Bearer " + token}
        assert client.get(url, headers={k: v.encode() for k, v in good.items()}).status_code == 404
        big = b"%PDF-1.7\n" + b"0" * (5 * 1024 * 1024)
        refused = client.post("/v1/verify", data=_upload_form(), files={"file": ("a.pdf", big, "application/pdf")})
        assert refused.status_code == 401
        anonymous = client.get("/health").json()
        assert all(check["detail"] is None for check in anonymous["checks"].values())
        assert anonymous["checks"]["postgres"]["status"] in ("up", "down")
        trusted = client.get("/health", headers={k: v.encode() for k, v in good.items()}).json()
        assert trusted["checks"]["postgres"]["detail"]
        assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200


def test_bearer_token_guards_every_route_however_the_app_is_mounted(deployment):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    token = "s3cret-2"
    good = {"Authorization": f"Bearer {token}"}
    body = json.dumps(_event(new_request_id(), "2024/12/x.pdf"))
    behind_proxy = create_app(deployment.settings(bearer_token=token))  # a proxy strips /ocr, uvicorn adds it
    mounted = Starlette(routes=[Mount("/ocr", app=create_app(deployment.settings(bearer_token=token)))])
    proxy_server = UvicornThread(behind_proxy)
    proxy_server.server.config.root_path = "/ocr"
    with proxy_server, UvicornThread(mounted) as mount_server:
        for server, prefix in ((proxy_server, ""), (mount_server, "/ocr")):
            with server.client() as client:
                unknown = f"{prefix}/v1/requests/{new_request_id()}"
                assert client.post(f"{prefix}/v1/kafka-verify", content=body).status_code == 401, prefix
                assert client.get(unknown).status_code == 401, prefix
                assert client.post(f"{prefix}/v1/verify", data=_upload_form(),
                                   files={"file": ("a.pdf", _text_pdf(), "application/pdf")}).status_code == 401
                assert client.get(unknown, headers=good).status_code == 404  # reaches the handler with it
                assert client.post(f"{prefix}/v1/kafka-verify", content=b"{}", headers=good).status_code == 422
                assert client.get(f"{prefix}/health").status_code in (200, 503)  # open, details hidden


def test_serve_without_a_token_refuses_to_listen_beyond_loopback(deployment):
    env = dict(os.environ, DATABASE_URL=deployment.database_url, S3_ENDPOINT_URL=deployment.s3_endpoint,
               S3_BUCKET=deployment.bucket, KAFKA_BOOTSTRAP_SERVERS=deployment.kafka, KAFKA_TOPIC=deployment.topic)
    env.pop("API_BEARER_TOKEN", None)
    port = services.free_port()
    refused = subprocess.run([sys.executable, "-m", "ocr_pipeline.cli", "serve", "--host", "0.0.0.0",
                              "--port", str(port)], env=env, capture_output=True, text=True, cwd=REPO_ROOT,
                             timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "API_BEARER_TOKEN" in refused.stderr and "--allow-unauthenticated" in refused.stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)

    process = subprocess.Popen([sys.executable, "-m", "ocr_pipeline.cli", "serve", "--host", "0.0.0.0", "--port",
                                str(port), "--allow-unauthenticated"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        def answers():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()
                return None

        assert wait_for(answers, 30, interval=0.1, what="ocr-pipeline serve").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0].decode()
    assert "without a bearer token" in output


def test_unexpected_failures_answer_a_generic_500_without_a_traceback(deployment, caplog):
    app = create_app(deployment.settings())

    @app.get("/v1/boom")
    async def boom():
        raise RuntimeError(f"secret detail {IVANOVA.iin}")

    with UvicornThread(app) as server, server.client() as client, caplog.at_level(logging.ERROR):
        response = client.get("/v1/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal server error" and body["error_id"]
    assert "Traceback" not in response.text and "secret" not in response.text
    assert body["error_id"] in caplog.text


def test_iins_are_masked_in_the_api_logs(api_without_dagster, caplog):
    body = json.dumps(_event(new_request_id(), "2024/12/x.pdf")).encode()
    with caplog.at_level(logging.INFO, logger="ocr_pipeline"), api_without_dagster.client() as client:
        assert client.post("/v1/kafka-verify", content=body).status_code == 503
        assert client.post("/v1/verify", data=_upload_form(),
                           files={"file": ("a.pdf", _text_pdf(), "application/pdf")}).status_code == 200
    assert caplog.records, "the API logged nothing"
    assert IVANOVA.iin not in caplog.text
    assert mask_iin(IVANOVA.iin) in caplog.text


def test_the_log_filter_masks_iins_in_messages_and_tracebacks():
    iin = make_iin()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed for %s in %s", (iin, "a.pdf"), None)
    try:
        raise ValueError(f"variables {{'iin': '{iin}'}}")
    except ValueError:
        record.exc_info = sys.exc_info()
    assert MaskIinFilter().filter(record)
    text = logging.Formatter().format(record)
    assert iin not in text and mask_iins(iin) in text and "Traceback" in text
    assert safe_message(f"bad {iin} and 1234567890123") == f"bad {mask_iins(iin)} and 1234567890123"


def test_serve_subcommand_starts_the_api(deployment):
    port = services.free_port()
    env = dict(os.environ, DATABASE_URL=deployment.database_url, S3_ENDPOINT_URL=deployment.s3_endpoint,
               S3_BUCKET=deployment.bucket, KAFKA_BOOTSTRAP_SERVERS=deployment.kafka, KAFKA_TOPIC=deployment.topic)
    process = subprocess.Popen([sys.executable, "-m", "ocr_pipeline.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        def answers():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()
                return None

        started = time.monotonic()
        response = wait_for(answers, 30, interval=0.1, what="ocr-pipeline serve")
        print(f"\nAPI `ocr-pipeline serve` answered after {time.monotonic() - started:.1f} s")
        assert response.status_code == 200
        paths = set(response.json()["paths"])
        assert {"/v1/verify", "/v1/kafka-verify", "/v1/requests/{request_id}", "/health"} <= paths
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    assert "Uvicorn running" in output or "Application startup complete" in output
