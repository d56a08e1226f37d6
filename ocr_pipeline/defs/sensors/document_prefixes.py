"""Discovers new S3 prefixes (folders) and adds them as partitions of ``prefix_backfill``.

Depth ``OCR_PREFIX_SENSOR_DEPTH`` (default 2: ``2024/12/``). The preview prefix (``OCR_PREVIEW_PREFIX``)
and everything under it is never offered: it holds the pipeline's own previews, not documents. Stopped
by default: analysts switch it on in the UI, or register prefixes one by one with the ``register_prefix`` job.
"""

from typing import Any

import dagster as dg

from ocr_pipeline.adapters import config

from ..assets.prefix_backfill import DOCUMENT_PREFIXES, document_prefixes
from ..names import DOCUMENT_PREFIX_SENSOR
from ..resources.s3 import DocumentBucketResource


def list_prefixes(client: Any, bucket: str, depth: int, exclude: str = "") -> list[str]:
    """The "folders" ``depth`` levels down (ListObjectsV2 with a ``/`` delimiter, paginated), without
    ``exclude`` (a folder such as ``_previews/``) and anything under it."""
    excluded = exclude.strip("/") + "/" if exclude.strip("/") else None
    level = [""]
    for _ in range(max(1, depth)):
        deeper: list[str] = []
        for parent in level:
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=parent, Delimiter="/"):
                deeper.extend(item["Prefix"] for item in page.get("CommonPrefixes", [])
                              if excluded is None or not item["Prefix"].startswith(excluded))
        level = deeper
    return sorted(level)


@dg.sensor(
    name=DOCUMENT_PREFIX_SENSOR,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adds new S3 prefixes of the document bucket as prefix_backfill partitions.",
)
def document_prefix_sensor(
    context: dg.SensorEvaluationContext, documents: DocumentBucketResource
) -> "dg.SensorResult | dg.SkipReason":
    """Thin wrapper around ``list_prefixes``: partitions only, no runs (analysts start backfills)."""
    depth = config.OCR_PREFIX_SENSOR_DEPTH.get()
    known = set(context.instance.get_dynamic_partitions(DOCUMENT_PREFIXES))
    listed = list_prefixes(documents.client(), documents.bucket, depth, exclude=documents.preview_prefix)
    new = [p for p in listed if p not in known]
    if not new:
        return dg.SkipReason("no new prefixes")
    context.log.info("new prefixes: %s", ", ".join(new))
    return dg.SensorResult(dynamic_partitions_requests=[document_prefixes.build_add_request(new)])
