"""Submitting and finding ``verify_request`` runs through the Dagster webserver's GraphQL API.

Runs are launched with ``dagster_graphql.DagsterGraphQLClient`` (a new client per call: its gql
transport refuses concurrent use). Lookups by tag use a plain GraphQL query. Errors never carry the
query variables: the run config holds only the ``request_id``, but the tags carry the masked IIN and a
GraphQL error may echo other input, so messages are cut short and any 12-digit number in them is masked.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import requests

from ..engine.iin import mask_iin

log = logging.getLogger(__name__)

RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"

_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")

_RUNS_QUERY = """
query OcrPipelineRunsByTags($filter: RunsFilter!, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { runId status jobName creationTime tags { key value } } }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""

_LOCATIONS_QUERY = """
query OcrPipelineJobLocations {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } pipelines { name } } }
    ... on PythonError { message }
  }
}
"""


def safe_message(text: Any, limit: int = 300) -> str:
    """``text`` as a short single line with every 12-digit number masked (safe to log and return)."""
    line = " ".join(str(text).split())
    line = _TWELVE_DIGITS.sub(lambda m: mask_iin(m.group()), line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


class DagsterError(RuntimeError):
    """Dagster did not do what was asked."""


class DagsterUnavailable(DagsterError):
    """The webserver could not be reached or did not answer in time.

    ``maybe_done`` is True when the request may have reached the webserver before the failure (a read
    timeout, a dropped connection): a launch may then have happened anyway.
    """

    def __init__(self, message: str, maybe_done: bool = False):
        super().__init__(message)
        self.maybe_done = maybe_done


class DagsterRejected(DagsterError):
    """The webserver answered, and refused (unknown job, invalid config, an error in the code location)."""


@dataclass(frozen=True)
class RunInfo:
    """A run as the GraphQL API shows it."""

    run_id: str
    status: str
    job_name: str
    tags: dict[str, str]
    created: Optional[float] = None


class DagsterClient:
    """The Dagster webserver at ``webserver_url`` (e.g. ``http://127.0.0.1:3000``).

    ``location_name``/``repository_name`` name where the job lives; unset, they are looked up once.
    """

    def __init__(
        self,
        webserver_url: str,
        *,
        timeout: float = 10.0,
        ui_url: Optional[str] = None,
        location_name: Optional[str] = None,
        repository_name: Optional[str] = None,
    ):
        self.webserver_url = webserver_url.rstrip("/")
        self.graphql_url = f"{self.webserver_url}/graphql"
        self.ui_url = (ui_url or self.webserver_url).rstrip("/")
        self.timeout = timeout
        self._location: Optional[tuple[str, str]] = (
            (location_name, repository_name or "__repository__") if location_name else None
        )

    def run_url(self, run_id: str) -> str:
        """The run's page in the Dagster UI."""
        return f"{self.ui_url}/runs/{run_id}"

    # -- GraphQL ------------------------------------------------------------------------------------

    def _post(self, query: str, variables: Optional[dict] = None, timeout: Optional[float] = None) -> dict:
        try:
            response = requests.post(
                self.graphql_url,
                json={"query": query, "variables": variables or {}},
                timeout=timeout or self.timeout,
            )
        except requests.exceptions.ConnectTimeout:
            raise DagsterUnavailable(
                f"no connection to the Dagster webserver at {self.webserver_url} (timeout)"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            maybe = not _is_refused(exc)
            raise DagsterUnavailable(
                f"cannot reach the Dagster webserver at {self.webserver_url}: {type(exc).__name__}", maybe_done=maybe
            ) from None
        except requests.exceptions.Timeout:
            raise DagsterUnavailable(
                f"the Dagster webserver at {self.webserver_url} did not answer within {timeout or self.timeout:.0f} s",
                maybe_done=True,
            ) from None
        if response.status_code >= 500:
            raise DagsterUnavailable(
                f"the Dagster webserver answered HTTP {response.status_code}", maybe_done=True
            )
        try:
            body = response.json()
        except ValueError:
            raise DagsterRejected(f"the Dagster webserver answered HTTP {response.status_code} without JSON") from None
        if body.get("errors"):
            raise DagsterRejected("GraphQL error: " + safe_message(body["errors"][0].get("message", "")))
        return body.get("data") or {}

    def server_info(self, timeout: Optional[float] = None) -> dict:
        """``/server_info`` (versions); raises :class:`DagsterUnavailable`."""
        try:
            response = requests.get(f"{self.webserver_url}/server_info", timeout=timeout or self.timeout)
        except requests.exceptions.RequestException as exc:
            raise DagsterUnavailable(
                f"cannot reach the Dagster webserver at {self.webserver_url}: {type(exc).__name__}"
            ) from None
        if response.status_code != 200:
            raise DagsterUnavailable(f"/server_info answered HTTP {response.status_code}")
        return response.json()

    def job_location(self, job_name: str) -> tuple[str, str]:
        """``(location name, repository name)`` holding ``job_name`` (looked up once, then cached)."""
        if self._location is not None:
            return self._location
        data = self._post(_LOCATIONS_QUERY)["repositoriesOrError"]
        if data["__typename"] != "RepositoryConnection":
            raise DagsterRejected(f"{data['__typename']}: {safe_message(data.get('message', ''))}")
        found = [
            (node["location"]["name"], node["name"])
            for node in data["nodes"]
            if any(p["name"] == job_name for p in node["pipelines"])
        ]
        if len(found) != 1:
            raise DagsterRejected(
                f"job {job_name!r} found in {len(found)} code locations (set DAGSTER_LOCATION_NAME)"
                if found else f"job {job_name!r} not found in any code location of the webserver"
            )
        self._location = found[0]
        return self._location

    def find_runs(self, job_name: str, tags: Mapping[str, str], limit: int = 10,
                  timeout: Optional[float] = None) -> list[RunInfo]:
        """Runs of ``job_name`` carrying all of ``tags``, newest first."""
        variables = {
            "filter": {"pipelineName": job_name, "tags": [{"key": k, "value": v} for k, v in tags.items()]},
            "limit": limit,
        }
        data = self._post(_RUNS_QUERY, variables, timeout=timeout)["runsOrError"]
        if data["__typename"] != "Runs":
            raise DagsterRejected(f"{data['__typename']}: {safe_message(data.get('message', ''))}")
        return [
            RunInfo(
                run_id=run["runId"],
                status=run["status"],
                job_name=run["jobName"],
                tags={tag["key"]: tag["value"] for tag in run["tags"]},
                created=run.get("creationTime"),
            )
            for run in data["results"]
        ]

    def submit_run(self, job_name: str, run_config: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """Launch one run of ``job_name``; returns its run id.

        Raises :class:`DagsterUnavailable` (``maybe_done`` tells whether the launch may have happened)
        or :class:`DagsterRejected`.
        """
        from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
        from gql.transport.requests import RequestsHTTPTransport

        location, repository = self.job_location(job_name)
        transport = RequestsHTTPTransport(url=self.graphql_url, use_json=True, timeout=self.timeout, retries=0)
        client = DagsterGraphQLClient(_hostname(self.webserver_url), transport=transport)
        started = time.perf_counter()
        try:
            run_id = client.submit_job_execution(
                job_name,
                repository_location_name=location,
                repository_name=repository,
                run_config=dict(run_config),
                tags=dict(tags),
            )
        except DagsterGraphQLClientError as exc:
            raise _translate(exc, self.webserver_url) from None
        finally:
            try:
                transport.close()
            except Exception:  # pragma: no cover - closing never matters more than the outcome
                pass
        log.info("submitted %s run %s in %.2f s", job_name, run_id, time.perf_counter() - started)
        return run_id


def _hostname(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or "localhost"


def _is_refused(exc: BaseException) -> bool:
    text = repr(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Name or service not known" in text


def _translate(exc: Exception, url: str) -> DagsterError:
    """A ``DagsterGraphQLClientError`` as one of ours, without the query variables it may quote."""
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, requests.exceptions.RequestException):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return DagsterUnavailable(f"no connection to the Dagster webserver at {url} (timeout)")
    if isinstance(cause, requests.exceptions.ConnectionError):
        return DagsterUnavailable(
            f"cannot reach the Dagster webserver at {url}: {type(cause).__name__}", maybe_done=not _is_refused(cause)
        )
    if isinstance(cause, requests.exceptions.Timeout):
        return DagsterUnavailable(f"the Dagster webserver at {url} did not answer in time", maybe_done=True)
    if isinstance(cause, requests.exceptions.RequestException):
        return DagsterUnavailable(f"request to the Dagster webserver failed: {type(cause).__name__}", maybe_done=True)
    args = exc.args
    if len(args) >= 2 and isinstance(args[0], str) and "\n" not in args[0]:
        return DagsterRejected(f"{args[0]}: {safe_message(args[1])}")
    transport_error = type(exc.__cause__).__name__ if exc.__cause__ is not None else "unknown"
    if transport_error == "TransportServerError":
        return DagsterUnavailable("the Dagster webserver answered with a server error", maybe_done=True)
    return DagsterRejected(f"launch failed ({transport_error})")
