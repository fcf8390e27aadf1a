"""Run work concurrently but hand results back in input order (deterministic output)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    executor: Executor,
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    window: int,
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, func(item))`` in input order, keeping at most ``window`` items in flight.

    Unlike ``Executor.map`` it submits lazily, so memory holds ``window`` results at
    most; closing the iterator early cancels whatever has not started.
    """
    pending: deque[tuple[T, Future[R]]] = deque()
    try:
        for item in items:
            pending.append((item, executor.submit(func, item)))
            if len(pending) >= window:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
    finally:
        for _, future in pending:
            future.cancel()
