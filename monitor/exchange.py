"""What one HTTP fetch produced, as plain data shared by fetch, capture and health.

The fetcher fills these in; the WARC writer turns them into records; the health
judge reads the status, the redirect chain and the error class.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class HttpRequest:
    """The request as it went on the wire (after redirects, the last hop's)."""

    method: str
    url: str
    headers: Headers
    http_version: str = "HTTP/1.1"


@dataclass(frozen=True)
class Hop:
    """One redirect followed: the URL asked for, the status and where it pointed."""

    url: str
    status: int
    location: str


@dataclass(frozen=True)
class HttpExchange:
    """A completed HTTP exchange: the final request and its response.

    ``body`` is the payload after content decoding (gzip, br …). The headers are
    made consistent with it: ``Content-Encoding`` and ``Transfer-Encoding`` are
    removed and ``Content-Length`` states ``len(body)``; the original values are
    kept as ``X-Archive-Orig-…`` headers so nothing the server said is lost.
    """

    request: HttpRequest
    status: int
    reason: str
    headers: Headers
    body: bytes
    fetched_at: datetime
    elapsed_ms: int
    http_version: str = "HTTP/1.1"
    remote_ip: str | None = None
    redirects: list[Hop] = field(default_factory=list)
    truncated: bool = False

    @property
    def url(self) -> str:
        return self.request.url

    @cached_property
    def payload_digest(self) -> str:
        """``sha1:BASE32`` of ``body``, as in ``WARC-Payload-Digest``; hashed once per exchange
        however many steps of a check ask (repeat test, record, row)."""
        return "sha1:" + base64.b32encode(hashlib.sha1(self.body).digest()).decode("ascii")

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


@dataclass(frozen=True)
class FetchError:
    """A fetch that produced no HTTP response: DNS, refused, TLS, timeout, reset."""

    url: str
    error_class: str  # dns | refused | tls | timeout | reset | protocol | too_large | other
    message: str
    fetched_at: datetime
    elapsed_ms: int
    redirects: list[Hop] = field(default_factory=list)
