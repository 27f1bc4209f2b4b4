"""The token bucket honours a bandwidth cap, measured in simulated time."""

from __future__ import annotations

import threading

import pytest

from fleetyard.replication import ManualClock, SystemClock, TokenBucket, mbps_to_bytes_per_second


@pytest.mark.parametrize("request_size", [16 * 1024, 256 * 1024, 4 * 1024 * 1024])
@pytest.mark.parametrize("mbps", [1.0, 10.0, 100.0])
def test_cap_is_honoured_within_ten_percent_over_a_simulated_30s(mbps: float, request_size: int) -> None:
    clock = ManualClock()
    bucket = TokenBucket.from_mbps(mbps, clock=clock)
    rate = mbps_to_bytes_per_second(mbps)
    sent = 0
    start = clock.monotonic()
    while clock.monotonic() - start < 30.0:
        bucket.throttle(request_size)
        sent += request_size
    elapsed = clock.monotonic() - start
    achieved = sent / max(elapsed, 30.0)
    assert abs(achieved - rate) / rate <= 0.10, (achieved, rate)


def test_no_burst_at_start_and_idle_time_buys_at_most_the_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(1000.0, burst=250.0, clock=clock)
    bucket.throttle(1000)
    assert clock.slept == pytest.approx(1.0)
    clock.advance(3600)  # idle for an hour
    before = clock.slept
    bucket.throttle(1250)
    assert clock.slept - before == pytest.approx(1.0)  # 250 from the burst, 1000 paid


def test_rejects_nonsense_caps() -> None:
    with pytest.raises(ValueError, match="max-mbps"):
        TokenBucket.from_mbps(0)
    with pytest.raises(ValueError):
        TokenBucket(-1)


def test_concurrent_callers_share_the_cap_in_real_time() -> None:
    bucket = TokenBucket(2_000_000.0, clock=SystemClock())
    clock = SystemClock()
    start = clock.monotonic()

    def worker() -> None:
        for _ in range(5):
            bucket.throttle(100_000)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = clock.monotonic() - start
    # 2 MB at 2 MB/s: one second, not a quarter of it
    assert elapsed >= 0.9
    assert bucket.request_size() == 500_000
