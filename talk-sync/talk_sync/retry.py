"""What the engine keeps for a retry: the records waiting in this run, and those kept in
the link store as rejects (:class:`RetryState`, one per run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from talk_sync.incoming import Incoming
from talk_sync.linkstore import Reject
from talk_sync.refs import Ref

#: A record's identity within a run (:attr:`Incoming.key`): its flow's name and source ref.
Key = tuple[str, str]

#: Why a record queued without a reason of its own waits.
KEPT_FOR_NEXT_RUN = "kept for the next run"


@dataclass(frozen=True)
class Waiting:
    """A record queued for a retry at the next checkpoint, and why it waits."""

    item: Incoming
    #: ``None``: replayed from an earlier run's reject, not decided yet in this one.
    reason: str | None = None
    #: The first field it waits on (a reference not linked yet).
    field: str | None = None
    #: The record that field names: the record is retried once that one is linked.
    waits_for: str | None = None


@dataclass(frozen=True)
class Kept:
    """A record stored as a reject in the link store (by an earlier run or this one)."""

    item: Incoming
    #: The fingerprint of the values refused and not to be sent again yet (back-off).
    refused: str | None = None
    #: Kept by an earlier run, back-off not over: reported as deferred.
    deferred: Reject | None = None


class RetryState:
    """The run's retry bookkeeping: the queue of waiting records and what is kept.

    ``waiting``: records to retry at the next checkpoint (waiting for a reference, or
    replayed rejects), by record key, in the order they were queued. ``kept``: what is
    stored as a reject, so that a retry pass re-stores only a newer version, with the
    refused values' back-off.
    """

    def __init__(self) -> None:
        self._waiting: dict[Key, Waiting] = {}
        self._kept: dict[Key, Kept] = {}

    # --- the queue -------------------------------------------------------------------------

    def load(self, item: Incoming, reject: Reject, *, backing_off: bool) -> None:
        """A reject an earlier run kept: queued, or deferred while its back-off runs."""
        if backing_off:
            self._kept[item.key] = Kept(item, reject.fingerprint, deferred=reject)
        else:
            self._kept[item.key] = Kept(item)
            self._waiting[item.key] = Waiting(item)

    def wait(
        self,
        item: Incoming,
        reason: str,
        field: str | None = None,
        waits_for: str | None = None,
    ) -> None:
        """Queue ``item`` for a retry at the next checkpoint (``waits_for``: once the record
        it names is linked; else at the checkpoint's first round)."""
        self._waiting[item.key] = Waiting(item, reason, field, waits_for)

    def unqueue(self, key: Key) -> None:
        """``key`` is being applied: it leaves the queue."""
        self._waiting.pop(key, None)

    def unqueue_source(self, source: Ref) -> None:
        """Drop ``source`` from the queue under any flow (e.g. a board task): its delete
        arrived, it is never replayed."""
        for key in [key for key in self._waiting if key[1] == str(source)]:
            del self._waiting[key]

    def waited_for(self) -> set[str]:
        """The records the queued records wait for."""
        return {w.waits_for for w in self._waiting.values() if w.waits_for is not None}

    def take(self, ready: Callable[[str | None], bool] = lambda _waits_for: True) -> list[Incoming]:
        """Take the queued records whose wait is over (``ready(waits_for)``), in the order
        they were queued; the others stay queued, and are not looked at again."""
        taken = [key for key, waiting in self._waiting.items() if ready(waiting.waits_for)]
        return [self._waiting.pop(key).item for key in taken]

    def queued(self) -> set[Key]:
        """The keys of the queued records."""
        return set(self._waiting)

    def __bool__(self) -> bool:
        """Whether any record waits."""
        return bool(self._waiting)

    def waiting(self) -> Iterator[tuple[Key, Incoming, str, str | None]]:
        """Each queued record with why it waits and the field it waits on."""
        for key, waiting in self._waiting.items():
            yield key, waiting.item, waiting.reason or KEPT_FOR_NEXT_RUN, waiting.field

    def __len__(self) -> int:
        return len(self._waiting)

    # --- what is kept ----------------------------------------------------------------------

    def is_kept(self, key: Key, item: Incoming) -> bool:
        """Whether this very version of the record is stored already."""
        kept = self._kept.get(key)
        return kept is not None and kept.item == item

    def keep(self, item: Incoming, *, backoff: bool = False) -> None:
        """``item`` is stored as a reject now; ``backoff``: its values were refused."""
        kept = self._kept.get(item.key) or Kept(item)
        refused = item.fingerprint if backoff else kept.refused
        self._kept[item.key] = replace(kept, item=item, refused=refused)

    def backing_off(self, item: Incoming) -> bool:
        """Whether ``item`` asks for the very values the destination refused, and their
        back-off is not over: it stays kept (and is reported deferred, when an earlier run
        refused it). Other values, or a delete, end the back-off."""
        kept = self._kept.get(item.key)
        if kept is None or kept.refused is None:
            return False
        if not item.is_deleted and kept.refused == item.fingerprint:
            return True
        self._kept[item.key] = replace(kept, refused=None, deferred=None)
        return False

    def clear(self, source: Ref) -> list[Key]:
        """Forget what is kept for ``source`` under any flow; the keys forgotten (their
        rejects are to be cleared from the store)."""
        keys = [key for key in self._kept if key[1] == str(source)]
        for key in keys:
            del self._kept[key]
        return keys

    @property
    def deferred(self) -> list[Reject]:
        """Refused records not sent again in this run: same values, back-off not over."""
        return [kept.deferred for kept in self._kept.values() if kept.deferred is not None]

    def saved(self) -> dict[Key, Kept]:
        """What is kept, to :meth:`restore` when a transaction is run again."""
        return dict(self._kept)

    def restore(self, saved: dict[Key, Kept]) -> None:
        self._kept = dict(saved)
