"""A request's life in plain Python (no Dagster): the event (``events``), one verification
(``verification``), backfills of S3 prefixes (``backfill``), re-checks (``recheck``), the engine
process pool (``engine_processes``), evidence previews (``preview``) and the daily summary (``summary``)."""
