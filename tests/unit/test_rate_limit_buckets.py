import pytest

from app.ratelimit.buckets import TokenBuckets


def test_a_full_bucket_allows_a_burst_then_refuses() -> None:
    buckets = TokenBuckets(rate=10, burst=3)
    decisions = [buckets.take("k", now=100.0) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    refused = decisions[-1]
    assert refused.retry_after_s == 1  # one token takes 0.1 s; Retry-After is whole seconds
    assert refused.reset_s == 1


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst() -> None:
    buckets = TokenBuckets(rate=2, burst=4)
    for _ in range(4):
        assert buckets.take("k", now=0.0).allowed
    assert not buckets.take("k", now=0.0).allowed
    assert not buckets.take("k", now=0.49).allowed
    assert buckets.take("k", now=0.5).allowed  # one token after 1/rate seconds
    after_idle = buckets.take("k", now=1000.0)
    assert after_idle.allowed and after_idle.remaining == 3  # capped at burst, minus this one


def test_sustained_rate_is_the_configured_rate() -> None:
    buckets = TokenBuckets(rate=50, burst=10)
    allowed = sum(buckets.take("k", now=i / 1000).allowed for i in range(10_000))  # 10 s at 1 kHz
    assert 10 + 50 * 10 - 2 <= allowed <= 10 + 50 * 10 + 1


def test_keys_have_separate_buckets() -> None:
    buckets = TokenBuckets(rate=1, burst=1)
    assert buckets.take("a", now=0.0).allowed
    assert not buckets.take("a", now=0.0).allowed
    assert buckets.take("b", now=0.0).allowed


def test_retry_after_is_when_a_token_is_back() -> None:
    buckets = TokenBuckets(rate=0.25, burst=1)
    buckets.take("k", now=0.0)
    refused = buckets.take("k", now=1.0)
    assert not refused.allowed
    assert refused.retry_after_s == 3
    assert buckets.take("k", now=1.0 + refused.retry_after_s).allowed


def test_memory_is_bounded_by_forgetting_the_least_recently_used_key() -> None:
    buckets = TokenBuckets(rate=1, burst=1, max_keys=3)
    for key in ("a", "b", "c"):
        buckets.take(key, now=0.0)
    buckets.take("a", now=0.0)  # a is now the most recently used
    buckets.take("d", now=0.0)
    assert len(buckets) == 3
    assert not buckets.take("a", now=0.0).allowed  # still remembered (and empty)
    assert buckets.take("b", now=0.0).allowed  # forgotten: starts full


def test_a_clock_going_backwards_does_not_mint_tokens() -> None:
    buckets = TokenBuckets(rate=1, burst=1)
    assert buckets.take("k", now=10.0).allowed
    assert not buckets.take("k", now=5.0).allowed


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBuckets(rate=rate, burst=burst)
