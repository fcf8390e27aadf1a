"""Timestamps in Asana's format (``2012-02-22T02:06:58.147Z``), strictly increasing."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def format_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as Asana does: UTC, millisecond precision, ``Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_ms(text: str) -> int:
    """Epoch milliseconds of an Asana timestamp (one without a zone is UTC, as at Asana)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return round(moment.timestamp() * 1000)


class Clock:
    """Wall-clock time that never repeats a millisecond, so every edit sorts after the last."""

    def __init__(self, last_ms: int = 0) -> None:
        """Start after ``last_ms`` (the newest timestamp already stored)."""
        self.last_ms = last_ms

    def now_ms(self) -> int:
        """Milliseconds now, bumped past the previous reading when the clock has not moved."""
        self.last_ms = max(int(time.time() * 1000), self.last_ms + 1)
        return self.last_ms

    def now(self) -> str:
        """The next timestamp as an Asana date-time string."""
        return format_ms(self.now_ms())
