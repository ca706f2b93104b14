"""Where things are stored: tables, schema and the queries the rest of the service uses."""

from monitor.store.db import open_engine, session
from monitor.store.models import Capture, Event, Host, Source, Version

__all__ = ["Capture", "Event", "Host", "Source", "Version", "open_engine", "session"]
