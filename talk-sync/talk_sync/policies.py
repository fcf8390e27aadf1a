"""The sync policies a target's settings choose, one per flow.

``conflict_policy`` (:class:`~talk_sync.merge.ConflictPolicy`: who wins a field both
sides changed), ``adopt_policy`` (the same choice, for the differences of a record adopted
on a first sync) and ``delete_policy`` (:class:`DeletePolicy`: what a delete in the source
does to a linked pair) are each one policy for every flow, or a mapping by flow; all three
are read by :func:`policy_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar, overload

from talk_sync.flows import Flow, get_flow
from talk_sync.merge import ConflictPolicy


class DeletePolicy(str, Enum):
    """What a delete in the source does to a linked pair (the other side is never deleted)."""

    UNLINK = "unlink"  #: drop the link and report it; the destination record stays
    IGNORE = "ignore"  #: keep the link as is; the delete is reported as skipped

    def __str__(self) -> str:
        return self.value


P = TypeVar("P", ConflictPolicy, DeletePolicy)


@overload
def policy_for(
    setting: ConflictPolicy | str | Mapping[str | int, str] | None, flow: Flow | int | str
) -> ConflictPolicy: ...


@overload
def policy_for(
    setting: P | str | Mapping[str | int, str] | None, flow: Flow | int | str, default: P
) -> P: ...


def policy_for(
    setting: ConflictPolicy | DeletePolicy | str | Mapping[str | int, str] | None,
    flow: Flow | int | str,
    default: ConflictPolicy | DeletePolicy = ConflictPolicy.NEWER_WINS,
) -> ConflictPolicy | DeletePolicy:
    """The policy of ``flow`` from a target's setting, of the kind of ``default``.

    ``setting`` is one policy for every flow (``"asana_wins"``), or a mapping from flow names
    or numbers to policies with an optional ``"default"`` key, e.g.
    ``{"default": "newer_wins", "task_task": "custompms_wins"}``. Unset means ``default``
    (``newer_wins`` for conflicts, ``unlink`` for deletes). A value that names no policy
    raises ``ValueError``.
    """
    kind = type(default)
    if setting is None or isinstance(setting, (kind, str)):
        return kind(setting or default)
    flow = get_flow(flow)
    # meltano.yml is YAML: a flow's number may arrive as an int key as well as a string.
    for key in (flow.name, str(flow.number), flow.number, "default"):
        if key in setting:
            return kind(setting[key])
    return default
