"""Timestamps: read in any RFC 3339 spelling, written in each reader's form."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from talk_sync.errors import NormalizeError
from talk_sync.timestamps import (
    as_utc,
    format_asana_timestamp,
    format_clock,
    format_custompms_timestamp,
    parse_timestamp,
    require_timestamp,
)

MOMENT = datetime(2026, 1, 2, 9, 4, 33, 123456, tzinfo=timezone.utc)


def test_each_system_gets_its_own_form_of_one_moment() -> None:
    east = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert format_custompms_timestamp(east) == "2026-01-02T09:04:33.123456Z"
    assert format_asana_timestamp(east) == "2026-01-02T09:04:33.123Z"
    assert format_clock(east) == "2026-01-02 09:04:33Z"
    assert format_clock(None) is None


def test_every_form_written_reads_back() -> None:
    for text in ("2026-01-02T09:04:33.123456Z", "2026-01-02T11:04:33.123456+02:00"):
        assert parse_timestamp(text) == MOMENT
    assert require_timestamp(format_asana_timestamp(MOMENT)) == MOMENT.replace(microsecond=123000)


def test_naive_is_utc_and_empty_is_none_unless_required() -> None:
    naive = MOMENT.replace(tzinfo=None)
    assert as_utc(naive) == MOMENT
    assert as_utc(None) is None
    assert parse_timestamp(naive) == MOMENT
    assert parse_timestamp("") is None
    with pytest.raises(NormalizeError, match="not a timestamp: ''"):
        require_timestamp("")
    with pytest.raises(ValueError, match="not an RFC 3339 timestamp: 'last tuesday'"):
        require_timestamp("last tuesday")
