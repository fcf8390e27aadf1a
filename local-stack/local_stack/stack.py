"""Both local servers plus the Meltano environment that points the plugins at them.

The demo (scripts/demo.py), the benchmarks (bench/) and the end-to-end tests (tests/) use
this one module, so they start the servers and wire the plugins exactly the same way.

The plugins read their URLs, tokens and the link store location from the environment
variables that meltano.yml refers to (ASANA_API_URL, ASANA_ACCESS_TOKEN, ASANA_WORKSPACE_GID,
CUSTOMPMS_API_URL, CUSTOMPMS_API_TOKEN, TALK_SYNC_LINK_STORE_URL, TALK_SYNC_REPORT_DIR).
Meltano's own state goes to a database in the stack's work directory, so two stacks never
share bookmarks, and each stack has its own Meltano system directory (see meltano_sys_dir),
so two stacks can run at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import yaml
from asana_sandbox.testing import SandboxServer, running_sandbox
from custompms.testing import CustompmsServer, running_server
from talk_sync.meltano_sys_dir import own_sys_dir
from talk_sync.private_dirs import make_private_dir

from local_stack.launcher import launch


def _project_root() -> Path:
    """The monorepo (the folder of meltano.yml): this package is installed editable from it."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "meltano.yml").is_file():
            return folder
    return Path.cwd()


PROJECT_ROOT = _project_root()
MELTANO = str(Path(sys.executable).with_name("meltano"))


class MeltanoError(RuntimeError):
    """A `meltano` command exited non-zero; the message carries its output."""


@dataclass
class LocalStack:
    """The Asana sandbox, the Custompms reference server and a Meltano environment for them."""

    asana: SandboxServer
    custompms: CustompmsServer
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def link_store_url(self) -> str:
        """The link store both targets share in this stack."""
        return self.env["TALK_SYNC_LINK_STORE_URL"]

    def meltano(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano ARGS` in the project with this stack's environment."""
        result = subprocess.run(
            [MELTANO, *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise MeltanoError(
                f"meltano {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-12000:]}"
            )
        return result

    def run(self, *blocks: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`meltano run BLOCKS...` (a job name or tap/target pairs)."""
        return self.meltano("run", *blocks, check=check)


def install_plugins(database: Path | None = None) -> None:
    """`meltano install` in the project (system database ``database`` if given), then
    :func:`compile_plugins`. Raises :class:`MeltanoError` with Meltano's output on failure."""
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if database is not None:
        env["MELTANO_DATABASE_URI"] = f"sqlite:///{database}"
    result = subprocess.run(
        [MELTANO, "install"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise MeltanoError(f"meltano install exited {result.returncode}\n{result.stderr[-8000:]}")
    compile_plugins()


#: The project's own packages, installed editable into the plugins' virtualenvs.
PLUGIN_SOURCES = (
    "talk-sync",
    "tap-asana-talk",
    "tap-custompms",
    "target-asana-talk",
    "target-custompms",
)


def compile_plugins() -> None:
    """Compile the plugins' bytecode after `meltano install`, which leaves none.

    Without it, every plugin start compiles the SDK and SQLAlchemy from source wherever
    PYTHONDONTWRITEBYTECODE is set (CI images, many containers): a target then takes 3.6 s
    to start instead of 1.1 s, six starts per `sync`.
    """
    for venv in sorted((PROJECT_ROOT / ".meltano").glob("*/*/venv")):
        sources = [str(venv / "lib"), *(str(PROJECT_ROOT / name) for name in PLUGIN_SOURCES)]
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "compileall", "-q", "-j", "0", *sources],
            stdout=subprocess.DEVNULL,  # it names files it cannot compile (tests' fixtures)
            check=False,
        )


def meltano_sys_dir(workdir: Path) -> Path:
    """The stack's own Meltano system directory (see :mod:`talk_sync.meltano_sys_dir`), so
    the demo beside a test, or parallel tests, never share run configs."""
    return own_sys_dir(PROJECT_ROOT, workdir / "meltano-sys")


#: The taps whose catalogs :func:`discovered_catalogs` makes, with a config that discovery
#: accepts (neither tap calls its API to discover: their schemas are static).
TAPS = {
    "tap-asana-talk": {"access_token": "unused", "api_url": "http://127.0.0.1:9/api/1.0"},
    "tap-custompms": {"api_token": "unused", "api_url": "http://127.0.0.1:9/api/v1"},
}
_CATALOGS: dict[str, Path] = {}


def discovered_catalogs() -> dict[str, str]:
    """Each tap's ``--discover`` output, run once per process; Meltano environment variables
    (``TAP_X__CATALOG``) that hand it to every run.

    Meltano runs discovery before every run of a tap installed in editable mode (a second of
    startup each): the tests and benchmarks, which run hundreds of pipelines, discover once.
    Meltano applies no ``select`` rules to a catalog handed over this way, so the project's
    are applied here: the runs read the streams a deployment reads, no more.
    """
    if not _CATALOGS:
        folder = Path(tempfile.mkdtemp(prefix="talk-sync-catalogs-"))
        for tap, config in TAPS.items():
            executable = PROJECT_ROOT / ".meltano" / "extractors" / tap / "venv" / "bin" / tap
            config_path = folder / f"{tap}.config.json"
            config_path.write_text(json.dumps(config))
            catalog = subprocess.run(
                [str(executable), "--discover", "--config", str(config_path)],
                capture_output=True,
                check=True,
            ).stdout
            (folder / f"{tap}.catalog.json").write_text(json.dumps(_selected(tap, catalog)))
            _CATALOGS[tap] = folder / f"{tap}.catalog.json"
    return {
        f"{tap.upper().replace('-', '_')}__CATALOG": str(path) for tap, path in _CATALOGS.items()
    }


def _selected(tap: str, catalog: bytes) -> dict[str, Any]:
    """``catalog`` with only the streams the tap's ``select`` in meltano.yml names selected."""
    project = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == tap)
    patterns = [pattern.partition(".")[0] for pattern in extractor.get("select", ["*.*"])]
    parsed = json.loads(catalog)
    for stream in parsed["streams"]:
        chosen = any(fnmatch(stream["tap_stream_id"], pattern) for pattern in patterns)
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = chosen
    return parsed


def organization_gid(asana: SandboxServer) -> str | None:
    """The sandbox's first organization workspace: where Custompms customers become teams."""
    response = httpx.get(
        f"{asana.api_url}/workspaces",
        params={"opt_fields": "is_organization"},
        headers={"Authorization": f"Bearer {asana.token}"},
        timeout=30,
    )
    organizations = [
        w["gid"] for w in response.raise_for_status().json()["data"] if w["is_organization"]
    ]
    return organizations[0] if organizations else None


def stack_env(asana: SandboxServer, custompms: CustompmsServer, workdir: Path) -> dict[str, str]:
    """The process environment that points every plugin at the two local servers."""
    make_private_dir(workdir)
    env = {
        key: value
        for key, value in os.environ.items()
        # Settings of ours already in the environment would override the stack's.
        if not key.startswith(("TAP_ASANA_TALK_", "TAP_CUSTOMPMS_", "TARGET_CUSTOMPMS_"))
        and not key.startswith("TARGET_ASANA_TALK_")
    }
    env.update(
        {
            "MELTANO_ENVIRONMENT": "test",
            "MELTANO_SYS_DIR_ROOT": str(meltano_sys_dir(workdir)),
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "ASANA_API_URL": asana.api_url,
            "ASANA_ACCESS_TOKEN": asana.token,
            "ASANA_WORKSPACE_GID": organization_gid(asana) or "",
            "CUSTOMPMS_API_URL": custompms.api_url,
            "CUSTOMPMS_API_TOKEN": custompms.token,
            "TALK_SYNC_LINK_STORE_URL": f"sqlite:///{workdir / 'links.db'}",
            "TALK_SYNC_REPORT_DIR": str(workdir / "reports"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


@contextmanager
def local_stack(
    workdir: Path,
    *,
    asana_seed: str | None = "demo",
    custompms_seed: bool | str = False,
    asana_args: Sequence[str] = (),
    custompms_options: Mapping[str, Any] | None = None,
    link_store_url: str | None = None,
    discover_once: bool = False,
    **sandbox_options: Any,
) -> Iterator[LocalStack]:
    """Start both servers on free loopback ports for the duration of the block.

    ``asana_seed`` names the sandbox's seed (``demo``, ``overlap``, ``empty``);
    ``custompms_seed`` Custompms' (``True``: ``sample``, or a name: ``sample``, ``demo``,
    ``overlap``; ``False``: empty). ``sandbox_options`` and ``custompms_options`` go to each
    server's starter (e.g. fault rates); ``link_store_url`` replaces the stack's SQLite link
    store (e.g. PostgreSQL); ``discover_once`` hands every run the taps' catalogs
    (:func:`discovered_catalogs`).
    """
    with ExitStack() as servers:
        asana = servers.enter_context(
            running_sandbox(
                seed=asana_seed, extra_args=asana_args, launch=launch, **sandbox_options
            )
        )
        custompms = servers.enter_context(
            running_server(
                workdir / "custompms.db",
                seed=custompms_seed,
                launch=launch,
                **(custompms_options or {}),
            )
        )
        env = stack_env(asana, custompms, workdir)
        if link_store_url:
            env["TALK_SYNC_LINK_STORE_URL"] = link_store_url
        if discover_once:
            env.update(discovered_catalogs())
        yield LocalStack(asana, custompms, workdir, env)
