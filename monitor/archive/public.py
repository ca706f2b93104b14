"""Public web archives: the Internet Archive's Save Page Now (SPN2 API) and Memento
aggregators (TimeTravel-style TimeMaps, RFC 7089).

Our archive is private: the writer's readers cannot reach it, and a link that died
before we first saw it is not in it. These clients make a public copy of each new
version and find the copies others made. Endpoints are settings
(``settings.public``); tests point them at local imitations (``tests/site/public.py``).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.archive.linkformat import LinkFormatError, parse_links
from monitor.settings import Settings

WAYBACK_TIME = "%Y%m%d%H%M%S"
# a Wayback-style URI-M: <prefix>/<14-digit timestamp><optional flag like id_>/<original URL>
_WAYBACK_URI = re.compile(r"^(?P<prefix>https?://.+?/)(?P<ts>\d{8,14})(?:[a-z]{2}_|\*)?/(?P<url>.+)$")
# SPN answers these for the account as a whole: stop submitting for now
_ACCOUNT_LIMITS = frozenset({"error:too-many-daily-captures", "error:user-session-limit",
                             "error:too-many-requests"})
_POLL_FIRST, _POLL_MAX = 0.25, 8.0  # seconds between status polls: doubling, capped


class PublicArchiveError(Exception):
    """A public archive or aggregator could not be asked, or answered nonsense."""


class SpnRefused(PublicArchiveError):
    """SPN refused the request as a whole (keys, rate limit, outage): stop submitting for now."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SpnRejected(PublicArchiveError):
    """SPN would not capture this one URL."""


def http_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None,
                *, follow_redirects: bool = False) -> httpx.AsyncClient:
    """A client with our User-Agent and the fetch timeouts."""
    fetch = settings.fetch
    return httpx.AsyncClient(
        timeout=httpx.Timeout(fetch.timeout.total_seconds(),
                              connect=fetch.connect_timeout.total_seconds()),
        headers={"User-Agent": settings.identity.user_agent()},
        verify=fetch.verify_tls, follow_redirects=follow_redirects, transport=transport)


def describe(exc: Exception) -> str:
    """An exception as a short phrase (httpx's messages are sometimes empty)."""
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class Memento:
    """One copy of a URL in a public archive (URI-M and Memento-Datetime)."""

    uri: str
    at: datetime

    @property
    def archive(self) -> str:
        """The archive's host, e.g. ``web.archive.org``."""
        return urlsplit(self.uri).netloc

    @property
    def raw_uri(self) -> str:
        """Where the archive serves the original bytes: Wayback software (the Internet
        Archive, pywb, OpenWayback) does under ``<timestamp>id_``, without its rewriting
        and banner. Other URI-Ms are returned as they are."""
        match = _WAYBACK_URI.match(self.uri)
        if match is None:
            return self.uri
        return f"{match['prefix']}{match['ts']}id_/{match['url']}"


def nearest(copies: list[Memento], at: datetime) -> Memento | None:
    """The memento nearest in time to ``at`` (the earlier one on a tie), or None."""
    return min(copies, key=lambda m: (abs(m.at - at), m.at), default=None)


class MementoLookup:
    """Public copies of a URL, through a Memento aggregator's TimeMaps."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._prefix = settings.public.aggregator
        self._max_bytes = settings.fetch.max_bytes
        self._client = http_client(settings, transport, follow_redirects=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._client.aclose()

    async def find_public_copies(self, url: str) -> list[Memento]:
        """Every memento the aggregator knows for ``url``, oldest first ([] when none)."""
        timemap = self._prefix + url
        try:
            response = await self._client.get(timemap, headers={"Accept": "application/link-format"})
        except httpx.HTTPError as exc:
            raise PublicArchiveError(f"Memento aggregator {self._prefix} unreachable: "
                                     f"{describe(exc)}") from None
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise PublicArchiveError(f"Memento aggregator answered {response.status_code} for {timemap}")
        try:
            links = parse_links(response.text)
        except LinkFormatError as exc:
            raise PublicArchiveError(f"Memento aggregator sent no TimeMap for {timemap}: {exc}") from None
        found = {Memento(link.uri, link.at) for link in links if "memento" in link.rels and link.at}
        return sorted(found, key=lambda m: (m.at, m.uri))

    async def nearest_public_copy(self, url: str, at: datetime) -> Memento | None:
        """The memento nearest in time to ``at`` (the earlier one on a tie), or None."""
        return nearest(await self.find_public_copies(url), at)

    async def fetch_raw(self, memento: Memento) -> bytes:
        """The memento's original bytes (its ``id_`` form), at most ``fetch.max_bytes``."""
        uri = memento.raw_uri
        try:
            async with self._client.stream("GET", uri) as response:
                if response.status_code != 200:
                    raise PublicArchiveError(f"{memento.archive} answered {response.status_code} "
                                             f"for {uri}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise PublicArchiveError(f"{uri} is larger than fetch.max_bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise PublicArchiveError(f"{memento.archive} unreachable: {describe(exc)}") from None


@dataclass(frozen=True)
class SpnJob:
    """What SPN says about one capture job."""

    job_id: str
    state: Literal["pending", "success", "error"]
    timestamp: datetime | None = None
    original_url: str | None = None
    error: str | None = None


class SavePageNow:
    """The Internet Archive's Save Page Now 2 API: submit a URL, then poll its job.

    ``POST <endpoint>`` with ``url=…`` and ``Authorization: LOW key:secret`` answers a
    ``job_id``; ``GET <endpoint>/status/<job_id>`` says pending, success (with the
    capture's timestamp) or error. The copy is replayed at ``/web/<timestamp>/<url>``
    on the endpoint's host.
    """

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        public = settings.public
        self._endpoint = public.spn_endpoint.rstrip("/")
        self._headers = {"Accept": "application/json",
                         "Authorization": f"LOW {public.spn_access_key}:{public.spn_secret}"}
        self._client = http_client(settings, transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._client.aclose()

    @property
    def archive(self) -> str:
        return urlsplit(self._endpoint).netloc

    def memento_uri(self, timestamp: datetime, original_url: str) -> str:
        return f"{urljoin(self._endpoint, '/web/')}{timestamp.strftime(WAYBACK_TIME)}/{original_url}"

    async def submit(self, url: str) -> str:
        """Ask SPN to capture ``url``; returns the job id."""
        answer = await self._call("POST", self._endpoint, data={"url": url})
        if answer.get("status") == "error" or not answer.get("job_id"):
            reason = _error_text(answer)
            if answer.get("status_ext") in _ACCOUNT_LIMITS:
                raise SpnRefused(f"SPN: {reason}")
            raise SpnRejected(f"SPN would not capture {url}: {reason}")
        return str(answer["job_id"])

    async def job(self, job_id: str) -> SpnJob:
        """The job's state now."""
        answer = await self._call("GET", f"{self._endpoint}/status/{job_id}")
        state = answer.get("status")
        if state == "pending":
            return SpnJob(job_id, "pending")
        if state == "success":
            return _success(job_id, answer)
        return SpnJob(job_id, "error", error=_error_text(answer))

    async def wait(self, job_ids: list[str], within: float) -> dict[str, SpnJob]:
        """Poll the jobs until all are done or ``within`` seconds have passed.

        Jobs still pending (or not asked about, when SPN stops answering) are left out
        or reported pending: their rows stay pending and the next pass asks again.
        """
        deadline = time.monotonic() + within
        states = {job_id: SpnJob(job_id, "pending") for job_id in job_ids}
        delay = _POLL_FIRST
        while True:
            for job_id in [j for j, s in states.items() if s.state == "pending"]:
                try:
                    states[job_id] = await self.job(job_id)
                except SpnRefused:
                    return states
            left = deadline - time.monotonic()
            if all(s.state != "pending" for s in states.values()) or left <= 0:
                return states
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, _POLL_MAX)

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, url, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise SpnRefused(f"SPN unreachable at {self._endpoint}: {describe(exc)}") from None
        if response.status_code in (401, 403):
            raise SpnRefused(f"SPN refused our keys ({response.status_code}): check "
                             "public.spn_access_key and public.spn_secret")
        if response.status_code == 429 or response.status_code >= 500:
            raise SpnRefused(f"SPN answered {response.status_code}", _retry_after(response))
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SpnRefused(f"SPN answered {response.status_code} without a JSON object")
        return answer


def _success(job_id: str, answer: dict[str, Any]) -> SpnJob:
    try:
        stamp = datetime.strptime(str(answer.get("timestamp")), WAYBACK_TIME).replace(tzinfo=UTC)
    except ValueError:
        return SpnJob(job_id, "error", error=f"success without a timestamp: {answer.get('timestamp')!r}")
    original = answer.get("original_url")
    return SpnJob(job_id, "success", stamp, str(original) if original else None)


def _error_text(answer: dict[str, Any]) -> str:
    parts = [str(answer[k]) for k in ("status_ext", "message") if answer.get(k)]
    return " ".join(parts) or "no job id and no reason given"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.strip().isdigit() else None
