"""Discovers new S3 prefixes (folders) and adds them as partitions of ``prefix_backfill``.

Depth ``OCR_PREFIX_SENSOR_DEPTH`` (default 2: ``2024/12/``). Stopped by default: analysts switch it on
in the UI, or register prefixes one by one with the ``register_prefix`` job.
"""

import os
from typing import Any

import dagster as dg

from ..assets.prefix_backfill import DOCUMENT_PREFIXES, document_prefixes
from ..resources.s3 import DocumentBucketResource


def list_prefixes(client: Any, bucket: str, depth: int) -> list[str]:
    """The "folders" ``depth`` levels down (ListObjectsV2 with a ``/`` delimiter, paginated)."""
    level = [""]
    for _ in range(max(1, depth)):
        deeper: list[str] = []
        for parent in level:
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=parent, Delimiter="/"):
                deeper.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
        level = deeper
    return sorted(level)


@dg.sensor(
    name="document_prefix_sensor",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds new S3 prefixes of the document bucket as prefix_backfill partitions.",
)
def document_prefix_sensor(
    context: dg.SensorEvaluationContext, documents: DocumentBucketResource
) -> "dg.SensorResult | dg.SkipReason":
    """Thin wrapper around ``list_prefixes``: partitions only, no runs (analysts start backfills)."""
    depth = int(os.environ.get("OCR_PREFIX_SENSOR_DEPTH", "2") or 2)
    known = set(context.instance.get_dynamic_partitions(DOCUMENT_PREFIXES))
    new = [p for p in list_prefixes(documents.client(), documents.bucket, depth) if p not in known]
    if not new:
        return dg.SkipReason("no new prefixes")
    context.log.info("new prefixes: %s", ", ".join(new))
    return dg.SensorResult(dynamic_partitions_requests=[document_prefixes.build_add_request(new)])
