"""A request left ``received`` without a run (``/v1/kafka-verify`` died between recording it and
submitting its run) gets its run: the sensor on real Postgres, then the real daemon end to end."""

from __future__ import annotations

import time

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from ocr_pipeline.adapters.store import AttemptRefused, VerdictStore
from ocr_pipeline.defs.resources import VerdictStoreResource
from ocr_pipeline.engine.models import Verdict
from ocr_pipeline.flows.events import RequestEvent
from ocr_pipeline_devtools import docgen, services
from ocr_pipeline_devtools.dagster_fixtures import deployment_environment, new_request_id, running_daemon, wait_for
from ocr_pipeline_devtools.fault_report import record_fault

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _event(request_id: int, s3_path: str = "2024/12/Приказ.pdf", person_key: str = "ivanova") -> RequestEvent:
    applicant = docgen.PEOPLE[person_key].applicant()
    return RequestEvent(request_id=request_id, s3_path=s3_path, iin=applicant.iin, last_name=applicant.last_name,
                        first_name=applicant.first_name, second_name=applicant.second_name)


@pytest.fixture
def database_url(pg_database_url):
    """A verdict database of its own: no other test's rows wait in it."""
    with services.temporary_postgres_database(prefix="ocr_stuck") as url:
        VerdictStore(url).ensure_schema()
        yield url


def test_only_requests_waiting_past_the_grace_period_without_a_run_get_one(database_url, monkeypatch):
    from ocr_pipeline.defs.sensors import stuck_requests_sensor

    monkeypatch.setenv("OCR_STUCK_REQUEST_GRACE_SECONDS", "1")
    store = VerdictStore(database_url)
    stuck, has_run, completed = new_request_id(), new_request_id(), new_request_id()
    for request_id in (stuck, has_run, completed):
        store.record_received(_event(request_id))  # as /v1/kafka-verify does before submitting
    store.save_verdict(completed, Verdict(verdict=True), "r")
    store.save_verdict(-5, Verdict(verdict=True), "backfill")
    time.sleep(1.2)
    young = new_request_id()
    store.record_received(_event(young))
    resources = {"verdict_store": VerdictStoreResource(database_url=database_url)}
    with dg.DagsterInstance.ephemeral() as instance:
        create_run_for_test(instance, job_name="verify_request", tags={"request_id": str(has_run)})
        result = stuck_requests_sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=resources))

    [request] = result.run_requests
    assert request.run_key == str(stuck)
    assert request.run_config == {"ops": {"request_verdict": {"config": {"request_id": stuck}}}}
    assert request.tags["request_id"] == str(stuck)

    monkeypatch.setenv("OCR_STUCK_REQUEST_GRACE_SECONDS", "0")  # off
    with dg.DagsterInstance.ephemeral() as instance:
        off = stuck_requests_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
    assert not off.run_requests and "off" in off.skip_message


def test_rows_a_run_that_ended_for_good_still_holds_are_released_to_later_runs(database_url, monkeypatch):
    from ocr_pipeline.defs.sensors import stuck_requests_sensor

    monkeypatch.setenv("OCR_STUCK_REQUEST_GRACE_SECONDS", "1")
    store = VerdictStore(database_url)
    status = dg.DagsterRunStatus
    resources = {"verdict_store": VerdictStoreResource(database_url=database_url)}
    with dg.DagsterInstance.ephemeral() as instance:
        def run(state, **tags):
            return create_run_for_test(instance, job_name="prefix_backfill_job", status=state, tags=tags).run_id

        dead = run(status.FAILURE)  # a backfill whose worker host was lost, no retry left
        alive = run(status.STARTED)
        retried = run(status.FAILURE, **{"dagster/will_retry": "true"})
        run(status.STARTED, **{"dagster/parent_run_id": retried})  # its retry is on it
        retried_twice = run(status.FAILURE, **{"dagster/will_retry": "true"})
        run(status.FAILURE, **{"dagster/parent_run_id": retried_twice})
        holders = {dead: 2, alive: 1, retried: 1, retried_twice: 1, "gone-run": 1}
        held = {}
        for run_id, count in holders.items():
            for _ in range(count):
                request_id = new_request_id()
                store.record_received(_event(request_id))
                store.start_attempt(request_id, run_id, "processing")
                held.setdefault(run_id, []).append(request_id)
        done = held[dead][1]
        store.save_verdict(done, Verdict(verdict=True), dead)  # finished before its run died
        time.sleep(1.2)
        young = new_request_id()
        store.record_received(_event(young))
        store.start_attempt(young, dead, "processing")
        result = stuck_requests_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))

    released = [held[dead][0], *held[retried_twice], *held["gone-run"]]
    assert "3 released from ended runs" in result.skip_message
    for request_id in released:
        row = store.get(request_id)
        assert row["status"] == "failed" and "without a verdict" in row["error_message"], row
    assert store.get(done)["status"] == "completed"
    for request_id in (*held[alive], *held[retried], young):
        assert store.get(request_id)["status"] == "processing"
    # a later backfill run takes the released rows (a row held in progress by another run it may not)
    assert store.start_attempt(held[dead][0], "next-backfill", "processing") is not None
    with pytest.raises(AttemptRefused):
        store.start_attempt(held[alive][0], "next-backfill", "processing")


@pytest.mark.faults
def test_the_daemon_runs_a_request_the_api_recorded_but_never_submitted(
        tmp_path, kafka_broker, new_topic, s3_server, redis_server, database_url, monkeypatch):
    request_id = new_request_id()
    key = f"2024/12/Приказ {request_id}.pdf"
    person = docgen.PEOPLE["ivanova"]
    pdf = docgen.to_pdf([docgen.render_document("maternity_order", person, seed=1)], text_layer=True)
    with deployment_environment(tmp_path, kafka_broker, new_topic(partitions=1, prefix="stuck"), s3_server,
                                database_url, monkeypatch, redis_url=redis_server.url) as world:
        world.env.update(OCR_STUCK_REQUEST_GRACE_SECONDS="2", OCR_STUCK_REQUEST_INTERVAL_SECONDS="1")
        s3_server.client().put_object(Bucket=world.bucket, Key=key, Body=pdf)
        assert world.store.record_received(_event(request_id, key))  # then the API process died
        started = time.monotonic()
        with running_daemon(world.env, world.log_dir / "daemon.log") as daemon, world.instance() as instance:
            row = wait_for(lambda: (r := world.store.get(request_id))["status"] in ("completed", "failed") and r,
                           240, interval=0.5, what="the stuck request's verdict", on_timeout=daemon.log_tail)
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"request_id": str(request_id)}))
            record_fault("Crash between recording a request and submitting its run (/v1/kafka-verify)", 1,
                         lost=int(row["status"] != "completed"), duplicated=max(0, len(runs) - 1),
                         note=f"row left received with no run; stuck_requests_sensor (grace 2 s) gave it one run, "
                              f"row {row['status']} {time.monotonic() - started:.0f} s after the daemon started "
                              "(before: received forever, client retries answered 'already known')")
            assert row["status"] == "completed" and row["verdict"] is True, row
            assert len(runs) == 1 and runs[0].tags["dagster/run_key"] == str(request_id)
            assert runs[0].tags["dagster/sensor_name"] == "stuck_requests_sensor" and row["run_id"] == runs[0].run_id
        print(f"\nstuck request completed {time.monotonic() - started:.1f} s after the daemon started")
