"""What the access token could not read: skipped with a warning, and reported.

Real accounts have private projects and guest access: a 403 or 404 on one project, task,
team or listing skips that object and the run goes on. Each one is collected here and
emitted at the end of the run as a record of the ``unreadable`` stream, which the
talk-sync targets list in their run report.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from singer_sdk import typing as th

SCHEMA = th.PropertiesList(
    th.Property("record", th.StringType, required=True, description="e.g. asana-project:12"),
    th.Property("resource_type", th.StringType, required=True),
    th.Property("gid", th.StringType, required=True),
    th.Property("status", th.IntegerType, description="The HTTP status Asana answered"),
    th.Property("reason", th.StringType, description="Asana's answer, path included"),
).to_dict()


class UnreadableLog:
    """The objects skipped in this run; safe to add to from several threads."""

    def __init__(self, logger: logging.Logger) -> None:
        """Warnings go to ``logger``."""
        self._logger = logger
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}

    def note(self, resource_type: str, gid: str, reason: str, status: int | None = None) -> None:
        """Skip ``resource_type`` ``gid`` because of ``reason`` (warned once per object)."""
        record = f"asana-{resource_type}:{gid}"
        with self._lock:
            if record in self._entries:
                return
            self._entries[record] = {
                "record": record,
                "resource_type": resource_type,
                "gid": gid,
                "status": status,
                "reason": reason,
            }
        self._logger.warning("Skipping %s %s: %s", resource_type, gid, reason)

    def records(self) -> list[dict[str, Any]]:
        """Everything skipped so far, in a stable order."""
        with self._lock:
            return [self._entries[key] for key in sorted(self._entries)]
