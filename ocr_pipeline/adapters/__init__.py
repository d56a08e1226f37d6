"""Adapters to the systems outside the process: Postgres (``store``), S3 (``s3``), Kafka (``kafka``,
``results``), TLS files (``tls``) and log masking (``log_masking``). No Dagster here."""
