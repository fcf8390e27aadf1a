"""The ``overlap`` seed: an Asana organization that already holds what a Custompms holds.

For the first sync on live data (issue #13): Custompms' ``overlap`` seed
(``custompms/custompms/seed.py``) holds most of these records too, under the same names
(some spelt differently: case, whitespace), with no ``external_id``. What the first sync
must make of the two is written down, as data, in ``tests/test_first_sync_adoption.py``
(``EXPECTED``).

"Northwind Consulting" (an organization, 3 users with ``@northwind.example`` emails):

- team **Globex** (Custompms: "GLOBEX"): project "ERP migration" (Custompms: "ERP
  Migration"; tasks "Kickoff meeting", "Data mapping" with subtask "Customer table",
  "Cut-over plan", and "Load testing", which only Asana has) and project "Data warehouse"
  (only in Asana);
- team **Initech**: project "Reporting revamp" (tasks "KPI definitions", "Dashboard
  mockups" and two tasks both named "Review", the one ambiguous case) and the
  **"Client projects"** board, whose card "Initech: Payroll upgrade" has the subtask
  "Requirements workshop";
- team **Hooli** (only in Asana): project "Search relaunch" with the task "Index audit".

Workspaces and teams have no timestamps in Asana. Every project and task was created on
2026-02-01 and last modified either on 2026-03-01 (:data:`OLDER`, before the Custompms
records' 2026-06-01) or on 2026-09-01 (:data:`NEWER`, after them), so that a
newer-wins policy picks Asana's values for some records and Custompms' for others. The
token's user (``me``) is Alex Morgan, the first user, a member of every team.
"""

from __future__ import annotations

from typing import Any

from asana_sandbox.seeds import records as r
from asana_sandbox.store import Store

DOMAIN = "northwind.example"
CREATED = "2026-02-01T09:00:00.000Z"
#: Before the Custompms ``overlap`` records (2026-06-01): Custompms is newer.
OLDER = "2026-03-01T09:00:00.000Z"
#: After the Custompms ``overlap`` records: Asana is newer.
NEWER = "2026-09-01T09:00:00.000Z"

ALEX, PRIYA, TOM = "Alex Morgan", "Priya Shah", "Tom Becker"
#: Team -> its members besides Alex (who belongs to every team).
TEAMS = {
    "Globex": ("Globex account team", (PRIYA,)),
    "Initech": ("Initech account team", (PRIYA, TOM)),
    "Hooli": ("Hooli account team", (TOM,)),
}


def email(person: str) -> str:
    """The seed's email address of a person."""
    return person.lower().replace(" ", ".") + "@" + DOMAIN


def build(store: Store) -> None:
    """Fill the store with the overlap organization."""
    org = store.add(
        "workspace",
        r.workspace(store.new_gid(), "Northwind Consulting", organization=True, domains=[DOMAIN]),
    )
    people = (ALEX, PRIYA, TOM)
    user_gids = {person: store.new_gid() for person in people}
    team_gids = {name: store.new_gid() for name in TEAMS}
    for person, gid in user_gids.items():
        teams = [t for t, (_, members) in TEAMS.items() if person == ALEX or person in members]
        store.add(
            "user",
            r.user(gid, person, email(person), [org["gid"]], [team_gids[t] for t in teams]),
        )
    for name, (description, _) in TEAMS.items():
        store.add("team", r.team(team_gids[name], name, org["gid"], description))
    minute = [0]

    def stamp(base: str) -> str:
        # Distinct timestamps (a minute apart), in creation order.
        minute[0] += 1
        return r.at(base, minutes=minute[0])

    def project(
        name: str, team: str, owner: str, modified: str, sections: tuple[str, ...], **fields: Any
    ) -> tuple[str, list[str]]:
        gid = store.new_gid()
        store.add(
            "project",
            r.project(
                gid,
                name,
                workspace=org["gid"],
                team=team_gids[team],
                owner=user_gids[owner],
                created_at=stamp(CREATED),
                modified_at=stamp(modified),
                **fields,
            ),
        )
        section_gids = []
        for section_name in sections:
            section = r.section(store.new_gid(), section_name, gid, CREATED)
            section_gids.append(store.add("section", section)["gid"])
        return gid, section_gids

    def task(
        name: str,
        assignee: str,
        modified: str,
        *,
        section: tuple[str, str] | None = None,
        parent: str | None = None,
        completed_at: str | None = None,
        **fields: Any,
    ) -> str:
        gid = store.new_gid()
        memberships = [{"project": section[0], "section": section[1]}] if section else []
        store.add(
            "task",
            r.task(
                gid,
                name,
                workspace=org["gid"],
                created_by=user_gids[ALEX],
                created_at=stamp(CREATED),
                modified_at=stamp(modified),
                memberships=memberships,
                parent=parent,
                assignee=user_gids[assignee],
                completed_at=completed_at,
                **fields,
            ),
        )
        return gid

    untitled = ("Untitled section",)

    # Globex: the project Asana renamed last (NEWER), one that only Asana has.
    erp, (erp_section,) = project(
        "ERP migration", "Globex", ALEX, NEWER, untitled, due_on="2026-12-18"
    )
    in_erp = (erp, erp_section)
    task("Kickoff meeting", ALEX, OLDER, section=in_erp, due_on="2026-07-01")
    mapping = task(
        "Data mapping",
        PRIYA,
        NEWER,
        section=in_erp,
        due_on="2026-10-15",
        notes="Map the legacy tables to the new schema.",
    )
    task("Customer table", PRIYA, OLDER, parent=mapping, due_on="2026-09-15")
    task("Cut-over plan", ALEX, OLDER, section=in_erp, due_on="2026-11-20", notes="Draft.")
    task("Load testing", TOM, OLDER, section=in_erp, due_on="2026-11-01")
    project("Data warehouse", "Globex", PRIYA, OLDER, untitled, due_on="2027-03-31")

    # Initech: a project whose due date Custompms changed last; the ambiguous "Review"s.
    reporting, (reporting_section,) = project(
        "Reporting revamp", "Initech", PRIYA, OLDER, untitled, due_on="2026-12-31"
    )
    in_reporting = (reporting, reporting_section)
    task("KPI definitions", PRIYA, NEWER, section=in_reporting, due_on="2026-09-30")
    task("Dashboard mockups", TOM, OLDER, section=in_reporting, due_on="2026-08-15")
    task(
        "Review",
        PRIYA,
        OLDER,
        section=in_reporting,
        due_on="2026-11-20",
        notes="Review the KPI definitions with finance.",
    )
    task(
        "Review",
        TOM,
        OLDER,
        section=in_reporting,
        due_on="2026-12-05",
        notes="Review the dashboard layout.",
    )

    # Initech's board of client engagements (flow 4: its cards are Custompms projects).
    board, (active, _done) = project(
        "Client projects",
        "Initech",
        ALEX,
        OLDER,
        ("Active", "Done"),
        default_view="board",
        notes="One card per client engagement.",
        html_notes="<body>One card per client engagement.</body>",
    )
    payroll = task(
        "Initech: Payroll upgrade",
        PRIYA,
        OLDER,
        section=(board, active),
        start_on="2026-07-01",
        due_on="2026-10-30",
        notes="Payroll system upgrade for Initech.",
    )
    task("Requirements workshop", TOM, OLDER, parent=payroll, due_on="2026-07-15")

    # Hooli: only in Asana.
    search, (search_section,) = project("Search relaunch", "Hooli", TOM, OLDER, untitled)
    task("Index audit", TOM, OLDER, section=(search, search_section), due_on="2026-10-01")
