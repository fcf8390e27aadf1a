"""`python -m tap_custompms` runs the tap's CLI."""

from __future__ import annotations

from tap_custompms.tap import TapCustompms

TapCustompms.cli()
