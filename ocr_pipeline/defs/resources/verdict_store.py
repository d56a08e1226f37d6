"""The verdict store as a Dagster resource, and the IO manager that writes verdicts into it."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import dagster as dg

from ocr_pipeline.adapters import telemetry
from ocr_pipeline.adapters.store import AttemptRefused, VerdictStore
from ocr_pipeline.engine.models import Verdict
from ocr_pipeline.flows.lifecycle import RequestLifecycle

_stores: dict[str, VerdictStore] = {}


class VerdictStoreResource(dg.ConfigurableResource):
    """Postgres holding ``ocr_requests`` (``postgres://``, ``postgresql://`` or ``postgresql+psycopg2://``;
    psycopg2 in all cases)."""

    database_url: str

    def get_store(self) -> VerdictStore:
        """The store for this URL, its schema ensured once per process."""
        store = _stores.get(self.database_url)
        if store is None:
            store = VerdictStore(self.database_url)
            store.ensure_schema()
            _stores[self.database_url] = store
        return store


class PostgresVerdictIOManager(dg.ConfigurableIOManager):
    """Stores the ``request_verdict`` asset value (a ``Verdict``) on the request's row, by request_id.

    The request_id comes from the output's runtime metadata (the op attaches it) or, failing that,
    from the run's ``request_id`` tag; loading finds the row by the producing run's id.
    """

    verdict_store: VerdictStoreResource

    def handle_output(self, context: dg.OutputContext, obj: Verdict) -> None:
        if not isinstance(obj, Verdict):
            raise TypeError(f"expected a Verdict, got {type(obj).__name__}")
        request_id = _request_id_of_output(context)
        run_id = _run_id(context)
        lifecycle = RequestLifecycle(self.verdict_store.get_store(), run_id, "run")
        with telemetry.span("write", _run_tags(context).get(telemetry.TRACEPARENT_TAG), request_id=request_id):
            try:
                lifecycle.save_verdict(request_id, obj)
            except AttemptRefused as refused:  # a newer attempt owns the row: this verdict is stale
                raise dg.Failure(description=str(refused), metadata={"request_id": request_id},
                                 allow_retries=False) from None

    def load_input(self, context: dg.InputContext) -> Any:
        store = self.verdict_store.get_store()
        if (context.definition_metadata or {}).get("load") == "table":
            return _load_table(store, context)
        request_id = _request_id_from_tags(context)
        upstream_run_id = _run_id(context.upstream_output) if context.upstream_output is not None else None
        if request_id is None and upstream_run_id is not None:
            request_id = store.request_id_for_run(upstream_run_id)
        if request_id is None:
            raise dg.DagsterInvariantViolationError("cannot tell which request's verdict to load")
        return store.load_verdict(request_id)


def _load_table(store: VerdictStore, context: dg.InputContext) -> Any:
    """An input declared with ``metadata={"load": "table"}``: the rows of the run's daily partition
    (all rows without a partition) as a pandas DataFrame."""
    import datetime as dt

    from ocr_pipeline.flows.summary import load_requests_frame

    if context.has_partition_key:
        start = dt.datetime.strptime(context.partition_key, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
        end = start + dt.timedelta(days=1)
    else:
        start = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        end = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)
    return load_requests_frame(store, start, end)


def _run_id(context: dg.OutputContext) -> Optional[str]:
    try:
        return context.run_id
    except dg.DagsterInvariantViolationError:
        return None


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _request_id_of_output(context: dg.OutputContext) -> int:
    request_id = _metadata_value(context.output_metadata.get("request_id"))
    if request_id is None:
        request_id = _request_id_from_tags(context)
    if request_id is None:
        raise dg.DagsterInvariantViolationError(
            "the verdict output carries no request_id (output metadata or run tag)"
        )
    return int(request_id)


def _run_tags(context: Any) -> Mapping[str, str]:
    try:
        return context.step_context.dagster_run.tags
    except Exception:  # built contexts in tests have no step context
        return {}


def _request_id_from_tags(context: Any) -> Optional[int]:
    value = _run_tags(context).get("request_id")
    return int(value) if value is not None else None
