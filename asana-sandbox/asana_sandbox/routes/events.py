"""GET /events: changes on a project or task since a sync token."""

from __future__ import annotations

from asana_sandbox.dispatch import Call, Reply, route
from asana_sandbox.errors import bad_request
from asana_sandbox.fields import select


@route("get", "/events")
def get_events(call: Call) -> Reply:
    """Events after ``sync``; a missing or stale token answers 412 with a fresh one."""
    store = call.store
    resource = call.query["resource"]
    if not resource.isdigit():
        raise bad_request(f"resource: Not a recognized ID: {resource}")
    kind = "project" if store.lookup("project", resource) is not None else "task"
    call.ref(kind, resource, label="resource")  # 400 when unknown, 403 when not visible
    body = store.events.read(resource, call.query.get("sync"))
    if call.fields is not None:
        body["data"] = [select(event, call.fields) for event in body["data"]]
    return Reply(200, body)
