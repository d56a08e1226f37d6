"""The code location's entry point (``workspace.yaml``, ``dagster code-server -m``): ``ocr_pipeline.definitions:defs``.

The definitions themselves are in :mod:`ocr_pipeline.defs.definitions`."""

from .defs.definitions import defs

__all__ = ["defs"]
