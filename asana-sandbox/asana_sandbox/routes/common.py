"""Helpers shared by the route modules."""

from __future__ import annotations

import html
import re
from typing import Any

from asana_sandbox.dispatch import Call, Reply
from asana_sandbox.errors import bad_request, forbidden

_TAGS = re.compile(r"<[^>]+>")


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


def html_of(text: str) -> str:
    """Rich text for plain notes."""
    return f"<body>{html.escape(text, quote=False)}</body>"


def text_of(rich: str) -> str:
    """Plain notes for rich text."""
    return html.unescape(_TAGS.sub("", rich))


def assign(record: dict[str, Any], name: str, value: Any, changed: list[str]) -> None:
    """Set a field and note it when the value actually changes."""
    if record.get(name) != value:
        record[name] = value
        changed.append(name)


def set_notes(record: dict[str, Any], data: dict[str, Any], changed: list[str]) -> None:
    """notes and html_notes are two views of one text: writing either sets both."""
    if "html_notes" in data:
        assign(record, "html_notes", data["html_notes"], changed)
        record["notes"] = text_of(data["html_notes"])
    elif "notes" in data:
        assign(record, "notes", data["notes"], changed)
        record["html_notes"] = html_of(data["notes"])
