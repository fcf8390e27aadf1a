"""Settings: documented in --about, and bad values fail at once naming the setting."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError
from tap_custompms.tap import TapCustompms

OWN_SETTINGS = ["api_url", "api_token", "start_date", "page_size", "request_timeout", "user_agent"]
GOOD = {"api_url": "https://pms.example.com/api/v1", "api_token": "tok-123"}
TAP = Path(sys.executable).with_name("tap-custompms")


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        pytest.param({"api_url": None}, "api_url", id="missing-api_url"),
        pytest.param({"api_url": "ftp://pms.example.com"}, "api_url", id="ftp-api_url"),
        pytest.param({"api_url": "pms.example.com/api/v1"}, "api_url", id="no-scheme"),
        pytest.param({"api_token": None}, "api_token", id="missing-api_token"),
        pytest.param({"api_token": ""}, "api_token", id="empty-api_token"),
        pytest.param({"page_size": 0}, "page_size", id="page_size-0"),
        pytest.param({"page_size": 1001}, "page_size", id="page_size-1001"),
        pytest.param({"start_date": "last tuesday"}, "start_date", id="bad-start_date"),
        pytest.param({"request_timeout": 0}, "request_timeout", id="request_timeout-0"),
    ],
)
def test_bad_config_fails_naming_the_setting(overrides: dict[str, t.Any], setting: str) -> None:
    config = {k: v for k, v in {**GOOD, **overrides}.items() if v is not None}

    with pytest.raises(ConfigValidationError) as err:
        TapCustompms(config=config, parse_env_config=False)

    assert any(setting in message for message in err.value.errors), err.value.errors


@pytest.mark.parametrize(
    "start_date", ["2024-01-01T00:00:00Z", "2024-01-01T02:00:00+02:00", "2024-01-01"]
)
def test_rfc3339_and_plain_dates_are_accepted(start_date: str) -> None:
    TapCustompms(config={**GOOD, "start_date": start_date}, parse_env_config=False)


def test_cli_exits_non_zero_naming_the_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**GOOD, "page_size": 5000}))

    result = subprocess.run(
        [str(TAP), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert "config['page_size']" in result.stderr
    assert "tok-123" not in result.stdout + result.stderr


def test_about_documents_every_setting() -> None:
    result = subprocess.run(
        [str(TAP), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    settings = json.loads(result.stdout)["settings"]

    assert set(settings["required"]) == {"api_url", "api_token"}
    for name in OWN_SETTINGS:
        assert settings["properties"][name].get("description"), name
    assert settings["properties"]["api_token"]["secret"] is True
    assert settings["properties"]["page_size"]["default"] == 500
