"""The dashboard's pages: server-rendered Jinja2, no scripts, no front-end build.

Every button is a plain form POST (with the CSRF token) answered by a redirect back,
so the pages work with JavaScript off and in any browser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined

from monitor.clock import parse_until
from monitor.events import KINDS
from monitor.web import actions, views
from monitor.web.archived import copy_response
from monitor.web.auth import COOKIE, keys_of, require_writer
from monitor.web.deps import Db, Id, IdQuery, Web
from monitor.web.schemas import KIND_PATTERN, MAX_ID

router = APIRouter(include_in_schema=False)
posts = APIRouter(include_in_schema=False, dependencies=[Depends(require_writer)])
NOTES = {
    "added": "Source added; its first check runs now.", "known": "That URL is already watched.",
    "checking": "Checking now…", "paused": "Paused.", "resumed": "Resumed; it is due now.",
    "removed": "Removed; its history is kept.", "muted": "Muted.", "unmuted": "Unmuted.",
    "acked": "Acknowledged.", "signed-in": "Signed in.", "signed-out": "Signed out.",
}


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("monitor", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["ago"] = ago
    return env


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 h ago', '2 d ago', 'in 5 min' — for tables; the exact time goes in a title."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    later, seconds = seconds < 0, abs(seconds)
    for size, unit in ((86400 * 30, "mo"), (86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = "a moment" if not later else "moments"
    return f"in {text}" if later else f"{text} ago"


templates = Jinja2Templates(env=_environment())


def render(request: Request, web: Web, name: str, status: int = 200, **context: object) -> HTMLResponse:
    keys = keys_of(request)
    signed_in = keys.signed_in(request)
    note = NOTES.get(request.query_params.get("note", ""))
    return templates.TemplateResponse(request, name, {
        "signed_in": signed_in, "csrf": keys.csrf if signed_in else "", "note": note,
        "now": web.now(), "kinds": KINDS, **context}, status_code=status)


def back(path: str, note: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?note={note}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, db: Db, web: Web,
              state: Annotated[str, Query(pattern=views.HEALTH_PATTERN)] = "all",
              q: Annotated[str, Query(max_length=200)] = "",
              page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    rows, total = views.source_rows(db, state, q, page)
    return render(request, web, "web/dashboard.html", rows=rows, total=total, current=state, q=q,
                  page=page, pages=max(1, -(-total // views.PAGE)), counts=views.alert_counts(db),
                  filters=views.HEALTH_FILTERS,
                  recent=views.events(db, unacked=True, limit=8))


@router.get("/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, db: Db, web: Web, source_id: Id) -> HTMLResponse:
    source = views.get_source(db, source_id)
    row = views.SourceRow(source)
    views.add_details(db, {source_id: row})
    found = views.captures(db, source, 30)
    return render(request, web, "web/source.html", source=source, row=row,
                  versions=views.versions(db, source), timeline=views.timeline(db, source),
                  captures=found, restorable=views.restorable_ids(db, [c.id for c in found if c.id]),
                  checking=source_id in web.runner.running)


@router.get("/sources/{source_id}/diff", response_class=HTMLResponse)
def diff_page(request: Request, db: Db, web: Web, source_id: Id,
              from_: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
              to: IdQuery = None,
              view: Literal["inline", "side"] = "inline") -> HTMLResponse:
    source = views.get_source(db, source_id)
    diff = views.diff(db, source, from_, to)
    return render(request, web, "web/diff.html", source=source, diff=diff, view=view,
                  versions=views.versions(db, source))


@router.get("/captures/{capture_id}", response_class=HTMLResponse)
def copy_page(request: Request, db: Db, web: Web, capture_id: Id,
              form: Annotated[Literal["html", "readable"], Query(alias="as")] = "html") -> HTMLResponse:
    """The archived copy in a sandboxed frame, with what is known about it and downloads."""
    source, copy = views.copy_of_capture(db, capture_id)
    return render(request, web, "web/copy.html", source=source, copy=copy, form=form)


@router.get("/archived/{capture_id}")
def archived(db: Db, web: Web, capture_id: Id,
             form: Annotated[Literal["html", "readable"], Query(alias="as")] = "html") -> Response:
    """The archived bytes themselves, sandboxed (see archived.py): what the frame shows."""
    source, copy = views.copy_of_capture(db, capture_id)
    return copy_response(db, web.home, source, copy, form, download=False)


@router.get("/events", response_class=HTMLResponse)
def events_page(request: Request, db: Db, web: Web, source: IdQuery = None,
                kind: Annotated[str | None, Query(pattern=KIND_PATTERN)] = None,
                unacked: bool = False) -> HTMLResponse:
    found = views.events(db, source_id=source, kind=kind, unacked=unacked, limit=300)
    return render(request, web, "web/events.html", events=found, source_id=source, kind=kind,
                  unacked=unacked)


@router.get("/login", response_class=HTMLResponse, response_model=None)
def login_page(request: Request, web: Web, token: str | None = None) -> Response:
    """The link ``monitor serve`` prints carries the token once; it becomes a cookie."""
    if token is not None:
        return _sign_in(request, token)
    return render(request, web, "web/login.html", failed=False)


@router.post("/login", response_model=None)
def login(request: Request, web: Web, token: Annotated[str, Form()]) -> Response:
    response = _sign_in(request, token)
    if response.status_code != 303:
        return render(request, web, "web/login.html", status=403, failed=True)
    return response


def _sign_in(request: Request, token: str) -> Response:
    keys = keys_of(request)
    if not keys.is_token(token.strip()):
        return Response("wrong token", status_code=403)
    response = back("/", "signed-in")
    response.set_cookie(COOKIE, keys.session, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=30 * 86400)
    return response


@posts.post("/logout")
def logout() -> Response:
    response = back("/", "signed-out")
    response.delete_cookie(COOKIE)
    return response


@posts.post("/sources")
async def add_page(db: Db, web: Web, url: Annotated[str, Form(max_length=4096)],
                   title: Annotated[str, Form(max_length=500)] = "",
                   cited_at: Annotated[str, Form(max_length=40)] = "") -> Response:
    cited = parse_until(cited_at) if cited_at.strip() else None
    source, new = await actions.add(db, web.home, url, web.now(), title=title or None, cited_at=cited)
    if new and source.id is not None:
        await web.runner.start([source.id])
    return back(f"/sources/{source.id}", "added" if new else "known")


@posts.post("/sources/{source_id}/check")
async def check_page(db: Db, web: Web, source_id: Id) -> Response:
    views.get_source(db, source_id)
    if source_id not in web.runner.running:
        await web.runner.start([source_id])
    return back(f"/sources/{source_id}", "checking")


@posts.post("/sources/{source_id}/pause")
def pause_page(db: Db, web: Web, source_id: Id) -> Response:
    actions.pause(db, views.get_source(db, source_id), web.now(), True)
    return back(f"/sources/{source_id}", "paused")


@posts.post("/sources/{source_id}/resume")
def resume_page(db: Db, web: Web, source_id: Id) -> Response:
    actions.pause(db, views.get_source(db, source_id), web.now(), False)
    return back(f"/sources/{source_id}", "resumed")


@posts.post("/sources/{source_id}/remove")
def remove_page(db: Db, web: Web, source_id: Id) -> Response:
    actions.remove(db, views.get_source(db, source_id), web.now())
    return back(f"/sources/{source_id}", "removed")


@posts.post("/sources/{source_id}/mute")
def mute_page(db: Db, source_id: Id, kind: Annotated[str, Form()] = "*",
              until: Annotated[str, Form(max_length=40)] = "") -> Response:
    ends = parse_until(until) if until.strip() else None
    actions.mute(db, views.get_source(db, source_id), [kind], ends)
    return back(f"/sources/{source_id}", "muted")


@posts.post("/sources/{source_id}/unmute")
def unmute_page(db: Db, source_id: Id) -> Response:
    actions.unmute(db, views.get_source(db, source_id))
    return back(f"/sources/{source_id}", "unmuted")


@posts.post("/sources/{source_id}/ack")
def ack_source_page(db: Db, web: Web, source_id: Id) -> Response:
    actions.ack_source(db, views.get_source(db, source_id).id or 0, web.now())
    return back(f"/sources/{source_id}", "acked")


@posts.post("/events/{event_id}/ack")
def ack_page(db: Db, web: Web, event_id: str,
             next_: Annotated[str, Form(alias="next")] = "/events") -> Response:
    views.get_event(db, event_id)
    actions.ack(db, [event_id], web.now())
    target = next_ if next_.startswith("/") and not next_.startswith("//") else "/events"
    return back(quote(target.split("?", 1)[0]), "acked")


