"""POST /batch: up to ten actions in one round trip, each run as its own API call."""

from __future__ import annotations

from typing import Any

from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.errors import bad_request
from asana_sandbox.router import run_action

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
    results = [run_action(call, action) for action in actions]
    return Reply(200, {"data": results})
