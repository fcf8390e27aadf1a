"""Reading one project's tasks and subtasks, fully or incrementally.

Per project the tap keeps a :class:`ProjectCursor`: the event sync token, the newest
``modified_at`` seen and when the project was last scanned in full. A run then costs,
per project:

* no cursor: one ``/events`` call for a token, then a full scan (``GET /tasks?project=``,
  a request per 100 tasks, plus ``/tasks/{gid}/subtasks`` for every task that has
  subtasks, recursively), emitting everything;
* otherwise one ``/events`` call (more if over 100 events). Nothing more when no task
  event arrived; else ``GET /tasks?project=&modified_since=<bookmark - lookback>`` and a
  ``GET /tasks/{gid}`` for each touched task that listing did not return (subtasks,
  tasks moved out of the project). Deleted tasks come from the events;
* a full scan again when ``full_scan_interval`` has passed since the last one, or at once
  when the sync token expired (412). It emits what was modified since the previous full
  scan began (less the lookback) and what the events named.

Asana's events are late (about a minute) and at most once, and a subtask's edit need not
reach its project's stream at all: the rescan is what makes every edit arrive, at the
latest one interval later. The token is taken *before* the tasks are read, and a scan's
window starts before its listing, so nothing that changes during a run falls between runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from talk_sync.timestamps import format_asana_timestamp, require_timestamp, utcnow

from tap_asana_talk.client import ResourceUnavailableError, SyncTokenExpiredError
from tap_asana_talk.events import TaskChanges, deleted_record

if TYPE_CHECKING:
    from tap_asana_talk.client import AsanaStream


@dataclass(frozen=True)
class ProjectCursor:
    """Where the next run resumes one project: event token and ``modified_at`` bookmark."""

    sync: str | None = None
    since: str | None = None
    #: When the last full scan of the project began.
    scanned: str | None = None

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> ProjectCursor:
        """Read the cursor kept in stream state (missing -> a fresh cursor)."""
        state = state or {}
        return cls(sync=state.get("sync"), since=state.get("since"), scanned=state.get("scanned"))

    def to_state(self) -> dict[str, Any]:
        """The compact form kept in stream state."""
        pairs = (("sync", self.sync), ("since", self.since), ("scanned", self.scanned))
        return {key: value for key, value in pairs if value}


@dataclass
class ProjectResult:
    """The records one project produced and the cursor to store once they are emitted."""

    records: list[dict[str, Any]] = field(default_factory=list)
    cursor: ProjectCursor = field(default_factory=ProjectCursor)


class ProjectTaskReader:
    """Reads tasks for one project at a time; safe to call from several threads."""

    def __init__(
        self,
        stream: AsanaStream,
        pool: Executor,
        *,
        start_date: str | None,
        lookback: timedelta,
        full_scan_interval: timedelta,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        """``pool`` runs the per-task requests (subtasks, single tasks) of a project."""
        self._stream = stream
        self._pool = pool
        self._start_date = start_date
        self._lookback = lookback
        self._full_scan_interval = full_scan_interval
        self._now = now
        self._logger = stream.logger

    def read(self, project: str, cursor: ProjectCursor) -> ProjectResult | None:
        """Everything that changed in ``project`` since ``cursor``; None if inaccessible."""
        try:
            if cursor.sync is None:
                return self._full_scan(project, self._fresh_token(project), cursor, TaskChanges())
            try:
                changes, token = self._events(project, cursor.sync)
            except SyncTokenExpiredError as expired:
                self._logger.info(
                    "Sync token of project %s expired: rescanning the project", project
                )
                fresh = expired.sync or self._fresh_token(project)
                return self._full_scan(project, fresh, cursor, TaskChanges())
            if self._scan_due(cursor):
                return self._full_scan(project, token, cursor, changes)
            return self._incremental(project, cursor, changes, token)
        except ResourceUnavailableError as exc:
            self._stream.skip_unreadable("project", project, exc)
            return None

    # Events

    def _fresh_token(self, project: str) -> str | None:
        """A sync token for "now": Asana answers a token-less request with 412 and one."""
        try:
            body = self._stream.get_json("/events", {"resource": project})
        except SyncTokenExpiredError as exc:
            return exc.sync
        return body.get("sync")

    def _events(self, project: str, token: str) -> tuple[TaskChanges, str]:
        changes = TaskChanges()
        while True:
            body = self._stream.get_json("/events", {"resource": project, "sync": token})
            changes.apply(body.get("data") or [])
            token = body.get("sync") or token
            if not body.get("has_more"):
                return changes, token

    # Reading tasks

    def _scan_due(self, cursor: ProjectCursor) -> bool:
        if cursor.scanned is None:
            return True  # a cursor from before full rescans existed
        return self._now() - require_timestamp(cursor.scanned) >= self._full_scan_interval

    def _full_scan(
        self, project: str, token: str | None, cursor: ProjectCursor, changes: TaskChanges
    ) -> ProjectResult:
        """Every task and subtask of the project; emits those changed since the last scan.

        The first scan emits everything (modified since ``start_date``, if set). A rescan
        emits what was modified since the previous scan began, less the lookback, and
        what ``changes`` names: edits whose events were lost or never sent arrive here.
        """
        began = self._now()
        params = self._task_params(project=project)
        if cursor.scanned is None and cursor.sync is None and self._start_date:
            params["modified_since"] = self._start_date
        tasks = list(self._stream.paginate("/tasks", params))
        everything = {record["gid"]: record for record in tasks + self._subtask_trees(tasks)}
        if cursor.scanned is None:
            found = everything
        else:
            window = format_asana_timestamp(require_timestamp(cursor.scanned) - self._lookback)
            found = {
                gid: record
                for gid, record in everything.items()
                if gid in changes.touched or _newer(record, window)
            }
        records, deletions = self._complete(found, changes, with_subtasks=False)
        advanced = self._advance(cursor, token, records)
        return ProjectResult(
            order_parents_first(records) + deletions,
            ProjectCursor(advanced.sync, advanced.since, format_asana_timestamp(began)),
        )

    def _incremental(
        self, project: str, cursor: ProjectCursor, changes: TaskChanges, token: str
    ) -> ProjectResult:
        if not changes:
            return ProjectResult([], replace(cursor, sync=token))
        found: dict[str, dict[str, Any]] = {}
        if changes.touched:
            found = self._list_changed(project, cursor, changes)
        records, deletions = self._complete(found, changes, with_subtasks=True)
        return ProjectResult(
            order_parents_first(records) + deletions, self._advance(cursor, token, records)
        )

    def _complete(
        self, found: dict[str, dict[str, Any]], changes: TaskChanges, *, with_subtasks: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``found`` plus the touched tasks it lacks, and the deletions the events name.

        A touched task the listing did not return (a subtask, a task moved out of the
        project) is read by gid; a 404 makes it a deletion. ``with_subtasks``: a task that
        entered the project brings subtasks this project never listed.
        """
        found = dict(found)
        missing = sorted(changes.touched - found.keys())
        for gid, (task, gone) in zip(
            missing, self._pool.map(self._read_task, missing), strict=True
        ):
            if task is not None:
                found[gid] = task
            elif gone:
                changes.deleted.setdefault(gid, format_asana_timestamp(self._now()))
        if with_subtasks:
            entered = [found[gid] for gid in sorted(changes.entered & found.keys())]
            for subtask in self._subtask_trees(entered):
                found.setdefault(subtask["gid"], subtask)
        deletions = [
            deleted_record(gid, when)
            for gid, when in sorted(changes.deleted.items())
            if gid not in found
        ]
        return list(found.values()), deletions

    def _list_changed(
        self, project: str, cursor: ProjectCursor, changes: TaskChanges
    ) -> dict[str, dict[str, Any]]:
        """The project's tasks modified since the bookmark (less the lookback window).

        The window widens the query only: a listed task is emitted when an event names it
        or it is newer than the bookmark, not merely for being inside the window (it was
        emitted last time).
        """
        params = self._task_params(project=project)
        if cursor.since:
            since = require_timestamp(cursor.since) - self._lookback
            params["modified_since"] = format_asana_timestamp(since)
        return {
            task["gid"]: task
            for task in self._stream.paginate("/tasks", params)
            if task["gid"] in changes.touched or _newer(task, cursor.since)
        }

    def _read_task(self, gid: str) -> tuple[dict[str, Any] | None, bool]:
        """One task by gid, and whether it is gone (404).

        A task the token may not read (403) is skipped with a warning rather than
        reported deleted, and does not hold the rest of its project back.
        """
        try:
            body = self._stream.get_json(f"/tasks/{gid}", self._task_params())
        except ResourceUnavailableError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None, True
            self._stream.skip_unreadable("task", gid, exc)
            return None, False
        return body.get("data"), False

    def _subtask_trees(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every subtask below ``tasks``, one level per round, each level fetched in parallel."""
        found: list[dict[str, Any]] = []
        level = [task["gid"] for task in tasks if task.get("num_subtasks")]
        while level:
            children = [child for batch in self._pool.map(self._subtasks, level) for child in batch]
            found.extend(children)
            level = [child["gid"] for child in children if child.get("num_subtasks")]
        return found

    def _subtasks(self, parent: str) -> list[dict[str, Any]]:
        try:
            return list(self._stream.paginate(f"/tasks/{parent}/subtasks", self._task_params()))
        except ResourceUnavailableError as exc:
            if exc.status != HTTPStatus.NOT_FOUND:
                self._stream.skip_unreadable("task", parent, exc)
            # 404: the parent went away after it was listed; its deletion arrives as an event.
            return []

    def _task_params(self, **extra: str) -> dict[str, Any]:
        return {"opt_fields": self._stream.opt_fields, **extra}

    def _advance(
        self, cursor: ProjectCursor, token: str | None, records: Iterable[dict[str, Any]]
    ) -> ProjectCursor:
        """The cursor after ``records``: newest ``modified_at`` seen (or now, if none yet)."""
        stamps = [require_timestamp(r["modified_at"]) for r in records if r.get("modified_at")]
        if cursor.since:
            stamps.append(require_timestamp(cursor.since))
        since = max(stamps) if stamps else self._now()
        return ProjectCursor(token, format_asana_timestamp(since), cursor.scanned)


def _newer(task: dict[str, Any], since: str | None) -> bool:
    modified = task.get("modified_at")
    return (
        since is None or modified is None or require_timestamp(modified) > require_timestamp(since)
    )


def order_parents_first(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order by gid, but put every record after its parent when both are present.

    Targets that resolve ``parent`` references then meet the parent first.
    """
    by_gid = {record["gid"]: record for record in records}
    children: dict[str | None, list[str]] = {}
    for gid in sorted(by_gid):
        parent = (by_gid[gid].get("parent") or {}).get("gid")
        children.setdefault(parent if parent in by_gid else None, []).append(gid)
    ordered: list[dict[str, Any]] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        gid = stack.pop()
        ordered.append(by_gid[gid])
        stack.extend(reversed(children.get(gid, [])))
    return ordered
