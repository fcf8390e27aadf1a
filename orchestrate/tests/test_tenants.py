"""Tenants as configuration: what a tenants file may say, and the environment a tenant's
run gets from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from talk_sync_orchestrate.tenant_run import Outcome, TenantRun, _classify
from talk_sync_orchestrate.tenants import Deployment, TenantConfigError, load_tenants

ACME = {
    "asana_workspace_gid": "1200000000000001",
    "asana_token_env": "ACME_ASANA_TOKEN",
    "custompms_api_url": "https://acme.example/api/v1",
    "custompms_token_env": "ACME_CUSTOMPMS_TOKEN",
}
GLOBEX = {**ACME, "asana_token_env": "GLOBEX_ASANA_TOKEN", "custompms_token_env": "GLOBEX_PMS"}
SECRETS = {
    "ACME_ASANA_TOKEN": "acme-asana-secret",
    "ACME_CUSTOMPMS_TOKEN": "acme-pms-secret",
    "GLOBEX_ASANA_TOKEN": "globex-asana-secret",
    "GLOBEX_PMS": "globex-pms-secret",
}


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "tenants.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def deployment(
    tmp_path: Path, link_store: str = "postgresql+psycopg://sync@db/talk_sync"
) -> Deployment:
    return Deployment(link_store_url=link_store, work_dir=tmp_path / "work", project_root=tmp_path)


def test_the_example_file_loads(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "tenants.example.yml"
    tenants = load_tenants(example)
    assert [tenant.name for tenant in tenants] == ["acme", "globex"]
    assert tenants[0].schedule == "*/15 * * * *"
    assert tenants[1].schedule == "0 * * * *"
    assert tenants[0].asana_api_url == "https://app.asana.com/api/1.0"


def test_a_tenants_run_gets_its_own_settings_scopes_and_secrets_only(tmp_path: Path) -> None:
    settings = {
        "target-custompms": {
            "conflict_policy": "custompms_wins",
            "project_board_names": ["Roadmap"],
        }
    }
    path = write(tmp_path, {"tenants": {"acme": {**ACME, "settings": settings}, "globex": GLOBEX}})
    acme, globex = tenants = load_tenants(path)
    environ = {**SECRETS, "PATH": "/usr/bin", "TARGET_CUSTOMPMS_BATCH_SIZE": "200"}

    env = deployment(tmp_path).environment(acme, tenants, environ)

    assert env["ASANA_ACCESS_TOKEN"] == "acme-asana-secret"
    assert env["CUSTOMPMS_API_TOKEN"] == "acme-pms-secret"
    assert "globex-asana-secret" not in env.values()
    assert "globex-pms-secret" not in env.values()
    assert "ACME_ASANA_TOKEN" not in env  # only under the name the plugins read
    assert env["MELTANO_RUN_STATE_ID_SUFFIX"] == "acme"
    assert env["MELTANO_ENVIRONMENT"] == "prod"
    assert env["TALK_SYNC_LINK_STORE_URL"].endswith("options=-csearch_path%3Dtalk_sync_acme")
    assert env["TALK_SYNC_REPORT_DIR"] == str(tmp_path / "work" / "acme" / "reports")
    assert env["MELTANO_SYS_DIR_ROOT"] == str(tmp_path / "work" / "acme" / "meltano-sys")
    assert env["TARGET_CUSTOMPMS_CONFLICT_POLICY"] == "custompms_wins"
    assert json.loads(env["TARGET_CUSTOMPMS_PROJECT_BOARD_NAMES"]) == ["Roadmap"]
    assert env["TARGET_CUSTOMPMS_BATCH_SIZE"] == "200"  # the deployment's, for every tenant
    other = deployment(tmp_path).environment(globex, tenants, environ)
    assert other["TALK_SYNC_LINK_STORE_URL"] != env["TALK_SYNC_LINK_STORE_URL"]
    assert other["MELTANO_SYS_DIR_ROOT"] != env["MELTANO_SYS_DIR_ROOT"]


def test_on_sqlite_each_tenant_has_its_own_file(tmp_path: Path) -> None:
    [acme] = tenants = load_tenants(write(tmp_path, {"tenants": {"acme": ACME}}))
    env = deployment(tmp_path, f"sqlite:///{tmp_path}/links.db").environment(acme, tenants, SECRETS)
    assert env["TALK_SYNC_LINK_STORE_URL"] == f"sqlite:///{tmp_path}/links-acme.db"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**ACME, "asana_token_env": "1/1234567890:abcdef"}, "must name an environment variable"),
        (
            {**ACME, "settings": {"tap-asana-talk": {"access_token": "1/123"}}},
            "setting 'access_token' is a secret",
        ),
        ({**ACME, "settings": {"tap-github": {}}}, "unknown plugin 'tap-github'"),
        ({**ACME, "asana_token": "x"}, "unknown key(s) asana_token"),
        ({"asana_token_env": "A"}, "missing asana_workspace_gid"),
    ],
)
def test_a_tenants_file_with_a_secret_or_a_mistake_is_refused(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(TenantConfigError, match="tenant acme") as raised:
        load_tenants(write(tmp_path, {"tenants": {"acme": entry}}))
    assert message in str(raised.value)
    assert "1/123" not in str(raised.value)


def test_a_tenant_name_that_cannot_scope_its_stores_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TenantConfigError, match="lowercase letters"):
        load_tenants(write(tmp_path, {"tenants": {"Acme Corp": ACME}}))


def test_a_missing_secret_names_the_tenant_and_the_variable(tmp_path: Path) -> None:
    [acme] = tenants = load_tenants(write(tmp_path, {"tenants": {"acme": ACME}}))
    with pytest.raises(TenantConfigError, match=r"tenant acme.*ACME_CUSTOMPMS_TOKEN"):
        deployment(tmp_path).environment(acme, tenants, {"ACME_ASANA_TOKEN": "x"})


@pytest.mark.parametrize(
    ("lines", "outcome"),
    [
        # talk_sync.cli unlock, after a sync that left stuck records: a person must act.
        (
            [
                "talk-sync: the sync left stuck records (1 in asana -> custompms); "
                "a person must act:"
            ],
            Outcome.STUCK,
        ),
        # talk_sync.startup_errors, a refused token: fix the configuration.
        (
            ["Asana refused the access token (401) at http://x: check the access_token setting"],
            Outcome.MISCONFIGURED,
        ),
        # talk_sync.cli lock: another run of this tenant's sync is under way.
        (
            ["talk-sync: another sync holds the lock (pid 7 on host); this sync wrote nothing."],
            Outcome.LOCKED,
        ),
        (["Block run failed: timeout"], Outcome.FAILED),
    ],
)
def test_a_failed_run_is_retried_only_when_retrying_can_help(
    lines: list[str], outcome: Outcome
) -> None:
    found = _classify(1, lines)
    assert found is outcome
    assert found.retryable is (outcome in (Outcome.LOCKED, Outcome.FAILED))


def test_the_summary_carries_the_reports_counts() -> None:
    report = {
        "direction": "asana -> custompms",
        "status": "succeeded",
        "totals": {"created": 3, "updated": 1, "unchanged": 9, "conflicts": 2},
        "stuck": [{}],
        "rejects": [{}, {}],
    }
    run = TenantRun("acme", Outcome.SUCCEEDED, 0, 12.34, {"asana -> custompms": report})
    summary = run.summary()["asana_to_custompms"]
    assert summary["created"] == 3
    assert summary["conflicts"] == 2
    assert summary["stuck"] == 1
    assert summary["rejects"] == 2
    assert "3 created, 1 updated, 9 unchanged, 2 conflicts" in run.describe()
