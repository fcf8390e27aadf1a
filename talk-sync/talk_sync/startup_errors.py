"""Start-up checks and their one-line errors, shared by all four plugins.

Each plugin sends one cheap authenticated GET before it reads or writes anything
(:func:`check_access`): Asana's ``GET /users/me``, Custompms's ``GET /customers?limit=1``.
What can go wrong there is a setting, not a transient failure, so it is never retried: a
refused token (401), a forbidden one (403), a URL that names no API (404), a host that does
not resolve, a port nothing listens on, a TLS handshake that fails, no answer within
``request_timeout``. Each becomes one line naming the setting to check and the URL's host,
logged at ERROR with the traceback at DEBUG, and the plugin exits 1. *Why:* a bad token used
to print 66 lines and 20 frames without naming ``access_token``, and an unreachable URL
retried for half a minute before 38 frames.

A 429 or a 5xx says nothing about the settings: the check lets the run go on, whose own
requests retry them. Mid-run failures keep the clients' retries (``http_client.py``, the
taps' backoff hooks).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError

from talk_sync.errors import TalkSyncError


class StartupError(TalkSyncError):
    """A start-up failure that a setting explains: its message is the one line to print."""


@dataclass(frozen=True)
class Endpoint:
    """Where a plugin checks its settings: one authenticated GET of ``path`` under ``url``."""

    #: The system's name in messages: ``Asana``, ``Custompms``.
    api: str
    #: The API base URL (the ``url_setting``'s value).
    url: str
    #: A cheap GET the token must be allowed, e.g. ``/users/me``.
    path: str
    #: The bearer token; never part of a message.
    token: str = field(repr=False)
    #: The settings a message names.
    auth_setting: str
    url_setting: str = "api_url"
    timeout_setting: str = "request_timeout"
    #: Seconds to wait for the answer (the plugin's ``request_timeout``).
    timeout: float = 60
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """``host`` or ``host:port`` as the URL names it (no credentials, no path)."""
        return urlsplit(self.url).netloc.rpartition("@")[2] or self.url


def check_access(endpoint: Endpoint, *, session: requests.Session | None = None) -> None:
    """Send the endpoint's GET once; raise :class:`StartupError` when a setting is wrong."""
    url = f"{endpoint.url.rstrip('/')}{endpoint.path}"
    headers = {"Authorization": f"Bearer {endpoint.token}", "Accept": "application/json"}
    sender = session or requests.Session()
    try:
        response = sender.get(
            url, headers=headers, params=endpoint.params, timeout=endpoint.timeout
        )
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        # An answer came and broke off: the host and URL work, the run's own requests retry.
        return
    except requests.RequestException as error:
        raise StartupError(_unreachable(endpoint, error)) from error
    finally:
        if session is None:
            sender.close()
    refusal = _refused(endpoint, response.status_code)
    if refusal:
        raise StartupError(refusal)


def _refused(endpoint: Endpoint, status: int) -> str | None:
    """The line for an answer that says a setting is wrong; ``None`` when the run may go on."""
    where = f"at {endpoint.host}: check the {endpoint.auth_setting} setting"
    if status == HTTPStatus.UNAUTHORIZED:
        return f"{endpoint.api} refused the {_words(endpoint.auth_setting)} (401) {where}"
    if status == HTTPStatus.FORBIDDEN:
        return (
            f"{endpoint.api} forbade the {_words(endpoint.auth_setting)} to read "
            f"{endpoint.path} (403) {where}"
        )
    if status == HTTPStatus.NOT_FOUND:
        return (
            f"{endpoint.api} has no {endpoint.path} at {endpoint.host} (404): check the "
            f"{endpoint.url_setting} setting (the API's base URL, e.g. with its version path)"
        )
    return None


def _unreachable(endpoint: Endpoint, error: requests.RequestException) -> str:
    """The line for a request that got no answer."""
    host, check = endpoint.host, f"check the {endpoint.url_setting} setting"
    if isinstance(error, requests.Timeout) and not isinstance(error, requests.ConnectTimeout):
        return (
            f"{host} did not answer within {endpoint.timeout:g} s: check the "
            f"{endpoint.url_setting} and {endpoint.timeout_setting} settings"
        )
    if isinstance(error, requests.ConnectTimeout):
        return f"cannot connect to {host} (timed out after {endpoint.timeout:g} s): {check}"
    if isinstance(error, requests.exceptions.SSLError) or _caused_by(error, ssl.SSLError):
        tls = _cause(error, ssl.SSLError)
        reason = getattr(tls, "reason", None) or "TLS error"  # e.g. CERTIFICATE_VERIFY_FAILED
        return (
            f"TLS handshake with {host} failed ({reason}): {check} (http:// or https://) "
            "and the server's certificate"
        )
    if _caused_by(error, NameResolutionError):
        return f"cannot resolve {urlsplit(endpoint.url).hostname} (DNS failure): {check}"
    if _caused_by(error, ConnectionRefusedError):
        return f"cannot connect to {host} (connection refused): {check}"
    return f"cannot connect to {host} ({type(error).__name__}): {check}"


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is among ``error``'s causes (requests wraps urllib3 wraps socket)."""
    return _cause(error, kind) is not None


def _cause(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first of ``error``'s causes that is a ``kind``, following every wrapping."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        pending += current.args
    return None


def _words(setting: str) -> str:
    """``access_token`` as prose: ``access token``."""
    return setting.replace("_", " ")


@contextmanager
def one_line_errors(plugin: str, logger: logging.Logger) -> Iterator[None]:
    """Turn a :class:`StartupError` into one ERROR line and exit 1; the traceback at DEBUG."""
    try:
        yield
    except StartupError as error:
        logger.debug("%s: start-up check failed", plugin, exc_info=True)
        logger.error("%s: %s", plugin, error)
        raise SystemExit(1) from None


def check_at_start(endpoint: Endpoint, plugin: str, logger: logging.Logger) -> None:
    """:func:`check_access`, a failure reported as one line (exit 1)."""
    with one_line_errors(plugin, logger):
        check_access(endpoint)


# The two APIs' checks, one each for the tap and the target of a system.


def asana_endpoint(config: Mapping[str, Any], default_url: str) -> Endpoint:
    """Asana's check: ``GET /users/me``, the cheapest call every token may make."""
    return Endpoint(
        api="Asana",
        url=str(config.get("api_url") or default_url),
        path="/users/me",
        params={"opt_fields": "gid"},
        token=str(config.get("access_token") or ""),
        auth_setting="access_token",
        timeout=float(config.get("request_timeout") or 60),
    )


def custompms_endpoint(config: Mapping[str, Any]) -> Endpoint:
    """Custompms's check: one customer (``/health`` takes no token, so proves nothing)."""
    return Endpoint(
        api="Custompms",
        url=str(config["api_url"]),
        path="/customers",
        params={"limit": "1"},
        token=str(config.get("api_token") or ""),
        auth_setting="api_token",
        timeout=float(config.get("request_timeout") or 300),
    )
