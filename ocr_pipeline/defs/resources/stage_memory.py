"""The IO manager between the stages of a ``verify_request`` run: values stay in the run worker's memory.

The document's bytes (``download_document``) and its reading, page images included (``read_document``),
go from op to op as Python objects: nothing is pickled, nothing is written to disk (they are personal
data, and the filesystem round trip cost more than the download). The in-process executor runs every
stage of a run in one process, so the next op finds them here.

A run that starts in the middle (*re-execute from failure* in the UI, or a run retry after its run worker
was lost) asks for a value an earlier run made in another process. It is made again from the request's
row, by the same stages (``flows.lifecycle``): the download, and for the reading the download and the
read. Those stages are quick next to a failure's cost, and nothing stale is ever reused.
"""

from __future__ import annotations

from typing import Any, Iterator

import dagster as dg

DOWNLOAD_OP = "download_document"
READ_OP = "read_document"


class StageMemoryIOManager(dg.IOManager):
    """Values by (run, step, output) for one run's execution (a new manager per run: nothing outlives it)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], Any] = {}
        self._refetched: Any = None

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        self.values[tuple(context.get_identifier())] = obj

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        if upstream is None:
            raise dg.DagsterInvariantViolationError(f"input {context.name} has no upstream output")
        key = tuple(upstream.get_identifier())
        if key not in self.values:  # made by an earlier run, in another process: make it again
            self.values[key] = self._remake(context, upstream)
        return self.values[key]

    def _remake(self, context: dg.InputContext, upstream: dg.OutputContext) -> Any:
        from ..assets.request_verdict import read_again

        op_name = upstream.step_key.rsplit(".", 1)[-1]
        run_id = context.step_context.run_id
        config = context.step_context.op_config  # every stage has the request's config
        resources = context.step_context.resources  # and the document bucket and the verdict store
        context.log.info("%s: not in this process (made by run %s): repeating that stage", op_name, upstream.run_id)
        if op_name == DOWNLOAD_OP:
            return self._fetched_again(config, run_id, resources)
        if op_name == READ_OP:
            return read_again(config, run_id, resources.verdict_store, self._fetched_again(config, run_id, resources))
        raise dg.DagsterInvariantViolationError(f"no way to make the output of {op_name} again")

    def _fetched_again(self, config: dict, run_id: str, resources: Any) -> Any:
        from ..assets.request_verdict import fetch_again

        if self._refetched is None:  # one download, whichever stages need it
            self._refetched = fetch_again(config, run_id, resources.documents, resources.verdict_store)
        return self._refetched


@dg.io_manager
def stage_memory_io_manager(_init_context: dg.InitResourceContext) -> Iterator[StageMemoryIOManager]:
    """A :class:`StageMemoryIOManager` for this run, emptied when the run ends: a warm run worker must
    not hold the last document's pages until the garbage collector breaks Dagster's reference cycles."""
    manager = StageMemoryIOManager()
    try:
        yield manager
    finally:
        manager.values.clear()
        manager._refetched = None
