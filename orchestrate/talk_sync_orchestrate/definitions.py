"""Dagster definitions: every tenant of the tenants file synced on its schedule.

Load them with ``dagster dev -m talk_sync_orchestrate.definitions`` (or a workspace.yaml
entry); what they hold is described in :mod:`talk_sync_orchestrate.dagster_defs`. The
tenants file is ``$TALK_SYNC_TENANTS_FILE`` (by default ``tenants.yml`` in the Meltano project); the
shared stores come from the environment (:class:`talk_sync_orchestrate.tenants.Deployment`).
"""

from __future__ import annotations

from talk_sync_orchestrate.dagster_defs import definitions_from_environment

defs = definitions_from_environment()
