"""``python -m target_custompms``."""

from __future__ import annotations

from target_custompms.target import TargetCustompms

TargetCustompms.cli()
