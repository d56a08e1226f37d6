"""``ocr-pipeline``: the command line. ``verify`` runs the engine on one local file (no Kafka, S3 or Postgres);
``serve`` runs the HTTP API; ``worker`` runs the warm run workers the Dagster daemon launches runs on."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

EXIT_VERDICT = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="verify that one document belongs to the applicant")
    verify.add_argument("file", help="PDF, JPEG, PNG or TIFF")
    verify.add_argument("--iin", required=True, help="applicant's IIN (12 digits)")
    verify.add_argument("--last-name", required=True)
    verify.add_argument("--first-name", required=True)
    verify.add_argument("--second-name", default="", help="patronymic, if any")
    verify.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    verify.add_argument(
        "--accept", action="append", metavar="TYPE",
        help="accepted document type (repeatable); others end in DOCUMENT_TYPE_NOT_ACCEPTED",
    )

    serve = commands.add_parser("serve", help="run the HTTP API (configured by environment variables)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--allow-unauthenticated", action="store_true",
        help="listen beyond loopback although API_BEARER_TOKEN is not set (anyone reaching the port may use the API)",
    )

    worker = commands.add_parser(
        "worker", help="run the Celery run workers (broker and queue from CELERY_* environment variables)"
    )
    worker.add_argument(
        "--concurrency", type=int, default=os.cpu_count() or 1,
        help="runs executed at once, one process each (default: the number of cores)",
    )
    worker.add_argument(
        "--max-tasks-per-child", type=int, default=0,
        help="replace a worker process after this many runs (default 0: never)",
    )
    return parser


def _usage_error(message: str) -> int:
    print(f"ocr-pipeline: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _format_report(verdict) -> str:
    lines = [
        f"verdict:        {'ACCEPTED' if verdict.verdict else 'REJECTED'}",
        f"document type:  {verdict.document_type}",
        f"confidence:     {verdict.confidence:.2f}",
        f"review:         {', '.join(verdict.review_reasons) if verdict.review_required else 'not needed'}",
        f"pages:          {verdict.pages}",
        f"time:           {verdict.processing_time_seconds:.2f} s",
    ]
    for error in verdict.errors:
        lines.append(f"error:          {error['code']}: {error['message']}")
    for name, check in verdict.checks.items():
        where = f" page {check.page}" if check.page else ""
        found = f": {check.snippet!r}" if check.snippet else ""
        lines.append(f"check {name:<9} {'ok ' if check.matched else 'no '} score {check.score:.2f}{where}{found}")
    return "\n".join(lines)


def _verify(args: argparse.Namespace) -> int:
    from .engine.iin import is_valid_iin
    from .engine.models import Applicant, EngineSettings
    from .engine.pipeline import verify_document

    if not os.path.isfile(args.file):
        return _usage_error(f"no such file: {args.file}")
    if not is_valid_iin(args.iin):
        return _usage_error("--iin must be a valid 12-digit IIN (checksum, birth date, century digit)")
    if not args.last_name.strip() or not args.first_name.strip():
        return _usage_error("--last-name and --first-name must not be empty")

    applicant = Applicant(args.iin, args.last_name.strip(), args.first_name.strip(), args.second_name.strip())
    settings = EngineSettings(accepted_document_types=frozenset(args.accept) if args.accept else None)
    with open(args.file, "rb") as f:
        data = f.read(settings.max_file_bytes + 1)  # one byte more is enough to refuse it as too large
    verdict = verify_document(data, applicant, settings)
    if args.json:
        print(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        print(_format_report(verdict))
    return EXIT_VERDICT


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .adapters.log_masking import install_iin_masking
    from .api import ApiSettings, create_app

    if not args.verbose:
        logging.getLogger("ocr_pipeline").setLevel(logging.INFO)
        logging.getLogger("uvicorn").setLevel(logging.INFO)
    install_iin_masking()
    try:
        settings = ApiSettings.from_env()
    except ValueError as error:
        return _usage_error(str(error))
    if not settings.bearer_token and not _is_loopback(args.host):
        if not args.allow_unauthenticated:
            return _usage_error(
                f"serve --host {args.host}: API_BEARER_TOKEN is not set, so the API would answer anyone who "
                "reaches the port. Set API_BEARER_TOKEN, listen on 127.0.0.1, or pass --allow-unauthenticated."
            )
        logging.getLogger("ocr_pipeline").warning(
            "serving on %s without a bearer token (--allow-unauthenticated): anyone reaching port %d may use the API",
            args.host, args.port,
        )
    # log_config=None: uvicorn's loggers go through the root handler and its IIN masking
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None,
                timeout_graceful_shutdown=10)
    return EXIT_VERDICT


def _is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def _prepare_metrics_dir() -> str:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at a directory without earlier values (a new temporary one
    unless set), before anything imports prometheus_client: the pool processes Celery forks then write
    their values there and this main process serves their sum (``OCR_WORKER_METRICS_PORT``)."""
    import atexit
    import glob
    import shutil
    import tempfile

    from .adapters import config

    directory = config.PROMETHEUS_MULTIPROC_DIR.get()
    if not directory:
        # in memory (/dev/shm) rather than TMPDIR: the values are memory-mapped files, and a write to a
        # mapped file on a full disk kills the process (SIGBUS): a full TMPDIR must only fail its run
        shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        directory = tempfile.mkdtemp(prefix="ocr-worker-metrics-", dir=shm)
        owner = os.getpid()  # pool processes end with os._exit, yet never let one remove it
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(directory, ignore_errors=True))
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)
    config.PROMETHEUS_MULTIPROC_DIR.set(directory)
    return directory


def _worker(args: argparse.Namespace) -> int:
    import secrets

    if "prometheus_client" not in sys.modules:  # its value class is chosen when it is imported
        _prepare_metrics_dir()
    from .adapters import telemetry
    from .deploy.celery_worker import app
    from .deploy.run_workers import run_queue

    argv = [
        "worker", "--concurrency", str(args.concurrency), "--queues", run_queue(),
        "--prefetch-multiplier", "1", "-O", "fair", "--loglevel", "DEBUG" if args.verbose else "INFO",
        "--without-gossip", "--without-mingle",
        # unique per start: a worker restarted on this machine must not vouch for its dead predecessor's
        # runs (deploy/worker_heartbeat.py)
        "--hostname", f"runs-{secrets.token_hex(4)}@%h",
    ]
    if args.max_tasks_per_child > 0:
        argv += ["--max-tasks-per-child", str(args.max_tasks_per_child)]
    telemetry.serve_metrics(telemetry.worker_metrics_port(), "run worker")
    app.worker_main(argv=argv)
    return EXIT_VERDICT


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ocr-pipeline`` console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "verify":
            return _verify(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "worker":
            return _worker(args)
    except Exception:  # noqa: BLE001 - the CLI's promise: exit 1 with a message, never a bare traceback
        logging.getLogger(__name__).exception("internal failure")
        return EXIT_INTERNAL_ERROR
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
