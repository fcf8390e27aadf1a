"""Asana streams: workspaces, teams, users, projects and tasks (subtasks included)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from talk_sync.timestamps import format_asana_timestamp, require_timestamp, utcnow
from typing_extensions import override

from tap_asana_talk import schemas, unreadable
from tap_asana_talk.client import AsanaStream, ResourceUnavailableError
from tap_asana_talk.concurrency import ordered_map
from tap_asana_talk.events import deleted_record
from tap_asana_talk.task_sync import ProjectCursor, ProjectResult, ProjectTaskReader

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

T = TypeVar("T")
R = TypeVar("R")


class WorkspacesStream(AsanaStream):
    """Workspaces the token sees (or the configured ``workspace_gids``); full table."""

    name = "workspaces"
    path = "/workspaces"
    schema: ClassVar[dict] = schemas.WORKSPACE

    @cached_property
    def in_scope(self) -> list[dict[str, Any]]:
        """The workspaces this run covers, by gid; listed once and shared by other streams."""
        wanted = set(self.config.get("workspace_gids") or [])
        listed = self.paginate(self.path, {"opt_fields": self.opt_fields})
        found = sorted(
            (w for w in listed if not wanted or w["gid"] in wanted), key=lambda w: w["gid"]
        )
        for gid in sorted(wanted - {w["gid"] for w in found}):
            self.logger.warning("Workspace %s is not visible to this access token: skipped", gid)
        return found

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from self.in_scope


def is_organization(workspace: dict[str, Any]) -> bool:
    """Whether a workspace is an organization (only organizations have teams)."""
    return bool(workspace.get("is_organization", True))


class WorkspaceChildStream(AsanaStream):
    """A full-table stream listed per workspace in scope (``path`` has ``{workspace_gid}``)."""

    def workspaces(self) -> list[dict[str, Any]]:
        """Workspaces in scope that this stream reads."""
        return self._tap.workspaces_stream.in_scope

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for workspace in self.workspaces():
            path = self.path.format(workspace_gid=workspace["gid"])
            try:
                for record in self.paginate(path, {"opt_fields": self.opt_fields}):
                    # A user belongs to several workspaces: emit it once.
                    seen.setdefault(record["gid"], record)
            except ResourceUnavailableError as exc:
                self.skip_unreadable("workspace", workspace["gid"], exc)
        yield from (seen[gid] for gid in sorted(seen))


class TeamsStream(WorkspaceChildStream):
    """Teams of every organization in scope; full table (teams carry no timestamps)."""

    name = "teams"
    path = "/workspaces/{workspace_gid}/teams"
    schema: ClassVar[dict] = schemas.TEAM

    @override
    def workspaces(self) -> list[dict[str, Any]]:
        # Only organizations have teams; Asana rejects the call for a personal workspace.
        return [w for w in super().workspaces() if is_organization(w)]

    @cached_property
    def in_scope(self) -> list[dict[str, Any]]:
        """The teams of the organizations in scope; listed once, shared with the projects."""
        return list(super().get_records(None))

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from self.in_scope


class UsersStream(WorkspaceChildStream):
    """Users of every workspace in scope, each once; full table."""

    name = "users"
    path = "/workspaces/{workspace_gid}/users"
    schema: ClassVar[dict] = schemas.USER_RECORD


class ProjectsStream(AsanaStream):
    """Projects in scope, archived ones included; incremental on ``modified_at``.

    Asana has no server-side filter on a project's ``modified_at``: every project is
    listed (a page per 100) and unchanged ones are dropped here. Organizations are listed
    per team, because a workspace-wide listing times out (504) on large domains; personal
    workspaces, which have no teams, per workspace.

    State: besides the SDK's bookmark, ``bookmarks.projects.known`` holds the gids listed
    last time. One that is no longer listed is read directly: a 404 emits it as deleted
    (``is_deleted``), so the targets' delete policy applies to it.
    """

    name = "projects"
    path = "/projects"
    replication_key = "modified_at"
    schema: ClassVar[dict] = schemas.PROJECT

    #: Key of the gids listed by the previous run inside this stream's state.
    KNOWN_KEY: ClassVar[str] = "known"

    @cached_property
    def in_scope(self) -> list[dict[str, Any]]:
        """Every project this run covers, by gid (shared with the tasks stream)."""
        configured = self.config.get("project_gids")
        projects = self._read_each(sorted(set(configured))) if configured else self._listed()
        return sorted({p["gid"]: p for p in projects}.values(), key=lambda p: p["gid"])

    def _listed(self) -> list[dict[str, Any]]:
        params = {"opt_fields": self.opt_fields}
        listings = [
            ("team", team["gid"], f"/teams/{team['gid']}/projects", params)
            for team in self._tap.teams_stream.in_scope
        ] + [
            ("workspace", workspace["gid"], "/projects", {**params, "workspace": workspace["gid"]})
            for workspace in self._tap.workspaces_stream.in_scope
            if not is_organization(workspace)
        ]

        def listing(of: tuple[str, str, str, dict[str, Any]]) -> list[dict[str, Any]]:
            kind, gid, path, query = of
            try:
                return list(self.paginate(path, query))
            except ResourceUnavailableError as exc:
                self.skip_unreadable(kind, gid, exc)
                return []

        return [project for _, found in self._concurrently(listing, listings) for project in found]

    def _read_each(self, gids: list[str]) -> list[dict[str, Any]]:
        found = []
        for gid, (project, error) in self._concurrently(self._read, gids):
            if error is not None:
                self.skip_unreadable("project", gid, error)
            elif project is not None:
                found.append(project)
        return found

    def _read(self, gid: str) -> tuple[dict[str, Any] | None, ResourceUnavailableError | None]:
        """One project by gid, or the 403/404 that kept it from us."""
        try:
            body = self.get_json(f"/projects/{gid}", {"opt_fields": self.opt_fields})
        except ResourceUnavailableError as exc:
            return None, exc
        return body["data"], None

    def _concurrently(self, func: Callable[[T], R], items: list[T]) -> Iterator[tuple[T, R]]:
        workers = int(self.config["max_concurrency"])
        with ThreadPoolExecutor(workers, thread_name_prefix="asana-project") as pool:
            yield from ordered_map(pool, func, items, window=2 * workers)

    def _deleted(self, listed: set[str]) -> list[dict[str, Any]]:
        """Projects listed last time and gone now (a direct read answers 404)."""
        known = set(self.stream_state.get(self.KNOWN_KEY) or [])
        still = set(listed)
        deleted = []
        for gid, (_project, error) in self._concurrently(self._read, sorted(known - listed)):
            if error is not None and error.status == HTTPStatus.NOT_FOUND:
                deleted.append(
                    deleted_record(gid, format_asana_timestamp(utcnow()), schemas.PROJECT)
                )
                continue
            still.add(gid)  # out of the listing but not gone: not a delete
            if error is not None:
                self.skip_unreadable("project", gid, error)
        self.stream_state[self.KNOWN_KEY] = sorted(still)
        return deleted

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        start = self.get_starting_timestamp(context)
        for project in self.in_scope:
            modified = project.get("modified_at")
            if start is None or modified is None or require_timestamp(modified) >= start:
                yield project
        for record in self._deleted({p["gid"] for p in self.in_scope}):
            self.logger.info("Project %s was deleted in Asana", record["gid"])
            yield record

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row.setdefault(schemas.IS_DELETED, False)
        return row


class TasksStream(AsanaStream):
    """Tasks and subtasks of every project in scope, incremental per project.

    State: besides the SDK's stream bookmark, ``bookmarks.tasks.projects`` maps each
    project gid to its :class:`~tap_asana_talk.task_sync.ProjectCursor` (event sync
    token and ``modified_at`` bookmark). One small map in the stream's own state rather
    than an SDK partition per project: partitions would sync one project at a time,
    while this stream reads many projects concurrently. A project's cursor moves only
    after all its records were emitted, so an interrupted run resumes where it stopped.
    """

    name = "tasks"
    path = "/tasks"
    replication_key = "modified_at"
    schema: ClassVar[dict] = schemas.TASK
    # Checkpoint often: each STATE carries the cursors of every project finished so far.
    STATE_MSG_FREQUENCY = 1000

    #: Key of the per-project cursors inside this stream's state.
    CURSORS_KEY: ClassVar[str] = "projects"

    @override
    def get_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        projects = [p["gid"] for p in self._tap.projects_stream.in_scope]
        cursors: dict[str, Any] = self.stream_state.setdefault(self.CURSORS_KEY, {})
        for gone in set(cursors) - set(projects):
            del cursors[gone]  # projects out of scope no longer cost state

        workers = int(self.config["max_concurrency"])
        emitted: set[str] = set()
        with (
            ThreadPoolExecutor(workers, thread_name_prefix="asana-project") as outer,
            ThreadPoolExecutor(workers, thread_name_prefix="asana-task") as inner,
        ):
            reader = ProjectTaskReader(
                self,
                inner,
                start_date=self._tap.start_date,
                lookback=timedelta(seconds=int(self.config["lookback_window_seconds"])),
                full_scan_interval=timedelta(hours=float(self.config["full_scan_interval_hours"])),
            )

            def read(project: str) -> ProjectResult | None:
                return reader.read(project, ProjectCursor.from_state(cursors.get(project)))

            for project, result in ordered_map(outer, read, projects, window=2 * workers):
                if result is None:
                    continue
                for record in result.records:
                    # A task in several projects is emitted once, with its first project.
                    if record["gid"] not in emitted:
                        emitted.add(record["gid"])
                        yield record
                cursors[project] = result.cursor.to_state()

    @override
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        row.setdefault(schemas.IS_DELETED, False)
        return row


class UnreadableStream(AsanaStream):
    """What this run could not read (403/404), one record per object: see
    :mod:`tap_asana_talk.unreadable`. Synced last, after every other stream."""

    name = "unreadable"
    path = "/unreadable"  # never requested
    primary_keys: ClassVar[list[str]] = ["record"]
    schema: ClassVar[dict] = unreadable.SCHEMA

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        yield from self._tap.unreadable.records()
