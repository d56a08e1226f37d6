"""``prefix_backfill``: historical documents under an S3 prefix, one dynamic partition per prefix.

A partition's run (job ``prefix_backfill_job``) verifies every document under its prefix in batches
inside that run (``ocr_pipeline.flows.backfill.run_prefix_backfill``). There is no partition per request:
a request is a run of ``verify_request``, and millions of partitions would swamp the UI. Prefixes are registered by the
``register_prefix`` job or discovered by ``document_prefix_sensor``.
"""

import dagster as dg

from ..resources.s3 import DocumentBucketResource
from ..resources.verdict_store import VerdictStoreResource

DOCUMENT_PREFIXES = "document_prefixes"

document_prefixes = dg.DynamicPartitionsDefinition(name=DOCUMENT_PREFIXES)


class BackfillConfig(dg.Config):
    """``batch_size``: documents joined to their rows per store query (progress is logged per batch);
    ``workers``: engine processes reading documents at once (0: one per core of the run worker)."""

    batch_size: int = 50
    workers: int = 0


@dg.asset(
    partitions_def=document_prefixes,
    group_name="backfills",
    kinds={"s3", "postgres"},
    description="Verdicts of every document under one S3 prefix (partition key = the prefix, e.g. 2024/12/).",
)
def prefix_backfill(
    context: dg.AssetExecutionContext,
    config: BackfillConfig,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
) -> dg.MaterializeResult:
    """Thin wrapper around ``run_prefix_backfill``; the report becomes the materialization metadata."""
    from ocr_pipeline.flows.backfill import run_prefix_backfill

    report = run_prefix_backfill(
        documents.client(),
        documents.bucket,
        context.partition_key,
        verdict_store.get_store(),
        context.run_id,
        batch_size=config.batch_size,
        workers=config.workers,
        download_attempts=documents.download_attempts,
        preview_prefix=documents.preview_prefix,
        logger=context.log,
    )
    return dg.MaterializeResult(metadata=report_metadata(report))


def report_metadata(report) -> dict:
    """A batch report as Dagster metadata: counts as numbers, breakdowns and lists as JSON."""
    metadata = {}
    for name, value in report.metadata().items():
        if isinstance(value, (dict, list)):
            metadata[name] = dg.MetadataValue.json(value)
        else:
            metadata[name] = value
    return metadata
