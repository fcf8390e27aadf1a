"""Shared two-way sync core: link store, diff, merge, reference resolution, run report.

The targets import what they need from here; each name lives in one module:

- :mod:`talk_sync.refs`: ``Side``, ``Ref``, ``parse_ref``, ``format_ref``
- :mod:`talk_sync.flows`: ``Flow``, ``FLOWS``, ``get_flow``, ``flow_for``
- :mod:`talk_sync.normalize`: ``FieldType``, ``canonical``, ``same`` and conversions
- :mod:`talk_sync.diff`: ``diff``, ``apply_changes``
- :mod:`talk_sync.merge`: ``merge``, ``ConflictPolicy``, ``Conflict``, ``policy_for``
- :mod:`talk_sync.linkstore`: ``LinkStore``, ``Link``, ``LinkStatus``, ``Reject``
- :mod:`talk_sync.plan`: ``plan``, ``Plan``, ``Action`` (the per-record decision)
- :mod:`talk_sync.report`: ``RunReport``, ``Outcome``
- :mod:`talk_sync.apply`: ``ApplyEngine``, ``Destination``, ``Incoming`` (the batch engine)
- :mod:`talk_sync.testing`: hypothesis strategies (needs the ``testing`` extra)
"""

from __future__ import annotations

from talk_sync.apply import (
    ApplyEngine,
    ApplyError,
    DeletePolicy,
    Destination,
    Failed,
    Gone,
    Incoming,
    OpKind,
    Rejected,
    Stale,
    WriteOp,
    WriteOutcome,
    Written,
    delete_policy_for,
    synced_values,
)
from talk_sync.diff import apply_changes, diff
from talk_sync.flows import FLOWS, Flow, flow_for, get_flow
from talk_sync.linkstore import Link, LinkError, LinkStatus, LinkStore, Reject
from talk_sync.merge import Conflict, ConflictPolicy, MergeResult, merge, policy_for
from talk_sync.normalize import FieldType, canonical, same
from talk_sync.plan import Action, Plan, plan
from talk_sync.refs import Ref, RefError, Side, format_ref, parse_ref
from talk_sync.report import Outcome, RunReport

__all__ = [
    "FLOWS",
    "Action",
    "ApplyEngine",
    "ApplyError",
    "Conflict",
    "ConflictPolicy",
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
    "delete_policy_for",
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
