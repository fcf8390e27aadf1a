"""Fixtures: a scripted local HTTP stub and a fresh reference server per test."""

from __future__ import annotations

import typing as t

import pytest

# A fresh, empty reference server per test, for the test modules that need one.
from custompms.testing import custompms_server  # noqa: F401
from tap_custompms.testing import StubApi

if t.TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def stub_api() -> Iterator[StubApi]:
    with StubApi() as stub:
        yield stub
