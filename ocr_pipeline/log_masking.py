"""IIN masking for log records: every 12-digit number becomes ``9601******23`` before any handler sees it.

The code logs IINs masked already (``mask_iin``); this is the safety net for text it does not control:
exception messages of libraries, uvicorn's error log, and the raw protocol dumps kafka-python writes at
DEBUG (``kafka.protocol.parser`` logs every fetched record, IIN included). A run of exactly 12 digits is
treated as a possible IIN; a UUID's last group (a run id) is left alone.

:func:`install_record_masking` wraps the process's log record factory, so every record of every logger
is masked when it is created, whichever handlers Dagster, Celery or uvicorn attach later. Importing
``ocr_pipeline`` installs it. :class:`MaskIinFilter` does the same as a handler filter.
"""

from __future__ import annotations

import logging
import re
import traceback

from .engine.iin import mask_iin

_UUID_OR_TWELVE_DIGITS = re.compile(
    r"(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?<!\d)(?P<digits>\d{12})(?!\d)"
)


def mask_iins(text: str) -> str:
    """``text`` with every 12-digit number masked (UUIDs untouched)."""
    return _UUID_OR_TWELVE_DIGITS.sub(lambda m: m.group("uuid") or mask_iin(m.group("digits")), text)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render ``record``'s message (and traceback) once, masked; the record is changed in place."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the formatter to report
        return record
    masked = mask_iins(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_iins("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        record.exc_text = mask_iins(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_iins(record.stack_info)
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
