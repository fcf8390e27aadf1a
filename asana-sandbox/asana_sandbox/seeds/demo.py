"""The ``demo`` seed: a small consulting firm in Asana.

An organization workspace (Acme Consulting) with three teams and a personal workspace; a
"Client projects" board whose tasks are client engagements (start and due dates, owners,
a section per stage) plus delivery, sales and operations projects with subtasks, due
dates and times, completed work and an archived project. About 150 tasks in all.

After those, what the token's user (Alex Morgan) may not see: a private project of Tom's in
the Operations team, and a secret team whose only member is a guest, with its own project.
"""

from __future__ import annotations

import random

from asana_sandbox.clock import format_ms, parse_ms
from asana_sandbox.seeds import records as r
from asana_sandbox.store import Store

BASE = "2026-01-05T09:00:00.000Z"
DOMAIN = "acme-consulting.example"
PEOPLE = (
    "Alex Morgan",
    "Priya Shah",
    "Tom Becker",
    "Lena Fischer",
    "Marco Rossi",
    "Aiko Tanaka",
    "Sam Okafor",
    "Julia Novak",
)
CLIENTS = (
    ("Northwind Traders", "ERP rollout"),
    ("Contoso Retail", "Loyalty app"),
    ("Fabrikam Health", "Patient portal"),
    ("Globex Logistics", "Route optimisation"),
    ("Initech Finance", "Reporting revamp"),
    ("Umbrella Labs", "Data platform"),
    ("Wayne Foods", "E-commerce relaunch"),
    ("Stark Energy", "Field service app"),
    ("Hooli Media", "CMS migration"),
    ("Tyrell Robotics", "Support desk setup"),
)
STAGES = ("Prospect", "Active", "On hold", "Done")
ENGAGEMENT_STEPS = ("Kickoff workshop", "Statement of work signed", "Delivery plan", "Final review")
PROJECTS = {
    "Delivery": (
        (
            "Website relaunch",
            (
                "Audit current site",
                "Wireframes",
                "Content migration",
                "SEO checks",
                "Go-live",
                "Retrospective",
            ),
        ),
        (
            "Mobile app v2",
            (
                "Design system update",
                "Offline mode",
                "Push notifications",
                "Beta test",
                "Store release",
                "Crash triage",
            ),
        ),
    ),
    "Sales": (
        (
            "Q3 pipeline",
            (
                "Qualify inbound leads",
                "Partner webinar",
                "Proposal templates",
                "Pricing review",
                "Renewals",
            ),
        ),
        (
            "Marketing campaigns",
            ("Spring newsletter", "Trade fair booth", "Case study videos", "Social media plan"),
        ),
    ),
    "Operations": (
        (
            "Office move",
            ("Sign lease", "Network cabling", "Furniture order", "Move day", "Housewarming"),
        ),
        (
            "Hiring",
            (
                "Senior developer",
                "Project manager",
                "Designer intern",
                "Onboarding checklist",
                "Interview training",
            ),
        ),
    ),
}
SUBTASKS = ("Draft", "Review", "Approve")
#: A contractor who is a guest of the organization (outside its email domain).
GUEST = ("Jordan Lee", "jordan.lee@brightside-agency.example")
PERSONAL = (("Reading list", ("Designing Data-Intensive Applications", "The Phoenix Project")),)


def build(store: Store) -> None:
    """Fill the store with the demo organization."""
    rng = random.Random(2026)
    org = store.add(
        "workspace",
        r.workspace(store.new_gid(), "Acme Consulting", organization=True, domains=[DOMAIN]),
    )
    personal = store.add(
        "workspace",
        r.workspace(store.new_gid(), "Personal Projects", organization=False, domains=[]),
    )
    team_names = ("Delivery", "Sales", "Operations")
    user_gids = [store.new_gid() for _ in PEOPLE]
    team_gids = [store.new_gid() for _ in team_names]
    for index, (gid, name) in enumerate(zip(user_gids, PEOPLE, strict=True)):
        email = name.lower().replace(" ", ".") + "@" + DOMAIN
        workspaces = [org["gid"], personal["gid"]] if index == 0 else [org["gid"]]
        teams = [team_gids[0]] if index == 0 else [team_gids[index % 3]]
        teams = list(dict.fromkeys([*teams, team_gids[0]])) if index == 0 else teams
        store.add("user", r.user(gid, name, email, workspaces, teams))
    me = user_gids[0]
    for gid, name in zip(team_gids, team_names, strict=True):
        store.add("team", r.team(gid, name, org["gid"], f"The {name.lower()} team"))
    for team_gid in team_gids[1:]:
        store.users_by_team[team_gid].insert(0, me)
        store.records["user"][me]["teams"].append(team_gid)

    clock = [parse_ms(BASE)]

    def tick(minutes: int = 37) -> str:
        clock[0] += minutes * 60_000
        return format_ms(clock[0])

    def new_project(
        name: str,
        workspace: str,
        team: str | None,
        sections: tuple[str, ...],
        owner: str = me,
        **fields: object,
    ) -> str:
        created = tick()
        project = store.add(
            "project",
            r.project(
                store.new_gid(),
                name,
                workspace=workspace,
                team=team,
                owner=owner,
                created_at=created,
                modified_at=tick(5),
                **fields,
            ),
        )
        for section_name in sections:
            store.add("section", r.section(store.new_gid(), section_name, project["gid"], created))
        return project["gid"]

    def new_task(
        name: str,
        workspace: str,
        project: str | None,
        section: str | None,
        parent: str | None,
        created_by: str = me,
        **fields: object,
    ) -> str:
        created = tick()
        memberships = [{"project": project, "section": section}] if project else []
        task = store.add(
            "task",
            r.task(
                store.new_gid(),
                name,
                workspace=workspace,
                created_by=created_by,
                created_at=created,
                modified_at=tick(3),
                memberships=memberships,
                parent=parent,
                **fields,
            ),
        )
        return task["gid"]

    # The board of client engagements: one task per client, a section per stage.
    board = new_project(
        "Client projects",
        org["gid"],
        team_gids[0],
        STAGES,
        default_view="board",
        color="dark-blue",
        notes="One card per client engagement.",
        html_notes="<body>One card per client engagement.</body>",
    )
    stage_sections = store.sections_by_project[board]
    for index, (client, engagement) in enumerate(CLIENTS):
        stage = index % len(STAGES)
        start = format_ms(parse_ms(BASE) + index * 9 * 86_400_000)[:10]
        due = format_ms(parse_ms(BASE) + (index * 9 + 60 + rng.randint(0, 60)) * 86_400_000)[:10]
        done = tick(1) if STAGES[stage] == "Done" else None
        owner = user_gids[index % len(user_gids)]
        engagement_gid = new_task(
            f"{client}: {engagement}",
            org["gid"],
            board,
            stage_sections[stage],
            None,
            assignee=owner,
            start_on=start,
            due_on=due,
            completed_at=done,
            notes=f"Client engagement with {client}. Scope: {engagement.lower()}.",
        )
        for step_index, step in enumerate(ENGAGEMENT_STEPS[: 3 + index % 2]):
            step_due = format_ms(
                parse_ms(start + "T00:00:00.000Z") + (step_index + 1) * 14 * 86_400_000
            )[:10]
            new_task(
                step,
                org["gid"],
                None,
                None,
                engagement_gid,
                assignee=user_gids[(index + step_index + 1) % len(user_gids)],
                due_on=step_due,
                completed_at=tick(1) if done or step_index == 0 else None,
            )

    # Team projects with tasks, subtasks, due dates and times.
    for team_gid, team_name in zip(team_gids, team_names, strict=True):
        for project_index, (project_name, task_names) in enumerate(PROJECTS[team_name]):
            archived = project_name == "Marketing campaigns"
            # A finished project: completed in the Asana app (the API cannot complete one).
            finished = project_name == "Office move"
            completion = (
                {"completed": True, "completed_at": tick(1), "completed_by": me} if finished else {}
            )
            project = new_project(
                project_name,
                org["gid"],
                team_gid,
                ("To do", "Doing", "Done"),
                archived=archived,
                **completion,
                color=("light-green", "light-orange", "light-purple")[project_index % 3],
                due_on=format_ms(parse_ms(BASE) + (120 + project_index * 30) * 86_400_000)[:10],
            )
            sections = store.sections_by_project[project]
            for task_index, task_name in enumerate(task_names):
                done = archived or finished or task_index == 0
                due_fields: dict[str, object] = {}
                if task_index % 3 == 1:
                    due_fields["due_at"] = format_ms(
                        parse_ms(BASE) + (30 + task_index * 7) * 86_400_000 + 15 * 3_600_000
                    )
                    due_fields["due_on"] = due_fields["due_at"][:10]  # type: ignore[index]
                else:
                    due_fields["due_on"] = format_ms(
                        parse_ms(BASE) + (20 + task_index * 10) * 86_400_000
                    )[:10]
                    if task_index % 2 == 0:
                        due_fields["start_on"] = format_ms(
                            parse_ms(BASE) + (5 + task_index * 10) * 86_400_000
                        )[:10]
                task_gid = new_task(
                    task_name,
                    org["gid"],
                    project,
                    sections[2 if done else task_index % 2],
                    None,
                    assignee=rng.choice(user_gids),
                    completed_at=tick(2) if done else None,
                    notes=f"{task_name} for {project_name}.",
                    **due_fields,
                )
                for sub_index, step in enumerate(SUBTASKS[: 1 + (task_index + project_index) % 3]):
                    sub = new_task(
                        f"{step}: {task_name.lower()}",
                        org["gid"],
                        None,
                        None,
                        task_gid,
                        assignee=rng.choice(user_gids),
                        completed_at=tick(1) if done or sub_index == 0 else None,
                    )
                    if sub_index == 0 and task_index == 1:
                        new_task(f"Checklist for {task_name.lower()}", org["gid"], None, None, sub)

    # A personal workspace with a project that belongs to no team.
    for project_name, task_names in PERSONAL:
        project = new_project(project_name, personal["gid"], None, ("Untitled section",))
        section = store.sections_by_project[project][0]
        for task_name in task_names:
            new_task(task_name, personal["gid"], project, section, None, assignee=me)
    new_task("Renew passport", personal["gid"], None, None, None, assignee=me, due_on="2026-03-01")

    # What the token's user may not see. Added after everything above so that no gid above
    # moves, and invisible to Alex in every list and on direct access (403): Tom's private
    # project in the Operations team (Alex is a member of that team), and a secret team
    # whose only member is a guest of the organization (an agency contractor).
    tom = user_gids[2]
    operations = team_gids[2]
    private = new_project(
        "Salary review 2026",
        org["gid"],
        operations,
        ("To do", "Done"),
        owner=tom,
        privacy_setting="private",
        due_on="2026-04-30",
        notes="Confidential: salary bands and raises.",
        html_notes="<body>Confidential: salary bands and raises.</body>",
    )
    sections = store.sections_by_project[private]
    for index, name in enumerate(("Collect market data", "Draft salary bands")):
        salary_task = new_task(
            name,
            org["gid"],
            private,
            sections[0],
            None,
            created_by=tom,
            assignee=tom,
            due_on=f"2026-04-{10 + index * 10}",
        )
    new_task(
        "Review with finance", org["gid"], None, None, salary_task, created_by=tom, assignee=tom
    )
    guest_gid, agency_gid = store.new_gid(), store.new_gid()
    store.add(
        "user",
        {
            **r.user(guest_gid, GUEST[0], GUEST[1], [org["gid"]], [agency_gid]),
            "guest_in": [org["gid"]],
        },
    )
    store.add(
        "team",
        {
            **r.team(agency_gid, "Agency partners", org["gid"], "Brightside Agency contractors"),
            "visibility": "secret",
        },
    )
    handoff = new_project(
        "Agency handoff",
        org["gid"],
        agency_gid,
        ("Untitled section",),
        owner=guest_gid,
        privacy_setting="private_to_team",
        due_on="2026-05-15",
    )
    new_task(
        "Deliver brand assets",
        org["gid"],
        handoff,
        store.sections_by_project[handoff][0],
        None,
        created_by=guest_gid,
        assignee=guest_gid,
        due_on="2026-05-01",
    )
