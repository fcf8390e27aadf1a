"""Planning the Asana calls of write operations (nothing is sent here).

An update becomes a ``PUT`` of the changed fields Asana lets a client write, then its
membership calls (``setParent``, ``addProject``/``removeProject``), which
:func:`move_rounds` spreads over rounds that never pack two dependent calls into one
``/batch``. A create becomes one ``POST`` to the record's container, carrying its project
or parent. What Asana cannot take is held back per field and reported
(:class:`Limitation`): fields it does not let a client write, a start date its date rules
refuse, a rich-text description edit that cannot keep its formatting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from talk_sync import Flow, OpKind, Ref, Rejected, Side, WriteOp, WriteOutcome, same
from talk_sync.flows import Access
from talk_sync.normalize import to_jsonable
from talk_sync.rich_text import RichTextError, carry_edit, is_rich

from target_asana_talk.client import Call
from target_asana_talk.model import (
    PATHS,
    RICH_TEXT,
    TEXT_FIELDS,
    UNSUPPORTED,
    UNSUPPORTED_ACCESS,
    WRITABLE,
    date_rule_broken,
    read_params,
)


@dataclass(frozen=True)
class Limitation:
    """A field of a record that Asana cannot take (reported, not crashed on)."""

    flow: Flow
    source: Ref
    field: str
    reason: str


@dataclass
class PlannedWrite:
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
    #: Why each of the ``unsent`` fields is not written, in the order they were held back.
    limitations: list[Limitation] = field(default_factory=list)

    def hold_back(self, name: str, reason: str, *, kept: bool = False) -> None:
        """Leave field ``name`` out of the write, for ``reason``."""
        self.limitations.append(Limitation(self.op.flow, self.op.source, name, reason))
        self.unsent.add(name)
        if kept:
            self.kept.add(name)


def changed_since(op: WriteOp, current: Mapping[str, Any]) -> bool:
    """Asana has no If-Match: compare its current synced fields with the snapshot.

    A start date the snapshot keeps but Asana cannot hold (see :func:`_fit_dates`) is
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


def plan_update(write: PlannedWrite) -> None:
    """The calls of an update to ``write.current``: the changed fields, then the moves."""
    op, current = write.op, write.current or {}
    asana_type, gid = op.flow.asana_type, op.updated.key
    body = _writable(write)
    _fit_dates(write, body, current)
    _keep_rich_text(write, body, current)
    if body:
        path = f"{PATHS[asana_type]}/{gid}"
        write.main = Call("put", path, body, params=read_params(asana_type))
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
                write.follow.append(Call("post", f"/tasks/{gid}/removeProject", {"project": old}))


def plan_create(write: PlannedWrite, workspace_gid: str | None) -> None:
    """The ``POST`` of a create, into its container; or the outcome when there is none.

    A team, or a project of no team, goes to the record's organization, else to
    ``workspace_gid``.
    """
    op = write.op
    asana_type, values = op.flow.asana_type, op.values
    body = {name: value for name, value in _writable(write).items() if value is not None}
    _fit_dates(write, body, {})
    organization = values.get("organization") or workspace_gid
    fields = read_params(asana_type)  # the created record comes back with the synced fields
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
            "project: the task's Custompms project is not linked to an Asana project or board task",
            "project",
        )


def move_rounds(writes: Sequence[PlannedWrite]) -> list[list[tuple[PlannedWrite, Call]]]:
    """The membership calls (``setParent``, ``addProject``, ``removeProject``) in rounds.

    Asana runs a batch's actions in parallel, in no guaranteed order, so calls that
    depend on each other never share one: a round holds at most one call per task (its
    calls go in the order planned, one round after the other), and a task moved under a
    task this batch also moves waits for its new parent's ``setParent`` (a parent and
    its subtask swapping places would otherwise be refused as a cycle, or not, by
    chance). The sender skips the later calls of a task whose call is refused: no
    ``removeProject`` after a refused ``addProject`` leaves it in no project.
    """
    first = _first_rounds(writes)
    rounds = max((first[w.index] + len(w.follow) for w in writes), default=0)
    return [
        [
            (write, write.follow[number - first[write.index]])
            for write in writes
            if 0 <= number - first[write.index] < len(write.follow)
        ]
        for number in range(rounds)
    ]


def _writable(write: PlannedWrite) -> dict[str, Any]:
    """The values of the op Asana takes; the others are held back as limitations."""
    op = write.op
    asana_type = op.flow.asana_type
    values = to_jsonable(dict(op.values))
    for name in values:
        reason = UNSUPPORTED.get((asana_type, name))
        # On a create only a set refused field (a project's `completed`) is out of reach
        # (a team and organization are given then); on an update any change of these is.
        refused = UNSUPPORTED_ACCESS.get((asana_type, name)) is Access.REFUSED
        if reason and (op.kind is OpKind.UPDATE or (refused and values[name])):
            write.hold_back(name, reason)
    body = {name: values[name] for name in WRITABLE[asana_type] if name in values}
    for name in TEXT_FIELDS & body.keys():
        body[name] = body[name] or ""
    return body


def _fit_dates(write: PlannedWrite, body: dict[str, Any], current: Mapping[str, Any]) -> None:
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
        write.hold_back("start_on", f"{problem}: not written to Asana (kept in Custompms)")
    if "start_on" in body and not {"due_on", "due_at"} & body.keys():
        # Asana wants the due date in the same request as a start date.
        if current.get("due_at"):
            body["due_at"] = current["due_at"]
        else:
            body["due_on"] = current.get("due_on")


def _keep_rich_text(write: PlannedWrite, body: dict[str, Any], current: Mapping[str, Any]) -> None:
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
        write.hold_back(plain, reason, kept=True)


def _first_rounds(writes: Sequence[PlannedWrite]) -> dict[int, int]:
    """The round of each write's first membership call (see :func:`move_rounds`): 0, or
    one after the round of its new parent's ``setParent`` when that parent moves too."""
    new_parents = {
        write.index: (write.follow[0].data or {}).get("parent")
        for write in writes
        if write.follow and write.follow[0].path.endswith("/setParent")
    }
    reparented = {write.op.updated.key: write for write in writes if write.index in new_parents}
    rounds: dict[int, int] = {}

    def first(write: PlannedWrite, below: frozenset[int]) -> int:
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
