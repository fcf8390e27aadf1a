"""Seed data: the small realistic ``demo`` organization, the ``overlap`` organization (what a
Custompms already holds too: the first sync adopts it) and large synthetic workspaces."""

from __future__ import annotations

from asana_sandbox.seeds import demo, overlap
from asana_sandbox.seeds.records import empty
from asana_sandbox.store import Store

SEEDS = {"demo": demo.build, "empty": empty, "overlap": overlap.build}


def build(name: str, store: Store) -> None:
    """Fill an empty store with a named seed."""
    try:
        builder = SEEDS[name]
    except KeyError:
        raise SystemExit(f"unknown seed {name!r}; choose from {sorted(SEEDS)}") from None
    builder(store)
