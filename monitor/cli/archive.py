"""``monitor export | verify | gc``: the archive as a whole — package it, prove it, prune it."""

from __future__ import annotations
