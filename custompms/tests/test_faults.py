"""Injected faults: ``serve --fault-rate``, ``--fault-after-write-rate`` and ``--fault-seed``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from custompms.cli import _parser
from custompms.testing import CustompmsServer, running_server

FAILED = {"500", "503", "drop"}


def call(api: httpx.Client, method: str, path: str, **kwargs: Any) -> str:
    """The status a call answered, or "drop" when the connection was cut mid-reply."""
    try:
        response = api.request(method, path, **kwargs)
    except httpx.RemoteProtocolError:
        return "drop"
    if response.status_code >= 500:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == response.status_code
        assert {"type", "title", "detail", "instance", "errors"} <= problem.keys()
    return str(response.status_code)


def client(server: CustompmsServer) -> httpx.Client:
    """An API client for one server."""
    return httpx.Client(base_url=server.api_url, headers=server.headers, timeout=30)


def customers(server: CustompmsServer) -> dict[str, dict[str, Any]]:
    """Every customer by external_id, tombstones included."""
    with client(server) as api:
        params = {"limit": 1000, "include_deleted": "true"}
        response = api.get("/customers", params=params)
    assert response.status_code == 200, response.text
    return {record["external_id"]: record for record in response.json()["data"]}


def test_after_write_faults_lose_the_answer_but_not_the_write(tmp_path: Path) -> None:
    """Rate 1: every successful create, bulk upsert, patch and delete answers 500, 503 or a
    dropped connection, yet committed; reads and refused writes answer as usual."""
    db = tmp_path / "pms.db"
    seen: Counter[str] = Counter()
    with (
        running_server(db, fault_after_write_rate=1.0, fault_seed=4) as server,
        client(server) as api,
    ):
        for index in range(9):
            body = {"name": f"C{index}", "external_id": f"single:{index}"}
            headers = {"Idempotency-Key": f"key-{index}"}
            seen[call(api, "POST", "/customers", json=body, headers=headers)] += 1
        bulk = {"records": [{"name": f"B{i}", "external_id": f"bulk:{i}"} for i in range(3)]}
        seen[call(api, "POST", "/customers/bulk", json=bulk)] += 1
        assert call(api, "POST", "/customers", json={"name": ""}) == "422"
        listed = customers(server)  # reads are not faulted by this switch
        first = listed["single:0"]
        seen[call(api, "PATCH", f"/customers/{first['id']}", json={"name": "Renamed"})] += 1
        seen[call(api, "DELETE", f"/customers/{listed['single:1']['id']}")] += 1
        log = server.log_text()
    assert set(seen) == FAILED
    assert sum(seen.values()) == 12
    assert "injected fault" in log
    assert "ASGI callable returned without completing response" not in log

    # A fault-free server on the same file: everything committed, and a client that retries
    # its create with the same Idempotency-Key gets the record it made, not a duplicate.
    with running_server(db) as server, client(server) as api:
        stored = customers(server)
        replay = api.post(
            "/customers",
            json={"name": "C2", "external_id": "single:2"},
            headers={"Idempotency-Key": "key-2"},
        )
    assert {f"single:{i}" for i in range(9)} | {f"bulk:{i}" for i in range(3)} == set(stored)
    assert stored["single:0"]["name"] == "Renamed"
    assert stored["single:0"]["version"] == 2
    assert stored["single:1"]["deleted_at"] is not None
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == stored["single:2"]["id"]


def test_fault_rate_fails_calls_before_they_run(tmp_path: Path) -> None:
    """Rate 1: every API call fails (500, 503, drop) or is slow; a failed create did not run.
    Health and the OpenAPI document are never faulted."""
    db = tmp_path / "pms.db"
    reads: Counter[str] = Counter()
    creates: Counter[str] = Counter()
    options = {"fault_rate": 1.0, "fault_seed": 7, "fault_slow_ms": 10}
    with running_server(db, **options) as server, client(server) as api:
        for _ in range(24):
            reads[call(api, "GET", "/customers")] += 1
        for index in range(12):
            body = {"name": f"C{index}", "external_id": f"c:{index}"}
            creates[call(api, "POST", "/customers", json=body)] += 1
        for _ in range(10):
            assert api.get("/health").status_code == 200
            assert httpx.get(f"{server.url}/openapi.json").status_code == 200
    assert set(reads) == {*FAILED, "200"}  # 200: a slow answer still succeeds
    with running_server(db) as server:
        stored = customers(server)
    assert set(creates) - {"201"} <= FAILED
    assert set(creates) & FAILED
    assert len(stored) == creates["201"]  # only the slow creates ran


def outcomes(db: Path, seed: int) -> list[str]:
    """What 20 reads answer on a server with half of the calls faulted."""
    with (
        running_server(db, fault_rate=0.5, fault_seed=seed, fault_slow_ms=1) as server,
        client(server) as api,
    ):
        return [call(api, "GET", "/customers") for _ in range(20)]


def test_a_fault_seed_makes_the_faults_reproducible(tmp_path: Path) -> None:
    first = outcomes(tmp_path / "a.db", seed=3)
    assert outcomes(tmp_path / "b.db", seed=3) == first
    assert outcomes(tmp_path / "c.db", seed=4) != first
    assert "200" in first
    assert set(first) & FAILED


def test_no_faults_by_default(tmp_path: Path) -> None:
    with running_server(tmp_path / "pms.db") as server, client(server) as api:
        answers = [call(api, "POST", "/customers", json={"name": f"C{i}"}) for i in range(20)]
        answers += [call(api, "GET", "/customers") for _ in range(20)]
    assert set(answers) == {"201", "200"}


def test_fault_options_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMPMS_FAULT_RATE", "0.25")
    monkeypatch.setenv("CUSTOMPMS_FAULT_AFTER_WRITE_RATE", "0.5")
    monkeypatch.setenv("CUSTOMPMS_FAULT_SEED", "9")
    monkeypatch.setenv("CUSTOMPMS_FAULT_SLOW_MS", "20")
    parser, _ = _parser()
    args = parser.parse_args(["serve"])
    assert (args.fault_rate, args.fault_after_write_rate) == (0.25, 0.5)
    assert (args.fault_seed, args.fault_slow_ms) == (9, 20)
    defaults = parser.parse_args(["serve", "--fault-rate", "0", "--fault-seed", "1"])
    assert (defaults.fault_rate, defaults.fault_seed) == (0.0, 1)


@pytest.mark.parametrize("rate", ["1.5", "-0.1", "often"])
def test_a_fault_rate_outside_0_to_1_is_refused(
    rate: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CUSTOMPMS_FAULT_RATE", raising=False)
    parser, _ = _parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--fault-after-write-rate", rate])
    assert "--fault-after-write-rate" in capsys.readouterr().err
