"""The batch apply engine: docs/architecture.md §4 carried out for a batch of mapped records.

Both targets run the same engine; each supplies a
:class:`~talk_sync.destination.Destination` (its API client seen as batch writes with
per-operation outcomes). :meth:`ApplyEngine.apply` takes each
:class:`~talk_sync.incoming.Incoming` record of a batch through these steps, in this order:

1. **fit**: only what the destination can hold (:meth:`Destination.fit`); a record seen
   twice keeps its last version; an Asana task's delete takes its linked subtasks along;
2. **plan**: the links of the batch and of what it references, read in one query, then
   :func:`talk_sync.plan.plan` per record (:class:`~talk_sync.planning.Planner`); a delete
   unlinks or is ignored, per flow;
3. **identify** each create: a create an earlier run began, a record naming its counterpart,
   or one the other direction is creating, is linked instead
   (:class:`~talk_sync.identifying.Identifier`);
4. **hold** each create the destination may already hold: adopted or reported ambiguous at
   the end of the run (:class:`~talk_sync.adopting.Adopter`); a pair linked without
   snapshots is merged first;
5. **decide** the write (or the wait, skip or report) of each record;
6. **begin creates**: ``begin_create`` for all of the batch, committed *before* the write, so
   a crash mid-write is resumed with the same create key (or found with ``find_created``);
7. **write** the creates and updates in one ``write`` call; on a ``Stale`` outcome (the
   destination changed since its snapshot) merge field by field (the flow's conflict
   policy), report every conflict and write only what the merge says
   (:class:`~talk_sync.writing.Writer`);
8. **record** links, snapshots and rejects in **one** store transaction after the writes
   (:class:`~talk_sync.recording.Recorder`): the target emits STATE after this.

Records whose references are not linked yet (``WAIT``) are queued
(:class:`~talk_sync.retry.RetryState`) and retried at each
:meth:`ApplyEngine.checkpoint` (which the target calls before it emits STATE) until no more
progress is made, so a parent applied later in the run resolves its children; what still
waits is then kept in the link store as a reject and retried on the next run
(:meth:`ApplyEngine.start` replays the stored rejects). Records the destination refuses are
kept at once and reported; they are sent again when their values change, or with the same
values once a growing back-off has run out (:class:`~talk_sync.linkstore.Backoff`), never on
every run.
A record deleted in the source is unlinked and reported (the other side is never deleted),
or ignored, per flow. A dry run plans and reports only: nothing is written to the
destination or the link store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from talk_sync.adopting import MAX_ADOPTION_ROUNDS, Adopter
from talk_sync.adoption import CandidateIndex
from talk_sync.destination import Destination, OpKind, WriteOp
from talk_sync.flows import FLOWS
from talk_sync.identifying import Identifier
from talk_sync.incoming import Incoming
from talk_sync.linkstore import Backoff, Link, LinkMap, LinkStatus, LinkStore, Reject
from talk_sync.normalize import to_jsonable
from talk_sync.plan import Action, Plan
from talk_sync.planning import Planner
from talk_sync.policies import DeletePolicy, policy_for
from talk_sync.recording import Effect, Pending, Recorder, source_values
from talk_sync.refs import Side
from talk_sync.report import Outcome, RunReport
from talk_sync.retry import RetryState
from talk_sync.timestamps import utcnow
from talk_sync.writing import Writer, create_op

logger = logging.getLogger(__name__)

#: The flows whose Asana records nest (a subtask under its parent), and the parent field:
#: Asana deletes a record's children with it.
_NESTED = {flow: parent for flow in FLOWS if (parent := flow.parent_field(Side.ASANA))}
_NESTED_TYPES = frozenset(flow.asana_type for flow in _NESTED)

#: A record kept (refused, or waiting) this long is reported stuck and fails the run.
DEFAULT_STUCK_AFTER = timedelta(hours=24)
#: A refused record is sent again with the same values after 15 min, 30 min, 1 h ... 24 h.
DEFAULT_BACKOFF = Backoff(first=timedelta(minutes=15), cap=timedelta(hours=24))


class ApplyEngine:
    """Applies batches of :class:`Incoming` records to a :class:`Destination`.

    One engine per run: :meth:`start`, :meth:`apply` per batch, :meth:`checkpoint` before
    each STATE the target emits, :meth:`finish` at the end of input. ``conflict_policy`` and
    ``delete_policy`` are one policy or a mapping per flow (see :func:`policy_for`).
    ``claim`` names the run (its lease in the link store): the creates it begins are its
    own, and no other live run sends them. A record kept longer than ``stuck_after`` is
    reported stuck. A record the destination refused is sent again with the same values only
    after ``retry_backoff`` (``None``: on every run); with other values, at once.
    With ``adopt_existing`` a record to create that the destination already holds (same
    ``match_keys``) is linked to it instead, its differences settled by ``adopt_policy``
    (:mod:`talk_sync.adoption`).
    """

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        *,
        conflict_policy: Any = None,
        delete_policy: Any = None,
        dry_run: bool = False,
        claim: str | None = None,
        stuck_after: timedelta | None = DEFAULT_STUCK_AFTER,
        retry_backoff: Backoff | None = DEFAULT_BACKOFF,
        adopt_existing: bool = True,
        adopt_policy: Any = None,
        match_keys: Any = None,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.conflict_policy = conflict_policy
        self.delete_policy = delete_policy
        self.dry_run = dry_run
        self.claim = claim
        self.stuck_after = stuck_after
        self.retry_backoff = retry_backoff
        self.report = RunReport(self.side.other, dry_run=dry_run)
        #: Records waiting for a retry in this run, and those kept in the link store.
        self.retry = RetryState()
        self.recorder = Recorder(
            store,
            destination,
            self.report,
            self.retry,
            retry_backoff=retry_backoff,
            delete_policy=delete_policy,
        )
        # A create whose answer was lost is never taken for another pair's record.
        destination.linked = lambda refs: set(store.find_many(refs))
        #: Dry run: sources that would be created, so their dependants would be too.
        self._would_create: set[str] = set()
        #: Fields reported as not held by the destination in this run, by record key.
        self._reported_held: set[tuple[tuple[str, str], str]] = set()
        # The steps of a record's path, in the order apply() takes them (see the module).
        self.planner = Planner(store, destination)
        self.identifier = Identifier(store, destination, self.planner, claim=claim)
        self.adopter = Adopter(
            store,
            destination,
            self.planner,
            self.report,
            self.recorder,
            candidates=CandidateIndex(destination, match_keys) if adopt_existing else None,
            adopt_policy=adopt_policy,
            dry_run=dry_run,
        )
        self.writer = Writer(
            store,
            destination,
            self.report,
            self.retry,
            claim=claim,
            conflict_policy=conflict_policy,
        )

    # --- run lifecycle -----------------------------------------------------------------------

    def start(self) -> int:
        """Queue the records kept by earlier runs for a retry at the end; returns how many.

        A refused record whose back-off is not over is not queued: it is deferred (see
        :attr:`deferred`), unless the source sends it with other values in this run.
        """
        now = utcnow()
        for reject in self.store.rejects(side=self.side):
            try:
                item = Incoming.from_dict(reject.record)
            except (KeyError, ValueError):
                logger.warning("Kept record %s cannot be replayed; dropped", reject.source_key)
                if not self.dry_run:
                    self.store.clear_reject(self.side, reject.stream, reject.source_key)
                continue
            backing_off = bool(
                self.retry_backoff is not None and reject.fingerprint and not reject.due(now)
            )
            self.retry.load(item, reject, backing_off=backing_off)
        return len(self.retry)

    @property
    def deferred(self) -> list[Reject]:
        """Refused records not sent again in this run: same values, back-off not over."""
        return self.retry.deferred

    def checkpoint(self) -> None:
        """Retry the queued records until no more progress; keep the rest durably.

        Call it before emitting STATE: every record up to that STATE is then written or
        kept in the link store for the next run. Waiting records live in memory until
        here, so a first sync whose parents arrive after their children (taps emit streams
        in any order) writes no reject at all.
        """
        first = True
        while self.retry:
            before = self.retry.queued()
            batch = self.retry.take(self._wait_over(first=first))
            if not batch:
                break
            self.apply(sorted(batch, key=lambda item: item.flow.number))
            first = False
            if self.retry.queued() == before:
                break
        if self.dry_run:
            return
        adopting = "it may be a record the destination holds: decided at the end of the run"
        waiting = list(self.retry.waiting())
        waiting += [(key, item, adopting, None) for key, item in self.adopter.held()]
        with self.store.transaction():
            self.store.preload_rejects(self.side, [item.source for _key, item, *_ in waiting])
            for key, item, reason, field_name in waiting:
                if self.retry.is_kept(key, item):
                    continue  # stored already, by an earlier run or checkpoint
                self.store.record_reject(
                    self.side, item.flow.name, item.source, item.to_dict(), reason, field_name
                )
                self.retry.keep(item)

    def _wait_over(self, *, first: bool) -> Callable[[str | None], bool]:
        """Whose wait is over: a record waiting for a reference once that record is linked
        (or unlinked: it then never resolves), read in one query for all of them; a record
        waiting for no reference (replayed, or claimed by another run) in the first round.
        A dry run links nothing: there, a reference it would create or adopt ends the wait."""
        waited = self.retry.waited_for()
        links = self.store.find_many(waited) if waited else {}
        settled = {str(ref) for ref, link in links.items() if link.status is not LinkStatus.PENDING}
        settled |= (self._would_create | self.planner.assumed) & waited
        return lambda waits_for: first if waits_for is None else waits_for in settled

    def finish(self) -> RunReport:
        """A last :meth:`checkpoint`; what still waits is counted ``skipped``. The report.

        Every record still kept that a person must act on is listed as stuck: one stuck
        for a reason of its own (a conflict, a deleted parent, an ambiguous match), or kept
        for longer than ``stuck_after``.
        """
        self.checkpoint()
        for _round in range(MAX_ADOPTION_ROUNDS):
            if not self.adopter.holding:
                break
            again = self.adopter.adopt_held()
            if again:  # applied again: linked now, or as they came
                self.apply(again)
            self.checkpoint()  # their dependants resolve now, and may be held in turn
        for _key, item, reason, _field in self.retry.waiting():
            self.report.count(item.flow, Outcome.SKIPPED, record=item.source, detail=reason)
        for reject in self.retry.deferred:
            self.report.defer(
                reject.stream,
                reject.source_key,
                reject.reason,
                reject.field,
                retry_at=reject.retry_at,
                attempts=reject.attempts,
            )
        if not self.dry_run:
            self._report_stuck()
        self.report.finish()
        return self.report

    def _report_stuck(self) -> None:
        now = utcnow()
        for reject in self.store.rejects(side=self.side):
            why = reject.stuck
            age = now - reject.first_seen
            if why is None and self.stuck_after is not None and age >= self.stuck_after:
                why = f"not applied for {_duration(age)} ({reject.attempts} tries): {reject.reason}"
                self.store.mark_stuck(self.side, reject.stream, reject.source_key, why)
            if why is not None:
                self.report.stuck(reject.stream, reject.source_key, why, reject.field)

    # --- one batch: the record's path -------------------------------------------------------

    def apply(self, items: Iterable[Incoming]) -> None:
        """Apply one batch; its links, snapshots and rejects commit together at the end.

        Each record takes the steps of the module docstring, in that order.
        """
        batch = self._fit(items)  # 1. what the destination can hold
        effects, planned = self._plan(batch)  # 2. the batch's links read once
        if not self.dry_run:  # 3. creates already on the other side are linked instead
            planned = self.identifier.identify_all(planned)
        planned = self.adopter.hold(planned)  # 4. creates it may already hold wait for the end
        ready, unmerged = self.adopter.unmerged(planned)
        pending: list[Pending] = []
        effects += [self._decide(item, decision, pending) for item, decision in ready]  # 5.
        merged = self.adopter.merge_linked(unmerged)  # pairs linked without snapshots
        effects += [self._decide(item, decision, pending) for item, decision in merged]
        if self.dry_run:
            return
        self.writer.begin_creates(pending)  # 6. committed before the destination sees them
        self.writer.write(pending)  # 7. stale updates merged and sent again
        self.recorder.record(effects, pending)  # 8. one transaction: then STATE

    # --- fit ---------------------------------------------------------------------------------

    def _fit(self, items: Iterable[Incoming]) -> list[Incoming]:
        """The batch as the destination can hold it, one version per record, with the linked
        subtasks of its deleted Asana tasks; each field it cannot hold is reported."""
        latest: dict[tuple[str, str], Incoming] = {}
        for item in items:
            item = self._fitted(item)
            if self.retry.backing_off(item):
                continue  # refused with these very values, and not due again yet
            latest[item.key] = item  # a record seen twice: its last version wins
        for orphan in self._subtasks_of_deleted(latest.values()):
            latest.setdefault(orphan.key, orphan)
        for item in latest.values():
            self._report_held(item)
        return list(latest.values())

    def _fitted(self, item: Incoming) -> Incoming:
        """``item`` with only what the destination can hold (see :meth:`Destination.fit`).

        The fields it cannot hold are noted in ``held``, and the source's snapshot records,
        for those fields, what the destination holds: the reverse direction then does not
        take the destination's value for an edit of the source's. A field set to another
        value (an empty start date) takes it here; a field left out, in which the
        destination keeps its own value, takes that value when the record is recorded
        (:func:`talk_sync.recording.source_values`). Fitting a fitted record keeps what it noted.
        """
        if item.is_deleted:
            return item
        desired, held = self.destination.fit(item.flow, item.desired)
        if not held:
            return item
        source_values = dict(item.source_values)
        for name in held:
            paired = item.flow.counterpart_field(self.side, name)
            if name in desired and paired in source_values:
                source_values[paired] = desired[name]
        held = {**item.held, **held}
        return replace(item, desired=desired, source_values=source_values, held=held)

    def _subtasks_of_deleted(self, items: Iterable[Incoming]) -> list[Incoming]:
        """The linked subtasks, at any depth, of the Asana tasks deleted in ``items``.

        Asana deletes a task's subtasks with it, but the tap sees only what its events say,
        and events are at most once: the subtasks follow their parent from the links'
        Asana snapshots (``parent``), whether or not their own deletes arrive.
        """
        gone = [
            item.source.key
            for item in items
            if item.is_deleted
            and item.source.side is Side.ASANA
            and item.source.type in _NESTED_TYPES
        ]
        if not gone:
            return []
        children: dict[str, list[Link]] = {}
        for flow, parent_field in _NESTED.items():  # subtasks: task_task's parent
            for link in self.store.links(flow=flow.name, status=LinkStatus.LINKED):
                parent = (link.snapshot(Side.ASANA) or {}).get(parent_field)
                if parent:
                    children.setdefault(str(parent), []).append(link)
        orphans: list[Incoming] = []
        while gone:
            for link in children.pop(gone.pop(), []):
                ref = link.ref(Side.ASANA)
                if ref is not None:
                    orphans.append(Incoming(link.flow, ref, {}, is_deleted=True))
                    gone.append(ref.key)
        return orphans

    def _report_held(self, item: Incoming) -> None:
        """Report each field the destination cannot hold, once per record and run."""
        for name, reason in item.held.items():
            if (item.key, name) not in self._reported_held:
                self._reported_held.add((item.key, name))
                self.report.count(
                    item.flow, Outcome.SKIPPED, record=item.source, fields=[name], detail=reason
                )

    # --- plan --------------------------------------------------------------------------------

    def _plan(self, batch: list[Incoming]) -> tuple[list[Effect], list[tuple[Incoming, Plan]]]:
        """Each record's plan, from one consistent read of the batch's links; the effects of
        those that need no plan (deletes, records the destination cannot place)."""
        effects: list[Effect] = []
        planned: list[tuple[Incoming, Plan]] = []
        with self.store.transaction():  # one consistent read of the links for the batch
            links = self.planner.links_of(batch)
            for item in batch:
                self.retry.unqueue(item.key)
                self.adopter.forget(item.key)
                if item.is_deleted:
                    effects.append(self._delete(item, links))
                elif why := self.destination.unplaceable(item.flow, item.desired):
                    self.report.count(item.flow, Outcome.SKIPPED, record=item.source, detail=why)
                    effects.append(Effect(item, clear=True))
                else:
                    planned.append((item, self.planner.plan(item, links)))
        return effects, planned

    def _delete(self, item: Incoming, links: LinkMap) -> Effect:
        """A record deleted in the source: unlink (never delete the other side) or ignore."""
        # Queued or held under another flow (e.g. a board task): never replayed or adopted.
        self.retry.unqueue_source(item.source)
        self.adopter.drop(item.source)
        link = links.find(item.source)
        flow = link.flow if link is not None else item.flow
        if policy_for(self.delete_policy, flow, DeletePolicy.UNLINK) is DeletePolicy.IGNORE:
            detail = "deleted in the source; delete policy is ignore"
            self.report.count(flow, Outcome.SKIPPED, record=item.source, detail=detail)
            return Effect(item)
        if link is None:  # never synced: remembered, so its dependants know why they wait
            return Effect(item, clear=True, deleted=True)
        if link.status is LinkStatus.UNLINKED:
            return Effect(item, clear=True)  # already unlinked: nothing to do
        detail = f"deleted in {self.side.other}; {link.ref(self.side) or 'pending create'} kept"
        self.report.count(flow, Outcome.UNLINKED, record=item.source, detail=detail)
        return Effect(item, clear=True, unlink=link)

    # --- decide ------------------------------------------------------------------------------

    def _decide(self, item: Incoming, decision: Plan, pending: list[Pending]) -> Effect:
        """What ``decision`` does: a write added to ``pending``, a wait, a skip, a report."""
        flow, source = item.flow, item.source
        if decision.action is Action.SKIP:
            self.report.count(flow, Outcome.SKIPPED, record=source, detail=decision.reason)
            return Effect(item)
        if decision.action is Action.STUCK:
            self.report.count(flow, Outcome.SKIPPED, record=source, detail=decision.reason)
            return Effect(item, stuck=decision.reason)
        waits_for = set(decision.unresolved.values())
        if decision.action is Action.WAIT and self.dry_run and waits_for <= self._would_create:
            # Its references would be created earlier in this run: so would it be.
            self._would_create.add(str(source))
            self.report.count(flow, Outcome.CREATED, record=source, fields=list(decision.values))
            return Effect(item)
        if decision.action is Action.WAIT:
            field_name = min(decision.unresolved, default=None)
            parent = decision.unresolved.get(field_name) if field_name else None
            self.retry.wait(item, decision.reason, field_name, parent)
            return Effect(item)
        if decision.action is Action.UNCHANGED:
            self.report.count(flow, Outcome.UNCHANGED)
            link = decision.link
            values = source_values(item, self.side, link.snapshot(self.side) if link else None)
            known = link.snapshot(source.side) if link else None
            fresh = known != to_jsonable(values)
            return Effect(item, clear=True, source_snapshot=values if fresh else None)
        if self.dry_run:
            outcome = Outcome.CREATED if decision.action is Action.CREATE else Outcome.UPDATED
            if outcome is Outcome.CREATED:
                self._would_create.add(str(source))
            self.report.count(flow, outcome, record=source, fields=list(decision.changes))
            return Effect(item)
        if decision.action is Action.CREATE:
            op = create_op(item, decision, decision.link, self.side)
        else:
            op = WriteOp(
                OpKind.UPDATE,
                flow,
                source,
                dict(decision.changes),
                destination=decision.destination,
                snapshot=decision.link.snapshot(self.side) if decision.link else None,
            )
        pending.append(Pending(item, decision, op))
        return Effect(item)


def _duration(delta: timedelta) -> str:
    """E.g. ``3 days``, ``5 hours``, ``12 minutes``, for messages."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
