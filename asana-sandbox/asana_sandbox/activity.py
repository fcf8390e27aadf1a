"""Events that writes publish, shaped like Asana's EventResponse.

A change to a task reaches the task's own stream, its ancestors' streams and the streams of
every project the task or an ancestor belongs to: project subscriptions see subtask edits.
With ``--subtask-events none`` a subtask's field changes (``changed`` events) stop short of
its ancestors' projects; adds, removals and deletes still reach them.
"""

from __future__ import annotations

from typing import Any

from asana_sandbox.fields import compact_tree, render
from asana_sandbox.resources import TYPES
from asana_sandbox.store import Store


def _named(store: Store, type_name: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"gid": record["gid"], "resource_type": type_name, "name": record.get("name", "")}


def _event(
    store: Store,
    actor: str,
    action: str,
    type_name: str,
    record: dict[str, Any],
    *,
    parent: tuple[str, dict[str, Any]] | None = None,
    change: dict[str, Any] | None = None,
) -> dict[str, Any]:
    user = store.lookup("user", actor)
    event: dict[str, Any] = {
        "user": render(store, "user", user, compact_tree("user")) if user else None,
        "created_at": store.now(),
        "action": action,
        "resource": _named(store, type_name, record),
        "type": type_name,
        "parent": _named(store, *parent) if parent else None,
    }
    if change is not None:
        event["change"] = change
    return event


def _targets(store: Store, type_name: str, record: dict[str, Any]) -> list[str]:
    if type_name == "task":
        return store.event_targets(record)
    return [record["gid"]]


def changed(
    store: Store, actor: str, type_name: str, record: dict[str, Any], fields: list[str]
) -> None:
    """One ``changed`` event per changed field (new_value only for linked records)."""
    if type_name == "task" and record.get("parent") and store.events.subtask_events == "none":
        targets = store.event_targets(record, via_ancestors=False)
    else:
        targets = _targets(store, type_name, record)
    rtype = TYPES[type_name]
    for name in fields:
        change: dict[str, Any] = {"field": name, "action": "changed"}
        target = rtype.refs.get(name)
        value = record.get(name)
        if target and value:
            change["new_value"] = {"gid": value, "resource_type": target}
        store.events.publish(
            _event(store, actor, "changed", type_name, record, change=change), targets
        )


def added(
    store: Store,
    actor: str,
    type_name: str,
    record: dict[str, Any],
    parent: tuple[str, dict[str, Any]],
) -> None:
    """``added``: a task was added to a project or became a subtask of a task."""
    targets = [*_targets(store, type_name, record), parent[1]["gid"]]
    store.events.publish(_event(store, actor, "added", type_name, record, parent=parent), targets)


def removed(
    store: Store,
    actor: str,
    type_name: str,
    record: dict[str, Any],
    parent: tuple[str, dict[str, Any]],
    targets: list[str],
) -> None:
    """``removed``: a task left a project or a parent (targets taken before the move)."""
    store.events.publish(
        _event(store, actor, "removed", type_name, record, parent=parent),
        [*targets, parent[1]["gid"]],
    )


def deleted(
    store: Store, actor: str, type_name: str, record: dict[str, Any], targets: list[str]
) -> None:
    """``deleted`` (targets taken before the record went away)."""
    store.events.publish(_event(store, actor, "deleted", type_name, record), targets)


def targets_of(store: Store, type_name: str, record: dict[str, Any]) -> list[str]:
    """The streams that would see an event on this record now."""
    return _targets(store, type_name, record)
