"""IIN and name masking for log records: every 12-digit number becomes ``9601******23`` and the value of
every ``last_name``/``first_name``/``second_name`` field ``И******`` before any handler sees it.

The code logs IINs masked already (``mask_iin``); this is the safety net for text it does not control:
exception messages of libraries, uvicorn's error log, and the raw protocol dumps kafka-python writes at
DEBUG (``kafka.protocol.parser`` logs every fetched record, IIN included). A run of exactly 12 digits is
treated as a possible IIN; a UUID's last group (a run id) is left alone. Names cannot be recognised in
free text, so the code never logs them (``mask_event_for_log`` cuts them to initials); the net catches
them where they are fields: JSON (``"first_name": "Мария"``), Python reprs (``'first_name': 'Мария'``,
``first_name='Мария'``), and the escaped bytes of a raw Kafka record that kafka-python dumps at DEBUG.

:func:`install_record_masking` wraps the process's log record factory, so every record of every logger
is masked when it is created, whichever handlers Dagster, Celery or uvicorn attach later. Importing
``ocr_pipeline`` installs it. :class:`MaskIinFilter` does the same as a handler filter.
"""

from __future__ import annotations

import logging
import re
import traceback

from ..engine.iin import mask_iin

_UUID_OR_TWELVE_DIGITS = re.compile(
    r"(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?<!\d)(?P<digits>\d{12})(?!\d)"
)


# a name field and its quoted value: "last_name": "...", 'last_name': '...', last_name='...', last_name="..."
_NAME_FIELD = re.compile(
    r"""(?P<key>(?P<kq>["']?)\b(?:last|first|second)_name(?P=kq)\s*[:=]\s*)"""
    r"""(?P<quote>["'])(?P<value>(?:\\.|(?!(?P=quote))[^\\\n])*)(?P=quote)"""
)
_NAME_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def mask_name(text: str) -> str:
    """A name with each word cut to its first letter and asterisks: ``Иванова Мария`` -> ``И****** М****``."""
    return _NAME_WORD.sub(lambda m: m.group()[0] + "*" * (len(m.group()) - 1), text)


def _masked_name_value(value: str) -> str:
    if "\\" in value:  # escaped bytes or \u escapes: no letter to keep
        return "***"
    return mask_name(value)


def mask_names(text: str) -> str:
    """``text`` with the values of name fields masked (see the module's docstring)."""
    if "_name" not in text:
        return text
    return _NAME_FIELD.sub(
        lambda m: f"{m.group('key')}{m.group('quote')}{_masked_name_value(m.group('value'))}{m.group('quote')}", text
    )


def mask_iins(text: str) -> str:
    """``text`` with every 12-digit number masked (UUIDs untouched)."""
    return _UUID_OR_TWELVE_DIGITS.sub(lambda m: m.group("uuid") or mask_iin(m.group("digits")), text)


def mask_personal_data(text: str) -> str:
    """``text`` with IINs and name fields masked."""
    return mask_names(mask_iins(text))


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render ``record``'s message (and traceback) once, masked; the record is changed in place."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the formatter to report
        return record
    masked = mask_personal_data(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_personal_data("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        record.exc_text = mask_personal_data(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_personal_data(record.stack_info)
    return record


class MaskIinFilter(logging.Filter):
    """A handler filter that masks the records it passes (see :func:`mask_record`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install_iin_masking(logger: logging.Logger | None = None) -> None:
    """Add :class:`MaskIinFilter` to every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskIinFilter) for f in handler.filters):
            handler.addFilter(MaskIinFilter())


def install_record_masking() -> None:
    """Mask every log record of this process when it is created (idempotent).

    Only records a logger actually emits are created, so disabled DEBUG logging costs nothing.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_iins", False):
        return

    def masking_factory(*args, **kwargs) -> logging.LogRecord:
        return mask_record(current(*args, **kwargs))

    masking_factory.masks_iins = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking_factory)
