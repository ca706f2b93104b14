"""The FastAPI app: routers, error pages, and the headers that keep the dashboard safe.

Dashboard pages get a strict Content-Security-Policy (own styles only, no scripts, no
framing by others); archived bytes get the sandbox policy of archived.py instead. When
the server listens on loopback only, requests must name a loopback host, so a web page
elsewhere cannot reach the dashboard by DNS rebinding.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Match

from monitor import __version__
from monitor.archive.restore import NothingArchived
from monitor.archive.warc import ArchiveError
from monitor.clock import Clock, SystemClock
from monitor.home import Home
from monitor.web import api, feed, pages
from monitor.web.actions import CheckRunner
from monitor.web.auth import Keys, resolve_token
from monitor.web.deps import WebState
from monitor.web.views import NotFound

DASHBOARD_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
                 "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def create_app(home: Home, *, runner: CheckRunner | None = None, clock: Clock | None = None,
               loopback_only: bool = False) -> FastAPI:
    """The web app over ``home``; ``runner`` shares a daemon's check context (run --web)."""
    state = WebState(home=home, keys=Keys(resolve_token(home.settings.web.token, home.settings.archive_dir)),
                     runner=runner or CheckRunner(home), clock=clock or SystemClock())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.runner.close()

    app = FastAPI(title="source-monitor", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  description="Watch cited articles: sources, versions, diffs, archived copies and "
                  "events. Reads are open; writes need 'Authorization: Bearer TOKEN'.")
    app.state.web = state
    if loopback_only:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_NAMES)
    app.middleware("http")(_security_headers)
    for router in (api.router, api.writes, feed.router, pages.router, pages.posts):
        app.include_router(router)
    app.add_api_route("/static/monitor.css", _stylesheet, include_in_schema=False)
    _error_handlers(app)
    return app


Next = Callable[[Request], Awaitable[Response]]


async def _security_headers(request: Request, call_next: Next) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", DASHBOARD_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@cache
def _css() -> str:
    return pages.templates.env.get_template("web/monitor.css").render()


def _stylesheet() -> Response:
    return Response(_css(), media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600"})


def _error_handlers(app: FastAPI) -> None:
    def problem(status: int) -> Callable[[Request, Exception], Response]:
        def handle(request: Request, exc: Exception) -> Response:
            return _problem(request, status, str(exc))
        return handle

    app.add_exception_handler(NotFound, problem(404))
    app.add_exception_handler(NothingArchived, problem(404))
    app.add_exception_handler(ValueError, problem(422))  # BadURL, RefusedURL, bad kinds, times
    app.add_exception_handler(ArchiveError, problem(500))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # FastAPI's and Starlette's (404, 405) alike
        response = _problem(request, exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed(request)
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")  # our validators' own words
        return _problem(request, 422, f"{where}: {message}")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _allowed(request: Request) -> str:
    """Every method this path answers. Starlette's 405 names only the first route that matched
    the path, so ``OPTIONS /api/sources`` said ``Allow: GET`` although POST works too. So each
    method is tried on every route with ``matches``, which nested routers answer too."""
    def answers(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in request.app.routes)
    return ", ".join(m for m in ("DELETE", "GET", "PATCH", "POST", "PUT") if answers(m))


def _problem(request: Request, status: int, detail: str) -> Response:
    """JSON for the API and feeds, a small page for people; ``detail`` is one line."""
    detail = " ".join(detail.split())
    if request.url.path.startswith("/api/") or request.url.path.endswith(".atom") \
            or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": detail}, status_code=status)
    web = request.app.state.web
    signed_in = web.keys.signed_in(request)
    return pages.templates.TemplateResponse(request, "web/error.html", {
        "status": status, "detail": detail, "signed_in": signed_in, "note": None,
        "csrf": web.keys.csrf if signed_in else "", "now": web.now(), "kinds": ()},
        status_code=status)


