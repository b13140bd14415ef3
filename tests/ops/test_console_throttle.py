"""Login throttling on its own, with a clock the test moves (no sleeping)."""

from __future__ import annotations

from services.console.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_after_its_fifth_failure_until_the_window_moves():
    clock = Clock()
    throttle = LoginThrottle(per_address=5, overall=50, window_s=900, clock=clock)
    for _ in range(5):
        assert throttle.wait("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
        clock.now += 1
    assert throttle.wait("10.0.0.1") == 900 - 5
    assert throttle.wait("10.0.0.2") == 0  # another address is not held up
    clock.now += 900 - 5
    assert throttle.wait("10.0.0.1") == 0


def test_failures_from_many_addresses_stop_everyone_at_the_overall_limit():
    clock = Clock()
    throttle = LoginThrottle(per_address=5, overall=10, window_s=60, clock=clock)
    for i in range(10):
        throttle.failed(f"10.0.0.{i}")
    assert throttle.wait("192.168.1.1") == 60
    clock.now += 60
    assert throttle.wait("192.168.1.1") == 0


def test_a_success_clears_the_address_but_not_the_overall_count():
    clock = Clock()
    throttle = LoginThrottle(per_address=2, overall=3, window_s=60, clock=clock)
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.wait("a") == 0
    throttle.failed("b")
    throttle.failed("c")
    assert throttle.wait("a") == 60
