"""TargetAsanaTalk: applies mapped Custompms records to Asana through talk-sync."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from singer_sdk import typing as th
from talk_sync import LinkStore, Outcome, RunReport, Side
from talk_sync.startup_errors import Endpoint, asana_endpoint
from talk_sync.target import SyncTarget, sync_settings
from typing_extensions import override

from target_asana_talk.client import AsanaClient
from target_asana_talk.destination import AsanaDestination
from target_asana_talk.sinks import AsanaFlowSink

DEFAULT_API_URL = "https://app.asana.com/api/1.0"


class TargetAsanaTalk(SyncTarget):
    """Writes Custompms records, mapped by stream maps, to Asana (flows 1-5)."""

    name = "target-asana-talk"
    source = Side.CUSTOMPMS
    builtin_maps_package = "target_asana_talk"
    default_sink_class = AsanaFlowSink
    destination: AsanaDestination

    config_jsonschema: ClassVar[dict] = th.PropertiesList(
        th.Property(
            "access_token",
            th.StringType,
            required=True,
            secret=True,
            title="Access Token",
            description="Asana Personal Access Token, sent as a Bearer token (never logged).",
        ),
        th.Property(
            "api_url",
            th.URIType,
            default=DEFAULT_API_URL,
            title="API URL",
            description=f"Asana API base URL (default {DEFAULT_API_URL}; the sandbox's for tests).",
        ),
        th.Property(
            "workspace_gid",
            th.StringType,
            title="Workspace GID",
            description=(
                "The Asana organization that gets a team for each new top-level Custompms "
                "customer (one whose parent is not linked to a workspace), and projects of "
                "customers linked to no team. Required only for such creates; they are "
                "rejected per record, naming this setting, without it."
            ),
        ),
        th.Property(
            "requests_per_minute",
            th.IntegerType(minimum=1),
            default=1500,
            title="Requests per Minute",
            description="The token's Asana quota (150 on free domains, 1,500 on paid ones); "
            "requests are paced by the token bucket the tap uses, each action of a /batch "
            "counted as Asana counts it, and a 429 pauses them all for Retry-After. Lower it "
            "when the tap and the target share a token at once.",
        ),
        *sync_settings(source),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1),
            default=100,
            title="Batch Size",
            description="Records applied per engine batch (Asana calls go 10 to a /batch).",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=60,
            title="Request Timeout",
            description="Seconds to wait for one Asana response.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=5,
            title="Max Retries",
            description="Retries of a request failing transiently (429, 5xx, timeouts, dropped "
            "connections); a create whose answer was lost is looked up instead of resent.",
        ),
    ).to_dict()

    @override
    def check_destination_config(self) -> list[str]:
        errors = []
        url = urlsplit(str(self.config.get("api_url") or DEFAULT_API_URL))
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append(f"api_url: expected an http(s) URL such as {DEFAULT_API_URL}")
        if not str(self.config.get("access_token") or "").strip():
            errors.append("access_token: an Asana Personal Access Token is required")
        gid = self.config.get("workspace_gid")
        if gid and not str(gid).isdigit():
            errors.append("workspace_gid: expected an Asana gid (digits only)")
        return errors

    @override
    def endpoint(self) -> Endpoint:
        return asana_endpoint(self.config, DEFAULT_API_URL)

    @override
    def make_destination(self, store: LinkStore) -> AsanaDestination:
        client = AsanaClient(
            self.config.get("api_url") or DEFAULT_API_URL,
            self.config["access_token"],
            requests_per_minute=self.config["requests_per_minute"],
            timeout=self.config["request_timeout"],
            max_retries=self.config["max_retries"],
            user_agent=f"{self.name}/{self.plugin_version}",
        )
        # An unset ${VAR} in meltano.yml arrives as "": no workspace configured.
        # The same boards as the Asana -> Custompms maps: a new Custompms project may be
        # one of their tasks already (a first sync on existing data).
        boards = self.map_config
        return AsanaDestination(
            client,
            workspace_gid=self.config.get("workspace_gid") or None,
            boards=[*boards.get("project_boards", ()), *boards.get("project_board_names", ())],
        )

    @override
    def finish_report(self, report: RunReport) -> None:
        for limit in self.destination.limitations:
            # What Asana cannot do is reported per record and field, never crashed on.
            report.count(
                limit.flow,
                Outcome.SKIPPED,
                record=limit.source,
                fields=[limit.field],
                detail=limit.reason,
            )

    @override
    def sent_summary(self) -> str:
        return (
            f"{self.destination.writes_sent} write calls sent to Asana, "
            f"{self.destination.client.requests_sent} HTTP requests, "
            f"{self.destination.client.actions_sent} actions against the quota"
        )

    @override
    def close_destination(self) -> None:
        self.destination.client.close()


if __name__ == "__main__":
    TargetAsanaTalk.cli()
