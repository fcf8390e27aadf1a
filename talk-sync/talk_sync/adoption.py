"""Adopting existing pairs: a new record the other side already holds is linked, not copied.

Every real deployment starts with data on both sides. Before the engine creates a record on
the other side, it looks there for an unlinked record with the same adoption key
(:func:`talk_sync.identity.adoption_key`: the container and the normalized name, or the
``match_keys`` a user configured) and links the two instead. The destination's candidates
are listed once per run and container (:class:`CandidateIndex`), never per record.

Ambiguity is never guessed (:func:`choose`): two candidates for one record, or one
candidate that two records want, link nothing and create nothing; the record is reported
and kept until a person links it (``talk-sync links link``) or the data changes.

An adopted pair starts from a merge (:func:`adoption_merge`): where the two records differ,
``adopt_policy`` picks a side per flow (``newer_wins`` by the records' own timestamps by
default). The destination snapshot stored with the new link holds, for the fields the
destination won, the *source's* values: the source's losing value then never reads as an
edit to write over the destination's, and the reverse direction, which compares the
destination's record with the source's true snapshot, carries the winning values back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from talk_sync.flows import FLOWS, Flow, get_flow
from talk_sync.identity import DEFAULT_MATCH_FIELDS, adoption_key, match_fields
from talk_sync.merge import Conflict, ConflictPolicy, merge
from talk_sync.normalize import same
from talk_sync.records import synced_values
from talk_sync.refs import Ref, Side

if TYPE_CHECKING:
    from talk_sync.destination import Destination
    from talk_sync.incoming import Incoming


#: Keys a ``match_keys`` mapping accepts: flow names and numbers.
_FLOW_KEYS = frozenset({*(flow.name for flow in FLOWS), *(str(flow.number) for flow in FLOWS)})


def match_keys_for(
    setting: Mapping[str, Sequence[str]] | None, flow: Flow | int | str, side: Side | str
) -> tuple[str, ...]:
    """The fields (``side``'s names) that adopt a record of ``flow``: ``match_keys`` by flow
    name or number, else the name. Raises ``ValueError`` naming a bad entry."""
    flow = get_flow(flow)
    for key in (flow.name, str(flow.number)):
        if setting and key in setting:
            names = setting[key]
            if isinstance(names, str) or not isinstance(names, Sequence):
                raise ValueError(f"{flow.name}: expected a list of field names, got {names!r}")
            return match_fields(flow, side, names)
    return DEFAULT_MATCH_FIELDS


def check_match_keys(setting: Any) -> list[str]:
    """Errors in a ``match_keys`` setting, each naming the flow and the field."""
    if setting is None:
        return []
    if not isinstance(setting, Mapping):
        return [f"match_keys: expected a mapping of flow to field names, got {setting!r}"]
    errors = [f"match_keys: unknown flow {key!r}" for key in setting if key not in _FLOW_KEYS]
    for flow in FLOWS:
        try:
            match_keys_for(setting, flow, Side.ASANA)
        except ValueError as error:
            errors.append(f"match_keys: {error}")
    return errors


@dataclass(frozen=True)
class Candidate:
    """A destination record a new source record may already be."""

    ref: Ref
    #: The record as the destination listed it.
    record: Mapping[str, Any]
    #: It names the source record as its counterpart (a Custompms ``external_id``): it *is*
    #: that record's copy, whatever its name now.
    named: bool = False
    #: The flow linking it, when not the new record's own (a Custompms customer that is an
    #: Asana workspace, not a team; a Custompms project that is a board task).
    flow: Flow | None = None


@dataclass
class _Index:
    by_key: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    by_counterpart: dict[str, Candidate] = field(default_factory=dict)


class CandidateIndex:
    """The destination's records by adoption key, listed once per run and scope."""

    def __init__(self, destination: Destination, match_keys: Any = None) -> None:
        self.destination = destination
        self.match_keys = match_keys
        self._indexes: dict[tuple[str, Hashable], _Index] = {}

    def lookup(self, flow: Flow, source: Ref, values: Mapping[str, Any]) -> list[Candidate]:
        """The records a new ``source`` with ``values`` (destination names, references as
        destination keys) may already be; linked ones included (the engine drops them)."""
        scope = self.destination.candidate_scope(flow, values)
        if scope is None:
            return []
        index = self._index(flow, scope)
        named = index.by_counterpart.get(str(source))
        if named is not None:
            return [named]
        side = self.destination.side
        key = adoption_key(
            flow,
            side,
            self.destination.placement(flow, values),
            match_keys_for(self.match_keys, flow, side),
        )
        return [] if key is None else list(index.by_key.get(key, ()))

    def _index(self, flow: Flow, scope: Hashable) -> _Index:
        known = self._indexes.get((flow.name, scope))
        if known is not None:
            return known

        side = self.destination.side
        fields = match_keys_for(self.match_keys, flow, side)
        index = _Index()
        for record in self.destination.list_candidates(flow, scope):
            linked_by = self.destination.candidate_flow(flow, record)
            key_of = self.destination.key_of(linked_by, record)
            ref = Ref(side, linked_by.record_type(side), key_of)
            other = None if linked_by is flow else linked_by
            counterpart = self.destination.counterpart_of(record)
            if counterpart is not None:
                # The copy of one particular record: never anyone else's by name.
                index.by_counterpart[str(counterpart)] = Candidate(ref, record, True, other)
                continue
            key = adoption_key(flow, side, synced_values(flow, side, record), fields)
            if key is not None:
                index.by_key[key].append(Candidate(ref, record, flow=other))
        self._indexes[(flow.name, scope)] = index
        return index


def choose(wanted: Mapping[Any, Sequence[Candidate]]) -> tuple[dict[Any, Candidate], set[Any]]:
    """Which records adopt which candidate; the rest are ambiguous.

    ``wanted`` maps each record (any key) to its free candidates. A record adopts when it
    has exactly one candidate and no other record wants it; a candidate naming the record
    as its counterpart is always that record's.
    """
    wanting: dict[Ref, list[Any]] = defaultdict(list)
    for key, candidates in wanted.items():
        for candidate in candidates:
            wanting[candidate.ref].append(key)
    chosen: dict[Any, Candidate] = {}
    ambiguous: set[Any] = set()
    for key, candidates in wanted.items():
        named = [c for c in candidates if c.named]
        if named:
            chosen[key] = named[0]
        elif len(candidates) == 1 and len(wanting[candidates[0].ref]) == 1:
            chosen[key] = candidates[0]
        else:
            ambiguous.add(key)
    return chosen, ambiguous


def retarget(item: Incoming, flow: Flow, destination: Side) -> Incoming:
    """``item`` as a record of ``flow``, the flow of the candidate it adopts (a customer's
    team fields as a workspace's, a project's as a board task's): each value both flows
    take from the same source field keeps it under the name ``flow`` gives it; the others
    are dropped (the next emission of the record, mapped for ``flow``, carries them)."""
    if flow is item.flow:
        return item
    source = destination.other
    desired: dict[str, Any] = {}
    for name, value in item.desired.items():
        # Only a value both flows take from the same source field: a field that only looks
        # alike (a project's ``completed`` is its status "completed", a board task's also
        # "archived") is mapped otherwise, and left out.
        common = item.flow.counterpart_field(destination, name)
        renamed = flow.counterpart_field(source, common) if common else None
        if renamed is not None and renamed in flow.fields(destination):
            desired[renamed] = value
    return replace(
        item,
        flow=flow,
        desired=desired,
        # Extras (e.g. a Custompms version) stay; the old flow's own fields go.
        source_values={
            name: value
            for name, value in item.source_values.items()
            if name in flow.fields(source) or name not in item.flow.fields(source)
        },
        held={name: why for name, why in item.held.items() if name in desired},
    )


def ambiguity(item: Incoming, candidates: Sequence[Candidate], rivals: Iterable[Ref]) -> str:
    """Why ``item`` is ambiguous, and how a person settles it, for the report."""
    refs = [str(candidate.ref) for candidate in candidates]
    others = sorted(str(ref) for ref in rivals if ref != item.source)
    if len(refs) > 1:
        why = f"{len(refs)} records match it ({', '.join(refs)})"
    else:
        why = f"{refs[0]} matches it and also {', '.join(others)}"
    return (
        f"ambiguous: {why}; neither linked nor created. Link the right pair by hand "
        f"(meltano invoke talk-sync links link {item.source} {refs[0]}), or rename one"
    )


@dataclass(frozen=True)
class AdoptionMerge:
    """The outcome of :func:`adoption_merge`."""

    #: The destination snapshot to store with the link (see the module docstring).
    snapshot: dict[str, Any]
    #: Every field that differed, decided (``winner``: the side whose value both keep).
    differences: list[Conflict]


def adoption_merge(
    flow: Flow,
    side: Side,
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    *,
    policy: ConflictPolicy | str | None,
    ours_modified_at: Any,
    theirs_modified_at: Any,
) -> AdoptionMerge:
    """Merge a source record's desired values (``ours``) with the destination record it
    adopts (``theirs``, its snapshot), ``side`` being the destination.

    A field set on one side only takes that value; one set differently on both is decided
    by ``policy`` (``newer_wins`` by the two timestamps). The returned snapshot is
    ``theirs`` with the source's values in the fields the destination won.
    """
    types = flow.fields(side)
    mine = {name: value for name, value in ours.items() if name in types}
    result = merge(
        None,
        mine,
        theirs,
        source=side.other,
        policy=policy or ConflictPolicy.NEWER_WINS,
        ours_modified_at=ours_modified_at,
        theirs_modified_at=theirs_modified_at,
        field_types=types,
    )
    decided = {conflict.field: conflict for conflict in result.conflicts}
    snapshot = dict(theirs)
    differences = []
    for name, value in mine.items():
        their_value = theirs.get(name)
        if same(value, their_value, types[name]):
            continue
        conflict = decided.get(name)
        if conflict is None:  # one side empty: the other's value
            winner = side.other if name in result.to_destination else side
            conflict = Conflict(name, None, value, their_value, winner, f"only {winner} has one")
        differences.append(conflict)
        if name in result.to_source:  # the destination's value wins: see the module doc
            snapshot[name] = value
    return AdoptionMerge(snapshot, differences)
