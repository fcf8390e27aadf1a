"""``talk-sync links`` and ``talk-sync rejects``: managing links and kept records by hand.

``talk-sync links list [--flow F] [--side S] [--status ST] [--json]``
    One row per link.
``talk-sync links show REF [--json]``
    The link of the record ``REF`` names, its snapshots and the records kept for either ref.
``talk-sync links link REF REF [--json]``
    Manual adoption: link an existing Asana record to an existing Custompms record. The row
    is ``linked`` with no snapshots: "adopted, not merged yet"; the next sync merges the two
    records by its ``adopt_policy``.
``talk-sync links unlink REF``
    Mark the link unlinked: no more syncing, neither record deleted nor created again.
``talk-sync links rebuild [--custompms-url U] [--custompms-token T] [--dry-run] [--json]``
    Link every Custompms record whose ``external_id`` names an Asana record (adopted, as
    ``link`` does), e.g. after the link store was lost.
``talk-sync rejects list [--side S] [--flow F] [--stuck] [--json]``
    The records kept for retry.
``talk-sync rejects retry (REF ... | --all) [--side S]``
    Send them again on the next run: clear their back-off and stuck mark.

Errors are one line ``talk-sync: <message>`` on stderr: exit 2 for a bad argument or a
refused change, 1 when something failed (the store, Custompms).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from talk_sync.flows import FLOWS, Flow, flow_for, get_flow
from talk_sync.leases import sync_lock_name
from talk_sync.link_status import LinkStatus
from talk_sync.linkstore import Link, LinkError, LinkStore, LinkStoreConfigError, Reject
from talk_sync.migrations import SchemaError
from talk_sync.refs import Ref, RefError, Side, parse_ref
from talk_sync.run_lease import lock_scope
from talk_sync.timestamps import format_clock

#: The Custompms resources ``rebuild`` reads, and their record types.
RESOURCES = (("customers", "customer"), ("projects", "project"), ("tasks", "task"))
#: Skipped records listed by ``rebuild`` before "and N more".
LISTED = 20
#: The longest reason shown in a text table (``--json`` has it whole).
REASON_WIDTH = 60

ADOPTED = "the next sync merges them (adopt_policy)"


class UsageError(Exception):
    """A bad argument or a refused change: exit 2."""


class CommandFailedError(Exception):
    """Something failed (the link store, Custompms): exit 1."""


# --- output ----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned text table; numbers right-aligned, ``None`` shown as ``-``."""
    cells = [list(headers)] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))
    ]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def _short(text: str | None, width: int = REASON_WIDTH) -> str | None:
    if text is None or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _ref(ref: Ref | None) -> str | None:
    return None if ref is None else str(ref)


def snapshots_state(link: Link) -> str:
    """Whether the link's snapshots are known; ``adopting``: linked, none yet."""
    asana, custompms = link.asana_snapshot is not None, link.custompms_snapshot is not None
    if asana and custompms:
        return "known"
    if asana or custompms:
        return "asana only" if asana else "custompms only"
    return "adopting" if link.status is LinkStatus.LINKED else "none"


def link_summary(link: Link) -> dict[str, Any]:
    """A link as ``links list --json`` prints it."""
    return {
        "id": link.id,
        "flow": link.flow.name,
        "asana": _ref(link.asana),
        "custompms": _ref(link.custompms),
        "status": link.status.value,
        "origin": link.origin.value,
        "updated_at": _iso(link.updated_at),
        "snapshots": snapshots_state(link),
    }


def link_details(link: Link) -> dict[str, Any]:
    """Every column of a link, as ``links show --json`` prints it."""
    return {
        **link_summary(link),
        "flow_number": link.flow.number,
        "created_at": _iso(link.created_at),
        "create_key": link.create_key,
        "create_attempt": link.create_attempt,
        "claimed_by": link.claimed_by,
        "match_key": link.match_key,
        "asana_snapshot": link.asana_snapshot,
        "custompms_snapshot": link.custompms_snapshot,
    }


def reject_dict(reject: Reject) -> dict[str, Any]:
    """A kept record as ``rejects list --json`` prints it (without the record itself)."""
    return {
        "side": reject.side.value,
        "flow": reject.stream,
        "record": reject.source_key,
        "reason": reject.reason,
        "field": reject.field,
        "attempts": reject.attempts,
        "first_seen": _iso(reject.first_seen),
        "last_seen": _iso(reject.last_seen),
        "retry_at": _iso(reject.retry_at),
        "stuck": reject.stuck,
    }


REJECT_HEADERS = (
    "side",
    "flow",
    "record",
    "reason",
    "field",
    "attempts",
    "first seen",
    "last seen",
    "retry at",
    "stuck",
)


def _reject_rows(rejects: Sequence[Reject]) -> list[list[object]]:
    return [
        [
            r.side.value,
            r.stream,
            r.source_key,
            _short(r.reason),
            r.field,
            r.attempts,
            format_clock(r.first_seen),
            format_clock(r.last_seen),
            format_clock(r.retry_at) or "next run",
            _short(r.stuck),
        ]
        for r in rejects
    ]


# --- arguments and the store -----------------------------------------------------------------


def _parse_ref(value: str) -> Ref:
    try:
        return parse_ref(value)
    except RefError as error:
        raise UsageError(str(error)) from None


def _flow(value: str | None) -> Flow | None:
    if value is None:
        return None
    try:
        return get_flow(value)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _open(args: argparse.Namespace) -> LinkStore:
    try:
        return LinkStore(args.link_store_url)
    except LinkStoreConfigError as error:
        raise UsageError(str(error)) from None


def _no_sync_running(store: LinkStore) -> None:
    """Refuse to change links while a sync holds the lock (it would race with it)."""
    lock = store.leases.get(sync_lock_name(lock_scope()))
    if lock is not None and lock.live():
        raise CommandFailedError(
            f"a sync is running ({lock.describe()}); nothing changed. Run this again when it ends"
        )


def _command(run: Callable[[argparse.Namespace, LinkStore], int]) -> Callable[..., int]:
    """Run ``run`` with the store open; errors become one line and an exit status."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            store = _open(args)
            try:
                return run(args, store)
            finally:
                store.close()
        except UsageError as error:
            _say(str(error))
            return 2
        except (CommandFailedError, SchemaError) as error:
            _say(str(error))
            return 1
        except SQLAlchemyError as error:
            _say(f"the link store failed: {type(error).__name__}: {_first_line(error)}")
            return 1

    return wrapped


def _say(message: str) -> None:
    print(f"talk-sync: {message}", file=sys.stderr, flush=True)


def _first_line(error: BaseException) -> str:
    return (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[0]


# --- links -----------------------------------------------------------------------------------


def links_list(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync links list``."""
    flow = _flow(args.flow)
    found = store.links(flow=flow, status=args.status)
    if args.side:
        found = [link for link in found if link.ref(args.side) is not None]
    if args.json:
        _print_json([link_summary(link) for link in found])
        return 0
    if not found:
        print("no links")
        return 0
    headers = ("id", "flow", "asana", "custompms", "status", "origin", "updated", "snapshots")
    rows = [
        [
            link.id,
            link.flow.name,
            _ref(link.asana),
            _ref(link.custompms),
            link.status.value,
            link.origin.value,
            format_clock(link.updated_at),
            snapshots_state(link),
        ]
        for link in found
    ]
    print(table(headers, rows))
    adopting = sum(snapshots_state(link) == "adopting" for link in found)
    note = f"; {adopting} adopting, merged on the next sync (adopt_policy)" if adopting else ""
    print(f"{_count(len(found), 'link')}{note}")
    return 0


def _rejects_of(store: LinkStore, refs: Sequence[Ref | None]) -> list[Reject]:
    keys = {str(ref) for ref in refs if ref is not None}
    return [reject for reject in store.rejects() if reject.source_key in keys]


def links_show(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync links show REF``."""
    ref = _parse_ref(args.ref)
    link = store.find(ref)
    rejects = _rejects_of(store, [ref] if link is None else [link.asana, link.custompms])
    if args.json:
        _print_json(
            {
                "link": None if link is None else link_details(link),
                "rejects": [reject_dict(r) for r in rejects],
            }
        )
        return 0 if link is not None or rejects else 1
    if link is None:
        if not rejects:
            raise CommandFailedError(f"{ref} has no link and no kept records")
        print(f"{ref} has no link")
    else:
        _print_link(link)
    keys = " or ".join(str(r) for r in (link.asana, link.custompms) if r) if link else str(ref)
    print(f"\nrecords kept for {keys}: {len(rejects)}")
    if rejects:
        print(_indent(table(REJECT_HEADERS, _reject_rows(rejects))))
    return 0


def _print_link(link: Link) -> None:
    state = snapshots_state(link)
    if state == "adopting":
        state += f": linked by hand or rebuilt, not merged yet; {ADOPTED}"
    fields: list[tuple[str, object]] = [
        ("flow", f"{link.flow.name} (flow {link.flow.number})"),
        ("asana", _ref(link.asana)),
        ("custompms", _ref(link.custompms)),
        ("status", link.status.value),
        ("origin", link.origin.value),
        ("snapshots", state),
        ("created_at", format_clock(link.created_at)),
        ("updated_at", format_clock(link.updated_at)),
        ("create_key", link.create_key),
        ("create_attempt", link.create_attempt),
        ("claimed_by", link.claimed_by),
        ("match_key", link.match_key),
    ]
    print(f"link {link.id}")
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        print(f"  {name.ljust(width)}  {'-' if value is None else value}")
    for side in Side:
        snapshot = link.snapshot(side)
        print(f"\n{side.value}_snapshot:")
        shown = "(none)" if snapshot is None else json.dumps(snapshot, indent=2, sort_keys=True)
        print(_indent(shown))


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def links_link(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync links link REF REF``."""
    first, second = (_parse_ref(value) for value in args.refs)
    asana, custompms = (first, second) if first.side is Side.ASANA else (second, first)
    _no_sync_running(store)
    try:
        adopted = store.adopt(asana, custompms, origin=first.side)
    except LinkError as error:
        raise UsageError(str(error)) from None
    link = adopted.link
    if args.json:
        _print_json(
            {"link": link_details(link), "replaced": [link_details(r) for r in adopted.replaced]}
        )
        return 0
    for old in adopted.replaced:
        print(_replaced(old, asana, custompms))
    print(
        f"linked {link.asana} <-> {link.custompms} ({link.flow.name}, link {link.id}, "
        f"origin {link.origin.value}): {ADOPTED}"
    )
    return 0


def _replaced(old: Link, asana: Ref, custompms: Ref) -> str:
    others = [ref for ref in (old.asana, old.custompms) if ref and ref not in (asana, custompms)]
    pair = " <-> ".join(str(ref) for ref in (old.asana, old.custompms) if ref)
    if others:
        return f"removed it from unlinked link {old.id} ({pair}); {others[0]} stays unlinked"
    return f"replaced unlinked link {old.id} ({pair})"


def links_unlink(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync links unlink REF``."""
    ref = _parse_ref(args.ref)
    link = store.find(ref)
    if link is None:
        raise UsageError(f"{ref} has no link")
    pair = " <-> ".join(str(r) if r else "(not created yet)" for r in (link.asana, link.custompms))
    if link.status is LinkStatus.UNLINKED:
        raise UsageError(f"{ref} is already unlinked (link {link.id}: {pair})")
    _no_sync_running(store)
    try:
        store.unlink(ref)
    except LinkError as error:
        raise UsageError(str(error)) from None
    print(
        f"unlinked {pair} (link {link.id}): edits no longer sync; neither record is deleted, "
        "and neither will be created again on the other side"
    )
    return 0


# --- links rebuild ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """What ``rebuild`` makes of one Custompms record."""

    custompms: Ref
    external_id: str | None
    flow: Flow | None
    asana: Ref | None
    outcome: str  #: linked, already linked, conflict or skipped
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "custompms": str(self.custompms),
            "external_id": self.external_id,
            "flow": self.flow.name if self.flow else None,
            "asana": _ref(self.asana),
            "outcome": self.outcome,
            "reason": self.reason,
        }


OUTCOMES = ("linked", "already linked", "conflict", "skipped")
NO_FLOW = "(no flow)"


def classify(
    records: Sequence[tuple[str, Mapping[str, Any]]], links: Sequence[Link]
) -> list[Found]:
    """Decide each Custompms record ``(type, record)`` against the store's ``links``."""
    by_asana = {str(link.asana): link for link in links if link.asana}
    by_custompms = {str(link.custompms): link for link in links if link.custompms}
    planned: dict[str, Ref] = {}  # asana ref -> the Custompms record linked to it in this run
    found = []
    for record_type, record in records:
        custompms = Ref(Side.CUSTOMPMS, record_type, str(record["id"]))
        external_id = record.get("external_id") or None
        result = partial(Found, custompms, external_id)
        if external_id is None:
            found.append(result(None, None, "skipped", "no external_id"))
            continue
        try:
            asana: Ref | None = parse_ref(external_id)
        except RefError:
            asana = None
        if asana is None or asana.side is not Side.ASANA:
            found.append(result(None, None, "skipped", "not an Asana ref"))
            continue
        try:
            flow = flow_for(asana.type, record_type)
        except ValueError:
            reason = f"no flow links asana {asana.type} to custompms {record_type}"
            found.append(result(None, asana, "skipped", reason))
            continue
        found.append(
            result(flow, asana, *_decide(asana, custompms, by_asana, by_custompms, planned))
        )
    return found


def _decide(
    asana: Ref,
    custompms: Ref,
    by_asana: Mapping[str, Link],
    by_custompms: Mapping[str, Link],
    planned: dict[str, Ref],
) -> tuple[str, str | None]:
    """The outcome and reason for linking ``asana`` to ``custompms``, given the store."""
    row_a, row_c = by_asana.get(str(asana)), by_custompms.get(str(custompms))
    if row_a is None and row_c is None:
        if str(asana) in planned:
            return "conflict", f"{planned[str(asana)]} has the same external_id"
        planned[str(asana)] = custompms
        return "linked", None
    rows = [row for row in (row_a, row_c) if row is not None]
    if row_a is not None and row_a is row_c:
        if row_a.status is LinkStatus.LINKED:
            return "already linked", f"link {row_a.id}"
        return "skipped", _unlinked(row_a)
    if all(row.status is LinkStatus.UNLINKED for row in rows):
        return "skipped", _unlinked(rows[0])
    if row_c is None and row_a is not None and row_a.custompms is None:
        return "skipped", f"a create of {asana} is pending (link {row_a.id}); a sync ends it"
    live = [
        _held(ref, row)
        for ref, row in ((asana, row_a), (custompms, row_c))
        if row is not None and row.status is not LinkStatus.UNLINKED
    ]
    return "conflict", "; ".join(live)


def _unlinked(link: Link) -> str:
    return (
        f"unlinked (link {link.id}, by a delete or by hand): not linked again; "
        "talk-sync links link does it"
    )


def _held(ref: Ref, link: Link) -> str:
    other = link.ref(ref.side.other)
    if other is None:
        return f"{ref} has a pending create (link {link.id})"
    return f"{ref} is {link.status.value} to {other} (link {link.id})"


def _setting(option: str | None, *names: str) -> str | None:
    if option:
        return option
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def links_rebuild(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync links rebuild``."""
    url = _setting(args.custompms_url, "TALK_SYNC_CUSTOMPMS_API_URL", "CUSTOMPMS_API_URL")
    token = _setting(args.custompms_token, "TALK_SYNC_CUSTOMPMS_API_TOKEN", "CUSTOMPMS_API_TOKEN")
    if not url:
        raise UsageError(
            "no Custompms API URL: set custompms_api_url (TALK_SYNC_CUSTOMPMS_API_URL or "
            "CUSTOMPMS_API_URL) or pass --custompms-url"
        )
    if not token:
        raise UsageError(
            "no Custompms API token: set custompms_api_token (TALK_SYNC_CUSTOMPMS_API_TOKEN "
            "or CUSTOMPMS_API_TOKEN)"
        )
    from talk_sync.custompms_reader import CustompmsReader
    from talk_sync.errors import ApiError

    reader = CustompmsReader(url, token)
    try:
        records = [
            (record_type, record)
            for resource, record_type in RESOURCES
            for record in sorted(reader.records(resource), key=lambda r: r["id"])
        ]
    except ApiError as error:  # refused, unreadable, or still failing after the retries
        raise CommandFailedError(str(error)) from None
    finally:
        reader.close()
    read = Counter(record_type for record_type, _ in records)
    if not args.dry_run:
        _no_sync_running(store)
    try:
        with store.transaction():
            found = classify(records, store.links())
            if not args.dry_run:
                for item in found:
                    if item.outcome == "linked":
                        assert item.asana is not None
                        store.adopt(item.asana, item.custompms, origin=Side.ASANA)
    except LinkError as error:
        raise CommandFailedError(
            f"the link store changed during the rebuild ({error}); run it again"
        ) from None
    _rebuild_report(args, found, read)
    return 0


def _rebuild_report(args: argparse.Namespace, found: Sequence[Found], read: Counter[str]) -> None:
    counts: dict[str, Counter[str]] = {}
    for item in found:
        counts.setdefault(item.flow.name if item.flow else NO_FLOW, Counter())[item.outcome] += 1
    order = [flow.name for flow in FLOWS if flow.name in counts]
    order += [NO_FLOW] if NO_FLOW in counts else []
    if args.json:
        _print_json(
            {
                "dry_run": args.dry_run,
                "read": {resource: read[kind] for resource, kind in RESOURCES},
                "flows": {name: {o: counts[name][o] for o in OUTCOMES} for name in order},
                "records": [item.to_dict() for item in found],
            }
        )
        return
    print(
        "read from Custompms: "
        + ", ".join(f"{read[kind]} {resource}" for resource, kind in RESOURCES)
    )
    linked = "would link" if args.dry_run else "linked"
    headers = ("flow", linked, "already linked", "conflicts", "skipped")
    total = sum(counts.values(), Counter())
    rows = [[name, *(counts[name][o] for o in OUTCOMES)] for name in order]
    rows.append(["total", *(total[o] for o in OUTCOMES)])
    print(table(headers, rows))
    conflicts = [item for item in found if item.outcome == "conflict"]
    if conflicts:
        print(f"\nconflicts ({len(conflicts)}), not linked:")
        for item in conflicts:
            print(f"  {item.custompms} (external_id {item.external_id}): {item.reason}")
    skipped = [item for item in found if item.outcome == "skipped"]
    if skipped:
        print(f"\nskipped ({len(skipped)}):")
        for item in skipped[:LISTED]:
            print(f"  {item.custompms} (external_id {item.external_id or '-'}): {item.reason}")
        if len(skipped) > LISTED:
            print(f"  ... and {len(skipped) - LISTED} more (--json lists them all)")
    if args.dry_run:
        print(f"\ndry run: nothing written ({_count(total['linked'], 'link')} would be made)")
    else:
        made = total["linked"]
        print(f"\n{_count(made, 'link')} made", end="")
        print(", without snapshots: the next sync merges each pair (adopt_policy)" if made else "")


# --- rejects ---------------------------------------------------------------------------------


def rejects_list(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync rejects list``."""
    flow = _flow(args.flow)
    kept = store.rejects(
        side=args.side, stream=flow.name if flow else None, stuck=True if args.stuck else None
    )
    if args.json:
        _print_json([reject_dict(r) for r in kept])
        return 0
    if not kept:
        print("no kept records")
        return 0
    print(table(REJECT_HEADERS, _reject_rows(kept)))
    stuck = sum(r.stuck is not None for r in kept)
    print(f"{_count(len(kept), 'kept record')}, {stuck} stuck")
    return 0


def rejects_retry(args: argparse.Namespace, store: LinkStore) -> int:
    """``talk-sync rejects retry``."""
    if bool(args.refs) == args.all:
        raise UsageError("give the records to retry (their refs) or --all, not both")
    keys = None if args.all else list(dict.fromkeys(args.refs))
    if keys is not None:
        known = {r.source_key for r in store.rejects(side=args.side)}
        missing = [key for key in keys if key not in known]
        if missing:
            where = f" on side {args.side}" if args.side else ""
            raise UsageError(f"no kept record for {', '.join(missing)}{where}; nothing changed")
    retried = store.retry_now(side=args.side, source_keys=keys)
    print(f"{_count(len(retried), 'kept record')} will be sent again on the next run")
    return 0


# --- the parsers -----------------------------------------------------------------------------


def add_commands(commands: Any) -> None:
    """Add ``links`` and ``rejects`` to the ``talk-sync`` command's subparsers."""
    sides = [side.value for side in Side]

    def json_option(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    # --link-store-url is also accepted after the command (``talk-sync links list --link-...``).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--link-store-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parent = {"parents": [common]}

    links = commands.add_parser("links", help="list, show, link, unlink or rebuild links")
    sub = links.add_subparsers(dest="links_command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="one row per link", **parent)
    listing.add_argument("--flow", help="one flow, by name or number")
    listing.add_argument("--side", choices=sides, help="links with a record on this side")
    listing.add_argument("--status", choices=[s.value for s in LinkStatus])
    json_option(listing)
    listing.set_defaults(run=_command(links_list))

    show = sub.add_parser("show", help="a record's link, snapshots and kept records", **parent)
    show.add_argument("ref", metavar="REF", help="e.g. asana-task:77 or custompms-project:5")
    json_option(show)
    show.set_defaults(run=_command(links_show))

    link = sub.add_parser(
        "link",
        **parent,
        help="link an Asana record to a Custompms record; the next sync merges them",
        description="Link two existing records (one Asana, one Custompms, in any order; the "
        "first is the link's origin). The link has no snapshots yet: the next sync merges the "
        "two records by adopt_policy.",
    )
    link.add_argument("refs", nargs=2, metavar="REF")
    json_option(link)
    link.set_defaults(run=_command(links_link))

    unlink = sub.add_parser(
        "unlink", help="stop syncing a pair (neither record is deleted)", **parent
    )
    unlink.add_argument("ref", metavar="REF")
    unlink.set_defaults(run=_command(links_unlink))

    rebuild = sub.add_parser(
        "rebuild",
        **parent,
        help="link the Custompms records whose external_id names an Asana record",
    )
    rebuild.add_argument(
        "--custompms-url",
        help="the Custompms API URL; TALK_SYNC_CUSTOMPMS_API_URL, else CUSTOMPMS_API_URL",
    )
    rebuild.add_argument(
        "--custompms-token",
        help="prefer TALK_SYNC_CUSTOMPMS_API_TOKEN or CUSTOMPMS_API_TOKEN (ps shows arguments)",
    )
    rebuild.add_argument("--dry-run", action="store_true", help="count only; change nothing")
    json_option(rebuild)
    rebuild.set_defaults(run=_command(links_rebuild))

    rejects = commands.add_parser("rejects", help="list kept records, or retry them now")
    sub = rejects.add_subparsers(dest="rejects_command", required=True, metavar="COMMAND")

    listing = sub.add_parser("list", help="the records kept for retry", **parent)
    listing.add_argument("--side", choices=sides, help="the destination that refused them")
    listing.add_argument("--flow", help="one flow, by name or number")
    listing.add_argument("--stuck", action="store_true", help="only those a person must act on")
    json_option(listing)
    listing.set_defaults(run=_command(rejects_list))

    retry = sub.add_parser(
        "retry",
        help="send kept records again on the next run (clears back-off and stuck)",
        **parent,
    )
    retry.add_argument("refs", nargs="*", metavar="REF", help="the kept records' refs")
    retry.add_argument("--all", action="store_true", help="every kept record (of --side)")
    retry.add_argument("--side", choices=sides, help="the destination that refused them")
    retry.set_defaults(run=_command(rejects_retry))
