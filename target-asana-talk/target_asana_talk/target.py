"""TargetAsanaTalk: placeholder until its own issue lands."""

from __future__ import annotations

from singer_sdk import RecordSink, Target
from singer_sdk import typing as th
from typing_extensions import override


class DiscardSink(RecordSink):
    """Accepts records and writes nothing (placeholder)."""

    @override
    def process_record(self, record: dict, context: dict) -> None:
        return None


class TargetAsanaTalk(Target):
    """Singer target; writing arrives with the plugin's own issue."""

    name = "target-asana-talk"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = DiscardSink


if __name__ == "__main__":
    TargetAsanaTalk.cli()
