"""The Dagster definitions around one tenant's sync: what fails a run, what is retried, what
the UI shows. `meltano` is a stand-in script here that prints what a real run prints in each
case; tests/test_orchestrate.py runs the real one."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, materialize
from talk_sync_orchestrate.dagster_defs import build_definitions
from talk_sync_orchestrate.tenants import Deployment, Tenant

#: What `meltano run sync` prints (on stdout and stderr) before it exits 1, in each case.
STUCK = "talk-sync: the sync left stuck records (1 in asana -> custompms); a person must act:"
TIMEOUT = "Run invocation could not be completed as block failed: timed out"


def fake_meltano(
    tmp_path: Path, lines: list[str], exit_code: int, report: dict[str, Any] | None
) -> Path:
    """A `meltano` that prints ``lines``, writes ``report`` and exits ``exit_code``; each call
    is counted in ``calls``."""
    script = tmp_path / "meltano"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, pathlib, sys\n"
        f"calls = pathlib.Path({str(tmp_path / 'calls')!r})\n"
        "calls.write_text(str(int(calls.read_text() or 0) + 1) if calls.exists() else '1')\n"
        f"for line in {lines!r}: print(line)\n"
        f"report = {json.dumps(report)!r}\n"
        "if report != 'null':\n"
        "    folder = pathlib.Path(os.environ['TALK_SYNC_REPORT_DIR'])\n"
        "    (folder / 'asana-to-custompms-1.json').write_text(report)\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def materialize_tenant(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    meltano: Path,
    pms_token: str = "b",  # noqa: S107
) -> tuple[ExecuteInProcessResult, DagsterInstance]:
    monkeypatch.setenv("TALK_SYNC_RETRIES", "2")
    monkeypatch.setenv("TALK_SYNC_RETRY_DELAY_SECONDS", "0.01")
    monkeypatch.setenv("ACME_ASANA_TOKEN", "a")
    monkeypatch.setenv("ACME_PMS_TOKEN", pms_token)
    acme = Tenant("acme", "1", "ACME_ASANA_TOKEN", "https://pms.example/api/v1", "ACME_PMS_TOKEN")
    deployment = Deployment(
        link_store_url=f"sqlite:///{tmp_path}/links.db",
        work_dir=tmp_path / "work",
        project_root=tmp_path,
        meltano=str(meltano),
    )
    definitions = build_definitions([acme], deployment)
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [definitions.get_assets_def(AssetKey("tenant_acme"))],
        instance=instance,
        raise_on_error=False,
    )
    return result, instance


def calls(tmp_path: Path) -> int:
    return int((tmp_path / "calls").read_text())


def test_a_sync_with_stuck_records_fails_the_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {
        "direction": "asana -> custompms",
        "status": "succeeded",
        "flows": {},
        "totals": {},
        "stuck": [{}],
    }
    result, _ = materialize_tenant(
        tmp_path, monkeypatch, fake_meltano(tmp_path, [STUCK], 1, report)
    )
    assert not result.success
    assert calls(tmp_path) == 1  # no retry: a person must act
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "tenant acme: stuck" in str(failure.step_failure_data.user_failure_data.description)
    assert (
        failure.step_failure_data.user_failure_data.metadata["asana_to_custompms/stuck"].value == 1
    )


def test_a_failure_that_may_pass_is_retried_with_back_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = materialize_tenant(
        tmp_path, monkeypatch, fake_meltano(tmp_path, [TIMEOUT], 1, None)
    )
    assert not result.success
    assert calls(tmp_path) == 3  # the first try and two retries


def test_a_successful_sync_puts_its_report_on_the_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = {
        "direction": "asana -> custompms",
        "status": "succeeded",
        "flows": {},
        "totals": {"created": 4, "updated": 2, "unchanged": 7, "conflicts": 1},
        "conflicts": [{}],
    }
    result, instance = materialize_tenant(
        tmp_path, monkeypatch, fake_meltano(tmp_path, ["ok"], 0, report)
    )
    assert result.success
    event = instance.get_latest_materialization_event(AssetKey("tenant_acme"))
    assert event is not None
    assert event.asset_materialization is not None
    metadata = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    assert metadata["asana_to_custompms/created"] == 4
    assert metadata["asana_to_custompms/conflicts"] == 1
    assert metadata["outcome"] == "succeeded"


def test_a_tenant_whose_token_variable_is_unset_fails_at_once_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meltano = fake_meltano(tmp_path, ["ok"], 0, None)
    result, _ = materialize_tenant(tmp_path, monkeypatch, meltano, pms_token="")
    assert not result.success
    assert not (tmp_path / "calls").exists()  # meltano never ran
    [failure] = [event for event in result.all_events if event.is_step_failure]
    description = str(failure.step_failure_data.user_failure_data.description)
    assert "tenant acme" in description
    assert "ACME_PMS_TOKEN" in description
