"""The start-up check's answers the plugins' tests do not reach, and the board settings."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from talk_sync.builtin_maps import map_config, mapper_config
from talk_sync.startup_errors import Endpoint, StartupError, check_access
from talk_sync.testing.failing_servers import answering, serving


def endpoint(url: str) -> Endpoint:
    return Endpoint(
        api="Asana", url=url, path="/users/me", token="t0ken", auth_setting="access_token"
    )


def test_a_url_that_names_no_api_is_the_url_setting() -> None:
    with answering(404) as url, pytest.raises(StartupError) as error:
        check_access(endpoint(url))
    assert str(error.value) == (
        f"Asana has no /users/me at {url.split('//')[1]} (404): check the api_url setting "
        "(the API's base URL, e.g. with its version path)"
    )


@pytest.mark.parametrize("status", [200, 429, 500, 503])
def test_a_busy_or_failing_server_lets_the_run_go_on(status: int) -> None:
    """A 429 or a 5xx says nothing about the settings: the run's own retries handle it."""
    with answering(status) as url:
        check_access(endpoint(url))


def test_the_host_never_carries_credentials_in_the_url() -> None:
    assert endpoint("https://user:secret@pms.example:8443/api/v1").host == "pms.example:8443"
    assert "t0ken" not in repr(endpoint("https://pms.example/api/v1"))


def test_the_board_settings_fill_stream_map_config_whose_own_keys_win() -> None:
    assert map_config({}) == {"project_boards": [], "project_board_names": []}
    config = {"project_board_names": ["Client projects"], "stream_map_config": {"x": 1}}
    assert map_config(config) == {
        "project_boards": [],
        "project_board_names": ["Client projects"],
        "x": 1,
    }
    override = {"project_boards": ["1"], "stream_map_config": {"project_boards": ["2"]}}
    assert map_config(override)["project_boards"] == ["2"]


def test_stream_maps_in_the_config_replace_the_built_in_ones() -> None:
    maps = {"tasks": "__NULL__"}
    assert mapper_config({"stream_maps": maps}, "no_such_package")["stream_maps"] == maps


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate nobody trusts."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server, scheme="https") as url:
        yield url


def test_a_certificate_nobody_trusts_is_a_tls_failure(self_signed_server: str) -> None:
    with pytest.raises(StartupError) as error:
        check_access(endpoint(self_signed_server))
    host = self_signed_server.split("//")[1]
    assert str(error.value).startswith(
        f"TLS handshake with {host} failed (CERTIFICATE_VERIFY_FAILED): check the api_url setting"
    )
