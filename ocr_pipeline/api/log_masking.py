"""A logging filter that masks IINs in every record it passes, tracebacks included.

The code logs IINs masked already (``mask_iin``); this is the safety net for text it does not
control: exception messages of libraries, uvicorn's error log. Any run of exactly 12 digits is
treated as a possible IIN: ``960125400123`` -> ``9601******23``.
"""

from __future__ import annotations

import logging
import re
import traceback

from ..engine.iin import mask_iin

_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")


def mask_iins(text: str) -> str:
    """``text`` with every 12-digit number masked."""
    return _TWELVE_DIGITS.sub(lambda m: mask_iin(m.group()), text)


class MaskIinFilter(logging.Filter):
    """Renders the record's message (and traceback) once, masks it, and passes the record on."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        masked = mask_iins(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_iins("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = mask_iins(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_iins(record.stack_info)
        return True


def install_iin_masking(logger: logging.Logger | None = None) -> None:
    """Add :class:`MaskIinFilter` to every handler of ``logger`` (default: the root logger)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, MaskIinFilter) for f in handler.filters):
            handler.addFilter(MaskIinFilter())
