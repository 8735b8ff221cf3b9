"""The sliding-window budget, with a hand-moved clock."""

from __future__ import annotations

from api.ratelimit import SlidingWindowLimiter

HOUR = 3600.0
START = 1_000 * HOUR  # the start of a fixed window


def test_allows_up_to_the_limit_then_refuses_without_counting_the_refusal() -> None:
    limiter = SlidingWindowLimiter()
    verdicts = [limiter.hit(("k",), 3, START + i) for i in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].retry_after == HOUR - 3  # the window ends, and nothing weighs on the next one yet
    assert verdicts[3].reset_at == int(START + HOUR)


def test_the_previous_window_weighs_by_its_overlap() -> None:
    limiter = SlidingWindowLimiter()
    for i in range(10):
        assert limiter.hit(("k",), 10, START + i).allowed
    # a quarter into the next window, 3/4 of the previous 10 still count: 7.5 used, 2 more fit
    quarter = START + HOUR + HOUR / 4
    assert [limiter.hit(("k",), 10, quarter).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.peek(("k",), 10, quarter)
    # 10 * (1 - t/H) + 2 + 1 <= 10  =>  t >= 0.3 H: retry 0.05 H after the quarter
    assert refused.retry_after == int(0.05 * HOUR)
    assert limiter.hit(("k",), 10, quarter + refused.retry_after).allowed


def test_a_window_left_idle_forgets_everything() -> None:
    limiter = SlidingWindowLimiter()
    for _ in range(5):
        limiter.hit(("k",), 5, START)
    assert not limiter.hit(("k",), 5, START + 1).allowed
    assert limiter.hit(("k",), 5, START + 2 * HOUR).allowed
    assert limiter.forget_idle(START + 5 * HOUR) == 1 and len(limiter) == 0


def test_buckets_are_independent_and_peek_counts_nothing() -> None:
    limiter = SlidingWindowLimiter()
    assert limiter.hit(("a",), 1, START).allowed
    assert not limiter.hit(("a",), 1, START).allowed
    assert limiter.peek(("b",), 1, START).allowed and limiter.peek(("b",), 1, START).allowed
    assert limiter.hit(("b",), 1, START).allowed
