"""Login throttling: a few wrong passwords per address, and not many more in
all, within a window; past that, sign-in waits (even with the right password)
until the oldest failure leaves the window.

Forty parallel guesses used to run at once (a pause after each failure slows
one client, not forty). Here the check and the count happen without an await
between them, so concurrent requests are counted one by one. The clock is
injected: tests move it instead of sleeping.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

PER_ADDRESS = 5
OVERALL = 50
WINDOW_S = 15 * 60.0
MAX_ADDRESSES = 10_000  # failures kept for this many addresses at most


@dataclass
class LoginThrottle:
    per_address: int = PER_ADDRESS
    overall: int = OVERALL
    window_s: float = WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _by_address: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _all: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self._all = deque(maxlen=self.overall)

    def wait(self, address: str) -> float:
        """Seconds before ``address`` may try a password; 0 when it may now."""
        now = self.clock()
        waits = [self._wait(self._all, now)]
        failures = self._by_address.get(address)
        if failures is not None:
            waits.append(self._wait(failures, now))
        return max(waits)

    def _wait(self, failures: deque[float], now: float) -> float:
        if failures.maxlen is None or len(failures) < failures.maxlen:
            return 0.0
        return max(0.0, failures[0] + self.window_s - now)

    def failed(self, address: str) -> None:
        now = self.clock()
        self._all.append(now)
        failures = self._by_address.pop(address, None) or deque(maxlen=self.per_address)
        failures.append(now)
        self._by_address[address] = failures  # most recent last
        while len(self._by_address) > MAX_ADDRESSES:
            self._by_address.popitem(last=False)

    def succeeded(self, address: str) -> None:
        self._by_address.pop(address, None)
