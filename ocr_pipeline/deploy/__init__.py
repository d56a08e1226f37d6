"""What ``dagster.yaml`` names: the instance storage and compute logs (``dagster_instance``), the run
launcher (``run_workers``) and the warm Celery run workers (``celery_worker``)."""
