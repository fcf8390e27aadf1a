"""The write clock: strictly increasing updated_at even when the wall clock stalls or steps back."""

from __future__ import annotations

from pathlib import Path

import pytest
from custompms.resources import CUSTOMERS
from custompms.store import Store

from custompms import storage


def test_updated_at_increases_when_the_wall_clock_stands_still_or_goes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = 1_800_000_000_000_000_000  # ns
    monkeypatch.setattr(storage.time, "time_ns", lambda: frozen)
    store = Store(tmp_path / "pms.db")
    try:
        created = [store.create(CUSTOMERS, {"name": f"c{i}"})[1] for i in range(5)]
        monkeypatch.setattr(storage.time, "time_ns", lambda: frozen - 10**12)  # 1000 s back
        later = store.patch(CUSTOMERS, created[0]["id"], {"name": "renamed"})
    finally:
        store.close()
    stamps = [record["updated_at"] for record in [*created, later]]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    assert stamps[0].endswith(".000000Z")
    assert stamps[-1].endswith(".000005Z")  # one microsecond after the previous write
