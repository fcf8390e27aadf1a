"""Authentication and the problem+json shape of every error."""

from __future__ import annotations

import re

import httpx
import pytest
from custompms.testing import CustompmsServer


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/customers"),
        ("POST", "/api/v1/projects"),
        ("POST", "/api/v1/tasks/bulk"),
        ("GET", "/api/v1/tasks/1"),
        ("PATCH", "/api/v1/tasks/1"),
        ("DELETE", "/api/v1/customers/1"),
    ],
)
def test_every_resource_endpoint_requires_the_token(
    server: CustompmsServer, blamed, headers: dict, method: str, path: str
) -> None:
    response = httpx.request(method, server.url + path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert blamed(response) == {"Authorization"}


def test_health_and_contract_need_no_token(server: CustompmsServer) -> None:
    assert httpx.get(f"{server.api_url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/openapi.json").json()["info"]["title"] == "Custompms"


def test_the_interactive_docs_are_served_with_their_files_from_the_server(
    server: CustompmsServer,
) -> None:
    """/docs works where no CDN is reachable: Swagger UI's script and style come from here."""
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+\.(?:js|css))['"]""", page.text)
    assert assets, page.text
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the server itself"
        assert httpx.get(f"{server.url}{asset}").status_code == 200, asset


def test_unknown_routes_and_methods_are_problems(api: httpx.Client, blamed) -> None:
    response = api.get("/invoices")
    assert response.status_code == 404
    assert blamed(response) == {"path"}
    response = api.put("/customers")
    assert response.status_code == 405
    assert blamed(response) == {"method"}


def test_malformed_json_is_400_naming_the_body(api: httpx.Client, blamed) -> None:
    response = api.post(
        "/customers", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert blamed(response) == {"body"}


def test_a_non_json_body_is_422(api: httpx.Client, blamed) -> None:
    response = api.post("/customers", content=b"name=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert blamed(response) == {"body"}


def test_bad_path_ids_are_422_naming_the_parameter(api: httpx.Client, blamed) -> None:
    for path in ("/customers/abc", "/customers/0", f"/customers/{2**63}"):
        response = api.get(path)
        assert response.status_code == 422
        assert blamed(response) == {"id"}


def test_the_token_never_reaches_the_log(server: CustompmsServer, api: httpx.Client) -> None:
    api.get("/customers")
    httpx.get(f"{server.api_url}/customers", headers={"Authorization": "Bearer guess"})
    assert server.token not in server.log_text()
    assert "guess" not in server.log_text()
