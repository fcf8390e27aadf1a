"""``opt_fields`` parsing and record rendering (compact, full or field-selected)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from asana_sandbox.resources import TYPES, ResourceType

#: A field selection: field name -> sub-selection ({} when named without sub-fields).
FieldTree = dict[str, "FieldTree"]


class RecordSource(Protocol):
    """Where rendering finds linked records and derived values (the store)."""

    def lookup(self, type_name: str, gid: str) -> dict[str, Any] | None:
        """The stored record, or None when it does not exist (any more)."""

    def derived(self, type_name: str, record: dict[str, Any], name: str) -> Any:
        """A value computed from indexes (``num_subtasks``...), or ``MISSING``."""


def parse_opt_fields(values: Iterable[str]) -> FieldTree:
    """Turn ``["name", "assignee.email", "memberships.section.name"]`` into a tree."""
    tree: FieldTree = {}
    for path in values:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


def compact_tree(type_name: str) -> FieldTree:
    """The selection that renders a compact record."""
    return dict.fromkeys(TYPES[type_name].compact, _DEFAULT)


def full_tree(type_name: str) -> FieldTree:
    """The selection that renders a full record (linked records compact)."""
    return dict.fromkeys(TYPES[type_name].full, _DEFAULT)


#: Marker sub-selection meaning "Asana's default rendering" (linked records compact).
_DEFAULT: FieldTree = {"__default__": {}}
MISSING: Any = object()


def render(
    source: RecordSource, type_name: str, record: dict[str, Any], tree: FieldTree
) -> dict[str, Any]:
    """Render a stored record with a field selection; ``gid`` is always present."""
    rtype = TYPES[type_name]
    out: dict[str, Any] = {"gid": record["gid"]}
    for name, sub in tree.items():
        if name == "gid":
            continue
        if name == "resource_type":
            out[name] = type_name
            continue
        value = record.get(name, MISSING)
        if value is MISSING:
            value = source.derived(type_name, record, name)
        if value is MISSING:
            value = rtype.defaults.get(name, MISSING)
        if value is MISSING:
            continue  # not modelled and not nullable: Asana omits what it does not return
        out[name] = _render_value(source, rtype, name, value, sub)
    return out


def _render_value(
    source: RecordSource, rtype: ResourceType, name: str, value: Any, sub: FieldTree
) -> Any:
    if name in rtype.structs:
        parts = rtype.structs[name]
        keys = parts if sub is _DEFAULT or not sub else [key for key in sub if key in parts]
        return [
            {key: _render_link(source, parts[key], item.get(key), _sub(sub, key)) for key in keys}
            for item in value
        ]
    target = rtype.link_target(name)
    if target is None:
        if isinstance(value, dict) and sub and sub is not _DEFAULT:
            return {key: value.get(key) for key in sub}
        return list(value) if isinstance(value, list) else value
    if isinstance(value, list):
        rendered = (_render_link(source, target, gid, sub) for gid in value)
        return [item for item in rendered if item is not None]
    return _render_link(source, target, value, sub)


def _render_link(
    source: RecordSource, type_name: str, gid: str | None, sub: FieldTree
) -> dict[str, Any] | None:
    if gid is None:
        return None
    record = source.lookup(type_name, gid)
    if record is None:
        return None
    if sub is _DEFAULT:
        return render(source, type_name, record, compact_tree(type_name))
    if not sub:
        return {"gid": gid, "resource_type": type_name}
    return render(source, type_name, record, sub)


def _sub(sub: FieldTree, key: str) -> FieldTree:
    """The sub-selection for one key of a struct ({} when the struct is named bare)."""
    if sub is _DEFAULT:
        return _DEFAULT
    return sub.get(key, {})


def select(value: Any, tree: FieldTree) -> Any:
    """Apply a field selection to an already rendered dict (used for events)."""
    if not tree or not isinstance(value, dict):
        return value
    out = {key: value[key] for key in ("gid",) if key in value}
    for key, sub in tree.items():
        if key in value:
            out[key] = select(value[key], sub) if isinstance(value[key], dict) else value[key]
    return out
