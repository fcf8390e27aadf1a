"""The engine's adoption step (:class:`Adopter`): records to create that the destination
may already hold are held, then adopted or reported ambiguous once the run has seen every
record; pairs linked without snapshots are merged before anything is written to them.

What is decided (keys, candidates, choice, merge) is :mod:`talk_sync.adoption`'s, pure;
this module carries it out against the link store and the destination.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
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
from talk_sync.destination import Destination
from talk_sync.incoming import Incoming
from talk_sync.linkstore import LinkError, LinkStatus, LinkStore
from talk_sync.plan import Action, Plan
from talk_sync.planning import Planner
from talk_sync.policies import policy_for
from talk_sync.recording import Recorder, source_values
from talk_sync.refs import Ref
from talk_sync.report import Outcome, RunReport
from talk_sync.retry import Key

logger = logging.getLogger(__name__)

#: Rounds of adoption at the end of a run: each adopts a level (customers, projects, tasks,
#: subtasks) whose records only then find their candidates.
MAX_ADOPTION_ROUNDS = 20


@dataclass(frozen=True)
class _Held:
    """A record to create that existing destination records may already be: adopted, or
    reported ambiguous, once the run has seen every record (:meth:`Adopter.adopt_held`)."""

    item: Incoming
    candidates: list[Candidate]


class Adopter:
    """Links records to create to the destination's records they already are.

    ``candidates``: the destination's records by adoption key (``None``: never adopt);
    ``adopt_policy`` settles an adopted pair's differences (one policy, or one per flow).
    """

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        planner: Planner,
        report: RunReport,
        recorder: Recorder,
        *,
        candidates: CandidateIndex | None,
        adopt_policy: Any = None,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.planner = planner
        self.report = report
        self.recorder = recorder
        self.candidates = candidates
        self.adopt_policy = adopt_policy
        self.dry_run = dry_run
        #: Records to create that may already exist: decided at the end of the run.
        self._held: dict[Key, _Held] = {}
        #: Dry run: the destination records adopted (as far as this run goes).
        self._taken: set[Ref] = set()
        #: Dry run: the records the batch's ``external_id``s name, read in one go.
        self._counterparts: dict[Ref, Mapping[str, Any] | None] = {}

    # --- holding -----------------------------------------------------------------------------

    def hold(self, planned: list[tuple[Incoming, Plan]]) -> list[tuple[Incoming, Plan]]:
        """Hold each record about to be created that may be a record the destination holds
        (adopted or reported ambiguous at the end of the run); the others, in order.

        The candidates of the whole batch are checked for links in one query.
        """
        if self.candidates is None:
            return planned
        creates = [(item, decision) for item, decision in planned if _creates(decision)]
        if self.dry_run:  # the records they name, in one read (a real run linked them)
            named = {item.counterpart for item, _decision in creates if item.counterpart}
            named -= self._counterparts.keys()
            if named:
                self._counterparts.update(self.destination.fetch(sorted(named, key=str)))
        wanted = {
            item.key: self._candidates(item, decision)
            for item, decision in creates
            if not decision.resuming
        }
        linked = self._linked(candidate.ref for found in wanted.values() for candidate in found)
        kept = []
        for item, decision in planned:
            free = [c for c in wanted.get(item.key, ()) if self._free(c.ref, linked)]
            if _creates(decision) and free:
                self._held[item.key] = _Held(item, free)
            else:
                kept.append((item, decision))
        return kept

    def _candidates(self, item: Incoming, decision: Plan) -> list[Candidate]:
        assert self.candidates is not None
        if item.counterpart is not None:  # a dry run (a real one linked it when identifying)
            found = self._counterparts.get(item.counterpart)
            return [Candidate(item.counterpart, found, named=True)] if found else []
        return self.candidates.lookup(item.flow, item.source, decision.values)

    def _linked(self, refs: Iterable[Ref]) -> set[Ref]:
        """Which of ``refs`` have a link of any status, in one query."""
        return set(self.store.find_many(refs))

    def _free(self, ref: Ref, linked: set[Ref]) -> bool:
        """Whether ``ref`` may still be adopted: no link of any status (an unlinked record
        was deleted on one side, or unlinked by hand: never re-linked by itself)."""
        return ref not in self._taken and ref not in linked

    @property
    def holding(self) -> bool:
        """Whether any record is held."""
        return bool(self._held)

    def held(self) -> list[tuple[Key, Incoming]]:
        """The held records, by key."""
        return [(key, held.item) for key, held in self._held.items()]

    def forget(self, key: Key) -> None:
        """The record ``key`` is being applied again: it is no longer held."""
        self._held.pop(key, None)

    def drop(self, source: Ref) -> None:
        """``source`` was deleted: held under any flow, it adopts nothing (its delete has
        no flow)."""
        for key in [key for key in self._held if key[1] == str(source)]:
            del self._held[key]

    # --- adopting ----------------------------------------------------------------------------

    def adopt_held(self) -> list[Incoming]:
        """Adopt each held record's one candidate; report the ambiguous ones (kept, stuck).
        Returns the records to apply again.

        Runs once every record of the run is known: one candidate that two records want
        is only seen then. Adopted records are applied again, now linked: what they won is
        written, and their dependants resolve at the next checkpoint. The round's
        candidates and records are checked for links in one query.
        """
        held, self._held = self._held, {}
        linked = self._linked(
            [candidate.ref for h in held.values() for candidate in h.candidates]
            + [h.item.source for h in held.values()]
        )
        wanted = {
            key: [c for c in h.candidates if self._free(c.ref, linked)] for key, h in held.items()
        }
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
            adopted = self._adopt(item, candidate, linked)
            if adopted is not None:  # applied again: linked now, or as it was if it was not
                again.append(item if adopted else original)
        return again

    def _adopt(self, item: Incoming, candidate: Candidate, linked: set[Ref]) -> bool | None:
        """Link ``item`` to ``candidate`` with the merged snapshots; report each difference.

        Returns ``True`` when linked, ``False`` when not (either record got a link
        meanwhile, from another run or a delete): the item is applied again as it came;
        ``None`` in a dry run (nothing to apply). ``linked``: the refs known to have a link.
        """
        flow = item.flow
        theirs, merged = self._merge(item, self.planner.plan(item).values, candidate.record)
        how = "external_id" if candidate.named else "match key"
        if self.dry_run:
            self.report.adopted(flow, item.source, candidate.ref, how, merged.differences)
            self.planner.assume_linked(item.source, candidate.ref, theirs)
            self._taken.add(candidate.ref)
            return None
        if item.source in linked or not self._free(candidate.ref, linked):
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
        linked |= {item.source, candidate.ref}
        self.report.adopted(flow, item.source, candidate.ref, how, merged.differences)
        return True

    def _merge(
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

    # --- pairs linked without snapshots ------------------------------------------------------

    def unmerged(
        self, planned: list[tuple[Incoming, Plan]]
    ) -> tuple[list[tuple[Incoming, Plan]], list[tuple[Incoming, Plan]]]:
        """``planned`` split in two, in order: the pairs ready to write, and those linked
        without the destination's snapshot (by hand, by ``links rebuild``, or from an
        ``external_id``), whose two records are merged (:meth:`merge_linked`) first."""
        ready: list[tuple[Incoming, Plan]] = []
        unmerged: list[tuple[Incoming, Plan]] = []
        for item, decision in planned:
            (unmerged if self._unmerged(decision) else ready).append((item, decision))
        return ready, unmerged

    def _unmerged(self, decision: Plan) -> bool:
        link = decision.link
        return (
            decision.action in (Action.UPDATE, Action.UNCHANGED)
            and link is not None
            and link.status is LinkStatus.LINKED
            and link.snapshot(self.side) is None
        )

    def merge_linked(self, unmerged: list[tuple[Incoming, Plan]]) -> list[tuple[Incoming, Plan]]:
        """Merge each pair linked without snapshots (as an adoption), then plan it again."""
        if not unmerged:
            return []
        fetched = self.destination.fetch([decision.linked_record for _item, decision in unmerged])
        planned = []
        for item, decision in unmerged:
            flow, ref = item.flow, decision.linked_record
            record = fetched.get(ref)
            if record is None:
                detail = f"linked to {ref}, which no longer exists; unlinked"
                self.report.count(flow, Outcome.UNLINKED, record=item.source, detail=detail)
                if not self.dry_run:
                    self.store.unlink(item.source)
                continue
            theirs, merged = self._merge(item, decision.values, record)
            how = "external_id" if item.counterpart is not None else "linked by hand or rebuilt"
            self.report.adopted(flow, item.source, ref, how, merged.differences)
            if self.dry_run:
                continue
            self.store.update_snapshots(
                item.source,
                **{
                    self.side.value: merged.snapshot,
                    item.source.side.value: source_values(item, self.side, theirs),
                },
            )
            planned.append((item, self.planner.plan(item)))
        return planned


def _creates(decision: Plan) -> bool:
    return decision.action is Action.CREATE
