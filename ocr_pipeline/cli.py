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
        f"confidence:     {verdict.confidence:.2f}" + ("  (review required)" if verdict.review_required else ""),
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

    from .api import ApiSettings, create_app
    from .api.log_masking import install_iin_masking

    if not args.verbose:
        logging.getLogger("ocr_pipeline").setLevel(logging.INFO)
        logging.getLogger("uvicorn").setLevel(logging.INFO)
    install_iin_masking()
    try:
        settings = ApiSettings.from_env()
    except ValueError as error:
        return _usage_error(str(error))
    # log_config=None: uvicorn's loggers go through the root handler and its IIN masking
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None,
                timeout_graceful_shutdown=10)
    return EXIT_VERDICT


def _worker(args: argparse.Namespace) -> int:
    from .celery_worker import app
    from .run_workers import run_queue

    argv = [
        "worker", "--concurrency", str(args.concurrency), "--queues", run_queue(),
        "--prefetch-multiplier", "1", "-O", "fair", "--loglevel", "DEBUG" if args.verbose else "INFO",
        "--without-gossip", "--without-mingle",
    ]
    if args.max_tasks_per_child > 0:
        argv += ["--max-tasks-per-child", str(args.max_tasks_per_child)]
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
