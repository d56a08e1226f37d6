"""Assets of the code location."""

from .request_verdict import request_verdict

__all__ = ["request_verdict"]
