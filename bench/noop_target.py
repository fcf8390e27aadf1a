"""A Singer SDK target that does nothing with its records: the SDK's own cost per record.

``bench/sync_engine.py`` runs it with target-custompms's interpreter (the same SDK release)
on the same stream, once with the SDK's record validation and once without, so the figures
of target-custompms stand beside the floor that any SDK target pays on this machine.
"""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target
from typing_extensions import override


class NoopSink(BatchSink):
    """Receives every record through the SDK's usual path, then drops the batch."""

    @override
    def process_batch(self, context: dict[str, Any]) -> None:
        pass


class NoopTarget(Target):
    name = "target-noop"
    config_jsonschema = th.PropertiesList(th.Property("validate_records", th.BooleanType)).to_dict()
    default_sink_class = NoopSink


if __name__ == "__main__":
    NoopTarget.cli()
