"""Leases: the sync lock and run claims, live while their holder lives and renews them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from talk_sync.leases import LeaseHeldError, LeaseKeeper, Process, sync_lock_name
from talk_sync.linkstore import LinkStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LinkStore]:
    with LinkStore(tmp_path / "links.db") as opened:
        yield opened


def test_a_live_holder_keeps_its_lease_and_the_same_holder_renews_it(store: LinkStore) -> None:
    first = store.leases.acquire("sync-lock", "a", Process.of())
    assert first.replaced is None
    assert first.lease.live()
    with pytest.raises(LeaseHeldError, match=r"sync-lock is held by pid \d+ on "):
        store.leases.acquire("sync-lock", "b", Process.of())
    again = store.leases.acquire("sync-lock", "a", Process.of())
    assert again.lease.expires_at >= first.lease.expires_at
    assert store.leases.release("sync-lock", "b") is None  # not b's to release
    assert store.leases.release("sync-lock", "a") is not None
    assert store.leases.get("sync-lock") is None


def test_a_dead_holder_on_this_host_is_taken_over_at_once(
    store: LinkStore, exited_process: Callable[[], Process]
) -> None:
    store.leases.acquire("sync-lock", "dead", exited_process(), ttl=timedelta(hours=1))
    assert not store.leases.is_live("sync-lock")
    taken = store.leases.acquire("sync-lock", "new", Process.of())
    assert taken.replaced is not None
    assert taken.replaced.holder == "dead"
    assert taken.lease.holder == "new"


def test_a_holder_on_another_host_is_live_until_its_lease_expires(store: LinkStore) -> None:
    elsewhere = Process("another-host.example", 1, 0.0)
    store.leases.acquire("sync-lock", "remote", elsewhere, ttl=timedelta(seconds=0.3))
    with pytest.raises(LeaseHeldError):
        store.leases.acquire("sync-lock", "local", Process.of())
    time.sleep(0.35)
    assert store.leases.acquire("sync-lock", "local", Process.of()).replaced is not None


def test_the_keeper_renews_and_notices_a_takeover(store: LinkStore) -> None:
    ttl = timedelta(seconds=0.4)
    store.leases.acquire("run:a", "a", Process.of(), ttl=ttl)
    keeper = LeaseKeeper(store.leases, ttl=ttl)
    keeper.keep("run:a", "a")
    try:
        time.sleep(1.0)  # more than twice the TTL: only renewals keep it live
        assert store.leases.is_live("run:a")
        store.leases.release("run:a", "a")  # as if another run took it over
        store.leases.acquire("run:a", "b", Process.of(), ttl=ttl)
        keeper.renew_now()
        assert keeper.lost == ["run:a"]
    finally:
        keeper.stop()


def test_sync_lock_names_are_scoped() -> None:
    assert sync_lock_name() == "sync-lock"
    assert sync_lock_name("tenant-a") == "sync-lock:tenant-a"
