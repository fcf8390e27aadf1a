"""Per-resource event logs and sync tokens, as GET /events serves them.

Asana keeps events for a resource only once someone subscribed (asked for a sync token), so
a log is created by the first token and only subscribed resources record events. A token
expires when the events after it have been dropped from the log (more than ``max_events``),
when it is older than ``max_age_seconds``, or when the sandbox is told to expire tokens.

Live delivery is late and at most once: ``delay_seconds`` keeps an event out of every stream
until that long after the change (a token handed out meanwhile still delivers it later), and
``drop_rate`` loses that share of events for good.
"""

from __future__ import annotations

import random
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asana_sandbox.errors import ApiError

SYNC_INVALID = (
    "Sync token invalid or too old. If you are attempting to keep resources in sync, you must "
    "fetch the full dataset for this query now and use the new sync token for the next sync."
)
PAGE_SIZE = 100


@dataclass
class EventLog:
    """The retained events of one subscribed resource, oldest first: (seq, visible at, event)."""

    entries: deque[tuple[int, float, dict[str, Any]]]
    epoch: int = 0
    dropped_upto: int = 0  # sequence number of the newest event pushed out of the log


@dataclass(frozen=True)
class SyncToken:
    """What an issued token stands for."""

    resource: str
    seq: int
    epoch: int
    issued_at: float


@dataclass
class EventHub:
    """All event logs and issued sync tokens of a sandbox."""

    max_events: int = 10_000
    max_age_seconds: float = 24 * 3600
    delay_seconds: float = 0.0
    drop_rate: float = 0.0
    #: "project": a subtask's field changes reach its ancestors' projects; "none": they do not.
    subtask_events: str = "project"
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    #: Told about each event lost to ``drop_rate`` that a subscribed stream would have seen.
    on_drop: Callable[[], None] | None = None
    logs: dict[str, EventLog] = field(default_factory=dict)
    tokens: dict[str, SyncToken] = field(default_factory=dict)
    seq: int = 0

    def publish(self, event: dict[str, Any], targets: Iterable[str]) -> None:
        """Append an event to the log of every subscribed resource among targets."""
        self.seq += 1
        subscribed = [self.logs[gid] for gid in dict.fromkeys(targets) if gid in self.logs]
        # One draw per event, subscribed or not, so a seed loses the same changes every run.
        if self.drop_rate > 0 and self.rng.random() < self.drop_rate:
            if subscribed and self.on_drop is not None:
                self.on_drop()
            return
        visible_at = self.clock() + self.delay_seconds
        for log in subscribed:
            if len(log.entries) == log.entries.maxlen:
                log.dropped_upto = log.entries[0][0]
            log.entries.append((self.seq, visible_at, event))

    def _issue(self, resource: str) -> str:
        log = self.logs.get(resource)
        if log is None:
            log = self.logs[resource] = EventLog(deque(maxlen=self.max_events))
        token = secrets.token_hex(16)
        self.tokens[token] = SyncToken(resource, self.seq, log.epoch, self.clock())
        return token

    def _valid(self, resource: str, token: SyncToken | None) -> bool:
        log = self.logs.get(resource)
        if token is None or log is None or token.resource != resource or token.epoch != log.epoch:
            return False
        if self.clock() - token.issued_at > self.max_age_seconds:
            return False
        # Events after this token were dropped from the log: the client must rescan.
        return token.seq >= log.dropped_upto

    def read(self, resource: str, sync: str | None) -> dict[str, Any]:
        """Events after a token: ``{"data", "sync", "has_more"}``, or a 412 with a fresh token."""
        token = self.tokens.get(sync) if sync else None
        if not self._valid(resource, token):
            raise ApiError(412, SYNC_INVALID, extra={"sync": self._issue(resource)})
        assert token is not None
        log = self.logs[resource]
        now = self.clock()
        newer: list[tuple[int, dict[str, Any]]] = []
        pending = None  # the first event after the token that is not visible yet
        for seq, visible_at, event in log.entries:
            if seq <= token.seq:
                continue
            if visible_at > now:
                pending = seq
                break  # visible_at grows with seq: the visible events are a prefix
            newer.append((seq, event))
        page = newer[:PAGE_SIZE]
        if len(newer) > PAGE_SIZE:
            last = page[-1][0]
        elif pending is not None:
            last = pending - 1  # the next token still delivers the pending events
        else:
            last = self.seq
        fresh = secrets.token_hex(16)
        self.tokens[fresh] = SyncToken(resource, last, log.epoch, now)
        return {
            "data": [event for _, event in page],
            "sync": fresh,
            "has_more": len(newer) > PAGE_SIZE,
        }

    def expire(self, resource: str | None = None) -> int:
        """Invalidate every token (or those of one resource); return how many logs changed."""
        targets = [resource] if resource else list(self.logs)
        for gid in targets:
            log = self.logs.get(gid)
            if log is not None:
                log.epoch += 1
                log.dropped_upto = self.seq
                log.entries.clear()
        return len([gid for gid in targets if gid in self.logs])
