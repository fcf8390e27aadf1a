"""Incremental listing: filters, paging, ordering, and walking a table while it is written."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def walk(
    api: httpx.Client,
    resource: str,
    *,
    between_pages: Any = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """Every record a paged walk returns, calling between_pages(page_number) after each page."""
    seen: list[dict[str, Any]] = []
    cursor = None
    page_number = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get(f"/{resource}", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["data"])
        cursor = page["next_cursor"]
        if between_pages:
            between_pages(page_number)
        page_number += 1
        if cursor is None:
            return seen


def order_key(record: dict[str, Any]) -> tuple[str, int]:
    return record["updated_at"], record["id"]


def test_updated_since_is_inclusive_and_orders_by_updated_at_then_id(
    api: httpx.Client, make
) -> None:
    first, second, third = make.customer(), make.customer(), make.customer()
    api.patch(f"/customers/{first['id']}", json={"name": "moved to the end"})
    data = api.get("/customers", params={"updated_since": second["updated_at"]}).json()["data"]
    assert [c["id"] for c in data] == [second["id"], third["id"], first["id"]]
    assert data == sorted(data, key=order_key)


def test_updated_since_accepts_any_offset(api: httpx.Client, make) -> None:
    record = make.customer()
    instant = datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00"))
    shifted = instant.astimezone(timezone(timedelta(hours=-5))).isoformat()
    data = api.get("/customers", params={"updated_since": shifted}).json()["data"]
    assert [c["id"] for c in data] == [record["id"]]


def test_tombstones_are_listed_only_on_request(api: httpx.Client, make) -> None:
    kept, deleted = make.customer(), make.customer()
    api.delete(f"/customers/{deleted['id']}")
    since = {"updated_since": kept["updated_at"]}
    live = api.get("/customers", params=since).json()["data"]
    everything = api.get("/customers", params={**since, "include_deleted": "true"}).json()["data"]
    assert [c["id"] for c in live] == [kept["id"]]
    assert [c["id"] for c in everything] == [kept["id"], deleted["id"]]
    assert everything[1]["deleted_at"] is not None


def test_pages_follow_the_cursor_until_it_is_null(api: httpx.Client, make) -> None:
    created = [make.customer() for _ in range(7)]
    since = created[0]["updated_at"]
    first = api.get("/customers", params={"updated_since": since, "limit": 3}).json()
    assert len(first["data"]) == 3
    assert first["next_cursor"]
    records = walk(api, "customers", updated_since=since, limit=3)
    assert [c["id"] for c in records] == [c["id"] for c in created]
    exact = api.get("/customers", params={"updated_since": since, "limit": 7}).json()
    assert exact["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": ""}, "cursor"),  # a lost cursor does not silently restart the walk
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-01-01T00:00:00"}, "updated_since"),  # no offset
        ({"include_deleted": "maybe"}, "include_deleted"),
        ({"updatedSince": "2026-01-01T00:00:00Z"}, "updatedSince"),  # unknown, not ignored
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    api: httpx.Client, blamed, params: dict, parameter: str
) -> None:
    response = api.get("/customers", params=params)
    assert response.status_code == 422
    assert blamed(response) == {parameter}


def assert_walk_is_complete(
    initial: list[dict[str, Any]], seen: list[dict[str, Any]], touched: set[int]
) -> None:
    """No record that existed at the start is skipped; no unchanged record is repeated."""
    counts = Counter(record["id"] for record in seen)
    for record in initial:
        if record["id"] in touched:
            assert counts[record["id"]] >= 1, f"record {record['id']} skipped"
        else:
            assert counts[record["id"]] == 1, f"record {record['id']} seen {counts[record['id']]}x"
    versions = [(record["id"], record["version"]) for record in seen]
    assert len(versions) == len(set(versions)), "a record version was returned twice"
    assert seen == sorted(seen, key=order_key)


operations = st.lists(
    st.tuples(
        st.integers(0, 8),  # after which page
        st.sampled_from(["create", "update", "delete"]),
        st.integers(0, 10**6),  # which initial record (modulo)
    ),
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(size=st.integers(1, 20), limit=st.integers(1, 6), ops=operations)
def test_walking_while_writing_never_skips_or_repeats(
    api: httpx.Client, make, size: int, limit: int, ops: list[tuple[int, str, int]]
) -> None:
    initial = [make.customer() for _ in range(size)]
    touched: set[int] = set()

    def write(page_number: int) -> None:
        for after, action, pick in ops:
            if after != page_number:
                continue
            target = initial[pick % size]
            if action == "create":
                make.customer()
            elif action == "update":
                api.patch(f"/customers/{target['id']}", json={"name": f"edit {page_number}"})
                touched.add(target["id"])
            else:
                api.delete(f"/customers/{target['id']}")
                touched.add(target["id"])

    seen = walk(
        api,
        "customers",
        between_pages=write,
        updated_since=initial[0]["updated_at"],
        limit=limit,
        include_deleted="true",
    )
    assert_walk_is_complete(initial, seen, touched)


def test_walking_while_another_client_writes_concurrently(server, api: httpx.Client, make) -> None:
    initial = [make.customer() for _ in range(150)]
    touched: set[int] = set()
    stop = threading.Event()

    def writer() -> None:
        with httpx.Client(base_url=server.api_url, headers=server.headers) as other:
            step = 0
            while not stop.is_set():
                target = initial[(step * 37) % len(initial)]
                touched.add(target["id"])
                other.patch(f"/customers/{target['id']}", json={"name": f"concurrent {step}"})
                other.post("/customers", json={"name": f"new {step}"})
                step += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        since = initial[0]["updated_at"]
        seen = walk(api, "customers", updated_since=since, limit=7, include_deleted="true")
    finally:
        stop.set()
        thread.join()
    assert_walk_is_complete(initial, seen, touched)
