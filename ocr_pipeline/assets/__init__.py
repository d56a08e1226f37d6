"""Assets of the code location."""

from .daily_summary import daily_verdict_summary
from .prefix_backfill import prefix_backfill
from .request_verdict import request_verdict

__all__ = ["daily_verdict_summary", "prefix_backfill", "request_verdict"]
