"""Asana as a talk-sync destination: write operations become Asana API calls.

:class:`AsanaDestination` composes the pieces, each in its own module:

- :mod:`~target_asana_talk.model`: Asana's records as this target reads and writes them
  (fields, paths, containers, date rules), derived from the flow descriptions.
- :mod:`~target_asana_talk.calls`: planning an operation's calls, and what Asana cannot
  take of it (:class:`~target_asana_talk.calls.Limitation`).
- :mod:`~target_asana_talk.users`: users named by email become Asana user gids.
- :mod:`~target_asana_talk.lost_creates`: finding what a create whose answer was lost made.

Updates
    Asana has no ``If-Match``. Before updating, the current records are read (``GET`` in
    ``/batch`` packs of 10, with ``opt_fields``) and their synced fields compared with the
    link's Asana snapshot: a record that changed since is answered ``Stale`` and the engine
    merges field by field. Only the changed fields that Asana lets a client write are sent
    (``PUT``); a new parent goes through ``setParent``, a new project through
    ``addProject``/``removeProject``. Asana runs a ``/batch``'s actions in no guaranteed
    order, so these go in rounds that never pack two dependent calls together (see
    :func:`~target_asana_talk.calls.move_rounds`).
Creates
    ``POST /teams``, ``/teams/{gid}/projects`` (or ``/workspaces/{gid}/projects``),
    ``/tasks`` (in the linked project) or ``/tasks/{gid}/subtasks``. Asana has no
    idempotency key, so a create is never resent blindly: when its answer is lost, or when
    a run resumes a create an earlier run began, the record it may have made is looked up
    (:meth:`AsanaDestination.find_created`); only when there is none is the create sent
    again, at most :data:`MAX_CREATE_ATTEMPTS` times a run.
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
from http import HTTPStatus
from typing import Any, cast

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
    synced_values,
)
from talk_sync.flows import reference_fields
from typing_extensions import override

from target_asana_talk import lost_creates
from target_asana_talk.calls import (
    Limitation,
    PlannedWrite,
    changed_since,
    move_rounds,
    plan_create,
    plan_update,
)
from target_asana_talk.client import AsanaClient, AsanaError, Call, Reply
from target_asana_talk.model import PATHS, container, current_record, date_rule_broken, read_params
from target_asana_talk.users import UserDirectory

#: Sends of one create whose answer is lost before the run fails.
MAX_CREATE_ATTEMPTS = 3


class AsanaDestination(Destination):
    """Writes talk-sync operations to Asana (flows 1-5) through :class:`AsanaClient`."""

    side = Side.ASANA
    reference_fields = reference_fields(Side.ASANA)

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
        self.users = UserDirectory(client)

    # --- Destination -----------------------------------------------------------------------

    @override
    def write(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        writes = [PlannedWrite(index, op) for index, op in enumerate(ops)]
        updates = [w for w in writes if w.op.kind is OpKind.UPDATE]
        replies = self._read([w.op.updated for w in updates])
        for write in updates:
            reply = replies[write.op.updated]
            if reply.status == HTTPStatus.FORBIDDEN:
                # A private project, guest access: this record only, the rest goes on.
                write.outcome = Rejected(reply.status, f"unreadable in Asana: {reply.message}")
                continue
            record = current_record(write.op.updated, reply)
            if record is not None:  # references as keys, users as emails
                record = synced_values(write.op.flow, Side.ASANA, record, keep_extra=True)
            if record is None:
                write.outcome = Gone()
            elif changed_since(write.op, record):
                write.outcome = Stale(record)
            else:
                write.current = record
                plan_update(write)
                self.limitations += write.limitations
        for write in writes:
            if write.op.kind is OpKind.CREATE:
                plan_create(write, self.workspace_gid)
                self.limitations += write.limitations
        self.users.resolve([w for w in writes if w.outcome is None])
        todo = [w for w in writes if w.outcome is None]
        self._send_updates([w for w in todo if w.op.kind is OpKind.UPDATE])
        self._send_creates([w for w in todo if w.op.kind is OpKind.CREATE])
        return [w.outcome or Failed("not sent") for w in writes]

    @override
    def fetch(self, refs: Sequence[Ref]) -> dict[Ref, Mapping[str, Any] | None]:
        """The current records, as Asana answers them (``None`` for a deleted one)."""
        return {ref: current_record(ref, reply) for ref, reply in self._read(refs).items()}

    def _read(self, refs: Sequence[Ref]) -> dict[Ref, Reply]:
        calls = [
            Call("get", f"{PATHS[ref.type]}/{ref.key}", params=read_params(ref.type))
            for ref in refs
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
        held.update(self.users.leave_out_unknown(fitted))
        return fitted, held

    @override
    def placement(self, flow: Flow, values: Mapping[str, Any]) -> dict[str, Any]:
        # A new team goes to the configured organization when its customer has no parent.
        return {**values, "organization": values.get("organization") or self.workspace_gid}

    @override
    def candidate_scope(self, flow: Flow, values: Mapping[str, Any]) -> Hashable | None:
        if not flow.creates(Side.ASANA):
            return None  # never created here (new projects become projects, not board tasks)
        listing = container(flow.asana_type, self.placement(flow, values), self.workspace_gid)
        if listing is None:
            return None
        path, params = listing
        return path, tuple(sorted(params.items()))

    @override
    def list_candidates(self, flow: Flow, scope: Hashable) -> Sequence[Mapping[str, Any]]:
        path, params = cast("tuple[str, tuple[tuple[str, Any], ...]]", scope)
        try:
            records = self.client.list(path, **dict(params))
        except AsanaError as error:
            if error.status not in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND):
                raise
            # A container deleted (its event not seen yet) or unreadable: nothing to adopt,
            # and the create meets Asana's own answer, for this record alone.
            return []
        if flow.asana_type == "team":  # a customer may be a workspace (flow 1), not a team
            workspaces = self.client.list("/workspaces", **read_params("workspace"))
            records += [{**w, "resource_type": "workspace"} for w in workspaces]
        elif flow.asana_type == "project":  # a project may be a board task (flow 4)
            for board in [r for r in records if {r["gid"], r.get("name")} & self.boards]:
                cards = self.client.list("/tasks", project=board["gid"], **read_params("task"))
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
        :mod:`~target_asana_talk.lost_creates`); the engine passes over those a link holds
        already."""
        return lost_creates.find_created(self.client, op, attempt, self.workspace_gid)

    @override
    def create_context(self, ops: Sequence[WriteOp]) -> list[Mapping[str, Any] | None]:
        """For a team create, the gids of the organization's teams of that name before it."""
        return lost_creates.create_context(self.client, ops, self.workspace_gid)

    # --- sending -----------------------------------------------------------------------------

    def _send_updates(self, writes: list[PlannedWrite]) -> None:
        """PUTs in batches, then membership calls, then a read of the records they moved."""
        sending = [w for w in writes if w.main is not None]
        replies = self.client.call_many(_main_calls(sending))
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
        fresh = self.fetch([w.op.updated for w in reread])
        for write in reread:
            results[write.index] = fresh.get(write.op.updated) or {}
        for write in writes:
            if write.outcome is None:
                record = results.get(write.index) or write.current or {}
                write.outcome = Written(
                    record, unsent=frozenset(write.unsent), kept=frozenset(write.kept)
                )

    def _send_moves(self, writes: list[PlannedWrite]) -> None:
        """The membership calls, round after round (:func:`~target_asana_talk.calls.move_rounds`);
        a task whose call is refused sends none of its later calls."""
        for planned in move_rounds(writes):
            due = [(write, call) for write, call in planned if write.outcome is None]
            replies = self.client.call_many([call for _write, call in due])
            self.writes_sent += len(due)
            for (write, _call), reply in zip(due, replies, strict=True):
                if not reply.ok:
                    write.outcome = self._refused(write, reply)

    def _send_creates(self, writes: list[PlannedWrite]) -> None:
        """POSTs in batches; a create whose answer was lost is looked up before a resend."""
        pending = [w for w in writes if w.main is not None]
        for _attempt in range(MAX_CREATE_ATTEMPTS):
            if not pending:
                return
            replies = self.client.call_many(_main_calls(pending))
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

    def _refused(self, write: PlannedWrite, reply: Reply) -> WriteOutcome:
        if reply.lost or reply.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return Failed(reply.message or "no answer")
        if reply.status == HTTPStatus.NOT_FOUND and write.op.kind is OpKind.UPDATE:
            return Gone(f"404 {reply.message}")
        return Rejected(reply.status, reply.message, reply.field)


def _main_calls(writes: Sequence[PlannedWrite]) -> list[Call]:
    """Each write's main call: callers pass only writes that have one (``zip(strict=True)``
    then pairs each write with its reply)."""
    return [write.main for write in writes if write.main is not None]
