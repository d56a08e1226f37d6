"""``ocr_pipeline.adapters.config``: the one place environment variables are read, parsed and defaulted."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ocr_pipeline.adapters import config

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent


def test_defaults_are_the_readmes():
    assert config.S3_READ_TIMEOUT_SECONDS.get({}) == 60.0
    assert config.S3_CONNECT_TIMEOUT_SECONDS.get({}) == 5.0
    assert config.S3_DOWNLOAD_ATTEMPTS.get({}) == 4
    assert config.OCR_SENSOR_MAX_QUEUED_RUNS.get({}) == 100
    assert config.KAFKA_GROUP_ID.get({}) == "nohd_MSB"


def test_unset_and_blank_give_the_default_values_are_parsed():
    assert config.S3_DOWNLOAD_ATTEMPTS.get({"S3_DOWNLOAD_ATTEMPTS": "  "}) == 4
    assert config.S3_DOWNLOAD_ATTEMPTS.get({"S3_DOWNLOAD_ATTEMPTS": " 7 "}) == 7
    assert config.OCR_SENSOR_TIME_BUDGET_SECONDS.get({"OCR_SENSOR_TIME_BUDGET_SECONDS": "2.5"}) == 2.5
    assert config.KAFKA_TOPIC.get({"KAFKA_TOPIC": " t "}) == "t"


def test_an_empty_preview_prefix_turns_previews_off():
    assert config.OCR_PREVIEW_PREFIX.get({}) == "_previews/"
    assert config.OCR_PREVIEW_PREFIX.get({"OCR_PREVIEW_PREFIX": ""}) == ""


@pytest.mark.parametrize("name,value,message", [
    ("S3_DOWNLOAD_ATTEMPTS", "four", "S3_DOWNLOAD_ATTEMPTS must be a number, got 'four'"),
    ("S3_DOWNLOAD_ATTEMPTS", "0", "S3_DOWNLOAD_ATTEMPTS must be at least 1, got '0'"),
    ("OCR_SENSOR_MAX_EVENTS_PER_TICK", "many", "OCR_SENSOR_MAX_EVENTS_PER_TICK must be a number"),
    ("API_VERIFY_WORKERS", "0", "API_VERIFY_WORKERS must be at least 1"),
])
def test_a_bad_value_is_an_error_naming_the_variable(name, value, message):
    variable = next(v for v in config.VARIABLES if v.name == name)
    with pytest.raises(config.ConfigurationError, match=re.escape(message)):
        variable.get({name: value})
    with pytest.raises(config.ConfigurationError, match=name):
        config.check({name: value})


def test_repr_never_shows_a_value(monkeypatch):
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cr3t-value")
    assert "s3cr3t" not in repr(config.KAFKA_SASL_PASSWORD) and "s3cr3t" not in repr(config.VARIABLES)


def test_kafka_resource_and_settings_share_fields_and_defaults():
    from ocr_pipeline.adapters.kafka import KafkaSettings
    from ocr_pipeline.defs.resources.kafka import KafkaResource

    settings_fields = {f.name: f.default for f in dataclasses.fields(KafkaSettings)}
    resource_fields = {name: f.default for name, f in KafkaResource.model_fields.items() if name != "results_topic"}
    assert set(config.KAFKA_FIELDS) <= set(resource_fields) <= set(settings_fields)
    for name, variable in config.KAFKA_FIELDS.items():
        if name not in ("bootstrap_servers", "topic"):  # required fields
            assert resource_fields[name] == settings_fields[name] == variable.default, name


def test_nothing_outside_config_and_the_engine_reads_the_environment():
    readers = []
    for path in sorted((REPO / "ocr_pipeline").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative.startswith("ocr_pipeline/engine/") or relative == "ocr_pipeline/adapters/config.py":
            continue
        source = path.read_text(encoding="utf-8")
        if re.search(r"os\.environ\b(?!`)|os\.getenv\(|getenv\(", source.replace("``os.environ``", "")):
            readers.append(relative)
    assert readers == []


def test_every_variable_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert [v.name for v in config.VARIABLES if f"`{v.name}`" not in readme] == []
