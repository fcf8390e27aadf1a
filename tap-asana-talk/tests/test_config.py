"""Configuration errors fail at once, name the setting and never show the token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from asana_sandbox.testing import SandboxServer

SECRET = "0/very-secret-token-value"


def run_tap(tmp_path: Path, config: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_asana_talk", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "setting"),
    [
        ({}, "access_token"),
        ({"access_token": SECRET, "api_url": "app.asana.com"}, "api_url"),
        ({"access_token": SECRET, "requests_per_minute": 0}, "requests_per_minute"),
        ({"access_token": SECRET, "max_concurrency": 500}, "max_concurrency"),
        ({"access_token": SECRET, "project_gids": ["abc"]}, "project_gids"),
        ({"access_token": SECRET, "start_date": "last tuesday"}, "start_date"),
    ],
)
def test_bad_config_fails_naming_the_setting(tmp_path: Path, config: dict, setting: str) -> None:
    result = run_tap(tmp_path, config)
    assert result.returncode != 0
    assert setting in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_a_malformed_token_is_not_echoed(tmp_path: Path) -> None:
    result = run_tap(tmp_path, {"access_token": 123456789012345})
    assert result.returncode != 0
    assert "access_token" in result.stderr
    assert "123456789012345" not in result.stderr + result.stdout


def test_a_token_asana_refuses_stops_the_run_in_one_line_naming_the_setting(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    result = run_tap(tmp_path, {"access_token": SECRET, "api_url": sandbox.api_url})
    assert result.returncode == 1
    assert '"type":"RECORD"' not in result.stdout
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "401" in last
    assert "access_token" in last
    assert SECRET not in result.stderr
