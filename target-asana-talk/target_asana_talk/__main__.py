"""``python -m target_asana_talk``."""

from __future__ import annotations

from target_asana_talk.target import TargetAsanaTalk

TargetAsanaTalk.cli()
