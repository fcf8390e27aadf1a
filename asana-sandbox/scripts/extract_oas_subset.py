"""Extract the part of Asana's official OpenAPI description that the sandbox serves.

Reads ../shared/asana/asana_oas.yaml (Asana/openapi, defs/asana_oas.yaml, commit fc9f8dcf)
and writes asana_sandbox/oas/asana_oas_subset.json: the operations listed in OPERATIONS plus
every component they reference, $refs kept as they are (the subset is self-contained).

Run from the asana-sandbox folder:  python scripts/extract_oas_subset.py [SOURCE] [OUT]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "asana" / "asana_oas.yaml"
DEFAULT_OUT = HERE.parent / "asana_sandbox" / "oas" / "asana_oas_subset.json"

#: (path, methods) the sandbox implements; keep in step with asana_sandbox.routes.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/workspaces": ("get",),
    "/workspaces/{workspace_gid}": ("get", "put"),
    "/workspaces/{workspace_gid}/teams": ("get",),
    "/workspaces/{workspace_gid}/projects": ("get", "post"),
    "/workspaces/{workspace_gid}/users": ("get",),
    "/teams": ("post",),
    "/teams/{team_gid}": ("get", "put"),
    "/teams/{team_gid}/projects": ("get", "post"),
    "/teams/{team_gid}/users": ("get",),
    "/projects": ("get", "post"),
    "/projects/{project_gid}": ("get", "put", "delete"),
    "/projects/{project_gid}/tasks": ("get",),
    "/projects/{project_gid}/sections": ("get",),
    "/sections/{section_gid}": ("get",),
    "/sections/{section_gid}/tasks": ("get",),
    "/tasks": ("get", "post"),
    "/tasks/{task_gid}": ("get", "put", "delete"),
    "/tasks/{task_gid}/subtasks": ("get", "post"),
    "/tasks/{task_gid}/addProject": ("post",),
    "/tasks/{task_gid}/removeProject": ("post",),
    "/tasks/{task_gid}/setParent": ("post",),
    "/users": ("get",),
    "/users/{user_gid}": ("get",),
    "/events": ("get",),
    "/batch": ("post",),
}

ATTRIBUTION = (
    "Subset of Asana's official OpenAPI description (repository Asana/openapi, "
    "defs/asana_oas.yaml, commit fc9f8dcf, 2026-06-11), declared Apache-2.0 in its "
    "info.license. Extracted unchanged by asana-sandbox/scripts/extract_oas_subset.py; "
    "only the listed operations and the components they reference are kept."
)


def _refs(node: Any) -> set[str]:
    """Return every $ref string found anywhere inside node."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the self-contained subset document."""
    paths: dict[str, Any] = {}
    for path, methods in OPERATIONS.items():
        item = spec["paths"][path]
        kept = {key: value for key, value in item.items() if key in methods or key == "parameters"}
        missing = set(methods) - kept.keys()
        if missing:
            raise SystemExit(f"{path}: the description has no {sorted(missing)}")
        paths[path] = kept

    components: dict[str, dict[str, Any]] = {}
    pending = _refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        node = spec["components"][section][name]
        components.setdefault(section, {})[name] = node
        pending |= _refs(node) - seen

    return {
        "openapi": spec["openapi"],
        "info": {**spec["info"], "x-sandbox-attribution": ATTRIBUTION},
        "servers": spec.get("servers", []),
        "security": spec.get("security", []),
        "paths": paths,
        "components": {
            section: dict(sorted(items.items())) for section, items in sorted(components.items())
        }
        | {"securitySchemes": spec["components"].get("securitySchemes", {})},
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point: read the full description, write the subset."""
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else DEFAULT_SOURCE
    out = Path(args[1]) if len(args) > 1 else DEFAULT_OUT
    # The C safe loader reads the 3 MB description in a fraction of the pure-Python time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(source.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    subset = extract(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    count = sum(len([m for m in item if m != "parameters"]) for item in subset["paths"].values())
    schemas = len(subset["components"].get("schemas", {}))
    print(f"wrote {out}: {count} operations, {schemas} schemas, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
