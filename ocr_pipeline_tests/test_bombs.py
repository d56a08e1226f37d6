"""Decompression bombs through the real API process and a real run worker: the decoder process
(``engine.bounded_load``) takes the blow, the API keeps answering and stays small, the worker lives on.

The same files go through ``ocr-pipeline verify`` under 1.5 GiB / 60 s in ``test_bad_input.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from ocr_pipeline.adapters.store import TERMINAL_STATUSES
from ocr_pipeline_devtools import bad_files, services
from ocr_pipeline_devtools.dagster_fixtures import REPO_ROOT, event_bytes, new_request_id, wait_for
from ocr_pipeline_devtools.fault_report import record_fault

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

CLI = REPO_ROOT / ".venv" / "bin" / "ocr-pipeline"
BOMBS = [f for f in bad_files.catalogue() if f.kind in (
    "PDF flate bomb (1 GB stream)", "PDF flate bomb, indirect /Filter", "PDF flate bomb, escaped /#46lateDecode",
    "PDF flate bomb, filter array (Flate twice)", "16-bit PNG of 59 megapixels", "TIFF of 10 pages x 59 megapixels",
    "PDF of 10 pages x 2 JBIG2 images of 2 gigapixels",  # refused by the images' declared size
)]
API_RSS_BOUND_MB = 1024  # a 1 GB bomb decoded in the API process takes about twice that (measured)


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (``VmHWM``) in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def _form() -> dict:
    a = bad_files.APPLICANT
    return {"iin": a.iin, "last_name": a.last_name, "first_name": a.first_name, "second_name": a.second_name}


@pytest.mark.timeout(900)
def test_bombs_uploaded_to_the_api_end_in_file_too_large_while_health_answers(tmp_path, pg_database_url, s3_server):
    """Each bomb uploaded to ``/v1/verify`` of ``ocr-pipeline serve`` (its own process): the answer
    carries ``FILE_TOO_LARGE``, ``/health`` answers every poll meanwhile, the API process's peak RSS
    stays far below what one bomb decoded in it would take."""
    port = services.free_port()
    env = dict(os.environ, DATABASE_URL=pg_database_url, S3_BUCKET=s3_server.create_bucket(),
               S3_ENDPOINT_URL=s3_server.endpoint_url, DAGSTER_WEBSERVER_URL=f"http://127.0.0.1:{services.free_port()}",
               API_VERIFY_WORKERS="2")
    env.pop("API_BEARER_TOKEN", None)
    log_path = tmp_path / "api.log"
    with open(log_path, "wb") as log:
        api = subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=env, stdout=log, stderr=log,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    outcomes: dict[str, str] = {}
    health: list[int] = []
    failed_polls = 0
    try:
        wait_for(lambda: _answers(url), 60, what="the API to start", on_timeout=lambda: log_path.read_text()[-3000:])
        rss_idle = _peak_rss_mb(api.pid)
        with httpx.Client(base_url=url, timeout=120) as client, httpx.Client(base_url=url, timeout=15) as poller:
            for bomb in BOMBS:
                path = tmp_path / bomb.filename
                bomb.write(path)
                answer: dict = {}

                def upload() -> None:
                    files = {"file": (bomb.filename, path.read_bytes(), "application/octet-stream")}
                    answer["response"] = client.post("/v1/verify", data=_form(), files=files)

                uploader = threading.Thread(target=upload)
                uploader.start()
                while uploader.is_alive():
                    try:
                        health.append(poller.get("/health").status_code)
                    except httpx.HTTPError:
                        failed_polls += 1
                    time.sleep(0.2)
                uploader.join()
                response = answer.get("response")
                body = response.json() if response is not None else {}
                outcomes[bomb.kind] = ",".join(e["code"] for e in body.get("errors", [])) or str(body)[:200]
        rss_peak = _peak_rss_mb(api.pid)
        alive = api.poll() is None
    finally:
        api.send_signal(signal.SIGTERM)
        try:
            api.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(api.pid, signal.SIGKILL)
            api.wait()

    wrong = {kind: got for kind, got in outcomes.items() if got != "FILE_TOO_LARGE"}
    record_fault(f"bombs uploaded to the API ({len(BOMBS)})", len(BOMBS), lost=len(wrong), crashed=int(not alive),
                 note=f"API peak RSS {rss_idle:.0f} MB idle, {rss_peak:.0f} MB after the bombs; {len(health)} "
                      f"/health polls answered meanwhile, {failed_polls} unanswered")
    print(f"\nAPI: peak RSS {rss_idle:.0f} MB idle -> {rss_peak:.0f} MB after {len(BOMBS)} bombs; "
          f"/health answered {len(health)} polls, {failed_polls} unanswered; outcomes {outcomes}")
    assert alive, log_path.read_text()[-3000:]
    assert not wrong, wrong
    assert failed_polls == 0 and health
    assert rss_peak < API_RSS_BOUND_MB, f"the API process reached {rss_peak:.0f} MB"


def _answers(url: str) -> bool:
    try:
        # longer than /health's own bound (API_HEALTH_TIMEOUT_SECONDS + 0.5 s while Kafka is unreachable)
        return httpx.get(url + "/health", timeout=10).status_code in (200, 503)
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(900)
def test_a_bomb_through_a_run_worker_ends_in_file_too_large_and_the_worker_lives(deployment, kafka_broker,
                                                                                  s3_server, tmp_path):
    """The indirect-filter flate bomb as a Kafka request: a real daemon launches the run on a real run
    worker; the row says ``FILE_TOO_LARGE`` after one successful run, the worker process lives on and
    verifies the next (clean) document."""
    bomb = next(f for f in BOMBS if f.kind == "PDF flate bomb, indirect /Filter")
    path = tmp_path / bomb.filename
    bomb.write(path)
    client = s3_server.client()
    client.put_object(Bucket=deployment.bucket, Key="bombs/order.pdf", Body=path.read_bytes())
    clean = Path(tmp_path / "clean.pdf")
    clean.write_bytes(bad_files.pages.text_pdf([[bad_files.pages.KNOWN_LINE, f"ИИН {bad_files.APPLICANT.iin}"]]))
    client.put_object(Bucket=deployment.bucket, Key="bombs/clean.pdf", Body=clean.read_bytes())
    a = bad_files.APPLICANT
    ids = [new_request_id(), new_request_id()]
    events = [event_bytes(request_id=rid, s3_path=key, iin=a.iin, last_name=a.last_name, first_name=a.first_name,
                          second_name=a.second_name) for rid, key in zip(ids, ("bombs/order.pdf", "bombs/clean.pdf"))]
    daemon = deployment.daemon("daemon-bombs")
    try:
        daemon.start()
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, events[:1], partition=0)
        wait_for(lambda: (deployment.store.get(ids[0]) or {}).get("status") in TERMINAL_STATUSES, 400, interval=1,
                 what="the bomb's verdict", on_timeout=lambda: daemon.log_tail(80))
        worker_alive_after_bomb = daemon.worker_alive()
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, events[1:], partition=0)
        wait_for(lambda: (deployment.store.get(ids[1]) or {}).get("status") in TERMINAL_STATUSES, 400, interval=1,
                 what="the clean document's verdict", on_timeout=lambda: daemon.log_tail(80))
        with deployment.instance() as instance:
            runs = [instance.get_run_by_id(r.run_id).status
                    for r in instance.get_runs(filters=dg.RunsFilter(tags={"request_id": str(ids[0])}))]
        crashed = int(not daemon.alive()) + int(not daemon.worker_alive()) + int(not worker_alive_after_bomb)
    finally:
        daemon.stop()
        daemon.kill_group()
    bomb_row, clean_row = deployment.store.get(ids[0]), deployment.store.get(ids[1])
    codes = [e["code"] for e in bomb_row["errors"] or []]
    record_fault("bomb through a run worker", 1, lost=int(codes != ["FILE_TOO_LARGE"]),
                 duplicated=int(len(runs) > 1), crashed=crashed,
                 note=f"row {bomb_row['status']} {codes}; runs {[s.value for s in runs]}; next document "
                      f"{clean_row['status']} verdict {clean_row['verdict']}")
    assert crashed == 0
    assert bomb_row["status"] == "completed" and codes == ["FILE_TOO_LARGE"], bomb_row
    assert runs == [dg.DagsterRunStatus.SUCCESS], runs
    assert clean_row["status"] == "completed" and clean_row["verdict"] is True, clean_row
