"""``daily_verdict_summary``: one partition per day, built with pandas from the verdict table."""

import dagster as dg

from .request_verdict import request_verdict

daily_partitions = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")


@dg.asset(
    partitions_def=daily_partitions,
    group_name="reports",
    kinds={"pandas", "postgres"},
    ins={"requests": dg.AssetIn(request_verdict.key, metadata={"load": "table"})},
    description="Requests received that day by status, verdict, error code and document type; processing times.",
)
def daily_verdict_summary(context: dg.AssetExecutionContext, requests) -> dg.MaterializeResult:
    """``requests`` is the day's slice of ``ocr_requests`` (a DataFrame from the Postgres IO manager)."""
    from ocr_pipeline.flows.summary import summarize

    summary = summarize(requests)
    context.log.info("%s: %d requests", context.partition_key, summary["requests"])
    table = dg.TableMetadataValue(
        records=[dg.TableRecord(row) for row in summary["rows"]],
        schema=dg.TableSchema(columns=[
            dg.TableColumn("dimension", "string"), dg.TableColumn("value", "string"),
            dg.TableColumn("requests", "int"),
        ]),
    )
    return dg.MaterializeResult(metadata={
        "day": context.partition_key,
        "requests": summary["requests"],
        "summary": table,
        "median_processing_seconds": summary["median_processing_seconds"],
        "p95_processing_seconds": summary["p95_processing_seconds"],
    })

