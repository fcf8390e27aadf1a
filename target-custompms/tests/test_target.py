"""target-custompms in process, against the reference Custompms server.

Records are fed already mapped (stream = flow name), as the stream maps in meltano.yml
produce them; the end-to-end tests cover the maps themselves.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from custompms.testing import CustompmsServer, running_server
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from talk_sync import LinkStatus, LinkStore
from talk_sync.testing.failing_servers import answering
from talk_sync.testing.standard_target import flow_target_suite
from target_custompms.target import TargetCustompms

STATE = {"bookmarks": {"workspaces": {"done": True}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustompmsServer]:
    with running_server(tmp_path_factory.mktemp("custompms") / "pms.db") as running:
        yield running


def settings(server: CustompmsServer, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "api_url": server.api_url,
        "api_token": server.token,
        "link_store_url": str(tmp_path / "links.db"),
        "report_path": str(tmp_path / "report.json"),
        **extra,
    }


def workspace(gid: str, name: str) -> dict[str, Any]:
    raw = {"gid": gid, "name": name, "email_domains": [f"{gid}.example"]}
    return {
        "external_id": f"asana-workspace:{gid}",
        "name": name,
        "email_domains": raw["email_domains"],
        "_source": raw,
    }


def messages(*records: dict[str, Any]) -> str:
    schema = {
        "type": "object",
        "properties": {
            "external_id": {"type": "string"},
            "name": {"type": "string"},
            "email_domains": {"type": "array", "items": {"type": "string"}},
            "_source": {"type": "object"},
        },
    }
    lines = [
        {
            "type": "SCHEMA",
            "stream": "workspace_customer",
            "schema": schema,
            "key_properties": ["external_id"],
        },
        *({"type": "RECORD", "stream": "workspace_customer", "record": r} for r in records),
        {"type": "STATE", "value": STATE},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def run(config: dict[str, Any], lines: str) -> list[dict[str, Any]]:
    """Run the target on ``lines``; the STATE messages it wrote."""
    out = io.StringIO()
    with redirect_stdout(out):
        TargetCustompms(config=config).listen(io.StringIO(lines))
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def customers(server: CustompmsServer) -> dict[str, dict[str, Any]]:
    page = httpx.get(f"{server.api_url}/customers?limit=1000", headers=server.headers).json()
    return {record["external_id"]: record for record in page["data"]}


def test_state_follows_the_writes_and_the_link_commit(
    server: CustompmsServer, tmp_path: Path
) -> None:
    config = settings(server, tmp_path)
    states = run(config, messages(workspace("101", "Acme"), workspace("102", "Beta")))
    assert states == [STATE]
    written = customers(server)
    assert written["asana-workspace:101"]["email_domains"] == ["101.example"]
    with LinkStore(config["link_store_url"]) as store:
        link = store.find("asana-workspace:101")
        assert link.status is LinkStatus.LINKED
        assert str(link.custompms) == f"custompms-customer:{written['asana-workspace:101']['id']}"
        assert link.asana_snapshot == {"name": "Acme", "email_domains": ["101.example"]}
        assert link.custompms_snapshot["version"] == 1
    report = json.loads(Path(config["report_path"]).read_text())
    assert report["flows"]["workspace_customer"]["created"] == 2


def test_a_failing_custompms_fails_the_run_without_state(tmp_path: Path) -> None:
    out = io.StringIO()
    # Reads answer (the start-up check passes), every write fails with a 503.
    with answering(200, {"data": [], "next_cursor": None}) as url:
        config = {
            "api_url": f"{url}/api/v1",
            "api_token": "t",
            "link_store_url": str(tmp_path / "links.db"),
            "report_path": str(tmp_path / "report.json"),
            "max_retries": 0,
            "adopt_existing": False,  # the write itself fails, not the listing before it
        }
        with redirect_stdout(out), pytest.raises(RuntimeError, match="writes failed"):
            TargetCustompms(config=config).listen(io.StringIO(messages(workspace("103", "C"))))
    assert out.getvalue() == ""  # no STATE: the tap sends the record again next run
    with LinkStore(config["link_store_url"]) as store:
        assert store.find("asana-workspace:103").status is LinkStatus.PENDING


def test_dry_run_writes_nothing_and_emits_no_state(server: CustompmsServer, tmp_path: Path) -> None:
    config = settings(server, tmp_path, dry_run=True)
    assert run(config, messages(workspace("104", "Dry"))) == []
    assert "asana-workspace:104" not in customers(server)
    report = json.loads(Path(config["report_path"]).read_text())
    assert report["dry_run"] is True
    assert report["changes"][0]["record"] == "asana-workspace:104"
    with LinkStore(config["link_store_url"]) as store:
        assert store.links() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conflict_policy": "loudest_wins"}, "conflict_policy"),
        ({"conflict_policy": {"task_tasks": "asana_wins"}}, "conflict_policy: unknown flow"),
        ({"delete_policy": "delete"}, "delete_policy"),
        ({"api_url": "ftp://pms.example/api/v1"}, "api_url"),
        ({"batch_size": 5000}, "batch_size"),
    ],
)
def test_bad_config_fails_at_once_naming_the_setting(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    config = {
        "api_url": "http://127.0.0.1:9/api/v1",
        "api_token": "s3cret-token",
        "link_store_url": str(tmp_path / "links.db"),
        **overrides,
    }
    with pytest.raises(ConfigValidationError) as error:
        TargetCustompms(config=config)
    errors = " | ".join(error.value.errors)
    assert message in errors
    assert "s3cret-token" not in errors


def test_a_token_custompms_refuses_stops_the_run_in_one_line_naming_the_setting(
    server: CustompmsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = settings(server, tmp_path, api_token="s3cret-but-wrong")
    with pytest.raises(SystemExit) as stopped:
        run(config, messages(workspace("301", "Refused")))
    assert stopped.value.code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "401" in errors[0]
    assert "api_token" in errors[0]
    assert "s3cret-but-wrong" not in caplog.text
    with LinkStore(config["link_store_url"]) as store:
        assert store.rejects() == []  # not a per-record refusal, re-sent every run


def test_a_dry_run_checks_the_token_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with answering(401) as url:
        config = {
            "api_url": f"{url}/api/v1",
            "api_token": "s3cret-but-wrong",
            "link_store_url": str(tmp_path / "links.db"),
            "dry_run": True,
        }
        with pytest.raises(SystemExit) as stopped:
            run(config, messages(workspace("302", "Preview")))
    assert stopped.value.code == 1
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "(401)" in error
    assert "check the api_token setting" in error


def test_missing_token_is_named() -> None:
    with pytest.raises(ConfigValidationError) as error:
        TargetCustompms(config={"api_url": "http://127.0.0.1:9/api/v1"})
    assert any("api_token" in line for line in error.value.errors)


def raw(stream: str, *records: dict[str, Any]) -> str:
    """``records`` of an Asana stream as tap-asana-talk sends them (SCHEMA, RECORDs, STATE)."""
    kinds = {list: "array", dict: "object", str: "string"}
    fields = {name: kinds[type(value)] for record in records for name, value in record.items()}
    properties = {name: {"type": [kind, "null"]} for name, kind in fields.items()}
    schema = {"type": "object", "properties": properties or {"gid": {"type": "string"}}}
    lines = [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["gid"]},
        *({"type": "RECORD", "stream": stream, "record": r} for r in records),
        {"type": "STATE", "value": STATE},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_with_no_stream_maps_the_built_in_maps_write_the_tap_s_streams(
    server: CustompmsServer, tmp_path: Path
) -> None:
    """Only the API settings: the target maps tap-asana-talk's own streams by itself."""
    config = settings(server, tmp_path)
    organization = {"gid": "401", "name": "Northwind", "email_domains": ["nw.example"]}
    team = {
        "gid": "402",
        "name": "Nw Delivery",
        "description": "d",
        "organization": {"gid": "401"},
        "permalink_url": "https://app.asana.com/0/team/402",
    }
    assert run(config, raw("workspaces", organization) + raw("teams", team)) == [STATE]
    written = customers(server)
    assert written["asana-workspace:401"]["name"] == "Northwind"
    assert written["asana-team:402"]["parent_id"] == written["asana-workspace:401"]["id"]


def test_stream_maps_in_the_config_replace_the_built_in_ones(
    server: CustompmsServer, tmp_path: Path
) -> None:
    maps = {
        "workspaces": "__NULL__",
        "workspace_customer": {
            "__source__": "workspaces",
            "__else__": "__NULL__",
            "__key_properties__": ["external_id"],
            "external_id": "'asana-workspace:' + gid",
            "name": "name + ' (Asana)'",
            "email_domains": "email_domains",
            "_source": "record",
        },
    }
    config = settings(server, tmp_path, stream_maps=maps)
    organization = {"gid": "403", "name": "Contoso", "email_domains": []}
    assert run(config, raw("workspaces", organization)) == [STATE]
    assert customers(server)["asana-workspace:403"]["name"] == "Contoso (Asana)"


@pytest.mark.parametrize(
    ("lines", "got"),
    [
        (raw("users", {"gid": "9", "name": "Alex"}), "got users;"),
        (
            raw("customers", {"gid": "9"}) + raw("unreadable", {"gid": "9"}),
            "got customers, unreadable;",
        ),
        ("", "got no stream;"),
    ],
)
def test_a_run_without_a_stream_to_map_fails_in_one_line(
    server: CustompmsServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    lines: str,
    got: str,
) -> None:
    config = settings(server, tmp_path)
    with pytest.raises(SystemExit) as stopped:
        run(config, lines)
    assert stopped.value.code == 1
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert got in error
    assert "expects workspaces, teams, projects, tasks" in error
    assert "task_task" in error  # the mapped flow streams are accepted too


@pytest.mark.parametrize(
    "streams",
    [
        ["workspaces", "tasks", "users"],
        ["task_task"],  # already mapped
        ["meltano_test_stream"],  # `meltano config test`'s only stream
    ],
)
def test_an_idle_run_with_only_schemas_writes_nothing_and_succeeds(
    server: CustompmsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, streams: list[str]
) -> None:
    config = settings(server, tmp_path)
    before = customers(server)
    assert run(config, "".join(raw(stream) for stream in streams)) == [STATE]
    assert customers(server) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# The SDK's standard target tests, their canned streams rewritten as Asana workspaces (flow
# workspace_customer) that the target writes to the reference server as customers.
def standard_workspace(number: int, name: str, canned: Mapping[str, Any]) -> dict[str, Any]:
    """An Asana workspace, mapped: a canned string (e.g. an encoded one) ends its name."""
    extra = canned.get("info") or canned.get("clientName")
    if isinstance(extra, str):
        name = f"{name} {extra}"
    return workspace(str(number), name)


STANDARD_SUITE = flow_target_suite(
    stream="workspace_customer",
    properties=json.loads(messages().splitlines()[0])["schema"]["properties"],
    source_ref="external_id",
    flow_record=standard_workspace,
)
StandardTargetTests = get_target_test_class(
    target_class=TargetCustompms,
    config={},  # the runner fixture below gives each test the server's
    custom_suites=[STANDARD_SUITE],
    include_target_tests=False,
)


class TestTargetCustompms(StandardTargetTests):  # type: ignore[valid-type,misc]
    """Standard target tests, against the reference server."""

    @pytest.fixture
    def runner(self, server: CustompmsServer, tmp_path: Path) -> TargetTestRunner:
        return TargetTestRunner(TargetCustompms, config=settings(server, tmp_path))
