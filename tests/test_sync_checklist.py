"""The QA checklist, flow by flow, through `meltano run sync` (both directions).

One stack for the module (Asana sandbox with the demo seed, an empty Custompms, and an
initial `sync` that links everything); each scenario then edits both systems and runs
`sync` once or twice. Scenarios touch distinct records, so a failure names its flow and
scenario. After every scenario a further `sync` must write nothing on either side: no
applied write in the sandbox's stats, no Custompms record with a new version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from local_stack import local_stack
from local_stack.systems import Systems
from talk_sync import LinkStatus, LinkStore

pytestmark = pytest.mark.e2e

ACME, PERSONAL = "1200000000000001", "1200000000000002"
DELIVERY, SALES, OPERATIONS = "1200000000000011", "1200000000000012", "1200000000000013"
BOARD, WEBSITE, MOBILE, PIPELINE = (
    "1200000000000014",
    "1200000000000064",
    "1200000000000087",
    "1200000000000110",
)
HIRING, READING = "1200000000000165", "1200000000000186"
#: Board tasks (flow 4) and tasks (flow 5) of the demo seed, by name.
NORTHWIND, CONTOSO, FABRIKAM, INITECH, UMBRELLA = (
    "1200000000000019",
    "1200000000000023",
    "1200000000000028",
    "1200000000000037",
    "1200000000000041",
)
AUDIT, WIREFRAMES, CONTENT, SEO, GO_LIVE, RETRO = (
    "1200000000000068",
    "1200000000000070",
    "1200000000000074",
    "1200000000000078",
    "1200000000000080",
    "1200000000000083",
)
OFFLINE, PUSH, BETA, STORE_RELEASE, CRASH = (
    "1200000000000094",
    "1200000000000099",
    "1200000000000101",
    "1200000000000104",
    "1200000000000108",
)
WEBINAR, TEMPLATES, PRICING, RENEWALS = (
    "1200000000000116",
    "1200000000000120",
    "1200000000000124",
    "1200000000000126",
)
BOOK = "1200000000000189"  # "The Phoenix Project", in the personal workspace


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory, meltano_installed: None) -> Iterator[Systems]:
    """Both servers, an initial `sync` done (every demo record linked both ways).

    The stack sets ASANA_WORKSPACE_GID to the demo's organization (Acme): new top-level
    Custompms customers become Acme teams.
    """
    with local_stack(tmp_path_factory.mktemp("checklist"), discover_once=True) as stack:
        systems = Systems(stack)
        systems.initial = systems.sync()  # type: ignore[attr-defined]
        yield systems
        systems.http.close()


# --- the checklist -------------------------------------------------------------------------


def test_initial_sync_links_every_flow_and_a_second_sync_writes_nothing(
    systems: Systems,
) -> None:
    forward = systems.initial["asana -> custompms"]  # type: ignore[attr-defined]
    reverse = systems.initial["custompms -> asana"]  # type: ignore[attr-defined]
    assert forward["totals"]["created"] == 158
    assert {flow: counts["created"] for flow, counts in forward["flows"].items()} == {
        "workspace_customer": 2,
        "team_customer": 3,
        "project_project": 8,
        "board_task_project": 10,
        "task_task": 135,
    }
    # Custompms -> Asana runs first in the `sync` job: it found Custompms empty.
    assert reverse["totals"]["created"] == reverse["totals"]["updated"] == 0
    # What Asana -> Custompms wrote comes back through Custompms -> Asana on the next sync
    # unchanged: no echo, no write.
    idle = systems.assert_idle_sync_writes_nothing()
    assert idle["custompms -> asana"]["totals"]["unchanged"] == 158


def test_edits_on_either_side_arrive_in_every_flow(systems: Systems) -> None:
    s = systems
    # Asana -> Custompms, one record per flow.
    s.asana_edit("workspaces", PERSONAL, name="Personal (renamed in Asana)")
    s.asana_edit("teams", OPERATIONS, description="Facilities and people")
    s.asana_edit("projects", HIRING, notes="Hiring plan for 2026")
    s.asana_edit("tasks", CONTOSO, name="Contoso Retail: Loyalty app v2")
    s.asana_edit("tasks", WIREFRAMES, due_on="2026-02-20")
    # Custompms -> Asana, one record per flow.
    acme = s.pms_of("customers", f"asana-workspace:{ACME}")
    s.pms_edit("customers", acme["id"], name="Acme Consulting Group")
    sales = s.pms_of("customers", f"asana-team:{SALES}")
    s.pms_edit("customers", sales["id"], description="Sales and partnerships")
    pipeline = s.pms_of("projects", f"asana-project:{PIPELINE}")
    s.pms_edit("projects", pipeline["id"], name="Q3 pipeline review", end_date="2026-09-30")
    fabrikam = s.pms_of("projects", f"asana-task:{FABRIKAM}")
    s.pms_edit("projects", fabrikam["id"], description="Portal for patients", status="completed")
    content = s.pms_of("tasks", f"asana-task:{CONTENT}")
    s.pms_edit(
        "tasks",
        content["id"],
        name="Content migration (phase 1)",
        assignee_email="priya.shah@acme-consulting.example",
        start_date="2026-02-01",
        due_date="2026-02-28",
    )

    s.sync()

    assert s.pms_of("customers", f"asana-workspace:{PERSONAL}")["name"] == (
        "Personal (renamed in Asana)"
    )
    assert s.pms_of("customers", f"asana-team:{OPERATIONS}")["description"] == (
        "Facilities and people"
    )
    assert s.pms_of("projects", f"asana-project:{HIRING}")["description"] == (
        "Hiring plan for 2026"
    )
    assert s.pms_of("projects", f"asana-task:{CONTOSO}")["name"] == "Contoso Retail: Loyalty app v2"
    assert s.pms_of("tasks", f"asana-task:{WIREFRAMES}")["due_date"] == "2026-02-20"
    assert s.asana("workspaces", ACME)["name"] == "Acme Consulting Group"
    assert s.asana("teams", SALES)["description"] == "Sales and partnerships"
    assert (s.asana("projects", PIPELINE)["name"], s.asana("projects", PIPELINE)["due_on"]) == (
        "Q3 pipeline review",
        "2026-09-30",
    )
    board_task = s.asana("tasks", FABRIKAM)
    assert (board_task["notes"], board_task["completed"]) == ("Portal for patients", True)
    task = s.asana("tasks", CONTENT)
    assert (task["name"], task["assignee"]["email"]) == (
        "Content migration (phase 1)",
        "priya.shah@acme-consulting.example",
    )
    assert (task["start_on"], task["due_on"]) == ("2026-02-01", "2026-02-28")
    s.assert_idle_sync_writes_nothing()


def test_different_fields_edited_on_both_sides_are_both_kept(systems: Systems) -> None:
    s = systems
    cases = [  # (Asana resource, gid, Custompms resource, Asana edit, Custompms edit)
        ("teams", DELIVERY, "customers", {"name": "Delivery EMEA"}, {"description": "Ships"}),
        ("projects", MOBILE, "projects", {"notes": "Native rewrite"}, {"name": "Mobile app v3"}),
        ("tasks", INITECH, "projects", {"due_on": "2026-06-30"}, {"name": "Initech: Reports"}),
        ("tasks", OFFLINE, "tasks", {"notes": "Sync queue on device"}, {"name": "Offline-first"}),
    ]
    records = {}
    for resource, gid, pms_resource, asana_edit, pms_edit in cases:
        record = s.pms_of(pms_resource, f"asana-{resource[:-1]}:{gid}")
        records[gid] = record["id"]
        s.asana_edit(resource, gid, **asana_edit)
        s.pms_edit(pms_resource, record["id"], **pms_edit)

    reports = s.sync()

    assert (s.asana("teams", DELIVERY)["name"], s.asana("teams", DELIVERY)["description"]) == (
        "Delivery EMEA",
        "Ships",
    )
    delivery = s.pms("customers", records[DELIVERY])
    assert (delivery["name"], delivery["description"]) == ("Delivery EMEA", "Ships")
    mobile = s.pms("projects", records[MOBILE])
    assert (mobile["name"], mobile["description"]) == ("Mobile app v3", "Native rewrite")
    assert (s.asana("projects", MOBILE)["name"], s.asana("projects", MOBILE)["notes"]) == (
        "Mobile app v3",
        "Native rewrite",
    )
    initech = s.pms("projects", records[INITECH])
    assert (initech["name"], initech["end_date"]) == ("Initech: Reports", "2026-06-30")
    assert (s.asana("tasks", INITECH)["name"], s.asana("tasks", INITECH)["due_on"]) == (
        "Initech: Reports",
        "2026-06-30",
    )
    offline = s.pms("tasks", records[OFFLINE])
    assert (offline["name"], offline["description"]) == ("Offline-first", "Sync queue on device")
    assert (s.asana("tasks", OFFLINE)["name"], s.asana("tasks", OFFLINE)["notes"]) == (
        "Offline-first",
        "Sync queue on device",
    )
    for report in reports.values():
        assert report["conflicts"] == [], report["direction"]
    s.assert_idle_sync_writes_nothing()


def test_the_same_field_edited_on_both_sides_follows_the_policy_and_is_reported(
    systems: Systems,
) -> None:
    """Default newer_wins: the later edit wins; workspaces and teams (no timestamps) and
    ties go to Custompms."""
    s = systems
    # Asana first, Custompms later: Custompms wins (and always for a workspace or team).
    personal = s.pms_of("customers", f"asana-workspace:{PERSONAL}")
    s.asana_edit("workspaces", PERSONAL, name="Personal (Asana)")
    s.pms_edit("customers", personal["id"], name="Personal (Custompms)")
    operations = s.pms_of("customers", f"asana-team:{OPERATIONS}")
    s.pms_edit("customers", operations["id"], name="Operations (Custompms)")
    s.asana_edit("teams", OPERATIONS, name="Operations (Asana)")  # later, but no timestamp
    website = s.pms_of("projects", f"asana-project:{WEBSITE}")
    s.asana_edit("projects", WEBSITE, name="Website (Asana)")
    s.pms_edit("projects", website["id"], name="Website (Custompms)")
    # Custompms first, Asana later: Asana wins.
    umbrella = s.pms_of("projects", f"asana-task:{UMBRELLA}")
    s.pms_edit("projects", umbrella["id"], name="Umbrella (Custompms)")
    s.asana_edit("tasks", UMBRELLA, name="Umbrella (Asana)")
    seo = s.pms_of("tasks", f"asana-task:{SEO}")
    s.pms_edit("tasks", seo["id"], due_date="2026-03-01")
    s.asana_edit("tasks", SEO, due_on="2026-03-03")

    reports = s.sync()

    expected = {  # Asana ref -> (Custompms resource, field, Asana field, winning value)
        f"asana-workspace:{PERSONAL}": ("customers", "name", "name", "Personal (Custompms)"),
        f"asana-team:{OPERATIONS}": ("customers", "name", "name", "Operations (Custompms)"),
        f"asana-project:{WEBSITE}": ("projects", "name", "name", "Website (Custompms)"),
        f"asana-task:{UMBRELLA}": ("projects", "name", "name", "Umbrella (Asana)"),
        f"asana-task:{SEO}": ("tasks", "due_date", "due_on", "2026-03-03"),
    }
    for ref, (resource, field, asana_field, value) in expected.items():
        assert s.pms_of(resource, ref)[field] == value, (ref, json.dumps(reports))
        asana_type, _, gid = ref.removeprefix("asana-").partition(":")
        assert s.asana(f"{asana_type}s", gid)[asana_field] == value, ref
    conflicts = [c for report in reports.values() for c in report["conflicts"]]
    # Custompms -> Asana runs first, so it meets most conflicts: name them by the Asana side.
    named = {(s.asana_ref_of(c["record"]), c["field"]): c for c in conflicts}
    assert {ref for ref, _ in named} == set(expected), conflicts
    winners = {ref: c["winner"] for (ref, _), c in named.items()}
    assert winners == {
        f"asana-workspace:{PERSONAL}": "custompms",
        f"asana-team:{OPERATIONS}": "custompms",
        f"asana-project:{WEBSITE}": "custompms",
        f"asana-task:{UMBRELLA}": "asana",
        f"asana-task:{SEO}": "asana",
    }
    s.assert_idle_sync_writes_nothing()


def test_creates_on_either_side_appear_on_the_other(systems: Systems) -> None:
    s = systems
    # Asana -> Custompms: a team, a project, a board task, a task and a subtask.
    team = s.asana_create("/teams", name="Research", organization=ACME)
    project = s.asana_create(f"/teams/{SALES}/projects", name="Partner program")
    board_task = s.asana_create("/tasks", name="Soylent: Menu app", projects=[BOARD])
    task = s.asana_create("/tasks", name="Accessibility review", projects=[WEBSITE])
    subtask = s.asana_create(f"/tasks/{task}/subtasks", name="Screen reader pass")
    # Custompms -> Asana: customers (under a workspace, and top-level), projects (under a
    # team customer and a workspace customer), tasks (in a project, a subtask, and one in
    # a board-task project, which becomes the board task's subtask).
    acme = s.pms_of("customers", f"asana-workspace:{ACME}")
    personal = s.pms_of("customers", f"asana-workspace:{PERSONAL}")
    delivery = s.pms_of("customers", f"asana-team:{DELIVERY}")
    pms_child = s.pms_create("customers", name="Legal", parent_id=acme["id"])
    pms_top = s.pms_create("customers", name="Partners", description="Top-level customer")
    pms_project = s.pms_create(
        "projects",
        customer_id=delivery["id"],
        name="Intranet",
        description="New intranet",
        start_date="2026-04-01",
        end_date="2026-06-30",
        owner_email="tom.becker@acme-consulting.example",
    )
    pms_personal = s.pms_create("projects", customer_id=personal["id"], name="Garden")
    website = s.pms_of("projects", f"asana-project:{WEBSITE}")
    pms_task = s.pms_create(
        "tasks",
        project_id=website["id"],
        name="Cookie banner",
        due_date="2026-03-20",
        assignee_email="lena.fischer@acme-consulting.example",
    )
    retro = s.pms_of("tasks", f"asana-task:{RETRO}")
    pms_subtask = s.pms_create(
        "tasks", project_id=website["id"], parent_task_id=retro["id"], name="Collect feedback"
    )
    northwind = s.pms_of("projects", f"asana-task:{NORTHWIND}")
    pms_board_sub = s.pms_create("tasks", project_id=northwind["id"], name="Data migration")

    reports = s.sync()

    assert s.pms_of("customers", f"asana-team:{team}")["parent_id"] == acme["id"]
    assert (
        s.pms_of("projects", f"asana-project:{project}")["customer_id"]
        == (s.pms_of("customers", f"asana-team:{SALES}")["id"])
    )
    assert s.pms_of("projects", f"asana-task:{board_task}")["customer_id"] == delivery["id"]
    pms_of_task = s.pms_of("tasks", f"asana-task:{task}")
    assert pms_of_task["project_id"] == website["id"]
    assert s.pms_of("tasks", f"asana-task:{subtask}")["parent_task_id"] == pms_of_task["id"]

    def asana_of(ref: str) -> str:
        key = s.linked(ref)
        assert key is not None, f"{ref} was not created in Asana"
        return key

    legal = s.asana("teams", asana_of(f"custompms-customer:{pms_child['id']}"))
    assert (legal["name"], legal["organization"]["gid"]) == ("Legal", ACME)
    partners = s.asana("teams", asana_of(f"custompms-customer:{pms_top['id']}"))
    assert (partners["name"], partners["description"], partners["organization"]["gid"]) == (
        "Partners",
        "Top-level customer",
        ACME,
    )
    intranet = s.asana("projects", asana_of(f"custompms-project:{pms_project['id']}"))
    assert (intranet["name"], intranet["team"]["gid"], intranet["owner"]["email"]) == (
        "Intranet",
        DELIVERY,
        "tom.becker@acme-consulting.example",
    )
    assert (intranet["start_on"], intranet["due_on"], intranet["notes"]) == (
        "2026-04-01",
        "2026-06-30",
        "New intranet",
    )
    garden = s.asana("projects", asana_of(f"custompms-project:{pms_personal['id']}"))
    assert (garden["workspace"]["gid"], garden["team"]) == (PERSONAL, None)
    banner = s.asana("tasks", asana_of(f"custompms-task:{pms_task['id']}"))
    assert [m["project"]["gid"] for m in banner["memberships"]] == [WEBSITE]
    assert (banner["due_on"], banner["assignee"]["email"]) == (
        "2026-03-20",
        "lena.fischer@acme-consulting.example",
    )
    feedback = s.asana("tasks", asana_of(f"custompms-task:{pms_subtask['id']}"))
    assert (feedback["parent"]["gid"], feedback["memberships"]) == (RETRO, [])
    migration = s.asana("tasks", asana_of(f"custompms-task:{pms_board_sub['id']}"))
    assert (migration["parent"]["gid"], migration["memberships"]) == (NORTHWIND, [])
    created = {
        direction: {flow: counts["created"] for flow, counts in report["flows"].items()}
        for direction, report in reports.items()
    }
    assert created["asana -> custompms"] == {
        "workspace_customer": 0,
        "team_customer": 1,
        "project_project": 1,
        "board_task_project": 1,
        "task_task": 2,
    }
    assert created["custompms -> asana"] == {
        "workspace_customer": 0,
        "team_customer": 2,
        "project_project": 2,
        "board_task_project": 0,
        "task_task": 3,
    }
    # Custompms -> Asana runs first in the `sync` job, so Asana's own values for the records
    # it created (permalinks, completion times) reached Custompms in that same sync.
    s.assert_idle_sync_writes_nothing()


def test_deletes_unlink_and_never_resurrect_or_delete_the_other_side(systems: Systems) -> None:
    s = systems
    asana_side = s.pms_of("tasks", f"asana-task:{BETA}")  # deleted in Asana
    pms_side = s.pms_of("tasks", f"asana-task:{STORE_RELEASE}")  # tombstoned in Custompms
    s.stack.asana.act("delete", f"/tasks/{BETA}")
    s.pms_delete("tasks", pms_side["id"])

    reports = s.sync()

    assert s.pms("tasks", asana_side["id"])["deleted_at"] is None  # never deleted
    assert s.asana("tasks", STORE_RELEASE)["name"] == "Store release"  # never deleted
    assert s.link_status(f"asana-task:{BETA}") is LinkStatus.UNLINKED
    assert s.link_status(f"asana-task:{STORE_RELEASE}") is LinkStatus.UNLINKED
    unlinked = {
        direction: {c["record"] for c in report["changes"] if c["outcome"] == "unlinked"}
        | ({"count"} if report["flows"]["task_task"]["unlinked"] else set())
        for direction, report in reports.items()
    }
    assert unlinked == {"asana -> custompms": {"count"}, "custompms -> asana": {"count"}}

    # The survivors are edited: nothing is created again, nothing crosses over.
    s.pms_edit("tasks", asana_side["id"], name="Beta test (kept in Custompms)")
    s.asana_edit("tasks", STORE_RELEASE, name="Store release (kept in Asana)")
    tasks_before = len(s.pms_all("tasks"))
    s.sync()
    assert len(s.pms_all("tasks")) == tasks_before
    assert s.pms("tasks", pms_side["id"])["name"] == "Store release"
    assert s.link_status(f"custompms-task:{asana_side['id']}") is LinkStatus.UNLINKED
    s.assert_idle_sync_writes_nothing()


def test_edits_under_a_deleted_parent_still_arrive(systems: Systems) -> None:
    s = systems
    project = s.asana_create(f"/teams/{SALES}/projects", name="Trade fair")
    task = s.asana_create("/tasks", name="Book the stand", projects=[project])
    s.sync()
    pms_project = s.pms_of("projects", f"asana-project:{project}")
    pms_task = s.pms_of("tasks", f"asana-task:{task}")
    s.pms_delete("projects", pms_project["id"])
    s.sync()  # the project's link is unlinked (default delete policy)
    assert s.link_status(f"asana-project:{project}") is LinkStatus.UNLINKED

    # Its task is still linked: an edit arrives instead of waiting for a parent that is gone.
    s.asana_edit("tasks", task, name="Book the stand and the booth")
    reports = s.sync()
    assert s.pms("tasks", pms_task["id"])["name"] == "Book the stand and the booth"
    assert s.pms("tasks", pms_task["id"])["project_id"] == pms_project["id"]
    waiting = [
        change
        for report in reports.values()
        for change in report["changes"]
        if change["outcome"] == "skipped" and "not linked yet" in (change["detail"] or "")
    ]
    assert waiting == []
    s.assert_idle_sync_writes_nothing()


def test_what_asana_cannot_do_is_reported_per_record(systems: Systems) -> None:
    s = systems
    pipeline = s.pms_of("projects", f"asana-project:{PIPELINE}")
    s.pms_edit("projects", pipeline["id"], status="completed", name="Q3 pipeline (done)")
    operations = s.pms_of("customers", f"asana-team:{OPERATIONS}")
    s.pms_delete("customers", operations["id"])

    reports = s.sync()

    reverse = reports["custompms -> asana"]
    project = s.asana("projects", PIPELINE)
    assert (project["name"], project["completed"]) == ("Q3 pipeline (done)", False)
    skipped = {(c["record"], tuple(c["fields"])): c["detail"] for c in reverse["changes"]}
    assert skipped[(f"custompms-project:{pipeline['id']}", ("completed",))] == (
        "a project's completed is read-only in Asana's API"
    )
    # Asana cannot delete a team: the tombstone unlinks it, the team stays.
    assert s.asana("teams", OPERATIONS)["name"].startswith("Operations")
    assert s.link_status(f"asana-team:{OPERATIONS}") is LinkStatus.UNLINKED
    assert reverse["flows"]["team_customer"]["unlinked"] == 1


def test_three_syncs_after_a_mixed_batch_converge(systems: Systems) -> None:
    s = systems
    # Edits, creates, a conflict and a delete, on both sides, across the flows.
    s.asana_edit("tasks", PUSH, name="Push notifications (iOS)", completed=True)
    s.asana_edit("tasks", CRASH, due_on="2026-04-01")
    s.asana_edit("projects", READING, notes="Books for 2026")
    s.asana_create("/tasks", name="Load testing", projects=[MOBILE], due_on="2026-05-01")
    push = s.pms_of("tasks", f"asana-task:{PUSH}")
    s.pms_edit("tasks", push["id"], description="APNs and FCM")
    webinar = s.pms_of("tasks", f"asana-task:{WEBINAR}")
    s.pms_edit("tasks", webinar["id"], status="done", due_date="2026-02-13")
    templates = s.pms_of("tasks", f"asana-task:{TEMPLATES}")
    s.pms_edit("tasks", templates["id"], name="Proposal templates (Custompms)")
    s.asana_edit("tasks", TEMPLATES, name="Proposal templates (Asana)")
    mobile = s.pms_of("projects", f"asana-project:{MOBILE}")
    new = s.pms_create("tasks", project_id=mobile["id"], name="App store screenshots")
    s.pms_create("tasks", project_id=mobile["id"], parent_task_id=new["id"], name="iPad sizes")
    s.stack.asana.act("delete", f"/tasks/{PRICING}")
    renewals = s.pms_of("tasks", f"asana-task:{RENEWALS}")
    s.pms_delete("tasks", renewals["id"])

    for _ in range(3):
        s.sync()

    # Every linked pair holds the same synced values on both sides.
    with LinkStore(s.stack.workdir / "links.db") as store:
        links = store.links(status=LinkStatus.LINKED, flow="task_task")
    compared = 0
    for link in links:
        asana, pms = s.asana("tasks", link.asana.key), s.pms("tasks", int(link.custompms.key))
        assert (pms["name"], pms["description"] or "", pms["due_date"]) == (
            asana["name"],
            asana["notes"],
            asana["due_on"],
        ), link
        assert (pms["status"] == "done") is asana["completed"], link
        assert pms["assignee_email"] == (asana["assignee"] or {}).get("email"), link
        compared += 1
    assert compared >= 130
    assert s.asana("tasks", PUSH)["notes"] == "APNs and FCM"
    assert s.pms("tasks", push["id"])["name"] == "Push notifications (iOS)"
    assert s.pms("tasks", templates["id"])["name"] == "Proposal templates (Asana)"
    s.assert_idle_sync_writes_nothing()
