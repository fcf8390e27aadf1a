"""Test helpers for talk-sync and the plugins built on it.

- :mod:`talk_sync.testing.memory`: :class:`~talk_sync.testing.memory.MemoryDestination`, one
  in-memory destination for the engine's and the targets' tests.
- :mod:`talk_sync.testing.strategies`: hypothesis strategies for synced values (needs the
  ``testing`` extra, i.e. hypothesis; imported only from that module, so the destination
  needs nothing more than talk-sync).
- :mod:`talk_sync.testing.standard_target`: the SDK's standard target tests fed with records
  of a real flow.
- :mod:`talk_sync.testing.scripted_http`: scripted answers for the targets' API clients.
- :mod:`talk_sync.testing.failing_servers`: local servers that fail as a misconfigured API
  does (401, 403, no answer, a closed port), for the start-up checks.
- :mod:`talk_sync.testing.postgres`: a throwaway PostgreSQL cluster, and its pytest fixtures
  (``-p talk_sync.testing.postgres``).
- :mod:`talk_sync.testing.headless_browser`: the distribution's Chromium, headless, driven
  over the DevTools protocol on a pipe (console errors, requests, DOM values of a page).
"""

from __future__ import annotations

from talk_sync.testing.memory import MemoryDestination

__all__ = ["MemoryDestination"]
