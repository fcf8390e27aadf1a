"""The crash campaign: kill -9 the whole `meltano run sync` inside a write window, rerun
until quiet, and count what went wrong.

Each trial starts a fresh stack (the Asana sandbox with the demo seed, Custompms with its
sample data, so that both directions create records), puts a :class:`WriteGate` in front
of each server, and holds the Nth write of one direction in one window:

- ``before``: the pending rows are committed, the destination has not seen the write;
- ``answered``: the destination ran the write, its answer never arrives;
- ``delivered``: the answer arrived while the link store is locked, so the links of that
  write are not completed.

The whole process group of `meltano run sync` is then killed with SIGKILL. The sync is
rerun until a run writes nothing (at most :data:`MAX_RERUNS` runs), and both systems are
compared with a clean run's: records that appear more often (duplicates), less often
(lost) or with other values (mismatched). The last rerun is the idle check: it must write
nothing.

    .venv/bin/python -m local_stack.crash_campaign --trials 24           # the full campaign
    .venv/bin/python -m local_stack.crash_campaign --trials 6 --postgres # against PostgreSQL

tests/test_crash_campaign.py runs a fast subset in `make test`; `make crash-campaign`
runs the full one.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from local_stack.stack import (
    MELTANO,
    PROJECT_ROOT,
    LocalStack,
    MeltanoError,
    install_plugins,
    local_stack,
)
from local_stack.write_gate import WINDOWS, WriteGate, asana_write, custompms_write

#: Which server's writes a direction makes.
DIRECTIONS = {"custompms-to-asana": "asana", "asana-to-custompms": "custompms"}
#: Reruns after the kill before the campaign gives up on reaching a quiet run.
MAX_RERUNS = 4
#: Seconds a run may take before it counts as hung.
RUN_TIMEOUT = 600


@dataclass(frozen=True)
class Trial:
    """Where to kill: the ``nth`` write of ``direction``, in ``window``.

    ``other_first``: the first rerun is the other direction's pipeline alone (as when it is
    scheduled on its own, or wins the race), then the sync.
    """

    direction: str
    window: str
    nth: int
    other_first: bool = False

    def __str__(self) -> str:
        then = ", other direction first" if self.other_first else ""
        return f"{self.direction} write #{self.nth} {self.window}{then}"

    @property
    def other_pipeline(self) -> tuple[str, str]:
        """The pipeline of the direction that did not crash."""
        if self.direction == "custompms-to-asana":
            return ("tap-asana-talk", "target-custompms")
        return ("tap-custompms", "target-asana-talk")


@dataclass
class TrialResult:
    """What a trial found."""

    trial: Trial
    killed: bool
    reruns: int
    duplicates: int
    lost: int
    mismatched: int
    idle_writes_nothing: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Killed inside the window, and nothing duplicated, lost or changed."""
        return (
            self.killed
            and self.duplicates == self.lost == self.mismatched == 0
            and self.idle_writes_nothing
        )


# --- what both systems hold ---------------------------------------------------------------

#: A record as people see it: (system, kind, name, where it lives) -> its values.
World = dict[tuple[str, ...], list[tuple[Any, ...]]]


def custompms_world(stack: LocalStack) -> World:
    """Every live Custompms record, references as names."""
    with httpx.Client(base_url=stack.custompms.api_url, headers=stack.custompms.headers) as http:

        def all_of(resource: str) -> list[dict[str, Any]]:
            page = http.get(f"/{resource}", params={"limit": 1000}).raise_for_status().json()
            return page["data"]

        customers, projects, tasks = all_of("customers"), all_of("projects"), all_of("tasks")
    names = {
        kind: {r["id"]: r["name"] for r in records}
        for kind, records in (("customer", customers), ("project", projects), ("task", tasks))
    }
    world: World = {}

    def add(key: tuple[str, ...], *values: Any) -> None:
        world.setdefault(key, []).append(values)

    for c in customers:
        add(
            ("custompms", "customer", c["name"], names["customer"].get(c["parent_id"], "")),
            c["description"] or "",
            tuple(sorted(c["email_domains"] or [])),
        )
    for p in projects:
        add(
            ("custompms", "project", p["name"], names["customer"].get(p["customer_id"], "")),
            p["description"] or "",
            p["status"],
            p["start_date"],
            p["end_date"],
            p["owner_email"],
        )
    for t in tasks:
        place = names["task"].get(t["parent_task_id"]) or names["project"].get(t["project_id"])
        add(
            ("custompms", "task", t["name"], place or ""),
            t["description"] or "",
            t["status"],
            t["start_date"],
            t["due_date"],
            t["assignee_email"],
        )
    return world


def _pages(stack: LocalStack, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    params = {**params, "limit": 100}
    while True:
        page = stack.asana.act("get", path, params)
        yield from page["data"]
        offset = (page.get("next_page") or {}).get("offset")
        if not offset:
            return
        params["offset"] = offset


def asana_world(stack: LocalStack) -> World:
    """Every Asana team, project and task of the demo's workspaces, references as names."""
    world: World = {}

    def add(key: tuple[str, ...], *values: Any) -> None:
        world.setdefault(key, []).append(values)

    def email(record: dict[str, Any], name: str) -> str | None:
        return (record.get(name) or {}).get("email")

    task_fields = "name,notes,completed,start_on,due_on,assignee.email"

    def tasks(path: str, params: dict[str, Any], place: str) -> None:
        for task in _pages(stack, path, {**params, "opt_fields": task_fields}):
            add(
                ("asana", "task", task["name"], place),
                task["notes"] or "",
                task["completed"],
                task["start_on"],
                task["due_on"],
                email(task, "assignee"),
            )
            tasks(f"/tasks/{task['gid']}/subtasks", {}, task["name"])

    for workspace in _pages(stack, "/workspaces", {"opt_fields": "name,is_organization"}):
        if workspace["is_organization"]:
            teams = _pages(
                stack, f"/workspaces/{workspace['gid']}/teams", {"opt_fields": "name,description"}
            )
            for team in teams:
                add(("asana", "team", team["name"], workspace["name"]), team["description"] or "")
        fields = "name,notes,archived,start_on,due_on,owner.email,team.name"
        for project in _pages(
            stack, "/projects", {"workspace": workspace["gid"], "opt_fields": fields}
        ):
            place = (project.get("team") or {}).get("name") or workspace["name"]
            add(
                ("asana", "project", project["name"], place),
                project["notes"] or "",
                project["archived"],
                project["start_on"],
                project["due_on"],
                email(project, "owner"),
            )
            tasks("/tasks", {"project": project["gid"]}, project["name"])
    return world


def world_of(stack: LocalStack) -> World:
    """Both systems."""
    return {**custompms_world(stack), **asana_world(stack)}


def compare(found: World, expected: World) -> tuple[int, int, int, list[str]]:
    """Duplicates, lost and mismatched records of ``found`` against ``expected``."""
    duplicates = lost = mismatched = 0
    notes: list[str] = []
    for key in sorted(set(found) | set(expected), key=str):
        have, want = found.get(key, []), expected.get(key, [])
        if len(have) > len(want):
            duplicates += len(have) - len(want)
            notes.append(f"duplicate x{len(have) - len(want)}: {key}")
        elif len(have) < len(want):
            lost += len(want) - len(have)
            notes.append(f"lost x{len(want) - len(have)}: {key}")
        elif Counter(map(repr, have)) != Counter(map(repr, want)):
            mismatched += 1
            notes.append(f"values differ: {key}: {have} != {want}")
    return duplicates, lost, mismatched, notes


# --- one stack ------------------------------------------------------------------------------


@dataclass
class GatedStack:
    """A stack whose plugins reach both servers through write gates."""

    stack: LocalStack
    gates: dict[str, WriteGate]

    @property
    def env(self) -> dict[str, str]:
        return {
            **self.stack.env,
            "ASANA_API_URL": self.gates["asana"].url,
            "CUSTOMPMS_API_URL": self.gates["custompms"].url,
        }

    def writes(self) -> int:
        return sum(gate.writes for gate in self.gates.values())

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        """`meltano ARGS` in a process group of its own (so it can be killed whole)."""
        with log.open("ab") as out:
            return subprocess.Popen(
                [MELTANO, *args],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def run(self, *args: str, log: Path) -> int:
        process = self.start(*args, log=log)
        try:
            return process.wait(RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return -9

    def sync_until_quiet(
        self, log: Path, max_runs: int = MAX_RERUNS
    ) -> tuple[int, bool, list[int]]:
        """Run `sync` until a run writes nothing: (runs, quiet reached, exit codes)."""
        codes = []
        for runs in range(1, max_runs + 1):
            before = self.writes()
            codes.append(self.run("run", "sync", log=log))
            if self.writes() == before and codes[-1] == 0:
                return runs, True, codes
        return max_runs, False, codes


@contextmanager
def gated_stack(
    workdir: Path, *, link_store_url: str | None = None, **options: Any
) -> Iterator[GatedStack]:
    """A fresh stack (demo seed, Custompms sample data) behind two write gates."""
    with ExitStack() as stack:
        running = stack.enter_context(
            local_stack(
                workdir,
                custompms_seed=True,
                link_store_url=link_store_url,
                discover_once=True,
                **options,
            )
        )
        gates = {
            "asana": stack.enter_context(WriteGate(running.asana.api_url, asana_write, "asana")),
            "custompms": stack.enter_context(
                WriteGate(running.custompms.api_url, custompms_write, "custompms")
            ),
        }
        yield GatedStack(running, gates)


@contextmanager
def link_store_locked(url: str) -> Iterator[Callable[[], None]]:
    """A callable that locks the link store against writes until the block ends."""
    held: list[Any] = []

    def lock() -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            connection = sqlite3.connect(parsed.database, timeout=120, check_same_thread=False)
            connection.isolation_level = None
            connection.execute("BEGIN IMMEDIATE")
        else:
            import psycopg

            connection = psycopg.connect(
                parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            )
            connection.execute("LOCK TABLE talk_sync_links IN EXCLUSIVE MODE")
        held.append(connection)

    try:
        yield lock
    finally:
        for connection in held:
            connection.rollback()
            connection.close()


# --- trials ---------------------------------------------------------------------------------


@dataclass
class Reference:
    """A clean run's result: what each trial must end with."""

    world: World
    writes: dict[str, int]  # writes per server in the first sync (where kills can land)


def reference(workdir: Path, **options: Any) -> Reference:
    """Sync a fresh stack until quiet, without a kill."""
    with gated_stack(workdir, **options) as gated:
        log = workdir / "meltano.log"
        first = gated.run("run", "sync", log=log)
        if first != 0:
            raise RuntimeError(f"the clean first sync failed ({first}); see {log}")
        writes = {name: gate.writes for name, gate in gated.gates.items()}
        _runs, quiet, codes = gated.sync_until_quiet(log)
        if not quiet:
            raise RuntimeError(f"the clean run never got quiet ({codes}); see {log}")
        return Reference(world_of(gated.stack), writes)


def run_trial(workdir: Path, trial: Trial, expected: Reference, **options: Any) -> TrialResult:
    """Kill the sync inside the trial's window, rerun until quiet, compare."""
    log = workdir / "meltano.log"
    with gated_stack(workdir, **options) as gated, ExitStack() as cleanup:
        gate = gated.gates[DIRECTIONS[trial.direction]]
        lock = cleanup.enter_context(link_store_locked(gated.stack.link_store_url))
        gate.arm(
            trial.nth, trial.window, before_delivery=lock if trial.window == "delivered" else None
        )
        process = gated.start("run", "sync", log=log)
        while process.poll() is None and not gate.held.wait(0.05):
            pass
        killed = gate.held.is_set() and process.poll() is None
        if killed:
            if trial.window == "delivered":
                time.sleep(0.3)  # the target reads the answer, then waits for the locked store
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        cleanup.close()  # unlock the link store
        gate.release(forward=trial.window != "before")
        notes = [] if killed else [f"not killed: the run ended ({process.returncode}) first"]
        if trial.other_first:
            code = gated.run("run", *trial.other_pipeline, log=log)
            if code != 0:
                notes.append(f"the other direction's pipeline exited {code}")
        runs, quiet, codes = gated.sync_until_quiet(log)
        if any(code != 0 for code in codes):
            notes.append(f"rerun exit codes {codes}")
        duplicates, lost, mismatched, differences = compare(world_of(gated.stack), expected.world)
        return TrialResult(
            trial, killed, runs, duplicates, lost, mismatched, quiet, notes + differences
        )


def plan_trials(
    count: int,
    expected: Reference,
    seed: int,
    directions: tuple[str, ...] = tuple(DIRECTIONS),
    windows: tuple[str, ...] = WINDOWS,
) -> list[Trial]:
    """``count`` trials cycling over the directions and the windows."""
    rng = random.Random(seed)
    combos = [(d, w) for d in directions for w in windows]
    trials = []
    for index in range(count):
        direction, window = combos[index % len(combos)]
        writes = expected.writes[DIRECTIONS[direction]]
        other_first = (index // len(combos)) % 2 == 1  # every other round
        trials.append(Trial(direction, window, rng.randint(1, max(writes, 1)), other_first))
    return trials


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


def render(results: list[TrialResult]) -> str:
    """The campaign's table and summary."""
    header = f"{'trial':<66} {'killed':>6} {'reruns':>6} {'dup':>4} {'lost':>4} {'diff':>4}"
    lines = [f"{header} idle-quiet"]
    for r in results:
        lines.append(
            f"{r.trial!s:<44} {_yes(r.killed):>6} {r.reruns:>6} "
            f"{r.duplicates:>4} {r.lost:>4} {r.mismatched:>4} {_yes(r.idle_writes_nothing)}"
        )
        lines.extend(f"    {note}" for note in r.notes[:10])
    ok = sum(r.ok for r in results)
    idle = _yes(all(r.idle_writes_nothing for r in results))
    lines.append(
        f"{len(results)} trials, {ok} clean: duplicates {sum(r.duplicates for r in results)}, "
        f"lost {sum(r.lost for r in results)}, mismatched {sum(r.mismatched for r in results)}, "
        f"idle sync writes nothing: {idle}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--workdir", type=Path, default=PROJECT_ROOT / ".crash-campaign")
    parser.add_argument(
        "--postgres", action="store_true", help="link store on a throwaway PostgreSQL"
    )
    parser.add_argument(
        "--directions", nargs="+", choices=list(DIRECTIONS), default=list(DIRECTIONS)
    )
    parser.add_argument("--windows", nargs="+", choices=WINDOWS, default=list(WINDOWS))
    args = parser.parse_args(argv)
    try:
        install_plugins()
    except MeltanoError as error:
        print(error, file=sys.stderr)
        return 1
    shutil.rmtree(args.workdir, ignore_errors=True)  # a previous campaign's link stores
    with ExitStack() as stack:
        link_store: Callable[[str], str | None] = lambda _name: None  # noqa: E731
        if args.postgres:
            from talk_sync.testing.postgres import running_postgres

            cluster = stack.enter_context(running_postgres())
            link_store = cluster.create_database
        started = time.monotonic()
        expected = reference(args.workdir / "reference", link_store_url=link_store("reference"))
        print(
            f"reference: {sum(map(len, expected.world.values()))} records, writes {expected.writes}"
        )
        results = []
        for index, trial in enumerate(
            plan_trials(
                args.trials, expected, args.seed, tuple(args.directions), tuple(args.windows)
            )
        ):
            workdir = args.workdir / f"trial-{index:02d}"
            result = run_trial(
                workdir, trial, expected, link_store_url=link_store(f"trial_{index}")
            )
            print(render([result]).splitlines()[1], flush=True)
            results.append(result)
        print(render(results))
        print(f"campaign took {time.monotonic() - started:.0f}s")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
