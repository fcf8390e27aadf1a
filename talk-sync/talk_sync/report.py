"""The per-run report: what each flow did, every conflict and every reject (with its next try).

A target keeps one :class:`RunReport` per run, counts each record's outcome, and at the end
logs it as a table and writes it as JSON (the path is a target setting). In a dry run the
report also lists each record that would be created or updated, with the fields. A run that
fails writes its report too, marked failed with a one-line reason (:meth:`RunReport.fail`)
and holding what the run had done until then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from talk_sync.flows import FLOWS, Flow, get_flow
from talk_sync.merge import Conflict
from talk_sync.normalize import to_jsonable
from talk_sync.private_dirs import make_private_dir
from talk_sync.refs import Ref, Side
from talk_sync.timestamps import utcnow


class Outcome(str, Enum):
    """A counter of the report."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CONFLICTS = "conflicts"  #: conflicting fields (a record may have several)
    REJECTED = "rejected"
    #: refused by an earlier run and not sent again: same values, back-off not over
    DEFERRED = "deferred"
    UNLINKED = "unlinked"  #: a side was deleted; the link was dropped (never deleted)
    SKIPPED = "skipped"  #: not written: reference not linked yet, unlinked, unsupported...
    #: linked to a record the other side already held (a first sync on existing data)
    ADOPTED = "adopted"
    #: neither linked nor created: more than one record could be it (a person decides)
    AMBIGUOUS = "ambiguous"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ConflictEntry:
    """A conflict, naming the record and field, in system names rather than roles."""

    flow: str
    record: str
    field: str
    base: Any
    asana: Any
    custompms: Any
    winner: str
    reason: str


@dataclass(frozen=True)
class RejectEntry:
    """A record the destination refused (in this run, or deferred from an earlier one)."""

    flow: str
    record: str
    reason: str
    field: str | None
    #: When it is sent again with the same values (``None``: on the next run); changed
    #: values are sent at once.
    retry_at: str | None = None
    #: How often it was refused (deferred records).
    attempts: int | None = None


@dataclass(frozen=True)
class StuckEntry:
    """A record that cannot be applied as things stand: a person must act (see README)."""

    flow: str
    record: str
    reason: str
    field: str | None = None


@dataclass(frozen=True)
class UnreadableEntry:
    """An object the source's token could not read (403/404): skipped by the tap."""

    record: str
    reason: str


@dataclass(frozen=True)
class AdoptionEntry:
    """A source record linked to the record the other side already held.

    ``differences``: each field whose values differed, with both values and the side
    whose value both now hold (``adopt_policy``).
    """

    flow: str
    asana: str
    custompms: str
    #: How the pair was found: ``match key``, ``external_id`` or ``linked by hand``.
    how: str
    differences: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class AmbiguousEntry:
    """A record neither linked nor created: more than one record could be it."""

    flow: str
    record: str
    candidates: list[str]
    reason: str


@dataclass(frozen=True)
class ChangeEntry:
    """A record created, updated or skipped, with the fields involved (dry runs list them)."""

    flow: str
    record: str
    outcome: str
    fields: list[str]
    detail: str | None = None


@dataclass
class RunReport:
    """Counters per flow plus conflict, reject and (dry run) change details for one run.

    ``source`` is the side the run reads from: the report of ``tap-asana-talk ->
    target-custompms`` has ``source=Side.ASANA``.
    """

    source: Side
    dry_run: bool = False
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    conflicts: list[ConflictEntry] = field(default_factory=list)
    rejects: list[RejectEntry] = field(default_factory=list)
    #: Records refused by earlier runs and not sent again in this one (see ``defer``).
    deferred: list[RejectEntry] = field(default_factory=list)
    changes: list[ChangeEntry] = field(default_factory=list)
    #: Records kept that a person must act on; with ``fail_on_stuck`` the run fails.
    stuck_records: list[StuckEntry] = field(default_factory=list)
    #: Objects the tap skipped because the token may not read them (private, guest access).
    unreadable: list[UnreadableEntry] = field(default_factory=list)
    #: Pairs linked to records the other side already held (would be, in a dry run).
    adoptions: list[AdoptionEntry] = field(default_factory=list)
    #: Records not linked nor created because several records could be them.
    ambiguous_records: list[AmbiguousEntry] = field(default_factory=list)
    #: Why the run failed, in one line (``None``: it did not). A failed run's counters hold
    #: what it had recorded until then.
    failure: str | None = None

    def __post_init__(self) -> None:
        self.source = Side(self.source)
        for flow in FLOWS:
            self.counters.setdefault(flow.name, dict.fromkeys(map(str, Outcome), 0))

    @property
    def direction(self) -> str:
        """E.g. ``asana -> custompms``."""
        return f"{self.source} -> {self.source.other}"

    def count(
        self,
        flow: Flow | int | str,
        outcome: Outcome | str,
        *,
        record: Ref | str | None = None,
        fields: list[str] | None = None,
        detail: str | None = None,
        n: int = 1,
    ) -> None:
        """Count ``n`` records of ``flow`` with ``outcome``.

        In a dry run, a named ``record`` is also listed with ``fields`` (what would change)
        and an optional ``detail``, as is every skipped record in any run.
        """
        name, outcome = get_flow(flow).name, Outcome(outcome)
        self.counters[name][outcome.value] += n
        listed = self.dry_run or outcome is Outcome.SKIPPED
        if record is not None and listed and outcome is not Outcome.UNCHANGED:
            self.changes.append(
                ChangeEntry(name, str(record), outcome.value, sorted(fields or []), detail)
            )

    def conflict(self, flow: Flow | int | str, record: Ref | str, conflict: Conflict) -> None:
        """Report one field conflict of ``record`` (counted under ``conflicts``)."""
        ours, theirs = (
            (conflict.ours, conflict.theirs)
            if self.source is Side.ASANA
            else (conflict.theirs, conflict.ours)
        )
        name = get_flow(flow).name
        self.counters[name][Outcome.CONFLICTS.value] += 1
        self.conflicts.append(
            ConflictEntry(
                name,
                str(record),
                conflict.field,
                to_jsonable(conflict.base),
                to_jsonable(ours),
                to_jsonable(theirs),
                conflict.winner.value,
                conflict.reason,
            )
        )

    def adopted(
        self,
        flow: Flow | int | str,
        source: Ref | str,
        destination: Ref | str,
        how: str,
        differences: Sequence[Conflict] = (),
    ) -> None:
        """Report ``source`` linked to ``destination``, which its side already held, and
        each field that differed (counted under ``adopted``)."""
        name = get_flow(flow).name
        self.counters[name][Outcome.ADOPTED.value] += 1
        refs = {Side.ASANA: str(source), Side.CUSTOMPMS: str(destination)}
        if self.source is not Side.ASANA:
            refs = {Side.ASANA: str(destination), Side.CUSTOMPMS: str(source)}
        rows = []
        for difference in differences:
            ours, theirs = to_jsonable(difference.ours), to_jsonable(difference.theirs)
            values = (ours, theirs) if self.source is Side.ASANA else (theirs, ours)
            rows.append(
                {
                    "field": difference.field,
                    "asana": values[0],
                    "custompms": values[1],
                    "winner": difference.winner.value,
                    "reason": difference.reason,
                }
            )
        self.adoptions.append(
            AdoptionEntry(name, refs[Side.ASANA], refs[Side.CUSTOMPMS], how, rows)
        )

    def ambiguous(
        self, flow: Flow | int | str, record: Ref | str, candidates: list[str], reason: str
    ) -> None:
        """Report a record left alone because several records could be it."""
        name = get_flow(flow).name
        self.counters[name][Outcome.AMBIGUOUS.value] += 1
        self.ambiguous_records.append(AmbiguousEntry(name, str(record), candidates, reason))

    def reject(
        self,
        flow: Flow | int | str,
        record: Ref | str,
        reason: str,
        field: str | None = None,
        *,
        retry_at: datetime | None = None,
    ) -> None:
        """Report a record the destination refused (counted under ``rejected``), and when
        it is sent again with the same values (``None``: on the next run)."""
        name = get_flow(flow).name
        self.counters[name][Outcome.REJECTED.value] += 1
        self.rejects.append(RejectEntry(name, str(record), reason, field, to_jsonable(retry_at)))

    def defer(
        self,
        flow: Flow | int | str,
        record: Ref | str,
        reason: str,
        field: str | None = None,
        *,
        retry_at: datetime | None,
        attempts: int,
    ) -> None:
        """Report a record an earlier run saw refused, not sent again in this one: its
        values are the same and its back-off is not over (counted under ``deferred``)."""
        name = get_flow(flow).name
        self.counters[name][Outcome.DEFERRED.value] += 1
        entry = RejectEntry(name, str(record), reason, field, to_jsonable(retry_at), attempts)
        self.deferred.append(entry)

    def stuck(
        self, flow: Flow | int | str, record: Ref | str, reason: str, field: str | None = None
    ) -> None:
        """Report a record that cannot be applied as things stand (listed, not counted)."""
        self.stuck_records.append(StuckEntry(get_flow(flow).name, str(record), reason, field))

    def unreadable_object(self, record: str, reason: str) -> None:
        """Report an object the source could not read (listed, not counted)."""
        self.unreadable.append(UnreadableEntry(record, reason))

    def finish(self) -> None:
        """Stamp the end of the run."""
        self.finished_at = utcnow()

    def fail(self, reason: str) -> None:
        """Mark the run failed, with ``reason`` (its first line: one line in the table)."""
        self.failure = one_line(reason)
        if self.finished_at is None:
            self.finish()

    @property
    def status(self) -> str:
        """``failed`` when the run exits non-zero, else ``succeeded``."""
        return "failed" if self.failure else "succeeded"

    @property
    def empty(self) -> bool:
        """Whether the run recorded nothing at all (e.g. it failed before its first record)."""
        listed = (
            self.conflicts,
            self.rejects,
            self.deferred,
            self.changes,
            self.stuck_records,
            self.unreadable,
            self.adoptions,
            self.ambiguous_records,
        )
        return not any(self.totals().values()) and not any(listed)

    @property
    def left_refused(self) -> int:
        """Records refused and not written: in this run, or earlier and deferred in this one."""
        return len(self.rejects) + len(self.deferred)

    def totals(self) -> dict[str, int]:
        """Each counter summed over the flows."""
        return {
            outcome.value: sum(counts[outcome.value] for counts in self.counters.values())
            for outcome in Outcome
        }

    @property
    def writes(self) -> int:
        """Records created or updated (would be, in a dry run)."""
        totals = self.totals()
        return totals[Outcome.CREATED.value] + totals[Outcome.UPDATED.value]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "direction": self.direction,
            "dry_run": self.dry_run,
            "status": self.status,
            "failure": self.failure,
            "started_at": to_jsonable(self.started_at),
            "finished_at": to_jsonable(self.finished_at),
            "flows": self.counters,
            "totals": self.totals(),
            "conflicts": [asdict(entry) for entry in self.conflicts],
            "rejects": [asdict(entry) for entry in self.rejects],
            "deferred": [asdict(entry) for entry in self.deferred],
            "changes": [asdict(entry) for entry in self.changes],
            "stuck": [asdict(entry) for entry in self.stuck_records],
            "unreadable": [asdict(entry) for entry in self.unreadable],
            "adoptions": [asdict(entry) for entry in self.adoptions],
            "ambiguous": [asdict(entry) for entry in self.ambiguous_records],
        }

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` to ``path`` (parent directories created); returns the path."""
        target = Path(path)
        make_private_dir(target.parent)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target

    def render_table(self) -> str:
        """A plain-text table of the counters, then one line per conflict, reject and change."""
        columns = [str(outcome) for outcome in Outcome]
        label_width = max(len(f"{flow.number} {flow.name}") for flow in FLOWS)
        widths = [max(len(column), 6) for column in columns]

        def row(label: str, values: list[str]) -> str:
            pairs = zip(values, widths, strict=True)
            cells = " ".join(value.rjust(width) for value, width in pairs)
            return f"{label.ljust(label_width)} {cells}"

        title = f"talk-sync run {self.direction}"
        if self.dry_run:
            title += " (DRY RUN: nothing written)"
        lines = [title]
        if self.failure:
            lines.append(f"FAILED: {self.failure}")
        lines.append(row("flow", columns))
        for flow in FLOWS:
            counts = self.counters[flow.name]
            lines.append(row(f"{flow.number} {flow.name}", [str(counts[c]) for c in columns]))
        totals = self.totals()
        lines.append(row("total", [str(totals[c]) for c in columns]))
        for c in self.conflicts:
            lines.append(
                f"conflict {c.flow} {c.record} field {c.field}: base {c.base!r}, "
                f"asana {c.asana!r}, custompms {c.custompms!r} -> {c.winner} ({c.reason})"
            )
        for r in self.rejects:
            where = f" field {r.field}" if r.field else ""
            lines.append(f"rejected {r.flow} {r.record}{where}: {r.reason}{_next_try(r)}")
        for r in self.deferred:
            where = f" field {r.field}" if r.field else ""
            lines.append(
                f"deferred {r.flow} {r.record}{where}: refused {r.attempts}x ({r.reason})"
                f"{_next_try(r)}"
            )
        for s in self.stuck_records:
            where = f" field {s.field}" if s.field else ""
            lines.append(f"STUCK {s.flow} {s.record}{where}: {s.reason}")
        for u in self.unreadable:
            lines.append(f"unreadable {u.record}: {u.reason}")
        verb = "would link" if self.dry_run else "linked"
        for a in self.adoptions:
            lines.append(f"{verb} {a.flow} {a.asana} <-> {a.custompms} (existing, {a.how})")
            for d in a.differences:
                lines.append(
                    f"  {d['field']}: asana {d['asana']!r}, custompms {d['custompms']!r} -> "
                    f"{d['winner']} ({d['reason']})"
                )
        for m in self.ambiguous_records:
            lines.append(f"AMBIGUOUS {m.flow} {m.record}: {m.reason}")
        for change in self.changes:
            verb = f"would be {change.outcome}" if self.dry_run else change.outcome
            fields = f" fields {', '.join(change.fields)}" if change.fields else ""
            detail = f" ({change.detail})" if change.detail else ""
            lines.append(f"{verb} {change.flow} {change.record}{fields}{detail}")
        return "\n".join(lines)

    def log(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        """Log :meth:`render_table`, one line per log record so log shippers keep the table.

        A record refused (in this run or deferred from an earlier refusal), unreadable, stuck
        or ambiguous is a WARNING line: a run that ends well can still leave records behind,
        and schedulers alert on warnings, as is a failed run's reason (the error itself was
        logged when it happened: one ERROR line per error).
        """
        for line in self.render_table().splitlines():
            warns = line.startswith(_WARNING_LINES)
            logger.log(logging.WARNING if warns else level, "%s", line)


#: How :meth:`RunReport.render_table` begins the line of a record left behind, or the line
#: saying why the run failed.
_WARNING_LINES = ("rejected ", "deferred ", "unreadable ", "STUCK ", "AMBIGUOUS ", "FAILED: ")
#: A failure reason longer than this is cut (a one-line reason, not a dump).
_REASON_LIMIT = 500


def one_line(text: str) -> str:
    """The first non-empty line of ``text``, cut to a readable length."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) > _REASON_LIMIT:
        first = first[: _REASON_LIMIT - 3] + "..."
    return first or "unknown error"


def _next_try(entry: RejectEntry) -> str:
    """When a refused record is sent again, for the table."""
    if entry.retry_at is None:
        return "; retried next run"
    return f"; next try after {entry.retry_at}, or at once when the record changes"
