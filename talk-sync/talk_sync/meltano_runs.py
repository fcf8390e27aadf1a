"""Meltano's record of running pipelines, as ``talk-sync lock`` needs to read and settle it.

``meltano run`` refuses a pipeline while its system database shows a run of the same state
id as ``RUNNING`` with a heartbeat less than five minutes old. After a sync was killed, that
guard would let the next sync's first block write and then refuse its second block: a sync
stopped halfway. ``talk-sync lock`` therefore, before any block runs:

- marks the pipeline runs of a sync *known to be dead* as failed (what Meltano itself does
  once their heartbeat is five minutes old), so the next sync runs whole at once;
- refuses to start while another pipeline of the sync is really running.

Only the ``runs`` table's documented columns are touched, through SQLAlchemy Core.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import MetaData, Table, create_engine, select, update

from talk_sync.timestamps import as_utc, utcnow

#: Meltano's own limit: a run whose heartbeat is older is stale (meltano.core.job).
HEARTBEAT_VALID = timedelta(minutes=5)


@dataclass(frozen=True)
class PipelineRun:
    """A ``RUNNING`` row of Meltano's ``runs`` table."""

    id: int
    state_id: str
    started_at: datetime
    last_heartbeat_at: datetime | None

    @property
    def valid_until(self) -> datetime:
        """When Meltano will consider it stale if its heartbeat stops now."""
        return (self.last_heartbeat_at or self.started_at) + HEARTBEAT_VALID


def state_ids(environment: str, pipelines: Iterable[str], suffix: str | None) -> list[str]:
    """Meltano's state ids of ``pipelines`` (``tap-x-to-target-y``) in ``environment``."""
    return [f"{environment}:{name}" + (f":{suffix}" if suffix else "") for name in pipelines]


class MeltanoRuns:
    """Meltano's ``runs`` table in its system database (``$MELTANO_DATABASE_URI``)."""

    def __init__(self, database_uri: str) -> None:
        self.engine = create_engine(database_uri)
        self.runs = Table("runs", MetaData(), autoload_with=self.engine)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def running(self, ids: Iterable[str]) -> list[PipelineRun]:
        """The rows still marked ``RUNNING`` for these state ids, oldest first."""
        runs = self.runs.c
        query = (
            select(runs.id, runs.job_name, runs.started_at, runs.last_heartbeat_at)
            .where(runs.state == "RUNNING", runs.job_name.in_(list(ids)))
            .order_by(runs.started_at)
        )
        with self.engine.connect() as connection:
            return [
                # Meltano stores naive UTC datetimes.
                PipelineRun(
                    row.id, row.job_name, as_utc(row.started_at), as_utc(row.last_heartbeat_at)
                )
                for row in connection.execute(query)
            ]

    def fail(self, rows: Iterable[PipelineRun], reason: str) -> int:
        """Mark ``rows`` failed, as Meltano does with stale runs; returns how many changed."""
        changed = 0
        now = utcnow().replace(tzinfo=None)  # naive UTC, as Meltano stores them
        with self.engine.begin() as connection:
            for row in rows:
                payload = connection.execute(
                    select(self.runs.c.payload).where(self.runs.c.id == row.id)
                ).scalar()
                data = json.loads(payload) if payload else {}
                data["error"] = reason
                result = connection.execute(
                    update(self.runs)
                    .where(self.runs.c.id == row.id, self.runs.c.state == "RUNNING")
                    .values(state="FAIL", ended_at=now, payload=json.dumps(data))
                )
                changed += result.rowcount
        return changed
