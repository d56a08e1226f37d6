"""ocr_pipeline: verifies that a loan-deferral request's supporting document belongs to the applicant.

The engine (``ocr_pipeline.engine``) is plain Python; the Dagster code location is
``ocr_pipeline.definitions`` (imported lazily so the engine and the CLI stay light).
"""

__version__ = "0.1.0"
