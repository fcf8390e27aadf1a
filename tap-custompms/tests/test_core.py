"""The SDK's standard tap test suite, against the reference Custompms server with sample data."""

from __future__ import annotations

import typing as t

import pytest
from custompms.testing import running_server
from singer_sdk.testing import get_tap_test_class
from tap_custompms.tap import TapCustompms

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from custompms.testing import CustompmsServer

# The suite is built at import time but syncs lazily: the module fixture below fills in the
# URL and token of the server it starts before the first test runs.
SAMPLE_CONFIG: dict[str, t.Any] = {"api_url": "http://127.0.0.1:9/api/v1", "api_token": "unset"}


@pytest.fixture(scope="module", autouse=True)
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustompmsServer]:
    db_path = tmp_path_factory.mktemp("custompms") / "custompms.db"
    with running_server(db_path, seed=True) as server:
        SAMPLE_CONFIG.update(
            api_url=server.api_url, api_token=server.token, page_size=2
        )  # several pages per stream
        yield server


TestTapCustompms = get_tap_test_class(tap_class=TapCustompms, config=SAMPLE_CONFIG)
