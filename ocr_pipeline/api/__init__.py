"""The HTTP API (FastAPI): ``/v1/verify``, ``/v1/kafka-verify``, ``/v1/requests/{id}``, ``/health``.

Run it with ``ocr-pipeline serve [--host H] [--port P]``; build it in code with :func:`create_app`.
Configuration: :mod:`ocr_pipeline.api.settings`.
"""

from .app import create_app
from .settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
