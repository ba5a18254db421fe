"""QueryMetrics: counters per batch and source topic, rates over a sliding window, lag."""
import pytest

from streamsql.runtime.metrics import RATE_WINDOW_SECONDS, QueryMetrics


class ManualClock:
    """A clock the test moves by hand, so rates are exact without waiting."""

    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_counts_input_errors_and_output_per_source_topic():
    metrics = QueryMetrics(ManualClock())
    metrics.record_input("left", 100, errors=2)
    metrics.record_input("right", 10, errors=0)
    metrics.record_errors("left", 1)
    metrics.record_output(95)
    assert (metrics.records_in, metrics.records_out, metrics.errors) == (110, 95, 3)
    assert metrics.consumed == {"left": 100, "right": 10}
    assert metrics.failed == {"left": 3}


def test_rates_average_the_last_window_and_forget_older_batches():
    clock = ManualClock()
    metrics = QueryMetrics(clock)
    clock.now += RATE_WINDOW_SECONDS
    metrics.record_input("t", 600, errors=6)
    metrics.record_output(300)
    rates = metrics.rates()
    assert (rates.records_in, rates.records_out, rates.errors) == (10.0, 5.0, 0.1)
    assert metrics.rates("other").records_in == 0

    clock.now += RATE_WINDOW_SECONDS + 1
    assert metrics.rates().records_in == 0
    assert metrics.records_in == 600  # counters never forget


def test_a_young_query_rates_over_its_age_not_the_whole_window():
    clock = ManualClock()
    metrics = QueryMetrics(clock)
    clock.now += 4
    metrics.record_input("t", 40, errors=0)
    assert metrics.rates().records_in == pytest.approx(10.0)


def test_lag_is_log_end_minus_committed_per_partition():
    metrics = QueryMetrics(ManualClock())
    metrics.record_position("t", 0, committed=5, log_end=9)
    metrics.record_position("t", 1, committed=3, log_end=3)
    assert metrics.lag == 4
    metrics.record_position("t", 0, committed=9, log_end=12)
    assert [p.lag for p in metrics.partitions.values()] == [3, 0]
