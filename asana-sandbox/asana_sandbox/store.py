"""In-memory state of the sandbox: records, indexes, event fan-out and persistence.

Records are plain dicts keyed by gid (insertion order is creation order). Indexes keep the
lists Asana serves in order: tasks per project, subtasks per parent, projects per team and
workspace, so a project's task list does not scan every task of a 100k-task workspace.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from asana_sandbox.clock import Clock, parse_ms
from asana_sandbox.errors import bad_request, forbidden, not_found
from asana_sandbox.events import EventHub
from asana_sandbox.fields import MISSING
from asana_sandbox.resources import PROJECT, TEAM

FORMAT = "asana-sandbox/1"
FIRST_GID = 1_200_000_000_000_001
TYPE_ORDER = ("workspace", "user", "team", "project", "section", "task")
PLURAL = {name: name + "s" for name in TYPE_ORDER}
PERMALINK = "https://app.asana.com/0"


class Store:
    """Every record of the sandbox and the indexes over them."""

    def __init__(self, *, events: EventHub | None = None) -> None:
        """An empty store; fill it with ``load_document`` or the seed builders."""
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in TYPE_ORDER}
        self.next_gid = FIRST_GID
        self.clock = Clock()
        self.events = events or EventHub()
        self.dirty = False
        self.teams_by_workspace: defaultdict[str, list[str]] = defaultdict(list)
        self.users_by_workspace: defaultdict[str, list[str]] = defaultdict(list)
        self.users_by_team: defaultdict[str, list[str]] = defaultdict(list)
        self.projects_by_workspace: defaultdict[str, list[str]] = defaultdict(list)
        self.projects_by_team: defaultdict[str, list[str]] = defaultdict(list)
        self.sections_by_project: defaultdict[str, list[str]] = defaultdict(list)
        self.tasks_by_project: defaultdict[str, list[str]] = defaultdict(list)
        self.subtasks: defaultdict[str, list[str]] = defaultdict(list)

    # -- identity and time -------------------------------------------------------------

    def new_gid(self) -> str:
        """A fresh numeric gid, deterministic for a given history."""
        gid = str(self.next_gid)
        self.next_gid += 1
        return gid

    def now(self) -> str:
        """A timestamp later than every one handed out before."""
        return self.clock.now()

    # -- lookups (RecordSource for fields.render) --------------------------------------

    def lookup(self, type_name: str, gid: str) -> dict[str, Any] | None:
        """The record of a type by gid, or None."""
        return self.records.get(type_name, {}).get(gid)

    def get(
        self, type_name: str, gid: str, *, label: str | None = None, viewer: str | None = None
    ) -> dict[str, Any]:
        """The record, or Asana's 400/404 for a malformed or unknown gid (403 when
        ``viewer`` may not see it)."""
        name = label or type_name
        if not gid.isdigit():
            raise bad_request(f"{name}: Not a recognized ID: {gid}")
        record = self.lookup(type_name, gid)
        if record is None:
            raise not_found(name, gid)
        if viewer is not None and not self.can_see(viewer, type_name, record):
            raise forbidden(name, gid)
        return record

    def ref(
        self, type_name: str, gid: Any, *, label: str, viewer: str | None = None
    ) -> dict[str, Any]:
        """A record named in a request body or query: unknown ids are a 400 there (403 when
        ``viewer`` may not see it)."""
        if not isinstance(gid, str) or not gid.isdigit():
            raise bad_request(f"{label}: Not a recognized ID: {gid}")
        record = self.lookup(type_name, gid)
        if record is None:
            raise bad_request(f"{label}: Unknown object: {gid}")
        if viewer is not None and not self.can_see(viewer, type_name, record):
            raise forbidden(label, gid)
        return record

    # -- permissions ---------------------------------------------------------------------

    def can_see(
        self,
        viewer: str,
        type_name: str,
        record: dict[str, Any],
        seen: dict[tuple[str, str], bool] | None = None,
    ) -> bool:
        """Whether a user may see a record, as Asana decides it per object.

        Workspaces: their members. Teams: their members, and the organization's full
        members unless the team is secret. Projects: their members; ``public_to_workspace``
        ones the workspace's full members; non-private ones the members of their team.
        Sections follow their project. Tasks: their assignee and followers, whoever sees one
        of their projects, and whoever sees their parent. Users: themselves, their team
        mates, and the other full members of a workspace. Guests (``guest_in``) are not
        full members of those workspaces. ``seen`` memoizes answers within one call.
        """
        key = (type_name, record["gid"])
        if seen is not None and key in seen:
            return seen[key]
        user = self.records["user"].get(viewer)
        answer = user is not None and self._can_see(user, type_name, record, seen)
        if seen is not None:
            seen[key] = answer
        return answer

    def _can_see(
        self,
        user: dict[str, Any],
        type_name: str,
        record: dict[str, Any],
        seen: dict[tuple[str, str], bool] | None,
    ) -> bool:
        gid, me, teams = record["gid"], user["gid"], user.get("teams", ())
        if type_name == "workspace":
            return gid in user.get("workspaces", ())
        if type_name == "team":
            visibility = record.get("visibility", TEAM.defaults["visibility"])
            return gid in teams or (
                visibility != "secret" and full_member(user, record["organization"])
            )
        if type_name == "user":
            return (
                gid == me
                or any(team in teams for team in record.get("teams", ()))
                or any(
                    full_member(user, w) and full_member(record, w)
                    for w in record.get("workspaces", ())
                )
            )
        if type_name == "project":
            if me in record.get("members", ()):
                return True
            privacy = record.get("privacy_setting") or PROJECT.defaults["privacy_setting"]
            if privacy == "private":
                return False
            if record.get("team") and record["team"] in teams:
                return True
            return privacy == "public_to_workspace" and full_member(user, record["workspace"])
        if type_name == "section":
            project = self.records["project"].get(record["project"])
            return project is not None and self.can_see(me, "project", project, seen)
        if type_name == "task":
            if record.get("assignee") == me or me in record.get("followers", ()):
                return True
            for membership in record.get("memberships", ()):
                project = self.records["project"].get(membership["project"])
                if project is not None and self.can_see(me, "project", project, seen):
                    return True
            parent = self.records["task"].get(record.get("parent") or "")
            return parent is not None and self.can_see(me, "task", parent, seen)
        return True

    def derived(self, type_name: str, record: dict[str, Any], name: str) -> Any:
        """Values computed from indexes rather than stored."""
        gid = record["gid"]
        if type_name == "task":
            if name == "num_subtasks":
                return len(self.subtasks.get(gid, ()))
            if name == "projects":
                return [m["project"] for m in record.get("memberships", ())]
            if name == "permalink_url":
                memberships = record.get("memberships") or [{"project": "0"}]
                return f"{PERMALINK}/{memberships[0]['project']}/{gid}"
        if type_name == "project":
            if name == "permalink_url":
                return f"{PERMALINK}/{gid}/list"
            if name == "due_date":
                return record.get("due_on")
        if type_name == "team" and name == "permalink_url":
            return f"{PERMALINK}/team/{gid}"
        if type_name == "section" and name == "projects":
            return [record["project"]]
        return MISSING

    # -- indexing ------------------------------------------------------------------------

    def add(self, type_name: str, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new record and index it."""
        self.records[type_name][record["gid"]] = record
        self._index(type_name, record)
        return record

    def _index(self, type_name: str, record: dict[str, Any]) -> None:
        gid = record["gid"]
        if type_name == "team":
            self.teams_by_workspace[record["organization"]].append(gid)
        elif type_name == "user":
            for workspace in record.get("workspaces", ()):
                self.users_by_workspace[workspace].append(gid)
            for team in record.get("teams", ()):
                self.users_by_team[team].append(gid)
        elif type_name == "project":
            self.projects_by_workspace[record["workspace"]].append(gid)
            if record.get("team"):
                self.projects_by_team[record["team"]].append(gid)
        elif type_name == "section":
            self.sections_by_project[record["project"]].append(gid)
        elif type_name == "task":
            for membership in record.get("memberships", ()):
                self.tasks_by_project[membership["project"]].append(gid)
            if record.get("parent"):
                self.subtasks[record["parent"]].append(gid)

    # -- task structure ------------------------------------------------------------------

    def ancestors(self, task: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The parent, grandparent... of a task."""
        seen = {task["gid"]}
        parent = task.get("parent")
        while parent and parent not in seen:
            seen.add(parent)
            record = self.records["task"].get(parent)
            if record is None:
                return
            yield record
            parent = record.get("parent")

    def descendants(self, gid: str) -> Iterator[str]:
        """Every subtask below a task, depth first."""
        for child in list(self.subtasks.get(gid, ())):
            yield child
            yield from self.descendants(child)

    def event_targets(self, task: dict[str, Any], *, via_ancestors: bool = True) -> list[str]:
        """Resources whose event streams see a change to this task (it bubbles up).

        The task's own stream, its ancestors', and the streams of its projects and (unless
        ``via_ancestors`` is false) of its ancestors' projects.
        """
        chain = [task, *self.ancestors(task)]
        targets = [record["gid"] for record in chain]
        for record in chain if via_ancestors else [task]:
            targets.extend(m["project"] for m in record.get("memberships", ()))
        return targets

    def place(self, order: list[str], gid: str, before: str | None, after: str | None) -> None:
        """Insert gid into an ordered list, before/after a sibling when one is named."""
        if gid in order:
            order.remove(gid)
        anchor = before if before in order else after if after in order else None
        if anchor is None:
            order.append(gid)
        else:
            order.insert(order.index(anchor) + (1 if anchor == after else 0), gid)

    def default_section(self, project_gid: str) -> str | None:
        """The first section of a project (where Asana puts tasks added without one)."""
        sections = self.sections_by_project.get(project_gid)
        return sections[0] if sections else None

    # -- deletion ------------------------------------------------------------------------

    def delete_task(self, gid: str) -> list[dict[str, Any]]:
        """Remove a task and its subtasks; return the removed records (task first)."""
        removed = []
        for child in [gid, *self.descendants(gid)]:
            record = self.records["task"].pop(child, None)
            if record is None:
                continue
            removed.append(record)
            for membership in record.get("memberships", ()):
                _discard(self.tasks_by_project.get(membership["project"]), child)
            if record.get("parent"):
                _discard(self.subtasks.get(record["parent"]), child)
            self.subtasks.pop(child, None)
        return removed

    def delete_project(self, gid: str) -> dict[str, Any]:
        """Remove a project and its sections; its tasks stay, without this membership."""
        project = self.records["project"].pop(gid)
        _discard(self.projects_by_workspace.get(project["workspace"]), gid)
        if project.get("team"):
            _discard(self.projects_by_team.get(project["team"]), gid)
        for task_gid in self.tasks_by_project.pop(gid, []):
            task = self.records["task"].get(task_gid)
            if task is not None:
                task["memberships"] = [m for m in task["memberships"] if m["project"] != gid]
        for section in self.sections_by_project.pop(gid, []):
            self.records["section"].pop(section, None)
        return project

    # -- persistence ---------------------------------------------------------------------

    def to_document(self) -> dict[str, Any]:
        """The whole state as the JSON document ``--data`` files hold."""
        document: dict[str, Any] = {"format": FORMAT, "next_gid": self.next_gid}
        for type_name in TYPE_ORDER:
            document[PLURAL[type_name]] = list(self.records[type_name].values())
        return document

    def load_document(self, document: dict[str, Any]) -> None:
        """Replace the state with a document written by ``to_document`` or ``seed``."""
        if document.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} document")
        newest = 0
        for type_name in TYPE_ORDER:
            for record in document.get(PLURAL[type_name], ()):
                self.add(type_name, record)
                stamp = record.get("modified_at") or record.get("created_at")
                if stamp:
                    newest = max(newest, parse_ms(stamp))
        self.next_gid = max(
            int(document.get("next_gid", FIRST_GID)),
            *(int(gid) + 1 for records in self.records.values() for gid in records),
            FIRST_GID,
        )
        self.clock = Clock(newest)

    def save(self, path: Path) -> None:
        """Write the state atomically: a temporary file in the same folder, then rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                # dumps (one C-encoder pass) is several times faster than dump's chunked writes
                out.write(json.dumps(self.to_document(), separators=(",", ":")))
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self.dirty = False

    @classmethod
    def from_file(cls, path: Path, *, events: EventHub | None = None) -> Store:
        """A store loaded from a ``--data`` file."""
        store = cls(events=events)
        with path.open(encoding="utf-8") as handle:
            store.load_document(json.load(handle))
        return store


def full_member(user: dict[str, Any], workspace: str) -> bool:
    """A member of the workspace who is not a guest there (``guest_in`` lists those)."""
    return workspace in user.get("workspaces", ()) and workspace not in user.get("guest_in", ())


def _discard(items: list[str] | None, gid: str) -> None:
    if items is not None and gid in items:
        items.remove(gid)


def gids(records: Iterable[dict[str, Any]]) -> list[str]:
    """The gids of records, in order."""
    return [record["gid"] for record in records]
