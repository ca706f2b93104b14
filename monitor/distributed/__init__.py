"""Out to many: ``check_source`` on any number of ``monitor worker`` processes over PostgreSQL.

procrastinate (a PostgreSQL task queue) carries the checks: ``app`` builds it from the
database URL, ``tasks`` defines the ``check`` and ``dispatch`` jobs, ``dispatcher`` is what
``monitor run`` does on PostgreSQL, ``worker`` what ``monitor worker`` does, and ``locks``
keeps per-host politeness across every process with PostgreSQL advisory locks.
"""

from sqlalchemy.engine.url import make_url


def is_postgres(database_url: str) -> bool:
    """Whether ``monitor run`` dispatches to workers (PostgreSQL) or checks itself (SQLite).

    Here, not in ``app``: every command asks, and this needs neither procrastinate nor psycopg.
    """
    return make_url(database_url).get_backend_name() == "postgresql"
