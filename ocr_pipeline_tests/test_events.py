"""The event contract: valid events (Unicode, extras) parse; every kind of invalid event is rejected."""

from __future__ import annotations

import json

import pytest

from ocr_pipeline.engine.iin import checksum_digit
from ocr_pipeline.engine.models import Applicant
from ocr_pipeline.flows.events import InvalidEvent, RequestEvent, mask_event_for_log, parse_event

pytestmark = pytest.mark.unit


def _iin(first11: str) -> str:
    return first11 + str(checksum_digit(first11))


IIN = _iin("96012540012")          # female, born 1996-01-25
BIN = _iin("04054000012")          # 5th digit 4: a legal entity
BAD_CHECKSUM = IIN[:-1] + str((int(IIN[-1]) + 1) % 10)


def event(**changes) -> dict:
    base = {
        "request_id": 1234567,
        "s3_path": "2024/12/Приказ о выходе в декретный отпуск - Жармағанбетова.pdf",
        "iin": IIN,
        "last_name": "Жармағанбетова",
        "first_name": "Әйгерім",
        "second_name": "Серікқызы",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def raw(data) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates travel as \uXXXX escapes
        return json.dumps(data).encode("ascii")


# ------------------------------------------------------------------------------------------- valid

def test_valid_event_with_kazakh_names_and_unicode_key():
    parsed = parse_event(raw(event()))
    assert parsed.request_id == 1234567
    assert parsed.s3_path.endswith("Жармағанбетова.pdf")
    assert parsed.applicant() == Applicant(IIN, "Жармағанбетова", "Әйгерім", "Серікқызы")
    assert parsed.extra == {}


def test_extra_fields_are_kept_and_written_back():
    data = event(channel="mobile", **{"дата_заявки": "2024-12-04", "meta": {"v": [1, 2]}})
    parsed = parse_event(raw(data))
    assert parsed.extra == {"channel": "mobile", "дата_заявки": "2024-12-04", "meta": {"v": [1, 2]}}
    assert parsed.to_dict() == data
    assert json.loads(json.dumps(parsed.to_dict())) == data
    assert RequestEvent.from_dict(parsed.to_dict()) == parsed


@pytest.mark.parametrize("second_name", ["", None, _DROP, "   "])
def test_patronymic_may_be_empty_null_or_absent(second_name):
    parsed = parse_event(raw(event(second_name=second_name)))
    assert parsed.second_name == ""


def test_names_are_stripped_and_russian_names_pass():
    parsed = parse_event(raw(event(last_name="  Иванова ", first_name="Мария\u00a0", second_name="Петровна")))
    assert (parsed.last_name, parsed.first_name, parsed.second_name) == ("Иванова", "Мария", "Петровна")


def test_hyphenated_and_latin_names_and_ascii_escaped_json():
    data = event(last_name="Smith-Жанұзақова", first_name="O'Neil")
    parsed = parse_event(json.dumps(data).encode("ascii"))  # \uXXXX escapes
    assert parsed.last_name == "Smith-Жанұзақова"


def test_key_with_spaces_and_nested_folders_and_bom():
    data = event(s3_path="docs/ 2024 /Справка с места работы (копия).JPG")
    parsed = parse_event(b"\xef\xbb\xbf" + raw(data))
    assert parsed.s3_path == "docs/ 2024 /Справка с места работы (копия).JPG"


def test_largest_request_id_and_str_input():
    parsed = parse_event(json.dumps(event(request_id=2**63 - 1)))
    assert parsed.request_id == 2**63 - 1


def test_from_dict_validates():
    with pytest.raises(InvalidEvent):
        RequestEvent.from_dict(event(iin="123"))
    with pytest.raises(InvalidEvent):
        RequestEvent.from_dict(["not", "a", "dict"])


def test_masking_hides_iin_and_names():
    parsed = parse_event(raw(event(phone="+77011234567")))
    masked = mask_event_for_log(parsed)
    text = json.dumps(masked, ensure_ascii=False)
    assert IIN not in text and "Жармағанбетова\"" not in text and "+7701" not in text
    assert masked["iin"] == IIN[:4] + "******" + IIN[-2:]
    assert masked["request_id"] == 1234567 and masked["last_name"] == "Ж."
    assert mask_event_for_log({"iin": 5})["iin"] == "<not a string>"


# ----------------------------------------------------------------------------------------- invalid

LONG_KEY = "папка/" + "ә" * 600  # 1211 bytes of UTF-8

INVALID_MESSAGES = {
    "null value": None,
    "empty bytes": b"",
    "whitespace only": b"  \n\t ",
    "too large": b'{"request_id": 1, "pad": "' + b"x" * (64 * 1024) + b'"}',
    "not utf-8": raw(event()).replace("Ж".encode(), b"\xc6", 1),
    "cp1251 encoded": json.dumps(
        event(last_name="Иванова", first_name="Мария", second_name="", s3_path="Приказ.pdf"), ensure_ascii=False
    ).encode("cp1251"),
    "not json": b"request_id=1&iin=2",
    "truncated json": raw(event())[:-5],
    "trailing garbage": raw(event()) + b" {}",
    "json array": b"[1, 2, 3]",
    "json string": b'"hello"',
    "json number": b"42",
    "json null": b"null",
    "NaN constant": raw(event()).replace(b'"request_id": 1234567', b'"request_id": NaN'),
    "duplicate key": b'{"request_id": 1, "request_id": 2, "s3_path": "a", "iin": "%s", '
                     b'"last_name": "A", "first_name": "B"}' % IIN.encode(),
    "duplicate nested key": raw(event(meta={"a": 1})).replace(b'{"a": 1}', b'{"a": 1, "a": 2}'),
    "huge integer literal": raw(event()).replace(b"1234567", b"9" * 5000),
    "deep nesting": raw(event()).replace(b'"request_id"', b'"x": ' + b"[" * 100000 + b"]" * 100000
                                         + b', "request_id"'),
}

INVALID_EVENTS = {
    "missing request_id": event(request_id=_DROP),
    "missing s3_path": event(s3_path=_DROP),
    "missing iin": event(iin=_DROP),
    "missing last_name": event(last_name=_DROP),
    "missing first_name": event(first_name=_DROP),
    "null iin": event(iin=None),
    "null request_id": event(request_id=None),
    "request_id string of digits": event(request_id="1234567"),
    "request_id float": event(request_id=1234567.0),
    "request_id bool": event(request_id=True),
    "request_id zero": event(request_id=0),
    "request_id negative": event(request_id=-5),
    "request_id over bigint": event(request_id=2**63),
    "request_id object": event(request_id={"id": 1}),
    "s3_path number": event(s3_path=12345),
    "s3_path empty": event(s3_path=""),
    "s3_path blank": event(s3_path="   "),
    "s3_path s3 url": event(s3_path="s3://bucket/file.pdf"),
    "s3_path https url": event(s3_path="https://s3-dev.example/bucket/file.pdf"),
    "s3_path absolute": event(s3_path="/etc/passwd"),
    "s3_path dotdot": event(s3_path="docs/../../secret.pdf"),
    "s3_path dot segment": event(s3_path="docs/./file.pdf"),
    "s3_path NUL": event(s3_path="docs/file\x00.pdf"),
    "s3_path newline": event(s3_path="docs/file\n.pdf"),
    "s3_path bidi override": event(s3_path="docs/invoice\u202efdp.exe"),
    "s3_path too long": event(s3_path=LONG_KEY),
    "s3_path lone surrogate": event(s3_path="docs/\ud800.pdf"),
    "iin number": event(iin=960125400123),
    "iin 11 digits": event(iin=IIN[:11]),
    "iin 13 digits": event(iin=IIN + "1"),
    "iin with letters": event(iin=IIN[:6] + "ABCDEF"),
    "iin with spaces": event(iin=IIN[:6] + " " + IIN[6:11]),
    "iin arabic-indic digits": event(iin="٩٦٠١٢٥٤٠٠١٢٣"),
    "iin bad checksum": event(iin=BAD_CHECKSUM),
    "iin is a BIN": event(iin=BIN),
    "iin all zeros": event(iin="000000000000"),
    "last_name empty": event(last_name=""),
    "first_name blank": event(first_name="  \t "),
    "last_name digits only": event(last_name="123456"),
    "first_name punctuation only": event(first_name="--"),
    "last_name too long": event(last_name="А" * 201),
    "first_name control char": event(first_name="Мар\x07ия"),
    "second_name number": event(second_name=5),
    "last_name list": event(last_name=["Иванова"]),
    "extra with NUL": event(note="a\x00b"),
}


@pytest.mark.parametrize("message", list(INVALID_MESSAGES.values()), ids=list(INVALID_MESSAGES))
def test_invalid_messages_are_rejected(message):
    with pytest.raises(InvalidEvent) as info:
        parse_event(message)
    assert info.value.reason
    assert IIN not in info.value.reason


@pytest.mark.parametrize("data", list(INVALID_EVENTS.values()), ids=list(INVALID_EVENTS))
def test_invalid_events_are_rejected(data):
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw(data))
    error = info.value
    assert isinstance(error, ValueError)
    assert error.reason and str(error) == error.reason
    assert IIN not in error.reason and BAD_CHECKSUM not in error.reason
    assert "Жармағанбетова\"" not in error.reason
    valid_id = data.get("request_id")
    if isinstance(valid_id, int) and not isinstance(valid_id, bool) and 0 < valid_id < 2**63:
        assert error.request_id == valid_id
    else:
        assert error.request_id is None


def test_at_least_thirty_kinds_of_invalid_event():
    assert len(INVALID_MESSAGES) + len(INVALID_EVENTS) >= 30


@pytest.mark.parametrize("data, field, words", [
    (event(request_id="1234567"), "request_id", "string of digits is not accepted"),
    (event(iin=BAD_CHECKSUM), "iin", "fails the checksum"),
    (event(iin=BIN), "iin", "not a personal IIN"),
    (event(s3_path="docs/../x.pdf"), "s3_path", "'..'"),
    (event(last_name=_DROP, first_name=_DROP), "last_name", "missing field(s): last_name, first_name"),
    (event(s3_path=LONG_KEY), "s3_path", "1211 bytes"),
])
def test_reasons_name_the_field_and_the_problem(data, field, words):
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw(data))
    assert info.value.field == field
    assert words in info.value.reason


def test_bad_checksum_reason_masks_the_iin():
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw(event(iin=BAD_CHECKSUM)))
    assert BAD_CHECKSUM[:4] + "******" + BAD_CHECKSUM[-2:] in info.value.reason


def test_size_limit_is_configurable():
    message = raw(event())
    assert parse_event(message, max_bytes=len(message)).request_id == 1234567
    with pytest.raises(InvalidEvent, match="too large"):
        parse_event(message, max_bytes=len(message) - 1)


def test_extra_fields_are_nested_at_most_32_levels():
    from ocr_pipeline.flows.events import MAX_EXTRA_DEPTH

    def nested(levels: int) -> str:
        return "[" * levels + "]" * levels

    ok = raw(event()).replace(b'"request_id"', b'"x": ' + nested(MAX_EXTRA_DEPTH).encode() + b', "request_id"')
    assert parse_event(ok).extra["x"]
    deep = raw(event()).replace(b'"request_id"', b'"x": ' + nested(MAX_EXTRA_DEPTH + 1).encode() + b', "request_id"')
    with pytest.raises(InvalidEvent, match="nested deeper than 32 levels") as rejected:
        parse_event(deep)
    assert rejected.value.request_id == event()["request_id"]


def test_log_records_mask_name_fields_as_json_reprs_and_raw_kafka_bytes():
    """The log net masks the values of name fields wherever a library prints them: JSON, a dict or a
    dataclass repr, the escaped bytes of a raw Kafka record; text without name fields is untouched."""
    import logging

    from ocr_pipeline.adapters.log_masking import mask_name, mask_record

    assert mask_name("Жармағанбетова Әлия-Серікқызы") == "Ж************* Ә***-С********"
    raw = b'{"request_id": 7, "iin": "960125400123", "last_name": "\xd0\x98\xd0\xb2", "first_name": "Mary"}'
    cases = {
        '{"last_name": "Иванова", "first_name": "Мария"}': '{"last_name": "И******", "first_name": "М****"}',
        "{'second_name': 'Петровна'}": "{'second_name': 'П*******'}",
        "RequestEvent(last_name='Иванова', first_name=\"O'Neil\")": "RequestEvent(last_name='И******', "
                                                                     "first_name=\"O'N***\")",
        f"Recv {raw!r}": 'Recv b\'{"request_id": 7, "iin": "9601******23", "last_name": "***", "first_name": "M***"}\'',
        "file_name='report.pdf' username='x'": "file_name='report.pdf' username='x'",
    }
    for text, expected in cases.items():
        record = logging.LogRecord("kafka", logging.DEBUG, __file__, 1, "%s", (text,), None)
        assert mask_record(record).getMessage() == expected, text
