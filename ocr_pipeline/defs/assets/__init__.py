"""Assets of the code location. ``request_verdict`` has two shapes (``OCR_REQUEST_STAGES``): its stages as
ops (the default) or one op; both materialise the same asset with the same rows."""

from ocr_pipeline.adapters.config import OCR_REQUEST_STAGES

from .daily_summary import daily_verdict_summary
from .prefix_backfill import prefix_backfill

if OCR_REQUEST_STAGES.get() == "one-step":
    from .request_verdict_one_step import request_verdict_one_step as request_verdict
else:
    from .request_verdict import request_verdict

__all__ = ["daily_verdict_summary", "prefix_backfill", "request_verdict"]
