"""``monitor timemap | annotate``: reaching archived copies from outside (Memento, Robust Links)."""

from __future__ import annotations
