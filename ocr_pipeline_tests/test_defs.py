"""The code location loads, with no environment, and has what the daemon needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parent.parent

_CONFIG_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "KAFKA_GROUP_ID", "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE",
    "S3_ENDPOINT_URL", "S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
    "S3_CA_BUNDLE", "DATABASE_URL", "KAFKA_RESULTS_TOPIC",
)

_PROBE = """
import json
from ocr_pipeline.definitions import defs
job = defs.resolve_job_def("verify_request")
repo = defs.get_repository_def()
import dagster as dg
with dg.build_resources({"kafka": defs.resources["kafka"]}) as resolved:
    resolved_topic = resolved.kafka.topic
print(json.dumps({
    "resolved_topic": resolved_topic,
    "executor": job.executor_def.name,
    "sensors": sorted(s.name for s in repo.sensor_defs),
    "sensor_status": {s.name: s.default_status.value for s in repo.sensor_defs},
    "sensor_targets": {s.name: [t.job_name for t in s.targets] for s in repo.sensor_defs},
    "resources": sorted(defs.resources),
    "assets": sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()),
    "kafka": defs.resources["kafka"].bootstrap_servers,
    "topic": defs.resources["kafka"].topic,
    "group": defs.resources["kafka"].group_id,
    "bucket": defs.resources["documents"].bucket,
    "database": defs.resources["verdict_store"].database_url,
    "results_topic": defs.resources["kafka"].results_topic,
    "schedules": {s.name: s.default_status.value for s in repo.schedule_defs},
    "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
    "executors": {j.name: j.executor_def.name for j in repo.get_all_jobs() if not j.name.startswith("__")},
    "partitions": type(defs.resolve_assets_def("prefix_backfill").partitions_def).__name__,
    "request_ops": [node.name for node in job.graph.nodes[0].definition.nodes]
                   if isinstance(job.graph.nodes[0].definition, dg.GraphDefinition) else [job.graph.nodes[0].name],
}))
"""


def _load_in_clean_environment(extra_env: dict[str, str] | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _CONFIG_VARIABLES and not k.startswith("OCR_")}
    env.update(extra_env or {})
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                            timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return yaml.safe_load(result.stdout.strip().splitlines()[-1])


def test_definitions_load_without_environment():
    loaded = _load_in_clean_environment()
    assert loaded["executor"] == "in_process"
    assert loaded["sensors"] == ["document_prefix_sensor", "kafka_requests_sensor", "lost_runs_sensor",
                                 "request_run_failure_sensor", "result_events_sensor", "stuck_requests_sensor"]
    assert loaded["sensor_status"]["stuck_requests_sensor"] == "RUNNING"
    assert loaded["sensor_status"]["kafka_requests_sensor"] == "RUNNING"
    assert loaded["sensor_status"]["document_prefix_sensor"] == "STOPPED"
    assert loaded["sensor_status"]["result_events_sensor"] == "RUNNING"
    assert loaded["sensor_targets"]["kafka_requests_sensor"] == ["verify_request"]
    assert loaded["resources"] == ["documents", "kafka", "verdict_io_manager", "verdict_store"]
    assert loaded["assets"] == ["daily_verdict_summary", "prefix_backfill", "request_verdict"]
    assert loaded["schedules"] == {"daily_verdict_summary_job_schedule": "RUNNING"}
    assert loaded["partitions"] == "DynamicPartitionsDefinition"
    assert loaded["jobs"] == ["daily_verdict_summary_job", "prefix_backfill_job", "recheck_requests", "register_prefix",
                              "verify_request"]
    assert set(loaded["executors"].values()) == {"in_process"}
    assert loaded["results_topic"] is None  # result events off
    assert loaded["kafka"] == "127.0.0.1:9092"
    assert loaded["topic"] == "dl-loan-delay-requests"
    assert loaded["group"] == "nohd_MSB"
    assert loaded["bucket"] == "loan-documents"
    assert loaded["database"] == "postgresql+psycopg2://postgres@127.0.0.1:5432/ocr_pipeline"


def test_request_verdict_has_its_stages_as_ops_or_one_op():
    ops = sorted(_load_in_clean_environment()["request_ops"])
    assert ops == ["decide_verdict", "download_document", "read_document"]
    assert _load_in_clean_environment({"OCR_REQUEST_STAGES": "one-step"})["request_ops"] == ["request_verdict"]


def test_set_variables_become_env_vars_not_values():
    loaded = _load_in_clean_environment({"KAFKA_TOPIC": "other-topic", "DATABASE_URL": "postgresql+psycopg2://u:secret@h/db"})
    # configured as dg.EnvVar: the definitions (and the UI) show the variable's name, never its value
    assert loaded["topic"] == "KAFKA_TOPIC" and loaded["database"] == "DATABASE_URL"
    assert loaded["resolved_topic"] == "other-topic"


def test_definitions_validate_in_process():
    from ocr_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("verify_request")
    config_fields = job.run_config_schema.config_type.fields["ops"].config_type.fields
    assert "request_verdict" in config_fields
    recheck = defs.resolve_job_def("recheck_requests").run_config_schema.config_type.fields["ops"]
    assert "request_ids" in recheck.config_type.fields["recheck"].config_type.fields["config"].config_type.fields


def test_assets_materialized_from_the_ui_run_in_process():
    """*Assets → Materialize* and asset backfills run the implicit asset job on a warm run worker (a
    daemonic Celery process): a multiprocess executor there fails with "daemonic processes are not allowed
    to have children", so every job defaults to the in-process executor."""
    from ocr_pipeline.definitions import defs

    repo = defs.get_repository_def()
    implicit = [job for job in repo.get_all_jobs() if job.name.startswith("__ASSET_JOB")]
    assert implicit
    assert {job.executor_def.name for job in implicit} == {"in_process"}


def test_workspace_and_instance_files():
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    target = workspace["load_from"][0]["python_package"]
    assert target["package_name"] == "ocr_pipeline.definitions" and target["attribute"] == "defs"

    instance = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert instance["run_coordinator"]["class"] == "WorkerCapacityRunCoordinator"
    assert instance["run_coordinator"]["config"]["max_concurrent_runs"] >= 1
    assert instance["run_retries"]["enabled"] and instance["run_monitoring"]["enabled"]
    assert instance["telemetry"]["enabled"] is False
