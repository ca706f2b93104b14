"""What every request handler gets: the web state (home, keys, check runner, clock) and a
database session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session

from monitor.clock import Clock
from monitor.home import Home
from monitor.store import session
from monitor.web.actions import CheckRunner
from monitor.web.auth import Keys
from monitor.web.schemas import MAX_ID


@dataclass
class WebState:
    home: Home
    keys: Keys
    runner: CheckRunner
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def db_session(request: Request) -> Iterator[Session]:
    with session(web_state(request).home.engine) as db:
        yield db


Web = Annotated[WebState, Depends(web_state)]
Db = Annotated[Session, Depends(db_session)]


# Ids and version numbers in paths and queries: bounded so a huge one is a 422, not a 500.
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
