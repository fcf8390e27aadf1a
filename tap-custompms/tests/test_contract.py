"""The stream schemas come from the Custompms contract and must not drift from it."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
import requests
from custompms.testing import running_server
from tap_custompms.schemas import CONTRACT_FILE
from tap_custompms.tap import TapCustompms

COMMITTED_CONTRACT = Path(__file__).resolve().parents[2] / "custompms" / "openapi.json"
STREAM_COMPONENTS = {"customers": "Customer", "projects": "Project", "tasks": "Task"}
REFRESH = "cp custompms/openapi.json tap-custompms/tap_custompms/schemas/openapi.json"


def vendored() -> dict[str, t.Any]:
    return json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))


def test_vendored_contract_matches_the_committed_one() -> None:
    committed = json.loads(COMMITTED_CONTRACT.read_text(encoding="utf-8"))

    assert vendored() == committed, f"The contract changed: run `{REFRESH}` and review."


def test_vendored_contract_matches_what_the_server_serves(tmp_path: Path) -> None:
    with running_server(tmp_path / "custompms.db") as server:
        served = requests.get(f"{server.url}/openapi.json", timeout=30).json()

    schemas = vendored()["components"]["schemas"]
    for component in STREAM_COMPONENTS.values():
        assert served["components"]["schemas"][component] == schemas[component], component


@pytest.mark.parametrize(("stream", "component"), STREAM_COMPONENTS.items())
def test_each_stream_reads_the_list_endpoint_of_its_component(stream: str, component: str) -> None:
    """The stream's path, parameters and record schema are those the contract lists."""
    spec = vendored()
    tap = TapCustompms(
        config={"api_url": "http://127.0.0.1:9/api/v1", "api_token": "x"},
        parse_env_config=False,
    )
    operation = spec["paths"][f"/api/v1{tap.streams[stream].path}"]["get"]
    page_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = spec["components"]["schemas"][page_ref.rsplit("/", 1)[-1]]

    assert page["properties"]["data"]["items"] == {"$ref": f"#/components/schemas/{component}"}
    assert "next_cursor" in page["properties"]
    parameters = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"updated_since", "limit", "cursor", "include_deleted"} <= parameters


@pytest.mark.parametrize(("stream", "component"), STREAM_COMPONENTS.items())
def test_stream_schema_keeps_types_formats_and_nullability(stream: str, component: str) -> None:
    """Every contract field is in the stream schema with the same type, format and nullability."""
    components = vendored()["components"]["schemas"]
    contract_props = components[component]["properties"]
    tap = TapCustompms(
        config={"api_url": "http://127.0.0.1:9/api/v1", "api_token": "x"},
        parse_env_config=False,
    )
    stream_props = tap.streams[stream].schema["properties"]

    assert set(stream_props) == set(contract_props)
    for name, contract_prop in contract_props.items():
        options = contract_prop.get("anyOf", [contract_prop])
        nullable = {"type": "null"} in options
        (declared,) = [o for o in options if o != {"type": "null"}]
        if ref := declared.get("$ref"):  # enums such as TaskStatus are components
            declared = components[ref.rsplit("/", 1)[-1]]
        expected_types = {declared["type"], *(["null"] if nullable else [])}
        singer = stream_props[name]
        types = singer["type"] if isinstance(singer["type"], list) else [singer["type"]]
        assert set(types) == expected_types, name
        assert singer.get("format") == declared.get("format"), name
