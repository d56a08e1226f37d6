"""Issue #8, "Bad input": malformed events through the real broker and sensor, bad files through the
engine in a separate process under time and memory limits (the fault suite, ``make faults``).

Events: every bad kind, a valid event repeated 100 times and a final valid event are produced as raw
records to a fresh Tansu topic; ``poll_requests`` (the sensor's whole tick, real Postgres store) is
driven until its cursor passes the last offset. Each bad record must be in ``ocr_invalid_events`` with
a reason naming its problem, the repeats must make one run (one run_key) and one row, and the final
valid event must get its run request.

Files: each kind from ``bad_files`` is verified by ``ocr-pipeline verify FILE ... --json`` in a child
process with ``RLIMIT_AS`` = ``FILE_MEMORY_LIMIT_BYTES`` and a wall-clock limit of
``FILE_TIME_LIMIT_SECONDS``; the child must exit normally with a JSON verdict carrying the expected
error code (or an ordinary verdict for formats the engine reads). Wall time and peak RSS are measured
per child (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any, Optional

import pytest
import sqlalchemy as sa

from ocr_pipeline.defs.resources import KafkaResource, VerdictStoreResource
from ocr_pipeline.defs.sensors.kafka_requests import SensorLimits, decode_cursor, poll_requests
from ocr_pipeline.engine.iin import checksum_digit
from ocr_pipeline.engine.load import PDF_STREAM_LIMIT_BYTES, check_pdf_streams, detect_format, load_document
from ocr_pipeline.engine.models import DocumentError, EngineSettings, ErrorCode
from ocr_pipeline.flows.events import InvalidEvent, RequestEvent, parse_event
from ocr_pipeline_devtools import bad_files
from ocr_pipeline_devtools import engine_pages as pages
from ocr_pipeline_devtools.dagster_fixtures import make_iin, new_request_id
from ocr_pipeline_devtools.fault_report import record_fault

pytestmark = [pytest.mark.integration, pytest.mark.faults]

REPO = Path(__file__).resolve().parents[1]

# ================================================================================================ events

IIN = make_iin("850704", "3", "0012")
BAD_CHECKSUM_IIN = IIN[:-1] + str((int(IIN[-1]) + 1) % 10)
BIN = "04054000012" + str(checksum_digit("04054000012"))  # 5th digit 4: a legal entity
FIVE_MB = 5 * 1024 * 1024
REPEATS = 100


def _event(request_id: Any, **changes: Any) -> dict[str, Any]:
    fields = {"request_id": request_id, "s3_path": "2024/12/Приказ о выходе в декрет - Жармағанбетова.pdf",
              "iin": IIN, "last_name": "Жармағанбетова", "first_name": "Айгүл", "second_name": "Серікқызы"}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not _DROP}


_DROP = object()


def _json(data: Any) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates travel as \uXXXX escapes
        return json.dumps(data).encode("ascii")


def bad_events() -> list[tuple[str, Optional[bytes], str, Optional[int]]]:
    """``(kind, raw Kafka value, word the reason must contain, request_id the row must carry)``.

    Every kind gets a fresh request_id; it is expected on the row only when it is itself valid.
    """
    kinds: list[tuple[str, Optional[bytes], str, Optional[int]]] = []

    def add(kind: str, raw: Optional[bytes], word: str, request_id: Optional[int] = None) -> None:
        kinds.append((kind, raw, word, request_id))

    def add_event(kind: str, word: str, id_is_valid: bool = True, **changes: Any) -> None:
        request_id = changes.pop("request_id", None)
        if request_id is None:
            request_id = new_request_id()
        add(kind, _json(_event(request_id, **changes)), word, request_id if id_is_valid else None)

    valid = _json(_event(new_request_id()))
    add("not JSON", b"request_id=1&iin=2&last_name=X", "not json")
    add("truncated JSON", valid[: valid.rindex(b", ")], "not json")
    add("JSON array", b"[" + valid + b"]", "array")
    add("JSON string", b'"' + valid.replace(b'"', b'\\"') + b'"', "string")
    add("JSON number", b"42", "number")
    add("JSON null", b"null", "null")
    add("empty value", b"", "empty")
    add("tombstone (no value)", None, "null value")
    add("not UTF-8 (cp1251)", json.dumps(_event(1, s3_path="Приказ.pdf", last_name="Иванова", first_name="Мария",
                                           second_name="Петровна"), ensure_ascii=False).encode("cp1251"),
        "utf-8")
    add("NaN literal", valid.replace(b'"iin"', b'"score": NaN, "iin"'), "nan")
    add("number overflowing to Infinity", valid[:-1] + b', "score": 1e400}', "out of range")
    add("NUL byte between JSON tokens", valid.replace(b", ", b",\x00 ", 1), "not json")
    add("duplicate JSON keys", valid[:-1] + b', "iin": "' + BAD_CHECKSUM_IIN.encode() + b'"}', "duplicate")
    add("5 MB value", _json(_event(new_request_id(), note="x" * FIVE_MB)), "too large")
    add("deep nesting", valid.replace(b'"iin"', b'"x": ' + b"[" * 20000 + b"]" * 20000 + b', "iin"'),
        "not usable json")
    add_event("request_id string", "integer", id_is_valid=False, request_id="777")
    add_event("request_id float", "integer", id_is_valid=False, request_id=777.0)
    add_event("request_id boolean", "integer", id_is_valid=False, request_id=True)
    add_event("request_id negative", "positive", id_is_valid=False, request_id=-42)
    add_event("request_id zero", "positive", id_is_valid=False, request_id=0)
    add_event("request_id 30 digits", "exceeds", id_is_valid=False, request_id=10**29 + 7)
    add_event("missing request_id", "missing", id_is_valid=False, request_id=_DROP)
    add_event("missing iin", "missing field(s): iin", iin=_DROP)
    add_event("missing s3_path", "missing field(s): s3_path", s3_path=_DROP)
    add_event("null last_name", "null field(s): last_name", last_name=None)
    add_event("null iin", "null field(s): iin", iin=None)
    add_event("iin as a number", "iin must be a string", iin=int(IIN))
    add_event("last_name as a list", "last_name must be a string", last_name=["Жармағанбетова"])
    add_event("s3_path as an object", "s3_path must be a string", s3_path={"key": "a.pdf"})
    add_event("iin with letters", "ascii digits", iin=IIN[:8] + "ABCD")
    add_event("iin wrong checksum", "checksum", iin=BAD_CHECKSUM_IIN)
    add_event("iin 11 digits", "11 characters", iin=IIN[:11])
    add_event("iin is a BIN", "not a personal iin", iin=BIN)
    add_event("last_name empty", "last_name is empty", last_name="")
    add_event("first_name 10,000 characters", "first_name too long", first_name="Ә" * 10_000)
    add_event("last_name control character", "control character u+0007", last_name="Жарма\x07ғанбетова")
    add_event("first_name NUL", "control character u+0000", first_name="Ай\x00гүл")
    add_event("s3_path NUL", "control character u+0000", s3_path="2024/file\x00.pdf")
    add_event("s3_path newline", "control character u+000a", s3_path="2024/file\n.pdf")
    add_event("s3_path ../ traversal", "'..'", s3_path="2024/../../etc/passwd")
    add_event("s3_path absolute", "absolute", s3_path="/etc/passwd")
    add_event("s3_path s3:// URL", "url", s3_path="s3://other-bucket/file.pdf")
    add_event("s3_path https URL", "url", s3_path="https://evil.example/file.pdf")
    add_event("s3_path bidi override", "bidirectional", s3_path="2024/order\u202efdp.exe")
    add_event("s3_path lone surrogate", "surrogate", s3_path="2024/\udc00.pdf")
    add_event("extra field with NUL", "nul", note="a\x00b")
    return kinds


@pytest.mark.parametrize("kind, raw, word, request_id", bad_events(), ids=[k[0] for k in bad_events()])
def test_each_bad_event_kind_is_rejected_with_its_reason(kind, raw, word, request_id):
    """Unit level: ``parse_event`` rejects the kind with a reason naming the problem, IIN masked."""
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert word in info.value.reason.lower(), info.value.reason
    assert info.value.request_id == request_id
    assert IIN not in info.value.reason and BAD_CHECKSUM_IIN not in info.value.reason


def _produce(bootstrap_servers: str, topic: str, values: list[Optional[bytes]]) -> list[int]:
    """Send raw values to partition 0, in order, each with a key (a tombstone needs one); returns their
    offsets. The producer accepts records of up to 8 MB, as a misbehaving client would send them."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", max_request_size=8 * 1024 * 1024,
                             linger_ms=5)
    try:
        futures = [producer.send(topic, value=value, key=b"%d" % index, partition=0)
                   for index, value in enumerate(values)]
        producer.flush(60)
        return [future.get(timeout=60).offset for future in futures]
    finally:
        producer.close(timeout=10)


def test_bad_events_on_the_broker_are_recorded_and_the_partition_moves_on(kafka_broker, new_topic,
                                                                          pg_database_url):
    topic = new_topic(partitions=1, prefix="bad-events")
    kinds = bad_events()
    repeated_id, final_id = new_request_id(), new_request_id()
    repeated = _json(_event(repeated_id))
    final = _json(_event(final_id))
    values = [raw for _, raw, _, _ in kinds] + [repeated] * REPEATS + [final]
    offsets = _produce(kafka_broker.bootstrap_servers, topic, values)
    assert offsets == list(range(len(values)))

    kafka = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, topic=topic,
                          group_id=f"group-{topic}", request_timeout_ms=10_000)
    store = VerdictStoreResource(database_url=pg_database_url).get_store()
    limits = SensorLimits()  # production defaults: 50 events per tick, 20 s budget
    cursor: Optional[str] = None
    run_keys_per_tick: list[list[str]] = []
    started = time.monotonic()
    crashed = 0
    while decode_cursor(cursor).get(0, 0) < len(values) and len(run_keys_per_tick) < 20:
        try:
            result = poll_requests(kafka.settings(), store, cursor, limits)
        except Exception:  # counted, then re-raised: a tick must never fail on bad input
            crashed += 1
            raise
        run_keys_per_tick.append([r.run_key for r in result.run_requests])
        cursor = result.cursor
    elapsed = time.monotonic() - started

    rejected = {row["kafka_offset"]: row for row in store.invalid_events(topic)}
    unexplained = [kind for offset, (kind, _, word, _) in enumerate(kinds)
                   if offset not in rejected or word not in rejected[offset]["reason"].lower()]
    all_keys = [key for tick in run_keys_per_tick for key in tick]
    repeated_runs = len({key for key in all_keys if key == str(repeated_id)})
    per_tick_repeats = max(tick.count(str(repeated_id)) for tick in run_keys_per_tick)
    final_requested = all_keys.count(str(final_id))
    record_fault(f"malformed events ({len(kinds)} kinds)", len(kinds), lost=len(unexplained),
                 crashed=crashed,
                 note=f"{len(run_keys_per_tick)} ticks, {elapsed:.1f} s; cursor {decode_cursor(cursor)}")
    record_fault(f"valid event repeated {REPEATS} times", REPEATS,
                 lost=1 - min(repeated_runs, 1), duplicated=max(repeated_runs - 1, 0) + int(per_tick_repeats > 1),
                 note=f"one run_key; {all_keys.count(str(repeated_id))} RunRequest(s) over "
                      f"{len(run_keys_per_tick)} ticks of {limits.max_events_per_tick}")

    assert decode_cursor(cursor) == {0: len(values)}, "the cursor must pass every offset"
    assert not unexplained, f"bad events without a row naming their problem: {unexplained}"
    assert len(rejected) == len(kinds), "only the bad records are invalid (not the repeats or the last)"
    for offset, (kind, raw, _, request_id) in enumerate(kinds):
        row = rejected[offset]
        assert row["request_id"] == request_id, kind
        assert row["raw_size"] == (None if raw is None else len(raw)), kind
        assert IIN not in row["reason"] and BAD_CHECKSUM_IIN not in row["reason"], kind
        if request_id is not None:
            assert store.get(request_id)["status"] == "invalid", kind
    assert rejected[[k[0] for k in kinds].index("5 MB value")]["raw_size"] > FIVE_MB

    # 100 repeats: one run_key (Dagster launches one run per run_key), at most one RunRequest per tick,
    # one row; the final valid event is requested once.
    assert repeated_runs == 1 and per_tick_repeats == 1
    assert all_keys.count(str(repeated_id)) <= -(-REPEATS // limits.max_events_per_tick) + 1
    assert final_requested == 1 and all_keys[-1] == str(final_id)
    assert set(all_keys) == {str(repeated_id), str(final_id)}
    row = store.get(repeated_id)
    assert row["status"] == "received" and row["kafka_offset"] == len(kinds)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM ocr_requests WHERE request_id = :id"),
                            {"id": repeated_id}).scalar()
    assert rows == 1
    assert store.get(final_id)["status"] == "received"

    # A tick large enough for the whole topic (OCR_SENSOR_MAX_EVENTS_PER_TICK), replayed from the start:
    # exactly one RunRequest for the 100 repeats, and nothing recorded twice.
    replay = poll_requests(kafka.settings(), store, '{"0": 0}',
                           SensorLimits(max_events_per_tick=len(values) + 10, time_budget_seconds=30))
    assert [r.run_key for r in replay.run_requests] == [str(repeated_id), str(final_id)]
    assert decode_cursor(replay.cursor) == {0: len(values)}
    assert len(store.invalid_events(topic)) == len(kinds)


# ================================================================================================= files

FILE_TIME_LIMIT_SECONDS = 60.0
FILE_MEMORY_LIMIT_BYTES = int(1.5 * 1024**3)  # RLIMIT_AS of the child: address space, not only RSS
CLI = REPO / ".venv" / "bin" / "ocr-pipeline"
GNU_TIME = Path("/usr/bin/time")


def _limit_child() -> None:  # pragma: no cover - runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (FILE_MEMORY_LIMIT_BYTES, FILE_MEMORY_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def verify_in_child(path: Path, workdir: Path) -> dict[str, Any]:
    """Run ``ocr-pipeline verify`` on ``path`` as a run worker would: its own process, limited memory
    and time. Returns exit status, parsed verdict (or None), wall seconds and peak RSS in MB.

    The peak RSS comes from GNU time, which forks the verifier from its own small process: a child
    forked straight from pytest would report pytest's RSS at fork time as its own maximum.
    """
    applicant = bad_files.APPLICANT
    command = [str(CLI), "verify", str(path), "--iin", applicant.iin, "--last-name", applicant.last_name,
               "--first-name", applicant.first_name, "--second-name", applicant.second_name, "--json"]
    stdout_path, stderr_path, rss_path = workdir / "stdout.json", workdir / "stderr.txt", workdir / "rss.txt"
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M", "-o", str(rss_path), *command]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    started = time.monotonic()
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        child = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, preexec_fn=_limit_child,
                                 start_new_session=True)
    timed_out = False
    try:
        child.wait(timeout=FILE_TIME_LIMIT_SECONDS)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    seconds = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # without GNU time: an upper bound
    if GNU_TIME.exists() and rss_path.exists():
        lines = rss_path.read_text().split()
        peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else peak_kb
    try:
        verdict = json.loads(stdout_path.read_text(encoding="utf-8"))
    except ValueError:
        verdict = None
    return {"exit": child.returncode, "timed_out": timed_out, "verdict": verdict, "seconds": seconds,
            "peak_mb": peak_kb / 1024, "stderr": stderr_path.read_text(errors="replace")[-2000:]}


def _outcome(result: dict[str, Any]) -> str:
    verdict = result["verdict"]
    if result["timed_out"]:
        return "TIMEOUT"
    if result["exit"] != 0 or not isinstance(verdict, dict):
        return f"CRASH (exit {result['exit']})"
    codes = [e["code"] for e in verdict.get("errors", [])]
    return ",".join(codes) if codes else ("verdict true" if verdict.get("verdict") else "verdict false")


@pytest.fixture(scope="module")
def file_results():
    """Per-kind results, summed into one fault-table row when the module's file tests are done."""
    results: dict[str, dict[str, Any]] = {}
    yield results
    if not results:
        return
    lost = sum(1 for r in results.values() if not r["as_expected"])
    crashed = sum(1 for r in results.values() if r["timed_out"] or r["exit"] != 0 or r["verdict"] is None)
    max_seconds = max(r["seconds"] for r in results.values())
    max_mb = max(r["peak_mb"] for r in results.values())
    record_fault(f"bad files ({len(results)} kinds)", len(results), lost=lost, crashed=crashed,
                 note=f"max {max_seconds:.1f} s, max {max_mb:.0f} MB peak RSS (limits "
                      f"{FILE_TIME_LIMIT_SECONDS:.0f} s, {FILE_MEMORY_LIMIT_BYTES / 2**30:.1f} GiB address space)")
    lines = ["| File kind | Outcome | Seconds | Peak MB |", "|---|---|---:|---:|"]
    lines += [f"| {kind} | {r['outcome']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} |" for kind, r in results.items()]
    table = "\n".join(lines)
    print("\n" + table)
    report = os.environ.get("OCR_FAULT_REPORT")
    if report:
        Path(report).with_name("bad-files.md").write_text(table + "\n", encoding="utf-8")


CATALOGUE = bad_files.catalogue()


def test_catalogue_covers_the_issue():
    kinds = {f.kind for f in CATALOGUE}
    assert len(kinds) == len(CATALOGUE) >= 20
    for needed in ("zero bytes", "truncated JPEG", "truncated PNG", "truncated PDF", "PNG bomb 50000x50000",
                   "PDF 1,000 pages", "encrypted PDF", "PDF with JavaScript", "multi-page TIFF", "CMYK JPEG",
                   "16-bit PNG", "animated GIF", "SVG", "HTML", "ELF executable renamed .pdf", "100 MB file"):
        assert needed in kinds


@pytest.mark.parametrize("bad", CATALOGUE, ids=[f.kind for f in CATALOGUE])
def test_bad_file_ends_in_a_verdict_within_limits(bad, tmp_path, file_results):
    path = tmp_path / bad.filename
    bad.write(path)
    result = verify_in_child(path, tmp_path)
    if bad.kind == "100 MB file":
        assert path.stat().st_size == bad_files.HUNDRED_MB
    if bad.kind == "PNG bomb 50000x50000":
        assert path.stat().st_size < 1000
    verdict = result["verdict"] or {}
    codes = [e["code"] for e in verdict.get("errors", [])]
    if bad.expected is bad_files.NORMAL_VERDICT:
        as_expected = not codes and verdict.get("verdict") is bad.accepted
    else:
        as_expected = codes == [bad.expected.value] and verdict.get("verdict") is False
    result.update(outcome=_outcome(result), as_expected=as_expected)
    file_results[bad.kind] = result

    assert not result["timed_out"], f"{bad.kind}: no verdict within {FILE_TIME_LIMIT_SECONDS} s"
    assert result["exit"] == 0, f"{bad.kind}: the worker died (exit {result['exit']}): {result['stderr']}"
    assert result["verdict"] is not None, f"{bad.kind}: no JSON verdict: {result['stderr']}"
    assert as_expected, f"{bad.kind}: expected {bad.expected or 'an ordinary verdict'}, got {result['outcome']}"
    assert result["peak_mb"] * 2**20 < FILE_MEMORY_LIMIT_BYTES
    if bad.expected is bad_files.NORMAL_VERDICT:
        assert verdict["pages"] >= 1 and verdict["checks"]["name"]["matched"]


# ============================================================ engine fixes found by the file tests

def test_flate_bomb_pdf_is_refused_before_pdfium_inflates_it():
    """Found here: a 1 MB PDF whose page content inflates to 1 GB made pdfium allocate about 2 GB and,
    under a 1.5 GiB limit, abort the worker (SIGABRT). Now refused as FILE_TOO_LARGE, fast."""
    data = bad_files.pdf_flate_bomb()
    assert len(data) < 2 * 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(DocumentError) as caught:
        load_document(data, EngineSettings())
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE and "stream" in caught.value.message
    assert time.perf_counter() - started < 5


def test_stream_limits_let_real_pdfs_through_and_count_exactly():
    settings = EngineSettings()
    for data in (pages.text_pdf([[pages.KNOWN_LINE] * 10]), pages.encode(pages.render_page(), "PDF"),
                 bad_files.scan_pdf_with_javascript(pages.render_page()), pages.blank_pdf(3)):
        check_pdf_streams(data, settings)
    just_under = bad_files.pdf_flate_bomb(PDF_STREAM_LIMIT_BYTES - 16 * 1024 * 1024)
    check_pdf_streams(just_under, settings)
    assert load_document(just_under, settings)[0].image is not None  # a blank page, rendered
    with pytest.raises(DocumentError):
        check_pdf_streams(bad_files.pdf_flate_bomb(PDF_STREAM_LIMIT_BYTES + 16 * 1024 * 1024), settings)


def test_image_streams_get_the_pixel_limit():
    settings = EngineSettings()
    with pytest.raises(DocumentError) as caught:
        check_pdf_streams(bad_files.pdf_image_bomb(), settings)
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE and "image" in caught.value.message
    # a lossless (Flate) 300 DPI A4 colour scan, 26 MB inflated, is an ordinary page
    width, height = 2480, 3508
    scan = bad_files.pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /Im0 5 0 R >> >> >>",
        b"<< /Length 30 >>\nstream\nq 595 0 0 842 0 0 cm /Im0 Do Q\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 "
        b"/Filter /FlateDecode /Length %d >>\nstream\n" % (width, height, 0)
        + zlib.compress(b"\xff" * (width * height * 3)) + b"\nendstream",
    ])
    check_pdf_streams(scan, settings)


def test_run_length_after_flate_is_counted_at_its_worst_ratio():
    inflated = 2 * 1024 * 1024  # x64 = 128 MB, over the 64 MB stream limit
    data = bad_files.pdf_from_objects([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Filter [/FlateDecode /RunLengthDecode] >>\nstream\n"
        + zlib.compress(b"\x81 " * (inflated // 2)) + b"\nendstream",
    ])
    with pytest.raises(DocumentError) as caught:
        check_pdf_streams(data, EngineSettings())
    assert caught.value.code is ErrorCode.FILE_TOO_LARGE


def test_unsupported_format_message_uses_the_right_article():
    with pytest.raises(DocumentError) as caught:
        detect_format(bad_files.elf_executable())
    assert "looks like an ELF executable" in caught.value.message
    with pytest.raises(DocumentError) as caught:
        detect_format(pages.encode(pages.render_page(size=(40, 40)).convert("P"), "GIF"))
    assert "looks like a GIF image" in caught.value.message


# ============================================================ event fix found by the broker test

def test_number_beyond_float_range_is_an_invalid_event():
    """Found here: ``"score": 1e400`` in an extra field parsed to ``inf``; Postgres' JSONB refused the
    row, so every tick failed on that record and the partition was stuck for good."""
    raw = _json(_event(new_request_id()))[:-1] + b', "score": 1e400}'
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert "out of range" in info.value.reason
    assert parse_event(_json(_event(new_request_id()))[:-1] + b', "score": 1.5e300}').extra == {"score": 1.5e300}


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), {"nested": [float("inf")]}])
def test_non_finite_extra_values_are_rejected_from_run_config(value):
    with pytest.raises(InvalidEvent) as info:
        RequestEvent.from_dict(_event(new_request_id(), score=value))
    assert "out of range" in info.value.reason
