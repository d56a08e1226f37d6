"""End to end through the real ``dagster-daemon``: Kafka (Tansu) -> sensor -> runs -> Postgres verdicts.

The daemon runs the project's ``workspace.yaml`` with the repository's ``dagster.yaml`` (Dagster's own
storage in Postgres, a database of its own), against moto_server for S3 and real Tesseract.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Optional

import dagster as dg
import pytest

from ocr_pipeline.adapters.store import TERMINAL_STATUSES, VerdictStore
from ocr_pipeline_devtools import docgen, services
from ocr_pipeline_devtools.cli_verdict import cli_verdict, comparable
from ocr_pipeline_devtools.dagster_fixtures import (
    DaemonProcess,
    event_bytes,
    new_request_id,
    running_daemon,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAEMON_START_TIMEOUT = 120
PROCESSING_TIMEOUT = 300


def verify_request_job_for_reexecution() -> dg.JobDefinition:
    """The verify_request job with resources read from the current environment (for ``reconstructable``)."""
    from ocr_pipeline.defs.assets import request_verdict
    from ocr_pipeline.defs.jobs import verify_request_job
    from ocr_pipeline.defs.resources import build_resources

    defs = dg.Definitions(assets=[request_verdict], jobs=[verify_request_job], resources=build_resources())
    return defs.resolve_job_def("verify_request")


def _upload(s3_server, bucket: str, key: str, data: bytes) -> None:
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=data)


def _document(person_key: str, doc_type: str, kind: str = "clean", seed: int = 1,
              name_case: str = "dat") -> bytes:
    person = docgen.PEOPLE[person_key]
    page = docgen.render_document(doc_type, person, name_case=name_case, seed=seed)
    return docgen.degrade(page, kind, seed=seed)


def _event_for(request_id: int, key: str, person_key: str) -> bytes:
    applicant = docgen.PEOPLE[person_key].applicant()
    return event_bytes(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                       first_name=applicant.first_name, second_name=applicant.second_name)


def _rows(store: VerdictStore, request_ids) -> dict[int, Optional[dict]]:
    return {rid: store.get(rid) for rid in request_ids}


def _all_terminal(store: VerdictStore, request_ids) -> bool:
    rows = _rows(store, request_ids)
    return all(row is not None and row["status"] in TERMINAL_STATUSES for row in rows.values())


def _runs_by_request(instance: dg.DagsterInstance, request_id: int) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"request_id": str(request_id)})))


def _progress(store: VerdictStore, request_ids, daemon: DaemonProcess) -> str:
    statuses = {rid: (row or {}).get("status") for rid, row in _rows(store, request_ids).items()}
    return f"statuses: {statuses}\ndaemon log tail:\n{daemon.log_tail(60)}"


def _runs_started_since(instance: dg.DagsterInstance, since: float) -> bool:
    records = instance.get_run_records(filters=dg.RunsFilter(job_name="verify_request"))
    return any(record.start_time and record.start_time > since for record in records)


def _overhead_report(instance: dg.DagsterInstance, store: VerdictStore, produced_at: float,
                     request_ids) -> list[dict]:
    """Per request: seconds from produce to the terminal row, and where they went."""
    report = []
    for rid in request_ids:
        runs = _runs_by_request(instance, rid)
        row = store.get(rid)
        if not runs or row is None or row["completed_at"] is None:
            continue
        record = instance.get_run_record_by_id(runs[-1].run_id)
        created = record.create_timestamp.timestamp()
        report.append({
            "request_id": rid,
            "status": row["status"],
            "produce_to_row_s": round(row["completed_at"].timestamp() - produced_at, 2),
            "produce_to_run_created_s": round(created - produced_at, 2),
            "queued_to_started_s": round((record.start_time or created) - created, 2),
            "run_wall_s": round((record.end_time or 0) - (record.start_time or 0), 2),
            "engine_and_download_s": row["processing_time_seconds"],
        })
    return report


def test_daemon_processes_a_mixed_batch_then_reexecution_completes_the_missing_one(deployment, kafka_broker, s3_server):
    ids = {name: new_request_id() for name in ("maternity", "kazakh", "missing", "stranger", "corrupt", "bad_iin")}
    keys = {
        "maternity": "2024/12/Приказ о выходе в декретный отпуск - Иванова.png",
        "kazakh": "2024/12/Анықтама жұмыс орнынан - Жармағанбетова Әлия.jpg",
        "missing": "2024/12/Больничный лист - Ким Ольга.png",
        "stranger": "2024/12/Справка с места работы - Ахметов.png",
        "corrupt": "2024/12/Приказ об увольнении (скан).pdf",
    }
    documents = {
        "maternity": _document("ivanova", "maternity_order"),
        "kazakh": _document("zharmaganbetova", "employment_certificate_kk", "scan", seed=3),
        "stranger": _document("petrenko", "employment_certificate", seed=5),
        "corrupt": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nthis is not a PDF body",
    }
    for name, data in documents.items():
        _upload(s3_server, deployment.bucket, keys[name], data)

    bad_iin = docgen.PEOPLE["kim"].iin[:-1] + str((int(docgen.PEOPLE["kim"].iin[-1]) + 1) % 10)
    partition0 = [
        b"{not json",
        _event_for(ids["maternity"], keys["maternity"], "ivanova"),
        event_bytes(request_id=ids["bad_iin"], s3_path=keys["missing"], iin=bad_iin, last_name="Ким",
                    first_name="Ольга", second_name="Владимировна"),
        _event_for(ids["kazakh"], keys["kazakh"], "zharmaganbetova"),
        _event_for(ids["maternity"], keys["maternity"], "ivanova"),  # the same request again
    ]
    partition1 = [
        _event_for(ids["missing"], keys["missing"], "kim"),
        _event_for(ids["stranger"], keys["stranger"], "akhmetov"),
        _event_for(ids["corrupt"], keys["corrupt"], "smirnov"),
    ]
    valid = [ids[name] for name in ("maternity", "kazakh", "missing", "stranger", "corrupt")]

    with running_daemon(deployment.env, deployment.log_dir / "daemon.log") as daemon:
        produced_at = time.time()
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, partition0, partition=0)
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, partition1, partition=1)
        wait_for(lambda: _all_terminal(deployment.store, valid), DAEMON_START_TIMEOUT + PROCESSING_TIMEOUT,
                 what="every valid request to reach a terminal status",
                 on_timeout=lambda: _progress(deployment.store, valid, daemon))
        finished_at = time.time()

        rows = _rows(deployment.store, valid)
        maternity, kazakh = rows[ids["maternity"]], rows[ids["kazakh"]]
        assert maternity["status"] == "completed" and maternity["verdict"] is True, maternity
        assert kazakh["status"] == "completed" and kazakh["verdict"] is True, kazakh
        assert rows[ids["kazakh"]]["s3_path"] == keys["kazakh"]
        stranger = rows[ids["stranger"]]
        assert stranger["status"] == "completed" and stranger["verdict"] is False
        assert "NAME_NOT_FOUND" in [e["code"] for e in stranger["errors"]]
        corrupt = rows[ids["corrupt"]]
        assert corrupt["status"] == "completed" and corrupt["verdict"] is False
        assert [e["code"] for e in corrupt["errors"]] == ["CORRUPT_FILE"]
        missing = rows[ids["missing"]]
        assert missing["status"] == "failed" and [e["code"] for e in missing["errors"]] == ["S3_OBJECT_NOT_FOUND"]
        for row in rows.values():
            assert row["retry_count"] == 0 and row["run_id"]
        applicants = {"maternity": "ivanova", "kazakh": "zharmaganbetova", "stranger": "akhmetov", "corrupt": "smirnov"}
        for name, person in applicants.items():  # one engine: the run's verdict is the command line's
            cli = cli_verdict(documents[name], docgen.PEOPLE[person].applicant(), Path(keys[name]).suffix)
            assert comparable(rows[ids[name]]) == comparable(cli), name

        invalid = deployment.store.invalid_events(deployment.topic)
        assert [(r["kafka_partition"], r["kafka_offset"]) for r in invalid] == [(0, 0), (0, 2)]
        assert invalid[1]["request_id"] == ids["bad_iin"] and "checksum" in invalid[1]["reason"]
        assert deployment.store.get(ids["bad_iin"])["status"] == "invalid"

        with deployment.instance() as instance:
            for rid in valid:
                runs = _runs_by_request(instance, rid)
                assert len(runs) == 1, (rid, [r.run_id for r in runs])
            assert not _runs_by_request(instance, ids["bad_iin"])
            failed_run = _runs_by_request(instance, ids["missing"])[0]
            assert failed_run.status == dg.DagsterRunStatus.FAILURE
            assert failed_run.tags["iin"] != docgen.PEOPLE["kim"].iin
            report = _overhead_report(instance, deployment.store, produced_at, valid)
        print(f"\nE2E batch: {len(valid)} valid requests terminal {finished_at - produced_at:.1f} s after "
              f"producing (daemon start included)")
        for line in report:
            print("E2E", json.dumps(line))
        # documents never touch the run storage: only compute logs are there
        storage = deployment.home / "storage"
        with deployment.instance() as instance:
            run_files = [path for rid in valid for run in _runs_by_request(instance, rid)
                         for path in (storage / run.run_id).rglob("*") if path.is_file()]
        assert run_files and all("compute_logs" in path.parts for path in run_files), run_files
        daemon_log = daemon.log_tail(100000)
        for person in docgen.PEOPLE.values():
            assert person.iin not in daemon_log

    # an analyst uploads the missing document and re-executes the failed run from failure
    _upload(s3_server, deployment.bucket, keys["missing"], _document("kim", "sick_leave", seed=2))
    with deployment.instance() as instance:
        started = time.time()
        result = dg.execute_job(
            dg.reconstructable(verify_request_job_for_reexecution),
            instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(failed_run.run_id, instance),
        )
        print(f"E2E re-execution from failure in the test process: {time.time() - started:.1f} s")
        assert result.success
        assert result.dagster_run.parent_run_id == failed_run.run_id
        assert result.dagster_run.tags["request_id"] == str(ids["missing"])
    row = deployment.store.get(ids["missing"])
    assert row["status"] == "completed" and row["verdict"] is True, row
    assert row["retry_count"] == 1 and row["run_id"] == result.run_id and row["errors"] == []


def test_daemon_restart_in_the_middle_of_a_batch_processes_every_event_once(deployment, kafka_broker, s3_server):
    deployment.env["OCR_SENSOR_MAX_EVENTS_PER_TICK"] = "2"
    documents = {
        "ivanova": ("2024/12/Приказ - Иванова.png", _document("ivanova", "childcare_order", seed=11)),
        "akhmetov": ("2024/12/Анықтама - Ахметов Нұрлан.png", _document("akhmetov", "employment_certificate", seed=12)),
        "smirnov": ("2024/12/Приказ об увольнении - Смирнов.pdf",
                    docgen.to_pdf([docgen.render_document("dismissal_order", docgen.PEOPLE["smirnov"], seed=13)],
                                  text_layer=True)),
    }
    for key, data in documents.values():
        _upload(s3_server, deployment.bucket, key, data)
    people = ["ivanova", "akhmetov", "smirnov"] * 3
    ids = [new_request_id() for _ in people]
    events = [_event_for(rid, documents[person][0], person) for rid, person in zip(ids, people)]

    def completed() -> int:
        return sum(1 for row in _rows(deployment.store, ids).values() if row and row["status"] == "completed")

    daemons: list[DaemonProcess] = []
    try:
        # 1. six events; SIGTERM the daemon once the first request is done (a container restart: the
        #    daemon alone stops; the code server it started lets runs in flight finish)
        daemons.append(deployment.daemon("daemon-1").start())
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, events[:6], partition=0)
        wait_for(lambda: completed() >= 1, DAEMON_START_TIMEOUT + PROCESSING_TIMEOUT,
                 what="the first completed request", on_timeout=lambda: _progress(deployment.store, ids, daemons[-1]))
        daemons[-1].kill_daemon_only(signal.SIGTERM)
        done_at_stop = completed()
        print(f"\nE2E restart: SIGTERM with {done_at_stop}/{len(ids)} requests completed")
        assert done_at_stop < 6, "the batch finished before the restart"

        # 2. three more events; start again, then SIGKILL the daemon (a crash) while a run it launched
        #    is executing
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, events[6:], partition=1)
        restarted_at = time.time()
        daemons.append(deployment.daemon("daemon-2").start())
        with deployment.instance() as instance:
            wait_for(lambda: _runs_started_since(instance, restarted_at), DAEMON_START_TIMEOUT + PROCESSING_TIMEOUT,
                     interval=0.2, what="a run launched by the restarted daemon",
                     on_timeout=lambda: _progress(deployment.store, ids, daemons[-1]))
        daemons[-1].kill_daemon_only(signal.SIGKILL)
        done_at_kill = completed()
        print(f"E2E restart: SIGKILL with {done_at_kill}/{len(ids)} requests completed")

        # 3. a third daemon finishes the batch
        daemons.append(deployment.daemon("daemon-3").start())
        wait_for(lambda: _all_terminal(deployment.store, ids), DAEMON_START_TIMEOUT + PROCESSING_TIMEOUT,
                 what="every request after the restarts",
                 on_timeout=lambda: _progress(deployment.store, ids, daemons[-1]))
    finally:
        for daemon in daemons:
            daemon.stop()
            daemon.kill_group()

    rows = _rows(deployment.store, ids)
    assert all(row["status"] == "completed" and row["verdict"] is True for row in rows.values()), rows
    assert all(row["retry_count"] == 0 for row in rows.values())
    with deployment.instance() as instance:
        for rid in ids:
            assert len(_runs_by_request(instance, rid)) == 1, rid


def test_a_prefix_backfill_launched_by_an_analyst_runs_on_the_run_workers(deployment, s3_server):
    """``dagster job launch`` (what the UI's launchpad does): queued, launched by the daemon onto a run
    worker (a daemonic Celery pool process), which reads the documents in engine processes of its own."""
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    from ocr_pipeline.defs.assets.prefix_backfill import DOCUMENT_PREFIXES
    from ocr_pipeline_devtools.dagster_fixtures import REPO_ROOT

    prefix = f"archive-{uuid.uuid4().hex[:6]}/"
    documents = {  # key -> (applicant, document about whom)
        prefix + "Приказ - Иванова.png": ("ivanova", _document("ivanova", "childcare_order", seed=21)),
        prefix + "Анықтама - Ахметов.png": ("akhmetov", _document("akhmetov", "employment_certificate", seed=22)),
        prefix + "Справка - Петренко.png": ("smirnov", _document("petrenko", "employment_certificate", seed=23)),
    }
    ids = {}
    for key, (applicant_key, data) in documents.items():
        _upload(s3_server, deployment.bucket, key, data)
        applicant = docgen.PEOPLE[applicant_key].applicant()
        ids[key] = new_request_id()
        sidecar = {"request_id": ids[key], "iin": applicant.iin, "last_name": applicant.last_name,
                   "first_name": applicant.first_name, "second_name": applicant.second_name}
        _upload(s3_server, deployment.bucket, key + ".json", json.dumps(sidecar, ensure_ascii=False).encode())
    with deployment.instance() as instance:
        instance.add_dynamic_partitions(DOCUMENT_PREFIXES, [prefix])
    run_id = str(uuid.uuid4())
    launch = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", str(REPO_ROOT / "workspace.yaml"),
         "-j", "prefix_backfill_job", "--run-id", run_id, "--tags", json.dumps({"dagster/partition": prefix})],
        env=deployment.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert launch.returncode == 0, launch.stderr[-3000:]

    with running_daemon(deployment.env, deployment.log_dir / "daemon.log") as daemon, \
            deployment.instance() as instance:
        finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
        wait_for(lambda: instance.get_run_by_id(run_id).status in finished, DAEMON_START_TIMEOUT + PROCESSING_TIMEOUT,
                 what="the backfill run", on_timeout=lambda: daemon.log_tail(60))
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS, daemon.log_tail(80)
        materialization = instance.get_latest_materialization_event(dg.AssetKey("prefix_backfill"))
        metadata = materialization.asset_materialization.metadata
        assert metadata["verified"].value == 3 and metadata["failed"].value == 0, metadata

    rows = {key: deployment.store.get(rid) for key, rid in ids.items()}
    verdicts = {key.removeprefix(prefix): (row["status"], row["verdict"]) for key, row in rows.items()}
    assert verdicts == {"Приказ - Иванова.png": ("completed", True), "Анықтама - Ахметов.png": ("completed", True),
                        "Справка - Петренко.png": ("completed", False)}, rows
    assert all(row["run_id"] == run_id for row in rows.values())
