"""The report directory: how run reports are named there, and the recent ones read back.

A target writes one JSON report per run (:meth:`talk_sync.report.RunReport.write_json`) as
``<source>-to-<destination>-<UTC time>.json``; ``talk-sync report`` reads the newest ones
back (:func:`recent_runs`) to summarize them or render them as one HTML page
(:mod:`talk_sync.report_html`). Needs no Singer SDK: the ``talk-sync`` command imports it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from talk_sync.timestamps import utcnow

#: Environment variable naming the directory of run reports (set in meltano.yml).
REPORT_DIR_ENV = "TALK_SYNC_REPORT_DIR"
DEFAULT_REPORT_DIR = ".meltano/talk-sync/reports"

#: The UTC time in a report's file name: sorts as it reads.
_STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_STAMPED = re.compile(r"-(\d{8}T\d{12}Z)\.json$")


def report_dir(setting: str | None = None) -> Path:
    """The report directory: ``setting``, else ``$TALK_SYNC_REPORT_DIR``, else the default."""
    return Path(setting or os.environ.get(REPORT_DIR_ENV) or DEFAULT_REPORT_DIR)


def report_file_name(direction: str, at: datetime | None = None) -> str:
    """The file name of a run's report, e.g. ``asana-to-custompms-20260102T091500000000Z.json``."""
    moment = (at or utcnow()).astimezone(timezone.utc)
    return f"{direction}-{moment.strftime(_STAMP_FORMAT)}.json"


@dataclass(frozen=True)
class RunFile:
    """One run report read back from the report directory."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether the run failed (reports written before runs said so hold no status)."""
        return self.data.get("status") == "failed" or bool(self.data.get("failure"))

    @property
    def started_at(self) -> str:
        return str(self.data.get("started_at") or "")

    def totals(self) -> dict[str, int]:
        totals = self.data.get("totals")
        return {str(k): int(v) for k, v in totals.items()} if isinstance(totals, dict) else {}


def _order(path: Path) -> str:
    """Oldest first: the time in the file name, else the file's modification time."""
    stamped = _STAMPED.search(path.name)
    if stamped:
        return stamped.group(1)
    modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    return modified.strftime(_STAMP_FORMAT)


def recent_runs(directory: Path, runs: int) -> tuple[list[RunFile], list[str]]:
    """The newest ``runs`` reports of ``directory``, oldest first, and the files that could
    not be read (each as one line). Only the newest files are opened: a directory gathers
    a report every few minutes for months."""
    if not directory.is_dir():
        return [], []
    paths = sorted(directory.glob("*.json"), key=_order)[-runs:] if runs > 0 else []
    found, problems = [], []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            problems.append(f"{path.name}: {error}")
            continue
        if not isinstance(data, dict) or "flows" not in data:
            problems.append(f"{path.name}: not a talk-sync run report")
            continue
        found.append(RunFile(path, data))
    return found, problems


def summary_line(run: RunFile) -> str:
    """One run as a line of text: when, which way, how it ended and what it did."""
    totals = run.totals()
    counts = ", ".join(f"{n} {outcome}" for outcome, n in totals.items() if n and outcome)
    status = "FAILED" if run.failed else "ok"
    mode = " (dry run)" if run.data.get("dry_run") else ""
    line = f"{run.started_at} {run.data.get('direction', '?')}{mode}: {status}"
    if run.failed:
        line += f" ({run.data.get('failure') or 'no reason given'})"
    return f"{line}; {counts or 'nothing to do'}"
