"""Sign-in throttling: failed attempts per account and per client address, and a bound on password checks.

Argon2 is deliberately slow and memory-hungry (40 concurrent wrong sign-ins
took about 1 GB and stalled the app for 4 s), and nothing stopped password
guessing. :class:`LoginThrottle` counts failed sign-ins in a sliding window
per account and per client address; over either limit the sign-in is refused
(429 with ``Retry-After``) before any password is checked. At most
``max_concurrent_password_hashes`` checks run at once; a sign-in that waits
longer than ``password_hash_wait_s`` for a slot is answered 503.

The counts live in the server process (the app runs as one process with
worker threads); a restart forgets them. Hand-written because the rule is a
few lines and a rate-limiting library would add a store to configure.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from medscreen.config import ServerSettings

__all__ = ["LoginThrottle", "PasswordChecksBusy"]

_MAX_KEYS = 50_000


class PasswordChecksBusy(Exception):
    """Every password-check slot stayed taken for ``password_hash_wait_s`` (answered 503)."""


class LoginThrottle:
    """Failed sign-ins per account and per address in a sliding window, and the password-check slots.

    Args:
        settings: ``login_window_s``, ``login_failures_per_account``, ``login_failures_per_address``,
            ``max_concurrent_password_hashes``, ``password_hash_wait_s``.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, settings: ServerSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = float(settings.login_window_s)
        self.limits = {"account": settings.login_failures_per_account, "address": settings.login_failures_per_address}
        self.wait_s = settings.password_hash_wait_s
        self.clock = clock
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_password_hashes)
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], deque[float]] = {}

    @staticmethod
    def _keys(account: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("account", account.strip().lower()[:64])]
        if address:
            keys.append(("address", address))
        return keys

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, account: str, address: str | None) -> int | None:
        """Seconds until this account and address may try again, or None when they may now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(account, address):
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    wait = max(wait, times[-self.limits[key[0]]] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, account: str, address: str | None) -> None:
        """Count a failed sign-in against the account and the address."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > _MAX_KEYS:
                self._forget_old(now)
            for key in self._keys(account, address):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times

    def succeeded(self, account: str) -> None:
        """Forget the account's failures (the address's stay counted)."""
        with self._lock:
            self._failures.pop(self._keys(account, None)[0], None)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if not self._recent(k, now)]:
            del self._failures[key]

    @contextmanager
    def password_check(self) -> Iterator[None]:
        """Hold one password-check slot.

        Raises:
            PasswordChecksBusy: no slot came free within ``password_hash_wait_s``.
        """
        if not self._slots.acquire(timeout=self.wait_s):
            raise PasswordChecksBusy()
        try:
            yield
        finally:
            self._slots.release()
