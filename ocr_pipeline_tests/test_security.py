"""Security (issue #8): IINs and names masked in every log and Dagster table, no credentials in the
repository, names stored verbatim through parameterised queries, private temporary files, Kafka SASL/SSL
and the S3 CA bundle validated and passed through to the clients.

What the log scan covers (``test_a_batch_at_debug_leaks_no_iin_and_no_document_text``): every line the
daemon, its code server and the run workers write (all at DEBUG, root logger included), every file
under ``$DAGSTER_HOME/storage`` (compute logs of the runs and of the sensor ticks), and every row of
Dagster's event log (``event_logs``) in Postgres; the test also reports any other Dagster table holding
a full IIN (the run config carries only the request_id). ``test_a_batch_at_debug_leaks_no_applicant_name``
does the same for the applicants' names, in every Dagster table.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional

import pytest

from ocr_pipeline.engine.iin import mask_iin
from ocr_pipeline_devtools import docgen, services
from ocr_pipeline_devtools.dagster_fixtures import (
    REPO_ROOT,
    DaemonProcess,
    event_bytes,
    make_iin,
    new_request_id,
    wait_for,
)
from ocr_pipeline_devtools.fault_report import FAULT_TEST_MARK, record_fault

pytestmark = pytest.mark.e2e

faults = getattr(pytest.mark, FAULT_TEST_MARK)

# ----------------------------------------------------------------------------------------- scanning

_LEVEL = re.compile(r"(?:^|[\s\[\-|:])(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)(?=[\s/:\-|\]])")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def iin_pattern(iins: Iterable[str]) -> re.Pattern:
    """Any of ``iins`` as written in a log or by a document: plain, or with one space, dash or dot
    between digits (``9601 2540 0123``); never a masked form (``9601******23``)."""
    alternatives = sorted({r"[ \-.]?".join(iin) for iin in iins}, key=len, reverse=True)
    return re.compile(r"(?<!\d)(?:" + "|".join(alternatives) + r")(?!\d)")


def line_level(line: str) -> Optional[str]:
    """The log level a line names (Python logging, Dagster's console, Celery), or None."""
    match = _LEVEL.search(line[:200])
    if match is None:
        return None
    return {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(match.group(1), match.group(1))


def find_document_words(lines: Iterable[str], words: set[str]) -> list[str]:
    """Lines at INFO or above (or of no stated level, e.g. a traceback) containing one of ``words``."""
    hits = []
    for line in lines:
        if line_level(line) == "DEBUG":
            continue
        found = {w.lower() for w in _WORD.findall(line)} & words
        if found:
            hits.append(f"{sorted(found)[:3]} in {line[:200]!r}")
    return hits


def distinctive_words(text: str, exclude: Iterable[str]) -> set[str]:
    """Lower-cased words of at least 8 letters from a document's text, minus ``exclude`` (name parts,
    words of the S3 keys): words only the document's text would put in a log line."""
    excluded = {w.lower() for part in exclude for w in _WORD.findall(part)}
    return {w.lower() for w in _WORD.findall(text) if len(w) >= 8} - excluded


def test_the_log_scanners_find_what_they_look_for():
    """The scan of the end-to-end test can fail: full IINs in any spacing, document words at INFO,
    levels of Python logging, Dagster's console and Celery lines."""
    iin = "960125400123"
    pattern = iin_pattern([iin])
    for leaked in (f"iin={iin}", f"b'\\x00\\x02{{\"iin\": \"{iin}\"}}'", "ИИН 9601 2540 0123", "960125-400123"):
        assert pattern.search(leaked), leaked
    for safe in (mask_iin(iin), f"1{iin}", f"{iin}7", "9601******23"):
        assert not pattern.search(safe), safe
    assert line_level("2026-11-27 07:10:40,879 DEBUG kafka.protocol.parser[1]: Recv") == "DEBUG"
    assert line_level("2026-11-27 07:10:40 +0000 - dagster - INFO - verify_request - step") == "INFO"
    assert line_level("[2026-11-27 07:10:40,123: WARNING/ForkPoolWorker-1] slow") == "WARNING"
    assert line_level("Traceback (most recent call last):") is None
    words = distinctive_words("В соответствии со статьей 99 Трудового кодекса Иванова", exclude=["Иванова"])
    assert words == {"соответствии", "трудового"}
    lines = ["2026-11-27 07:10:40 +0000 - dagster - INFO - page: В соответствии со статьей",
             "2026-11-27 07:10:40,879 DEBUG x: трудового кодекса", "    трудового (a traceback line)"]
    assert len(find_document_words(lines, words)) == 2


# ------------------------------------------------------------------------- 1. logs and the event log

_DEBUG_EVERYWHERE = '''\
"""Test-only: every Python process of the deployment logs at DEBUG on stderr, root logger included."""
import logging
import sys

_handler = logging.StreamHandler(sys.stderr)
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"))
logging.getLogger().addHandler(_handler)
logging.getLogger().setLevel(logging.DEBUG)
'''

_PYTHON_LOGS = """
# test_security: Python loggers captured into the event log at DEBUG
python_logs:
  python_log_level: DEBUG
  managed_python_loggers: [ocr_pipeline, pytesseract, botocore, kafka]
"""


class DebugDaemon(DaemonProcess):
    """The deployment's processes at DEBUG: ``dagster-daemon run --log-level debug
    --code-server-log-level debug`` and ``ocr-pipeline -v worker``."""

    def _spawn(self, command: list[str], log_path: Path) -> subprocess.Popen:
        program = Path(command[0]).name
        if program == "ocr-pipeline":
            command = [command[0], "-v", *command[1:]]
        elif program == "dagster-daemon":
            command = [*command, "--log-level", "debug", "--code-server-log-level", "debug"]
        return super()._spawn(command, log_path)


@contextlib.contextmanager
def _debug_daemon(deployment, tmp_path: Path) -> Iterator[DebugDaemon]:
    site = tmp_path / "debug_site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_DEBUG_EVERYWHERE)
    with open(deployment.home / "dagster.yaml", "a", encoding="utf-8") as f:
        f.write(_PYTHON_LOGS)
    env = dict(deployment.env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    daemon = DebugDaemon(env, deployment.log_dir / "daemon-debug.log").start()
    try:
        yield daemon
    finally:
        daemon.stop()
        daemon.kill_group()


def _dagster_tables_text(dagster_url: str) -> dict[str, list[str]]:
    """Every row of every table of Dagster's storage database, as text, by table."""
    import sqlalchemy as sa

    engine = sa.create_engine(dagster_url)
    try:
        with engine.connect() as conn:
            tables = [r[0] for r in conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))]
            return {table: [r[0] for r in conn.execute(sa.text(f'SELECT t::text FROM "{table}" t'))]
                    for table in tables}
    finally:
        engine.dispose()


def _storage_files(home: Path) -> tuple[list[Path], list[Path]]:
    """Files under DAGSTER_HOME: (logs: compute logs and anything else textual, run outputs: the
    filesystem IO manager's pickles of step outputs)."""
    logs, outputs = [], []
    for path in sorted(home.rglob("*")):
        if not path.is_file() or path.name == "dagster.yaml":
            continue
        parts = path.relative_to(home).parts
        if "compute_logs" in parts or path.suffix in (".out", ".err", ".log", ".complete", ".txt", ".json"):
            logs.append(path)
        else:
            outputs.append(path)
    return logs, outputs


@faults
@pytest.mark.timeout(400)
def test_a_batch_at_debug_leaks_no_iin_and_no_document_text(deployment, kafka_broker, s3_server, tmp_path):
    """A small batch through the real daemon and run workers, everything at DEBUG: no full IIN in any
    log line, compute log or event-log entry, and no document text in any line at INFO or above."""
    import dagster as dg

    from ocr_pipeline.adapters.store import TERMINAL_STATUSES

    ivanova, akhmetov, kim = (docgen.PEOPLE[k] for k in ("ivanova", "akhmetov", "kim"))
    ids = {name: new_request_id() for name in ("accepted", "mismatch", "missing", "bad_iin")}
    keys = {"accepted": "sec/Приказ - Иванова.png", "mismatch": "sec/Справка - Ахметов.png",
            "missing": "sec/Больничный - Ким.png"}
    accepted_page = docgen.render_document("maternity_order", ivanova, name_case="dat", seed=11)
    # Ахметов's request with a document about Иванова: her IIN is printed, next to her name
    mismatch_page = docgen.render_document("employment_certificate", ivanova, name_case="nom", seed=12)
    client = s3_server.client()
    for key, page in ((keys["accepted"], accepted_page), (keys["mismatch"], mismatch_page)):
        client.put_object(Bucket=deployment.bucket, Key=key, Body=docgen.degrade(page, "clean", seed=1))
    bad_iin = kim.iin[:-1] + str((int(kim.iin[-1]) + 1) % 10)
    events = [
        event_bytes(request_id=ids["accepted"], s3_path=keys["accepted"], iin=ivanova.iin,
                    last_name=ivanova.last_name, first_name=ivanova.first_name, second_name=ivanova.second_name),
        event_bytes(request_id=ids["mismatch"], s3_path=keys["mismatch"], iin=akhmetov.iin,
                    last_name=akhmetov.last_name, first_name=akhmetov.first_name,
                    second_name=akhmetov.second_name),
        event_bytes(request_id=ids["missing"], s3_path=keys["missing"], iin=kim.iin, last_name=kim.last_name,
                    first_name=kim.first_name, second_name=kim.second_name),
        event_bytes(request_id=ids["bad_iin"], s3_path=keys["missing"], iin=bad_iin, last_name=kim.last_name,
                    first_name=kim.first_name),
        b'{"request_id": 5, "iin": "' + ivanova.iin.encode() + b'", not json',
    ]
    valid = [ids["accepted"], ids["mismatch"], ids["missing"]]
    printed = set(re.findall(r"(?<!\d)\d{12}(?!\d)", re.sub(r"(?<=\d)[ \-.](?=\d)", "",
                                                          docgen.document_text(mismatch_page))))
    secret_iins = {p.iin for p in docgen.PEOPLE.values()} | {bad_iin} | printed
    pattern = iin_pattern(secret_iins)
    names = [form for person in (ivanova, akhmetov, kim) for form in person.forms.values()]
    words = distinctive_words(docgen.document_text(accepted_page) + "\n" + docgen.document_text(mismatch_page),
                              exclude=[*names, *keys.values()])
    assert len(words) >= 20, words

    started = time.monotonic()
    with _debug_daemon(deployment, tmp_path) as daemon:
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, events, partition=0)

        def terminal() -> bool:
            rows = [deployment.store.get(rid) for rid in valid]
            return all(r is not None and r["status"] in TERMINAL_STATUSES for r in rows)

        wait_for(terminal, 240, what="the batch's terminal rows", on_timeout=lambda: daemon.log_tail(80))
        rows = {rid: deployment.store.get(rid) for rid in valid}
        with deployment.instance() as instance:
            wait_for(lambda: all(r.is_finished for r in instance.get_runs(
                filters=dg.RunsFilter(job_name="verify_request"))), 60, what="the runs to finish")
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="verify_request"))
            entries = [entry for run in runs for entry in instance.all_logs(run.run_id)]
        daemon_alive = daemon.alive() and daemon.worker_alive()
    elapsed = time.monotonic() - started

    assert rows[ids["accepted"]]["verdict"] is True, rows[ids["accepted"]]
    assert rows[ids["mismatch"]]["verdict"] is False, rows[ids["mismatch"]]
    assert rows[ids["missing"]]["status"] == "failed", rows[ids["missing"]]
    assert len(runs) == 3

    leaks: list[str] = []
    text_at_info: list[str] = []
    log_lines = 0
    log_files = sorted(deployment.log_dir.glob("daemon-debug*.log"))
    storage_logs, run_outputs = _storage_files(deployment.home)
    for path in [*log_files, *storage_logs]:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        log_lines += len(lines)
        leaks += [f"{path.name}: {line[:200]!r}" for line in lines if pattern.search(line)]
        text_at_info += [f"{path.name}: {hit}" for hit in find_document_words(lines, words)]
    debug_lines = sum(1 for path in log_files for line in path.read_text(errors="replace").splitlines()
                      if line_level(line) == "DEBUG")

    from dagster._serdes import serialize_value

    for entry in entries:
        serialized = serialize_value(entry)
        if pattern.search(serialized):
            leaks.append(f"event log {entry.run_id[:8]} {entry.dagster_event_type or 'message'}: "
                         f"{pattern.search(serialized).group()[:4]}…")
        if entry.level >= logging.INFO and find_document_words([entry.user_message or ""], words):
            text_at_info.append(f"event log INFO+: {entry.user_message[:200]!r}")
    tables = _dagster_tables_text(deployment.env["DAGSTER_PG_URL"])
    leaks += [f"event_logs row: {row[:160]!r}" for row in tables.get("event_logs", []) if pattern.search(row)]
    holding_iin = {table: sum(1 for row in rows_ if pattern.search(row)) for table, rows_ in tables.items()}
    holding_iin = {table: n for table, n in holding_iin.items() if n}
    outputs_with_iin = [str(p.relative_to(deployment.home)) for p in run_outputs
                        if pattern.search(p.read_bytes().decode("latin-1"))]
    captured_managed = sum(1 for e in entries if e.dagster_event is None and e.level == logging.DEBUG)

    note = (f"{log_lines} log lines ({debug_lines} DEBUG) in {len(log_files)} process logs and "
            f"{len(storage_logs)} compute logs, {len(entries)} event-log entries ({captured_managed} DEBUG "
            f"records of managed loggers), {len(tables.get('event_logs', []))} event_logs rows; "
            f"{len(secret_iins)} IINs searched; leaks: {len(leaks)}; document text at INFO+: "
            f"{len(text_at_info)}. Full IIN by design (not logs): Dagster tables {holding_iin} "
            f"(run config), run outputs {len(outputs_with_iin)} files. {elapsed:.0f} s")
    print("\nSECURITY", note)
    for line in leaks[:20] + text_at_info[:20] + outputs_with_iin[:10]:
        print("SECURITY", line)
    record_fault("IIN in logs / event log (DEBUG)", log_lines + len(entries), crashed=0 if daemon_alive else 1,
                 note=note)
    assert debug_lines > 100 and captured_managed > 0, "the processes did not log at DEBUG: the scan proves nothing"
    assert leaks == []
    assert text_at_info == []
    assert daemon_alive


# -------------------------------------------------------------------- 1b. applicant names everywhere

def name_pattern(names: Iterable[str]) -> re.Pattern:
    """Any word of ``names`` (at least 4 letters) as a log, a traceback or a table could hold it: as
    written (any case), JSON-escaped (``\\u0416...``, as Dagster stores events) or as the escaped UTF-8 of
    a ``bytes`` repr (``\\xd0\\x96...``, as Kafka's DEBUG dumps show records); words of 7 letters and
    more also by their stem (other grammatical cases)."""
    words = {w for name in names for w in _WORD.findall(name) if len(w) >= 4}
    words |= {w[:-2] for w in words if len(w) >= 7}  # the stem: other cases of a long name too
    alternatives = set()
    for word in words:
        for variant in (word, word.lower(), word.upper(), word.capitalize()):
            alternatives.add(re.escape(variant))
            alternatives.add(re.escape(json.dumps(variant)[1:-1]))
            alternatives.add(re.escape(repr(variant.encode("utf-8"))[2:-1]))
    return re.compile("(?i:" + "|".join(sorted(alternatives, key=len, reverse=True)) + ")")


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def unescaped(text: str) -> str:
    """``text`` with doubled backslashes collapsed and ``\\uXXXX`` escapes decoded: a JSON string inside a
    Postgres row's text (``event_logs``) or a repr is escaped once or twice over."""
    collapsed = re.sub(r"\\{2,}", lambda m: "\\", text)
    return _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), collapsed)


def test_the_name_scanner_finds_names_in_every_form():
    """The scan of the end-to-end test can fail: a name plain, in another case, JSON-escaped, as bytes."""
    pattern = name_pattern(["Жармағанбетова Әлия Серікқызы"])
    for leaked in ("last_name=Жармағанбетова", "ЖАРМАҒАНБЕТОВА", json.dumps({"n": "Серікқызы"}),
                   repr("Әлия".encode("utf-8")), "жармағанбетовой"):
        assert pattern.search(leaked), leaked
    row = '(7,"{""name_snippet"": ""' + json.dumps("Серікқызы")[1:-1].replace("\\", "\\\\") + '""}")'
    assert not pattern.search(row) and pattern.search(unescaped(row)), row  # a Postgres row's text
    for safe in ("Ж************", "Ж.", "Ә***", "Серік"):
        assert not pattern.search(safe) and not pattern.search(unescaped(safe)), safe


@faults
@pytest.mark.timeout(400)
def test_a_batch_at_debug_leaks_no_applicant_name(deployment, kafka_broker, s3_server, tmp_path):
    """Requests with distinctive names (accepted, a document about someone else, a missing document, an
    invalid event) through the real daemon and run workers, everything at DEBUG: no name part, in any
    case or declension the documents print, in any log line, compute log or Dagster table (runs with
    their tags and config, event_logs, ticks, instigators, asset tables). ``ocr_requests`` and
    ``ocr_invalid_events`` are the product's record and keep the names."""
    import dagster as dg

    from ocr_pipeline.adapters.store import TERMINAL_STATUSES

    aliya, dauren, dinara, gulnar = (docgen.PEOPLE[k] for k in
                                     ("zharmaganbetova", "bekmukhambetov", "tazhibaeva", "nurgalieva"))
    ids = {name: new_request_id() for name in ("accepted", "mismatch", "missing", "invalid")}
    keys = {name: f"names/{ids[name]}.png" for name in ids}  # keys that name nobody
    client = s3_server.client()
    accepted_page = docgen.render_document("maternity_order", aliya, name_case="dat", seed=31)
    mismatch_page = docgen.render_document("employment_certificate", aliya, name_case="nom", seed=32)
    for key, page in ((keys["accepted"], accepted_page), (keys["mismatch"], mismatch_page)):
        client.put_object(Bucket=deployment.bucket, Key=key, Body=docgen.degrade(page, "clean", seed=1))

    def event(rid: int, key: str, person, iin: Optional[str] = None) -> bytes:
        return event_bytes(request_id=rid, s3_path=key, iin=iin or person.iin, last_name=person.last_name,
                           first_name=person.first_name, second_name=person.second_name)

    bad_iin = gulnar.iin[:-1] + str((int(gulnar.iin[-1]) + 1) % 10)
    events = [event(ids["accepted"], keys["accepted"], aliya), event(ids["mismatch"], keys["mismatch"], dauren),
              event(ids["missing"], keys["missing"], dinara), event(ids["invalid"], keys["missing"], gulnar, bad_iin)]
    valid = [ids["accepted"], ids["mismatch"], ids["missing"]]
    people = (aliya, dauren, dinara, gulnar)
    pattern = name_pattern([form for person in people for form in (*person.forms.values(), person.kk_dat)])

    started = time.monotonic()
    with _debug_daemon(deployment, tmp_path) as daemon:
        services.produce(kafka_broker.bootstrap_servers, deployment.topic, events, partition=0)

        def terminal() -> bool:
            rows = [deployment.store.get(rid) for rid in valid]
            return all(r is not None and r["status"] in TERMINAL_STATUSES for r in rows)

        wait_for(terminal, 240, what="the batch's terminal rows", on_timeout=lambda: daemon.log_tail(80))
        rows = {rid: deployment.store.get(rid) for rid in valid}
        with deployment.instance() as instance:
            wait_for(lambda: all(r.is_finished for r in instance.get_runs(
                filters=dg.RunsFilter(job_name="verify_request"))), 60, what="the runs to finish")
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="verify_request"))
        time.sleep(3)  # a few more sensor ticks after the last run
        daemon_alive = daemon.alive() and daemon.worker_alive()
    elapsed = time.monotonic() - started

    assert rows[ids["accepted"]]["verdict"] is True, rows[ids["accepted"]]
    assert rows[ids["mismatch"]]["verdict"] is False, rows[ids["mismatch"]]
    assert rows[ids["missing"]]["status"] == "failed", rows[ids["missing"]]
    assert len(runs) == 3
    assert pattern.search(json.dumps(rows[ids["accepted"]], default=str, ensure_ascii=False))  # the product's row

    leaks: list[str] = []
    log_lines = 0
    log_files = sorted(deployment.log_dir.glob("daemon-debug*.log"))
    storage_logs, run_outputs = _storage_files(deployment.home)
    for path in [*log_files, *storage_logs, *run_outputs]:
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = text.splitlines()
        log_lines += len(lines)
        leaks += [f"{path.name}: {line[:240]!r}" for line in lines
                  if pattern.search(line) or pattern.search(unescaped(line))]
    debug_lines = sum(1 for path in log_files for line in path.read_text(errors="replace").splitlines()
                      if line_level(line) == "DEBUG")
    tables = _dagster_tables_text(deployment.env["DAGSTER_PG_URL"])
    for table, table_rows in tables.items():
        for row in table_rows:
            found = pattern.search(row) or pattern.search(unescaped(row))
            if found:
                leaks.append(f"{table} row: {found.group()!r} in {unescaped(row)[:240]!r}")
    rows_scanned = sum(len(r) for r in tables.values())
    note = (f"4 applicants (accepted, someone else's document, missing document, invalid event), every process at "
            f"DEBUG: {log_lines} lines in {len(log_files)} process logs and {len(storage_logs)} compute logs "
            f"({debug_lines} DEBUG), {rows_scanned} rows of {len(tables)} Dagster tables; name words searched "
            f"plain, JSON-escaped and as UTF-8 bytes; leaks: {len(leaks)}. {elapsed:.0f} s")
    print("\nSECURITY names", note)
    for line in leaks[:40]:
        print("SECURITY name leak", line)
    record_fault("Applicant names in logs / Dagster tables (DEBUG)", log_lines + rows_scanned, lost=0,
                 crashed=0 if daemon_alive else 1, note=note)
    assert debug_lines > 100, "the processes did not log at DEBUG: the scan proves nothing"
    assert leaks == []
    assert daemon_alive


# ------------------------------------------------------------------------- 2. credentials in the repo

_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA)[0-9A-Z]{16}\b")
_AWS_SECRET = re.compile(r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")  # noqa: E501
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_URL_CREDENTIALS = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://(?P<user>[^\s:/@'\"`<>()]+):(?P<password>[^\s@/'\"`]+)@")
_SECRET_KEY_NAME = r"[A-Za-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key)[A-Za-z0-9_.\-]*"  # noqa: E501
_CONFIG_ASSIGNMENT = re.compile(
    rf"(?im)^[ \t\-]*(?:export[ \t]+)?[\"']?(?P<key>{_SECRET_KEY_NAME})[\"']?[ \t]*[:=][ \t]*(?P<value>[^\n]*)$")
_CODE_LITERAL = re.compile(
    rf"(?i)\b(?P<key>{_SECRET_KEY_NAME})[\"']?\s*[:=]\s*(?P<quote>[\"'])(?P<value>[^\"'\n]{{4,}})(?P=quote)")
_PLACEHOLDER_WORDS = ("change_me", "changeme", "change-me", "example", "placeholder", "your_", "your-", "xxx",
                      "***", "…", "...", "redacted", "dummy", "<", "password", "secret")
_CONFIG_SUFFIXES = {".yml", ".yaml", ".env", ".ini", ".cfg", ".toml", ".conf", ".properties", ".sh", ".json"}


def is_placeholder(value: str) -> bool:
    """An empty value, a reference to the environment (``${VAR}``, ``$VAR``, ``{env: VAR}``, ``env:``)
    or an obvious placeholder (``CHANGE_ME``, ``<password>``, ``example``)."""
    value = value.split(" #")[0].strip().strip("'\"").strip()
    if not value or value in ("-", "–", "null", "None", "~", "{}"):
        return True
    reference = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?P<op>:?[-?=+])(?P<word>[^}]*))?\}", value)
    if reference:  # ${VAR:?message} is an error message; ${VAR:-default} a literal default
        return "?" in (reference.group("op") or "?") or is_placeholder(reference.group("word"))
    if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|%\(\w+\)s", value):
        return True
    if value.startswith(("{env:", "{ env:", "env:", "os.environ", "dg.EnvVar", "EnvVar(")):
        return True
    lowered = value.lower()
    return any(word in lowered for word in _PLACEHOLDER_WORDS)


def _is_config_file(path: str) -> bool:
    name = Path(path).name
    return (Path(path).suffix in _CONFIG_SUFFIXES or name.startswith(".env") or name in ("Makefile", "Dockerfile")
            or path.startswith(".ci/"))


def _is_test_code(path: str) -> bool:
    return path.startswith(("ocr_pipeline_tests/", "ocr_pipeline_devtools/")) or "/tests/" in path


def find_secrets(text: str, path: str) -> list[str]:
    """Credentials written into ``text`` (the content of the repository file ``path``).

    Everywhere: AWS access key ids, AWS secret keys, private keys, passwords in URLs
    (``scheme://user:password@host``) unless a placeholder. Configuration files (YAML, .env, shell,
    Makefile, Dockerfile): any ``*password*``/``*secret*``/``*token*``/``*key*`` set to a literal.
    Non-test Python: such a name assigned a string literal. Test code may hold dummy values
    (``testing``) but never real-looking keys."""
    findings = []

    def add(kind: str, match: re.Match) -> None:
        line = text.count("\n", 0, match.start()) + 1
        findings.append(f"{path}:{line}: {kind}")

    for match in _AWS_KEY_ID.finditer(text):
        add("AWS access key id", match)
    for match in _AWS_SECRET.finditer(text):
        if not is_placeholder(match.group("value")):
            add("AWS secret access key", match)
    for match in _PRIVATE_KEY.finditer(text):
        add("private key", match)
    for match in _URL_CREDENTIALS.finditer(text):
        if not is_placeholder(match.group("password")):
            add(f"password in a URL (user {match.group('user')!r})", match)
    if _is_config_file(path):
        for match in _CONFIG_ASSIGNMENT.finditer(text):
            if not is_placeholder(match.group("value")):
                add(f"literal value of {match.group('key')}", match)
    elif path.endswith(".py") and not _is_test_code(path):
        for match in _CODE_LITERAL.finditer(text):
            if not is_placeholder(match.group("value")):
                add(f"string literal for {match.group('key')}", match)
    return findings


def repository_files() -> list[str]:
    """Tracked files plus untracked ones that are not ignored (what the next commit may add)."""
    result = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True, timeout=30)
    return sorted({p for p in result.stdout.decode().split("\0") if p and (REPO_ROOT / p).is_file()})


def _planted(*parts: str) -> str:
    # assembled at run time, so this file itself holds no secret-looking literal
    return "".join(parts)


def test_the_repository_holds_no_credentials():
    """Every tracked (or addable) text file is scanned; secrets come from the environment only."""
    files = repository_files()
    assert "docker/.env.example" in files and "dagster.yaml" in files and len(files) > 50
    findings, scanned = [], 0
    for path in files:
        data = (REPO_ROOT / path).read_bytes()
        if b"\0" in data[:8192]:
            continue
        scanned += 1
        findings += find_secrets(data.decode("utf-8", errors="replace"), path)
    print(f"\nSECURITY credential scan: {scanned} text files, {len(findings)} finding(s)")
    assert findings == []


@pytest.mark.parametrize("path,text", [
    ("ocr_pipeline/x.py", _planted("key = '", "AKIA", "Z7QW3RT5YU8IOP2L", "'")),
    ("docs/x.md", _planted("aws_secret_access_key = ", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "A1B2C3D4E5")),
    ("certs/key.pem", _planted("-----BEGIN ", "RSA PRIVATE KEY-----\nMIIE\n")),
    ("certs/ec.pem", _planted("-----BEGIN ", "PRIVATE KEY-----\nMIIE\n")),
    ("README.md", _planted("DAGSTER_PG_URL=postgresql+psycopg2://ocr:", "Xk29vLq", "@db:5432/dagster")),
    ("ocr_pipeline/settings.py", _planted('URL = "amqp://guest:', 'Qw8r7', '@rabbit:5672//"')),
    ("docker/.env.example", _planted("POSTGRES_PASSWORD=", "Tr0ub4dor")),
    ("docker/.env.example", _planted("KAFKA_SASL_PASSWORD='", "hunter2x", "'")),
    ("docker/docker-compose.yml", _planted("  MINIO_ROOT_PASSWORD: ", "minio123pw")),
    ("docker/docker-compose.yml", _planted("  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-", "s3cr3tpw", "}")),
    ("dagster.yaml", _planted("    api_token: ", "ghp_abcdef0123456789")),
    ("ocr_pipeline/api/settings.py", _planted('BEARER_TOKEN = "', 'f00dbabe1234', '"')),
])
def test_the_credential_scanner_finds_planted_secrets(path, text):
    assert find_secrets(text, path), f"not found in {path}: {text!r}"


@pytest.mark.parametrize("path,text", [
    ("docker/.env.example", "POSTGRES_PASSWORD=\nKAFKA_SASL_PASSWORD=\nAWS_SECRET_ACCESS_KEY=\n"),
    ("docker/.env.example", "DAGSTER_PG_URL=postgresql+psycopg2://ocr:CHANGE_ME@postgres:5432/dagster"),
    ("docker/docker-compose.yml", "  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n  X_TOKEN: ${X_TOKEN:?set it}"),
    ("dagster.yaml", "# DAGSTER_PG_URL = postgresql+psycopg2://user:password@host:5432/dagster\n"
                     "    postgres_password:\n      env: DAGSTER_PG_PASSWORD"),
    ("README.md", "`postgresql+psycopg2://user:<password>@host/db`, `redis://:${REDIS_PASSWORD}@redis:6379`"),
    ("ocr_pipeline/api/settings.py", 'bearer_token=_text(environ, "API_BEARER_TOKEN", None)'),
    ("ocr_pipeline_devtools/services.py", '"AWS_SECRET_ACCESS_KEY": "testing",'),
])
def test_the_credential_scanner_accepts_placeholders(path, text):
    assert find_secrets(text, path) == []


def test_the_env_example_holds_placeholders_only():
    """``docker/.env.example``: every secret-named variable is empty or a placeholder; every URL's
    password is a placeholder."""
    lines = (REPO_ROOT / "docker/.env.example").read_text(encoding="utf-8").splitlines()
    assignments = dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    secret_names = [k for k in assignments if re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", k)]
    assert {"POSTGRES_PASSWORD", "KAFKA_SASL_PASSWORD", "AWS_SECRET_ACCESS_KEY"} <= set(secret_names)
    assert [k for k in secret_names if not is_placeholder(assignments[k])] == []
    for name, value in assignments.items():
        for match in _URL_CREDENTIALS.finditer(value):
            assert is_placeholder(match.group("password")), name


# ------------------------------------------------- 3. SQL metacharacters and Unicode tricks, verbatim

TRICKY_NAMES = {
    "apostrophe": "O'Brien",
    "sql_injection": "Robert'); DROP TABLE ocr_requests;--",
    "like_wildcards": "Ли%_\\",
    "quotes_and_semicolon": "Ким\"; SELECT pg_sleep(5); --",
    "zero_width_joiner": "Ай\u200dгерім",
    "zero_width_space": "Ма\u200bрия",
    "combining_marks": "И\u0306горь Ё\u0308",  # decomposed: not to be normalised
    "kazakh": "Жармағанбетова Әлия Серікқызы",
    "emoji": "Айгерім 👩‍👧",
    "dollar_quoting": "$$; DROP TABLE ocr_requests; $$",
    "max_length": ("Абв'%_" * 40)[:200],
}
REJECTED_NAMES = {
    "right_to_left_override": "Иван\u202eовна",  # bidi override: the contract refuses it
    "thousand_chars": ("Ж'; DROP TABLE ocr_requests;-- " * 40)[:1000],
    "nul": "Ива\x00нова",
}


def _table_exists(store, table: str) -> bool:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}).scalar()


@faults
def test_tricky_names_are_stored_verbatim_through_the_sensor_path(pg_database_url, kafka_broker, new_topic):
    """Each tricky name goes through Kafka, the sensor's ``poll_requests`` (``parse_event`` +
    ``record_received``) and back out of Postgres byte for byte; contract violations (a bidi override,
    a 1,000-character name, NUL) become invalid events whose raw excerpt is stored verbatim."""
    from ocr_pipeline.adapters.kafka import KafkaSettings
    from ocr_pipeline.adapters.store import VerdictStore
    from ocr_pipeline.defs.sensors.kafka_requests import SensorLimits, poll_requests
    from ocr_pipeline.flows.events import InvalidEvent, parse_event

    store = VerdictStore(pg_database_url)
    store.ensure_schema()
    topic = new_topic()
    iin = make_iin(serial="0777")
    accepted, rejected, values = {}, {}, []
    for label, name in TRICKY_NAMES.items():
        rid = new_request_id()
        accepted[rid] = (label, name)
        values.append(event_bytes(request_id=rid, s3_path=f"sec/{name}.pdf", iin=iin, last_name=name,
                                  first_name=name[:50], second_name=name, note=name + "\u202e" + "\x7f"))
    for label, name in REJECTED_NAMES.items():
        rid = new_request_id()
        rejected[rid] = label
        value = event_bytes(request_id=rid, s3_path="sec/x.pdf", iin=iin, last_name=name, first_name="Анна")
        with pytest.raises(InvalidEvent):
            parse_event(value)
        values.append(value)
    services.produce(kafka_broker.bootstrap_servers, topic, values, partition=0)
    settings = KafkaSettings(kafka_broker.bootstrap_servers, topic, group_id=f"g-{topic}")
    result = poll_requests(settings, store, None, SensorLimits(max_events_per_tick=100, time_budget_seconds=10,
                                                               max_queued_runs=0))

    mismatches = []
    for rid, (label, name) in accepted.items():
        row = store.get(rid)
        expected = {"last_name": name, "first_name": name[:50], "second_name": name, "s3_path": f"sec/{name}.pdf"}
        if row is None:
            mismatches.append(f"{label}: no row")
            continue
        for column, value in expected.items():
            if row[column].encode("utf-8") != value.encode("utf-8"):
                mismatches.append(f"{label}.{column}: {row[column]!r} != {value!r}")
        if row["extra"] != {"note": name + "\u202e\x7f"}:
            mismatches.append(f"{label}.extra: {row['extra']!r}")
    invalid = {r["request_id"]: r for r in store.invalid_events(topic)}
    for rid, value in zip(rejected, values[len(accepted):]):
        record = invalid.get(rid)
        if record is None or record["raw_excerpt"] != value[:2048].decode("utf-8", "backslashreplace").replace(
                "\x00", "\\x00"):
            mismatches.append(f"{rejected[rid]}: invalid event not recorded verbatim: {record}")
    tables_intact = _table_exists(store, "ocr_requests") and _table_exists(store, "ocr_invalid_events")
    runs = len(getattr(result, "run_requests", None) or [])
    record_fault("SQL metacharacters / Unicode tricks in names", len(values),
                 lost=len(mismatches), crashed=0 if tables_intact else 1,
                 note=f"{len(accepted)} stored byte for byte through Kafka + sensor + Postgres, "
                      f"{len(invalid)} refused by the contract and recorded raw; {runs} run requests; "
                      f"mismatches: {mismatches[:3]}")
    assert mismatches == []
    assert tables_intact
    assert runs == len(accepted)


def test_tricky_names_survive_a_direct_record_and_a_lookup(pg_database_url):
    """``parse_event`` + ``record_received`` without Kafka, and a read by ``rows_by_s3_path`` (an
    ``IN`` list with LIKE wildcards and quotes in the keys): only the exact key matches."""
    from ocr_pipeline.adapters.store import VerdictStore
    from ocr_pipeline.flows.events import parse_event

    store = VerdictStore(pg_database_url)
    store.ensure_schema()
    iin = make_iin(serial="0778")
    keys = {}
    for label, name in TRICKY_NAMES.items():
        rid = new_request_id()
        event = parse_event(event_bytes(request_id=rid, s3_path=f"direct/{name}", iin=iin, last_name=name,
                                        first_name=name, second_name=""))
        assert store.record_received(event)
        keys[f"direct/{name}"] = rid
    found = store.rows_by_s3_path(list(keys))
    assert {key: [r["request_id"] for r in rows] for key, rows in found.items()} == {k: [v] for k, v in keys.items()}
    assert store.rows_by_s3_path(["direct/%", "direct/_"]) in ({}, {"direct/%": [], "direct/_": []})
    assert _table_exists(store, "ocr_requests")


# --------------------------------------------------------------------------- 4. temporary files

def _private(path: Path, root: Path) -> bool:
    """``path`` is 0600-or-stricter, or lies in a directory under ``root`` that only its owner can enter."""
    if stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0:
        return True
    return any(stat.S_IMODE(parent.lstat().st_mode) & 0o077 == 0
               for parent in path.parents if parent != root and root in parent.parents)


def _exposed(root: Path) -> list[str]:
    exposed = []
    for path in root.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            if not path.is_dir() and not _private(path, root):
                exposed.append(f"{path.relative_to(root)} mode {stat.S_IMODE(path.lstat().st_mode):o}")
    return exposed


@pytest.fixture
def shared_tmp(tmp_path, monkeypatch) -> Path:
    """A temporary directory like /tmp (mode 1777, shared by every user) that the process uses as its
    temporary directory (``TMPDIR``, ``tempfile.tempdir``)."""
    root = tmp_path / "shared_tmp"
    root.mkdir()
    root.chmod(0o1777)
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def tesseract_spy(shared_tmp, monkeypatch) -> list[list[str]]:
    """While each Tesseract process runs (and just after, on success or failure), the files under the
    temporary directory that other users could read: one list per call."""
    import pytesseract

    calls: list[list[str]] = []
    real = pytesseract.pytesseract.run_tesseract

    def spy(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        finally:
            calls.append(_exposed(shared_tmp))

    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", spy)
    return calls


def _text_page() -> "object":
    from ocr_pipeline_devtools import engine_pages

    return engine_pages.to_array(engine_pages.render_page())


@faults
def test_ocr_temporary_files_are_private_and_removed_on_every_path(shared_tmp, tesseract_spy, tmp_path,
                                                                   monkeypatch):
    """The page image and Tesseract's output (the document's text) are never readable by other users
    and nothing is left behind: after a reading, a timeout, a Tesseract failure, a missing language
    and a corrupt upload."""
    import pytesseract

    from ocr_pipeline.engine.models import Applicant, DocumentError, EngineSettings
    from ocr_pipeline.engine.ocr import detect_orientation, ocr_page
    from ocr_pipeline.engine.pipeline import verify_document

    page = _text_page()
    outcomes: dict[str, str] = {}
    monkeypatch.setenv("OCR_TESSERACT_IN_PROCESS", "0")  # pages read by the command, as OSD always is

    def attempt(label: str, call) -> None:
        try:
            call()
            outcomes[label] = "ok"
        except (DocumentError, RuntimeError) as error:
            outcomes[label] = type(error).__name__
        outcomes[label] += f", left {sorted(p.name for p in shared_tmp.iterdir())}"

    attempt("read", lambda: ocr_page(page, 1, EngineSettings()))
    attempt("osd", lambda: detect_orientation(page, EngineSettings()))
    attempt("timeout", lambda: ocr_page(page, 1, EngineSettings(ocr_timeout_seconds=0.05)))
    attempt("missing language", lambda: ocr_page(page, 1, EngineSettings(languages="xx_missing")))
    failing = tmp_path / "tesseract-failing"
    failing.write_text("#!/bin/sh\necho 'Error in pixReadStream' >&2\nexit 1\n")
    failing.chmod(0o755)
    with monkeypatch.context() as patch:
        patch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(failing))
        attempt("tesseract fails", lambda: ocr_page(page, 1, EngineSettings()))
    applicant = Applicant(iin=make_iin(), last_name="Иванова", first_name="Мария", second_name="Петровна")
    attempt("corrupt upload", lambda: verify_document(b"%PDF-1.7\nnot a pdf" + os.urandom(512), applicant))
    attempt("corrupt PNG", lambda: verify_document(b"\x89PNG\r\n\x1a\n" + os.urandom(512), applicant))

    command_calls = len(tesseract_spy)
    monkeypatch.delenv("OCR_TESSERACT_IN_PROCESS")  # the default: pages read in-process, no files at all
    attempt("read in-process", lambda: ocr_page(page, 1, EngineSettings()))
    attempt("timeout in-process", lambda: ocr_page(page, 1, EngineSettings(ocr_timeout_seconds=0.001)))
    assert len(tesseract_spy) == command_calls

    exposed = [path for call in tesseract_spy for path in call]
    leftovers = sorted(p.name for p in shared_tmp.iterdir())
    record_fault("Temporary files (OCR: success, timeout, Tesseract error)", len(tesseract_spy),
                 lost=len(leftovers), crashed=0,
                 note=f"{len(tesseract_spy)} Tesseract calls watched; readable by others: {exposed[:3]}; "
                      f"left behind: {leftovers}; outcomes {outcomes}")
    assert len(tesseract_spy) >= 5
    assert outcomes["read"].startswith("ok") and outcomes["timeout"].startswith("DocumentError")
    assert outcomes["tesseract fails"].startswith("DocumentError")
    assert outcomes["missing language"].startswith("RuntimeError")
    assert outcomes["read in-process"].startswith("ok") and outcomes["timeout in-process"].startswith("DocumentError")
    assert exposed == []
    assert leftovers == []


def test_no_other_code_creates_files():
    """The only files the package writes are the OCR ones above: S3 downloads, previews and uploads
    stay in memory. A new ``open(..., "w")``/``tempfile`` elsewhere must be reviewed (and added to the
    test above)."""
    writers = re.compile(r"tempfile\.|NamedTemporaryFile|mkstemp|mkdtemp|\.write_bytes\(|\.write_text\(|"
                         r"open\([^)]*[\"'][wax]b?\+?[\"']|os\.open\(|cv2\.imwrite|\.save\(")
    found = []
    for path in sorted((REPO_ROOT / "ocr_pipeline").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if writers.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    reviewed = [f for f in found if f.startswith("ocr_pipeline/engine/ocr.py:")]
    # the run workers' metrics directory: counts labelled by codes, stages and routes, no document data
    metrics_dir = [f for f in found if f.startswith("ocr_pipeline/cli.py:") and "ocr-worker-metrics-" in f]
    in_memory_saves = [f for f in found if ".save(" in f and ("BytesIO" in f or "buffer" in f or "out" in f)]
    unreviewed = set(found) - set(reviewed) - set(metrics_dir) - set(in_memory_saves)
    assert sorted(unreviewed) == [], "review these file writes"
    assert reviewed, "ocr.py no longer writes its temporary files: update this test"


def test_every_database_engine_hides_statement_parameters():
    """SQLAlchemy quotes a failed statement's parameters (an IIN, a name) in its error text, which reaches
    logs, ticks and the UI, unless the engine sets ``hide_parameters``: every engine the package makes does."""
    calls = []
    for path in sorted((REPO_ROOT / "ocr_pipeline").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\b(?:create_engine|create_pg_engine)\(", text):
            depth, end = 0, match.end() - 1
            for end in range(match.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            calls.append((f"{path.relative_to(REPO_ROOT)}:{text.count(chr(10), 0, match.start()) + 1}",
                          text[match.start():end + 1]))
    assert len(calls) >= 3, calls  # the verdict store, the health check, Dagster's storage
    assert [where for where, call in calls if "hide_parameters=True" not in call] == []


# ------------------------------------------------------------- 5. Kafka SASL/SSL and the S3 CA bundle

def _make_ca_and_server_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``host`` it signed: (ca.pem, server.pem, server-key.pem)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocr_pipeline test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


@pytest.fixture
def ca_file(tmp_path) -> Path:
    return _make_ca_and_server_cert(tmp_path)[0]


_KAFKA_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM",
              "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE")


def _kafka_settings_from_env(monkeypatch, **variables: str):
    """What the sensor gets: the environment -> ``build_resources()`` (``dg.EnvVar``) -> the resolved
    ``KafkaResource`` -> ``KafkaSettings``."""
    import dagster as dg

    from ocr_pipeline.defs.resources import build_resources

    for name in _KAFKA_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    resource = build_resources()["kafka"]
    with dg.build_resources({"kafka": resource}) as resolved:
        return resolved.kafka, resolved.kafka.settings()


def test_kafka_sasl_ssl_settings_from_the_environment_reach_the_kafka_python_clients(monkeypatch, ca_file):
    from kafka import KafkaConsumer, KafkaProducer

    password = "pw-" + os.urandom(6).hex()
    resource, settings = _kafka_settings_from_env(
        monkeypatch, KAFKA_BOOTSTRAP_SERVERS="broker1:9094,broker2:9094", KAFKA_TOPIC="dl-loan-delay-requests",
        KAFKA_SECURITY_PROTOCOL="SASL_SSL", KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        KAFKA_SASL_USERNAME="ocr-pipeline", KAFKA_SASL_PASSWORD=password, KAFKA_SSL_CAFILE=str(ca_file))
    for config, client in ((settings.consumer_config(), KafkaConsumer), (settings.producer_config(), KafkaProducer)):
        assert config["security_protocol"] == "SASL_SSL"
        assert config["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (config["sasl_plain_username"], config["sasl_plain_password"]) == ("ocr-pipeline", password)
        assert config["ssl_cafile"] == str(ca_file)
        assert config["bootstrap_servers"] == ["broker1:9094", "broker2:9094"]
        unknown = set(config) - set(client.DEFAULT_CONFIG)
        assert unknown == set(), f"{client.__name__} would refuse {unknown}"
    for text in (repr(settings), repr(resource), str(resource)):
        assert password not in text
    # the UI shows the variable's name, never its value
    from ocr_pipeline.defs.resources import build_resources

    unresolved = build_resources()["kafka"]
    assert password not in repr(unresolved) and "KAFKA_SASL_PASSWORD" in repr(unresolved.sasl_password)


@pytest.mark.parametrize("variables,named", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u",
      "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_USERNAME"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
      "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CAFILE"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "{not_pem}"}, "KAFKA_SSL_CAFILE"),
    ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_SSL_CAFILE": "{ca}"}, "KAFKA_SSL_CAFILE"),
])
def test_kafka_security_misconfiguration_is_a_clear_error_naming_the_variable(monkeypatch, tmp_path, ca_file,
                                                                             variables, named):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    variables = {k: v.format(not_pem=not_pem, ca=ca_file) for k, v in variables.items()}
    with pytest.raises(ValueError, match=named) as raised:
        _kafka_settings_from_env(monkeypatch, KAFKA_BOOTSTRAP_SERVERS="b:9094", KAFKA_TOPIC="t", **variables)
    assert variables.get("KAFKA_SASL_PASSWORD", "\0") not in str(raised.value)


def test_a_sasl_client_logs_no_password_when_the_broker_is_unreachable(caplog):
    """kafka-python at DEBUG, our own errors and messages: the SASL password appears nowhere."""
    from ocr_pipeline.adapters.kafka import KafkaSettings, KafkaUnavailable, topic_partitions

    password = "pw-" + os.urandom(6).hex()
    settings = KafkaSettings(f"127.0.0.1:{services.free_port()}", "t", security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_username="ocr", sasl_password=password,
                             request_timeout_ms=1500)
    with caplog.at_level(logging.DEBUG), pytest.raises(KafkaUnavailable) as raised:
        topic_partitions(settings)
    assert caplog.records
    assert password not in caplog.text and password not in str(raised.value)


def _s3_settings(**overrides):
    from ocr_pipeline.adapters.s3 import S3Settings

    return S3Settings(**{"endpoint_url": "https://s3.bank.example:9000", "bucket": "b", **overrides})


def test_the_s3_ca_bundle_is_validated_and_passed_as_verify(monkeypatch, tmp_path, ca_file):
    from ocr_pipeline.adapters.s3 import S3ConfigurationError, make_s3_client, tls_verification

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    client = make_s3_client(_s3_settings(ca_bundle=str(ca_file)))
    assert client._endpoint.http_session._verify == str(ca_file)
    assert tls_verification(_s3_settings()) is None
    assert tls_verification(_s3_settings(verify_tls=False)) is False
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca_file))
    assert tls_verification(_s3_settings()) == str(ca_file)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(S3ConfigurationError, match="AWS_CA_BUNDLE"):
        make_s3_client(_s3_settings())
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate")
    for bundle in (str(tmp_path / "missing.pem"), str(not_pem), str(tmp_path)):
        with pytest.raises(S3ConfigurationError, match="S3_CA_BUNDLE"):
            make_s3_client(_s3_settings(ca_bundle=bundle))


def test_s3_ca_bundle_from_the_environment_reaches_the_document_bucket_client(monkeypatch, ca_file):
    import dagster as dg

    from ocr_pipeline.defs.resources import build_resources

    for name, value in {"S3_CA_BUNDLE": str(ca_file), "S3_ENDPOINT_URL": "https://s3.bank.example:9000",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with dg.build_resources({"documents": build_resources()["documents"]}) as resolved:
        client = resolved.documents.client()
    assert client._endpoint.http_session._verify == str(ca_file)


@contextlib.contextmanager
def _tls_s3_server(cert: Path, key: Path) -> Iterator[str]:
    """moto_server over HTTPS with ``cert``; yields its endpoint URL."""
    import ssl
    import urllib.request

    port = services.free_port()
    env = {**os.environ, **services.AWS_TEST_ENV}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port),
                                "-c", str(cert), "-k", str(key)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"https://127.0.0.1:{port}"
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    try:
        def answers() -> bool:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", context=insecure, timeout=1).close()
                return True
            except OSError:
                return process.poll() is not None
        wait_for(answers, 30, interval=0.2, what="moto_server over HTTPS")
        assert process.poll() is None, "moto_server over HTTPS did not start"
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_an_s3_endpoint_signed_by_a_private_ca_works_only_with_the_bundle(monkeypatch, tmp_path):
    """A real TLS handshake: moto_server with a certificate of a private CA. With ``S3_CA_BUNDLE`` the
    client talks to it; without, the certificate is refused."""
    from botocore.exceptions import SSLError

    from ocr_pipeline.adapters.s3 import download_object, make_s3_client

    ca, cert, key = _make_ca_and_server_cert(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with _tls_s3_server(cert, key) as endpoint:
        trusted = make_s3_client(_s3_settings(endpoint_url=endpoint, ca_bundle=str(ca)))
        trusted.create_bucket(Bucket="tls")
        trusted.put_object(Bucket="tls", Key="документ.pdf", Body=b"%PDF-1.7 tls")
        assert download_object(trusted, "tls", "документ.pdf", max_bytes=1024).data == b"%PDF-1.7 tls"
        untrusted = make_s3_client(_s3_settings(endpoint_url=endpoint))
        with pytest.raises(SSLError):
            untrusted.list_buckets()
