"""Data survives restarts, and a kill -9 loses no acknowledged write."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from custompms.testing import running_server, start_server, stop_server


def test_a_kill_9_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "pms.db"
    server = start_server(db)
    try:
        with httpx.Client(base_url=server.api_url, headers=server.headers) as api:
            customer = api.post("/customers", json={"name": "Durable"}).json()
            key = {"Idempotency-Key": "survives-a-crash"}
            project = api.post(
                "/projects", json={"customer_id": customer["id"], "name": "P"}, headers=key
            ).json()
            bulk = api.post(
                "/tasks/bulk",
                json={
                    "records": [{"project_id": project["id"], "name": f"t{i}"} for i in range(50)]
                },
            ).json()["results"]
            renamed = api.patch(f"/customers/{customer['id']}", json={"name": "Renamed"}).json()
            deleted = api.delete(f"/tasks/{bulk[0]['id']}").json()
        # Every write above was answered; SIGKILL gives the server no chance to flush anything.
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    finally:
        stop_server(server)

    with (
        running_server(db) as restarted,
        httpx.Client(base_url=restarted.api_url, headers=restarted.headers) as api,
    ):
        assert api.get(f"/customers/{customer['id']}").json() == renamed
        assert api.get(f"/tasks/{bulk[0]['id']}").json() == deleted
        tasks = api.get("/tasks", params={"limit": 1000, "include_deleted": "true"}).json()
        assert {t["id"] for t in tasks["data"]} == {r["id"] for r in bulk}
        body = {"customer_id": customer["id"], "name": "P"}
        replay = api.post("/projects", json=body, headers=key)
        assert replay.json() == project
        assert replay.headers["idempotent-replayed"] == "true"
        # The clock carries on from the stored maximum: updated_at keeps increasing.
        later = api.patch(f"/customers/{customer['id']}", json={"name": "Again"}).json()
        assert later["updated_at"] > renamed["updated_at"]
        assert later["version"] == renamed["version"] + 1
