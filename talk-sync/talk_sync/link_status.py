"""Where a link is in its life (a plain enum: the planner needs it without the store)."""

from __future__ import annotations

from enum import Enum


class LinkStatus(str, Enum):
    """Where a link is in its life."""

    PENDING = "pending"  #: a create is in flight; the destination key is not known yet
    LINKED = "linked"  #: both keys known; edits flow both ways
    UNLINKED = "unlinked"  #: a side was deleted; kept so the record is not created again

    def __str__(self) -> str:
        return self.value
