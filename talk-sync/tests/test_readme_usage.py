"""The README's usage sketch runs as documented, against a fake Custompms."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from talk_sync.refs import Ref

README = Path(__file__).resolve().parents[1] / "README.md"
CLOCK = datetime(2026, 1, 1, tzinfo=timezone.utc)


class VersionMismatchError(Exception):
    """What a Custompms client raises on 412, carrying the current record."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__("412")
        self.current = current


class FakeCustompms:
    """Just enough of the Custompms contract: Idempotency-Key on create, If-Match on update."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], dict[str, Any]] = {}
        self.replies: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.tick = 0

    def _now(self) -> str:
        self.tick += 1
        return (CLOCK + timedelta(minutes=self.tick)).isoformat().replace("+00:00", "Z")

    def create(self, kind: str, values: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        if idempotency_key in self.replies:
            return dict(self.replies[idempotency_key])
        record = {**values, "id": len(self.records) + 1, "version": 1, "updated_at": self._now()}
        self.records[(kind, record["id"])] = record
        self.replies[idempotency_key] = dict(record)
        self.writes.append(("create", values))
        return dict(record)

    def update(self, ref: Ref, changes: dict[str, Any], version: int) -> dict[str, Any]:
        record = self.records[(ref.type, ref.native_key)]
        if record["version"] != version:
            raise VersionMismatchError(dict(record))
        self.writes.append(("update", changes))
        record.update(changes, version=version + 1, updated_at=self._now())
        return dict(record)

    def edit(self, kind: str, key: int, **changes: Any) -> None:
        """A user edits Custompms directly."""
        record = self.records[(kind, key)]
        record.update(changes, version=record["version"] + 1, updated_at=self._now())


@pytest.fixture
def target(tmp_path: Path) -> dict[str, Any]:
    (code,) = re.findall(r"## Usage.*?```python\n(.*?)```", README.read_text(), flags=re.S)
    namespace: dict[str, Any] = {
        "LINK_STORE_URL": str(tmp_path / "links.db"),
        "client": FakeCustompms(),
        "VersionMismatchError": VersionMismatchError,
    }
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102
    yield namespace
    namespace["store"].close()


def _team(name: str, description: str | None = None, modified_at: str | None = None) -> dict:
    return {
        "external_id": "asana-team:3",
        "name": name,
        "description": description,
        "parent_id": "asana-workspace:1",
        "_source": {
            "gid": "3",
            "name": name,
            "description": description or "",
            "organization": "1",
            "modified_at": modified_at,
        },
    }


WORKSPACE = {
    "external_id": "asana-workspace:1",
    "name": "Acme",
    "email_domains": ["acme.com"],
    "_source": {"gid": "1", "name": "Acme", "email_domains": ["ACME.com"]},
}


def test_readme_usage_end_to_end(target: dict[str, Any]) -> None:
    apply_batch, client, report = target["apply_batch"], target["client"], target["report"]

    # The team arrives before its workspace is linked: it waits, kept for retry.
    apply_batch("team_customer", [_team("Ops")])
    assert client.writes == []
    assert [r.source_key for r in target["store"].rejects()] == ["asana-team:3"]

    apply_batch("workspace_customer", [WORKSPACE])
    apply_batch("team_customer", [_team("Ops")])
    assert client.records[("customer", 2)]["parent_id"] == 1
    assert target["store"].rejects() == []  # the retry succeeded
    assert len(client.writes) == 2

    # A second run with no edits writes nothing.
    apply_batch("workspace_customer", [WORKSPACE])
    apply_batch("team_customer", [_team("Ops", "")])
    assert len(client.writes) == 2

    # Concurrent edits of different fields: both kept, no conflict.
    client.edit("customer", 2, description="edited in Custompms")
    apply_batch("team_customer", [_team("Ops team")])
    assert client.records[("customer", 2)]["name"] == "Ops team"
    assert client.records[("customer", 2)]["description"] == "edited in Custompms"
    assert client.writes[-1] == ("update", {"name": "Ops team"})
    assert report.conflicts == []

    # The same field edited on both sides: Custompms's edit is newer and wins, reported.
    client.edit("customer", 2, name="Renamed in Custompms")
    apply_batch("team_customer", [_team("Renamed in Asana", modified_at="2026-01-01T00:00:00Z")])
    assert client.records[("customer", 2)]["name"] == "Renamed in Custompms"
    (conflict,) = report.conflicts
    assert (conflict.field, conflict.asana, conflict.winner) == (
        "name",
        "Renamed in Asana",
        "custompms",
    )
    counts = report.counters["team_customer"]
    assert (counts["created"], counts["updated"], counts["conflicts"]) == (1, 2, 1)
    assert counts["unchanged"] == 1
