"""The committed description subset covers every route and says where it comes from."""

from __future__ import annotations

from asana_sandbox.routes import ROUTES
from asana_sandbox.spec import load_description, operations, schema_defs, to_json_schema


def test_subset_has_every_route_and_attribution() -> None:
    """Each implemented route is an operation of the subset; the subset is attributed."""
    ops = operations()
    assert {(r.method, r.path) for r in ROUTES} == set(ops)
    info = load_description()["info"]
    assert "Asana/openapi" in info["x-sandbox-attribution"]
    assert "fc9f8dcf" in info["x-sandbox-attribution"]
    assert info["license"]["name"] == "Apache 2.0"
    assert {"TaskResponse", "ProjectResponse", "EventResponse", "ErrorResponse"} <= set(
        schema_defs()
    )


def test_nullable_conversion() -> None:
    """OAS 3.0 nullable becomes JSON Schema null, also inside allOf."""
    assert to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    converted = to_json_schema(
        {"allOf": [{"$ref": "#/components/schemas/UserCompact"}, {"nullable": True}]}
    )
    assert converted["anyOf"][0] == {"type": "null"}
