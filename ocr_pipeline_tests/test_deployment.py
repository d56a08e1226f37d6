"""docker/ cannot run here (no Docker engine): validate what can be validated without it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "docker"


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def _env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_compose_has_every_service_of_the_deployment():
    services = _compose()["services"]
    assert set(services) == {"postgres", "kafka", "minio", "redis", "code-location", "webserver", "daemon", "worker",
                             "prometheus", "grafana"}
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper


def test_every_variable_the_compose_file_uses_is_in_the_example_env_and_documented():
    text = (DOCKER / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    example = _env_example()
    readme = (REPO / "README.md").read_text()
    assert used <= set(example), used - set(example)
    for name in used - {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}:
        assert f"`{name}`" in readme, f"{name} is not in the README's configuration table"


def test_example_env_holds_no_secrets():
    example = _env_example()
    for key, value in example.items():
        if any(word in key for word in ("PASSWORD", "SECRET", "ACCESS_KEY")):
            assert value == "", f"{key} must be empty in .env.example"
    for url_key in ("DAGSTER_PG_URL", "DATABASE_URL"):
        assert example[url_key].startswith("postgresql+psycopg2://") and "CHANGE_ME" in example[url_key]


def test_service_commands_refer_to_what_exists():
    services = _compose()["services"]
    module = services["code-location"]["command"][services["code-location"]["command"].index("-m") + 1]
    assert hasattr(importlib.import_module(module), "defs")
    docker_workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    grpc = docker_workspace["load_from"][0]["grpc_server"]
    assert grpc["host"] == "code-location"
    assert str(grpc["port"]) in services["code-location"]["command"]
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        mounted = {v.split(":")[1] for v in services[name]["volumes"]}
        assert command[command.index("-w") + 1] in mounted


def test_dockerfile_copies_files_that_exist_and_installs_the_language_data():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    for package in ("tesseract-ocr-rus", "tesseract-ocr-kaz", "tesseract-ocr-osd"):
        assert package in dockerfile
    assert "OMP_THREAD_LIMIT=1" in dockerfile


def test_instance_config_takes_its_database_from_the_environment():
    instance = yaml.safe_load((REPO / "dagster.yaml").read_text())
    storage = instance["storage"]["custom"]
    assert storage["config"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert hasattr(importlib.import_module(storage["module"]), storage["class"])
    launcher = instance["run_launcher"]
    assert hasattr(importlib.import_module(launcher["module"]), launcher["class"])


def test_the_worker_service_runs_the_run_workers_of_the_instance_config():
    worker = _compose()["services"]["worker"]
    assert worker["command"][:2] == ["ocr-pipeline", "worker"]
    assert worker["environment"]["CELERY_BROKER_URL"] == "${CELERY_BROKER_URL}"
    assert _env_example()["CELERY_BROKER_URL"].startswith("redis://redis:")


def _sample_names() -> set[str]:
    """Every sample name the package's metrics expose (``adapters/telemetry.py``)."""
    from prometheus_client import Counter, Gauge, Histogram

    from ocr_pipeline.adapters import telemetry

    suffixes = {Counter: ("_total",), Gauge: ("",), Histogram: ("_bucket", "_count", "_sum")}
    names = set()
    for metric in vars(telemetry).values():
        for kind, endings in suffixes.items():
            if isinstance(metric, kind):
                names.update(metric._name + ending for ending in endings)
    for family in telemetry.KAFKA_EVENTS.describe():  # a collector of its own (the sensor cursor's totals)
        names.add(family.name + "_total")
    return names


def test_prometheus_scrapes_the_ports_the_processes_serve_metrics_on():
    from ocr_pipeline.adapters import config

    scrape = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    services = _compose()["services"]
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    workers = jobs["run-workers"]["dns_sd_configs"][0]
    assert workers["names"] == ["worker"] and workers["port"] == config.OCR_WORKER_METRICS_PORT.default
    assert jobs["kafka-sensor"]["static_configs"][0]["targets"] == [
        f"code-location:{config.OCR_SENSOR_METRICS_PORT.default}"]
    assert "-m" in services["code-location"]["command"]  # the sensor is evaluated in the code server
    mounted = {volume.split(":")[1] for volume in services["prometheus"]["volumes"]}
    assert "/etc/prometheus/prometheus.yml" in mounted
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]


def test_grafana_provisions_prometheus_and_a_dashboard_whose_queries_name_existing_metrics():
    services = _compose()["services"]
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in services["grafana"]["volumes"]}
    for source in mounts:
        assert (DOCKER / source).exists(), source
    provider = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/ocr-pipeline.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["./grafana/dashboards"]
    datasource = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"

    import json

    dashboard = json.loads((DOCKER / "grafana/dashboards/ocr-pipeline.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"\b(ocr_[a-z0-9_]+)\b", expr)}
    known = _sample_names()
    assert queried and queried <= known, queried - known
    # every metric family is on the dashboard
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in known}
    assert families <= {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in queried}
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"]} == {datasource["datasources"][0]["uid"]}
