"""Faults, retries and secrets: the same records with a flaky API, and no token in output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from asana_sandbox.testing import SandboxServer, running_sandbox
from tap_asana_talk.testing import run_tap, tap_config

STREAMS = ("workspaces", "teams", "users", "projects", "tasks")
SECRET = "1/1200000000000003:very-secret-token"


def test_faults_do_not_change_the_records() -> None:
    with running_sandbox(seed="demo") as clean:
        expected = run_tap(tap_config(clean))
    with running_sandbox(
        seed="demo", fault_rate=0.1, extra_args=["--fault-seed", "7", "--fault-slow-ms", "500"]
    ) as flaky:
        got = run_tap(tap_config(flaky))
        assert flaky.stats()["faults_total"] > 0

    for stream in STREAMS:
        # Same records, in the same order.
        assert got.records(stream) == expected.records(stream), stream


def run_cli(tmp_path: Path, server: SandboxServer, token: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**tap_config(server), "access_token": token}))
    return subprocess.run(
        [sys.executable, "-m", "tap_asana_talk", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_token_never_appears_in_output(tmp_path: Path) -> None:
    with running_sandbox(seed="demo", token=SECRET, fault_rate=0.2) as server:
        ok = run_cli(tmp_path, server, SECRET)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert "Retrying" in ok.stderr  # the faults were met and logged
        assert SECRET not in ok.stdout + ok.stderr

        wrong = SECRET.replace("secret", "stolen")
        denied = run_cli(tmp_path, server, wrong)
        assert denied.returncode != 0
        assert "401" in denied.stderr
        assert wrong not in denied.stdout + denied.stderr
