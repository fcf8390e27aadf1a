"""Writing a batch to the destination (:class:`Writer`): the creates begun in the link store
first, then one ``write`` of every op, and a field-by-field merge of the stale updates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from talk_sync.destination import (
    CREATE_CONTEXT,
    CreateAttempt,
    Destination,
    Gone,
    OpKind,
    Rejected,
    Stale,
    WriteOp,
    Written,
)
from talk_sync.errors import ApplyError
from talk_sync.incoming import Incoming
from talk_sync.linkstore import ClaimedElsewhereError, CreateRequest, Link, LinkStatus, LinkStore
from talk_sync.merge import merge as merge_fields
from talk_sync.plan import Plan
from talk_sync.policies import policy_for
from talk_sync.recording import Pending
from talk_sync.refs import Side
from talk_sync.report import RunReport
from talk_sync.retry import RetryState

#: Rounds of merge-and-write after ``Stale`` before a record is kept for the next run.
MAX_MERGE_ROUNDS = 3


def create_op(item: Incoming, decision: Plan, link: Link | None, side: Side) -> WriteOp:
    """The op that creates ``item`` on ``side``; ``link``: its pending row, when begun."""
    return WriteOp(
        OpKind.CREATE,
        item.flow,
        item.source,
        dict(decision.changes or decision.values),
        create_key=link.create_key if link else None,
        attempt=_attempt(link, side),
    )


def _attempt(link: Link | None, side: Side) -> CreateAttempt | None:
    """A pending create as begun: when, and with which context (:data:`CREATE_CONTEXT`)."""
    if link is None or link.status is not LinkStatus.PENDING:
        return None
    return CreateAttempt(link.created_at, (link.snapshot(side) or {}).get(CREATE_CONTEXT))


class Writer:
    """Sends a batch's ops to ``destination``; each :class:`Pending` gets its outcome."""

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        report: RunReport,
        retry: RetryState,
        *,
        claim: str | None = None,
        conflict_policy: Any = None,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.report = report
        self.retry = retry
        self.claim = claim
        self.conflict_policy = conflict_policy

    def begin_creates(self, pending: list[Pending]) -> None:
        """Pending rows for every create, committed before the destination sees the writes.

        Each row is claimed by this run and carries the created record's match key. A
        create another live run has claimed meanwhile is not sent: it waits (next run).
        """
        creates = [p for p in pending if p.op.kind is OpKind.CREATE]
        if not creates:
            return
        contexts = self._create_contexts(creates)
        requests = []
        for entry, context in zip(creates, contexts, strict=True):
            # What is sent, kept until the link completes: a resumed create then tells
            # source edits from what the destination derived.
            sent = dict(entry.op.values)
            if context is not None:
                sent[CREATE_CONTEXT] = context
            source_values = dict(entry.item.source_values)
            asana, custompms = (sent, source_values)
            if self.side is Side.CUSTOMPMS:
                asana, custompms = custompms, asana
            match_key = self.destination.match_key(entry.op)
            requests.append(
                CreateRequest(
                    entry.item.flow, entry.item.source, self.claim, match_key, asana, custompms
                )
            )
        begun = self.store.begin_creates(requests)
        for entry, context, link in zip(creates, contexts, begun, strict=True):
            if isinstance(link, ClaimedElsewhereError):
                pending.remove(entry)
                note = f"the create of {entry.item.source} is in flight in another run"
                self.retry.wait(entry.item, note)
                continue
            attempt = CreateAttempt(link.created_at, context)
            entry.op = replace(entry.op, create_key=link.create_key, attempt=attempt)

    def _create_contexts(self, creates: list[Pending]) -> list[Mapping[str, Any] | None]:
        """Each create's context: its first attempt's when it resumes, else a fresh one."""
        links = self.store.find_many([entry.item.source for entry in creates])
        kept: list[Mapping[str, Any] | None] = []
        for entry in creates:
            link = links.get(entry.item.source)
            snapshot = link.snapshot(self.side) if link is not None else None
            kept.append((snapshot or {}).get(CREATE_CONTEXT))
        fresh = iter(
            self.destination.create_context(
                [entry.op for entry, context in zip(creates, kept, strict=True) if context is None]
            )
        )
        return [context if context is not None else next(fresh) for context in kept]

    def write(self, pending: list[Pending]) -> None:
        """Send the ops; merge and resend the stale ones, up to :data:`MAX_MERGE_ROUNDS`."""
        todo = list(pending)
        for _round in range(MAX_MERGE_ROUNDS):
            if not todo:
                return
            outcomes = self.destination.write([entry.op for entry in todo])
            if len(outcomes) != len(todo):
                raise ApplyError(
                    f"destination answered {len(outcomes)} outcomes for {len(todo)} ops"
                )
            stale = []
            for entry, outcome in zip(todo, outcomes, strict=True):
                entry.outcome = outcome
                if isinstance(outcome, Stale) and entry.op.kind is OpKind.UPDATE:
                    stale.append(entry)
            todo = self._merge(stale)
        for entry in todo:
            entry.outcome = Rejected(
                412, "changed again during each merge; retried next run", transient=True
            )

    def _merge(self, stale: list[Pending]) -> list[Pending]:
        """Three-way merge each stale update; returns those that still need a write."""
        # Only updates go stale, and an update names its destination record.
        missing = [e.op.updated for e in stale if _stale(e).current is None]
        fetched = self.destination.fetch(missing) if missing else {}
        resend = []
        for entry in stale:
            current = _stale(entry).current or fetched.get(entry.op.updated)
            if current is None:
                entry.outcome = Gone()
                continue
            flow, item = entry.item.flow, entry.item
            ours = {
                name: value
                for name, value in entry.decision.values.items()
                if name in flow.fields(self.side)
            }
            result = merge_fields(
                entry.decision.link.snapshot(self.side) if entry.decision.link else None,
                ours,
                current,
                source=self.side.other,
                policy=policy_for(self.conflict_policy, flow),
                ours_modified_at=item.modified_at,
                theirs_modified_at=self.destination.modified_at(flow, current),
                field_types=flow.fields(self.side),
            )
            for conflict in result.conflicts:
                self.report.conflict(flow, item.source, conflict)
            if not result.to_destination:
                entry.outcome = Written(current)  # nothing of ours left to write
                entry.merged_away = True
                continue
            entry.op = replace(entry.op, values=result.to_destination, snapshot=current)
            resend.append(entry)
        return resend


def _stale(entry: Pending) -> Stale:
    """A stale update's outcome (only the entries the write answered ``Stale``)."""
    if not isinstance(entry.outcome, Stale):
        raise TypeError(f"{entry.item.source}: {entry.outcome!r} is not Stale")
    return entry.outcome
