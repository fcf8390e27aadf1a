"""TapAsanaTalk: placeholder until its own issue lands (no streams yet)."""

from __future__ import annotations

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from typing_extensions import override


class TapAsanaTalk(Tap):
    """Singer tap; streams arrive with the plugin's own issue."""

    name = "tap-asana-talk"
    config_jsonschema = th.PropertiesList().to_dict()

    @override
    def discover_streams(self) -> list[Stream]:
        return []


if __name__ == "__main__":
    TapAsanaTalk.cli()
