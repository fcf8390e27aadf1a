"""Recording a batch: its links, snapshots and rejects in one link-store transaction, then
its report lines (:class:`Recorder`), and the snapshots a written record leaves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from talk_sync.destination import (
    Destination,
    Gone,
    OpKind,
    Rejected,
    WriteOp,
    WriteOutcome,
    Written,
)
from talk_sync.errors import ApplyError
from talk_sync.flows import Flow
from talk_sync.incoming import Incoming
from talk_sync.linkstore import Backoff, Link, LinkError, LinkStatus, LinkStore, Reject
from talk_sync.plan import Plan
from talk_sync.policies import DeletePolicy, policy_for
from talk_sync.refs import Ref, Side
from talk_sync.report import Outcome, RunReport
from talk_sync.retry import RetryState


@dataclass
class Pending:
    """A planned write and what the engine needs to record its outcome."""

    item: Incoming
    decision: Plan
    op: WriteOp
    outcome: WriteOutcome | None = None
    #: A stale update whose merge left nothing of ours to write.
    merged_away: bool = False


@dataclass
class Effect:
    """The link-store changes of a record that needs no write (or was decided without one)."""

    item: Incoming
    clear: bool = False
    #: The source snapshot to store, when it differs from the link's.
    source_snapshot: Mapping[str, Any] | None = None
    unlink: Link | None = None
    #: A record never linked was deleted: remember it (see ``LinkStore.record_deleted``).
    deleted: bool = False
    #: Why the record cannot be applied as things stand: kept and reported as stuck.
    stuck: str | None = None


class _Count(NamedTuple):
    """A report line to add once the batch's transaction committed."""

    flow: Flow
    outcome: Outcome
    source: Ref
    fields: list[str] | None
    detail: str | None
    #: A refused record's next try with the same values (``None``: the next run).
    retry_at: datetime | None = None


def source_values(
    item: Incoming, side: Side, destination_values: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The source snapshot of ``item`` once the destination ``side`` holds
    ``destination_values`` (its record as written, or its last-known snapshot).

    A field the destination could not hold and kept as it was (left out of ``desired``)
    is recorded as the destination holds it: the reverse direction must not take that
    value for an edit and write it back over the source's.
    """
    values = dict(item.source_values)
    for name in item.held:
        paired = item.flow.counterpart_field(side, name)
        if name not in item.desired and paired in values and destination_values is not None:
            values[paired] = destination_values.get(name)
    return values


def snapshots(
    destination: Destination,
    item: Incoming,
    record: Mapping[str, Any],
    *,
    sent: Mapping[str, Any] | None = None,
    unsent: frozenset[str] = frozenset(),
    kept: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """``*_snapshot`` keywords for the source values and a destination record.

    The fields this run ``sent`` keep the values sent: the destination may derive others
    from them (Asana makes a project's creator its owner when none is given), and until
    the reverse direction carries those back, the next run must not take them for edits
    to undo. Fields the destination could not take (``unsent``, e.g. read-only ones) keep
    what it holds. For the fields each side ``kept``, the source's snapshot records what
    the destination holds too (as the engine's fitting does): neither direction then sees
    an edit to carry, and each side keeps its value until one of them is edited again.
    """
    side = destination.side
    written = destination.snapshot_of(item.flow, record)
    fields = item.flow.fields(side)
    for name, value in (sent or {}).items():
        if name in fields and name not in unsent:
            written[name] = value
    values = source_values(item, side, written)
    for name in kept:
        paired = item.flow.counterpart_field(side, name)
        if paired is not None and paired in values and name in written:
            values[paired] = written[name]
    return {
        f"{item.source.side.value}_snapshot": values,
        f"{side.value}_snapshot": written,
    }


class Recorder:
    """Records what a batch did in the link store, and reports it once committed."""

    def __init__(
        self,
        store: LinkStore,
        destination: Destination,
        report: RunReport,
        retry: RetryState,
        *,
        retry_backoff: Backoff | None,
        delete_policy: Any = None,
    ) -> None:
        self.store = store
        self.destination = destination
        self.side = destination.side
        self.report = report
        self.retry = retry
        self.retry_backoff = retry_backoff
        self.delete_policy = delete_policy

    def record(self, effects: list[Effect], pending: list[Pending]) -> None:
        """Links, snapshots and rejects of the batch, in one transaction; then the report."""
        saved = self.retry.saved()

        def record(_session: Any) -> tuple[list[_Count], list[str]]:
            # A retried transaction starts from the same knowledge.
            self.retry.restore(saved)
            self._preload(effects, pending)
            counts: list[_Count] = []
            failures: list[str] = []
            for effect in effects:
                self._record_effect(effect)
            for entry in pending:
                self._record_outcome(entry, counts, failures)
            return counts, failures

        counts, failures = self.store.retrying(record)
        for count in counts:
            if count.outcome is Outcome.REJECTED:
                field_name = count.fields[0] if count.fields else None
                self.report.reject(
                    count.flow,
                    count.source,
                    count.detail or "",
                    field_name,
                    retry_at=count.retry_at,
                )
            else:
                self.report.count(
                    count.flow,
                    count.outcome,
                    record=count.source,
                    fields=count.fields,
                    detail=count.detail,
                )
        if failures:
            raise ApplyError(
                f"{len(failures)} writes failed after retries (first: {failures[0]}); "
                "the others are recorded, and the run must be repeated"
            )

    def _preload(self, effects: list[Effect], pending: list[Pending]) -> None:
        """The rows the batch's records change, read in a few queries (not one per record):
        their links, the records their creates made, and what is kept for them."""
        sources = [effect.item.source for effect in effects]
        sources += [entry.item.source for entry in pending]
        created = [
            Ref(self.side, entry.item.flow.record_type(self.side), key)
            for entry in pending
            if isinstance(entry.outcome, Written)
            and entry.op.kind is OpKind.CREATE
            and (key := self.destination.key_of(entry.item.flow, entry.outcome.record))
        ]
        self.store.preload([*sources, *created])
        self.store.preload_rejects(self.side, sources)

    def keep(
        self,
        item: Incoming,
        reason: str,
        field: str | None = None,
        *,
        stuck: str | None = None,
        backoff: Backoff | None = None,
    ) -> Reject:
        """Keep ``item`` in the link store for the next run (``stuck``: a person must act;
        ``backoff``: refused, not to be sent again with the same values before it ends)."""
        kept = self.store.record_reject(
            self.side,
            item.flow.name,
            item.source,
            item.to_dict(),
            reason,
            field,
            stuck=stuck,
            fingerprint=item.fingerprint,
            backoff=backoff,
        )
        self.retry.keep(item, backoff=backoff is not None)
        return kept

    def clear(self, item: Incoming) -> None:
        """Forget what was kept for the record, under any flow: it is applied (or deleted)."""
        for stream, _source in self.retry.clear(item.source):
            self.store.clear_reject(self.side, stream, item.source)

    def _record_effect(self, effect: Effect) -> None:
        item = effect.item
        if effect.unlink is not None:
            if effect.unlink.status is LinkStatus.PENDING:
                self.store.cancel_create(item.source)
            else:
                self.store.unlink(item.source)
        if effect.deleted:
            self.store.record_deleted(item.flow, item.source)
        if effect.source_snapshot is not None:
            self.store.update_snapshots(
                item.source, **{item.source.side.value: effect.source_snapshot}
            )
        if effect.stuck is not None:
            self.keep(item, effect.stuck, stuck=effect.stuck)
        if effect.clear:
            self.clear(item)

    def _record_outcome(
        self,
        entry: Pending,
        counts: list[_Count],
        failures: list[str],
    ) -> None:
        item, op, outcome = entry.item, entry.op, entry.outcome
        flow, source = item.flow, item.source
        stuck = None
        if isinstance(outcome, Written) and op.kind is OpKind.CREATE:
            key = self.destination.key_of(flow, outcome.record)
            created = Ref(self.side, flow.record_type(self.side), key)
            try:  # checked before anything changes, so the batch's transaction stays usable
                sent = {k: v for k, v in op.values.items() if k not in outcome.unsent}
                written = snapshots(
                    self.destination,
                    item,
                    outcome.record,
                    sent=sent,
                    unsent=outcome.unsent,
                    kept=outcome.kept,
                )
                self.store.complete_create(source, created, **written)
            except LinkError as error:  # the destination answered with another pair's record
                outcome = Rejected(409, str(error))
                stuck = f"{error}: unlink one of the pairs, or clear the record's external_id"
            else:
                counts.append(_Count(flow, Outcome.CREATED, source, list(op.values), None))
                self.clear(item)
                return
        if isinstance(outcome, Written):  # an update (or a merge that kept theirs)
            written = snapshots(
                self.destination,
                item,
                outcome.record,
                sent=None if entry.merged_away else op.values,
                unsent=outcome.unsent,
                kept=outcome.kept,
            )
            self.store.update_snapshots(
                source,
                **{side.removesuffix("_snapshot"): values for side, values in written.items()},
            )
            names = [name for name in op.values if name not in outcome.unsent]
            # Nothing written (a merge kept theirs, or every field was held back): unchanged.
            kind = Outcome.UPDATED if names and not entry.merged_away else Outcome.UNCHANGED
            counts.append(_Count(flow, kind, source, names, None))
            self.clear(item)
        elif isinstance(outcome, Rejected):
            if op.kind is OpKind.CREATE:
                self.store.fail_create(source)
            backoff = None if outcome.transient else self.retry_backoff
            kept = self.keep(item, outcome.reason, outcome.field, stuck=stuck, backoff=backoff)
            reason = f"{outcome.status} {outcome.reason}"
            fields = [outcome.field] if outcome.field else None
            counts.append(_Count(flow, Outcome.REJECTED, source, fields, reason, kept.retry_at))
        elif isinstance(outcome, Gone):
            if op.kind is OpKind.CREATE:
                self.store.cancel_create(source)
            elif policy_for(self.delete_policy, flow, DeletePolicy.UNLINK) is DeletePolicy.UNLINK:
                self.store.unlink(source)
            self.clear(item)
            counts.append(_Count(flow, Outcome.UNLINKED, source, None, outcome.reason))
        else:
            failures.append(f"{source}: {getattr(outcome, 'reason', outcome)}")
