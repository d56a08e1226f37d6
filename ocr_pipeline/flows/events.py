"""The request event on the Kafka topic: parsing and validation (the contract with the mobile app's producer).

An event is a JSON object::

    {"request_id": 1234567, "s3_path": "2024/12/Приказ - Жармағанбетова.pdf", "iin": "960125400123",
     "last_name": "Иванова", "first_name": "Мария", "second_name": "Петровна", ...extra fields}

Rules (anything else raises :class:`InvalidEvent`):

- ``request_id``: a JSON integer, 1 … 2**63-1 (a BIGINT). Strings of digits, floats (even ``5.0``)
  and booleans are rejected: the contract says integer, and guessing would hide a producer bug.
- ``s3_path``: the object key, any Unicode; not empty, at most 1024 bytes of UTF-8 (S3's limit), no URL
  (``s3://…``, ``https://…``), no leading ``/``, no ``.`` or ``..`` segments, no control characters
  (NUL, newlines, tabs, …) or bidirectional overrides.
- ``iin``: a string of 12 ASCII digits with a valid checksum (:func:`ocr_pipeline.engine.iin.is_valid_iin`);
  a JSON number is rejected (it would lose leading zeros).
- ``last_name``, ``first_name``: required strings; ``second_name`` (patronymic) may be empty, null or
  absent (many people have none). Surrounding whitespace is stripped; each name must contain a letter,
  be at most 200 characters and hold no control characters.
- Unknown extra fields are kept in ``extra`` (and written back by :meth:`RequestEvent.to_dict`), nested
  at most ``MAX_EXTRA_DEPTH`` (32) levels.
- The message: at most ``max_bytes`` bytes, UTF-8 (a leading BOM is tolerated), one JSON object,
  no duplicate keys at any level, no ``NaN``/``Infinity``, no number literal beyond the float range
  (``1e400`` would become ``inf``, which Postgres' JSONB refuses: one such event failed every tick).

Reasons never contain a full IIN (it is masked) nor the names.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

from ocr_pipeline.engine.iin import has_valid_checksum, is_valid_iin, mask_iin
from ocr_pipeline.engine.models import Applicant

MAX_EVENT_BYTES = 64 * 1024
MAX_REQUEST_ID = 2**63 - 1
MAX_S3_KEY_BYTES = 1024
MAX_NAME_CHARS = 200
MAX_EXTRA_DEPTH = 32  # arrays/objects inside the extra fields

REQUIRED_FIELDS = ("request_id", "s3_path", "iin", "last_name", "first_name")
KNOWN_FIELDS = REQUIRED_FIELDS + ("second_name",)

_IIN_FORMAT = re.compile(r"[0-9]{12}", re.ASCII)
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class InvalidEvent(ValueError):
    """An event that cannot become a run. ``reason`` is safe to log and store (no full IIN, no names);
    ``request_id`` is set when the message carried a valid one; ``field`` names the offending field."""

    def __init__(self, reason: str, request_id: Optional[int] = None, field: Optional[str] = None):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id
        self.field = field


@dataclass(frozen=True)
class RequestEvent:
    """A valid request event; ``extra`` holds the fields the contract does not name."""

    request_id: int
    s3_path: str
    iin: str
    last_name: str
    first_name: str
    second_name: str = ""
    extra: dict = field(default_factory=dict)

    def applicant(self) -> Applicant:
        """The applicant the document must belong to."""
        return Applicant(iin=self.iin, last_name=self.last_name, first_name=self.first_name,
                         second_name=self.second_name)

    def contract_fields(self) -> dict[str, Any]:
        """The contract's fields only (no extra): the run config of a verification, a row's columns."""
        return {"request_id": self.request_id, "s3_path": self.s3_path, "iin": self.iin,
                "last_name": self.last_name, "first_name": self.first_name,
                "second_name": self.second_name or ""}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: the contract's fields plus the extra fields under their own names."""
        data = dict(self.extra)
        data.update(self.contract_fields())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RequestEvent":
        """Build and validate an event from its :meth:`to_dict` form (e.g. run config).

        Raises :class:`InvalidEvent`; ``RequestEvent.from_dict(e.to_dict()) == e``.
        """
        if not isinstance(data, Mapping):
            raise InvalidEvent(f"event must be a JSON object, got {_json_type(data)}")
        return validate_event_object(dict(data))

    def masked(self) -> dict[str, Any]:
        """A loggable view: see :func:`mask_event_for_log`."""
        return mask_event_for_log(self)


def parse_event(raw: Union[bytes, bytearray, memoryview, str, None],
                max_bytes: int = MAX_EVENT_BYTES) -> RequestEvent:
    """Parse one Kafka message value into a :class:`RequestEvent`, or raise :class:`InvalidEvent`."""
    if raw is None:
        raise InvalidEvent("empty message (null value)")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="surrogatepass")
    raw = bytes(raw)
    if len(raw) > max_bytes:
        raise InvalidEvent(f"message too large: {len(raw)} bytes > limit {max_bytes}")
    if not raw.strip():
        raise InvalidEvent("empty message")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"message is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant,
                          parse_float=_finite_float)
    except _DuplicateKey as exc:
        raise InvalidEvent(f"duplicate JSON key {exc.key!r}") from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"message is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(f"message is not usable JSON: {type(exc).__name__}: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"event must be a JSON object, got {_json_type(data)}")
    return validate_event_object(data)


def validate_event_object(data: dict[str, Any]) -> RequestEvent:
    """Validate a decoded JSON object against the event contract; raises :class:`InvalidEvent`."""
    request_id = _extract_request_id(data)

    def invalid(reason: str, name: Optional[str] = None) -> InvalidEvent:
        return InvalidEvent(reason, request_id=request_id, field=name)

    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise invalid(f"missing field(s): {', '.join(missing)}", missing[0])
    nulls = [name for name in REQUIRED_FIELDS if data[name] is None]
    if nulls:
        raise invalid(f"null field(s): {', '.join(nulls)}", nulls[0])

    problem = _request_id_problem(data["request_id"])
    if problem:
        raise invalid(problem, "request_id")

    s3_path = data["s3_path"]
    problem = _s3_path_problem(s3_path)
    if problem:
        raise invalid(problem, "s3_path")

    iin = data["iin"]
    problem = _iin_problem(iin)
    if problem:
        raise invalid(problem, "iin")

    names = {}
    for name in ("last_name", "first_name", "second_name"):
        value = data.get(name)
        if name == "second_name" and value is None:
            value = ""
        problem = _name_problem(name, value, required=name != "second_name")
        if problem:
            raise invalid(problem, name)
        names[name] = value.strip()

    extra = {k: v for k, v in data.items() if k not in KNOWN_FIELDS}
    problem = _extra_problem(extra)
    if problem:
        raise invalid(problem)
    return RequestEvent(request_id=request_id, s3_path=s3_path, iin=iin, extra=extra, **names)


def mask_event_for_log(event: Union[RequestEvent, Mapping[str, Any]]) -> dict[str, Any]:
    """The event with the IIN masked, names cut to initials and extra values hidden (keys kept)."""
    data = event.to_dict() if isinstance(event, RequestEvent) else dict(event)
    masked: dict[str, Any] = {}
    for key, value in data.items():
        if key == "iin":
            masked[key] = mask_iin(value) if isinstance(value, str) else "<not a string>"
        elif key in ("last_name", "first_name", "second_name"):
            masked[key] = (value.strip()[:1] + "." if value.strip() else "") if isinstance(value, str) else "<?>"
        elif key in ("request_id", "s3_path"):
            masked[key] = value
        else:
            masked[key] = "…"
    return masked


# ------------------------------------------------------------------------------------------ helpers

class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key[:80])
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:40]} is out of range")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_request_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_REQUEST_ID


def _extract_request_id(data: Mapping[str, Any]) -> Optional[int]:
    value = data.get("request_id")
    return value if _is_request_id(value) else None


def _request_id_problem(value: Any) -> Optional[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " (a string of digits is not accepted: the contract says integer)" if isinstance(value, str) else ""
        return f"request_id must be an integer, got {_json_type(value)}{hint}"
    if value <= 0:
        return f"request_id must be positive, got {value}"
    if value > MAX_REQUEST_ID:
        return "request_id exceeds 2**63-1"
    return None


def _bad_characters(value: str) -> Optional[str]:
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            return f"control character U+{ord(ch):04X}"
        if ch in _BIDI_CONTROLS:
            return f"bidirectional control character U+{ord(ch):04X}"
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return f"lone surrogate U+{ord(ch):04X}"
    return None


def _s3_path_problem(value: Any) -> Optional[str]:
    if not isinstance(value, str):
        return f"s3_path must be a string, got {_json_type(value)}"
    if not value.strip():
        return "s3_path is empty"
    bad = _bad_characters(value)
    if bad:
        return f"s3_path contains a {bad}"
    size = len(value.encode("utf-8"))
    if size > MAX_S3_KEY_BYTES:
        return f"s3_path too long: {size} bytes of UTF-8 > {MAX_S3_KEY_BYTES}"
    if _URL_SCHEME.match(value):
        return "s3_path must be an object key, not a URL"
    if value.startswith("/"):
        return "s3_path must be a relative object key, not an absolute path"
    if any(segment in (".", "..") for segment in value.split("/")):
        return "s3_path must not contain '.' or '..' segments"
    return None


def _extra_problem(value: Any, depth: int = 0) -> Optional[str]:
    """Extra fields are stored as JSON in Postgres, which refuses NUL and lone surrogates; nesting is
    bounded, or writing and reading the value back runs out of stack (``RecursionError``)."""
    if depth > MAX_EXTRA_DEPTH:
        return f"an extra field is nested deeper than {MAX_EXTRA_DEPTH} levels"
    if isinstance(value, str):
        if "\x00" in value:
            return "an extra field contains a NUL character"
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            return "an extra field contains a lone surrogate"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "an extra field holds a number out of range (NaN or infinite)"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _extra_problem(key, depth + 1) or _extra_problem(item, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _extra_problem(item, depth + 1)
            if problem:
                return problem
    return None


def _iin_problem(value: Any) -> Optional[str]:
    if not isinstance(value, str):
        return f"iin must be a string of 12 digits, got {_json_type(value)}"
    if not _IIN_FORMAT.fullmatch(value):
        shape = "not all ASCII digits" if len(value) == 12 else f"{len(value)} characters"
        return f"iin must be 12 ASCII digits, got {shape}"
    if not has_valid_checksum(value):
        return f"iin {mask_iin(value)} fails the checksum"
    if not is_valid_iin(value):
        return f"iin {mask_iin(value)} is not a personal IIN (BIN, or impossible date/century digit)"
    return None


def _name_problem(name: str, value: Any, required: bool) -> Optional[str]:
    if not isinstance(value, str):
        return f"{name} must be a string, got {_json_type(value)}"
    stripped = value.strip()
    if not stripped:
        return f"{name} is empty" if required else None
    if len(stripped) > MAX_NAME_CHARS:
        return f"{name} too long: {len(stripped)} characters > {MAX_NAME_CHARS}"
    bad = _bad_characters(stripped)
    if bad:
        return f"{name} contains a {bad}"
    if not any(ch.isalpha() for ch in stripped):
        return f"{name} contains no letter"
    return None
