"""What to do with one incoming record: the decision part of applying a batch
(docs/architecture.md §4.2), shared by both targets.

:func:`plan` looks the source record up in the link store, resolves its references and
diffs it against the destination's last-known snapshot. The target then carries the plan
out (create, update, nothing) and records the result in the link store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from talk_sync.diff import diff
from talk_sync.flows import Flow, get_flow
from talk_sync.link_status import LinkStatus
from talk_sync.refs import Ref, parse_ref

if TYPE_CHECKING:
    from talk_sync.linkstore import Link, LinkMap, LinkStore


class Action(str, Enum):
    """What a target should do with one incoming record."""

    CREATE = "create"  #: not linked: create it (or resume a create begun in an earlier run)
    UPDATE = "update"  #: linked and changed: write ``changes`` to ``destination``
    UNCHANGED = "unchanged"  #: linked, nothing changed: write nothing (this stops echoes)
    WAIT = "wait"  #: a reference is not linked yet: retry later in the run, or next run
    SKIP = "skip"  #: unlinked (a side was deleted), or linked under another flow
    #: Can never be applied as things stand (e.g. its parent was deleted): kept, reported,
    #: and the run fails until a person acts.
    STUCK = "stuck"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Plan:
    """The decision for one record; see :func:`plan`."""

    action: Action
    flow: Flow
    source: Ref
    #: The record's link, if any (``PENDING`` when resuming a create).
    link: Link | None
    #: The desired destination values, references resolved to destination keys.
    values: dict[str, Any]
    #: The linked destination record (``UPDATE``/``UNCHANGED`` only).
    destination: Ref | None = None
    #: What to send: every value for ``CREATE``, only the changed fields for ``UPDATE``.
    changes: dict[str, Any] = field(default_factory=dict)
    #: References not linked yet, ``{field: namespaced ref}`` (``WAIT`` only).
    unresolved: dict[str, str] = field(default_factory=dict)
    #: References to records unlinked by a delete, ``{field: namespaced ref}``: they will
    #: never resolve, so a linked record keeps the destination's value for those fields
    #: and an unlinked one cannot be created (``STUCK``).
    gone: dict[str, str] = field(default_factory=dict)
    #: Why, when the engine decided it for a reason :attr:`reason` cannot derive.
    note: str | None = None

    @property
    def linked_record(self) -> Ref:
        """The linked destination record (every ``UPDATE``/``UNCHANGED`` plan names one)."""
        if self.destination is None:
            raise ValueError(f"{self.action} of {self.source} names no destination record")
        return self.destination

    @property
    def resuming(self) -> bool:
        """True when an earlier run began this create: replay its key or look the record up."""
        return self.link is not None and self.link.status is LinkStatus.PENDING

    @property
    def reason(self) -> str:
        """Why, in a few words, for the run report."""
        if self.note:
            return self.note
        if self.action is Action.STUCK and self.gone:
            refs = ", ".join(f"{name} {ref}" for name, ref in sorted(self.gone.items()))
            return (
                f"refers to records deleted on one side ({refs}); not created: move it under "
                "a synced record or delete it"
            )
        if self.action is Action.WAIT:
            refs = ", ".join(f"{name} {ref}" for name, ref in sorted(self.unresolved.items()))
            return f"not linked yet: {refs}"
        if self.action is Action.SKIP and self.link is not None and self.link.flow != self.flow:
            return f"linked in flow {self.link.flow}, arrived as flow {self.flow}; left as is"
        if self.action is Action.SKIP:
            return "unlinked (deleted on one side); not created again"
        if self.action is Action.CREATE and self.link is not None and self.resuming:
            return f"resuming create {self.link.create_key}"
        return str(self.action)


def plan(
    store: LinkStore | LinkMap,
    flow: Flow | int | str,
    source: Ref | str,
    desired: Mapping[str, Any],
    *,
    reference_fields: Iterable[str] = (),
) -> Plan:
    """Decide what to do with the record ``source`` whose mapped values are ``desired``.

    ``desired`` is in the destination's field names (after the stream maps), with
    references as namespaced source ids in ``reference_fields``. Fields are compared by the
    flow's destination field types, so an equal value spelled differently is no change.
    ``store``: the link store, or a batch's links read at once (a ``LinkMap``).
    """
    flow, source = get_flow(flow), parse_ref(source)
    destination_side = source.side.other
    link = store.find(source)
    values, unresolved = store.resolve_fields(desired, reference_fields, destination_side)

    def decided(action: Action, **extra: Any) -> Plan:
        return Plan(action, flow, source, link, values=values, **extra)

    if link is not None and (link.status is LinkStatus.UNLINKED or link.flow != flow):
        # A record that changed flow (e.g. an Asana task moved off the projects board) would
        # otherwise write one record type's fields into another: report it instead.
        return decided(Action.SKIP)
    # A reference to a record unlinked by a delete never resolves: waiting on it would keep
    # the record (and every later edit of it) waiting forever.
    gone = {name: ref for name, ref in unresolved.items() if _unlinked(store, ref)}
    unresolved = {name: ref for name, ref in unresolved.items() if name not in gone}
    if unresolved:
        return decided(Action.WAIT, unresolved=unresolved, gone=gone)
    if link is None or link.status is LinkStatus.PENDING:
        if gone:
            return decided(Action.STUCK, gone=gone)
        return decided(Action.CREATE, changes=dict(values))
    for name in gone:
        values.pop(name, None)  # keep what the destination has
    changes = diff(values, link.snapshot(destination_side), flow.fields(destination_side))
    action = Action.UPDATE if changes else Action.UNCHANGED
    return decided(action, destination=link.ref(destination_side), changes=changes, gone=gone)


def _unlinked(store: LinkStore | LinkMap, ref: str) -> bool:
    link = store.find(ref)
    return link is not None and link.status is LinkStatus.UNLINKED
