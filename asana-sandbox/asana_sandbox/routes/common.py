"""Helpers shared by the route modules."""

from __future__ import annotations

from typing import Any

from asana_sandbox import rich_text
from asana_sandbox.dispatch import Call, Reply
from asana_sandbox.errors import bad_request, forbidden
from asana_sandbox.store import PERMALINK


def empty() -> Reply:
    """``{"data": {}}``: Asana's answer to deletes and membership changes."""
    return Reply(200, {"data": {}})


def resolve_user(call: Call, value: Any, label: str) -> str:
    """A user named by gid, ``me`` or email, as Asana accepts in bodies and queries (403 for
    a user the acting user may not see)."""
    if value == "me":
        return call.me
    if isinstance(value, str) and "@" in value:
        for user in call.store.records["user"].values():
            if user.get("email", "").lower() == value.lower():
                if not call.visible("user", user):
                    raise forbidden(label, value)
                return user["gid"]
        raise bad_request(f"{label}: Unknown object: {value}")
    return call.ref("user", value, label=label)["gid"]


def assign(record: dict[str, Any], name: str, value: Any, changed: list[str]) -> None:
    """Set a field and note it when the value actually changes."""
    if record.get(name) != value:
        record[name] = value
        changed.append(name)


def set_text(
    call: Call,
    record: dict[str, Any],
    data: dict[str, Any],
    changed: list[str],
    plain: str = "notes",
) -> None:
    """``notes`` and ``html_notes`` (a team's ``description`` and ``html_description``) are
    two views of one text: writing either sets both (see :mod:`asana_sandbox.rich_text`)."""
    rich = f"html_{plain}"
    if rich in data:
        stored, text = rich_text.normalize(data[rich] or "", rich, lambda gid: mentioned(call, gid))
        assign(record, rich, stored, changed)
        record[plain] = text
    elif plain in data:
        assign(record, plain, data[plain] or "", changed)
        record[rich] = rich_text.html_of(data[plain] or "")


def mentioned(call: Call, gid: str) -> rich_text.Mentioned | None:
    """The user, task or project an @-mention names, as the acting user sees it."""
    for type_name in ("user", "task", "project"):
        record = call.store.lookup(type_name, gid)
        if record is None:
            continue
        url = (
            f"{PERMALINK}/profile/{gid}"
            if type_name == "user"
            else call.store.derived(type_name, record, "permalink_url")
        )
        return rich_text.Mentioned(
            type_name, record.get("name") or "", url, call.visible(type_name, record)
        )
    return None
