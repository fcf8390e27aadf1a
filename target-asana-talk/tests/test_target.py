"""target-asana-talk in process, against the sandbox.

Records are fed already mapped (stream = flow name), as the stream maps in meltano.yml
produce them; the end-to-end tests (tests/test_sync_checklist.py) cover the maps themselves.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from asana_sandbox.testing import SandboxServer
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from talk_sync import LinkStatus, LinkStore
from talk_sync.testing.standard_target import flow_target_suite
from target_asana_talk.target import TargetAsanaTalk

STATE = {"bookmarks": {"customers": {"replication_key_value": "2026-01-01T00:00:00Z"}}}
ACME, DELIVERY = "1200000000000001", "1200000000000011"
KEYS = ["source_ref"]
TEAM_SCHEMA = {
    "type": "object",
    "properties": {
        "source_ref": {"type": "string"},
        "organization": {"type": ["string", "null"]},
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "is_deleted": {"type": "boolean"},
        "_source": {"type": "object"},
    },
}


def settings(sandbox: SandboxServer, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "api_url": sandbox.api_url,
        "access_token": sandbox.token,
        "link_store_url": str(tmp_path / "links.db"),
        "report_path": str(tmp_path / "report.json"),
        **extra,
    }


def customer(record_id: int, name: str, parent: int | None = None) -> dict[str, Any]:
    raw = {"id": record_id, "name": name, "description": None, "parent_id": parent, "version": 1}
    return {
        "source_ref": f"custompms-customer:{record_id}",
        "organization": f"custompms-customer:{parent}" if parent else None,
        "name": name,
        "description": None,
        "is_deleted": False,
        "_source": raw,
    }


def messages(*records: dict[str, Any], stream: str = "team_customer") -> str:
    lines = [
        {
            "type": "SCHEMA",
            "stream": stream,
            "schema": TEAM_SCHEMA,
            "key_properties": ["source_ref"],
        },
        *({"type": "RECORD", "stream": stream, "record": r} for r in records),
        {"type": "STATE", "value": STATE},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def run(config: dict[str, Any], lines: str) -> list[dict[str, Any]]:
    """Run the target on ``lines``; the STATE messages it wrote."""
    out = io.StringIO()
    with redirect_stdout(out):
        TargetAsanaTalk(config=config).listen(io.StringIO(lines))
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def teams(sandbox: SandboxServer) -> dict[str, str]:
    listed = sandbox.act("get", f"/workspaces/{ACME}/teams", {})["data"]
    return {team["name"]: team["gid"] for team in listed}


def test_new_customers_become_teams_and_state_follows_the_link_commit(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = settings(sandbox, tmp_path, workspace_gid=ACME)
    with LinkStore(config["link_store_url"]) as store:  # Acme is linked to customer 1
        store.link(
            "workspace_customer",
            f"asana-workspace:{ACME}",
            "custompms-customer:1",
            origin="asana",
            asana_snapshot={"name": "Acme Consulting"},
        )
    states = run(config, messages(customer(201, "Research", parent=1), customer(202, "Legal")))
    assert states == [STATE]
    created = teams(sandbox)
    with LinkStore(config["link_store_url"]) as store:
        for record_id, name in ((201, "Research"), (202, "Legal")):
            link = store.find(f"custompms-customer:{record_id}")
            assert link.status is LinkStatus.LINKED
            assert link.asana.key == created[name]
            assert link.custompms_snapshot["version"] == 1  # target-custompms's If-Match
    report = json.loads(Path(config["report_path"]).read_text())
    assert report["flows"]["team_customer"]["created"] == 2
    assert report["direction"] == "custompms -> asana"


def test_dry_run_writes_nothing_and_emits_no_state(sandbox: SandboxServer, tmp_path: Path) -> None:
    config = settings(sandbox, tmp_path, dry_run=True, workspace_gid=ACME)
    sandbox.reset_stats()
    assert run(config, messages(customer(203, "Dry"))) == []
    assert "Dry" not in teams(sandbox)
    assert sandbox.stats()["writes"] == 0
    report = json.loads(Path(config["report_path"]).read_text())
    assert (report["dry_run"], report["changes"][0]["record"]) == (True, "custompms-customer:203")


def test_a_stream_that_is_no_flow_is_skipped_with_an_info_line(
    sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    config = settings(sandbox, tmp_path)
    # `users` is no flow, and no map makes one of it; the run's flow stream has no record.
    lines = messages(customer(204, "Ignored"), stream="users") + messages()
    assert run(config, lines) == [STATE]
    (line,) = [r for r in caplog.records if "users is not one of the flows" in r.message]
    assert line.levelno == logging.INFO
    assert "error" not in line.message.lower()
    assert "exception" not in line.message.lower()
    assert "Ignored" not in teams(sandbox)


def test_with_no_stream_maps_the_built_in_maps_write_the_tap_s_streams(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Only the API settings: the target maps tap-custompms's own streams by itself."""
    config = settings(sandbox, tmp_path, workspace_gid=ACME)
    record = {
        "id": 206,
        "name": "Built-in Maps",
        "description": None,
        "parent_id": None,
        "external_id": None,
        "deleted_at": None,
        "version": 1,
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:00:00.000000Z",
    }
    types = {"id": "integer", "version": "integer", "parent_id": "integer"}
    properties = {name: {"type": [types.get(name, "string"), "null"]} for name in record}
    lines = [
        {
            "type": "SCHEMA",
            "stream": "customers",
            "schema": {"properties": properties},
            "key_properties": ["id"],
        },
        {"type": "RECORD", "stream": "customers", "record": record},
        {"type": "STATE", "value": STATE},
    ]
    assert run(config, "".join(json.dumps(line) + "\n" for line in lines)) == [STATE]
    assert "Built-in Maps" in teams(sandbox)


def test_a_run_without_a_stream_to_map_fails_in_one_line(
    sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run(settings(sandbox, tmp_path), messages(customer(207, "Lost"), stream="users"))
    assert stopped.value.code == 1
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "got users; expects customers, projects, tasks" in error
    assert "Lost" not in teams(sandbox)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conflict_policy": "loudest_wins"}, "conflict_policy"),
        ({"conflict_policy": {"task_tasks": "asana_wins"}}, "conflict_policy: unknown flow"),
        ({"delete_policy": "delete"}, "delete_policy"),
        ({"api_url": "ftp://asana.example/api/1.0"}, "api_url"),
        ({"workspace_gid": "acme"}, "workspace_gid"),
        ({"requests_per_minute": 0}, "requests_per_minute"),
        ({"access_token": " "}, "access_token"),
    ],
)
def test_bad_config_fails_at_once_naming_the_setting(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    config = {
        "api_url": "http://127.0.0.1:9/api/1.0",
        "access_token": "s3cret-asana-token",
        "link_store_url": str(tmp_path / "links.db"),
        **overrides,
    }
    with pytest.raises(ConfigValidationError) as error:
        TargetAsanaTalk(config=config)
    errors = " | ".join(error.value.errors)
    assert message in errors
    assert "s3cret-asana-token" not in errors


def test_a_token_asana_refuses_stops_the_run_in_one_line_naming_the_setting(
    sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(sandbox, tmp_path, access_token="s3cret-but-wrong", workspace_gid=ACME)
    with pytest.raises(SystemExit) as stopped:
        run(config, messages(customer(1, "Acme", None), customer(2, "Delivery", 1)))
    assert stopped.value.code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "401" in errors[0]
    assert "access_token" in errors[0]
    assert "s3cret-but-wrong" not in caplog.text
    with LinkStore(tmp_path / "links.db") as store:
        assert store.rejects() == []  # not a per-record refusal, re-sent every run


def test_missing_token_is_named() -> None:
    with pytest.raises(ConfigValidationError) as error:
        TargetAsanaTalk(config={"api_url": "http://127.0.0.1:9/api/1.0"})
    assert any("access_token" in line for line in error.value.errors)


# The SDK's standard target tests, their canned streams rewritten as Custompms customers
# (flow team_customer) that the target writes to the sandbox as teams of the workspace.
def standard_customer(number: int, name: str, canned: Mapping[str, Any]) -> dict[str, Any]:
    """A top-level Custompms customer, mapped: a canned string (e.g. an encoded one) ends
    its name."""
    extra = canned.get("info") or canned.get("clientName")
    if isinstance(extra, str):
        name = f"{name} {extra}"
    return customer(number, name)


STANDARD_SUITE = flow_target_suite(
    stream="team_customer",
    properties=TEAM_SCHEMA["properties"],
    source_ref="source_ref",
    flow_record=standard_customer,
)
StandardTargetTests = get_target_test_class(
    target_class=TargetAsanaTalk,
    config={},  # the runner fixture below gives each test the sandbox's
    custom_suites=[STANDARD_SUITE],
    include_target_tests=False,
)


class TestTargetAsanaTalk(StandardTargetTests):  # type: ignore[valid-type,misc]
    """Standard target tests, against the sandbox."""

    @pytest.fixture
    def runner(self, sandbox: SandboxServer, tmp_path: Path) -> TargetTestRunner:
        config = settings(sandbox, tmp_path, workspace_gid=ACME)
        return TargetTestRunner(TargetAsanaTalk, config=config)
