"""Planning a record against the links: its references followed, then
:func:`talk_sync.plan.plan` (:class:`Planner`, one per run)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from talk_sync.destination import Destination
from talk_sync.incoming import Incoming
from talk_sync.linkstore import LinkMap, LinkStatus, LinkStore
from talk_sync.normalize import is_empty
from talk_sync.plan import Action, Plan, plan
from talk_sync.refs import Ref, format_ref, parse_ref


class Planner:
    """Plans records for ``destination`` from the links in ``store``."""

    def __init__(self, store: LinkStore, destination: Destination) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        #: Dry run: the pairs that would be adopted, source ref -> (destination ref, its
        #: snapshot), so that their dependants resolve as they would.
        self._assumed: dict[str, tuple[Ref, Mapping[str, Any]]] = {}

    def assume_linked(self, source: Ref, destination: Ref, snapshot: Mapping[str, Any]) -> None:
        """Dry run: plan as if ``source`` were linked to ``destination`` (it would be)."""
        self._assumed[str(source)] = (destination, snapshot)

    @property
    def assumed(self) -> set[str]:
        """Dry run: the sources planned as if linked (see :meth:`assume_linked`)."""
        return set(self._assumed)

    def links_of(self, items: Iterable[Incoming]) -> LinkMap:
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

    def plan(self, item: Incoming, links: LinkStore | LinkMap | None = None) -> Plan:
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
            landed: Ref | None
            snapshot: Mapping[str, Any] | None
            if str(ref) in self._assumed:  # dry run: adopted, as far as this run goes
                landed, snapshot = self._assumed[str(ref)]
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
