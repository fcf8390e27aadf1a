"""Asana users by email: the synced records name users by email, Asana wants user gids."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from talk_sync import Rejected

from target_asana_talk.calls import PlannedWrite
from target_asana_talk.client import AsanaClient, Call
from target_asana_talk.model import USER_FIELDS


class UserDirectory:
    """The user gid of each email, looked up once per run (``GET /users/{email}``)."""

    def __init__(self, client: AsanaClient) -> None:
        self.client = client
        self._gids: dict[str, str | None] = {}

    def gids(self, emails: Sequence[str]) -> dict[str, str | None]:
        """The user gid of each email (``None``: no Asana user)."""
        wanted = sorted(set(emails) - self._gids.keys())
        calls = [Call("get", f"/users/{email}", params={"opt_fields": "email"}) for email in wanted]
        for email, reply in zip(wanted, self.client.call_many(calls), strict=True):
            if reply.ok:
                self._gids[email] = str(reply.data["gid"])
            elif reply.status in (HTTPStatus.NOT_FOUND, HTTPStatus.BAD_REQUEST):
                self._gids[email] = None
            else:
                raise reply.error(f"GET /users/{email}")
        return {email: self._gids[email] for email in emails}

    def leave_out_unknown(self, values: dict[str, Any]) -> dict[str, str]:
        """Take out of ``values`` the users whose email names no Asana user; why, per field.

        Left out, not cleared: Asana keeps the owner or assignee it has, and the rest of
        the record (and the tasks waiting for it) is written.
        """
        users = {name: user_email(values[name]) for name in sorted(USER_FIELDS & values.keys())}
        gids = self.gids([email for email in users.values() if email])
        held = {}
        for name, email in users.items():
            if email and gids[email] is None:
                del values[name]
                held[name] = (
                    f"no Asana user has the email {email}: {name} not written to Asana "
                    "(kept in Custompms)"
                )
        return held

    def resolve(self, writes: Sequence[PlannedWrite]) -> None:
        """The emails in the writes' main calls become user gids. The destination's ``fit``
        left out the unknown ones; one that still arrives here (an op the engine did not
        fit) rejects the op rather than lose it."""
        self.gids(
            [
                user_email(write.main.data[name])
                for write in writes
                if write.main is not None and write.main.data
                for name in USER_FIELDS & write.main.data.keys()
                if write.main.data[name]
            ]
        )
        for write in writes:
            if write.main is None or not write.main.data:
                continue
            data = dict(write.main.data)
            for name in USER_FIELDS & data.keys():
                if not data[name]:
                    continue
                email = user_email(data[name])
                if self._gids.get(email) is None:
                    write.outcome = Rejected(
                        HTTPStatus.UNPROCESSABLE_ENTITY,
                        f"{name}: no Asana user has the email {email}",
                        name,
                    )
                data[name] = self._gids.get(email)
            write.main = Call(write.main.method, write.main.path, data, params=write.main.params)


def user_email(value: Any) -> str:
    """An email as Asana looks users up by it (case and surrounding spaces do not count)."""
    return str(value or "").strip().lower()
