"""Incremental runs against the reference server: a second run emits only what changed."""

from __future__ import annotations

import typing as t

import requests
from tap_custompms.testing import run_tap

if t.TYPE_CHECKING:
    from custompms.testing import CustompmsServer


class Api:
    """Just enough of a Custompms client to set the scene."""

    def __init__(self, server: CustompmsServer) -> None:
        self.base = server.api_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {server.token}"

    def call(self, method: str, path: str, **kwargs: t.Any) -> dict[str, t.Any]:
        response = self.session.request(method, f"{self.base}/{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    def create(self, resource: str, **fields: t.Any) -> dict[str, t.Any]:
        return self.call("POST", resource, json=fields)


def ids(records: list[dict[str, t.Any]]) -> list[int]:
    return [r["id"] for r in records]


def test_second_run_emits_only_changes_including_tombstones(
    custompms_server: CustompmsServer,
) -> None:
    api = Api(custompms_server)
    acme = api.create("customers", name="Acme", email_domains=["acme.test"])
    globex = api.create("customers", name="Globex")
    launch = api.create("projects", customer_id=acme["id"], name="Launch", start_date="2026-01-05")
    keep = api.create("tasks", project_id=launch["id"], name="Keep", due_date="2026-02-01")
    doomed = api.create("tasks", project_id=launch["id"], name="Doomed")
    config = {
        "api_url": custompms_server.api_url,
        "api_token": custompms_server.token,
        "page_size": 1,
    }

    first = run_tap(config)

    assert ids(first.records("customers")) == [acme["id"], globex["id"]]
    assert ids(first.records("projects")) == [launch["id"]]
    assert ids(first.records("tasks")) == [keep["id"], doomed["id"]]
    assert first.records("projects")[0]["start_date"] == "2026-01-05"

    renamed = api.call("PATCH", f"customers/{globex['id']}", json={"name": "Globex Corp"})
    tombstone = api.call("DELETE", f"tasks/{doomed['id']}")
    added = api.create("projects", customer_id=globex["id"], name="Rollout")

    second = run_tap(config, state=first.state)

    assert second.records("customers") == [renamed]
    assert second.records("projects") == [added]
    assert second.records("tasks") == [tombstone]
    assert second.records("tasks")[0]["deleted_at"] is not None

    third = run_tap(config, state=second.state)

    assert [m for m in third.messages if m["type"] == "RECORD"] == []
    assert third.state["bookmarks"] == second.state["bookmarks"]


def test_start_date_limits_the_first_run(custompms_server: CustompmsServer) -> None:
    api = Api(custompms_server)
    api.create("customers", name="Old")
    cutoff = api.create("customers", name="Cutoff")
    api.create("customers", name="New")
    config = {
        "api_url": custompms_server.api_url,
        "api_token": custompms_server.token,
        "start_date": cutoff["updated_at"],
    }

    run = run_tap(config)

    # Inclusive: the record stamped exactly at start_date is read.
    assert [r["name"] for r in run.records("customers")] == ["Cutoff", "New"]
