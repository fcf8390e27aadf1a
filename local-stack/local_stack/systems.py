"""Both systems of a stack, read and edited as their users would (the end-to-end suites)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from talk_sync import LinkStatus, LinkStore

from local_stack.stack import LocalStack

#: The Asana opt_fields the checks read, per record type.
FIELDS = {
    "workspaces": "name",
    "teams": "name,description,organization",
    "projects": "name,notes,archived,completed,start_on,due_on,owner.email,team,workspace",
    "tasks": "name,notes,completed,start_on,due_on,assignee.email,parent,memberships.project",
}


#: What an idle `sync` must never ask Asana: the users no target reads, and task listings
#: (its events say nothing changed; a full scan is not due for 24 hours).
IDLE_NEVER_READS = frozenset(
    {
        "GET /api/1.0/users",
        "GET /api/1.0/workspaces/{workspace_gid}/users",
        "GET /api/1.0/tasks",
        "GET /api/1.0/tasks/{task_gid}/subtasks",
        "GET /api/1.0/projects/{project_gid}/tasks",
    }
)


class Systems:
    """Reads and edits both systems of a stack, as their users would."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.custompms.api_url, headers=stack.custompms.headers)
        #: The last `sync`'s `meltano run` (exit code, output).
        self.last_run: subprocess.CompletedProcess[str] | None = None

    # Asana (through the sandbox's act route: outside the stats, as a person would).
    def asana(self, resource: str, gid: str) -> dict[str, Any]:
        return self.stack.asana.act("get", f"/{resource}/{gid}", {"opt_fields": FIELDS[resource]})[
            "data"
        ]

    def asana_edit(self, resource: str, gid: str, **values: Any) -> None:
        self.stack.asana.act("put", f"/{resource}/{gid}", values)  # raises on an error
        time.sleep(0.01)  # keep each system's timestamps apart from the next edit's

    def asana_create(self, path: str, **values: Any) -> str:
        return str(self.stack.asana.act("post", path, values)["data"]["gid"])

    def asana_list(self, path: str, **params: Any) -> list[dict[str, Any]]:
        return self.stack.asana.act("get", path, params)["data"]

    # Custompms (its public API).
    def pms(self, resource: str, record_id: int) -> dict[str, Any]:
        response = self.http.get(f"/{resource}/{record_id}")
        response.raise_for_status()
        return response.json()

    def pms_by_external(self, resource: str, external_id: str) -> dict[str, Any]:
        (record,) = [r for r in self.pms_all(resource) if r["external_id"] == external_id]
        return record

    def pms_all(self, resource: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/{resource}", params={"limit": 1000, "include_deleted": "true"})
        response.raise_for_status()
        return response.json()["data"]

    def pms_edit(self, resource: str, record_id: int, **values: Any) -> dict[str, Any]:
        version = self.pms(resource, record_id)["version"]
        response = self.http.patch(
            f"/{resource}/{record_id}", json=values, headers={"If-Match": str(version)}
        )
        response.raise_for_status()
        time.sleep(0.01)
        return response.json()

    def pms_create(self, resource: str, **values: Any) -> dict[str, Any]:
        response = self.http.post(f"/{resource}", json=values)
        response.raise_for_status()
        return response.json()

    def pms_delete(self, resource: str, record_id: int) -> None:
        version = self.pms(resource, record_id)["version"]
        response = self.http.delete(f"/{resource}/{record_id}", headers={"If-Match": str(version)})
        response.raise_for_status()

    def versions(self) -> dict[tuple[str, int], int]:
        return {
            (resource, record["id"]): record["version"]
            for resource in ("customers", "projects", "tasks")
            for record in self.pms_all(resource)
        }

    # The link store and the run.
    def linked(self, ref: str) -> str | None:
        """The other side's key of a linked record (``None`` when not linked)."""
        with LinkStore(self.stack.workdir / "links.db") as store:
            link = store.find(ref)
            if link is None or link.status is not LinkStatus.LINKED:
                return None
            other = link.custompms if ref.startswith("asana-") else link.asana
            return other.key if other else None

    def asana_ref_of(self, ref: str) -> str:
        """The Asana side of a linked pair, given either side's reference."""
        if ref.startswith("asana-"):
            return ref
        with LinkStore(self.stack.workdir / "links.db") as store:
            link = store.find(ref)
            assert link is not None, f"{ref} is not linked"
            assert link.asana is not None, f"{ref} has no Asana side"
            return str(link.asana)

    def link_status(self, ref: str) -> LinkStatus | None:
        with LinkStore(self.stack.workdir / "links.db") as store:
            link = store.find(ref)
            return link.status if link else None

    def pms_of(self, resource: str, asana_ref: str) -> dict[str, Any]:
        """The Custompms record linked to an Asana record."""
        key = self.linked(asana_ref)
        assert key is not None, f"{asana_ref} is not linked"
        return self.pms(resource, int(key))

    def sync(
        self, *options: str, expect_exit: int | None = 0, job: str = "sync"
    ) -> dict[str, dict[str, Any]]:
        """`meltano run [OPTIONS] sync` (or another ``job`` running both directions, such as
        ``preview``); the two run reports, by direction.

        The job must exit ``expect_exit`` (``None``: any code, for the caller to check; a
        stuck record fails the job's last step with 1). Its output is kept in ``last_run``.
        """
        before = set(self.reports())
        self.last_run = self.stack.run(*options, job, check=expect_exit == 0)
        if expect_exit is not None:
            assert self.last_run.returncode == expect_exit, self.last_run.stderr[-8000:]
        reports = {}
        for path in sorted(set(self.reports()) - before):
            report = json.loads(path.read_text())
            reports[report["direction"]] = report
        assert set(reports) == {"asana -> custompms", "custompms -> asana"}, reports.keys()
        return reports

    def reports(self) -> list[Path]:
        return list((self.stack.workdir / "reports").glob("*.json"))

    def assert_asked_only_for_fields_that_exist(self) -> None:
        unknown = self.stack.asana.stats()["unknown_opt_fields"]
        assert unknown == {}, f"the plugins asked Asana for fields it does not have: {unknown}"

    def assert_idle_sync_writes_nothing(self) -> dict[str, dict[str, Any]]:
        """A `sync` with no edits anywhere writes nothing on either side; its reports.

        Also checks that every sync since the last check asked Asana only for fields that exist
        (the live API ignores the others silently, so a misspelt field would never arrive).
        """
        self.assert_asked_only_for_fields_that_exist()
        versions = self.versions()
        self.stack.asana.reset_stats()
        reports = self.sync()
        self.assert_asked_only_for_fields_that_exist()
        stats = self.stack.asana.stats()
        # A /batch of reads is no write; the actions of a batch are counted as their own calls.
        writes = {
            route: count
            for route, count in stats["requests"].items()
            if not route.startswith("GET ") and not route.endswith(" /api/1.0/batch")
        }
        assert (stats["writes"], writes) == (0, {}), reports["custompms -> asana"]["changes"]
        # Reads too: no users (the `sync` job does not read them) and no task listings.
        assert not IDLE_NEVER_READS & stats["requests"].keys(), stats["requests"]
        assert self.versions() == versions, reports["asana -> custompms"]["totals"]
        for report in reports.values():
            totals = report["totals"]
            assert totals["created"] == totals["updated"] == totals["conflicts"] == 0, report
        return reports
