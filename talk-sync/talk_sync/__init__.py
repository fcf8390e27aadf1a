"""Shared two-way sync core: link store, diff, merge, reference resolution, run report.

The targets import what they need from here; each name lives in one module:

- :mod:`talk_sync.refs`: ``Side``, ``Ref``, ``parse_ref``, ``format_ref``
- :mod:`talk_sync.flows`: ``Flow``, ``FLOWS``, ``get_flow``, ``flow_for`` (the flow descriptions)
- :mod:`talk_sync.records`: ``synced_values`` (a record read as a flow's values)
- :mod:`talk_sync.normalize`: ``FieldType``, ``canonical``, ``same`` and conversions
- :mod:`talk_sync.diff`: ``diff``, ``apply_changes``
- :mod:`talk_sync.merge`: ``merge``, ``ConflictPolicy``, ``Conflict``
- :mod:`talk_sync.policies`: ``policy_for``, ``DeletePolicy`` (the per-flow policies)
- :mod:`talk_sync.linkstore`: ``LinkStore``, ``Link``, ``LinkStatus``, ``Reject``
- :mod:`talk_sync.plan`: ``plan``, ``Plan``, ``Action`` (the per-record decision)
- :mod:`talk_sync.report`: ``RunReport``, ``Outcome``
- :mod:`talk_sync.incoming`: ``Incoming`` (the engine's input)
- :mod:`talk_sync.destination`: ``Destination``, ``WriteOp``, the write outcomes
- :mod:`talk_sync.apply`: ``ApplyEngine`` (the batch engine)
- :mod:`talk_sync.errors`: ``ApplyError`` and the API clients' error hierarchy
- :mod:`talk_sync.testing`: test support (the in-memory destination; hypothesis strategies
  in :mod:`talk_sync.testing.strategies`, which need the ``testing`` extra)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from talk_sync.diff import apply_changes, diff
from talk_sync.errors import ApplyError
from talk_sync.flows import FLOWS, Flow, flow_for, get_flow
from talk_sync.link_status import LinkStatus
from talk_sync.merge import Conflict, ConflictPolicy, MergeResult, merge
from talk_sync.normalize import FieldType, canonical, same
from talk_sync.plan import Action, Plan, plan
from talk_sync.policies import DeletePolicy, policy_for
from talk_sync.records import synced_values
from talk_sync.refs import Ref, RefError, Side, format_ref, parse_ref

if TYPE_CHECKING:
    from talk_sync.apply import ApplyEngine
    from talk_sync.destination import (
        CREATE_CONTEXT,
        CreateAttempt,
        Destination,
        Failed,
        Gone,
        OpKind,
        Rejected,
        Stale,
        WriteOp,
        WriteOutcome,
        Written,
    )
    from talk_sync.incoming import Incoming
    from talk_sync.linkstore import Link, LinkError, LinkStore, Reject
    from talk_sync.report import Outcome, RunReport

#: The names whose modules need SQLAlchemy, imported on first use: a plugin or the CLI that
#: needs one small module (e.g. ``talk_sync.ratelimit``) does not pay for SQLAlchemy's ORM and
#: the whole engine at start-up (about 1.5 s per process).
_EXPORTS = {
    "CREATE_CONTEXT": "talk_sync.destination",
    "ApplyEngine": "talk_sync.apply",
    "CreateAttempt": "talk_sync.destination",
    "Destination": "talk_sync.destination",
    "Failed": "talk_sync.destination",
    "Gone": "talk_sync.destination",
    "Incoming": "talk_sync.incoming",
    "OpKind": "talk_sync.destination",
    "Rejected": "talk_sync.destination",
    "Stale": "talk_sync.destination",
    "WriteOp": "talk_sync.destination",
    "WriteOutcome": "talk_sync.destination",
    "Written": "talk_sync.destination",
    "Link": "talk_sync.linkstore",
    "LinkError": "talk_sync.linkstore",
    "LinkStore": "talk_sync.linkstore",
    "Reject": "talk_sync.linkstore",
    "Outcome": "talk_sync.report",
    "RunReport": "talk_sync.report",
}

__all__ = [
    "CREATE_CONTEXT",
    "FLOWS",
    "Action",
    "ApplyEngine",
    "ApplyError",
    "Conflict",
    "ConflictPolicy",
    "CreateAttempt",
    "DeletePolicy",
    "Destination",
    "Failed",
    "FieldType",
    "Flow",
    "Gone",
    "Incoming",
    "Link",
    "LinkError",
    "LinkStatus",
    "LinkStore",
    "MergeResult",
    "OpKind",
    "Outcome",
    "Plan",
    "Ref",
    "RefError",
    "Reject",
    "Rejected",
    "RunReport",
    "Side",
    "Stale",
    "WriteOp",
    "WriteOutcome",
    "Written",
    "apply_changes",
    "canonical",
    "diff",
    "flow_for",
    "format_ref",
    "get_flow",
    "merge",
    "parse_ref",
    "plan",
    "policy_for",
    "same",
    "synced_values",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'talk_sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
