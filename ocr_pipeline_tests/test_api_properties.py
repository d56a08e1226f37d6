"""Property-based tests of the API's request handling (hypothesis), against a real uvicorn server with
Postgres, S3 and Kafka. The Dagster webserver URL points at a closed port, so valid events end in 503
(submission failed) rather than in runs.

Properties: no input makes a 500; ``/v1/kafka-verify`` answers 422 exactly when the sensor's parser
rejects the same bytes (the two paths cannot diverge), and then names the same field.
"""

from __future__ import annotations

import json
import string
import urllib.parse

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ocr_pipeline.adapters.store import VerdictStore
from ocr_pipeline.api import ApiSettings, create_app
from ocr_pipeline.flows.events import MAX_REQUEST_ID, InvalidEvent, parse_event
from ocr_pipeline_devtools import services
from ocr_pipeline_devtools.dagster_fixtures import make_iin, new_request_id
from ocr_pipeline_tests.test_api import UvicornThread, closed_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLES = 120
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def server(kafka_broker, s3_server, pg_database_url):
    topic = f"api-props-{new_request_id()}"
    services.create_topic(kafka_broker.bootstrap_servers, topic, 1)
    VerdictStore(pg_database_url).ensure_schema()
    api_settings = ApiSettings.from_env({
        "DATABASE_URL": pg_database_url,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_BUCKET": s3_server.create_bucket(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "KAFKA_TOPIC": topic,
        "DAGSTER_WEBSERVER_URL": f"http://127.0.0.1:{closed_port()}",
        "API_MAX_UPLOAD_BYTES": "200000",
        "API_RATE_LIMIT_PER_MINUTE": "0",  # hundreds of examples a minute from one address
    })
    with UvicornThread(create_app(api_settings)) as running, running.client(timeout=30) as client:
        yield client


# --------------------------------------------------------------------------------------- strategies

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)

valid_request_ids = st.integers(min_value=1, max_value=MAX_REQUEST_ID)
valid_iins = st.builds(
    make_iin,
    birth=st.sampled_from(["960125", "850701", "010203", "771231"]),
    gender_digit=st.sampled_from("3456"),
    serial=st.integers(0, 9999).map(lambda n: f"{n:04d}"),
)
valid_names = st.one_of(
    st.sampled_from(["Иванова", "Мария", "Жармағанбетова", "Әлия", "Серікқызы", "O'Neil", "Анна-Мария", " Ким "]),
    st.text(alphabet=st.characters(categories=["L", "Zs", "Pd"]), min_size=1, max_size=40)
    .filter(lambda t: any(ch.isalpha() for ch in t)),
)
valid_s3_paths = st.one_of(
    st.sampled_from(["2024/12/Приказ - Иванова.pdf", "a.pdf", "docs/Анықтама жұмыс орнынан.jpg"]),
    st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P", "S"]), min_size=1, max_size=80)
    .filter(lambda t: t.strip() and not t.startswith("/")),
)

# values that break one field each (or happen to be valid: the properties hold either way)
bad_values = {
    "request_id": st.one_of(st.integers(-5, 0), st.integers(MAX_REQUEST_ID, 2**66), st.just(2**64),
                            st.text(alphabet=string.digits, min_size=1, max_size=12), st.floats(allow_nan=False),
                            st.booleans(), st.none()),
    "s3_path": st.one_of(st.text(max_size=60), st.just("s3://bucket/key.pdf"), st.just("a/../b.pdf"),
                         st.just("/abs.pdf"), st.text(alphabet="я", min_size=500, max_size=600), st.none(),
                         st.integers()),
    "iin": st.one_of(st.text(alphabet=string.digits, min_size=11, max_size=13), st.text(max_size=14),
                     st.integers(0, 10**12), st.just("960125400123")),
    "last_name": st.one_of(st.text(max_size=30), st.text(alphabet="аб\x00\u202e \t", max_size=250), st.none(),
                           st.integers(), st.just("1234")),
}
bad_values["first_name"] = bad_values["last_name"]
bad_values["second_name"] = bad_values["last_name"]


@st.composite
def event_objects(draw) -> dict:
    """Mostly valid events; some with one or two fields broken or missing, some with extra fields."""
    event = {
        "request_id": draw(valid_request_ids),
        "s3_path": draw(valid_s3_paths),
        "iin": draw(valid_iins),
        "last_name": draw(valid_names),
        "first_name": draw(valid_names),
        "second_name": draw(st.one_of(valid_names, st.just(""), st.none())),
    }
    for name in draw(st.lists(st.sampled_from(sorted(event)), max_size=2, unique=True)):
        if draw(st.booleans()):
            event[name] = draw(bad_values[name])
        else:
            del event[name]
    event.update(draw(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in event), json_values, max_size=3)))
    return event


def _encode(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


event_bodies = st.one_of(
    event_objects().map(_encode),
    event_objects().map(_encode),
    event_objects().map(lambda e: b"\xef\xbb\xbf" + _encode(e)),
    json_values.map(_encode),
    st.binary(max_size=200),
)


def _tiny_files() -> list[bytes]:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("L", (320, 120), 255)
    ImageDraw.Draw(image).text((10, 40), "Ivanova M.P. 960125400123", fill=0)
    files = []
    for fmt in ("PNG", "JPEG", "TIFF", "PDF"):
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        files.append(buffer.getvalue())
    return files


upload_files = st.one_of(
    st.sampled_from(_tiny_files()),
    st.builds(lambda head, tail: head + tail,
              st.sampled_from([b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"<html>",
                               b"GIF89a", b"PK\x03\x04", b""]),
              st.binary(max_size=3000)),
)
form_junk = st.one_of(st.text(max_size=40), st.just(""), st.text(max_size=1200), st.just("1234"))


@st.composite
def verify_forms(draw) -> dict:
    """Mostly valid forms; some fields broken or left out."""
    form = {
        "iin": draw(valid_iins),
        "last_name": draw(valid_names),
        "first_name": draw(valid_names),
        "second_name": draw(st.one_of(valid_names, st.just(""))),
    }
    if draw(st.booleans()):
        form["store"] = draw(st.sampled_from(["true", "false", "1", "0", "maybe", ""]))
        form["request_id"] = draw(st.one_of(valid_request_ids.map(str), form_junk))
    for name in draw(st.lists(st.sampled_from(sorted(form)), max_size=2, unique=True)):
        if draw(st.booleans()):
            form[name] = draw(form_junk)
        else:
            del form[name]
    return form


# ------------------------------------------------------------------------------------------- tests

@PROPERTY_SETTINGS
@given(body=event_bodies)
def test_kafka_verify_never_fails_and_agrees_with_the_sensor(server, body):
    response = server.post("/v1/kafka-verify", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 202, 409, 422, 503), (response.status_code, response.text)
    event(f"HTTP {response.status_code}")
    answer = response.json()
    try:
        parse_event(body)
    except InvalidEvent as rejected:
        assert response.status_code == 422, answer
        expected_loc = ["body", rejected.field] if rejected.field else ["body"]
        assert answer["detail"] == [{"loc": expected_loc, "msg": rejected.reason, "type": "invalid_event"}]
    else:
        assert response.status_code != 422, answer


@PROPERTY_SETTINGS
@given(form=verify_forms(), data=upload_files)
def test_verify_never_fails_whatever_the_form(server, form, data):
    response = server.post("/v1/verify", data=form, files={"file": ("upload.bin", data, "application/pdf")})
    assert response.status_code in (200, 409, 413, 415, 422), (response.status_code, response.text)
    event(f"HTTP {response.status_code}")
    if response.status_code == 200:
        assert isinstance(response.json()["verdict"], bool)


@PROPERTY_SETTINGS
@given(segment=st.one_of(st.text(min_size=1, max_size=30), st.integers(-(2**70), 2**70).map(str)))
def test_request_status_never_fails_whatever_the_id(server, segment):
    response = server.get("/v1/requests/" + urllib.parse.quote(segment, safe=""))
    assert response.status_code in (200, 307, 404, 405, 422), (response.status_code, response.text)
    event(f"HTTP {response.status_code}")
