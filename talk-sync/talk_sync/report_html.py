"""The recent runs as one self-contained HTML page (``talk-sync report --html``).

The page needs nothing but itself: inline CSS, the charts as inline SVG, no script, no
external URL, so it can be mailed, archived or opened offline. Its sections (each a
``<section id=...>``): ``summary`` (runs, failed runs, linked pairs per flow), ``chart``
(per flow, what each run did, over time), ``runs`` (one row per run; failed runs with
their reason), ``conflicts`` (both values and the winner), ``rejects`` (refused and
deferred records), ``skipped`` and ``left-behind`` (stuck, unreadable, ambiguous), each
with its reason.

Every value passes through :func:`_text`: record names and values come from users.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from talk_sync.flows import FLOWS
from talk_sync.report import Outcome
from talk_sync.report_files import RunFile

#: Rows listed per table before "and N more" (the JSON reports hold them all).
MAX_ROWS = 200
#: A value longer than this is cut in the tables.
MAX_VALUE = 300

#: The outcomes the chart stacks per run (``unchanged`` would dwarf the others), bottom up,
#: with their colours.
CHARTED: tuple[tuple[str, str], ...] = (
    ("created", "#2f9e44"),
    ("updated", "#1c7ed6"),
    ("adopted", "#0c8599"),
    ("unlinked", "#868e96"),
    ("skipped", "#f59f00"),
    ("ambiguous", "#ae3ec9"),
    ("deferred", "#ff8787"),
    ("rejected", "#e03131"),
)
#: The strip under a bar says which way the run went.
DIRECTION_COLOURS = {"asana -> custompms": "#5f3dc4", "custompms -> asana": "#a0522d"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#212529;background:#f8f9fa}
header{background:#343a40;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#ced4da}
main{padding:8px 24px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dee2e6;border-radius:6px;margin:16px 0;
padding:12px 16px}
h2{font-size:16px;margin:0 0 8px}h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e9ecef;padding:4px 6px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f1f3f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fff5f5}
.status-failed{color:#c92a2a;font-weight:600}.status-succeeded{color:#2b8a3e}
.figures{display:flex;gap:24px;flex-wrap:wrap}
.figure{min-width:140px}.figure b{display:block;font-size:26px}
.figure.bad b{color:#c92a2a}
.legend span{display:inline-block;margin-right:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.chart svg{width:100%;height:auto;display:block}
.none{color:#868e96}.more{color:#868e96;font-style:italic}
code{font-size:12px;background:#f1f3f5;padding:0 3px;border-radius:3px}
"""


def _text(value: Any) -> str:
    """A value as escaped text: strings as they are, anything else as JSON, cut if long."""
    if value is None:
        shown = "—"
    elif isinstance(value, str):
        shown = value
    else:
        shown = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if len(shown) > MAX_VALUE:
        shown = shown[: MAX_VALUE - 1] + "…"
    return html.escape(shown, quote=True)


@dataclass(frozen=True)
class LinkedPairs:
    """The link store's links per flow and status, or why they could not be counted."""

    counts: Mapping[str, Mapping[str, int]]
    problem: str | None = None

    @property
    def linked(self) -> int:
        return sum(by_status.get("linked", 0) for by_status in self.counts.values())


def render_html(
    runs: Sequence[RunFile],
    pairs: LinkedPairs,
    *,
    source: str,
    generated_at: str,
    problems: Sequence[str] = (),
) -> str:
    """The page for ``runs`` (oldest first) read from ``source``, the report directory."""
    failed = [run for run in runs if run.failed]
    body = [
        _summary(runs, failed, pairs, problems),
        _charts(runs),
        _runs_table(runs),
        _failed(failed),
        _conflicts(runs),
        _rejects(runs),
        _skipped(runs),
        _left_behind(runs),
    ]
    title = "talk-sync: recent runs"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{title}</h1><p>The last {len(runs)} runs in <code>{_text(source)}</code>"
        f", generated at {_text(generated_at)}</p></header>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def _section(ident: str, title: str, content: str) -> str:
    return f'<section id="{ident}">\n<h2>{title}</h2>\n{content}\n</section>'


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str, numeric: int = 0
) -> str:
    """A table of already escaped cells; the last ``numeric`` columns right-aligned."""
    listed: list[Sequence[str]] = []
    more = 0
    for row in rows:
        if len(listed) < MAX_ROWS:
            listed.append(row)
        else:
            more += 1
    if not listed:
        return f'<p class="none">{empty}</p>'
    first_number = len(headers) - numeric
    head = "".join(f"<th>{h}</th>" for h in headers)
    lines = []
    for row in listed:
        cells = "".join(
            f'<td class="n">{cell}</td>' if i >= first_number else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    tail = f'<p class="more">… and {more} more (see the JSON reports)</p>' if more else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>{tail}"


def _newest_first(runs: Sequence[RunFile]) -> list[RunFile]:
    return list(reversed(runs))


def _entries(runs: Sequence[RunFile], key: str) -> Iterable[tuple[RunFile, dict[str, Any]]]:
    """Each entry of list ``key`` of each run, newest run first."""
    for run in _newest_first(runs):
        for entry in run.data.get(key) or []:
            if isinstance(entry, dict):
                yield run, entry


def _when(timestamp: Any) -> str:
    """A report's timestamp, shorter: ``2026-11-30 09:00:00Z`` (escaped)."""
    text = str(timestamp or "")
    if re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text):
        text = text[:19].replace("T", " ") + "Z"
    return _text(text or None)


def _run_label(run: RunFile) -> str:
    return f"{_when(run.started_at)} {_text(run.data.get('direction', '?'))}"


# --- sections --------------------------------------------------------------------------------


def _summary(
    runs: Sequence[RunFile], failed: Sequence[RunFile], pairs: LinkedPairs, problems: Sequence[str]
) -> str:
    bad = " bad" if failed else ""
    figures = [
        f'<div class="figure" id="linked-pairs"><b>{pairs.linked}</b>linked pairs</div>',
        f'<div class="figure"><b>{len(runs)}</b>runs shown</div>',
        f'<div class="figure{bad}" id="failed-count"><b>{len(failed)}</b>failed runs</div>',
    ]
    parts = [f'<div class="figures">{"".join(figures)}</div>']
    if pairs.problem:
        parts.append(f'<p class="none">Link store not read: {_text(pairs.problem)}</p>')
    else:
        statuses = ("linked", "pending", "unlinked")
        rows = [
            [_text(flow.name), *(str(pairs.counts.get(flow.name, {}).get(s, 0)) for s in statuses)]
            for flow in FLOWS
        ]
        parts.append("<h3>Links per flow</h3>")
        parts.append(_table(["flow", *statuses], rows, empty="", numeric=3))
    for problem in problems:
        parts.append(f'<p class="none">Not read: {_text(problem)}</p>')
    return _section("summary", "Summary", "\n".join(parts))


def _charts(runs: Sequence[RunFile]) -> str:
    if not runs:
        return _section("chart", "Records per flow and run", '<p class="none">No runs.</p>')
    legend = "".join(
        f'<span><i class="swatch" style="background:{colour}"></i>{name}</span>'
        for name, colour in CHARTED
    )
    legend += "".join(
        f'<span><i class="swatch" style="background:{colour}"></i>run {_text(direction)}</span>'
        for direction, colour in DIRECTION_COLOURS.items()
    )
    legend += '<span><i class="swatch" style="border:1px dashed #c92a2a"></i>failed run</span>'
    legend += '<span><i class="swatch" style="background:#adb5bd;opacity:.35"></i>dry run</span>'
    charts = "".join(
        f'<div class="chart"><h3>{flow.number} {_text(flow.name)}</h3>{_chart(flow.name, runs)}'
        "</div>"
        for flow in FLOWS
    )
    content = f'<p class="legend">{legend}</p><div class="charts">{charts}</div>'
    return _section("chart", "Records per flow and run", content)


def _chart(flow: str, runs: Sequence[RunFile]) -> str:
    """One flow's stacked bars, one per run, oldest on the left (hover: the numbers)."""
    width, height, left, top, bottom = 360, 130, 34, 8, 22
    plot = height - top - bottom
    slot = (width - left - 4) / max(len(runs), 1)
    bar = max(min(slot * 0.7, 24), 1)

    def counts(run: RunFile) -> Mapping[str, int]:
        flows = run.data.get("flows") or {}
        found = flows.get(flow) if isinstance(flows, dict) else None
        return found if isinstance(found, dict) else {}

    peak = max((sum(int(counts(r).get(name, 0)) for name, _ in CHARTED) for r in runs), default=0)
    scale = plot / peak if peak else 0
    shapes = [
        f'<line x1="{left}" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#adb5bd"/>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="10" text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot}" font-size="10" text-anchor="end">0</text>',
    ]
    if not peak:
        shapes.append(
            f'<text x="{(left + width) / 2}" y="{top + plot / 2}" font-size="11" fill="#868e96" '
            'text-anchor="middle">nothing created, changed or left behind</text>'
        )
    label_every = max(1, round(len(runs) / 4))
    for i, run in enumerate(runs):
        x = left + i * slot + (slot - bar) / 2
        values = counts(run)
        tip = [f"{run.started_at} {run.data.get('direction', '?')}"]
        # A dry run's bars are faded: it wrote nothing (the preview job's reports are here too).
        dry = run.data.get("dry_run") is True
        faded = ' opacity="0.35"' if dry else ""
        if dry:
            tip.append("dry run: nothing written")
        if run.failed:
            tip.append(f"FAILED: {run.data.get('failure') or ''}")
        y: float = top + plot
        for name, colour in CHARTED:
            n = int(values.get(name, 0))
            if n:
                tip.append(f"{name}: {n}")
                h = n * scale
                y -= h
                shapes.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"{faded}/>'
                )
        if run.failed:
            shapes.append(
                f'<rect x="{x:.1f}" y="{top}" width="{bar:.1f}" height="{plot}" fill="none" '
                'stroke="#c92a2a" stroke-dasharray="3 2"/>'
            )
        strip = DIRECTION_COLOURS.get(str(run.data.get("direction")), "#adb5bd")
        shapes.append(
            f'<rect x="{x:.1f}" y="{top + plot + 2}" width="{bar:.1f}" height="3" fill="{strip}">'
            f"<title>{_text(chr(10).join(tip))}</title></rect>"
        )
        # A transparent column over the whole slot carries the numbers as a tooltip.
        shapes.append(
            f'<rect x="{left + i * slot:.1f}" y="{top}" width="{slot:.1f}" height="{plot}" '
            f'fill="transparent"><title>{_text(chr(10).join(tip))}</title></rect>'
        )
        if i % label_every == 0:
            shapes.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 4}" font-size="9" '
                f'text-anchor="middle">{_text(run.started_at[5:16].replace("T", " "))}</text>'
            )
    label = _text(f"records per run of flow {flow}")
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}">{"".join(shapes)}</svg>'
    )


def _runs_table(runs: Sequence[RunFile]) -> str:
    # The report's counters, but for unlinked and ambiguous: rare, and shown in the charts
    # (ambiguous records are listed in their own section too).
    outcomes = [str(o) for o in Outcome if o not in (Outcome.UNLINKED, Outcome.AMBIGUOUS)]
    headers = ["started", "finished", "direction", "status", *outcomes]
    lines = []
    for run in _newest_first(runs):
        totals = run.totals()
        status = "failed" if run.failed else "succeeded"
        shown = status + (" (dry run)" if run.data.get("dry_run") else "")
        if run.failed:
            shown += f": {run.data.get('failure') or 'no reason given'}"
        cells = [
            _when(run.started_at),
            _when(run.data.get("finished_at")),
            _text(run.data.get("direction", "?")),
            f'<span class="status-{status}">{_text(shown)}</span>',
            *(str(totals.get(outcome, 0)) for outcome in outcomes),
        ]
        row_class = ' class="failed"' if run.failed else ""
        lines.append(f"<tr{row_class}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not lines:
        return _section("runs", "Runs", '<p class="none">No run reports found.</p>')
    head = "".join(f"<th>{h}</th>" for h in headers)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    return _section("runs", "Runs (newest first)", table)


def _failed(failed: Sequence[RunFile]) -> str:
    rows = (
        [_run_label(run), _text(run.data.get("failure") or "no reason given")]
        for run in _newest_first(failed)
    )
    return _section("failed", "Failed runs", _table(["run", "reason"], rows, empty="None."))


def _conflicts(runs: Sequence[RunFile]) -> str:
    rows = (
        [
            _run_label(run),
            _text(c.get("flow")),
            _text(c.get("record")),
            _text(c.get("field")),
            _text(c.get("base")),
            _text(c.get("asana")),
            _text(c.get("custompms")),
            f"<b>{_text(c.get('winner'))}</b>",
            _text(c.get("reason")),
        ]
        for run, c in _entries(runs, "conflicts")
    )
    headers = ["run", "flow", "record", "field", "base", "Asana", "Custompms", "winner", "why"]
    return _section("conflicts", "Conflicts", _table(headers, rows, empty="None."))


def _rejects(runs: Sequence[RunFile]) -> str:
    def rows(key: str, what: str) -> Iterable[list[str]]:
        for run, r in _entries(runs, key):
            yield [
                _run_label(run),
                what,
                _text(r.get("flow")),
                _text(r.get("record")),
                _text(r.get("field")),
                _text(r.get("reason")),
                _text(r.get("retry_at") or "next run"),
            ]

    headers = ["run", "", "flow", "record", "field", "reason", "next try"]
    table = _table(
        headers,
        [*rows("rejects", "refused"), *rows("deferred", "deferred")],
        empty="None.",
    )
    return _section("rejects", "Refused records", table)


def _skipped(runs: Sequence[RunFile]) -> str:
    rows = (
        [
            _run_label(run),
            _text(c.get("flow")),
            _text(c.get("record")),
            _text(", ".join(map(str, c.get("fields") or []))),
            _text(c.get("detail")),
        ]
        for run, c in _entries(runs, "changes")
        if c.get("outcome") == "skipped"
    )
    headers = ["run", "flow", "record", "fields", "reason"]
    return _section("skipped", "Skipped records", _table(headers, rows, empty="None."))


def _left_behind(runs: Sequence[RunFile]) -> str:
    def listed(key: str, what: str, reason: Callable[[dict[str, Any]], Any]) -> list[list[str]]:
        return [
            [_run_label(run), what, _text(e.get("flow")), _text(e.get("record")), _text(reason(e))]
            for run, e in _entries(runs, key)
        ]

    rows = [
        *listed("stuck", "stuck", lambda e: e.get("reason")),
        *listed("ambiguous", "ambiguous", lambda e: f"{e.get('reason')}: {e.get('candidates')}"),
        *listed("unreadable", "unreadable", lambda e: e.get("reason")),
    ]
    headers = ["run", "", "flow", "record", "reason"]
    content = _table(headers, rows, empty="None.")
    return _section("left-behind", "Stuck, ambiguous and unreadable records", content)
