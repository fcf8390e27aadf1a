"""API routes, one module per resource; importing this package registers them all."""

from __future__ import annotations

from asana_sandbox.dispatch import ROUTES
from asana_sandbox.routes import (  # noqa: F401 - imported for their @route registrations
    batch,
    events,
    projects,
    sections,
    tasks,
    teams,
    users,
    workspaces,
)

__all__ = ["ROUTES"]
