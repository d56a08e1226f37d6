"""The service fixtures come up and answer as the real things would."""

from __future__ import annotations

import pytest
import sqlalchemy
from kafka import KafkaConsumer, TopicPartition

from ocr_pipeline_devtools import services

pytestmark = pytest.mark.integration


def test_kafka_broker_produces_and_fetches(kafka_broker, new_topic):
    topic = new_topic(partitions=2)
    placed = services.produce(kafka_broker.bootstrap_servers, topic, [b"a", b"b"], partition=1)
    assert placed == [(1, 0), (1, 1)]

    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers, enable_auto_commit=False,
                             fetch_max_wait_ms=100)
    try:
        consumer.assign([TopicPartition(topic, 1)])
        consumer.seek(TopicPartition(topic, 1), 0)
        values = []
        for _ in range(20):
            for records in consumer.poll(timeout_ms=200).values():
                values += [r.value for r in records]
            if len(values) == 2:
                break
    finally:
        consumer.close()
    assert values == [b"a", b"b"]
    assert kafka_broker.bootstrap_servers.startswith("127.0.0.1:")


def test_create_topic_is_idempotent(kafka_broker, new_topic):
    topic = new_topic(partitions=3)
    services.create_topic(kafka_broker.bootstrap_servers, topic, 3)


def test_s3_server_stores_unicode_keys(s3_server, s3_bucket, s3_client):
    key = "Приказ о выходе в декретный отпуск - Жармағанбетова.pdf"
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"%PDF-1.4")
    listed = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert listed == [key]
    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == b"%PDF-1.4"
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")


def test_pg_database_is_reachable_with_psycopg2_url(pg_database_url):
    assert pg_database_url.startswith("postgresql+psycopg2://postgres@127.0.0.1:5432/ocr_test_")
    engine = sqlalchemy.create_engine(pg_database_url)
    try:
        with engine.connect() as conn:
            database = conn.execute(sqlalchemy.text("select current_database()")).scalar()
            assert database == pg_database_url.rsplit("/", 1)[1]
    finally:
        engine.dispose()


def test_temporary_database_starts_empty():
    if not services.postgres_available():
        pytest.skip("needs Postgres on 127.0.0.1:5432")
    with services.temporary_postgres_database() as url:
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as conn:
                tables = conn.execute(sqlalchemy.text(
                    "select count(*) from information_schema.tables where table_schema = 'public'")).scalar()
            assert tables == 0
        finally:
            engine.dispose()


def test_temporary_database_is_dropped():
    if not services.postgres_available():
        pytest.skip("no local Postgres")
    with services.temporary_postgres_database(prefix="ocr_drop_check") as url:
        name = url.rsplit("/", 1)[1]
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:  # an open connection must not block the drop
            conn.execute(sqlalchemy.text("select 1"))
            with services.temporary_postgres_database(prefix="ocr_inner"):
                pass
            assert conn.execute(sqlalchemy.text("select current_database()")).scalar() == name
            engine_admin = sqlalchemy.create_engine(services.sqlalchemy_url("postgres"))
    engine.dispose()
    with engine_admin.connect() as conn:
        exists = conn.execute(sqlalchemy.text("select count(*) from pg_database where datname = :n"),
                              {"n": name}).scalar()
    engine_admin.dispose()
    assert exists == 0


def test_startup_failure_reports_the_log(tmp_path):
    import socket


    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(services.ServiceStartError) as info:
            with services.start_kafka(port=port, log_dir=tmp_path, startup_timeout=10):
                pass
    assert "tansu exited" in str(info.value)
    assert "log " in str(info.value)
