"""Run the tap with ``python -m tap_asana_talk``."""

from __future__ import annotations

from tap_asana_talk.tap import TapAsanaTalk

TapAsanaTalk.cli()
