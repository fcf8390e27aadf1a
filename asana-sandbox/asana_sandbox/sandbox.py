"""One running sandbox: its configuration, state, limits and counters."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from asana_sandbox.limits import Concurrency, Faults, Quota, Stats
from asana_sandbox.pagination import OffsetCodec
from asana_sandbox.store import Store


@dataclass
class Settings:
    """What the ``serve`` command line configures."""

    tokens: tuple[str, ...] = ("test-token",)
    read_only_tokens: tuple[str, ...] = ()
    data_file: Path | None = None
    seed: str | None = None
    latency_ms: int = 0
    rate_limit_per_minute: int | None = None
    max_concurrent_reads: int = 50
    max_concurrent_writes: int = 15
    fault_rate: float = 0.0
    fault_slow_ms: int = 3000
    fault_seed: int | None = None
    fault_after_write_rate: float = 0.0
    sync_token_max_events: int = 10_000
    sync_token_max_age_hours: float = 24.0
    event_delay_s: float = 0.0
    event_drop_rate: float = 0.0
    subtask_events: str = "project"
    offset_ttl_s: float | None = None
    large_domain_projects: int | None = None
    batch_order: str = "listed"
    save_interval_seconds: float = 0.2


@dataclass
class Sandbox:
    """Everything a request handler can reach."""

    settings: Settings
    store: Store
    me: str
    quota: Quota
    concurrency: Concurrency
    faults: Faults
    stats: Stats = field(default_factory=Stats)
    offsets: OffsetCodec = field(default_factory=OffsetCodec)
    #: Shuffles each /batch's actions (``--batch-order shuffled``); ``None``: listed order.
    batch_rng: random.Random | None = None

    def token_allowed(self, token: str) -> bool:
        """Whether a bearer token is one of the configured ones."""
        return token in self.settings.tokens or token in self.settings.read_only_tokens

    def can_write(self, token: str) -> bool:
        """Read-only tokens get 403 on writes, like a token without write scopes."""
        return token in self.settings.tokens

    def note_event_dropped(self) -> None:
        """Count an event that ``--event-drop-rate`` kept from its subscribers."""
        self.stats.events_dropped += 1

    def note_offset_expired(self) -> None:
        """Count an offset refused because ``--offset-ttl-s`` passed."""
        self.stats.offsets_expired += 1

    def mark_written(self) -> None:
        """Note a write: the data file is saved soon after."""
        self.stats.writes += 1
        self.store.dirty = True
