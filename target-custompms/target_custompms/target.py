"""TargetCustompms: applies mapped Asana records to Custompms through talk-sync."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from singer_sdk import typing as th
from talk_sync import LinkStore, Side
from talk_sync.startup_errors import Endpoint, custompms_endpoint
from talk_sync.target import SyncTarget, sync_settings
from typing_extensions import override

from target_custompms.client import MAX_BULK_ITEMS, CustompmsClient
from target_custompms.destination import CustompmsDestination
from target_custompms.sinks import CustompmsFlowSink


class TargetCustompms(SyncTarget):
    """Writes Asana records, mapped by stream maps, to Custompms (flows 1-5)."""

    name = "target-custompms"
    source = Side.ASANA
    builtin_maps_package = "target_custompms"
    default_sink_class = CustompmsFlowSink
    destination: CustompmsDestination

    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        th.Property(
            "api_url",
            th.URIType,
            required=True,
            title="API URL",
            description="Custompms API base URL, e.g. https://pms.example.com/api/v1",
        ),
        th.Property(
            "api_token",
            th.StringType,
            required=True,
            secret=True,
            title="API Token",
            description="Custompms Bearer token (never logged).",
        ),
        *sync_settings(source),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1, maximum=MAX_BULK_ITEMS),
            default=500,
            title="Batch Size",
            description=f"Records per bulk upsert (1-{MAX_BULK_ITEMS}).",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=300,
            title="Request Timeout",
            description="Seconds to wait for one Custompms response.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=5,
            title="Max Retries",
            description="Retries of a request failing transiently (429, 5xx, connection), "
            "honouring Retry-After.",
        ),
    ).to_dict()

    @override
    def check_destination_config(self) -> list[str]:
        url = urlsplit(str(self.config.get("api_url", "")))
        if url.scheme not in ("http", "https") or not url.netloc:
            return ["api_url: expected an http(s) URL such as https://host/api/v1"]
        return []

    @override
    def endpoint(self) -> Endpoint:
        return custompms_endpoint(self.config)

    @override
    def make_destination(self, store: LinkStore) -> CustompmsDestination:
        client = CustompmsClient(
            self.config["api_url"],
            self.config["api_token"],
            timeout=self.config["request_timeout"],
            max_retries=self.config["max_retries"],
            user_agent=f"{self.name}/{self.plugin_version}",
        )
        return CustompmsDestination(client, batch_size=self.config["batch_size"])

    @override
    def sent_summary(self) -> str:
        return f"{self.destination.items_sent} items sent to Custompms"

    @override
    def close_destination(self) -> None:
        self.destination.client.close()


if __name__ == "__main__":
    TargetCustompms.cli()
