"""Test helpers for talk-sync and the plugins built on it.

- :mod:`talk_sync.testing.memory`: :class:`~talk_sync.testing.memory.MemoryDestination`, one
  in-memory destination for the engine's and the targets' tests.
- :mod:`talk_sync.testing.strategies`: hypothesis strategies for synced values (needs the
  ``testing`` extra, i.e. hypothesis; imported only from that module, so the destination
  needs nothing more than talk-sync).
"""

from __future__ import annotations

from talk_sync.testing.memory import MemoryDestination

__all__ = ["MemoryDestination"]
