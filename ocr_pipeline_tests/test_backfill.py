"""The S3-prefix backfill: plain-Python helpers, then the partitioned asset against moto_server,
Postgres and real Tesseract (1,050 documents under one prefix: pagination)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from prometheus_client import REGISTRY

from ocr_pipeline.defs.analyst_jobs import normalise_prefix, register_prefix_job
from ocr_pipeline.defs.assets.prefix_backfill import DOCUMENT_PREFIXES, prefix_backfill
from ocr_pipeline.defs.resources import DocumentBucketResource, VerdictStoreResource
from ocr_pipeline.defs.sensors.document_prefixes import list_prefixes
from ocr_pipeline.flows.backfill import (
    applicant_fields_from_metadata,
    event_for_object,
    run_prefix_backfill,
    synthetic_request_id,
)
from ocr_pipeline.flows.events import InvalidEvent, RequestEvent
from ocr_pipeline_devtools import docgen
from ocr_pipeline_devtools.dagster_fixtures import make_iin, new_request_id

pytestmark = pytest.mark.integration

PREFIX = "2024/12/"
METADATA_ONLY = 1000
UNMATCHED = 15
BAD_SIDECARS = 2  # an invalid IIN; a request_id of another document


# -- plain helpers ----------------------------------------------------------------------------------

def test_synthetic_ids_are_stable_negative_bigints():
    first = synthetic_request_id("loan-documents", "2024/12/a.pdf")
    assert first == synthetic_request_id("loan-documents", "2024/12/a.pdf")
    assert first != synthetic_request_id("loan-documents", "2024/12/b.pdf")
    assert first != synthetic_request_id("other-bucket", "2024/12/a.pdf")
    ids = {synthetic_request_id("b", f"k{i}") for i in range(20_000)}
    assert len(ids) == 20_000 and all(-(2**63) < i < 0 for i in ids)


def test_applicant_from_metadata_and_sidecar_fields():
    iin = make_iin("900308", "3", "0004")
    fields = applicant_fields_from_metadata({"iin": iin, "last-name": "Ivanov", "first-name": "Ivan"})
    assert fields == {"iin": iin, "last_name": "Ivanov", "first_name": "Ivan", "second_name": ""}
    assert applicant_fields_from_metadata({"last-name": "Ivanov"}) is None
    event = event_for_object("bucket", "2024/12/x.pdf", fields)
    assert event.request_id == synthetic_request_id("bucket", "2024/12/x.pdf") and event.s3_path == "2024/12/x.pdf"
    with_id = event_for_object("bucket", "k.pdf", {**fields, "request_id": 77})
    assert with_id.request_id == 77
    with pytest.raises(InvalidEvent):
        event_for_object("bucket", "k.pdf", {**fields, "iin": "123"})


def test_prefixes_are_normalised():
    assert normalise_prefix("/2024/12") == "2024/12/" and normalise_prefix("2024/12/") == "2024/12/"
    with pytest.raises(ValueError):
        normalise_prefix(" / ")


# -- the prefix with 1,050 documents ----------------------------------------------------------------

def _text_pdf(person_key: str, index: int) -> bytes:
    page = docgen.render_document(docgen.DOC_TYPES[index % 5], docgen.PEOPLE[person_key], seed=index)
    return docgen.to_pdf([page], text_layer=True)


def _event(request_id: int, key: str, person_key: str) -> RequestEvent:
    applicant = docgen.PEOPLE[person_key].applicant()
    return RequestEvent(request_id=request_id, s3_path=key, iin=applicant.iin, last_name=applicant.last_name,
                        first_name=applicant.first_name, second_name=applicant.second_name)


@pytest.fixture(scope="module")
def layout(s3_server, pg_database_url):
    """Upload the prefix once for the module: what was put where, and the registered request ids."""
    client = s3_server.client(max_pool_connections=16)
    bucket = s3_server.create_bucket()
    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    people = list(docgen.PEOPLE)[:10]
    pdfs = {key: _text_pdf(key, i) for i, key in enumerate(people)}
    uploads: list[dict] = []
    registered: dict[str, int] = {}
    for i, person in enumerate(people):  # registered requests (came through Kafka): rows joined by s3_path
        key = f"{PREFIX}registered/Приказ {i} - {docgen.PEOPLE[person].last_name}.pdf"
        uploads.append({"Key": key, "Body": pdfs[person]})
        registered[key] = new_request_id()
        store.record_received(_event(registered[key], key, person))
    sidecar_ids: dict[str, int] = {}
    for i in range(20):  # sidecar objects (Cyrillic names in UTF-8 JSON); half carry a real request_id
        person = people[i % 10]
        key = f"{PREFIX}sidecar/Анықтама {i}.pdf"
        applicant = docgen.PEOPLE[person].applicant()
        fields = {"iin": applicant.iin, "last_name": applicant.last_name, "first_name": applicant.first_name,
                  "second_name": applicant.second_name}
        if i % 2:
            sidecar_ids[key] = fields["request_id"] = new_request_id()
        uploads.append({"Key": key, "Body": pdfs[person]})
        uploads.append({"Key": key + ".json", "Body": json.dumps(fields, ensure_ascii=False).encode()})
    ocr_keys = []
    for i, person in enumerate(("kim", "smirnov")):  # real OCR: PNG scans with sidecars
        key = f"{PREFIX}scans/скан {i}.png"
        ocr_keys.append(key)
        applicant = docgen.PEOPLE[person].applicant()
        page = docgen.render_document("dismissal_order", docgen.PEOPLE[person], seed=3 + i)
        uploads.append({"Key": key, "Body": docgen.degrade(page, "clean", seed=i)})
        uploads.append({"Key": key + ".json", "Body": json.dumps(
            {"iin": applicant.iin, "last_name": applicant.last_name, "first_name": applicant.first_name,
             "second_name": applicant.second_name}, ensure_ascii=False).encode()})
    iin = make_iin("900308", "3", "0004")
    for i in range(METADATA_ONLY):  # metadata-only objects, not a supported format: cheap for the engine
        uploads.append({"Key": f"{PREFIX}meta/{i:04d}.bin", "Body": f"not a document {i}".encode(),
                        "Metadata": {"iin": iin, "last-name": "Ivanov", "first-name": "Ivan", "second-name": ""}})
    corrupt_key = f"{PREFIX}meta/broken.pdf"
    uploads.append({"Key": corrupt_key, "Body": b"%PDF-1.4\nnot really",
                    "Metadata": {"iin": iin, "last-name": "Ivanov", "first-name": "Ivan"}})
    for i in range(UNMATCHED):  # neither row, sidecar nor metadata
        uploads.append({"Key": f"{PREFIX}unknown/{i}.jpg", "Body": b"\xff\xd8\xff unknown"})
    stolen_key = f"{PREFIX}sidecar/stolen.pdf"  # a sidecar naming another document's request: unmatched
    uploads.append({"Key": stolen_key, "Body": pdfs[people[1]]})
    uploads.append({"Key": stolen_key + ".json", "Body": json.dumps(
        {**_event(1, "x", people[1]).to_dict(), "request_id": next(iter(registered.values()))},
        ensure_ascii=False).encode()})
    bad_sidecar_key = f"{PREFIX}sidecar/bad.pdf"  # a sidecar whose IIN fails validation: unmatched too
    uploads.append({"Key": bad_sidecar_key, "Body": pdfs[people[0]]})
    uploads.append({"Key": bad_sidecar_key + ".json",
                    "Body": json.dumps({"iin": "123", "last_name": "А", "first_name": "Б"}).encode()})
    uploads.append({"Key": "2024/11/elsewhere.pdf", "Body": b"other prefix"})
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda args: client.put_object(Bucket=bucket, **args), uploads))
    print(f"uploaded {len(uploads)} objects in {time.perf_counter() - started:.1f} s")
    return {"bucket": bucket, "registered": registered, "sidecar_ids": sidecar_ids, "ocr_keys": ocr_keys,
            "corrupt_key": corrupt_key, "bad_sidecar_key": bad_sidecar_key, "stolen_key": stolen_key,
            "objects": len(uploads) - 1}


def _resources(endpoint_url: str, bucket: str, database_url: str) -> dict:
    store = VerdictStoreResource(database_url=database_url)
    return {
        "documents": DocumentBucketResource(s3=S3Resource(endpoint_url=endpoint_url, region_name="us-east-1"),
                                            bucket=bucket),
        "verdict_store": store,
    }


def test_the_prefix_is_registered_and_backfilled_in_one_run(s3_server, pg_database_url, layout):
    bucket = layout["bucket"]
    resources = _resources(s3_server.endpoint_url, bucket, pg_database_url)
    store = resources["verdict_store"].get_store()
    verdicts_before = {v: REGISTRY.get_sample_value("ocr_verdicts_total", {"path": "backfill", "verdict": v}) or 0
                       for v in ("true", "false")}
    with dg.DagsterInstance.ephemeral() as instance:
        registered = register_prefix_job.execute_in_process(
            run_config={"ops": {"add_prefix_partition": {"config": {"prefix": "/2024/12"}}}},
            instance=instance, resources={"documents": resources["documents"]},
        )
        assert registered.success
        assert instance.get_dynamic_partitions(DOCUMENT_PREFIXES) == [PREFIX]

        started = time.perf_counter()
        result = dg.materialize([prefix_backfill], partition_key=PREFIX, instance=instance, resources=resources)
        seconds = time.perf_counter() - started
        assert result.success
        materialization = result.asset_materializations_for_node("prefix_backfill")[0]
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        print(f"backfill of {metadata['documents']} documents: {seconds:.1f} s in the run, "
              f"{metadata['documents_per_second']} documents/s")

    documents = layout["objects"] - 24  # sidecars (20 + 2 scans + 2 bad) are not documents
    assert metadata["objects_listed"] == layout["objects"] and metadata["documents"] == documents == 1050
    assert metadata["sidecars"] == 24 and metadata["orphan_sidecars"] == 0
    assert metadata["unmatched"] == UNMATCHED + BAD_SIDECARS
    unmatched = {item["key"]: item["reason"] for item in metadata["unmatched_objects"]}
    assert unmatched[layout["bad_sidecar_key"]].startswith("sidecar: iin")
    assert "belongs to another document" in unmatched[layout["stolen_key"]]
    assert metadata["verified"] == documents - UNMATCHED - BAD_SIDECARS and metadata["failed"] == 0
    assert metadata["by_source"] == {"registered": 10, "sidecar": 22, "metadata": METADATA_ONLY + 1}
    assert metadata["by_verdict"] == {"true": 32, "false": METADATA_ONLY + 1}
    assert {v: REGISTRY.get_sample_value("ocr_verdicts_total", {"path": "backfill", "verdict": v}) - before
            for v, before in verdicts_before.items()} == metadata["by_verdict"]  # the run workers' metrics
    assert metadata["by_error_code"] == {"UNSUPPORTED_FORMAT": METADATA_ONLY, "CORRUPT_FILE": 1}
    assert metadata["documents_per_second"] > 0
    assert metadata["previews"] == 2  # the two OCR'd scans (text-layer PDFs have no word boxes)

    run_id = result.run_id
    for key, request_id in layout["registered"].items():
        row = store.get(request_id)
        assert row["status"] == "completed" and row["verdict"] is True and row["run_id"] == run_id, row
        assert row["retry_count"] == 0 and row["s3_etag"] and row["evidence"]["checks"]["name"]["matched"]
    for key, request_id in layout["sidecar_ids"].items():
        row = store.get(request_id)
        assert row["s3_path"] == key and row["verdict"] is True and row["last_name"]  # Cyrillic, from the sidecar
    for key in layout["ocr_keys"]:
        row = store.get(synthetic_request_id(bucket, key))
        assert row["verdict"] is True and row["evidence"]["timings"]["ocr"] > 0
    corrupt = store.get(synthetic_request_id(bucket, layout["corrupt_key"]))
    assert corrupt["status"] == "completed" and [e["code"] for e in corrupt["errors"]] == ["CORRUPT_FILE"]
    assert corrupt["request_id"] < 0 and corrupt["last_name"] == "Ivanov"


def test_re_running_the_partition_changes_nothing_already_correct(s3_server, pg_database_url, layout):
    bucket = layout["bucket"]
    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    client = s3_server.client()
    keys = list(layout["registered"])
    before = {rid: store.get(rid) for rid in layout["registered"].values()}
    metadata_before = store.get(synthetic_request_id(bucket, f"{PREFIX}meta/0000.bin"))
    if metadata_before is None:
        pytest.skip("needs the first backfill (run the module)")

    started = time.perf_counter()
    report = run_prefix_backfill(client, bucket, PREFIX, store, "rerun-1")
    seconds = time.perf_counter() - started
    print(f"re-run over {report.documents} documents: {seconds:.1f} s, {report.skipped} skipped")
    assert report.verified == 0 and report.requests_written == 0
    assert report.skipped == 1050 - UNMATCHED - BAD_SIDECARS and len(report.unmatched) == UNMATCHED + BAD_SIDECARS
    assert {rid: store.get(rid) for rid in layout["registered"].values()} == before
    assert store.get(synthetic_request_id(bucket, f"{PREFIX}meta/0000.bin")) == metadata_before

    # a document replaced in S3 (new ETag) is verified again: a new attempt on the same row
    replaced = keys[0]
    client.put_object(Bucket=bucket, Key=replaced, Body=b"%PDF-1.4\nreplaced, broken")
    report = run_prefix_backfill(client, bucket, PREFIX, store, "rerun-2")
    assert report.verified == 1 and report.skipped == 1050 - UNMATCHED - BAD_SIDECARS - 1
    row = store.get(layout["registered"][replaced])
    assert row["run_id"] == "rerun-2" and row["retry_count"] == 1 and row["verdict"] is False
    assert [e["code"] for e in row["errors"]] == ["CORRUPT_FILE"]


def test_one_vanished_document_fails_alone(s3_server, s3_bucket, pg_database_url):
    """An object listed but gone by the time it is read fails its row; the rest of the prefix goes on."""
    client = s3_server.client()
    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    for i in range(3):
        client.put_object(Bucket=s3_bucket, Key=f"p/{i}.bin", Body=b"x" * (i + 1))
    request_id = new_request_id()
    store.record_received(_event(request_id, "p/1.bin", "kim"))

    class VanishingClient:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def head_object(self, **kwargs):
            if kwargs["Key"] == "p/1.bin":
                client.delete_object(Bucket=s3_bucket, Key="p/1.bin")
            return self.inner.head_object(**kwargs)

    report = run_prefix_backfill(VanishingClient(client), s3_bucket, "p/", store, "run-vanish")
    assert report.documents == 3 and len(report.failed) == 1 and report.failed[0]["request_ids"] == [request_id]
    assert len(report.unmatched) == 2  # the other two have no applicant: listed, not dropped
    row = store.get(request_id)
    assert row["status"] == "failed" and [e["code"] for e in row["errors"]] == ["S3_OBJECT_NOT_FOUND"]


def test_the_backfill_leaves_rows_a_live_run_owns_and_reports_them_skipped(s3_server, s3_bucket, pg_database_url):
    """Under the prefix: a request a verify_request run is processing, one whose run was submitted and
    has not started yet, and one nobody works on. The backfill verifies only the last; the other two
    are reported skipped with their owner, and the live run's verdict still lands on its row."""
    from ocr_pipeline.adapters.store import SUBMITTED_BY_SENSOR

    client = s3_server.client()
    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    processing, submitted, idle = new_request_id(), new_request_id(), new_request_id()
    for request_id in (processing, submitted, idle):
        client.put_object(Bucket=s3_bucket, Key=f"live/{request_id}.bin", Body=b"not a document")
    store.record_received(_event(processing, f"live/{processing}.bin", "kim"))
    store.start_attempt(processing, "live-run", "processing")
    store.record_received(_event(submitted, f"live/{submitted}.bin", "kim"), submitted_by=SUBMITTED_BY_SENSOR)
    store.record_received(_event(idle, f"live/{idle}.bin", "kim"))

    report = run_prefix_backfill(client, s3_bucket, "live/", store, "backfill-live", workers=1)

    assert sorted(item["request_id"] for item in report.skipped_owned) == sorted([processing, submitted])
    assert {item["request_id"]: item["run_id"] for item in report.skipped_owned}[processing] == "live-run"
    assert report.metadata()["skipped_owned_by_a_run"] == 2 and report.requests_written == 1
    live = store.get(processing)
    assert live["status"] == "processing" and live["run_id"] == "live-run" and live["retry_count"] == 0
    waiting = store.get(submitted)
    assert waiting["status"] == "received" and waiting["run_id"] is None
    assert store.get(idle)["status"] == "completed" and store.get(idle)["run_id"] == "backfill-live"
    from ocr_pipeline_tests.test_store import _verdict

    store.save_verdict(processing, _verdict(), "live-run")  # the live run finishes: its verdict is kept
    assert store.get(processing)["verdict"] is True


def test_prefix_discovery_lists_folders(s3_server, s3_bucket):
    client = s3_server.client()
    for key in ("2024/11/a.pdf", "2024/12/b.pdf", "2024/12/c/d.pdf", "2025/01/e.pdf", "top.pdf"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    assert list_prefixes(client, s3_bucket, 1) == ["2024/", "2025/"]
    assert list_prefixes(client, s3_bucket, 2) == ["2024/11/", "2024/12/", "2025/01/"]


def test_the_prefix_sensor_adds_new_folders_as_partitions(s3_server, s3_bucket, monkeypatch):
    from ocr_pipeline.defs.sensors import document_prefix_sensor

    client = s3_server.client()
    for key in ("2024/11/a.pdf", "2024/12/b.pdf"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    monkeypatch.setenv("OCR_PREFIX_SENSOR_DEPTH", "2")
    resources = {"documents": DocumentBucketResource(s3=S3Resource(endpoint_url=s3_server.endpoint_url),
                                                     bucket=s3_bucket)}
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(DOCUMENT_PREFIXES, ["2024/11/"])
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = document_prefix_sensor.evaluate_tick(context)
        assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["2024/12/"]]
        assert not result.run_requests


@pytest.mark.parametrize("preview_prefix", ["_previews/", "evidence/previews"])
def test_the_prefix_sensor_never_offers_the_preview_prefix(s3_server, s3_bucket, monkeypatch, preview_prefix):
    from ocr_pipeline.defs.sensors import document_prefix_sensor
    from ocr_pipeline.flows.preview import preview_key

    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="2024/12/b.pdf", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="evidence/kept/c.pdf", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key=preview_key(preview_prefix, "2024/12/b.pdf", 7), Body=b"jpeg")
    monkeypatch.setenv("OCR_PREFIX_SENSOR_DEPTH", "2")
    resources = {"documents": DocumentBucketResource(s3=S3Resource(endpoint_url=s3_server.endpoint_url),
                                                     bucket=s3_bucket, preview_prefix=preview_prefix)}
    with dg.DagsterInstance.ephemeral() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = document_prefix_sensor.evaluate_tick(context)
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["2024/12/", "evidence/kept/"]]


def test_reports_of_parallel_documents_add_up():
    from collections import Counter

    from ocr_pipeline.flows.backfill import BatchReport

    total = BatchReport(prefix="p/", documents=3)
    total.add(BatchReport(verified=1, requests_written=2, previews=1, by_verdict=Counter(true=2),
                          by_source=Counter(registered=2)))
    total.add(BatchReport(skipped=1))
    total.add(BatchReport(verified=1, requests_written=1, by_verdict=Counter(false=1),
                          by_error=Counter(NAME_NOT_FOUND=1), failed=[{"key": "p/b"}], unmatched=[{"key": "p/c"}]))
    assert (total.verified, total.skipped, total.requests_written, total.previews) == (2, 1, 3, 1)
    assert total.by_verdict == Counter(true=2, false=1) and total.by_error == Counter(NAME_NOT_FOUND=1)
    assert total.failed == [{"key": "p/b"}] and total.unmatched == [{"key": "p/c"}]
    assert total.prefix == "p/" and total.documents == 3


def test_a_listing_that_fails_leaves_no_engine_process_behind(pg_database_url):
    """The engine processes start before the listing; an S3 error there must not leave them idle in the
    run worker."""
    import psutil

    class UnlistableClient:
        def get_paginator(self, name):
            raise ConnectionError("S3 unreachable")

    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    with pytest.raises(ConnectionError):
        run_prefix_backfill(UnlistableClient(), "bucket", "p/", store, "run-unlistable")
    engine_processes = [p for p in psutil.Process().children(recursive=True)
                        if "spawn_main" in " ".join(p.cmdline())]
    assert not engine_processes
