"""The README's screenshots, taken by headless Chromium (Debian's, driven by Playwright) against a running
``make demo`` (it writes the addresses and the API token to ``.demo/urls.json``).

    make demo                        # in one terminal; wait for the results table
    .venv/bin/python scripts/screenshots.py [--only review|dagster] [--out docs/images]

``review``: the review desk (the queue, a case with its evidence preview); it records no decision.
``dagster``: the Dagster UI on what the demo did, plus what an analyst does next, done here through the
webserver's GraphQL API as the README shows: the missing document uploaded and its failed run
re-executed, historical documents put under ``2024/11/``
and that prefix registered and backfilled, yesterday's daily summary materialised.
Dagster's UI is a React app: every shot waits for the text it must show, then for the network to settle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ocr_pipeline_devtools import browser  # noqa: E402

LOCATION = {"repositoryLocationName": "ocr_pipeline", "repositoryName": "__repository__"}
PREFIX = "2024/11/"  # historical documents no Kafka event ever named


def _settle(page: Any, text: str, timeout: float = 60_000) -> None:
    page.wait_for_selector(f"text={text}", timeout=timeout)
    page.wait_for_load_state("networkidle", timeout=timeout)
    skip = page.locator("button:has-text('Skip')")  # the UI's "Join the Dagster community" dialog, once
    if skip.count() and skip.first.is_visible():
        skip.first.click()
    page.locator(f"text={text}").first.scroll_into_view_if_needed()
    page.wait_for_timeout(800)  # the last React render after the data arrived


def shoot_review_desk(context: Any, urls: dict, out: Path) -> list[Path]:
    page = context.new_page()
    page.goto(urls["review_desk"])
    page.fill("#token", urls["api_token"])
    page.fill("#reviewer", "a.seitkali")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#queue-rows tr")
    queue = out / "review-queue.png"
    page.screenshot(path=str(queue), full_page=True)
    page.locator("#queue-rows a").first.click()
    page.wait_for_selector("#preview:not([hidden])", timeout=30_000)
    page.fill("#comment", "The initials in item 1 are the applicant's")
    desk = out / "review-desk.png"
    page.screenshot(path=str(desk), full_page=True)
    page.close()
    return [queue, desk]


class Dagster:
    """The webserver's GraphQL API, enough for the analyst's steps the shots show."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = httpx.Client(timeout=60)

    def query(self, text: str, variables: dict | None = None) -> dict:
        for attempt in range(3):  # a 500 (e.g. a storage connection dropped) launched nothing: ask again
            response = self.http.post(f"{self.url}/graphql", json={"query": text, "variables": variables or {}})
            if response.status_code < 500:
                break
            time.sleep(2)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    def runs(self, job: str, status: str | None = None) -> list[dict]:
        filters: dict = {"pipelineName": job}
        if status:
            filters["statuses"] = [status]
        data = self.query("""query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results {
            runId status tags { key value } } } } }""", {"f": filters})
        return data["runsOrError"]["results"]

    def run_status(self, run_id: str) -> str:
        return self.query("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                          {"id": run_id})["runOrError"]["status"]

    def wait_run(self, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.run_status(run_id)) not in ("SUCCESS", "FAILURE", "CANCELED"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {status}")
            time.sleep(2)
        return status

    def launch(self, job: str, run_config: dict) -> str:
        data = self.query("""mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
            ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                          {"p": {"selector": {**LOCATION, "jobName": job}, "runConfigData": run_config}})
        return _launched(data["launchRun"])

    def reexecute(self, run_id: str) -> str:
        data = self.query("""mutation($p: ReexecutionParams!) { launchRunReexecution(reexecutionParams: $p) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                          {"p": {"parentRunId": run_id, "strategy": "FROM_FAILURE"}})
        return _launched(data["launchRunReexecution"])

    def backfill(self, asset: str, partitions: list[str]) -> str:
        data = self.query("""mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                          {"p": {"partitionNames": partitions, "assetSelection": [{"path": [asset]}]}})
        result = data["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(result)
        return result["backfillId"]

    def wait_backfill(self, backfill_id: str, timeout: float = 900) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = self.query("query($id: String!) { partitionBackfillOrError(backfillId: $id) { "
                                "... on PartitionBackfill { status } } }",
                                {"id": backfill_id})["partitionBackfillOrError"]["status"]
            if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"backfill {backfill_id} still {status}")
            time.sleep(3)


def _launched(result: dict) -> str:
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(result)
    return result["run"]["runId"]


def shoot_dagster(context: Any, urls: dict, out: Path, log: Callable[[str], None]) -> list[Path]:
    dagster = Dagster(urls["dagster_ui"])
    ui = dagster.url
    page = context.new_page()
    shots: list[Path] = []

    def shot(name: str, path: str, wait_for: str) -> None:
        page.goto(ui + path)
        _settle(page, wait_for)
        target = out / name
        page.screenshot(path=str(target))
        shots.append(target)
        log(f"saved {target.relative_to(REPO)}")

    shot("dagster-runs.png", "/runs", "verify_request")

    # a request's run: the verdict's materialization with its evidence (preview address, boxes)
    done = dagster.runs("verify_request", "SUCCESS")
    reviewed = next((r for r in done if _tag(r, "request_id") and _is_review_case(urls, int(_tag(r, "request_id")))),
                    done[0])
    shot("dagster-request-run.png", f"/runs/{reviewed['runId']}?logs=type%3AASSET_MATERIALIZATION", "review_reasons")

    # a failed run (the document was never uploaded), then its re-execution once it is there
    failed = dagster.runs("verify_request", "FAILURE")[0]
    shot("dagster-failed-run.png", f"/runs/{failed['runId']}", "S3_OBJECT_NOT_FOUND")
    _upload_missing_document(urls, int(_tag(failed, "request_id")))
    rerun = dagster.reexecute(failed["runId"])
    log(f"re-executing {failed['runId']} as {rerun}: {dagster.wait_run(rerun)}")
    shot("dagster-reexecuted-run.png", f"/runs/{rerun}", "RUN_SUCCESS")
    shot("dagster-verdict-evidence.png", "/assets/request_verdict", "evidence_boxes")

    # a prefix backfill: historical documents with sidecars (and one without) under 2024/11/, registered
    # and backfilled
    _upload_historical_documents(urls)
    register = dagster.launch("register_prefix", {"ops": {"add_prefix_partition": {"config": {"prefix": PREFIX}}}})
    log(f"register_prefix {PREFIX}: {dagster.wait_run(register)}")
    backfill = dagster.backfill("prefix_backfill", [PREFIX])
    log(f"prefix backfill {backfill}: {dagster.wait_backfill(backfill)}")
    shot("dagster-prefix-backfill.png", f"/runs/b/{backfill}?tab=runs", "prefix_backfill")
    shot("dagster-prefix-backfill-outcome.png", "/assets/prefix_backfill", "objects_listed")

    # the daily summary of the last complete UTC day (today's partition opens at midnight)
    day = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
    summary = dagster.backfill("daily_verdict_summary", [day])
    log(f"daily summary {day}: {dagster.wait_backfill(summary)}")
    shot("dagster-daily-summary.png", f"/assets/daily_verdict_summary?partition={day}", "median_processing_seconds")
    page.close()
    return shots


def _tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def _is_review_case(urls: dict, request_id: int) -> bool:
    from ocr_pipeline.adapters.store import VerdictStore

    row = VerdictStore(urls["database_url"]).get(request_id)
    return bool(row and row.get("review_required"))


def _upload_missing_document(urls: dict, request_id: int) -> None:
    """Put the failed request's document where its event said it is (what an analyst fixes first)."""
    from ocr_pipeline.adapters.store import VerdictStore
    from ocr_pipeline_devtools import docgen, services

    row = VerdictStore(urls["database_url"]).get(request_id)
    person = next(p for p in docgen.PEOPLE.values() if p.applicant().iin == row["iin"])
    page = docgen.render_document("dismissal_order", person, name_case="acc", seed=11)
    with services.aws_test_credentials():
        client = services.s3_client(urls["s3_endpoint"])
        client.put_object(Bucket=urls["bucket"], Key=row["s3_path"], Body=docgen.to_pdf([page]))


def _upload_historical_documents(urls: dict) -> None:
    """Three documents with sidecars naming their applicants (one of them someone else's document) and
    one without: what a prefix backfill finds in a historical folder."""
    from ocr_pipeline_devtools import docgen, services

    people = docgen.PEOPLE
    documents = [("приказ Бекмухамбетов.png", people["bekmukhambetov"], people["bekmukhambetov"]),
                 ("справка Ковальчук.png", people["kovalchuk"], people["kovalchuk"]),
                 ("приказ Ким.png", people["kim"], people["smirnov"]),
                 ("скан без заявки.png", people["petrenko"], None)]
    with services.aws_test_credentials():
        client = services.s3_client(urls["s3_endpoint"])
        for seed, (name, person, applicant) in enumerate(documents, start=20):
            key = PREFIX + name
            page = docgen.render_document("employment_certificate", person, name_case="dat", seed=seed)
            client.put_object(Bucket=urls["bucket"], Key=key, Body=docgen.degrade(page, "scan", seed=seed))
            if applicant is not None:
                a = applicant.applicant()
                sidecar = {"iin": a.iin, "last_name": a.last_name, "first_name": a.first_name,
                           "second_name": a.second_name}
                client.put_object(Bucket=urls["bucket"], Key=key + ".json",
                                  Body=json.dumps(sidecar, ensure_ascii=False).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("review", "dagster"), help="one set of shots (default: both)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--urls", type=Path, default=REPO / ".demo" / "urls.json", help="written by make demo")
    args = parser.parse_args(argv)
    urls = json.loads(args.urls.read_text())
    args.out.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(f"[screenshots {time.strftime('%H:%M:%S')}] {message}", flush=True)

    with browser.chromium(viewport=(1440, 900)) as context:
        if args.only in (None, "review"):
            for path in shoot_review_desk(context, urls, args.out):
                log(f"saved {path.relative_to(REPO)}")
        if args.only in (None, "dagster"):
            shoot_dagster(context, urls, args.out, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
