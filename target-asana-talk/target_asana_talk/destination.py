"""Asana as a talk-sync destination: write operations become Asana API calls.

Updates
    Asana has no ``If-Match``. Before updating, the current records are read (``GET`` in
    ``/batch`` packs of 10, with ``opt_fields``) and their synced fields compared with the
    link's Asana snapshot: a record that changed since is answered ``Stale`` and the engine
    merges field by field. Only the changed fields that Asana lets a client write are sent
    (``PUT``); a new parent goes through ``setParent``, a new project through
    ``addProject``/``removeProject``. Asana runs a ``/batch``'s actions in no guaranteed
    order, so these go in rounds that never pack two dependent calls together (see
    :meth:`AsanaDestination._send_moves`).
Creates
    ``POST /teams``, ``/teams/{gid}/projects`` (or ``/workspaces/{gid}/projects``),
    ``/tasks`` (in the linked project) or ``/tasks/{gid}/subtasks``. Asana has no
    idempotency key, so a create is never resent blindly: when its answer is lost (a dropped
    connection, a timeout, a 5xx after the call may have run), or when a run resumes a create
    an earlier run began, :meth:`AsanaDestination.find_created` lists the container (the
    parent's subtasks, the project's tasks, the team's or workspace's projects, the
    organization's teams) for a record with the same name, created at or after the pending
    link's time (less :data:`CLOCK_SKEW`), that no link claims yet; the oldest match is
    linked, and only when there is none is the create sent again.
Rich text
    A task's or project's notes may be rich text (``html_notes``: formatting, links,
    @-mentions), which Custompms sees as plain text (``notes``); a team's description too
    (``html_description``). A description edit to such notes is written as ``html_notes``
    with the edit carried into the rich text
    (:func:`talk_sync.rich_text.carry_edit`), so the formatting stays; one that cannot be
    carried (it joins two list items, say) is not written: reported per record, and each
    side keeps its value. Plain notes are written as ``notes``.
What Asana cannot do
    Create a workspace, change a workspace's email domains, move a team to another
    organization or a project to another team, set a project's ``completed``: each is
    reported per record (:attr:`AsanaDestination.limitations`) and the rest of the record is
    written. Deleting is never asked of Asana by the engine.
What Asana cannot hold (:meth:`AsanaDestination.fit`, before the engine plans)
    A start date its date rules refuse is left empty; an owner or assignee email that names
    no Asana user is left out (Asana keeps its own value). Each is reported per record and
    kept in Custompms on the way back; the rest of the record is written.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, ClassVar

from talk_sync import (
    CreateAttempt,
    Destination,
    Failed,
    Flow,
    Gone,
    OpKind,
    Ref,
    Rejected,
    Side,
    Stale,
    WriteOp,
    WriteOutcome,
    Written,
    flow_for,
    same,
    synced_values,
)
from talk_sync.errors import ApiError, TransientApiError
from talk_sync.flows import (
    RECORD_TYPES,
    Access,
    fields_of,
    read_fields,
    reference_fields,
    unwritable,
)
from talk_sync.normalize import FieldType, to_jsonable
from talk_sync.rich_text import RichTextError, carry_edit, is_rich
from talk_sync.timestamps import format_timestamp, parse_timestamp
from typing_extensions import override

from target_asana_talk.client import AsanaClient, AsanaError, Call, Reply

_TYPES = RECORD_TYPES[Side.ASANA]
#: Fields read for each Asana record type (``opt_fields``): the synced ones and timestamps,
#: and the rich text of notes (a description edit must keep its formatting).
OPT_FIELDS = {name: ",".join(read_fields(Side.ASANA, name)) for name in _TYPES}
#: Collection path of each record type.
PATHS = {name: record_type.path for name, record_type in _TYPES.items()}
#: Synced fields Asana lets a client write with ``PUT``/``POST``, per record type (moves of
#: references go through their own calls).
WRITABLE = {
    name: tuple(
        f.name
        for f in fields_of(Side.ASANA, name)
        if f.access is Access.WRITABLE and f.references is None
    )
    for name in _TYPES
}
#: Synced fields Asana does not let a client change: reported per record, never sent.
UNSUPPORTED = {key: f.why for key, f in unwritable(Side.ASANA).items()}
_ACCESS = {key: f.access for key, f in unwritable(Side.ASANA).items()}
#: The plain text field of each record type that Asana also keeps as rich text (``html_`` +).
RICH_TEXT = {name: t.rich_text for name, t in _TYPES.items() if t.rich_text}
#: Text fields Asana wants as strings (``None`` is sent as ``""``).
_TEXT = frozenset(
    f.name
    for name in _TYPES
    for f in fields_of(Side.ASANA, name)
    if f.name in WRITABLE[name] and f.type in (FieldType.TEXT, FieldType.OPTIONAL_TEXT)
)
#: Fields holding a user: the values are emails, Asana wants user gids.
_USERS = frozenset(
    f.name for name in _TYPES for f in fields_of(Side.ASANA, name) if f.type is FieldType.EMAIL
)
#: Leeway for clock differences between this machine and Asana when finding a lost create.
CLOCK_SKEW = timedelta(minutes=5)
#: Sends of one create whose answer is lost before the run fails.
MAX_CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Limitation:
    """A field of a record that Asana cannot take (reported, not crashed on)."""

    flow: Flow
    source: Ref
    field: str
    reason: str


@dataclass
class _Write:
    """One operation's calls: the main ``PUT``/``POST``, then membership calls."""

    index: int
    op: WriteOp
    main: Call | None = None
    follow: list[Call] = field(default_factory=list)
    #: The record before the write (updates), answered when nothing is sent.
    current: Mapping[str, Any] | None = None
    outcome: WriteOutcome | None = None
    #: Fields of the op Asana cannot take (limitations): not written.
    unsent: set[str] = field(default_factory=set)
    #: Of those, the fields where each side keeps its value (see ``Written.kept``).
    kept: set[str] = field(default_factory=set)


class AsanaDestination(Destination):
    """Writes talk-sync operations to Asana (flows 1-5) through :class:`AsanaClient`."""

    side = Side.ASANA
    reference_fields: ClassVar[Mapping[str, str]] = reference_fields(Side.ASANA)

    def __init__(
        self,
        client: AsanaClient,
        *,
        workspace_gid: str | None = None,
        boards: Sequence[str] = (),
    ) -> None:
        self.client = client
        #: The projects boards (gids or names) whose top-level tasks are Custompms projects
        #: (flow 4): a new Custompms project may already be one of their tasks.
        self.boards = frozenset(boards)
        #: The organization for new teams (and projects of customers with none).
        self.workspace_gid = workspace_gid
        #: Fields Asana could not take in this run.
        self.limitations: list[Limitation] = []
        #: Write calls sent (creates, updates, membership changes).
        self.writes_sent = 0
        self._users: dict[str, str | None] = {}

    # --- Destination -----------------------------------------------------------------------

    @override
    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        writes = [_Write(index, op) for index, op in enumerate(ops)]
        updates = [w for w in writes if w.op.kind is OpKind.UPDATE]
        replies = self._read([w.op.destination for w in updates if w.op.destination])
        for write in updates:
            reply = replies[write.op.destination]  # type: ignore[index]
            if reply.status == HTTPStatus.FORBIDDEN:
                # A private project, guest access: this record only, the rest goes on.
                write.outcome = Rejected(reply.status, f"unreadable in Asana: {reply.message}")
                continue
            record = _current(write.op.destination, reply)  # type: ignore[arg-type]
            if record is not None:  # references as keys, users as emails
                record = synced_values(write.op.flow, Side.ASANA, record, keep_extra=True)
            if record is None:
                write.outcome = Gone()
            elif self._changed_since(write.op, record):
                write.outcome = Stale(record)
            else:
                write.current = record
                self._plan_update(write)
        for write in writes:
            if write.op.kind is OpKind.CREATE:
                self._plan_create(write)
        self._resolve_users([w for w in writes if w.outcome is None])
        todo = [w for w in writes if w.outcome is None]
        self._send_updates([w for w in todo if w.op.kind is OpKind.UPDATE])
        self._send_creates([w for w in todo if w.op.kind is OpKind.CREATE])
        return [w.outcome or Failed("not sent") for w in writes]

    @override
    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Mapping[str, Any] | None]:
        """The current records, as Asana answers them (``None`` for a deleted one)."""
        return {ref: _current(ref, reply) for ref, reply in self._read(refs).items()}

    def _read(self, refs: Sequence[Ref]) -> dict[Ref, Reply]:
        calls = [
            Call("get", f"{PATHS[ref.type]}/{ref.key}", params=_fields(ref.type)) for ref in refs
        ]
        return dict(zip(refs, self.client.call_many(calls), strict=True))

    @override
    def key_of(self, flow: Flow, record: Mapping[str, Any]) -> str:
        return str(record["gid"])

    @override
    def modified_at(self, flow: Flow, record: Mapping[str, Any]) -> Any:
        return record.get("modified_at")  # workspaces and teams have none

    @override
    def fit(self, flow: Flow, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        fitted, held = dict(values), {}
        problem = date_rule_broken(flow.asana_type, fitted) if "start_on" in fitted else None
        if problem is not None:
            fitted["start_on"] = None
            held["start_on"] = f"{problem}: not written to Asana (kept in Custompms)"
        users = {name: _email(fitted[name]) for name in sorted(_USERS & fitted.keys())}
        gids = self._user_gids([email for email in users.values() if email])
        for name, email in users.items():
            if email and gids[email] is None:
                # Left out, not cleared: Asana keeps the owner or assignee it has, and the
                # rest of the record (and the tasks waiting for it) is written.
                del fitted[name]
                held[name] = (
                    f"no Asana user has the email {email}: {name} not written to Asana "
                    "(kept in Custompms)"
                )
        return fitted, held

    @override
    def placement(self, flow: Flow, values: Mapping[str, Any]) -> dict[str, Any]:
        # A new team goes to the configured organization when its customer has no parent.
        return {**values, "organization": values.get("organization") or self.workspace_gid}

    @override
    def candidate_scope(self, flow: Flow, values: Mapping[str, Any]) -> Hashable | None:
        if not flow.creates(Side.ASANA):
            return None  # never created here (new projects become projects, not board tasks)
        listing = self._container(flow.asana_type, self.placement(flow, values))
        if listing is None:
            return None
        path, params = listing
        return path, tuple(sorted(params.items()))

    @override
    def list_candidates(self, flow: Flow, scope: Hashable) -> Sequence[Mapping[str, Any]]:
        path, params = scope  # type: ignore[misc]
        try:
            records = self.client.list(path, **dict(params))
        except AsanaError as error:
            if error.status not in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND):
                raise
            # A container deleted (its event not seen yet) or unreadable: nothing to adopt,
            # and the create meets Asana's own answer, for this record alone.
            return []
        if flow.asana_type == "team":  # a customer may be a workspace (flow 1), not a team
            workspaces = self.client.list("/workspaces", **_fields("workspace"))
            records += [{**w, "resource_type": "workspace"} for w in workspaces]
        elif flow.asana_type == "project":  # a project may be a board task (flow 4)
            for board in [r for r in records if {r["gid"], r.get("name")} & self.boards]:
                cards = self.client.list("/tasks", project=board["gid"], **_fields("task"))
                records += [
                    {**card, "resource_type": "task", "team": board.get("team")}
                    for card in cards
                    if not card.get("parent")
                ]
        return records

    @override
    def candidate_flow(self, flow: Flow, record: Mapping[str, Any]) -> Flow:
        kind = record.get("resource_type")
        if kind == "workspace" and flow.asana_type == "team":
            return flow_for("workspace", flow.custompms_type)
        if kind == "task" and flow.asana_type == "project":
            return flow_for("task", flow.custompms_type)
        return flow

    @override
    def find_created(self, op: WriteOp, attempt: CreateAttempt) -> list[Mapping[str, Any]]:
        """The records a create whose answer was lost may have made, oldest first (see
        module doc); the engine passes over those a link holds already."""
        asana_type, values = op.flow.asana_type, op.values
        listing = self._container(asana_type, values)
        if listing is None:
            return []
        path, params = listing
        since = self._pending_since(attempt)
        if asana_type == "task" and "project" in params:
            params["modified_since"] = format_timestamp(since)
        # Teams have no created_at: only a team that did not exist when the create began
        # can be its result (never "any team of that name"; a pre-context row finds none).
        existed: set[str] | None = None
        if asana_type == "team":
            context = self._create_context_of(attempt)
            if context is None:
                return []
            existed = set(context.get("existing") or [])
        name = values.get("name") or ""
        candidates = []
        for record in self.client.list(path, **params):
            if record.get("name") != name:
                continue
            if existed is not None and str(record["gid"]) in existed:
                continue
            created = parse_timestamp(record["created_at"]) if record.get("created_at") else None
            if created is not None and created < since:
                continue
            candidates.append(record)
        return sorted(candidates, key=lambda record: str(record.get("created_at") or ""))

    @override
    def create_context(self, ops: Sequence[WriteOp]) -> list[Mapping[str, Any] | None]:
        """For a team create, the gids of the organization's teams of that name before it."""
        teams: dict[str, list[dict[str, Any]]] = {}
        contexts: list[Mapping[str, Any] | None] = []
        for op in ops:
            organization = op.values.get("organization") or self.workspace_gid
            if op.flow.asana_type != "team" or not organization:
                contexts.append(None)
                continue
            if organization not in teams:  # one listing per organization and batch
                teams[organization] = self.client.list(
                    f"/workspaces/{organization}/teams", opt_fields="name"
                )
            name = op.values.get("name") or ""
            existing = sorted(str(t["gid"]) for t in teams[organization] if t.get("name") == name)
            contexts.append({"existing": existing})
        return contexts

    def _create_context_of(self, attempt: CreateAttempt) -> Mapping[str, Any] | None:
        return attempt.context

    # --- planning the calls ----------------------------------------------------------------

    def _changed_since(self, op: WriteOp, current: Mapping[str, Any]) -> bool:
        """Asana has no If-Match: compare its current synced fields with the snapshot.

        A start date the snapshot keeps but Asana cannot hold (see :meth:`_fit_dates`) is
        compared as Asana holds it.
        """
        snapshot = dict(op.snapshot or {})
        if date_rule_broken(op.flow.asana_type, snapshot):
            snapshot["start_on"] = None
        types = op.flow.fields(Side.ASANA)
        return any(
            not same(snapshot[name], current.get(name), kind)
            for name, kind in types.items()
            if name in snapshot
        )

    def _writable(self, write: _Write) -> dict[str, Any]:
        """The values of the op Asana takes; the others are noted as limitations."""
        op = write.op
        asana_type = op.flow.asana_type
        values = to_jsonable(dict(op.values))
        for name in values:
            reason = UNSUPPORTED.get((asana_type, name))
            # On a create only a set refused field (a project's `completed`) is out of reach
            # (a team and organization are given then); on an update any change of these is.
            refused = _ACCESS.get((asana_type, name)) is Access.REFUSED
            if reason and (op.kind is OpKind.UPDATE or (refused and values[name])):
                self.limitations.append(Limitation(op.flow, op.source, name, reason))
                write.unsent.add(name)
        body = {name: values[name] for name in WRITABLE[asana_type] if name in values}
        for name in _TEXT & body.keys():
            body[name] = body[name] or ""
        return body

    def _fit_dates(self, write: _Write, body: dict[str, Any], current: Mapping[str, Any]) -> None:
        """Make ``body`` a request Asana's date rules accept; note what it cannot hold.

        Asana keeps no start date without a due date, and no project whose start and due
        dates are the same day: the start date is then left out (or cleared), reported, and
        kept on the Custompms side (the engine's snapshots, via ``unsent``). A request that
        sets or unsets ``start_on`` must carry the due date too.
        """
        asana_type = write.op.flow.asana_type
        if asana_type not in ("project", "task"):
            return
        dated = {"start_on": current.get("start_on")}
        if {"due_on", "due_at"} & body.keys():
            dated.update(due_on=body.get("due_on"), due_at=body.get("due_at"))
        else:
            dated.update(due_on=current.get("due_on"), due_at=current.get("due_at"))
        if "start_on" in body:
            dated["start_on"] = body["start_on"]
        problem = date_rule_broken(asana_type, dated)
        if problem is not None:
            if current.get("start_on"):
                body["start_on"] = None  # clear it: Asana would refuse the request otherwise
            else:
                body.pop("start_on", None)
            reason = f"{problem}: not written to Asana (kept in Custompms)"
            self.limitations.append(Limitation(write.op.flow, write.op.source, "start_on", reason))
            write.unsent.add("start_on")
        if "start_on" in body and not {"due_on", "due_at"} & body.keys():
            # Asana wants the due date in the same request as a start date.
            if current.get("due_at"):
                body["due_at"] = current["due_at"]
            else:
                body["due_on"] = current.get("due_on")

    def _keep_rich_text(
        self, write: _Write, body: dict[str, Any], current: Mapping[str, Any]
    ) -> None:
        """A description edit to rich notes goes in as ``html_notes``, formatting kept.

        Writing ``notes`` would replace Asana's rich text (formatting, links, @-mentions)
        with flat text. The edit is carried into the current ``html_notes`` instead; one
        that cannot be is left out and reported, and each side keeps its value. Plain notes
        are written as ``notes``, as ever. (A team's ``description`` and
        ``html_description`` alike.)
        """
        op = write.op
        plain = RICH_TEXT.get(op.flow.asana_type)
        if plain is None or plain not in body or not is_rich(current.get(f"html_{plain}")):
            return
        edited = body.pop(plain)
        try:
            body[f"html_{plain}"] = carry_edit(
                current[f"html_{plain}"], current.get(plain) or "", edited
            )
        except RichTextError as error:
            reason = (
                f"Asana keeps this {op.flow.asana_type}'s {plain} as rich text (html_{plain}: "
                f"formatting, links or @-mentions) that a plain-text edit would flatten, and "
                f"{error}: not written to Asana, which keeps its rich text (the description "
                "is kept in Custompms)"
            )
            self.limitations.append(Limitation(op.flow, op.source, plain, reason))
            write.unsent.add(plain)
            write.kept.add(plain)

    def _plan_update(self, write: _Write) -> None:
        op, current = write.op, write.current or {}
        asana_type, gid = op.flow.asana_type, op.destination.key  # type: ignore[union-attr]
        body = self._writable(write)
        self._fit_dates(write, body, current)
        self._keep_rich_text(write, body, current)
        if body:
            path = f"{PATHS[asana_type]}/{gid}"
            write.main = Call("put", path, body, params=_fields(asana_type))
        if asana_type == "task":
            if "parent" in op.values:
                write.follow.append(
                    Call("post", f"/tasks/{gid}/setParent", {"parent": op.values["parent"] or None})
                )
            if "project" in op.values:
                new, old = op.values["project"] or None, current.get("project") or None
                if new:
                    write.follow.append(Call("post", f"/tasks/{gid}/addProject", {"project": new}))
                if old and old != new:
                    write.follow.append(
                        Call("post", f"/tasks/{gid}/removeProject", {"project": old})
                    )

    def _plan_create(self, write: _Write) -> None:
        op = write.op
        asana_type, values = op.flow.asana_type, op.values
        body = {name: value for name, value in self._writable(write).items() if value is not None}
        self._fit_dates(write, body, {})
        organization = values.get("organization") or self.workspace_gid
        fields = _fields(asana_type)  # the created record comes back with the synced fields
        if asana_type == "workspace":
            write.outcome = Rejected(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "Asana cannot create a workspace; link the customer to an existing one",
            )
        elif asana_type == "team":
            if not organization:
                write.outcome = Rejected(
                    HTTPStatus.BAD_REQUEST,
                    "organization: the customer has no parent linked to an Asana workspace; "
                    "set workspace_gid to create its team",
                    "organization",
                )
                return
            write.main = Call("post", "/teams", {**body, "organization": organization}, fields)
        elif asana_type == "project":
            if values.get("team"):
                path = f"/teams/{values['team']}/projects"
            elif organization:
                path = f"/workspaces/{organization}/projects"
            else:
                write.outcome = Rejected(
                    HTTPStatus.BAD_REQUEST,
                    "team: the project's customer is not linked to an Asana team or workspace; "
                    "set workspace_gid",
                    "team",
                )
                return
            write.main = Call("post", path, body, fields)
        elif op.flow.custompms_type == "project":  # flow 4: new projects go to flow 3
            write.outcome = Rejected(
                HTTPStatus.BAD_REQUEST, "new Custompms projects become Asana projects, not tasks"
            )
        elif values.get("parent"):
            write.main = Call("post", f"/tasks/{values['parent']}/subtasks", body, fields)
        elif values.get("project"):
            write.main = Call("post", "/tasks", {**body, "projects": [values["project"]]}, fields)
        else:
            write.outcome = Rejected(
                HTTPStatus.BAD_REQUEST,
                "project: the task's Custompms project is not linked to an Asana project "
                "or board task",
                "project",
            )

    def _user_gids(self, emails: Sequence[str]) -> dict[str, str | None]:
        """The user gid of each email (``None``: no Asana user), looked up once per run."""
        wanted = sorted(set(emails) - self._users.keys())
        calls = [Call("get", f"/users/{email}", params={"opt_fields": "email"}) for email in wanted]
        for email, reply in zip(wanted, self.client.call_many(calls), strict=True):
            if reply.ok:
                self._users[email] = str(reply.data["gid"])
            elif reply.status in (HTTPStatus.NOT_FOUND, HTTPStatus.BAD_REQUEST):
                self._users[email] = None
            else:
                raise _failure(f"GET /users/{email}", reply)
        return {email: self._users[email] for email in emails}

    def _resolve_users(self, writes: list[_Write]) -> None:
        """Emails become user gids. :meth:`fit` left out the unknown ones; one that still
        arrives here (an op the engine did not fit) rejects the op rather than lose it."""
        self._user_gids(
            [
                _email(write.main.data[name])
                for write in writes
                if write.main is not None and write.main.data
                for name in _USERS & write.main.data.keys()
                if write.main.data[name]
            ]
        )
        for write in writes:
            if write.main is None or not write.main.data:
                continue
            data = dict(write.main.data)
            for name in _USERS & data.keys():
                if not data[name]:
                    continue
                email = _email(data[name])
                if self._users.get(email) is None:
                    write.outcome = Rejected(
                        HTTPStatus.UNPROCESSABLE_ENTITY,
                        f"{name}: no Asana user has the email {email}",
                        name,
                    )
                data[name] = self._users.get(email)
            write.main = Call(write.main.method, write.main.path, data, params=write.main.params)

    # --- sending -----------------------------------------------------------------------------

    def _send_updates(self, writes: list[_Write]) -> None:
        """PUTs in batches, then membership calls, then a read of the records they moved."""
        sending = [w for w in writes if w.main is not None]
        replies = self.client.call_many([w.main for w in sending])  # type: ignore[misc]
        self.writes_sent += len(sending)
        results: dict[int, Mapping[str, Any]] = {}
        for write, reply in zip(sending, replies, strict=True):
            if reply.ok:
                results[write.index] = reply.data
            else:
                write.outcome = self._refused(write, reply)
        moving = [w for w in writes if w.follow and w.outcome is None]
        self._send_moves(moving)
        reread = [w for w in moving if w.outcome is None]
        fresh = self.fetch([w.op.destination for w in reread])  # type: ignore[misc]
        for write in reread:
            results[write.index] = fresh.get(write.op.destination) or {}  # type: ignore[arg-type]
        for write in writes:
            if write.outcome is None:
                record = results.get(write.index) or write.current or {}
                write.outcome = Written(
                    record, unsent=frozenset(write.unsent), kept=frozenset(write.kept)
                )

    def _send_moves(self, writes: list[_Write]) -> None:
        """The membership calls (``setParent``, ``addProject``, ``removeProject``) in rounds.

        Asana runs a batch's actions in parallel, in no guaranteed order, so calls that
        depend on each other never share one: a round holds at most one call per task (its
        calls go in the order planned, one round after the other), and a task moved under a
        task this batch also moves waits for its new parent's ``setParent`` (a parent and
        its subtask swapping places would otherwise be refused as a cycle, or not, by
        chance). A task whose call is refused sends none of its later calls: no
        ``removeProject`` after a refused ``addProject`` leaves it in no project.
        """
        first = _first_rounds(writes)
        rounds = max((first[w.index] + len(w.follow) for w in writes), default=0)
        for number in range(rounds):
            due = [
                (write, write.follow[number - first[write.index]])
                for write in writes
                if write.outcome is None and 0 <= number - first[write.index] < len(write.follow)
            ]
            replies = self.client.call_many([call for _write, call in due])
            self.writes_sent += len(due)
            for (write, _call), reply in zip(due, replies, strict=True):
                if not reply.ok:
                    write.outcome = self._refused(write, reply)

    def _send_creates(self, writes: list[_Write]) -> None:
        """POSTs in batches; a create whose answer was lost is looked up before a resend."""
        pending = [w for w in writes if w.main is not None]
        for _attempt in range(MAX_CREATE_ATTEMPTS):
            if not pending:
                return
            replies = self.client.call_many([w.main for w in pending])  # type: ignore[misc]
            self.writes_sent += len(pending)
            lost = []
            for write, reply in zip(pending, replies, strict=True):
                if reply.lost:
                    lost.append(write)
                elif reply.ok:
                    write.outcome = Written(reply.data, unsent=frozenset(write.unsent))
                else:
                    write.outcome = self._refused(write, reply)
            pending = []
            for write in lost:
                found = self.created_record(write.op)
                if found is not None:
                    write.outcome = Written(found, unsent=frozenset(write.unsent))
                else:
                    pending.append(write)
        for write in pending:
            write.outcome = Failed("Asana's answer to the create was lost on every attempt")

    def _refused(self, write: _Write, reply: Reply) -> WriteOutcome:
        if reply.lost or reply.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return Failed(reply.message or "no answer")
        if reply.status == HTTPStatus.NOT_FOUND and write.op.kind is OpKind.UPDATE:
            return Gone(f"404 {reply.message}")
        return Rejected(reply.status, reply.message, reply.field)

    # --- finding lost creates ---------------------------------------------------------------

    def _container(
        self, asana_type: str, values: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]] | None:
        """Where a created record of ``asana_type`` lives: a list path and its parameters."""
        params = _fields(asana_type)
        organization = values.get("organization") or self.workspace_gid
        if asana_type == "task" and values.get("parent"):
            return f"/tasks/{values['parent']}/subtasks", params
        if asana_type == "task" and values.get("project"):
            return "/tasks", {**params, "project": values["project"]}
        if asana_type == "project" and values.get("team"):
            return f"/teams/{values['team']}/projects", params
        if asana_type == "project" and organization:
            return f"/workspaces/{organization}/projects", params
        if asana_type == "team" and organization:
            return f"/workspaces/{organization}/teams", params
        return None

    def _pending_since(self, attempt: CreateAttempt) -> datetime:
        """When the create was begun (its pending link's time), less :data:`CLOCK_SKEW`."""
        return attempt.began_at - CLOCK_SKEW


def date_rule_broken(asana_type: str, values: Mapping[str, Any]) -> str | None:
    """Which of Asana's date rules a project's or task's start and due dates break, if any."""
    start, due = values.get("start_on"), values.get("due_at") or values.get("due_on")
    if asana_type not in ("project", "task") or not start:
        return None
    if not due:
        return "Asana keeps no start date without a due date"
    if asana_type == "project" and str(start) == str(due)[:10]:
        return "Asana refuses a project whose start and due dates are the same day"
    return None


def _first_rounds(writes: Sequence[_Write]) -> dict[int, int]:
    """The round of each write's first membership call (see ``_send_moves``): 0, or one
    after the round of its new parent's ``setParent`` when that parent moves too."""
    new_parents = {
        write.index: (write.follow[0].data or {}).get("parent")
        for write in writes
        if write.follow and write.follow[0].path.endswith("/setParent")
    }
    reparented = {
        write.op.destination.key: write  # type: ignore[union-attr]
        for write in writes
        if write.index in new_parents
    }
    rounds: dict[int, int] = {}

    def first(write: _Write, below: frozenset[int]) -> int:
        if write.index not in rounds:
            parent = reparented.get(str(new_parents.get(write.index) or ""))
            # A cycle (Asana refuses it anyway) must not recurse forever.
            if parent is None or parent.index in below:
                rounds[write.index] = 0
            else:
                rounds[write.index] = first(parent, below | {write.index}) + 1
        return rounds[write.index]

    for write in writes:
        first(write, frozenset())
    return rounds


def _email(value: Any) -> str:
    """An email as Asana looks users up by it (case and surrounding spaces do not count)."""
    return str(value or "").strip().lower()


def _fields(asana_type: str) -> dict[str, Any]:
    return {"opt_fields": OPT_FIELDS[asana_type]}


def _current(ref: Ref, reply: Reply) -> Mapping[str, Any] | None:
    """A read record (``None`` when Asana no longer has it); any other failure raises."""
    if reply.status == HTTPStatus.NOT_FOUND:
        return None
    if not reply.ok:
        raise _failure(f"GET {ref}", reply)
    return reply.data


def _failure(what: str, reply: Reply) -> ApiError:
    error = (
        TransientApiError
        if reply.lost or reply.status >= HTTPStatus.INTERNAL_SERVER_ERROR
        else AsanaError
    )
    return error(f"{what}: {reply.status} {reply.message}", reply.status)
