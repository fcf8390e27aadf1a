"""POST /batch: up to ten actions in one round trip, each run as its own API call.

Live, Asana runs a batch's actions in parallel, in no guaranteed order. The sandbox runs
them one after the other: in the listed order, or shuffled (``--batch-order shuffled``).
Two writes to one record in a batch would race live, so they are counted
(``batch_same_record_writes``) for a test to assert that a client never sends them.
"""

from __future__ import annotations

from typing import Any

from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.errors import bad_request
from asana_sandbox.router import match, run_action

MAX_ACTIONS = 10


def action_count(body: Any) -> int:
    """How many actions a batch body carries (its cost against the quota)."""
    try:
        actions = body["data"]["actions"]
    except (KeyError, TypeError):
        return 1
    return max(1, len(actions)) if isinstance(actions, list) else 1


@route("post", "/batch")
def create_batch(call: Call) -> Reply:
    """Run each action through the same routes a direct call would use."""
    actions = call.data.get("actions")
    if not actions:
        raise bad_request("actions: Missing input")
    if len(actions) > MAX_ACTIONS:
        raise bad_request(f"actions: A batch request may contain at most {MAX_ACTIONS} actions")
    order = list(range(len(actions)))
    if call.sandbox.batch_rng is not None:
        call.sandbox.batch_rng.shuffle(order)
    results: list[dict[str, Any]] = [{} for _ in actions]
    for index in order:
        results[index] = run_action(call, actions[index])
    changed = [record for record in map(changed_record, actions) if record is not None]
    if len(changed) != len(set(changed)):
        call.sandbox.stats.batch_same_record_writes += 1
    return Reply(200, {"data": results})


def changed_record(action: Any) -> tuple[str, str] | None:
    """The existing record a write action changes, as ``(collection, gid)``.

    ``None`` for a read, a create (a new record: nothing to race with) or a malformed action.
    """
    if not isinstance(action, dict) or not isinstance(action.get("relative_path"), str):
        return None
    found = match(str(action.get("method", "")).lower(), action["relative_path"])
    if found is None:
        return None
    target, params = found
    if not target.is_write or target.op.operation_id.startswith("create") or len(params) != 1:
        return None
    return target.path.split("/")[1], next(iter(params.values()))
