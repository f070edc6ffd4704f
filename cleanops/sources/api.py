"""HTTP API sources: JSON records, paged, with retries and secrets from the environment.

Header values and query parameters may name environment variables as `${VAR}`, so a
token never sits in a pipeline file; their values are remembered as secrets (masked in
every message). Transient failures (timeouts, refused connections, 408, 429, 5xx) are
retried here with exponential backoff and then raised as `TransientSourceError`, so the
pipeline's `retry_policy` may try again; anything else (401, 403, 404, a response that is
not JSON) is permanent. Messages name the URL without its query string, where a token
may travel.
"""

from __future__ import annotations

from typing import Any, Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cleanops import secrets
from cleanops.pipelines.schema import ApiSource
from cleanops.sources.base import JsonRecords, ReadContext, SourceChunk, SourceError, dotted_get, parse_json
from cleanops.sources.errors import TransientSourceError, is_transient_http_status


def expand_environment(value: Any, where: str) -> Any:
    """Replace ${VAR} with the variable's value (remembered as a secret); a missing variable is an error."""
    try:
        return secrets.resolve_references(value, where)
    except secrets.MissingVariable as error:
        raise SourceError(str(error)) from None


def _session(source: ApiSource) -> requests.Session:
    retry = Retry(
        total=source.max_retries,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST"}),
        respect_retry_after_header=True,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    session.headers.update({k: expand_environment(v, f"source {source.id!r} header {k}")
                            for k, v in source.headers.items()})
    return session


def _without_query(url: str) -> str:
    """The URL as messages name it: query parameters may carry a token."""
    return url.split("?", 1)[0]


def _failure_reason(error: requests.RequestException) -> str:
    """What went wrong, without the request URL that urllib3 and requests put in their messages."""
    if isinstance(error, requests.Timeout):
        return "timed out"
    cause = error.args[0] if error.args else error
    reason = getattr(cause, "reason", cause)  # urllib3's MaxRetryError → the last attempt's error
    return str(reason).split(": ", 1)[-1]  # "HTTPConnection(host=…, port=…): Failed to establish …"


def _request_error(source: ApiSource, url: str, error: requests.RequestException) -> SourceError:
    message = f"source {source.id!r}: request to {_without_query(url)} failed: {_failure_reason(error)}"
    permanent = isinstance(error, (requests.exceptions.SSLError, requests.exceptions.InvalidURL,
                                   requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                                   requests.exceptions.InvalidHeader))
    return SourceError(message) if permanent else TransientSourceError(message)


def _fetch(session: requests.Session, source: ApiSource, url: str, params: dict) -> Any:
    try:
        response = session.request(source.method, url, params=params, timeout=source.timeout_seconds)
    except requests.RequestException as error:
        raise _request_error(source, url, error) from None
    if response.status_code >= 400:
        error_class = TransientSourceError if is_transient_http_status(response.status_code) else SourceError
        raise error_class(f"source {source.id!r}: {_without_query(url)} answered HTTP {response.status_code}: "
                          f"{response.text[:200]}")
    try:
        return parse_json(response.content)  # numbers as the API spelt them
    except (ValueError, RecursionError) as error:
        raise SourceError(f"source {source.id!r}: {_without_query(url)} did not answer JSON: {error}") from None


def _pages(session: requests.Session, source: ApiSource) -> Iterator[list]:
    """Each page's list of records, following the configured pagination."""
    paging = source.pagination
    params = {k: expand_environment(v, f"source {source.id!r} param {k}") for k, v in source.params.items()}
    url: str | None = source.url
    page, offset, cursor = paging.start_page, 0, None
    for _ in range(paging.max_pages):
        query = dict(params)
        if paging.type == "page":
            query.update({paging.page_param: page, paging.size_param: paging.page_size})
        elif paging.type == "offset":
            query.update({paging.offset_param: offset, paging.limit_param: paging.page_size})
        elif paging.type == "cursor" and cursor is not None:
            query[paging.cursor_param] = cursor
        document = _fetch(session, source, url, query if paging.type != "next_url" or url == source.url else {})
        records = dotted_get(document, source.records_path)
        if records is None:
            records = []
        if not isinstance(records, list):
            raise SourceError(f"source {source.id!r}: records_path {source.records_path!r} is not a list in the response")
        yield records
        if paging.type == "none":
            return
        if paging.type in ("page", "offset"):
            if len(records) < paging.page_size:
                return
            page, offset = page + 1, offset + len(records)
        elif paging.type == "cursor":
            cursor = dotted_get(document, paging.cursor_path)
            if not cursor or not records:
                return
        elif paging.type == "next_url":
            url = dotted_get(document, paging.next_url_path)
            if not url:
                return
    raise SourceError(f"source {source.id!r}: stopped after max_pages={paging.max_pages} pages")


def read_api(source: ApiSource, context: ReadContext) -> Iterator[SourceChunk]:
    """Every page's records; a record's row number is its place in the whole page run."""
    mapping = JsonRecords(source.url)
    next_row = 1
    with _session(source) as session:
        for records in _pages(session, source):
            yield mapping.chunk(records, range(next_row, next_row + len(records)))
            next_row += len(records)
