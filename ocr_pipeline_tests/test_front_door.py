"""The README's front door from a clean clone: `make demo-once`, then the Dagster UI's GraphQL API on its results."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from ocr_pipeline_devtools import services

REPO = Path(__file__).resolve().parent.parent
DEMO_DATABASE = "ocr_pipeline_demo"
DEMO_DAGSTER_DATABASE = "ocr_pipeline_demo_dagster"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not services.postgres_available(), reason="needs Postgres on 127.0.0.1:5432"),
]


@pytest.fixture(scope="module")
def demo_clone(tmp_path_factory) -> tuple[Path, str]:
    """A fresh clone of the repository's HEAD in which `make demo-once` has run; returns (clone, output)."""
    clone = tmp_path_factory.mktemp("front_door") / "ocr_pipeline"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "KAFKA_", "S3_", "DATABASE_"))}
    started = time.monotonic()
    result = subprocess.run(["make", "demo-once"], cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    print(f"make demo-once: exit {result.returncode} in {time.monotonic() - started:.0f} s\n{output[-6000:]}")
    if result.returncode != 0:
        logs = clone / ".demo" / "logs"
        for log_file in sorted(logs.glob("*.log")) if logs.exists() else []:
            print(f"--- {log_file.name}\n{services.log_tail(log_file, 40)}")
    assert result.returncode == 0, "make demo-once failed (output above)"
    yield clone, output
    shutil.rmtree(clone, ignore_errors=True)


def _demo_rows() -> dict[int, dict]:
    engine = sa.create_engine(services.sqlalchemy_url(DEMO_DATABASE))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT request_id, status, verdict, errors FROM ocr_requests")).mappings().all()
    engine.dispose()
    return {row["request_id"]: dict(row) for row in rows}


def test_demo_once_prints_expected_table_and_fills_the_database(demo_clone):
    _, output = demo_clone
    table = [line for line in output.splitlines() if re.match(r"^\s+(\d+|-)\s{2}\S", line)]
    assert len(table) == 15, output[-4000:]
    assert all(line.rstrip().endswith("yes") for line in table), "\n".join(table)
    assert re.search(r"missing S3 object .* failed .* S3_OBJECT_NOT_FOUND", output)
    assert re.search(r"namesake with another IIN .* completed\s+False\s+IIN_MISMATCH", output)
    assert re.search(r"initials only, no IIN: review .* completed\s+True", output)
    assert re.search(r"review desk: http://127\.0\.0\.1:\d+/review", output)
    assert not re.search(r"\b\d{12}\b", output), "a full IIN was printed"

    rows = _demo_rows()
    statuses = sorted(row["status"] for row in rows.values())
    assert statuses.count("completed") == 11 and statuses.count("failed") == 1 and statuses.count("invalid") == 1
    accepted = [row for row in rows.values() if row["verdict"] is True]
    assert len(accepted) == 8
    failed = next(row for row in rows.values() if row["status"] == "failed")
    assert [e["code"] for e in failed["errors"]] == ["S3_OBJECT_NOT_FOUND"]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


def test_webserver_graphql_shows_sensor_runs_and_materializations(demo_clone):
    clone, _ = demo_clone
    port = services.free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(clone / ".demo" / "dagster_home"),
        "DAGSTER_PG_URL": services.sqlalchemy_url(DEMO_DAGSTER_DATABASE),
    }
    log_path = clone / ".demo" / "graphql-webserver.log"
    with open(log_path, "wb") as log_file:
        webserver = subprocess.Popen(
            [str(clone / ".venv" / "bin" / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
             "-w", "workspace.yaml"], cwd=clone, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                data = _graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                      "locationOrLoadError { __typename } } } } }")
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, services.log_tail(log_path)
            assert webserver.poll() is None, services.log_tail(log_path)
            time.sleep(1)

        sensor = _graphql(port, """{ sensorOrError(sensorSelector: {repositoryLocationName: "ocr_pipeline",
            repositoryName: "__repository__", sensorName: "kafka_requests_sensor"}) {
            ... on Sensor { name sensorState { status ticks(limit: 5, statuses: [SUCCESS]) { status runIds } } } } }""")["sensorOrError"]  # noqa: E501
        assert sensor["name"] == "kafka_requests_sensor"
        assert sensor["sensorState"]["status"] == "RUNNING"
        assert any(tick["runIds"] for tick in sensor["sensorState"]["ticks"]), sensor

        runs = _graphql(port, """{ runsOrError { ... on Runs { results { runId status jobName
            tags { key value } } } } }""")["runsOrError"]["results"]
        verify_runs = [run for run in runs if run["jobName"] == "verify_request"]
        request_ids = [next(t["value"] for t in run["tags"] if t["key"] == "request_id") for run in verify_runs]
        assert len(request_ids) == len(set(request_ids)) == 12  # the duplicate event made no second run
        assert sorted(run["status"] for run in verify_runs).count("FAILURE") == 1
        for run in verify_runs:
            iin_tags = [t["value"] for t in run["tags"] if "iin" in t["key"].lower()]
            assert iin_tags and all("*" in value for value in iin_tags)

        asset = _graphql(port, """{ assetOrError(assetKey: {path: ["request_verdict"]}) {
            ... on Asset { assetMaterializations(limit: 50) { runId } } } }""")["assetOrError"]
        assert len(asset["assetMaterializations"]) == 11
    finally:
        os.killpg(webserver.pid, 15)
        webserver.wait(timeout=30)
