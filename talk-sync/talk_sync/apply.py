"""The batch apply engine: docs/architecture.md §4 carried out for a batch of mapped records.

Both targets run the same engine; each supplies a
:class:`~talk_sync.destination.Destination` (its API client seen as batch writes with
per-operation outcomes). For every :class:`~talk_sync.incoming.Incoming` record the engine
decides with :func:`talk_sync.plan.plan`, then:

1. creates: ``begin_create`` for all of the batch, committed *before* the write, so a crash
   mid-write is resumed with the same create key (or found with ``find_created``);
2. sends the creates and updates to the destination in one ``write`` call;
3. on a ``Stale`` outcome (the destination changed since its snapshot) merges field by field
   (:func:`talk_sync.merge.merge`, the flow's conflict policy), reports every conflict and
   writes only what the merge says;
4. records links, snapshots (the destination record as written; the source values) and
   rejects in **one** store transaction after the writes (:mod:`talk_sync.recording`): the
   target emits STATE after this.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from talk_sync.adoption import (
    AdoptionMerge,
    Candidate,
    CandidateIndex,
    adoption_merge,
    ambiguity,
    choose,
    retarget,
)
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
from talk_sync.identity import match_key
from talk_sync.incoming import Incoming
from talk_sync.linkstore import (
    Backoff,
    ClaimedElsewhereError,
    Link,
    LinkError,
    LinkMap,
    LinkStatus,
    LinkStore,
    Reject,
)
from talk_sync.merge import merge as merge_fields
from talk_sync.normalize import is_empty, to_jsonable
from talk_sync.plan import Action, Plan, plan
from talk_sync.policies import DeletePolicy, policy_for
from talk_sync.recording import (
    ApplyError,
    Effect,
    Pending,
    Recorder,
    snapshots,
    source_values,
)
from talk_sync.refs import Ref, Side, format_ref, parse_ref
from talk_sync.report import Outcome, RunReport
from talk_sync.retry import RetryState
from talk_sync.timestamps import parse_timestamp, utcnow

logger = logging.getLogger(__name__)

#: Rounds of merge-and-write after ``Stale`` before a record is kept for the next run.
MAX_MERGE_ROUNDS = 3
#: A record kept (refused, or waiting) this long is reported stuck and fails the run.
DEFAULT_STUCK_AFTER = timedelta(hours=24)
#: A refused record is sent again with the same values after 15 min, 30 min, 1 h ... 24 h.
DEFAULT_BACKOFF = Backoff(first=timedelta(minutes=15), cap=timedelta(hours=24))
#: Leeway for clock differences between the two systems and this machine.
CLOCK_SKEW = timedelta(minutes=5)


# --- the engine ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    """A record to create that existing destination records may already be: adopted, or
    reported ambiguous, once the run has seen every record (:meth:`ApplyEngine.finish`)."""

    item: Incoming
    candidates: list[Candidate]


#: Rounds of adoption at the end of a run: each adopts a level (customers, projects, tasks,
#: subtasks) whose records only then find their candidates.
MAX_ADOPTION_ROUNDS = 20


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
        self.adopt_policy = adopt_policy
        #: The destination's records by adoption key (``None``: never adopt).
        self.candidates = CandidateIndex(destination, match_keys) if adopt_existing else None
        #: Records to create that may already exist: decided at the end of the run.
        self._held: dict[tuple[str, str], _Held] = {}
        #: Dry run: the pairs that would be adopted, source ref -> (destination ref, its
        #: snapshot), so that their dependants resolve as they would; the adopted records.
        self._would_link: dict[str, tuple[Ref, Mapping[str, Any]]] = {}
        self._taken: set[Ref] = set()
        #: Dry run: the records the batch's ``external_id``s name, read in one go.
        self._counterparts: dict[Ref, Mapping[str, Any] | None] = {}

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
        while self.retry:
            before = self.retry.queued()
            batch = sorted(self.retry.take(), key=lambda item: item.flow.number)
            self.apply(batch)
            if self.retry.queued() == before:
                break
        if self.dry_run:
            return
        adopting = "it may be a record the destination holds: decided at the end of the run"
        waiting = list(self.retry.waiting())
        waiting += [(key, held.item, adopting, None) for key, held in self._held.items()]
        with self.store.transaction():
            for key, item, reason, field_name in waiting:
                if self.retry.is_kept(key, item):
                    continue  # stored already, by an earlier run or checkpoint
                self.store.record_reject(
                    self.side, item.flow.name, item.source, item.to_dict(), reason, field_name
                )
                self.retry.keep(item)

    def finish(self) -> RunReport:
        """A last :meth:`checkpoint`; what still waits is counted ``skipped``. The report.

        Every record still kept that a person must act on is listed as stuck: one stuck
        for a reason of its own (a conflict, a deleted parent, an ambiguous match), or kept
        for longer than ``stuck_after``.
        """
        self.checkpoint()
        for _round in range(MAX_ADOPTION_ROUNDS):
            if not self._held:
                break
            self._adopt_held()
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

    # --- one batch ---------------------------------------------------------------------------

    def apply(self, items: Iterable[Incoming]) -> None:
        """Apply one batch; its links, snapshots and rejects commit together at the end."""
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
        effects: list[Effect] = []
        pending: list[Pending] = []
        planned: list[tuple[Incoming, Plan]] = []
        with self.store.transaction():  # one consistent read of the links for the batch
            links = self._links_of(latest.values())
            for item in latest.values():
                self.retry.unqueue(item.key)
                self._held.pop(item.key, None)
                if item.is_deleted:
                    effects.append(self._delete(item, links))
                elif why := self.destination.unplaceable(item.flow, item.desired):
                    self.report.count(item.flow, Outcome.SKIPPED, record=item.source, detail=why)
                    effects.append(Effect(item, clear=True))
                else:
                    planned.append((item, self._plan(item, links)))
        if self.dry_run and self.candidates is not None:  # the records they name, in one read
            named = {item.counterpart for item, d in planned if d.action is Action.CREATE}
            named -= {None, *self._counterparts}
            if named:
                self._counterparts.update(self.destination.fetch(sorted(named, key=str)))  # type: ignore[arg-type]
        unmerged: list[tuple[Incoming, Plan]] = []
        for item, decision in planned:
            if decision.action is Action.CREATE and not self.dry_run:
                # Outside the read transaction: this may take claims and ask the destination.
                decision = self._identify(item, decision)
            if decision.action is Action.CREATE and self._hold(item, decision):
                continue
            if self._unmerged(decision):
                unmerged.append((item, decision))
                continue
            effects.append(self._decided(item, decision, pending))
        for item, decision in self._merge_linked(unmerged):
            effects.append(self._decided(item, decision, pending))
        if self.dry_run:
            return
        self._begin_creates(pending)
        self._write(pending)
        self.recorder.record(effects, pending)

    def _links_of(self, items: Iterable[Incoming]) -> LinkMap:
        """The links of a batch's records and of the records they reference, read in one
        query: everything planning the batch looks up."""
        refs: list[Ref] = []
        for item in items:
            refs.append(item.source)
            for name in self.destination.reference_fields:
                value = item.desired.get(name)
                if not is_empty(value):
                    refs.append(parse_ref(value))
        return LinkMap(self.store, refs)

    def _subtasks_of_deleted(self, items: Iterable[Incoming]) -> list[Incoming]:
        """The linked subtasks, at any depth, of the Asana tasks deleted in ``items``.

        Asana deletes a task's subtasks with it, but the tap sees only what its events say,
        and events are at most once: the subtasks follow their parent from the links'
        Asana snapshots (``parent``), whether or not their own deletes arrive.
        """
        gone = [
            item.source.key
            for item in items
            if item.is_deleted and item.source.side is Side.ASANA and item.source.type == "task"
        ]
        if not gone:
            return []
        children: dict[str, list[Link]] = {}
        # Subtasks are always task_task records (a board task is a top-level task).
        for link in self.store.links(flow="task_task", status=LinkStatus.LINKED):
            parent = (link.snapshot(Side.ASANA) or {}).get("parent")
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

    def _report_held(self, item: Incoming) -> None:
        """Report each field the destination cannot hold, once per record and run."""
        for name, reason in item.held.items():
            if (item.key, name) not in self._reported_held:
                self._reported_held.add((item.key, name))
                self.report.count(
                    item.flow, Outcome.SKIPPED, record=item.source, fields=[name], detail=reason
                )

    def _plan(self, item: Incoming, links: LinkStore | LinkMap | None = None) -> Plan:
        """What to do with ``item`` (:func:`talk_sync.plan.plan`), its references followed.

        ``links``: the batch's links read at once (default: the store, as it is now).
        """
        links = links if links is not None else self.store
        desired = self._follow(item.desired, links)
        fields = [name for name in self.destination.reference_fields if name in desired]
        decision = plan(links, item.flow, item.source, desired, reference_fields=fields)
        snapshot = decision.link.snapshot(self.side) if decision.link else None
        if decision.action in (Action.UPDATE, Action.UNCHANGED) and snapshot is not None:
            marker = self.destination.link_marker(item.flow, item.source, snapshot)
            if marker:  # the destination record does not say yet which record it is linked to
                changes = {**decision.changes, **marker}
                decision = replace(decision, action=Action.UPDATE, changes=changes)
        return decision

    def _follow(self, desired: Mapping[str, Any], links: LinkStore | LinkMap) -> dict[str, Any]:
        """Resolve linked references; follow those that land on another record type.

        A board task's customer is ``asana-project:<board>``, which lands on a Custompms
        *project*: its ``customer_id`` is taken. A subtask's ``project_id`` names its parent
        task: that task's ``project_id`` is taken. A reference the landed record does not
        have (``parent_task_id`` of a project: the parent became a project) becomes empty.
        """
        values = dict(desired)
        for name, expected in self.destination.reference_fields.items():
            value = values.get(name)
            if is_empty(value):
                continue
            ref = parse_ref(value)
            if ref.side is self.side:
                continue
            if str(ref) in self._would_link:  # dry run: adopted, as far as this run goes
                landed, snapshot = self._would_link[str(ref)]
            else:
                link = links.find(ref)
                if link is None or link.status is not LinkStatus.LINKED:
                    continue  # plan() waits for it
                landed, snapshot = link.ref(self.side), link.snapshot(self.side)
            if landed is None:
                continue
            if landed.type == expected:
                values[name] = str(landed)  # resolved here: plan() takes it as is
                continue
            followed = (snapshot or {}).get(name)
            values[name] = None if is_empty(followed) else format_ref(self.side, expected, followed)
        return values

    # --- identity: never create a record the other side already made -----------------------

    def _identify(self, item: Incoming, decision: Plan) -> Plan:
        """Before a create: is the record already on the other side, or being put there?

        - It names its counterpart (a Custompms ``external_id``): link the two.
        - The other direction is creating (or crashed creating) a record just like it
          (same match key): that record is this one; link it, or wait while that run lives.
        - A create an earlier run of ours began: claim it, then find what it made.
        """
        if decision.resuming:
            return self._resume(item, decision)
        if item.counterpart is not None:
            return self._link_counterpart(item, decision)
        return self._match_pending(item, decision) or decision

    def _resume(self, item: Incoming, decision: Plan) -> Plan:
        """A create begun by an earlier run: claim it, then link what it made, if found.

        What it made holds the values that run sent (kept with the pending row) plus what
        the destination derived from them: only source edits made since are written to it.
        """
        try:
            link = self.store.begin_create(item.flow, item.source, claim=self.claim)
        except ClaimedElsewhereError as error:
            return replace(decision, action=Action.WAIT, note=str(error))
        op = self._create_op(item, decision, link)
        found = self.destination.created_record(op)
        if found is None:
            return replace(decision, link=link)
        destination = Ref(
            self.side, item.flow.record_type(self.side), self.destination.key_of(item.flow, found)
        )
        written = snapshots(self.destination, item, found, sent=link.snapshot(self.side))
        try:
            self.store.complete_create(item.source, destination, **written)
        except LinkError as error:
            return replace(decision, action=Action.STUCK, note=f"{error}; link it by hand")
        return self._plan(item)

    def _link_counterpart(self, item: Incoming, decision: Plan) -> Plan:
        counterpart, source = item.counterpart, item.source
        assert counterpart is not None
        link = self.store.find(counterpart)
        snapshot = {f"{source.side.value}_snapshot": dict(item.source_values)}
        try:
            if link is None:  # the link store does not know it (e.g. its row was lost)
                asana, custompms = sorted((counterpart, source), key=lambda ref: ref.side.value)
                self.store.link(item.flow, asana, custompms, origin=counterpart.side, **snapshot)
            elif link.status is LinkStatus.UNLINKED:
                note = f"its counterpart {counterpart} was deleted on one side; not created again"
                return replace(decision, action=Action.SKIP, note=note)
            elif link.ref(source.side) is None:  # the create that made this record is pending
                self.store.complete_create(counterpart, source, **snapshot)
            elif link.ref(source.side) != source:
                note = (
                    f"names {counterpart} as its counterpart, which is linked to "
                    f"{link.ref(source.side)}: clear one record's external_id, or unlink the pair"
                )
                return replace(decision, action=Action.STUCK, note=note)
        except LinkError as error:
            return replace(decision, action=Action.STUCK, note=str(error))
        return self._plan(item)

    def _match_pending(self, item: Incoming, decision: Plan) -> Plan | None:
        """A record the other direction is creating from one of its own (see identity)."""
        key = match_key(item.flow, item.source.side, item.source_values)
        if key is None:
            return None
        matches = self.store.pending_matches(item.flow, self.side, key)
        since = parse_timestamp(item.created_at) if item.created_at else None
        if since is not None:  # a record older than the create cannot be its result
            matches = [m for m in matches if m.created_at - CLOCK_SKEW <= since]
        if not matches:
            return None
        busy = [m for m in matches if self.store.claim_live(m, self.claim)]
        if busy:
            note = f"being created from {busy[0].source} by another run; retried next run"
            return replace(decision, action=Action.WAIT, note=note)
        if len(matches) > 1:
            names = ", ".join(str(m.source) for m in matches)
            note = (
                f"ambiguous: {len(matches)} unfinished creates look like it ({names}); "
                "link it by hand"
            )
            return replace(decision, action=Action.STUCK, note=note)
        snapshot = {f"{item.source.side.value}_snapshot": dict(item.source_values)}
        try:
            self.store.complete_create(matches[0].source, item.source, **snapshot)
        except LinkError as error:
            return replace(decision, action=Action.STUCK, note=str(error))
        return self._plan(item)

    # --- adoption: link what the destination already holds (talk_sync.adoption) -------------

    def _hold(self, item: Incoming, decision: Plan) -> bool:
        """Whether ``item``, about to be created, may be a record the destination holds:
        then it is held, and adopted or reported ambiguous at the end of the run."""
        if self.candidates is None or decision.resuming:
            return False
        if item.counterpart is not None:  # a dry run (a real one linked it in _identify)
            found = self._counterparts.get(item.counterpart)
            candidates = [Candidate(item.counterpart, found, named=True)] if found else []
        else:
            candidates = self.candidates.lookup(item.flow, item.source, decision.values)
        free = [candidate for candidate in candidates if self._free(candidate.ref)]
        if not free:
            return False
        self._held[item.key] = _Held(item, free)
        return True

    def _free(self, ref: Ref) -> bool:
        """Whether ``ref`` may still be adopted: no link of any status (an unlinked record
        was deleted on one side, or unlinked by hand: never re-linked by itself)."""
        return ref not in self._taken and self.store.find(ref) is None

    def _adopt_held(self) -> None:
        """Adopt each held record's one candidate; report the ambiguous ones (kept, stuck).

        Runs once every record of the run is known: one candidate that two records want
        is only seen then. Adopted records are applied again, now linked: what they won is
        written, and their dependants resolve at the next checkpoint.
        """
        held, self._held = self._held, {}
        wanted = {key: [c for c in h.candidates if self._free(c.ref)] for key, h in held.items()}
        chosen, ambiguous = choose(wanted)
        again: list[Incoming] = []
        for key in sorted(ambiguous):
            item, candidates = held[key].item, wanted[key]
            if not candidates:  # each was adopted meanwhile (another run, or a name twin)
                again.append(item)
                continue
            refs = {candidate.ref for candidate in candidates}
            rivals = [
                held[other].item.source
                for other, theirs in wanted.items()
                if other != key and refs & {candidate.ref for candidate in theirs}
            ]
            reason = ambiguity(item, candidates, rivals)
            self.report.ambiguous(item.flow, item.source, sorted(map(str, refs)), reason)
            if not self.dry_run:
                self.recorder.keep(item, reason, stuck=reason)
        for key, candidate in chosen.items():
            # As a record of the candidate's flow (a customer adopting a workspace is the
            # workspace's), and linked: without the fields only a create uses.
            original = held[key].item
            item = retarget(original, candidate.flow or original.flow, self.side)
            item = replace(item, desired=item.flow.pick(self.side, item.desired))
            adopted = self._adopt(item, candidate)
            if adopted is not None:  # applied again: linked now, or as it was if it was not
                again.append(item if adopted else original)
        if again:
            self.apply(again)

    def _adopt(self, item: Incoming, candidate: Candidate) -> bool | None:
        """Link ``item`` to ``candidate`` with the merged snapshots; report each difference.

        Returns ``True`` when linked, ``False`` when not (either record got a link
        meanwhile, from another run or a delete): the item is applied again as it came;
        ``None`` in a dry run (nothing to apply).
        """
        flow = item.flow
        theirs, merged = self._adoption_merge(item, self._plan(item).values, candidate.record)
        how = "external_id" if candidate.named else "match key"
        if self.dry_run:
            self.report.adopted(flow, item.source, candidate.ref, how, merged.differences)
            self._would_link[str(item.source)] = (candidate.ref, theirs)
            self._taken.add(candidate.ref)
            return None
        if self.store.find(item.source) is not None or not self._free(candidate.ref):
            return False
        asana, custompms = sorted((item.source, candidate.ref), key=lambda ref: ref.side.value)
        snapshots = {
            f"{self.side.value}_snapshot": merged.snapshot,
            f"{item.source.side.value}_snapshot": source_values(item, self.side, theirs),
        }
        try:
            self.store.link(flow, asana, custompms, origin=item.source.side, **snapshots)
        except LinkError as error:  # another run linked one of them meanwhile
            logger.info("Not adopted, planned again: %s", error)
            return False
        self.report.adopted(flow, item.source, candidate.ref, how, merged.differences)
        return True

    def _adoption_merge(
        self, item: Incoming, values: Mapping[str, Any], record: Mapping[str, Any]
    ) -> tuple[dict[str, Any], AdoptionMerge]:
        """The destination ``record``'s snapshot, and its merge with ``item``'s ``values``."""
        theirs = self.destination.snapshot_of(item.flow, record)
        merged = adoption_merge(
            item.flow,
            self.side,
            values,
            theirs,
            policy=policy_for(self.adopt_policy, item.flow),
            ours_modified_at=item.modified_at,
            theirs_modified_at=self.destination.modified_at(item.flow, record),
        )
        return theirs, merged

    def _unmerged(self, decision: Plan) -> bool:
        """A link made without the destination's snapshot (by hand, by ``links rebuild``,
        or from an ``external_id``): its two records are merged before anything is written."""
        link = decision.link
        return (
            decision.action in (Action.UPDATE, Action.UNCHANGED)
            and link is not None
            and link.status is LinkStatus.LINKED
            and link.snapshot(self.side) is None
        )

    def _merge_linked(self, unmerged: list[tuple[Incoming, Plan]]) -> list[tuple[Incoming, Plan]]:
        """Merge each pair linked without snapshots (as an adoption), then plan it again."""
        if not unmerged:
            return []
        fetched = self.destination.fetch([decision.destination for _item, decision in unmerged])  # type: ignore[misc]
        planned = []
        for item, decision in unmerged:
            flow, ref = item.flow, decision.destination
            record = fetched.get(ref)  # type: ignore[arg-type]
            if record is None:
                detail = f"linked to {ref}, which no longer exists; unlinked"
                self.report.count(flow, Outcome.UNLINKED, record=item.source, detail=detail)
                if not self.dry_run:
                    self.store.unlink(item.source)
                continue
            theirs, merged = self._adoption_merge(item, decision.values, record)
            how = "external_id" if item.counterpart is not None else "linked by hand or rebuilt"
            self.report.adopted(flow, item.source, ref, how, merged.differences)  # type: ignore[arg-type]
            if self.dry_run:
                continue
            self.store.update_snapshots(
                item.source,
                **{
                    self.side.value: merged.snapshot,
                    item.source.side.value: source_values(item, self.side, theirs),
                },
            )
            planned.append((item, self._plan(item)))
        return planned

    # --- decisions ---------------------------------------------------------------------------

    def _decided(self, item: Incoming, decision: Plan, pending: list[Pending]) -> Effect:
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
            self._wait(item, decision.reason, min(decision.unresolved, default=None))
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
            op = self._create_op(item, decision, decision.link)
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

    def _wait(self, item: Incoming, reason: str, field_name: str | None = None) -> None:
        """Queue ``item`` for a retry at the next checkpoint (and keep it for the next run)."""
        self.retry.wait(item, reason, field_name)

    def _create_op(self, item: Incoming, decision: Plan, link: Link | None) -> WriteOp:
        return WriteOp(
            OpKind.CREATE,
            item.flow,
            item.source,
            dict(decision.changes or decision.values),
            create_key=link.create_key if link else None,
            attempt=_attempt(link, self.side),
        )

    def _delete(self, item: Incoming, links: LinkMap) -> Effect:
        """A record deleted in the source: unlink (never delete the other side) or ignore."""
        # Queued under another flow (e.g. a board task): never replayed.
        self.retry.unqueue_source(item.source)
        for key in [key for key in self._held if key[1] == str(item.source)]:
            del self._held[key]  # a deleted record adopts nothing (its delete has no flow)
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

    # --- writes ------------------------------------------------------------------------------

    def _begin_creates(self, pending: list[Pending]) -> None:
        """Pending rows for every create, committed before the destination sees the writes.

        Each row is claimed by this run and carries the created record's match key. A
        create another live run has claimed meanwhile is not sent: it waits (next run).
        """
        creates = [p for p in pending if p.op.kind is OpKind.CREATE]
        if not creates:
            return
        contexts = self._create_contexts(creates)

        def begin(_session: Any) -> list[Pending]:
            claimed_elsewhere = []
            for entry, context in zip(creates, contexts, strict=True):
                # What is sent, kept until the link completes: a resumed create then tells
                # source edits from what the destination derived.
                sent = dict(entry.op.values)
                if context is not None:
                    sent[CREATE_CONTEXT] = context
                try:
                    source = entry.item.source
                    link = self.store.begin_create(
                        entry.item.flow,
                        source,
                        claim=self.claim,
                        match_key=self.destination.match_key(entry.op),
                        **{f"{self.side.value}_snapshot": sent},
                        **{f"{source.side.value}_snapshot": dict(entry.item.source_values)},
                    )
                except ClaimedElsewhereError:
                    claimed_elsewhere.append(entry)
                else:
                    attempt = CreateAttempt(link.created_at, context)
                    entry.op = replace(entry.op, create_key=link.create_key, attempt=attempt)
            return claimed_elsewhere

        for entry in self.store.retrying(begin):
            pending.remove(entry)
            note = f"the create of {entry.item.source} is in flight in another run"
            self._wait(entry.item, note)

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

    def _write(self, pending: list[Pending]) -> None:
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
        missing = [e.op.destination for e in stale if e.outcome.current is None]  # type: ignore[union-attr]
        fetched = self.destination.fetch(missing) if missing else {}
        resend = []
        for entry in stale:
            current = entry.outcome.current or fetched.get(entry.op.destination)  # type: ignore[union-attr]
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


def _attempt(link: Link | None, side: Side) -> CreateAttempt | None:
    """A pending create as begun: when, and with which context (:data:`CREATE_CONTEXT`)."""
    if link is None or link.status is not LinkStatus.PENDING:
        return None
    return CreateAttempt(link.created_at, (link.snapshot(side) or {}).get(CREATE_CONTEXT))


def _duration(delta: timedelta) -> str:
    """E.g. ``3 days``, ``5 hours``, ``12 minutes``, for messages."""
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
