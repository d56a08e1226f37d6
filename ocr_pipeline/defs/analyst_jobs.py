"""Jobs analysts launch from the launchpad: register an S3 prefix for backfills; re-check requests."""

import dagster as dg

from .assets.daily_summary import daily_verdict_summary
from .assets.prefix_backfill import DOCUMENT_PREFIXES, prefix_backfill, report_metadata
from .names import (
    DAILY_SUMMARY_JOB,
    DAILY_SUMMARY_SCHEDULE,
    PREFIX_BACKFILL_JOB,
    RECHECK_REQUESTS_JOB,
    REGISTER_PREFIX_JOB,
)
from .resources.s3 import DocumentBucketResource
from .resources.verdict_store import VerdictStoreResource


def normalise_prefix(prefix: str) -> str:
    """``"/2024/12"`` -> ``"2024/12/"``; an empty prefix (the whole bucket) is refused."""
    cleaned = prefix.strip().lstrip("/")
    if not cleaned:
        raise ValueError("the prefix is empty: name a folder such as 2024/12/")
    return cleaned if cleaned.endswith("/") else cleaned + "/"


class PrefixConfig(dg.Config):
    """The S3 prefix (folder) to register as a partition of ``prefix_backfill``, e.g. ``2024/12/``."""

    prefix: str


@dg.op(description="Add the prefix as a partition of prefix_backfill (then backfill it from the asset's page).")
def add_prefix_partition(
    context: dg.OpExecutionContext, config: PrefixConfig, documents: DocumentBucketResource
) -> str:
    prefix = normalise_prefix(config.prefix)
    found = documents.client().list_objects_v2(Bucket=documents.bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0)
    if not found:
        context.log.warning("no object under s3://%s/%s yet; registering it anyway", documents.bucket, prefix)
    if context.instance.has_dynamic_partition(DOCUMENT_PREFIXES, prefix):
        context.log.info("prefix %r is already registered", prefix)
    else:
        context.instance.add_dynamic_partitions(DOCUMENT_PREFIXES, [prefix])
        context.log.info("prefix %r registered", prefix)
    return prefix


@dg.job(name=REGISTER_PREFIX_JOB, executor_def=dg.in_process_executor,
        description="Register an S3 prefix as a partition of prefix_backfill (config: prefix).")
def register_prefix_job():
    add_prefix_partition()


class RecheckConfig(dg.Config):
    """The requests to verify again from their stored events, e.g. ``request_ids: [1001, 1002]``."""

    request_ids: list[int]


@dg.op(description="Re-verify the requests from their stored events; each is a new attempt on its row.")
def recheck(
    context: dg.OpExecutionContext,
    config: RecheckConfig,
    documents: DocumentBucketResource,
    verdict_store: VerdictStoreResource,
) -> dg.Output:
    from ..flows.recheck import recheck_requests

    report = recheck_requests(
        documents.client(), documents.bucket, verdict_store.get_store(), list(config.request_ids),
        context.run_id, download_attempts=documents.download_attempts,
        preview_prefix=documents.preview_prefix, logger=context.log,
    )
    metadata = report_metadata(report)
    if report.unmatched or report.failed:
        raise dg.Failure(
            description=f"{len(report.unmatched)} request(s) without a stored event, "
            f"{len(report.failed)} failed; the others were re-checked",
            metadata=metadata,
        )
    return dg.Output(report.requests_written, metadata=metadata)


@dg.job(name=RECHECK_REQUESTS_JOB, executor_def=dg.in_process_executor,
        description="Verify the given request_ids again from their stored events (config: request_ids).")
def recheck_requests_job():
    recheck()


prefix_backfill_job = dg.define_asset_job(
    PREFIX_BACKFILL_JOB,
    selection=[prefix_backfill],
    executor_def=dg.in_process_executor,
    description="Verify every document under one S3 prefix (a partition of prefix_backfill).",
)


daily_summary_job = dg.define_asset_job(
    DAILY_SUMMARY_JOB,
    selection=[daily_verdict_summary],
    executor_def=dg.in_process_executor,
    description="Summarise one day of requests (a partition of daily_verdict_summary).",
)

daily_summary_schedule = dg.build_schedule_from_partitioned_job(
    daily_summary_job,
    name=DAILY_SUMMARY_SCHEDULE,
    hour_of_day=0,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Summarises the previous UTC day at 00:30.",
)
