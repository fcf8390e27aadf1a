"""`make demo`: the two-way sync, end to end, on this machine.

1. Starts the Asana sandbox (demo seed: a small consulting firm) and the Custompms reference
   server (its demo seed: its own sample data, plus two customers, a project and three tasks
   that Asana holds too, which the first sync adopts rather than duplicates) on loopback.
2. Previews the first sync (`meltano run preview`: writes nothing) and prints which
   existing pairs it would link, then runs `meltano run sync` (Custompms -> Asana, then
   Asana -> Custompms) and prints, per flow and direction, what was created, adopted and
   linked, and each adopted pair's differing fields with the side whose value both keep.
3. Edits one task in Asana and another in Custompms, syncs again and shows both edits arrived.
4. Says how to browse both servers and how to rerun.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx
from local_stack import PROJECT_ROOT, LocalStack, compile_plugins, local_stack
from talk_sync import LinkStatus, LinkStore, Side
from talk_sync.flows import FLOWS

WORKDIR = PROJECT_ROOT / ".demo"
DIRECTIONS = (
    ("asana-to-custompms", "Asana → Custompms"),
    ("custompms-to-asana", "Custompms → Asana"),
)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def latest_reports(stack: LocalStack) -> dict[str, dict[str, Any]]:
    """The newest run report of each direction."""
    reports: dict[str, dict[str, Any]] = {}
    for prefix, _ in DIRECTIONS:
        found = sorted((stack.workdir / "reports").glob(f"{prefix}-*.json"))
        if found:
            reports[prefix] = json.loads(found[-1].read_text())
    return reports


def print_adoptions(stack: LocalStack) -> None:
    """The existing pairs each direction's last run linked (or, previewing, would link)."""
    for prefix, label in DIRECTIONS:
        report = latest_reports(stack).get(prefix, {})
        verb = "would link" if report.get("dry_run") else "linked"
        adoptions = report.get("adoptions", [])
        print(f"{label}: {verb} {len(adoptions)} existing pairs")
        for entry in adoptions:
            print(f"  {entry['asana']} <-> {entry['custompms']} ({entry['how']})")
            for field in entry["differences"]:
                print(
                    f"    {field['field']}: Asana {field['asana']!r}, Custompms "
                    f"{field['custompms']!r} -> both keep {field['winner']}'s"
                )
        for entry in report.get("ambiguous", []):
            print(f"  ambiguous {entry['record']}: {entry['reason']}")


def print_flow_table(stack: LocalStack) -> None:
    """Per flow: what each direction created, adopted and updated in its last run, and the
    links in all."""
    reports = latest_reports(stack)
    store = LinkStore(stack.env["TALK_SYNC_LINK_STORE_URL"])
    try:
        print(f"{'':<26}{'Asana → Custompms':>28}{'Custompms → Asana':>28}{'linked':>9}")
        columns = f"{'created':>11}{'adopted':>8}{'updated':>9}"
        print(f"{'flow':<26}{columns}{columns}{'pairs':>9}")
        for flow in FLOWS:
            line = f"{flow.number} {flow.asana_type} ⇄ {flow.custompms_type}"
            line = f"{line:<26}"
            for prefix, _ in DIRECTIONS:
                counts = reports.get(prefix, {}).get("flows", {}).get(flow.name, {})
                line += f"{counts.get('created', 0):>11}{counts.get('adopted', 0):>8}"
                line += f"{counts.get('updated', 0):>9}"
            linked = len(store.links(flow=flow, status=LinkStatus.LINKED))
            print(line + f"{linked:>9}")
        for prefix, label in DIRECTIONS:
            totals = reports.get(prefix, {}).get("totals", {})
            print(
                f"{label}: {totals.get('unchanged', 0)} unchanged, "
                f"{totals.get('conflicts', 0)} conflicts, {totals.get('rejected', 0)} rejected"
            )
            for reject in reports.get(prefix, {}).get("rejects", []):
                print(f"  rejected {reject['record']} ({reject['field']}): {reject['reason']}")
    finally:
        store.close()


def sync(stack: LocalStack) -> None:
    result = stack.run("sync")
    runs = result.stderr.count("Block run completed")
    print(f"meltano run sync: done ({runs} blocks)")


def linked_pair(
    stack: LocalStack, flow_name: str, origin: str, *, open_task: bool = False
) -> tuple[str, int]:
    """(Asana gid, Custompms id) of the first linked pair of a flow created from ``origin``
    (with ``open_task``: whose Custompms task is not done yet, so that marking it done is
    an edit)."""
    store = LinkStore(stack.env["TALK_SYNC_LINK_STORE_URL"])
    try:
        for link in store.links(flow=flow_name, status=LinkStatus.LINKED):
            if link.origin is Side(origin) and link.asana and link.custompms:
                pair = str(link.asana.native_key), int(link.custompms.native_key)
                if not open_task or custompms_task(stack, pair[1])["status"] != "done":
                    return pair
    finally:
        store.close()
    raise SystemExit(f"demo: no {flow_name} pair created from {origin} after the first sync")


def custompms_task(stack: LocalStack, task_id: int) -> dict[str, Any]:
    server = stack.custompms
    url = f"{server.api_url}/tasks/{task_id}"
    return httpx.get(url, headers=server.headers, timeout=30).raise_for_status().json()


def asana_task(stack: LocalStack, gid: str) -> dict[str, Any]:
    server = stack.asana
    response = httpx.get(
        f"{server.api_url}/tasks/{gid}",
        params={"opt_fields": "name,completed,notes"},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=30,
    )
    return response.raise_for_status().json()["data"]


@dataclass(frozen=True)
class Edits:
    """The two demo edits and where each should arrive."""

    renamed_in_asana: str  # the new name
    arrives_in_custompms_task: int
    completed_in_custompms_task: int
    arrives_in_asana_task: str


def edit_both_sides(stack: LocalStack) -> Edits:
    """Rename an Asana task and complete a Custompms task."""
    asana_gid, its_custompms_id = linked_pair(stack, "task_task", "asana")
    new_name = f"{asana_task(stack, asana_gid)['name']} (renamed in Asana)"
    stack.asana.act("put", f"/tasks/{asana_gid}", {"name": new_name})
    print(f"Asana: task {asana_gid} renamed to {new_name!r}")

    its_asana_gid, custompms_id = linked_pair(stack, "task_task", "custompms", open_task=True)
    server = stack.custompms
    httpx.patch(
        f"{server.api_url}/tasks/{custompms_id}",
        json={"status": "done"},
        headers=server.headers,
        timeout=30,
    ).raise_for_status()
    print(f"Custompms: task {custompms_id} marked done")
    return Edits(new_name, its_custompms_id, custompms_id, its_asana_gid)


def main() -> int:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    step("Starting the Asana sandbox (demo seed) and the Custompms reference server")
    with local_stack(WORKDIR, custompms_seed="demo") as stack:
        print(f"Asana sandbox:   {stack.asana.api_url}")
        print(f"Custompms:       {stack.custompms.api_url}")
        step("Installing the plugins (meltano install)")
        stack.meltano("install")
        compile_plugins()

        step("Preview of the first sync: meltano run preview (writes nothing anywhere)")
        stack.run("preview")
        print_adoptions(stack)

        step("First sync: meltano run sync")
        sync(stack)
        print_flow_table(stack)
        print_adoptions(stack)

        step("An edit on each side")
        edits = edit_both_sides(stack)

        step("Second sync: meltano run sync")
        sync(stack)
        arrived_name = custompms_task(stack, edits.arrives_in_custompms_task)["name"]
        arrived_done = asana_task(stack, edits.arrives_in_asana_task)["completed"]
        print(f"Custompms task {edits.arrives_in_custompms_task} is now named {arrived_name!r}")
        print(
            f"Asana task {edits.arrives_in_asana_task} (Custompms task "
            f"{edits.completed_in_custompms_task}) completed: {arrived_done}"
        )
        print_flow_table(stack)
        ok = arrived_name == edits.renamed_in_asana and arrived_done is True
        print("Both edits arrived." if ok else "An edit did not arrive: see the reports.")

        step("Browse")
        # The runs as one page (`talk-sync report --html`, as `meltano invoke talk-sync:report`).
        subprocess.run(
            ["talk-sync", "report", "--html", "--report-dir", str(stack.workdir / "reports")],
            env=stack.env,
            check=True,
            capture_output=True,
        )
        token = stack.custompms.token
        print(
            f"Both servers take the throwaway demo token '{token}':"
            f"\n  curl -H 'Authorization: Bearer {token}' {stack.custompms.api_url}/projects"
            f"\n  curl -H 'Authorization: Bearer {token}' {stack.asana.api_url}/workspaces"
            f"\n  the Custompms contract: {stack.custompms.url}/openapi.json"
            f"\n  its interactive docs:   {stack.custompms.url}/docs (Authorize with the token)"
            f"\nRun reports (JSON): {stack.workdir / 'reports'}"
            f"\nThe runs as a page: {stack.workdir / 'reports' / 'report.html'}"
            f"\nLink store:         {stack.env['TALK_SYNC_LINK_STORE_URL']}"
            "\nRerun everything with `make demo`; run every test with `make test`."
        )
        if sys.stdin.isatty():
            input("\nPress Enter to stop both servers. ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
