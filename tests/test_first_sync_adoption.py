"""The first sync on live data (issue #13): both systems already hold the same records.

Asana holds the sandbox's ``overlap`` seed (asana_sandbox/seeds/overlap.py), Custompms the
reference server's ``overlap`` seed (custompms/seed.py): mostly the same customers,
projects and tasks, some spelt differently, some with other values, some on one side only,
and one ambiguous case. :data:`EXPECTED` is what the first `sync` must make of them, as
data: the pairs it adopts (links instead of duplicating), the fields that differ and which
side wins them under the default ``adopt_policy`` (``newer_wins``), the records only one
side has (created on the other), and the ambiguous set (neither linked nor created).

Records are named by their path *before* the first sync, on their own side: Asana
``team/project/task/subtask`` (a workspace or a team by its name), Custompms
``customer/project/task/subtask`` (a customer by its name, without its parent). A path that
occurs twice gets ``#1``, ``#2`` in listing order (creation order).

The steps share one stack (the module's ``overlap`` fixture), in order:

0. the seeds hold what EXPECTED says (no sync: checks the seeds, not the engine);
a. a preview (``meltano run preview``: both targets' ``dry_run``) writes nothing anywhere,
   links nothing, and its reports list the would-be adoptions, creates and the ambiguous
   record;
b. the first real sync creates only the one-sided records, links every unambiguous pair
   (each Custompms record then carries its Asana ref as ``external_id``), leaves the policy
   winner's value on both sides of each differing field, and reports the "Review"s as
   ambiguous; its job exits 1 (the stuck record fails ``talk-sync unlock``);
c. a person links one "Review" pair (``talk-sync links link``); the next sync exits 0, the
   pair converges, the other Asana "Review" is created in Custompms;
d. an idle sync writes nothing on either side.

Then, on the demo seeds (Asana ``demo``, Custompms ``sample``) after a full sync: a link
store rebuilt from the Custompms ``external_id``s (``talk-sync links rebuild``) makes a full
sync write nothing; an empty link store never duplicates a record.

The reports' ``adoptions`` entries name each adopted pair (``asana``, ``custompms``) and its
differing fields; ``ambiguous`` entries name the record and its candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from local_stack import local_stack
from local_stack.systems import Systems
from talk_sync import LinkStatus, LinkStore

pytestmark = pytest.mark.e2e


# --- what the first sync must do -----------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    """A field an adopted pair holds two values of, and the side whose value both keep.

    ``field`` and both values in Custompms' terms (Asana's ``completed`` as ``status``
    ``open``/``done``, ``notes`` as ``description``, ``due_on`` as ``due_date`` or
    ``end_date``).
    """

    field: str
    asana: Any
    custompms: Any
    winner: str  # "asana" or "custompms"
    why: str

    @property
    def result(self) -> Any:
        """What both sides hold after the first sync."""
        return self.asana if self.winner == "asana" else self.custompms


@dataclass(frozen=True)
class Pair:
    """Two records, one on each side, that the first sync links (adopts)."""

    flow: str
    asana: str  # Asana path
    custompms: str  # Custompms path
    diffs: tuple[Diff, ...] = ()


@dataclass(frozen=True)
class Expected:
    """The outcome of the first sync of the two ``overlap`` seeds."""

    asana_before: Mapping[str, int]
    custompms_before: Mapping[str, int]
    pairs: tuple[Pair, ...]
    #: Records only Asana has: (flow, Asana path), created in Custompms.
    only_in_asana: tuple[tuple[str, str], ...]
    #: Records only Custompms has: (flow, Custompms path), created in Asana.
    only_in_custompms: tuple[tuple[str, str], ...]
    #: Two Asana records that want one Custompms record: no link, no create, reported.
    ambiguous_asana: tuple[str, ...]
    ambiguous_custompms: tuple[str, ...]
    asana_after: Mapping[str, int]
    custompms_after: Mapping[str, int]


ASANA_NEWER = "Asana modified 2026-09-01, Custompms updated 2026-06-01"
CUSTOMPMS_NEWER = "Asana modified 2026-03-01, Custompms updated 2026-06-01"
NO_ASANA_TIME = "Asana teams have no timestamp: Custompms wins, as in conflicts"

EXPECTED = Expected(
    asana_before={"workspaces": 1, "teams": 3, "projects": 5, "tasks": 12},
    custompms_before={"customers": 4, "projects": 6, "tasks": 10},
    pairs=(
        Pair("workspace_customer", "Northwind Consulting", "Northwind Consulting"),
        Pair(
            "team_customer",
            "Globex",
            "GLOBEX",
            (Diff("name", "Globex", "GLOBEX", "custompms", NO_ASANA_TIME),),
        ),
        Pair("team_customer", "Initech", "Initech"),
        Pair(
            "project_project",
            "Globex/ERP migration",
            "GLOBEX/ERP Migration",
            (Diff("name", "ERP migration", "ERP Migration", "asana", ASANA_NEWER),),
        ),
        Pair(
            "project_project",
            "Initech/Reporting revamp",
            "Initech/Reporting revamp",
            (Diff("end_date", "2026-12-31", "2026-12-15", "custompms", CUSTOMPMS_NEWER),),
        ),
        Pair("project_project", "Initech/Client projects", "Initech/Client projects"),
        # A card of the "Client projects" board: its customer is the board's (Initech).
        Pair(
            "board_task_project",
            "Initech/Client projects/Initech: Payroll upgrade",
            "Initech/Initech: Payroll upgrade",
        ),
        Pair(
            "task_task",
            "Globex/ERP migration/Kickoff meeting",
            "GLOBEX/ERP Migration/Kickoff meeting",
        ),
        Pair(
            "task_task",
            "Globex/ERP migration/Data mapping",
            "GLOBEX/ERP Migration/Data mapping",
            (Diff("due_date", "2026-10-15", "2026-10-01", "asana", ASANA_NEWER),),
        ),
        Pair(
            "task_task",
            "Globex/ERP migration/Data mapping/Customer table",
            "GLOBEX/ERP Migration/Data mapping/Customer table",
        ),
        Pair(
            "task_task",
            "Globex/ERP migration/Cut-over plan",
            "GLOBEX/ERP Migration/Cut-over plan",
            (
                Diff(
                    "description",
                    "Draft.",
                    "Weekend cut-over; rollback by Sunday noon.",
                    "custompms",
                    CUSTOMPMS_NEWER,
                ),
            ),
        ),
        Pair(
            "task_task",
            "Initech/Reporting revamp/KPI definitions",
            "Initech/Reporting revamp/KPI  Definitions ",
            (Diff("name", "KPI definitions", "KPI  Definitions ", "asana", ASANA_NEWER),),
        ),
        Pair(
            "task_task",
            "Initech/Reporting revamp/Dashboard mockups",
            "Initech/Reporting revamp/Dashboard mockups",
            (Diff("status", "open", "done", "custompms", CUSTOMPMS_NEWER),),
        ),
        # A subtask of a board card in Asana is a top-level task of its project in Custompms.
        Pair(
            "task_task",
            "Initech/Client projects/Initech: Payroll upgrade/Requirements workshop",
            "Initech/Initech: Payroll upgrade/Requirements workshop",
        ),
    ),
    only_in_asana=(
        ("team_customer", "Hooli"),
        ("project_project", "Globex/Data warehouse"),
        ("project_project", "Hooli/Search relaunch"),
        ("task_task", "Globex/ERP migration/Load testing"),
        ("task_task", "Hooli/Search relaunch/Index audit"),
    ),
    only_in_custompms=(
        ("team_customer", "Soylent"),  # a child of the workspace's customer: a team
        ("project_project", "GLOBEX/Support contract"),
        ("project_project", "Soylent/Green launch"),
        ("task_task", "GLOBEX/ERP Migration/User training"),
        ("task_task", "Soylent/Green launch/Supplier list"),
    ),
    ambiguous_asana=("Initech/Reporting revamp/Review#1", "Initech/Reporting revamp/Review#2"),
    ambiguous_custompms=("Initech/Reporting revamp/Review",),
    asana_after={"workspaces": 1, "teams": 4, "projects": 7, "tasks": 14},
    custompms_after={"customers": 5, "projects": 8, "tasks": 12},
)


# --- reading both systems ------------------------------------------------------------------

ASANA_RESOURCES = {
    "workspace": "workspaces",
    "team": "teams",
    "project": "projects",
    "task": "tasks",
}
PMS_RESOURCES = {"customer": "customers", "project": "projects", "task": "tasks"}
REF = re.compile(r"\b(?:asana|custompms)-[a-z]+:\d+\b")


def _numbered(found: dict[str, list[str]]) -> dict[str, str]:
    paths = {}
    for path, refs in found.items():
        if len(refs) == 1:
            paths[path] = refs[0]
        else:
            paths.update({f"{path}#{n}": ref for n, ref in enumerate(refs, 1)})
    return paths


def asana_paths(systems: Systems) -> dict[str, str]:
    """Every Asana record the token sees: path -> ref."""
    act = systems.stack.asana.act
    found: dict[str, list[str]] = {}

    def listed(path: str) -> list[dict[str, Any]]:
        return act("get", path, {"opt_fields": "name"})["data"]

    def tasks(path: str, listing: list[dict[str, Any]]) -> None:
        for task in listing:
            found.setdefault(f"{path}/{task['name']}", []).append(f"asana-task:{task['gid']}")
            tasks(f"{path}/{task['name']}", listed(f"/tasks/{task['gid']}/subtasks"))

    for workspace in listed("/workspaces"):
        found.setdefault(workspace["name"], []).append(f"asana-workspace:{workspace['gid']}")
        for team in listed(f"/workspaces/{workspace['gid']}/teams"):
            found.setdefault(team["name"], []).append(f"asana-team:{team['gid']}")
            for project in listed(f"/teams/{team['gid']}/projects"):
                path = f"{team['name']}/{project['name']}"
                found.setdefault(path, []).append(f"asana-project:{project['gid']}")
                tasks(path, listed(f"/projects/{project['gid']}/tasks"))
    return _numbered(found)


def custompms_paths(systems: Systems) -> dict[str, str]:
    """Every live Custompms record: path -> ref."""
    live = {
        resource: {r["id"]: r for r in systems.pms_all(resource) if r["deleted_at"] is None}
        for resource in PMS_RESOURCES.values()
    }
    found: dict[str, list[str]] = {}

    def task_path(task: dict[str, Any]) -> str:
        if task["parent_task_id"] is not None:
            return f"{task_path(live['tasks'][task['parent_task_id']])}/{task['name']}"
        project = live["projects"][task["project_id"]]
        return (
            f"{live['customers'][project['customer_id']]['name']}/{project['name']}/{task['name']}"
        )

    for customer in live["customers"].values():
        found.setdefault(customer["name"], []).append(f"custompms-customer:{customer['id']}")
    for project in live["projects"].values():
        path = f"{live['customers'][project['customer_id']]['name']}/{project['name']}"
        found.setdefault(path, []).append(f"custompms-project:{project['id']}")
    for task in live["tasks"].values():
        found.setdefault(task_path(task), []).append(f"custompms-task:{task['id']}")
    return _numbered(found)


def counts(paths: Mapping[str, str], kinds: Mapping[str, str]) -> dict[str, int]:
    """Records per type, e.g. ``{"teams": 3, ...}``."""
    refs = set(paths.values())
    return {
        plural: sum(1 for ref in refs if ref.split(":")[0].split("-")[1] == kind)
        for kind, plural in kinds.items()
    }


def record(systems: Systems, ref: str) -> dict[str, Any]:
    """The record a ref names, as its system serves it (Asana: the fields systems.FIELDS)."""
    kind, _, key = ref.partition(":")
    side, record_type = kind.split("-")
    if side == "asana":
        return systems.asana(ASANA_RESOURCES[record_type], key)
    return systems.pms(PMS_RESOURCES[record_type], int(key))


def in_custompms_terms(flow: str, asana: Mapping[str, Any]) -> dict[str, Any]:
    """The values an Asana record gives its Custompms twin (the fields both sides hold)."""

    def email(user: Mapping[str, Any] | None) -> str | None:
        return user["email"] if user else None

    values: dict[str, Any] = {"name": asana["name"]}
    if flow == "team_customer":
        values["description"] = asana["description"] or None
    elif flow == "project_project":
        values.update(
            description=asana["notes"] or None,
            status="archived"
            if asana["archived"]
            else ("completed" if asana["completed"] else "active"),
            start_date=asana["start_on"],
            end_date=asana["due_on"],
            owner_email=email(asana["owner"]),
        )
    elif flow == "board_task_project":
        values.update(
            description=asana["notes"] or None,
            status="completed" if asana["completed"] else "active",
            start_date=asana["start_on"],
            end_date=asana["due_on"],
            owner_email=email(asana["assignee"]),
        )
    elif flow == "task_task":
        values.update(
            description=asana["notes"] or None,
            status="done" if asana["completed"] else "open",
            start_date=asana["start_on"],
            due_date=asana["due_on"],
            assignee_email=email(asana["assignee"]),
        )
    return values


def shared_values(flow: str, custompms: Mapping[str, Any]) -> dict[str, Any]:
    """A Custompms record's values of the fields :func:`in_custompms_terms` gives."""
    fields = in_custompms_terms(flow, _BLANK_ASANA).keys()
    values = {name: custompms[name] for name in fields}
    if "description" in values:
        values["description"] = values["description"] or None
    return values


_BLANK_ASANA: dict[str, Any] = dict.fromkeys(
    ("name", "description", "notes", "archived", "completed", "start_on", "due_on"), None
) | {"owner": None, "assignee": None}


def pair_values(
    systems: Systems, flow: str, asana_ref: str, custompms_ref: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both records' shared values, in Custompms' terms: (Asana's, Custompms')."""
    asana = in_custompms_terms(flow, record(systems, asana_ref))
    return asana, shared_values(flow, record(systems, custompms_ref))


def linked_to(systems: Systems, ref: str) -> str | None:
    """The other side's ref of a linked record (``None``: not linked)."""
    with LinkStore(systems.stack.workdir / "links.db") as store:
        link = store.find(ref)
        if link is None or link.status is not LinkStatus.LINKED:
            return None
        other = link.custompms if ref.startswith("asana-") else link.asana
        return str(other) if other else None


def linked_pairs(systems: Systems) -> set[tuple[str, str]]:
    """Every linked pair in the link store: (Asana ref, Custompms ref)."""
    with LinkStore(systems.stack.workdir / "links.db") as store:
        return {
            (str(link.asana), str(link.custompms)) for link in store.links(status=LinkStatus.LINKED)
        }


# --- reading the run reports ---------------------------------------------------------------


def refs_in(value: Any) -> set[str]:
    """Every record ref named anywhere in a report entry."""
    if isinstance(value, str):
        return set(REF.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(refs_in(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(refs_in(v) for v in value))
    return set()


def adoptions(report: Mapping[str, Any]) -> set[frozenset[str]]:
    """The pairs a report says were (or, in a dry run, would be) adopted."""
    return {frozenset((entry["asana"], entry["custompms"])) for entry in report["adoptions"]}


def ambiguities(report: Mapping[str, Any]) -> set[str]:
    """Every ref the report's ambiguous entries name (records and their candidates)."""
    return refs_in(report.get("ambiguous", []))


def created(report: Mapping[str, Any]) -> set[str]:
    """The records a dry run's report lists as would-be created."""
    return {c["record"] for c in report["changes"] if c["outcome"] == "created"}


# --- the overlap stack ---------------------------------------------------------------------


@dataclass
class Overlap:
    """The module's stack, both systems' records by path before any sync, steps done."""

    systems: Systems
    asana: dict[str, str]
    custompms: dict[str, str]
    done: set[str] = field(default_factory=set)

    def pair_refs(self, pair: Pair) -> tuple[str, str]:
        return self.asana[pair.asana], self.custompms[pair.custompms]

    def needs(self, step: str) -> None:
        if step not in self.done:
            pytest.fail(f"this step needs the earlier step {step!r}, which did not run")


@pytest.fixture(scope="module")
def overlap(tmp_path_factory: pytest.TempPathFactory, meltano_installed: None) -> Iterator[Overlap]:
    with local_stack(
        tmp_path_factory.mktemp("overlap"),
        asana_seed="overlap",
        custompms_seed="overlap",
        discover_once=True,
    ) as stack:
        systems = Systems(stack)
        yield Overlap(systems, asana_paths(systems), custompms_paths(systems))
        systems.http.close()


def test_0_the_seeds_hold_what_expected_says(overlap: Overlap) -> None:
    """No sync yet: every path of EXPECTED exists, the pairs differ exactly as listed."""
    s, exp = overlap.systems, EXPECTED
    assert counts(overlap.asana, ASANA_RESOURCES) == exp.asana_before
    assert counts(overlap.custompms, PMS_RESOURCES) == exp.custompms_before
    named_asana = [p.asana for p in exp.pairs] + [path for _, path in exp.only_in_asana]
    named_custompms = [p.custompms for p in exp.pairs] + [path for _, path in exp.only_in_custompms]
    assert sorted(named_asana + list(exp.ambiguous_asana)) == sorted(overlap.asana)
    assert sorted(named_custompms + list(exp.ambiguous_custompms)) == sorted(overlap.custompms)
    for pair in exp.pairs:
        asana, custompms = pair_values(s, pair.flow, *overlap.pair_refs(pair))
        differing = {name for name in asana if asana[name] != custompms[name]}
        assert differing == {d.field for d in pair.diffs}, (pair, asana, custompms)
        for diff in pair.diffs:
            assert (asana[diff.field], custompms[diff.field]) == (diff.asana, diff.custompms)
    assert all(r["external_id"] is None for res in PMS_RESOURCES.values() for r in s.pms_all(res))


def test_a_preview_writes_nothing_and_reports_what_the_sync_would_do(overlap: Overlap) -> None:
    s, exp, stack = overlap.systems, EXPECTED, overlap.systems.stack
    asana_before = {ref: record(s, ref) for ref in overlap.asana.values()}
    versions = s.versions()
    stack.asana.reset_stats()
    reports = s.sync(job="preview")  # the README's first step: both targets' dry_run on
    overlap.done.add("preview")

    # Nothing written anywhere, nothing linked.
    assert stack.asana.stats()["writes"] == 0
    assert asana_paths(s) == overlap.asana
    assert {ref: record(s, ref) for ref in overlap.asana.values()} == asana_before
    assert s.versions() == versions
    assert custompms_paths(s) == overlap.custompms
    with LinkStore(stack.workdir / "links.db") as store:
        assert store.links() == []
        assert store.rejects() == []

    # What the sync would do: adopt every pair (whichever direction meets it first), create
    # the one-sided records, and neither link nor create the "Review"s.
    to_asana, to_custompms = reports["custompms -> asana"], reports["asana -> custompms"]
    assert to_asana["dry_run"] is to_custompms["dry_run"] is True
    expected_pairs = {frozenset(overlap.pair_refs(pair)) for pair in exp.pairs}
    assert adoptions(to_asana) | adoptions(to_custompms) == expected_pairs
    assert created(to_asana) == {overlap.custompms[path] for _, path in exp.only_in_custompms}
    assert created(to_custompms) == {overlap.asana[path] for _, path in exp.only_in_asana}
    reviews = {overlap.asana[p] for p in exp.ambiguous_asana}
    reviews |= {overlap.custompms[p] for p in exp.ambiguous_custompms}
    assert ambiguities(to_asana) | ambiguities(to_custompms) == reviews


def test_b_the_first_sync_adopts_pairs_creates_one_sided_records_and_leaves_the_ambiguous(
    overlap: Overlap,
) -> None:
    s, exp = overlap.systems, EXPECTED
    reports = s.sync(expect_exit=None)
    overlap.done.add("first sync")
    result = s.last_run
    assert result is not None

    # Only the one-sided records were created, once each.
    assert counts(asana_paths(s), ASANA_RESOURCES) == exp.asana_after
    assert counts(custompms_paths(s), PMS_RESOURCES) == exp.custompms_after
    for side_paths, flow, path in [
        *((overlap.asana, flow, path) for flow, path in exp.only_in_asana),
        *((overlap.custompms, flow, path) for flow, path in exp.only_in_custompms),
    ]:
        ref = side_paths[path]
        twin = linked_to(s, ref)
        assert twin is not None, f"{path} ({ref}) was not created on the other side"
        assert record(s, twin)["name"] == record(s, ref)["name"], (flow, path)

    # Every unambiguous pair is linked, and holds the policy winner's values on both sides.
    links = linked_pairs(s)
    for pair in exp.pairs:
        asana_ref, custompms_ref = overlap.pair_refs(pair)
        assert (asana_ref, custompms_ref) in links, f"not adopted: {pair}"
        asana, custompms = pair_values(s, pair.flow, asana_ref, custompms_ref)
        assert asana == custompms, f"{pair.asana}: the pair still differs"
        for diff in pair.diffs:
            assert asana[diff.field] == diff.result, f"{pair.asana}: {diff}"
    assert len(links) == len(exp.pairs) + len(exp.only_in_asana) + len(exp.only_in_custompms)

    # Every linked Custompms record now names its Asana twin.
    for asana_ref, custompms_ref in links:
        assert record(s, custompms_ref)["external_id"] == asana_ref

    # The "Review"s: neither linked nor duplicated, reported with the candidates' refs.
    reviews = [overlap.asana[p] for p in exp.ambiguous_asana]
    reviews += [overlap.custompms[p] for p in exp.ambiguous_custompms]
    assert [linked_to(s, ref) for ref in reviews] == [None] * len(reviews)
    assert ambiguities(reports["custompms -> asana"]) | ambiguities(
        reports["asana -> custompms"]
    ) == set(reviews)

    # The stuck "Review" fails the job at its end (talk-sync unlock), after both blocks ran.
    assert result.returncode == 1, result.stderr[-4000:]
    assert "the sync left stuck records" in result.stderr
    assert any(ref in result.stderr for ref in reviews), result.stderr[-4000:]


def test_c_a_person_links_the_ambiguous_pair_and_the_next_sync_converges(
    overlap: Overlap,
) -> None:
    overlap.needs("first sync")
    s, exp = overlap.systems, EXPECTED
    first, second = (overlap.asana[p] for p in exp.ambiguous_asana)
    (custompms_review,) = (overlap.custompms[p] for p in exp.ambiguous_custompms)
    s.stack.meltano("invoke", "talk-sync", "links", "link", first, custompms_review)
    assert linked_to(s, first) == custompms_review

    s.sync()
    overlap.done.add("linked sync")
    asana, custompms = pair_values(s, "task_task", first, custompms_review)
    assert asana == custompms
    # The other "Review" has no candidate left: it is created in Custompms.
    created_review = linked_to(s, second)
    assert created_review is not None
    assert record(s, created_review)["name"] == "Review"
    assert record(s, created_review)["external_id"] == second
    assert counts(asana_paths(s), ASANA_RESOURCES) == exp.asana_after
    assert counts(custompms_paths(s), PMS_RESOURCES) == {
        **exp.custompms_after,
        "tasks": exp.custompms_after["tasks"] + 1,
    }


def test_d_then_an_idle_sync_writes_nothing(overlap: Overlap) -> None:
    overlap.needs("linked sync")
    overlap.systems.assert_idle_sync_writes_nothing()


# --- a lost link store, on the demo seeds ---------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, meltano_installed: None) -> Iterator[Systems]:
    """The demo seeds (Asana ``demo``, Custompms ``sample``) after a full sync."""
    with local_stack(
        tmp_path_factory.mktemp("demo"), custompms_seed=True, discover_once=True
    ) as stack:
        systems = Systems(stack)
        systems.sync()
        yield systems
        systems.http.close()


def delete_link_store(systems: Systems) -> None:
    for path in systems.stack.workdir.glob("links.db*"):  # the SQLite file, its WAL and SHM
        Path(path).unlink()


def test_a_link_store_rebuilt_from_external_ids_makes_a_full_sync_write_nothing(
    demo: Systems,
) -> None:
    s = demo
    delete_link_store(s)
    s.stack.meltano("invoke", "talk-sync", "links", "rebuild")
    named = {
        (r["external_id"], f"custompms-{resource[:-1]}:{r['id']}")
        for resource in PMS_RESOURCES.values()
        for r in s.pms_all(resource)
        if (r["external_id"] or "").startswith("asana-") and r["deleted_at"] is None
    }
    assert linked_pairs(s) == named

    asana_before, custompms_before = asana_paths(s), custompms_paths(s)
    versions = s.versions()
    s.stack.asana.reset_stats()
    # A full read of both systems: every record meets its rebuilt link (or its twin).
    reports = s.sync("--full-refresh")
    assert s.stack.asana.stats()["writes"] == 0, reports["custompms -> asana"]["flows"]
    assert s.versions() == versions, reports["asana -> custompms"]["flows"]
    assert (asana_paths(s), custompms_paths(s)) == (asana_before, custompms_before)
    for report in reports.values():
        assert report["totals"]["created"] == report["totals"]["updated"] == 0, report["flows"]


def test_an_empty_link_store_duplicates_nothing(demo: Systems) -> None:
    """Without a rebuild too: a record whose external_id names its Asana twin is linked to
    it, and the others are adopted by name."""
    s = demo
    delete_link_store(s)
    asana_before, custompms_before = asana_paths(s), custompms_paths(s)
    s.sync("--full-refresh")
    assert counts(custompms_paths(s), PMS_RESOURCES) == counts(custompms_before, PMS_RESOURCES)
    assert counts(asana_paths(s), ASANA_RESOURCES) == counts(asana_before, ASANA_RESOURCES)
