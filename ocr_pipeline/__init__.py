"""ocr_pipeline: verifies that a loan-deferral request's supporting document belongs to the applicant.

The engine (``ocr_pipeline.engine``) is plain Python; the Dagster code location is
``ocr_pipeline.definitions`` (imported lazily so the engine and the CLI stay light).

Importing the package masks IINs in every log record of the process (``log_masking``).
"""

__version__ = "0.1.0"

from .log_masking import install_record_masking as _install_record_masking  # noqa: E402

_install_record_masking()
