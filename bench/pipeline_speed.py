#!/usr/bin/env python
"""Throughput, latency and memory of the whole pipeline against baselines measured in the same run.

One generated document set (``ocr_pipeline_devtools/docgen.py``: mostly clean and scanned pages, some
phone photos, scanned 2-3-page PDFs, text-layer PDFs, a few documents of another person), one set of
local services started here (Tansu for Kafka, moto_server for S3, a temporary database on the Postgres
at 127.0.0.1:5432, Redis for the run workers), and these rows:

- ``floor``: the raw ``tesseract PAGE.png - -l rus+kaz`` CLI (``OMP_THREAD_LIMIT=1``) over the same
  pages, a pool of one process per core; a document is done when all its pages are.
- ``peer``: ``bench/peer_consumer.py``, the plain Kafka consumer service (one process per core, one
  consumer group) doing the same download, engine calls and row writes; same broker, bucket, database.
- ``product``: the same events through the deployment (``dagster.yaml`` of the repository, started by
  ``ocr_pipeline_devtools.dagster_fixtures`` exactly as the end-to-end tests start it: daemon, Kafka
  sensor, run workers), one run per request.
- ``backfill``: the same documents (with sidecars) under a fresh S3 prefix, registered with the
  ``register_prefix`` job and verified by a ``prefix_backfill_job`` run, both launched the way an analyst
  does (``dagster job launch``: queued, then launched by the daemon).
  ``backfill-N`` (``--backfill-docs``, default 200): the set repeated to N documents, against
  ``peer-N``, the peer consumers on the same N events: backfills are large, and a run's first seconds
  (launch, starting its engine processes) weigh on a small one.
- ``lowload``: events one every few seconds through the product: latency minus the document's own
  processing time (``processing_time_seconds`` of its row), sensor interval included.
- ``scale-N``: bursts of N events through the product (documents reused with new request ids when N
  exceeds the set); ``scale throughput``: docs/s of the largest burst against the smallest (does it
  hold?); ``scale in-service``: seconds from a document's start to its verdict in the largest burst
  against the smallest (does latency grow only with the queue?); ``leak``: RSS of the long-lived run
  workers before and after the largest burst.

Latency of an event is its row's ``completed_at`` minus the moment it was produced (for ``floor``:
the document's completion minus the start of the pool; a burst has every document available at once).
Throughput is documents / (last terminal row - first produce). Peak memory is the highest RSS sampled
(every 0.2 s, psutil) of the process doing the work: a peer consumer, a run worker; for ``floor`` the
Tesseract process (GNU time). Every verdict is compared with the peer's verdict for the same
document (verdict and error codes): the mismatch count is printed.

    .venv/bin/python bench/pipeline_speed.py                       # all rows, about 25 min on 2 cores
    .venv/bin/python bench/pipeline_speed.py --rows floor,peer,product --docs 20
    .venv/bin/python bench/pipeline_speed.py --quick --out /tmp/pipeline.md   # smoke run, a few minutes

Exit status: 0 when every target is met, 1 when one is missed, 2 when the run itself went wrong
(a verdict differing from the peer's, an event that never reached a terminal row).
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Optional  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LANGUAGES = "rus+kaz"
ALL_ROWS = ("floor", "peer", "product", "stages", "backfill", "lowload", "scale")
# the mix, repeated: 60 % clean/scanned pages, 20 % phone photos, 10 % scanned PDFs, 10 % text-layer PDFs
KIND_CYCLE = ("scan", "clean", "photo", "scan", "pdf_scan", "clean", "pdf_text", "scan", "photo", "clean")
NEGATIVE_EVERY = 7  # every 7th document is about another person than the applicant (NAME_NOT_FOUND)
TARGETS = {"peer": 0.8, "product": 0.7, "stages": 0.95, "backfill": 0.9, "scale": 0.7, "lowload_s": 5.0, "leak": 1.10,
           "scale_hold": 0.9, "scale_service": 1.5}


# ------------------------------------------------------------------------------------- document set

@dataclass
class BenchDocument:
    """One document of the set: where it is locally and in S3, its pages for the CLI, its applicant."""

    index: int
    kind: str
    path: str
    key: str
    pages: list[str]
    applicant: dict
    about_applicant: bool


def _render_one(task: tuple[int, int, str]) -> tuple[int, str, bytes, dict, bool, str]:
    """Render document ``index`` of the set (runs in a pool process)."""
    from ocr_pipeline_devtools import docgen

    index, seed, directory = task
    rng = random.Random(seed * 1000 + index)
    kind = KIND_CYCLE[index % len(KIND_CYCLE)]
    people = [docgen.PEOPLE[key] for key in sorted(docgen.PEOPLE)]
    doc_type = docgen.DOC_TYPES[index % len(docgen.DOC_TYPES)]
    subject = rng.choice([p for p in people if p.female] if doc_type.startswith("maternity") else people)
    about_applicant = index % NEGATIVE_EVERY != NEGATIVE_EVERY - 1
    applicant = subject if about_applicant else rng.choice([p for p in people if p.last_name != subject.last_name])
    name_case = docgen.NAME_CASES[index % len(docgen.NAME_CASES)]
    page_seed = seed * 1000 + index
    page = docgen.render_document(doc_type, subject, name_case=name_case, seed=page_seed)
    if kind in ("clean", "scan"):
        data, suffix = docgen.degrade(page, kind, page_seed), ".png"
    elif kind == "photo":
        data, suffix = docgen.degrade(page, "photo", page_seed), ".jpg"
    else:
        extra = [docgen.render_document("cover_letter", None, seed=page_seed + i) for i in range(1 + index % 2)]
        pages = [page, *extra]
        if kind == "pdf_text":
            data = docgen.to_pdf(pages, text_layer=True)
        else:
            data = docgen.to_pdf([docgen.degrade(p, "scan", page_seed + i) for i, p in enumerate(pages)])
        suffix = ".pdf"
    a = applicant.applicant()
    applicant_fields = {"iin": a.iin, "last_name": a.last_name, "first_name": a.first_name,
                        "second_name": a.second_name}
    path = Path(directory) / f"doc-{index:04d}-{kind}{suffix}"
    path.write_bytes(data)
    return index, kind, str(path), applicant_fields, about_applicant, f"{doc_type} - {subject.last_name}"


def _pages_as_png(path: str, directory: Path) -> list[str]:
    """The document's pages as PNG files for the CLI (PDFs rasterised at 300 DPI, as the engine does)."""
    from PIL import Image

    source = Path(path)
    if source.suffix == ".pdf":
        import pypdfium2 as pdfium

        out = []
        document = pdfium.PdfDocument(str(source))
        for number in range(len(document)):
            target = directory / f"{source.stem}-page{number + 1}.png"
            document[number].render(scale=300 / 72, grayscale=True).to_pil().save(target, dpi=(300, 300))
            out.append(str(target))
        document.close()
        return out
    if source.suffix == ".png":
        return [str(source)]
    target = directory / f"{source.stem}.png"
    with Image.open(source) as image:
        image.save(target, dpi=image.info.get("dpi", (300, 300)))
    return [str(target)]


def process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of fresh processes. Not forked: this process runs threads (the memory sampler, the services'
    log readers), and a fork taken while one of them holds a lock can hang its child; a child that dies
    fails the pool (``BrokenProcessPool``) instead of leaving its task waiting forever."""
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))


def render_set(directory: Path, count: int, seed: int, workers: int) -> list[BenchDocument]:
    """Render ``count`` documents (deterministic for a seed) with a pool of ``workers`` processes."""
    directory.mkdir(parents=True, exist_ok=True)
    tasks = [(i, seed, str(directory)) for i in range(count)]
    with process_pool(workers) as pool:
        rendered = sorted(pool.map(_render_one, tasks))
    documents = []
    for index, kind, path, applicant, about, title in rendered:
        key = f"bench/2026/11/{index:04d} {title}{Path(path).suffix}"
        documents.append(BenchDocument(index, kind, path, key, _pages_as_png(path, directory), applicant, about))
    return documents


# ------------------------------------------------------------------------------------ measurement

class EnvPatch:
    """The ``monkeypatch.setenv`` that ``deployment_environment`` needs, outside pytest; ``undo`` restores."""

    def __init__(self) -> None:
        self._saved: dict[str, Optional[str]] = {}

    def setenv(self, name: str, value: str) -> None:
        self._saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def undo(self) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


def process_kind(process) -> str:
    """What a child process of this benchmark is, from its command line."""
    try:
        name = process.name()
        cmdline = " ".join(process.cmdline())
    except Exception:
        return "gone"
    if name == "tesseract":
        return "tesseract"
    if "peer_consumer.py" in cmdline:
        return "peer consumer"
    if "dagster-daemon" in cmdline:
        return "daemon"
    if "api grpc" in cmdline:
        return "code server"
    if "watch_orphans" in cmdline:
        return "orphan watcher"
    if "ocr-pipeline worker" in cmdline or "celery" in cmdline:
        try:
            parent = " ".join(process.parent().cmdline())
        except Exception:
            parent = ""
        return "run worker" if ("ocr-pipeline worker" in parent or "celery" in parent) else "worker parent"
    if "moto.server" in cmdline:
        return "s3 (moto)"
    if "tansu" in cmdline:
        return "kafka (tansu)"
    if "dagster" in cmdline:
        return "dagster (other)"
    return "other"


class ProcessSampler:
    """Samples every descendant of this process (and the machine's Postgres server processes): peak RSS
    per kind and CPU seconds per kind, per phase."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self._psutil = psutil
        self.interval = interval
        self.peaks: dict[str, float] = defaultdict(float)
        self.phase_peaks: dict[str, dict[str, float]] = {}
        self.phase_cpu: dict[str, dict[str, float]] = {}
        self._cpu: dict[int, tuple[str, float]] = {}  # pid -> (kind, CPU seconds at the last sample)
        self._kinds: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "ProcessSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _kind(self, process) -> str:
        kind = self._kinds.get(process.pid)
        if kind is None:
            kind = self._kinds[process.pid] = process_kind(process)
        return kind

    def rss_by_pid(self, kind: str) -> dict[int, float]:
        """Current RSS (MB) of each live process of ``kind``."""
        out = {}
        for process in self._psutil.Process().children(recursive=True):
            try:
                if self._kind(process) == kind:
                    out[process.pid] = process.memory_info().rss / 2**20
            except self._psutil.Error:
                continue
        return out

    def _processes(self) -> list:
        children = self._psutil.Process().children(recursive=True)
        mine = {process.pid for process in children}
        for process in self._psutil.process_iter(["name"]):
            if process.info["name"] == "postgres" and process.pid not in mine:
                self._kinds.setdefault(process.pid, "postgres (server)")
                children.append(process)
        return children

    def _sample(self) -> None:
        try:
            processes = self._processes()
        except self._psutil.Error:
            return
        for process in processes:
            try:
                kind = self._kind(process)
                with process.oneshot():
                    rss = process.memory_info().rss / 2**20
                    times = process.cpu_times()
            except self._psutil.Error:
                continue
            with self._lock:
                self._cpu[process.pid] = (kind, times.user + times.system)
                if rss > self.peaks[kind]:
                    self.peaks[kind] = rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    @contextlib.contextmanager
    def phase(self, name: str):
        """Peaks seen while the block runs are kept as ``phase_peaks[name]``, the CPU seconds each kind
        used as ``phase_cpu[name]`` (a process that ended between two samples loses its last 0.2 s)."""
        self._sample()
        with self._lock:
            self.peaks = defaultdict(float)
            before = dict(self._cpu)
        try:
            yield
        finally:
            self._sample()
            with self._lock:
                self.phase_peaks[name] = dict(self.peaks)
                used: dict[str, float] = defaultdict(float)
                for pid, (kind, seconds) in self._cpu.items():
                    used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
                self.phase_cpu[name] = dict(used)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (linear interpolation); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    """One line of the table."""

    name: str
    docs: int
    docs_per_s: Optional[float]
    p50: float
    p95: float
    peak_mb: Optional[float]
    ratio: Optional[float] = None
    target: str = ""
    passed: Optional[bool] = None
    detail: dict = field(default_factory=dict)


@dataclass
class EventOutcome:
    """What the rows of one batch of events said."""

    rows: dict[int, dict]
    produced: dict[int, float]
    doc_of: dict[int, int]

    def latencies(self) -> list[float]:
        return [self.rows[r]["completed_at"].timestamp() - self.produced[r] for r in self.rows]

    def excess_over_processing(self) -> list[float]:
        return [self.rows[r]["completed_at"].timestamp() - self.produced[r]
                - float(self.rows[r]["processing_time_seconds"] or 0.0) for r in self.rows]

    def pickups(self) -> list[float]:
        """Produce -> row received (the sensor's or the consumer's first write)."""
        return [self.rows[r]["received_at"].timestamp() - self.produced[r] for r in self.rows
                if self.rows[r]["received_at"] is not None]

    def queued(self) -> list[float]:
        """Row received -> work started (run queue, launch, a free worker)."""
        return [(self.rows[r]["started_at"] - self.rows[r]["received_at"]).total_seconds() for r in self.rows
                if self.rows[r]["started_at"] is not None and self.rows[r]["received_at"] is not None]

    def in_service(self) -> list[float]:
        return [(self.rows[r]["completed_at"] - self.rows[r]["started_at"]).total_seconds() for r in self.rows
                if self.rows[r]["started_at"] is not None]

    def docs_per_second(self) -> float:
        first = min(self.produced.values())
        last = max(row["completed_at"].timestamp() for row in self.rows.values())
        return len(self.rows) / (last - first) if last > first else float("nan")

    def verdicts(self) -> Counter:
        return Counter(_outcome_label(row) for row in self.rows.values())


def _outcome_label(row: dict) -> str:
    if row["status"] != "completed":
        return row["status"]
    return "true" if row["verdict"] else "false"


def outcome_key(row: dict) -> tuple:
    """What two paths must agree on for the same document: status, verdict, error codes."""
    codes = tuple(sorted(error["code"] for error in (row.get("errors") or [])))
    return row["status"], row.get("verdict"), codes


# ------------------------------------------------------------------------------------------ the run

class Bench:
    """The services, the document set, the deployment, and the measurements taken on them."""

    def __init__(self, args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack):
        self.args = args
        self.workdir = workdir
        self.stack = stack
        self.cores = os.cpu_count() or 1
        self.ids = itertools.count(random.randint(10**6, 10**8) * 1000)
        self.reference: dict[int, tuple] = {}  # document index -> the peer's outcome
        self.mismatches: list[str] = []
        self.compared = 0
        self.incomplete: list[str] = []
        self.rows: list[Row] = []
        self.sampler = ProcessSampler().start()
        self.stack.callback(self.sampler.stop)
        self.daemon = None
        self.notes: list[str] = []

    # -- set-up -------------------------------------------------------------------------------------

    def start_services(self) -> None:
        from ocr_pipeline_devtools import services
        from ocr_pipeline_devtools.dagster_fixtures import deployment_environment

        logs = self.workdir / "logs"
        self.kafka = self.stack.enter_context(services.start_kafka(log_dir=logs))
        self.stack.enter_context(services.aws_test_credentials())
        self.s3 = self.stack.enter_context(services.start_s3(log_dir=logs))
        self.redis = self.stack.enter_context(services.start_redis(log_dir=logs))
        self.database_url = self.stack.enter_context(services.temporary_postgres_database(prefix="ocr_bench"))
        tag = uuid.uuid4().hex[:8]
        self.product_topic = f"bench-product-{tag}"
        self.peer_topic = f"bench-peer-{tag}"
        for topic in (self.product_topic, self.peer_topic):
            services.create_topic(self.kafka.bootstrap_servers, topic, partitions=self.cores)
        env_patch = EnvPatch()
        self.stack.callback(env_patch.undo)
        self.deployment = self.stack.enter_context(deployment_environment(
            self.workdir, self.kafka, self.product_topic, self.s3, self.database_url, env_patch,
            redis_url=self.redis.url))
        # the deployment's own sensor interval (the tests shorten it): part of the measured latency
        self.deployment.env.pop("OCR_SENSOR_INTERVAL_SECONDS", None)
        if self.args.sensor_interval is not None:
            self.deployment.env["OCR_SENSOR_INTERVAL_SECONDS"] = str(self.args.sensor_interval)
        self.store = self.deployment.store
        self.bucket = self.deployment.bucket

    def prepare_documents(self) -> None:
        started = time.perf_counter()
        self.documents = render_set(self.workdir / "documents", self.args.docs, self.args.seed, self.cores)
        client = self.s3.client()
        for document in self.documents:
            client.put_object(Bucket=self.bucket, Key=document.key, Body=Path(document.path).read_bytes())
        kinds = Counter(d.kind for d in self.documents)
        pages = sum(len(d.pages) for d in self.documents)
        negatives = sum(1 for d in self.documents if not d.about_applicant)
        print(f"document set: {len(self.documents)} documents, {pages} pages "
              f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; {negatives} about another person), "
              f"rendered and uploaded in {time.perf_counter() - started:.0f} s", flush=True)

    # -- events -------------------------------------------------------------------------------------

    def _event(self, document: BenchDocument) -> tuple[int, bytes]:
        request_id = next(self.ids)
        payload = dict(request_id=request_id, s3_path=document.key, **document.applicant)
        return request_id, json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def _fetch_rows(self, request_ids: list[int]) -> dict[int, dict]:
        import sqlalchemy as sa

        with self.store.engine.connect() as conn:
            result = conn.execute(sa.text(
                "SELECT request_id, status, verdict, errors, received_at, started_at, completed_at, "
                "processing_time_seconds "
                "FROM ocr_requests WHERE request_id = ANY(:ids)"), {"ids": list(request_ids)}).mappings()
            return {row["request_id"]: dict(row) for row in result}

    def _wait_terminal(self, request_ids: list[int], timeout: float, alive: Callable[[], bool], what: str,
                       on_timeout: Callable[[], str] = lambda: "") -> dict[int, dict]:
        from ocr_pipeline.adapters.store import TERMINAL_STATUSES

        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        while True:
            rows = self._fetch_rows(request_ids)
            done = {rid: row for rid, row in rows.items()
                    if row["status"] in TERMINAL_STATUSES and row["completed_at"] is not None}
            if len(done) == len(request_ids):
                return done
            if time.monotonic() > deadline or not alive():
                reason = "timed out" if alive() else "a service process died"
                message = f"{what}: {reason} with {len(done)}/{len(request_ids)} rows terminal"
                self.incomplete.append(message)
                print(message + "\n" + on_timeout(), flush=True)
                return done
            if time.monotonic() - last_report > 60:
                last_report = time.monotonic()
                print(f"  {what}: {len(done)}/{len(request_ids)} terminal", flush=True)
            time.sleep(0.25)

    def send_events(self, topic: str, documents: list[BenchDocument], alive: Callable[[], bool], what: str,
                    pacing: Optional[float] = None, on_timeout: Callable[[], str] = lambda: "") -> EventOutcome:
        """Produce one event per document (a burst, or one every ``pacing`` s); wait for the rows."""
        from ocr_pipeline_devtools import services

        events = [(self._event(document), document.index) for document in documents]
        produced: dict[int, float] = {}
        doc_of = {rid: index for (rid, _), index in events}
        if pacing is None:
            by_partition: dict[int, list] = defaultdict(list)
            for position, ((rid, payload), _) in enumerate(events):
                by_partition[position % self.cores].append(payload)
            started = time.time()
            for partition, payloads in by_partition.items():
                services.produce(self.kafka.bootstrap_servers, topic, payloads, partition=partition)
            produced = {rid: started for (rid, _), _ in events}
        else:
            for position, ((rid, payload), _) in enumerate(events):
                if position:
                    time.sleep(pacing)
                produced[rid] = time.time()
                services.produce(self.kafka.bootstrap_servers, topic, [payload], partition=position % self.cores)
        timeout = self.args.timeout + len(events) * self.args.seconds_per_event / self.cores
        rows = self._wait_terminal(list(doc_of), timeout, alive, what, on_timeout)
        outcome = EventOutcome(rows, {rid: produced[rid] for rid in rows}, doc_of)
        self._compare(what, {rid: row for rid, row in rows.items()}, doc_of)
        return outcome

    def _compare(self, what: str, rows: dict[int, dict], doc_of: dict[int, int]) -> None:
        for rid, row in rows.items():
            index = doc_of[rid]
            if index not in self.reference:
                continue
            self.compared += 1
            if outcome_key(row) != self.reference[index]:
                self.mismatches.append(f"{what}: document {index} ({self.documents[index].kind}) "
                                       f"{outcome_key(row)} != peer {self.reference[index]}")

    def _cycle(self, count: int) -> list[BenchDocument]:
        return [self.documents[i % len(self.documents)] for i in range(count)]

    # -- rows ---------------------------------------------------------------------------------------

    def run_floor(self) -> None:
        jobs = [(d.index, d.pages) for d in self.documents]
        done: dict[int, float] = {}
        seconds: dict[int, float] = {}
        peak_kb = 0
        with self.sampler.phase("floor"), process_pool(self.cores) as pool:
            # starts every pool process and fills the page cache (binaries, traineddata) before timing
            list(pool.map(_floor_document, [jobs[0]] * self.cores))
            started = time.perf_counter()
            for future in concurrent.futures.as_completed([pool.submit(_floor_document, job) for job in jobs]):
                index, elapsed, kb = future.result()
                done[index] = time.perf_counter() - started
                seconds[index] = elapsed
                peak_kb = max(peak_kb, kb)
            wall = time.perf_counter() - started
        latencies = list(done.values())
        peak = peak_kb / 1024 if peak_kb else self.sampler.phase_peaks["floor"].get("tesseract")
        self.floor = Row("floor", len(jobs), len(jobs) / wall, percentile(latencies, 50), percentile(latencies, 95),
                         peak, target="", detail={"per-document s p50": percentile(list(seconds.values()), 50),
                                                  "per-document s p95": percentile(list(seconds.values()), 95)})
        self._add(self.floor)

    def run_peer(self) -> None:
        script = ROOT / "bench" / "peer_consumer.py"
        env = dict(self.deployment.env, S3_ENDPOINT_URL=self.s3.endpoint_url, OMP_THREAD_LIMIT="1",
                   PYTHONUNBUFFERED="1")
        group = f"peer-{uuid.uuid4().hex[:6]}"
        logs = [self.workdir / "logs" / f"peer-{i}.log" for i in range(self.cores)]
        processes = []
        for log_path in logs:
            with open(log_path, "ab") as log_file:
                processes.append(subprocess.Popen(
                    [sys.executable, str(script), "--bootstrap", self.kafka.bootstrap_servers, "--topic",
                     self.peer_topic, "--group", group, "--bucket", self.bucket, "--database-url",
                     self.database_url], env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL))

        def alive() -> bool:
            return all(p.poll() is None for p in processes)

        def tails() -> str:
            return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                             for p in logs)

        try:
            started = time.monotonic()
            while not all("READY" in p.read_text(errors="replace") for p in logs):
                if not alive() or time.monotonic() - started > self.args.timeout:
                    raise RuntimeError("the peer consumers did not get their partitions:\n" + tails())
                time.sleep(0.5)
            print(f"peer: {self.cores} consumers joined group {group} in {time.monotonic() - started:.0f} s",
                  flush=True)
            self.send_events(self.peer_topic, self.documents[:self.cores], alive, "peer warm-up",
                             on_timeout=tails)
            with self.sampler.phase("peer"):
                outcome = self.send_events(self.peer_topic, self.documents, alive, "peer", on_timeout=tails)
            large = self.args.backfill_docs
            if large:
                with self.sampler.phase(f"peer-{large}"):
                    large_outcome = self.send_events(self.peer_topic, self._cycle(large), alive, f"peer-{large}",
                                                     on_timeout=tails)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        for rid, row in outcome.rows.items():
            self.reference[outcome.doc_of[rid]] = outcome_key(row)
        self.peer = self._event_row("peer", outcome, "peer", "peer consumer")
        floor = getattr(self, "floor", None)
        if floor is not None:
            self._judge(self.peer, floor, TARGETS["peer"], "floor")
        self._add(self.peer)
        if large:
            self.peer_large = self._event_row(f"peer-{large}", large_outcome, f"peer-{large}", "peer consumer")
            self._add(self.peer_large)

    def start_product(self, name: str = "bench-daemon") -> None:
        """The deployment's processes, started only by the test fixtures' function (daemon, run workers)."""
        if self.daemon is None:
            self.stack.callback(self._stop_product)
        self.daemon = self.deployment.daemon(name)
        started = time.monotonic()
        self.daemon.start()
        self.send_events(self.product_topic, self.documents[:self.cores], self._product_alive,
                         "product warm-up", on_timeout=self._product_tail)
        print(f"product: daemon and run workers up, warm-up events done in {time.monotonic() - started:.0f} s",
              flush=True)

    def _product_alive(self) -> bool:
        alive = self.daemon is not None and self.daemon.alive()
        worker_alive = getattr(self.daemon, "worker_alive", None)
        return alive and (worker_alive is None or worker_alive())

    def _product_tail(self) -> str:
        return self.daemon.log_tail(40) if self.daemon is not None else ""

    def _stop_product(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            kill_group = getattr(self.daemon, "kill_group", None)
            if kill_group is not None:
                kill_group()

    def run_product(self) -> None:
        with self.sampler.phase("product"):
            outcome = self.send_events(self.product_topic, self.documents, self._product_alive, "product",
                                       on_timeout=self._product_tail)
        row = self._event_row("product", outcome, "product", "run worker")
        self._judge(row, getattr(self, "peer", None), TARGETS["product"], "peer")
        self._add(row)

    def run_stages(self) -> None:
        """``request_verdict``'s stages as three ops (the default) against the same job in one op
        (``OCR_REQUEST_STAGES=one-step``): the product restarted with each shape in turn, twice (one-step,
        ops, one-step, ops), on the same documents, so that a drift of the machine's load weighs on both;
        each row is the two passes of its shape together."""
        outcomes: dict[str, list[EventOutcome]] = {"one-step": [], "ops": []}
        for number, shape in enumerate(("one-step", "ops", "one-step", "ops")):
            self._stop_product()
            self.deployment.env["OCR_REQUEST_STAGES"] = shape
            self.start_product(f"bench-daemon-{shape}-{number}")
            with self.sampler.phase(f"product, {shape}"):
                outcomes[shape].append(self.send_events(self.product_topic, self.documents, self._product_alive,
                                                        f"product ({shape}, pass {number // 2 + 1})",
                                                        on_timeout=self._product_tail))
        self.deployment.env.pop("OCR_REQUEST_STAGES")
        rows = {shape: self._passes_row(f"product, {shape}", passes) for shape, passes in outcomes.items()}
        self._add(rows["one-step"])
        self._judge(rows["ops"], rows["one-step"], TARGETS["stages"], "one-step")
        self._add(rows["ops"])

    def _passes_row(self, name: str, passes: list[EventOutcome]) -> Row:
        """One row (and sampler phase) for several passes over the documents: documents over the passes'
        summed durations."""
        seconds = sum(len(outcome.rows) / outcome.docs_per_second() for outcome in passes)
        docs = sum(len(outcome.rows) for outcome in passes)
        latencies = [value for outcome in passes for value in outcome.latencies()]
        in_service = [value for outcome in passes for value in outcome.in_service()]
        return Row(name, docs, docs / seconds, percentile(latencies, 50), percentile(latencies, 95),
                   self.sampler.phase_peaks.get(name, {}).get("run worker"),
                   detail={"passes docs/s": [round(outcome.docs_per_second(), 3) for outcome in passes],
                           "in-service p50": percentile(in_service, 50)})

    def run_lowload(self) -> None:
        documents = self._cycle(self.args.lowload_events)
        with self.sampler.phase("lowload"):
            outcome = self.send_events(self.product_topic, documents, self._product_alive, "lowload",
                                       pacing=self.args.lowload_interval, on_timeout=self._product_tail)
        excess = outcome.excess_over_processing()
        latencies = outcome.latencies()
        row = Row("lowload (latency - processing)", len(outcome.rows), None, percentile(excess, 50),
                  percentile(excess, 95), self.sampler.phase_peaks["lowload"].get("run worker"),
                  target=f"p50 <= {TARGETS['lowload_s']:.0f} s",
                  detail={"latency p50": percentile(latencies, 50), "latency p95": percentile(latencies, 95),
                          "pickup p50": percentile(outcome.pickups(), 50),
                          "queued p50": percentile(outcome.queued(), 50),
                          "in-service p50": percentile(outcome.in_service(), 50),
                          "interval s": self.args.lowload_interval, "verdicts": dict(outcome.verdicts())})
        row.passed = row.p50 <= TARGETS["lowload_s"] if excess else False
        self._add(row)

    def run_scale(self) -> None:
        sizes = self.args.scale
        outcomes: dict[int, EventOutcome] = {}
        for size in sizes:
            largest = size == max(sizes)
            before = self.sampler.rss_by_pid("run worker") if largest else {}
            with self.sampler.phase(f"scale-{size}"):
                outcome = self.send_events(self.product_topic, self._cycle(size), self._product_alive,
                                           f"scale-{size}", on_timeout=self._product_tail)
            outcomes[size] = outcome
            row = self._event_row(f"scale-{size}", outcome, f"scale-{size}", "run worker")
            self._judge(row, getattr(self, "peer", None), TARGETS["scale"], "peer")
            self._add(row)
            if largest:
                after = self.sampler.rss_by_pid("run worker")
                self._leak_row(size, before, after)
        small, large = min(sizes), max(sizes)
        if small != large and outcomes[small].rows and outcomes[large].rows:
            self._growth_rows(small, large, outcomes[small], outcomes[large])

    def _growth_rows(self, small: int, large: int, first: EventOutcome, last: EventOutcome) -> None:
        """Does throughput hold from the smallest burst to the largest, and does the time a document
        spends in service stay the same (latency growing only with the queue)?"""
        held = Row(f"scale throughput {large} vs {small}", len(last.rows), last.docs_per_second(),
                   float("nan"), float("nan"), None, ratio=last.docs_per_second() / first.docs_per_second(),
                   target=f">= {TARGETS['scale_hold']}x scale-{small}")
        held.passed = held.ratio >= TARGETS["scale_hold"]
        self._add(held)
        in_service = last.in_service()
        growth = percentile(in_service, 50) / percentile(first.in_service(), 50)
        service = Row(f"scale in-service {large} vs {small}", len(last.rows), None, percentile(in_service, 50),
                      percentile(in_service, 95), None, ratio=growth,
                      target=f"p50 <= {TARGETS['scale_service']}x scale-{small}",
                      passed=growth <= TARGETS["scale_service"],
                      detail={"note": "p50/p95 = started -> terminal of each document, queue excluded"})
        self._add(service)

    def _leak_row(self, size: int, before: dict[int, float], after: dict[int, float]) -> None:
        both = sorted(set(before) & set(after))
        detail = {"pids": both, "start MB": [round(before[p]) for p in both],
                  "end MB": [round(after[p]) for p in both],
                  "replaced": sorted(set(before) ^ set(after))}
        if not both:
            row = Row(f"leak ({size} events)", size, None, float("nan"), float("nan"),
                      max(after.values(), default=None),
                      target=f"end <= {TARGETS['leak']:.2f}x start", passed=None,
                      detail=dict(detail, note="no run worker lived through the whole burst"))
        else:
            growth = max(after[p] / before[p] for p in both)
            row = Row(f"leak ({size} events)", size, None, float("nan"), float("nan"),
                      max(after[p] for p in both), ratio=growth, target=f"end <= {TARGETS['leak']:.2f}x start",
                      passed=growth <= TARGETS["leak"], detail=detail)
        self._add(row)

    def run_backfill(self, documents: list[BenchDocument], name: str, base: Optional[Row]) -> None:
        """``documents`` under a fresh prefix (with sidecars), one ``prefix_backfill_job`` run; row ``name``
        compared with ``base`` (the peer on the same documents)."""
        from dagster import DagsterRunStatus

        prefix = f"backfill-{uuid.uuid4().hex[:8]}/"
        client = self.s3.client()
        doc_of = {}
        for position, document in enumerate(documents):
            request_id = next(self.ids)
            key = prefix + f"{position:04d}/" + document.key
            doc_of[request_id] = document.index
            client.put_object(Bucket=self.bucket, Key=key, Body=Path(document.path).read_bytes())
            sidecar = dict(document.applicant, request_id=request_id)
            client.put_object(Bucket=self.bucket, Key=key + ".json",
                              Body=json.dumps(sidecar, ensure_ascii=False).encode("utf-8"))
        register = self._launch("register_prefix",
                                config={"ops": {"add_prefix_partition": {"config": {"prefix": prefix}}}})
        self._wait_run(register, "register_prefix")
        with self.sampler.phase(name):
            run_id = self._launch("prefix_backfill_job", tags={"dagster/partition": prefix})
            record = self._wait_run(run_id, "prefix_backfill_job")
        rows = self._fetch_rows(list(doc_of))
        report_seconds = None
        with self.deployment.instance() as instance:
            from dagster import AssetKey

            materialization = instance.get_latest_materialization_event(AssetKey("prefix_backfill"))
            if materialization is not None and materialization.run_id == run_id:
                report_seconds = materialization.asset_materialization.metadata["seconds"].value
        if record is None or record.dagster_run.status != DagsterRunStatus.SUCCESS or len(rows) != len(doc_of):
            self.incomplete.append(f"{name}: run {run_id} ended "
                                   f"{record.dagster_run.status.value if record else 'never'} with "
                                   f"{len(rows)}/{len(doc_of)} rows")
        self._compare(name, rows, doc_of)
        created = record.create_timestamp.timestamp() if record else time.time()
        end = (record.end_time if record and record.end_time else time.time())
        latencies = [row["completed_at"].timestamp() - created for row in rows.values() if row["completed_at"]]
        row = Row(name, len(rows), len(rows) / (end - created) if end > created else None,
                  percentile(latencies, 50), percentile(latencies, 95),
                  self.sampler.phase_peaks[name].get("run worker"),
                  detail={"launch to start s": round((record.start_time or created) - created, 1) if record else None,
                          "run s": round(end - (record.start_time or created), 1) if record else None,
                          "in run_prefix_backfill s": report_seconds,
                          "verdicts": dict(Counter(_outcome_label(r) for r in rows.values()))})
        self._judge(row, base, TARGETS["backfill"], base.name if base else "peer")
        self._add(row)

    def _launch(self, job: str, config: Optional[dict] = None, tags: Optional[dict] = None) -> str:
        """Queue a run the way an analyst's launch does (``dagster job launch``); the daemon launches it."""
        run_id = str(uuid.uuid4())
        command = [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", str(ROOT / "workspace.yaml"),
                   "-j", job, "--run-id", run_id]
        if config:
            command += ["--config-json", json.dumps(config)]
        if tags:
            command += ["--tags", json.dumps(tags)]
        result = subprocess.run(command, env=self.deployment.env, cwd=ROOT, capture_output=True, text=True,
                                timeout=300, check=False)
        if result.returncode:
            raise RuntimeError(f"dagster job launch {job} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return run_id

    def _wait_run(self, run_id: str, what: str):
        finished = {"SUCCESS", "FAILURE", "CANCELED"}
        timeout = self.args.timeout + len(self.documents) * self.args.seconds_per_event
        deadline = time.monotonic() + timeout
        with self.deployment.instance() as instance:
            while time.monotonic() < deadline and self._product_alive():
                record = instance.get_run_record_by_id(run_id)
                if record is not None and record.dagster_run.status.value in finished:
                    if record.dagster_run.status.value != "SUCCESS":
                        print(f"{what}: run {run_id} {record.dagster_run.status.value}\n{self._product_tail()}")
                    return record
                time.sleep(0.5)
        self.incomplete.append(f"{what}: run {run_id} did not finish")
        print(f"{what}: run {run_id} did not finish\n{self._product_tail()}", flush=True)
        return None

    # -- table --------------------------------------------------------------------------------------

    def _event_row(self, name: str, outcome: EventOutcome, phase: str, worker_kind: str) -> Row:
        latencies = outcome.latencies()
        return Row(name, len(outcome.rows), outcome.docs_per_second() if outcome.rows else None,
                   percentile(latencies, 50), percentile(latencies, 95),
                   self.sampler.phase_peaks.get(phase, {}).get(worker_kind),
                   detail={"pickup p50": percentile(outcome.pickups(), 50),
                           "queued p50": percentile(outcome.queued(), 50),
                           "in-service p50": percentile(outcome.in_service(), 50),
                           "in-service p95": percentile(outcome.in_service(), 95),
                           "verdicts": dict(outcome.verdicts())})

    @staticmethod
    def _judge(row: Row, base: Optional[Row], target: float, base_name: str) -> None:
        row.target = f">= {target}x {base_name}"
        if base is None or not base.docs_per_s or row.docs_per_s is None:
            return
        row.ratio = row.docs_per_s / base.docs_per_s
        row.passed = row.ratio >= target

    def _add(self, row: Row) -> None:
        self.rows.append(row)
        print("  " + format_row(row) + ("  " + json.dumps(row.detail, default=_rounded) if row.detail else ""),
              flush=True)


def _rounded(value: Any) -> Any:
    return round(value, 2) if isinstance(value, float) else str(value)


def _floor_document(job: tuple[int, list[str]]) -> tuple[int, float, int]:
    """The raw CLI over one document's pages, one page after the other: (index, seconds, peak RSS kB)."""
    index, pages = job
    gnu_time = Path("/usr/bin/time").exists()
    peak = 0
    started = time.perf_counter()
    with tempfile.NamedTemporaryFile(suffix=".time") as report:
        for page in pages:
            command = ["tesseract", page, "-", "-l", LANGUAGES]
            if gnu_time:
                command = ["/usr/bin/time", "-f", "%M", "-o", report.name, *command]
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                           env=dict(os.environ, OMP_THREAD_LIMIT="1"))
            if gnu_time:
                peak = max(peak, int(Path(report.name).read_text().split()[-1]))
    return index, time.perf_counter() - started, peak


def _number(value: Optional[float], digits: int = 2) -> str:
    if value is None or value != value:
        return "–"
    return f"{value:.{digits}f}"


def format_row(row: Row) -> str:
    """One markdown table line."""
    result = {True: "PASS", False: "FAIL", None: "–"}[row.passed]
    ratio = "–" if row.ratio is None else f"{row.ratio:.2f}x"
    return (f"| {row.name} | {row.docs} | {_number(row.docs_per_s)} | {_number(row.p50, 1)} | {_number(row.p95, 1)} "
            f"| {_number(row.peak_mb, 0)} | {ratio} | {row.target or '–'} | {result} |")


def machine_facts(cores: int) -> list[str]:
    """CPU count and model, memory, date, Tesseract version."""
    model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory = f"{int(Path('/proc/meminfo').read_text().split()[1]) / 2**20:.1f} GB"
    tesseract = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return [f"{cores} CPUs ({model}), {memory} RAM, load average {os.getloadavg()[0]:.2f} at start",
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}, {tesseract}, Python {platform.python_version()}"]


def deployment_facts(bench: Bench) -> str:
    """The run launcher, concurrency and sensor interval the product ran with."""
    import yaml

    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    launcher = (config.get("run_launcher") or {}).get("class", "DefaultRunLauncher")
    max_runs = ((config.get("run_coordinator") or {}).get("config") or {}).get("max_concurrent_runs", "unlimited")
    workers = getattr(bench.daemon, "worker_concurrency", None) if bench.daemon is not None else None
    interval = bench.deployment.env.get("OCR_SENSOR_INTERVAL_SECONDS") or "1 (default)"
    return (f"product: dagster.yaml run launcher {launcher}, max_concurrent_runs {max_runs}"
            + (f", run worker concurrency {workers}" if workers else "") + f", sensor interval {interval} s")


def render_report(bench: Bench, facts: list[str], elapsed: float) -> str:
    """The whole report: facts, the table, correctness, memory by process kind."""
    lines = [f"Pipeline benchmark ({elapsed / 60:.1f} min)", ""] + [f"- {fact}" for fact in facts]
    if hasattr(bench, "deployment"):
        lines.append(f"- {deployment_facts(bench)}")
    lines += ["", "| row | docs | docs/s | p50 s | p95 s | peak MB | ratio | target | result |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += [format_row(row) for row in bench.rows]
    lines += ["", f"Verdict mismatches against the peer: {len(bench.mismatches)} of {bench.compared} compared"]
    lines += [f"  - {m}" for m in bench.mismatches[:20]]
    if bench.incomplete:
        lines += ["Incomplete:"] + [f"  - {m}" for m in bench.incomplete]
    lines += ["", "Latency: produce -> terminal row (floor: pool start -> document done; backfill: run created "
              "-> row). Peak MB: the worker process (peer consumer, run worker; floor: Tesseract). Detail: "
              "pickup = produce -> row received, queued = received -> started, in-service = started -> "
              "terminal (seconds).", "", "Detail:"]
    for row in bench.rows:
        if row.detail:
            lines.append(f"  {row.name}: {json.dumps(row.detail, default=_rounded, ensure_ascii=False)}")
    lines += ["", "Peak RSS MB by process kind and phase:"]
    for phase, peaks in bench.sampler.phase_peaks.items():
        shown = ", ".join(f"{kind} {mb:.0f}" for kind, mb in sorted(peaks.items()) if kind != "gone")
        lines.append(f"  {phase}: {shown}")
    lines += ["", "CPU seconds per document by process kind and phase (the Postgres server: all its processes):"]
    documents = {row.name: row.docs for row in bench.rows}
    for phase, used in bench.sampler.phase_cpu.items():
        count = documents.get(phase) or 0
        if not count:
            continue
        shown = ", ".join(f"{kind} {seconds / count:.3f}" for kind, seconds in
                          sorted(used.items(), key=lambda item: -item[1]) if kind != "gone" and seconds > 0.005 * count)
        lines.append(f"  {phase}: total {sum(used.values()) / count:.3f} = {shown}")
    lines += [f"- {note}" for note in bench.notes]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=40, help="documents in the set (default 40)")
    parser.add_argument("--rows", default=",".join(ALL_ROWS), help=f"comma-separated subset of {','.join(ALL_ROWS)}")
    parser.add_argument("--scale", default="50,200,1000", help="burst sizes of the scale rows")
    parser.add_argument("--backfill-docs", type=int, default=200,
                        help="a second backfill row (and its peer row) over this many documents, the set "
                             "repeated: backfills are large, and the first seconds of a run weigh on a small "
                             "one (0: none)")
    parser.add_argument("--lowload-events", type=int, default=10)
    parser.add_argument("--lowload-interval", type=float, default=4.0, help="seconds between low-load events")
    parser.add_argument("--sensor-interval", type=int, default=None,
                        help="OCR_SENSOR_INTERVAL_SECONDS for the product (default: the deployment default)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every row")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds of slack for each wait")
    parser.add_argument("--seconds-per-event", type=float, default=20.0,
                        help="added to a wait's timeout per event and core")
    parser.add_argument("--out", help="also write the report (markdown) to this file")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, documents)")
    args = parser.parse_args()
    if args.quick:
        args.docs = min(args.docs, 7)
        args.scale = "8,16"
        args.backfill_docs = min(args.backfill_docs, 16)
        args.lowload_events = min(args.lowload_events, 3)
        args.lowload_interval = min(args.lowload_interval, 3.0)
    args.scale = [int(s) for s in str(args.scale).split(",") if s.strip()]
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(rows) - set(ALL_ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    if "backfill" not in rows:
        args.backfill_docs = 0

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-speed-"))
    facts = machine_facts(os.cpu_count() or 1)
    print("\n".join(facts), flush=True)
    status = 2
    bench = None
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(args, workdir, stack)
            bench.start_services()
            bench.prepare_documents()
            if "floor" in rows:
                bench.run_floor()
            # the peer is the reference of every verdict comparison: it runs whenever another event row does
            if "peer" in rows or set(rows) & {"product", "stages", "backfill", "lowload", "scale"}:
                bench.run_peer()
            if set(rows) & {"product", "stages", "backfill", "lowload", "scale"}:
                bench.start_product()
                if "product" in rows:
                    bench.run_product()
                if "stages" in rows:
                    bench.run_stages()
                if "lowload" in rows:
                    bench.run_lowload()
                if "backfill" in rows:
                    bench.run_backfill(bench.documents, "backfill", getattr(bench, "peer", None))
                    if args.backfill_docs:
                        bench.run_backfill(bench._cycle(args.backfill_docs), f"backfill-{args.backfill_docs}",
                                           getattr(bench, "peer_large", None))
                if "scale" in rows:
                    bench.run_scale()
            facts.append(f"load average {os.getloadavg()[0]:.2f} at the end")
            report = render_report(bench, facts, time.perf_counter() - started)
        if bench.mismatches or bench.incomplete:
            status = 2
        elif any(row.passed is False for row in bench.rows):
            status = 1
        else:
            status = 0
    except BaseException:
        if bench is not None and bench.rows:
            print(render_report(bench, facts, time.perf_counter() - started), flush=True)
        print(f"working directory kept: {workdir}", flush=True)
        raise
    print("\n" + report, flush=True)
    if args.out:
        Path(args.out).write_text(report + "\n", encoding="utf-8")
    if args.keep or status == 2:
        print(f"working directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
