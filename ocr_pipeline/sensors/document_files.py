"""Deletes a successful run's intermediate files: the downloaded document and its page texts.

The default (filesystem) IO manager keeps each step's output under ``$DAGSTER_HOME/storage/<run_id>/``
so that a failed run can be re-executed from failure; once a run succeeded they are personal data with
no further use. Failed runs keep theirs until an analyst re-executes them (compute logs are kept).
"""

import logging
import shutil
from pathlib import Path

import dagster as dg

from ..jobs import verify_request_job

log = logging.getLogger(__name__)

DOCUMENT_STEP_KEYS = ("request_verdict.download_document", "request_verdict.read_document")


def delete_document_files(storage_directory: str, run_id: str) -> int:
    """Remove the document-bearing step outputs of one run; returns how many directories went."""
    removed = 0
    for step_key in DOCUMENT_STEP_KEYS:
        path = Path(storage_directory) / run_id / step_key
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


@dg.run_status_sensor(
    name="purge_document_files_sensor",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[verify_request_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Deletes the downloaded document and page texts of each successful verify_request run.",
)
def purge_document_files_sensor(context: dg.RunStatusSensorContext) -> None:
    """Thin wrapper around ``delete_document_files``."""
    delete_document_files(context.instance.storage_directory(), context.dagster_run.run_id)
