"""What both targets' API clients share: bearer auth, timeouts, retries with backoff.

Each client keeps its own request loop (Custompms retries every transient failure; Asana
retries only what is safe to repeat) and calls :meth:`BearerApiClient.retry_or_raise`
between attempts, which raises :class:`~talk_sync.errors.TransientApiError` when they run
out: the one "retry later" error, whichever API it came from.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import requests

from talk_sync.errors import TransientApiError

logger = logging.getLogger(__name__)


class BearerApiClient:
    """A client for one API at ``api_url``, authenticated with a bearer token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout: float,
        user_agent: str,
        max_retries: int = 5,
        backoff_factor: float = 1.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_factor = backoff_factor
        self.session = session or requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "User-Agent": user_agent})
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.api_url!r})"  # no token

    def close(self) -> None:
        """Release the HTTP connections."""
        self.session.close()

    def retry_or_raise(
        self, label: str, failure: str, attempt: int, wait: float | None = None
    ) -> None:
        """Sleep before attempt ``attempt + 1`` (at least ``wait``), or raise when out of tries.

        The backoff is exponential with jitter: ``backoff_factor * 2**(attempt-1)``, times a
        random factor in [0.5, 1] so that clients retrying together spread out.
        """
        if attempt > self.max_retries:
            raise TransientApiError(f"{label} still failing after {attempt} attempts: {failure}")
        delay = max(wait or 0.0, self.backoff_factor * 2 ** (attempt - 1) * random.uniform(0.5, 1))
        logger.info("%s: %s; retry %d in %.1fs", label, failure, attempt, delay)
        self._sleep(delay)
