"""Many tenants on this machine: a sandbox and a Custompms per tenant, one PostgreSQL
cluster for every shared store, and the environment Dagster runs orchestrate/ with.

The end-to-end test (tests/test_orchestrate.py) and the benchmark (bench/tenants.py) start
their deployments here, the way README "Running many tenants" describes a real one: the
link store, Meltano's system database (its state backend too) and Dagster's storage in
PostgreSQL, each tenant's tokens in environment variables its tenants file names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from asana_sandbox.testing import SandboxServer, running_sandbox
from custompms.testing import CustompmsServer, running_server
from talk_sync.testing.postgres import PostgresCluster

from local_stack.launcher import launch
from local_stack.stack import MELTANO, PROJECT_ROOT, discovered_catalogs, organization_gid

DAGSTER = str(Path(sys.executable).with_name("dagster"))
DEFINITIONS = "talk_sync_orchestrate.definitions"


@dataclass
class TenantsStack:
    """Running tenants: their servers, and the environment Dagster runs them with."""

    env: dict[str, str]
    dagster_home: Path
    links_url: str
    meltano_url: str
    asana: dict[str, SandboxServer]
    custompms: dict[str, CustompmsServer]

    def dagster(self, job: str, **extra_env: str) -> subprocess.Popen[str]:
        """``dagster job execute`` of ``job``, started (its output on the pipe)."""
        return subprocess.Popen(
            [DAGSTER, "job", "execute", "-m", DEFINITIONS, "-j", job],
            cwd=PROJECT_ROOT,
            env={**self.env, **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def report_dir(self, tenant: str) -> Path:
        return Path(self.env["TALK_SYNC_WORK_DIR"]) / tenant / "reports"


def dagster_postgres_url(url: str) -> str:
    """Dagster's PostgreSQL storage speaks psycopg2: the same URL without ``+psycopg``."""
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def tenants_stack(
    workdir: Path,
    cluster: PostgresCluster,
    seeds: Mapping[str, str],
    *,
    bad_asana_tokens: Mapping[str, str] | None = None,
    workers: int = 2,
    retries: int = 1,
    **sandbox_options: Any,
) -> Iterator[TenantsStack]:
    """Start a sandbox (seed ``seeds[name]``) and an empty Custompms per tenant, fresh
    databases in ``cluster`` and a Dagster home; yield what runs them.

    ``bad_asana_tokens`` gives tenants a wrong Asana token; ``sandbox_options`` go to every
    sandbox (``latency_ms``, ``rate_limit_per_minute``).
    """
    suffix = f"{os.getpid()}_{time.monotonic_ns()}"
    links = cluster.create_database(f"links_{suffix}")
    meltano = cluster.create_database(f"meltano_{suffix}")
    dagster_url = dagster_postgres_url(cluster.create_database(f"dagster_{suffix}"))
    home = workdir / "dagster-home"
    home.mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "orchestrate" / "dagster.yaml", home / "dagster.yaml")
    with ExitStack() as servers:
        tenants: dict[str, Any] = {}
        secrets: dict[str, str] = {}
        asana: dict[str, SandboxServer] = {}
        custompms: dict[str, CustompmsServer] = {}
        for name, seed in seeds.items():
            asana[name] = servers.enter_context(
                running_sandbox(seed=seed, token=f"{name}-asana", launch=launch, **sandbox_options)
            )
            custompms[name] = servers.enter_context(
                running_server(workdir / f"{name}.db", token=f"{name}-pms", launch=launch)
            )
            tenants[name] = {
                "asana_api_url": asana[name].api_url,
                "asana_workspace_gid": organization_gid(asana[name]),
                "asana_token_env": f"{name.upper()}_ASANA_TOKEN",
                "custompms_api_url": custompms[name].api_url,
                "custompms_token_env": f"{name.upper()}_CUSTOMPMS_TOKEN",
            }
            secrets[f"{name.upper()}_ASANA_TOKEN"] = asana[name].token
            secrets[f"{name.upper()}_CUSTOMPMS_TOKEN"] = custompms[name].token
        for name, token in (bad_asana_tokens or {}).items():
            secrets[f"{name.upper()}_ASANA_TOKEN"] = token
        tenants_file = workdir / "tenants.yml"
        tenants_file.write_text(yaml.safe_dump({"tenants": tenants}))
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ASANA_", "CUSTOMPMS_", "TALK_SYNC_", "MELTANO_"))
        }
        env = {
            **inherited,
            **secrets,
            **discovered_catalogs(),
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": dagster_url,
            "MELTANO_DATABASE_URI": meltano,
            "TALK_SYNC_LINK_STORE_URL": links,
            "TALK_SYNC_TENANTS_FILE": str(tenants_file),
            "TALK_SYNC_WORK_DIR": str(workdir / "tenants"),
            "TALK_SYNC_WORKERS": str(workers),
            "TALK_SYNC_RETRIES": str(retries),
            "TALK_SYNC_RETRY_DELAY_SECONDS": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        # Meltano's system database is migrated once per deployment, before any tenant runs
        # (README: Running many tenants), not by every tenant's first run at once.
        subprocess.run(
            [MELTANO, "upgrade", "database"],
            cwd=PROJECT_ROOT,
            env={**env, "MELTANO_ENVIRONMENT": "prod"},
            check=True,
            capture_output=True,
        )
        yield TenantsStack(env, home, links, meltano, asana, custompms)
