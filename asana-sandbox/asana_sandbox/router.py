"""Matching paths to routes, and running one action the way /batch and /_sandbox/act do."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from asana_sandbox.dispatch import ROUTES, Call, Route, dispatch, error_reply
from asana_sandbox.errors import ApiError, bad_request

NO_ROUTE = "No matching route for request"


@cache
def _patterns() -> list[tuple[re.Pattern[str], Route]]:
    # Built on first use, once every route module has registered its routes.
    out = []
    for target in ROUTES:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", target.path)
        out.append((re.compile(f"^{regex}$"), target))
    return out


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route and path parameters for a method and a path relative to /api/1.0."""
    for pattern, target in _patterns():
        found = pattern.match(path)
        if found and target.method == method:
            return target, found.groupdict()
    return None


def query_from_data(values: Any) -> dict[str, str]:
    """Batch ``data`` for a GET, as the query string it stands for."""
    out = {}
    for key, value in (values or {}).items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            value = ",".join(str(item) for item in value)
        out[key] = str(value)
    return out


def run_action(call: Call, action: dict[str, Any]) -> dict[str, Any]:
    """Run one batch action through the normal dispatch; return its BatchResponse."""
    sandbox = call.sandbox
    path = action.get("relative_path")
    method = str(action.get("method", "")).lower()
    if not isinstance(path, str) or not path.startswith("/") or "?" in path:
        reply = error_reply(bad_request("relative_path: Must be a path without a query string"))
        return {"status_code": reply.status, "headers": {}, "body": reply.body}
    found = match(method, path)
    if found is None or found[0].path == "/batch":
        reply = error_reply(ApiError(404, NO_ROUTE))
        return {"status_code": reply.status, "headers": {}, "body": reply.body}
    target, params = found
    sandbox.stats.count_request(method, target.op.route)
    sandbox.stats.batch_actions += 1
    options = action.get("options") or {}
    if method == "get":
        query, body = query_from_data(action.get("data")), None
    else:
        query, body = {}, {"data": action.get("data") or {}}
    for key in ("limit", "offset"):
        if key in options:
            query[key] = str(options[key])
    if options.get("fields"):
        query["opt_fields"] = ",".join(options["fields"])
    reply = dispatch(sandbox, target, params, query, body, api_path=path, base_url=call.base_url)
    headers: dict[str, str] = {}
    if reply.status == 201:
        headers["location"] = f"/{target.path.split('/')[1]}/{reply.body['data']['gid']}"
    if target.is_write and reply.status < 300:
        sandbox.mark_written()
    return {"status_code": reply.status, "headers": headers, "body": reply.body}
