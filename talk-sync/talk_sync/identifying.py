"""Before a create: is the record already on the other side, or being put there?
(:class:`Identifier`; the match keys it compares are :mod:`talk_sync.identity`'s.)

A record about to be created may be one the destination holds already, from a create an
earlier run began and never finished, from the record naming its counterpart (a Custompms
``external_id``), or from the other direction creating it from one of its own records right
now. Each is linked instead of created again.
"""

from __future__ import annotations

from dataclasses import replace

from talk_sync.destination import Destination
from talk_sync.flows import Flow
from talk_sync.identity import match_key
from talk_sync.incoming import Incoming
from talk_sync.linkstore import ClaimedElsewhereError, Link, LinkError, LinkStatus, LinkStore
from talk_sync.plan import Action, Plan
from talk_sync.planning import Planner
from talk_sync.recording import snapshots
from talk_sync.refs import Ref
from talk_sync.timestamps import CLOCK_SKEW, parse_timestamp
from talk_sync.writing import create_op


class Identifier:
    """Links a record about to be created to what already stands for it on the other side."""

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        planner: Planner,
        *,
        claim: str | None = None,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.planner = planner
        self.claim = claim
        #: The pending creates of the other direction that look like this batch's creates,
        #: by flow and match key (:meth:`identify_all`); a key not in it is looked up.
        self._pending: dict[tuple[str, str], list[Link]] = {}

    def identify_all(self, planned: list[tuple[Incoming, Plan]]) -> list[tuple[Incoming, Plan]]:
        """:meth:`identify` each create of a batch, the other direction's pending creates
        that look like them read first, in one query per flow (not one per record)."""
        by_flow: dict[Flow, set[str]] = {}
        for item, decision in planned:
            if decision.action is Action.CREATE and not decision.resuming:
                key = match_key(item.flow, item.source.side, item.source_values)
                if key is not None and item.counterpart is None:
                    by_flow.setdefault(item.flow, set()).add(key)
        self._pending = {}
        for flow, keys in by_flow.items():
            found = self.store.pending_matches_many(flow, self.side, keys)
            for key in keys:
                self._pending[(flow.name, key)] = found.get(key, [])
        try:
            return [
                (
                    item,
                    self.identify(item, decision) if decision.action is Action.CREATE else decision,
                )
                for item, decision in planned
            ]
        finally:
            self._pending = {}

    def identify(self, item: Incoming, decision: Plan) -> Plan:
        """``item``'s plan once it is known whether it exists already (``decision`` creates).

        - A create an earlier run of ours began: claim it, then find what it made.
        - It names its counterpart (a Custompms ``external_id``): link the two.
        - The other direction is creating (or crashed creating) a record just like it
          (same match key): that record is this one; link it, or wait while that run lives.

        A record linked here is planned again, from the store as it is now.
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
        found = self.destination.created_record(create_op(item, decision, link, self.side))
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
        return self.planner.plan(item)

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
        return self.planner.plan(item)

    def _match_pending(self, item: Incoming, decision: Plan) -> Plan | None:
        """A record the other direction is creating from one of its own (see identity)."""
        key = match_key(item.flow, item.source.side, item.source_values)
        if key is None:
            return None
        known = self._pending.get((item.flow.name, key))
        matches = (
            known if known is not None else self.store.pending_matches(item.flow, self.side, key)
        )
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
        if known is not None:
            known.remove(matches[0])  # linked now: no longer pending for the batch's others
        return self.planner.plan(item)
