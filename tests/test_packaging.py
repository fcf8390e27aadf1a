"""The plugins install and sync outside this repository, as a new user installs them.

The wheels are built once for the file (the module fixture). Each plugin is installed into an
empty virtual environment of its own, from the built wheels alone, and run from a temporary
directory with nothing of the repository on its path: ``--about``, then a short sync against
the local servers in each direction. The same through Meltano: a new empty project,
``meltano add --from-ref`` of the Hub definitions in hub/, ``meltano install`` and
``meltano run``. And once with pip, from ``git+file://`` URLs of the repository alone.

uv installs (a shared cache keeps it to seconds); pip runs once, in the background.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asana_sandbox.testing import SandboxServer, running_sandbox
from custompms.testing import CustompmsServer, running_server
from local_stack import organization_gid

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
UV = str(BIN / "uv")
MELTANO = str(BIN / "meltano")
CORE = "talk-sync"
PLUGINS = ("tap-asana-talk", "tap-custompms", "target-custompms", "target-asana-talk")
KINDS = {"tap-asana-talk": "extractors", "tap-custompms": "extractors"}
#: The streams a short sync reads: the customers' flows (1, 2), a few records each.
SHORT_SYNC = {"tap-asana-talk": ("workspaces", "teams"), "tap-custompms": ("customers",)}
VERSION = "0.2.0"


def _run(*args: str, cwd: Path, env: Mapping[str, str] | None = None, **kw: Any) -> str:
    """Run a command; its stdout, or a failure with its output."""
    result = subprocess.run(
        args, cwd=cwd, env=env or _clean_env(), capture_output=True, text=True, check=False, **kw
    )
    assert result.returncode == 0, (
        f"{' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    return result.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus this repository: no virtualenv, no PYTHONPATH, no plugin settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        # PYTHONDONTWRITEBYTECODE (CI images): the new venvs' first process writes the
        # bytecode the others then load, instead of each compiling the SDK again (seconds).
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")
        and not key.startswith(("TAP_", "TARGET_", "MELTANO_"))
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != BIN]
    return {**env, "PATH": os.pathsep.join(path), **extra}


def _wheel(wheelhouse: Path, package: str) -> Path:
    (found,) = wheelhouse.glob(f"{package.replace('-', '_')}-{VERSION}-py3-none-any.whl")
    return found


@pytest.fixture(scope="module")
def from_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """pip and uv installing a plugin each from ``git+file://`` URLs of this checkout's HEAD.

    Started first and left running in the background (pip takes half a minute): the last
    test waits for them. The URLs are the shared core's and the plugin's, as in a Hub pip_url.
    """
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    home = tmp_path_factory.mktemp("from-git")
    installs = {"pip": "tap-custompms", "uv": "target-asana-talk"}
    started = {}
    for installer, plugin in installs.items():
        venv = home / installer
        _run(UV, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv), cwd=home)
        urls = [f"git+file://{ROOT}@{head.stdout.strip()}#subdirectory={p}" for p in (CORE, plugin)]
        python = str(venv / "bin" / "python")
        command = [python, "-m", "pip", "install", "--quiet", *urls]
        if installer == "uv":
            command = [UV, "pip", "install", "--quiet", "--python", python, *urls]
        log = (home / f"{installer}.log").open("w+")
        process = subprocess.Popen(
            command, cwd=home, env=_clean_env(), stdout=log, stderr=subprocess.STDOUT
        )
        started[installer] = (plugin, venv / "bin", process, log)
    yield started
    for _, _, process, log in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared core's and the four plugins' wheels, built once (all at once)."""
    out = tmp_path_factory.mktemp("wheels")
    with ThreadPoolExecutor(5) as pool:
        builds = [
            pool.submit(
                _run, UV, "build", "--quiet", "--wheel", "--out-dir", str(out), package, cwd=ROOT
            )
            for package in (CORE, *PLUGINS)
        ]
        for build in builds:
            build.result()
    for package in (CORE, *PLUGINS):
        metadata = subprocess.run(
            ["unzip", "-p", str(_wheel(out, package)), "*/METADATA"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # No path, file or editable reference may leak into what the wheel requires.
        requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
        assert not [line for line in requires if "@" in line or "file:" in line], requires
        if package != CORE:
            assert f"Requires-Dist: {CORE}<0.3,>=0.2" in requires
    return out


@pytest.fixture(scope="module")
def installed(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each plugin in an empty virtualenv of its own, from the wheels alone: its bin folder."""
    home = tmp_path_factory.mktemp("venvs")

    def install(plugin: str) -> Path:
        venv = home / plugin
        _run(UV, "venv", "--quiet", "--python", sys.executable, str(venv), cwd=home)
        _run(
            UV, "pip", "install", "--quiet", "--python",
            str(venv / "bin" / "python"), "--find-links", str(wheelhouse), f"{plugin}=={VERSION}",
            cwd=home,
        )  # fmt: skip
        return venv / "bin"

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(PLUGINS, pool.map(install, PLUGINS), strict=True))


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SandboxServer, CustompmsServer]]:
    """The Asana sandbox (demo seed) and Custompms with its sample data."""
    folder = tmp_path_factory.mktemp("servers")
    with running_sandbox() as asana, running_server(folder / "pms.db", seed=True) as custompms:
        yield asana, custompms


def _project_config(plugin: str) -> dict[str, Any]:
    """The plugin's stream maps in meltano.yml, if it has any (the targets' mappings)."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (found,) = [p for kind in project["plugins"].values() for p in kind if p["name"] == plugin]
    config = found.get("config", {})
    return {key: config[key] for key in ("stream_maps", "stream_map_config") if key in config}


def _configs(
    asana: SandboxServer, custompms: CustompmsServer, work: Path
) -> dict[str, dict[str, Any]]:
    store = {"link_store_url": f"sqlite:///{work / 'links.db'}"}
    return {
        "tap-asana-talk": {"api_url": asana.api_url, "access_token": asana.token},
        "tap-custompms": {"api_url": custompms.api_url, "api_token": custompms.token},
        "target-custompms": {
            "api_url": custompms.api_url,
            "api_token": custompms.token,
            **store,
            "report_path": str(work / "asana-to-custompms.json"),
            **_project_config("target-custompms"),
        },
        "target-asana-talk": {
            "api_url": asana.api_url,
            "access_token": asana.token,
            "workspace_gid": organization_gid(asana) or "",
            **store,
            "report_path": str(work / "custompms-to-asana.json"),
            **_project_config("target-asana-talk"),
        },
    }


def _pipe(tap: list[str], target: list[str], cwd: Path) -> None:
    """``tap | target``, as Meltano runs them; both must exit 0."""
    env = _clean_env()
    # The tap's log goes to a file: a pipe nobody reads would block it once full.
    with (cwd / f"{Path(tap[0]).name}.log").open("w+") as log:
        with subprocess.Popen(tap, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log) as reader:
            written = subprocess.run(
                target,
                cwd=cwd,
                env=env,
                stdin=reader.stdout,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        log.seek(0)
        tap_log = log.read()
    assert (reader.returncode, written.returncode) == (0, 0), (
        f"{tap_log[-4000:]}\n{written.stderr[-6000:]}"
    )


def _short(tap: str, catalog: dict[str, Any]) -> dict[str, Any]:
    """The catalog with only the short sync's streams selected."""
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in SHORT_SYNC[tap]
    return catalog


def _custompms_customers(custompms: CustompmsServer) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{custompms.api_url}/customers",
        headers=custompms.headers,
        params={"limit": 1000},
        timeout=30,
    )
    return list(response.raise_for_status().json()["data"])


def _created(report: Path) -> int:
    flows = json.loads(report.read_text())["flows"]
    return sum(
        int(counts.get("created", 0)) + int(counts.get("adopted", 0)) for counts in flows.values()
    )


def test_each_plugin_installs_from_the_wheels_alone_and_syncs(
    from_git: dict[str, Any],
    installed: dict[str, Path],
    servers: tuple[SandboxServer, CustompmsServer],
    tmp_path: Path,
) -> None:
    def check(plugin: str) -> None:
        bin_dir = installed[plugin]
        about = json.loads(_run(str(bin_dir / plugin), "--about", "--format=json", cwd=tmp_path))
        assert (about["name"], about["version"]) == (plugin, VERSION)
        # The shared core came from its own wheel, through the plugin's requirement.
        core = _run(UV, "pip", "show", "--python", str(bin_dir / "python"), CORE, cwd=tmp_path)
        assert f"Version: {VERSION}" in core
        assert "Editable" not in core
        assert str(ROOT) not in core

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(check, PLUGINS))

    asana, custompms = servers
    for plugin, config in _configs(asana, custompms, tmp_path).items():
        (tmp_path / f"{plugin}.json").write_text(json.dumps(config))

    def command(plugin: str) -> list[str]:
        config = [str(installed[plugin] / plugin), "--config", str(tmp_path / f"{plugin}.json")]
        if plugin not in SHORT_SYNC:
            return config
        catalog = json.loads(_run(*config, "--discover", cwd=tmp_path))
        (tmp_path / f"{plugin}.catalog.json").write_text(json.dumps(_short(plugin, catalog)))
        return [*config, "--catalog", str(tmp_path / f"{plugin}.catalog.json")]

    before = {c["external_id"] for c in _custompms_customers(custompms) if c.get("external_id")}
    _pipe(command("tap-asana-talk"), command("target-custompms"), tmp_path)
    arrived = {c["external_id"] for c in _custompms_customers(custompms) if c.get("external_id")}
    assert {ref for ref in arrived - before if ref.startswith("asana-")}, (
        "no Asana record reached Custompms"
    )

    _pipe(command("tap-custompms"), command("target-asana-talk"), tmp_path)
    assert _created(tmp_path / "custompms-to-asana.json") > 0, "no Custompms record reached Asana"


def test_plugins_install_through_meltano_add_from_ref_and_run(
    wheelhouse: Path, servers: tuple[SandboxServer, CustompmsServer], tmp_path: Path
) -> None:
    asana, _ = servers
    env = _clean_env(MELTANO_SEND_ANONYMOUS_USAGE_STATS="false")
    _run(MELTANO, "init", "project", "--no-usage-stats", cwd=tmp_path, env=env)
    project = tmp_path / "project"
    for plugin in ("tap-asana-talk", "target-custompms"):
        kind = KINDS.get(plugin, "loaders")
        (definition,) = (ROOT / "hub" / kind / plugin).glob("*.yml")
        ref = yaml.safe_load(definition.read_text())
        # The Hub's pip_url names the public repository: here, the wheels of this checkout.
        ref["pip_url"] = f"{_wheel(wheelhouse, CORE)} {_wheel(wheelhouse, plugin)}"
        (tmp_path / definition.name).write_text(yaml.safe_dump(ref))
        add = [
            "add",
            "--no-install",
            "--plugin-type",
            kind[:-1],
            "--from-ref",
            str(tmp_path / definition.name),
        ]
        _run(MELTANO, *add, plugin, cwd=project, env=env)
    _run(MELTANO, "install", cwd=project, env=env)

    # An empty Custompms of its own: what arrives came through this run.
    with running_server(tmp_path / "pms.db") as custompms:
        config = _configs(asana, custompms, tmp_path)
        settings = {
            f"{plugin.upper().replace('-', '_')}_{name.upper()}": value
            if isinstance(value, str)
            else json.dumps(value)
            for plugin in ("tap-asana-talk", "target-custompms")
            for name, value in config[plugin].items()
        }
        _run(
            MELTANO,
            "run",
            "tap-asana-talk",
            "target-custompms",
            cwd=project,
            env={**env, **settings},
            timeout=300,
        )
        arrived = [c["external_id"] for c in _custompms_customers(custompms)]
    assert [ref for ref in arrived if ref and ref.startswith("asana-")], arrived


def test_pip_and_uv_install_a_plugin_from_git_urls_alone(
    from_git: dict[str, Any], tmp_path: Path
) -> None:
    for installer, (plugin, bin_dir, process, log) in from_git.items():
        status = process.wait(timeout=300)
        log.seek(0)
        assert status == 0, f"{installer}: {log.read()[-6000:]}"
        about = json.loads(_run(str(bin_dir / plugin), "--about", "--format=json", cwd=tmp_path))
        assert (about["name"], about["version"]) == (plugin, VERSION), installer
