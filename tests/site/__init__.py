"""A local imitation news site for tests and benchmarks.

``NewsSite`` runs several outlets on 127.0.0.1 (one port each) whose articles can be
published, edited, redirected, removed, blocked, slowed down or taken offline from the
test; outlets can also live at ``<name>.test`` (resolved by the site's own transport, whose
DNS can fail), serve HTTPS from a test CA (whose certificate can break) or answer 200 for
any path. Run ``python -m tests.site --help`` for the standalone server used by benchmarks.
"""

from .pages import Article
from .public import InternetArchive, MementoAggregator
from .server import NewsSite

__all__ = ["Article", "InternetArchive", "MementoAggregator", "NewsSite"]
