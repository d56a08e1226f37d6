"""ocr_pipeline: verifies that a loan-deferral request's supporting document belongs to the applicant.

The engine (``ocr_pipeline.engine``) is plain Python; ``adapters`` talk to Postgres, S3 and Kafka;
``flows`` carry a request through them without Dagster; the Dagster code location is ``defs`` (entry
point ``ocr_pipeline.definitions``, imported lazily so the engine and the CLI stay light); ``deploy`` is
what ``dagster.yaml`` names; ``api`` is the HTTP API; ``config`` declares every environment variable.
The README's "Code map" has one line per package.

Importing the package masks IINs in every log record of the process (``adapters.log_masking``).
"""

__version__ = "0.1.0"

from .adapters.log_masking import install_record_masking as _install_record_masking  # noqa: E402

_install_record_masking()
