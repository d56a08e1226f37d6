"""A pool of engine processes for the batch paths (prefix backfill): one document read per process at a
time, so a run uses every core. Plain Python.

Threads alone do not: the Python parts of the engine (preprocessing glue, name and IIN matching, the
preview) hold the GIL. Measured on 2 cores, a backfill with a thread per core reached 0.73-0.77x the
throughput of the plain consumer service, with these processes 0.84-0.92x. The processes are spawned
(never forked: the run worker that owns the pool has threads of its own) and import only the engine.
A process that dies (killed, out of memory, a crash in a native
library) breaks the pool: the pool is rebuilt and the call repeated once, so the documents that were in
flight beside the one that killed it still get their verdicts; a document that kills a second process
fails with ``EngineProcessDied``. As with any spawned process, a script that uses this pool must
guard its main module (``if __name__ == "__main__":``): each process imports it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Optional


def _exit_with_parent(parent_pid: int) -> None:
    """In an engine process: exit as soon as the owner is gone (killed included). The pool's pipes
    cannot tell: every process of the pool holds both ends of its task queue."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _let_this_process_start_engine_processes() -> None:
    # Celery's prefork pool runs each run in a daemonic billiard process, which is also multiprocessing's
    # current process there: multiprocessing refuses children to a daemonic process (at exit it would
    # not wait for them) and cannot pickle billiard's authentication key for a spawned child. Engine
    # processes need no waiting (each ends by itself with its owner: ``_exit_with_parent``), and the key
    # is the same bytes as multiprocessing's own type.
    process = multiprocessing.current_process()
    process._config["daemon"] = False
    process._config["authkey"] = multiprocessing.process.AuthenticationString(bytes(process.authkey))


class EngineProcessDied(RuntimeError):
    """The engine process reading a document died twice (the document is the likely cause)."""


class EngineProcesses:
    """Runs picklable engine calls in ``processes`` spawned worker processes (``call`` blocks: call it
    from at least as many threads as there are processes)."""

    def __init__(self, processes: int = 0, warm_up: Optional[Callable[[], Any]] = None):
        self.processes = processes or os.cpu_count() or 1
        self.warm_up = warm_up
        self._lock = threading.Lock()
        self._pool: Optional[ProcessPoolExecutor] = None
        self._broken: list[ProcessPoolExecutor] = []  # their surviving processes finish the call they had

    def start(self) -> "EngineProcesses":
        """Start the processes now, each running ``warm_up`` (imports, models), without waiting: the
        caller goes on (listing a prefix, say) while they load. Otherwise the first calls start them."""
        self._current()
        return self

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                _let_this_process_start_engine_processes()
                self._pool = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent, initargs=(os.getpid(),),
                )
                if self.warm_up is not None:
                    for _ in range(self.processes):  # each submit starts a process while none is idle
                        self._pool.submit(self.warm_up)
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
            self._broken.append(broken)
        broken.shutdown(wait=False, cancel_futures=True)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in an engine process; its exception is raised here."""
        for _ in range(2):
            pool = self._current()
            try:
                return pool.submit(function, *args).result()
            except BrokenProcessPool as error:
                self._replace(pool)
                broken = error
        raise EngineProcessDied(f"the engine process died twice reading this document ({broken})")

    def close(self) -> None:
        """Stop the processes (waits for running calls, also those a broken pool's survivors still make)."""
        with self._lock:
            pools, self._pool, self._broken = [self._pool, *self._broken], None, []
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "EngineProcesses":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
