"""The shared Singer target base, with an in-memory destination (no HTTP).

The two real targets run the same base against their servers in their own tests; these
check the base's own promises: STATE only after the writes and never in a dry run, the
report where ``report_path`` says, policy settings checked by name, other streams skipped.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import pytest
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, InvalidRecord
from talk_sync.cli import main as cli_main
from talk_sync.errors import ApplyError
from talk_sync.incoming import Incoming
from talk_sync.linkstore import LinkStatus, LinkStore
from talk_sync.refs import Side
from talk_sync.retry import RetryState
from talk_sync.target import REPORT_DIR_ENV, FlowSink, SyncTarget, sync_settings
from talk_sync.testing import MemoryDestination
from typing_extensions import override

STATE = {"bookmarks": {"workspaces": {"done": True}}}


class MemoryFlowSink(FlowSink):
    source_ref_field = "external_id"
    source_ref_example = "'asana-workspace:' + gid"

    @override
    def incoming(self, record: Mapping[str, Any]) -> Incoming:
        return Incoming(
            flow=self.flow,
            source=self.source_ref(record),
            desired=self.flow.pick(Side.CUSTOMPMS, record),
            source_values={"name": record["name"]},
        )


class MemoryTarget(SyncTarget):
    """Asana records to an in-memory Custompms."""

    name = "target-memory"
    source = Side.ASANA
    default_sink_class = MemoryFlowSink
    destination: MemoryDestination
    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        *sync_settings(source),
        th.Property("batch_size", th.IntegerType, default=10, description="Records per batch."),
    ).to_dict()

    #: Names the in-memory Custompms refuses for good, and names it fails on (a 503).
    refused: ClassVar[set[str]] = set()
    failing: ClassVar[set[str]] = set()

    @override
    def make_destination(self, store: LinkStore) -> MemoryDestination:
        destination = MemoryDestination(Side.CUSTOMPMS)
        destination.reject_names, destination.fail_names = set(self.refused), set(self.failing)
        return destination

    @override
    def sent_summary(self) -> str:
        return f"{len(self.destination.records)} records held"


def messages(*names: str, stream: str = "workspace_customer") -> str:
    schema = {"type": "object", "properties": {"external_id": {}, "name": {}}}
    records = ({"external_id": f"asana-workspace:{i}", "name": n} for i, n in enumerate(names, 1))
    lines = [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": ["external_id"]},
        *({"type": "RECORD", "stream": stream, "record": record} for record in records),
        {"type": "STATE", "value": STATE},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def run(config: dict[str, Any], lines: str) -> tuple[MemoryTarget, list[dict[str, Any]]]:
    """Run the target on ``lines``; the target and the STATE messages it wrote."""
    target, out = MemoryTarget(config=config), io.StringIO()
    with redirect_stdout(out):
        target.listen(io.StringIO(lines))
    return target, [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def run_failing(config: dict[str, Any], lines: str) -> tuple[int, list[dict[str, Any]]]:
    """Run the target on ``lines``, which must make it exit non-zero; the exit status and the
    STATE messages it wrote before."""
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exited:
        MemoryTarget(config=config).listen(io.StringIO(lines))
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return int(exited.value.code or 0), states


@pytest.fixture
def config(tmp_path: Path) -> dict[str, Any]:
    return {"link_store_url": str(tmp_path / "links.db"), "report_path": str(tmp_path / "r.json")}


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-memory Custompms refuses a record named "Refused" for good (a 422)."""
    monkeypatch.setattr(MemoryTarget, "refused", {"Refused"})


def written_report(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(Path(config["report_path"]).read_text())


def test_state_follows_the_writes_and_the_report_is_written(config: dict[str, Any]) -> None:
    target, states = run(config, messages("Acme", "Beta"))
    assert states == [STATE]
    assert sorted(r["name"] for r in target.destination.records.values()) == ["Acme", "Beta"]
    with LinkStore(config["link_store_url"]) as store:
        assert store.find("asana-workspace:1").status is LinkStatus.LINKED
    report = json.loads(Path(config["report_path"]).read_text())
    assert report["flows"]["workspace_customer"]["created"] == 2


def test_dry_run_writes_nothing_and_emits_no_state(config: dict[str, Any]) -> None:
    target, states = run({**config, "dry_run": True}, messages("Acme"))
    assert (states, target.destination.records) == ([], {})
    assert json.loads(Path(config["report_path"]).read_text())["dry_run"] is True


def test_report_directory_gets_one_file_per_run_named_by_direction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REPORT_DIR_ENV, str(tmp_path / "reports"))
    run({"link_store_url": str(tmp_path / "links.db")}, messages("Acme"))
    (report,) = (tmp_path / "reports").iterdir()
    assert report.name.startswith("asana-to-custompms-")
    assert report.suffix == ".json"


def test_a_stream_that_is_no_flow_is_skipped_with_an_info_line(
    config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # With a flow stream (no record) beside it: a run with no flow stream at all fails.
    target, states = run(config, messages("Acme", stream="users") + messages())
    assert (states, target.destination.records) == ([STATE], {})
    (line,) = [r for r in caplog.records if "users is not one of the flows" in r.message]
    assert line.levelno == logging.INFO


def test_a_run_with_no_stream_it_can_map_fails_in_one_line(
    config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stopped:
        run(config, messages("Acme", stream="users"))
    assert stopped.value.code == 1
    (error,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.startswith("target-memory: no stream it received maps to a flow: got users;")


def test_a_mapped_record_without_its_source_ref_names_the_field(config: dict[str, Any]) -> None:
    lines = messages("Acme").replace('"asana-workspace:1"', '""')  # a map that sets none
    with pytest.raises(ValueError, match="no 'external_id'"):
        run(config, lines)


def typed_messages(*records: dict[str, Any]) -> str:
    """``workspace_customer`` records under a schema with types (``messages``' has none)."""
    source = {"type": "object", "properties": {"gid": {"type": "string"}}}
    schema = {
        "type": "object",
        "properties": {
            "external_id": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "_source": source,
        },
    }
    lines = [
        {"type": "SCHEMA", "stream": "workspace_customer", "schema": schema},
        *({"type": "RECORD", "stream": "workspace_customer", "record": r} for r in records),
        {"type": "STATE", "value": STATE},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"external_id": "asana-workspace:7", "name": 12},
            "workspace_customer record external_id=asana-workspace:7: "
            "field 'name' must be string or null (got 12)",
        ),
        (
            {"external_id": "asana-workspace:8", "name": "A", "_source": {"gid": 8}},
            "workspace_customer record external_id=asana-workspace:8: "
            "field '_source.gid' must be string (got 8)",
        ),
    ],
)
def test_an_invalid_record_fails_the_run_naming_the_record_and_the_field(
    config: dict[str, Any], record: dict[str, Any], expected: str
) -> None:
    valid = {"external_id": "asana-workspace:6", "name": "Fine"}
    with pytest.raises(InvalidRecord) as invalid:
        run(config, typed_messages(valid, record))
    assert str(invalid.value) == f"Record Message Validation Error: {expected}"
    report = written_report(config)
    assert report["status"] == "failed"
    assert report["failure"] == f"InvalidRecord: Record Message Validation Error: {expected}"


def test_records_are_not_validated_when_validate_records_is_off(config: dict[str, Any]) -> None:
    target, _ = run(
        {**config, "validate_records": False},
        typed_messages({"external_id": "asana-workspace:9", "name": 12}),
    )
    assert [r["name"] for r in target.destination.records.values()] == [12]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conflict_policy": "loudest_wins"}, "conflict_policy"),
        ({"conflict_policy": {"task_tasks": "asana_wins"}}, "conflict_policy: unknown flow"),
        ({"delete_policy": {"5": "delete"}}, "delete_policy"),
    ],
)
def test_bad_policy_fails_at_once_naming_the_setting(
    config: dict[str, Any], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigValidationError) as error:
        MemoryTarget(config={**config, **overrides})
    assert message in " | ".join(error.value.errors)


def test_settings_are_described_for_the_direction() -> None:
    described = {p.name: p.to_dict()[p.name]["description"] for p in sync_settings(Side.CUSTOMPMS)}
    assert "custompms-to-asana-" in described["report_path"]
    assert "deleted in Custompms" in described["delete_policy"]
    assert "target-custompms" in described["link_store_url"]


# `meltano config set` and environment variables hand a mapping over as JSON text.
POLICIES_AS_JSON = '{"default": "custompms_wins", "task_task": "asana_wins"}'


@pytest.mark.parametrize("setting", ["conflict_policy", "adopt_policy", "delete_policy"])
def test_a_per_flow_policy_given_as_json_text_is_read_as_the_mapping(
    config: dict[str, Any], setting: str
) -> None:
    text = POLICIES_AS_JSON
    if setting == "delete_policy":
        text = '{"default": "ignore", "task_task": "unlink"}'
    target = MemoryTarget(config={**config, setting: text})
    assert target.mapping_setting(setting) == json.loads(text)


def test_policies_and_match_keys_from_environment_variables_reach_the_engine(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TARGET_MEMORY_CONFLICT_POLICY", POLICIES_AS_JSON)
    monkeypatch.setenv("TARGET_MEMORY_MATCH_KEYS", '{"task_task": ["name", "due_date"]}')
    target = MemoryTarget(config=config, parse_env_config=True)
    run_engine = target.engine
    assert run_engine.writer.conflict_policy == json.loads(POLICIES_AS_JSON)
    assert target.mapping_setting("match_keys") == {"task_task": ["name", "due_date"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"conflict_policy": '{"task_task": "asana_wins"'}, "conflict_policy: not valid JSON"),
        ({"match_keys": '{"task_task": "name"'}, "match_keys: not valid JSON"),
        ({"adopt_policy": '{"task_task": "loudest_wins"}'}, "adopt_policy"),
    ],
)
def test_bad_json_text_fails_at_once_naming_the_setting(
    config: dict[str, Any], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigValidationError) as error:
        MemoryTarget(config={**config, **overrides})
    assert message in " | ".join(error.value.errors)


def test_sdk_settings_a_sync_target_ignores_are_not_offered() -> None:
    about = MemoryTarget._get_about_info()
    offered = set(about.settings["properties"])
    assert offered.isdisjoint({"add_record_metadata", "load_method", "batch_size_rows"})
    assert not any(name.startswith("flattening_") for name in offered)
    assert "schema-flattening" not in about.capabilities
    assert {"stream_maps", "validate_records"} <= offered


@pytest.mark.parametrize(
    "overrides",
    [
        {"flattening_enabled": True, "flattening_max_depth": 3},
        {"add_record_metadata": True},
        {"load_method": "overwrite"},
        {"batch_size_rows": 5},
    ],
)
def test_an_sdk_setting_a_sync_target_ignores_fails_at_start_naming_it(
    config: dict[str, Any], overrides: dict[str, Any]
) -> None:
    name = next(iter(overrides))
    with pytest.raises(ConfigValidationError) as error:
        MemoryTarget(config={**config, **overrides})
    assert f"{name}: not supported" in " | ".join(error.value.errors)


# --- a failed run still writes its report (issue #15, point 6) -----------------------------


def test_a_run_failing_mid_way_writes_its_report_marked_failed_with_what_it_did(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MemoryTarget, "failing", {"Down"})
    # One record per batch: "Acme" is written and recorded before "Down" fails the run.
    with pytest.raises(ApplyError):
        run({**config, "batch_size": 1}, messages("Acme", "Down", "Beta"))
    report = written_report(config)
    assert report["status"] == "failed"
    assert report["failure"].startswith("1 writes failed after retries (first: ")
    assert "503 unavailable" in report["failure"]
    assert "\n" not in report["failure"]
    assert report["flows"]["workspace_customer"]["created"] == 1
    assert report["finished_at"] is not None


def test_a_run_that_cannot_start_writes_a_failed_report_with_the_one_line_reason(
    config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    config = {**config, "link_store_url": "nosuchdatabase://links"}
    assert run_failing(config, messages("Acme")) == (1, [])
    report = written_report(config)
    assert report["status"] == "failed"
    # Still one error line, and no table of zeros: the report is in the file.
    (logged,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert report["failure"] == logged  # the one line the run printed
    assert not [r for r in caplog.records if r.getMessage().startswith("FAILED")]
    assert "nosuchdatabase" in report["failure"]
    assert report["totals"]["created"] == 0


def test_a_run_failing_on_stuck_records_says_so_in_its_report(
    config: dict[str, Any], refusing: None
) -> None:
    config = {**config, "stuck_after_hours": 0}  # the refused record is stuck at once
    status, states = run_failing(config, messages("Acme", "Refused"))
    assert (status, states) == (1, [STATE])
    report = written_report(config)
    assert report["status"] == "failed"
    assert report["failure"] == "1 records are stuck (fail_on_stuck)"
    assert report["flows"]["workspace_customer"]["created"] == 1


def test_a_run_that_ends_well_is_marked_succeeded(config: dict[str, Any]) -> None:
    run(config, messages("Acme"))
    assert (written_report(config)["status"], written_report(config)["failure"]) == (
        "succeeded",
        None,
    )


def test_refused_records_are_warnings_and_the_run_exits_0_by_default(
    config: dict[str, Any], refusing: None, caplog: pytest.LogCaptureFixture
) -> None:
    _, states = run(config, messages("Acme", "Refused"))
    assert states == [STATE]
    assert written_report(config)["status"] == "succeeded"
    (line,) = [r for r in caplog.records if r.getMessage().startswith("rejected ")]
    assert line.levelno == logging.WARNING
    # The next run does not send it again (same values, back-off not over): still a warning.
    caplog.clear()
    run(config, messages("Acme", "Refused"))
    (line,) = [r for r in caplog.records if r.getMessage().startswith("deferred ")]
    assert line.levelno == logging.WARNING


def test_fail_on_rejects_exits_1_after_the_writes_the_state_and_the_report(
    config: dict[str, Any], refusing: None
) -> None:
    config = {**config, "fail_on_rejects": True}
    status, states = run_failing(config, messages("Acme", "Refused"))
    assert (status, states) == (1, [STATE])  # STATE first: nothing is read again
    with LinkStore(config["link_store_url"]) as store:
        assert store.find("asana-workspace:1").status is LinkStatus.LINKED
    report = written_report(config)
    assert report["status"] == "failed"
    assert report["failure"] == "1 records refused by Custompms (fail_on_rejects)"
    assert [reject["record"] for reject in report["rejects"]] == ["asana-workspace:2"]
    # Deferred (refused earlier, not sent again) is still refused and unwritten.
    assert run_failing(config, messages("Acme", "Refused")) == (1, [STATE])
    assert written_report(config)["deferred"][0]["record"] == "asana-workspace:2"


def test_fail_on_rejects_in_the_sync_job_fails_its_last_step_instead(
    config: dict[str, Any],
    refusing: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MELTANO_DATABASE_URI", "MELTANO_ENVIRONMENT", "MELTANO_RUN_STATE_ID_SUFFIX"):
        monkeypatch.delenv(name, raising=False)  # a lock outside Meltano: no pipelines to settle
    url = config["link_store_url"]
    assert talk_sync("--link-store-url", url, "lock") == 0
    _, states = run({**config, "fail_on_rejects": True}, messages("Acme", "Refused"))
    assert states == [STATE]  # the block ends well: the next block of the job runs
    assert written_report(config)["status"] == "succeeded"
    assert talk_sync("--link-store-url", url, "unlock") == 1
    assert "records refused and not written (1 in asana-to-custompms" in capsys.readouterr().err


def test_fail_on_rejects_is_a_setting_off_by_default() -> None:
    (setting,) = [p.to_dict() for p in sync_settings(Side.ASANA) if p.name == "fail_on_rejects"]
    assert setting["fail_on_rejects"]["default"] is False
    assert "refused" in setting["fail_on_rejects"]["description"]


def talk_sync(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        cli_main(list(args))
    return int(exited.value.code or 0)


def test_a_parent_still_in_its_batch_is_applied_before_the_children_that_fill_theirs(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parents first: a full batch of teams drains the workspace's batch, not yet full, before
    it is applied, so no team waits for its workspace (held in memory until the end)."""
    waited: list[str] = []
    wait = RetryState.wait

    def counting_wait(self: RetryState, item: Incoming, *args: Any, **kwargs: Any) -> None:
        waited.append(str(item.source))
        wait(self, item, *args, **kwargs)

    monkeypatch.setattr(RetryState, "wait", counting_wait)
    schema = {"type": "object", "properties": {"external_id": {}, "name": {}, "parent_id": {}}}
    workspace = {"external_id": "asana-workspace:1", "name": "Acme"}
    teams = [
        {"external_id": f"asana-team:{n}", "name": f"Team {n}", "parent_id": "asana-workspace:1"}
        for n in range(2, 8)
    ]
    lines = [
        {"type": "SCHEMA", "stream": "workspace_customer", "schema": schema},
        {"type": "RECORD", "stream": "workspace_customer", "record": workspace},
        {"type": "SCHEMA", "stream": "team_customer", "schema": schema},
        *({"type": "RECORD", "stream": "team_customer", "record": team} for team in teams),
        {"type": "STATE", "value": STATE},
    ]
    target, _states = run(
        {**config, "batch_size": 3}, "".join(json.dumps(line) + "\n" for line in lines)
    )
    assert len(target.destination.records) == 7
    assert waited == []
