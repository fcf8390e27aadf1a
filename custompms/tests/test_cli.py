"""The console script: options, environment variables and sample data."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
from custompms.testing import console_script, free_port, running_server


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMPMS_")}
    return subprocess.run(
        [*console_script(), *args],
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=60,
        check=False,
    )


def test_serve_without_a_token_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = run("serve", "--db", str(tmp_path / "pms.db"))
    assert result.returncode == 2
    assert "token is required" in result.stderr
    assert "CUSTOMPMS_TOKEN" in result.stderr


def test_seed_is_idempotent(tmp_path: Path) -> None:
    db = str(tmp_path / "pms.db")
    first = run("seed", env={"CUSTOMPMS_DB": db})
    assert first.returncode == 0, first.stderr
    assert "created 3 customers, 3 projects, 6 tasks" in first.stdout
    second = run("seed", "--db", db)
    assert "created 0 customers, 0 projects, 0 tasks" in second.stdout


def test_seed_takes_a_seed_name(tmp_path: Path) -> None:
    db = str(tmp_path / "pms.db")
    result = run("seed", "overlap", "--db", db)
    assert result.returncode == 0, result.stderr
    assert "(overlap): created 4 customers, 6 projects, 10 tasks" in result.stdout
    unknown = run("seed", "nope", "--db", db)
    assert unknown.returncode == 2
    assert "unknown seed 'nope' (choose from demo, overlap, sample)" in unknown.stderr


def test_seeded_server_serves_sample_data_with_subtasks(tmp_path: Path) -> None:
    with running_server(tmp_path / "pms.db", seed=True, token="s3cret") as server:
        api = httpx.Client(base_url=server.api_url, headers=server.headers)
        customers = api.get("/customers").json()["data"]
        tasks = api.get("/tasks").json()["data"]
        projects = api.get("/projects").json()["data"]
        api.close()
    by_external_id = {c["external_id"]: c for c in customers}
    assert (
        by_external_id["seed:customer:acme-eu"]["parent_id"]
        == (by_external_id["seed:customer:acme"]["id"])
    )
    assert {p["customer_id"] for p in projects} <= {c["id"] for c in customers}
    assert any(t["parent_task_id"] for t in tasks)
    assert server.token == "s3cret"


def test_environment_variables_configure_serve(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CUSTOMPMS_HOST": "127.0.0.1",
        "CUSTOMPMS_PORT": str(port),
        "CUSTOMPMS_DB": str(tmp_path / "from-env.db"),
        "CUSTOMPMS_TOKEN": "env-token",
    }
    process = subprocess.Popen([*console_script(), "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        api = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(600):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{api}/health").status_code == 200:
                    break
            time.sleep(0.05)
        headers = {"Authorization": "Bearer env-token"}
        created = httpx.post(f"{api}/customers", json={"name": "E"}, headers=headers)
        assert created.status_code == 201
    finally:
        process.terminate()
        process.wait(10)
    assert (tmp_path / "from-env.db").exists()


def test_a_bad_port_from_the_environment_is_reported_like_a_bad_option() -> None:
    result = run("serve", env={"CUSTOMPMS_PORT": "eighty", "CUSTOMPMS_TOKEN": "t"})
    assert result.returncode == 2
    assert "invalid int value: 'eighty'" in result.stderr
