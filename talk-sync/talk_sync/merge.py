"""Three-way merge of one record's synced fields after concurrent edits on both sides.

``base`` is the destination's last-known snapshot (what both sides agreed on after the last
sync), ``ours`` the incoming desired values from the source, ``theirs`` the destination's
current values. Per field:

- changed on neither side: keep the destination's value, write nothing;
- changed on one side only: that side's value wins, no conflict;
- changed on both sides to the same value: nothing to do, no conflict;
- changed on both sides to different values: a :class:`Conflict`, decided by the policy.

Policies (configurable per flow, see :func:`talk_sync.policies.policy_for`):

- ``newer_wins`` (default): the side whose record was modified later, by each system's own
  timestamps (Asana ``modified_at``, Custompms ``updated_at``), wins. When the timestamps
  are equal or one is unknown (Asana workspaces and teams have none), ``tie_winner`` wins:
  Custompms by default, the customer's own system of record. The tie rule names a *system*,
  not a role, so both pipelines decide the same conflict the same way.
- ``asana_wins`` / ``custompms_wins``: that system always wins a conflict.

Nothing is lost silently: a field the destination won is returned in ``to_source`` (the
other pipeline carries it back), and every conflict is listed with its three values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from talk_sync.normalize import FieldType, same
from talk_sync.refs import Side
from talk_sync.timestamps import parse_timestamp


class ConflictPolicy(str, Enum):
    """Who wins a field edited differently on both sides."""

    NEWER_WINS = "newer_wins"
    ASANA_WINS = "asana_wins"
    CUSTOMPMS_WINS = "custompms_wins"

    def __str__(self) -> str:
        return self.value


#: The side that wins a tie (or an unknown timestamp) under ``newer_wins``.
DEFAULT_TIE_WINNER = Side.CUSTOMPMS

_MISSING: Any = object()


@dataclass(frozen=True)
class Conflict:
    """One field edited differently on both sides, and how it was decided."""

    field: str
    base: Any
    ours: Any
    theirs: Any
    winner: Side
    reason: str


@dataclass
class MergeResult:
    """The outcome of :func:`merge`."""

    #: Merged values of the synced fields (the keys of ``ours``).
    merged: dict[str, Any]
    #: Fields to write to the destination (merged differs from its current values).
    to_destination: dict[str, Any]
    #: Fields the source should get back (merged differs from the source's values).
    to_source: dict[str, Any]
    conflicts: list[Conflict] = field(default_factory=list)


def merge(
    base: Mapping[str, Any] | None,
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    *,
    source: Side | str,
    policy: ConflictPolicy | str = ConflictPolicy.NEWER_WINS,
    ours_modified_at: datetime | str | None = None,
    theirs_modified_at: datetime | str | None = None,
    field_types: Mapping[str, FieldType] | None = None,
    tie_winner: Side | str = DEFAULT_TIE_WINNER,
) -> MergeResult:
    """Merge ``ours`` (from ``source``) and ``theirs`` (the other side) against ``base``.

    Only the fields of ``ours`` are merged. A field missing from ``base`` counts as empty; a
    field missing from ``theirs`` counts as unchanged there. Values are compared in their
    canonical forms by ``field_types``.
    """
    source = Side(source)
    decide = _Decider(
        source, ConflictPolicy(policy), ours_modified_at, theirs_modified_at, Side(tie_winner)
    )
    base = base or {}
    types = field_types or {}
    result = MergeResult({}, {}, {})
    for name, our_value in ours.items():
        kind = types.get(name, FieldType.ANY)
        base_value = base.get(name)
        their_value = theirs.get(name, _MISSING)
        if their_value is _MISSING:
            their_value = base_value
        ours_changed = not same(our_value, base_value, kind)
        theirs_changed = not same(their_value, base_value, kind)
        if ours_changed and theirs_changed and not same(our_value, their_value, kind):
            winner, reason = decide()
            result.conflicts.append(
                Conflict(name, base_value, our_value, their_value, winner, reason)
            )
            take_ours = winner is source
        else:
            take_ours = ours_changed and not theirs_changed
        value = our_value if take_ours else their_value
        result.merged[name] = value
        if not same(value, their_value, kind):
            result.to_destination[name] = value
        if not same(value, our_value, kind):
            result.to_source[name] = value
    return result


class _Decider:
    """Picks the winner of a conflict under one policy; the same answer for every field."""

    def __init__(
        self,
        source: Side,
        policy: ConflictPolicy,
        ours_modified_at: datetime | str | None,
        theirs_modified_at: datetime | str | None,
        tie_winner: Side,
    ) -> None:
        self.policy = policy
        self.tie_winner = tie_winner
        stamps = {source: ours_modified_at, source.other: theirs_modified_at}
        self.asana_at = parse_timestamp(stamps[Side.ASANA])
        self.custompms_at = parse_timestamp(stamps[Side.CUSTOMPMS])

    def __call__(self) -> tuple[Side, str]:
        if self.policy is ConflictPolicy.ASANA_WINS:
            return Side.ASANA, "policy asana_wins"
        if self.policy is ConflictPolicy.CUSTOMPMS_WINS:
            return Side.CUSTOMPMS, "policy custompms_wins"
        asana_at, custompms_at = self.asana_at, self.custompms_at
        if asana_at is None or custompms_at is None:
            unknown = "asana" if asana_at is None else "custompms"
            reason = f"newer_wins: {unknown} timestamp unknown, tie goes to {self.tie_winner}"
            return self.tie_winner, reason
        if asana_at == custompms_at:
            return self.tie_winner, f"newer_wins: same timestamp, tie goes to {self.tie_winner}"
        winner = Side.ASANA if asana_at > custompms_at else Side.CUSTOMPMS
        return winner, (
            f"newer_wins: asana edited {asana_at.isoformat()}, "
            f"custompms edited {custompms_at.isoformat()}"
        )
