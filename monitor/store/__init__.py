"""Where things are stored: tables, schema and the queries the rest of the service uses."""

from monitor.store.db import open_engine, session
from monitor.store.models import Capture, Event, Source, Version

__all__ = ["Capture", "Event", "Source", "Version", "open_engine", "session"]
