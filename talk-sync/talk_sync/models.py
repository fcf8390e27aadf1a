"""The link store's tables (SQLAlchemy 2.0). Change them only together with a migration.

See :mod:`talk_sync.migrations` for how a schema change ships.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from talk_sync.timestamps import utcnow


class Base(DeclarativeBase):
    """Declarative base of the link store's tables."""


class SchemaVersion(Base):
    """A single row holding the schema version the database is at."""

    __tablename__ = "talk_sync_schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class LinkRow(Base):
    """One linked (or being-linked) pair of records.

    Either key may be null while a create is pending; SQL unique constraints ignore nulls,
    so uniqueness holds among the keys that are set, on SQLite and PostgreSQL alike.
    """

    __tablename__ = "talk_sync_links"
    __table_args__ = (
        UniqueConstraint("asana_type", "asana_gid", name="uq_talk_sync_links_asana"),
        UniqueConstraint("custompms_type", "custompms_id", name="uq_talk_sync_links_custompms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    asana_type: Mapped[str] = mapped_column(String(32), nullable=False)
    asana_gid: Mapped[str | None] = mapped_column(String(64))
    custompms_type: Mapped[str] = mapped_column(String(32), nullable=False)
    custompms_id: Mapped[str | None] = mapped_column(String(64))
    asana_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    custompms_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    create_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    create_attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: The run lease (``run:<uuid>``) that holds a pending create: no other run may send it
    #: while that lease is live (see :mod:`talk_sync.leases`).
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    #: What the record being created will look like on the other side (see
    #: :mod:`talk_sync.identity`): lets the reverse direction recognise it before the link
    #: is complete, instead of copying it back.
    match_key: Mapped[str | None] = mapped_column(String(600), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class RejectRow(Base):
    """A record the destination refused, kept so the next run retries it."""

    __tablename__ = "talk_sync_rejects"
    __table_args__ = (
        UniqueConstraint("side", "stream", "source_key", name="uq_talk_sync_rejects_record"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    side: Mapped[str] = mapped_column(String(16), nullable=False)
    stream: Mapped[str] = mapped_column(String(100), nullable=False)
    source_key: Mapped[str] = mapped_column(String(200), nullable=False)
    record: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    field: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    #: Why the record cannot be applied as things stand (a person must act); ``None`` while
    #: a retry may still succeed on its own.
    stuck: Mapped[str | None] = mapped_column(Text)
    #: The values the destination refused, hashed (see ``Incoming.fingerprint``): the same
    #: values are not sent again before ``retry_at``; changed ones are, at once.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    #: When a refused record is sent again unchanged (``None``: on the next run).
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LeaseRow(Base):
    """A named lease with a holder and an expiry: the sync lock, and each run's claim.

    A holder renews its lease while it works; a lease whose holder stopped renewing (or,
    on the same host, whose process is gone) may be taken over. See :mod:`talk_sync.leases`.
    """

    __tablename__ = "talk_sync_leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), nullable=False)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    #: The holder process's start time (seconds since the epoch): a reused pid is not it.
    pid_started: Mapped[float] = mapped_column(Float, nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    renewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
