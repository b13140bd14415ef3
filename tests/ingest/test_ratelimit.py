from services.ingest.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_burst_passes_then_the_rate_applies_per_company():
    clock = Clock()
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.take("a")
    assert wait == 0.5
    assert retry_after(wait) == "1"
    assert limiter.take("b") == 0  # another company has its own bucket
    clock.now += 0.5
    assert limiter.take("a") == 0
