import pytest
from pydantic import ValidationError

from app.config import Settings
from app.webhooks import events, retry, urls
from app.webhooks.worker import DeliveryPolicy


def test_backoff_doubles_from_base_until_the_cap_without_jitter() -> None:
    delays = [retry.backoff_delay_s(n, 30, 3600, 0.0) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_jitter_shortens_by_at_most_a_fifth_and_delays_still_grow() -> None:
    for n in range(1, 8):
        slowest_next = retry.backoff_delay_s(n + 1, 30, 10**6, 0.999)
        fastest_this = retry.backoff_delay_s(n, 30, 10**6, 0.0)
        assert slowest_next > fastest_this
        assert retry.backoff_delay_s(n, 30, 10**6, 0.999) >= 0.8 * fastest_this


def test_backoff_survives_huge_attempt_counts_and_rejects_bad_input() -> None:
    assert retry.backoff_delay_s(10_000, 30, 3600, 0.0) == 3600
    with pytest.raises(ValueError, match="attempts"):
        retry.backoff_delay_s(0, 30, 3600, 0.0)
    with pytest.raises(ValueError, match="jitter"):
        retry.backoff_delay_s(1, 30, 3600, 1.0)


@pytest.mark.parametrize(
    ("code", "ok"),
    [(200, True), (204, True), (299, True), (301, False), (199, False), (404, False), (500, False)],
)
def test_only_2xx_is_success(code: int, ok: bool) -> None:
    assert retry.is_success(code) is ok


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "example.com/hook",
        "https://",
        "https://user:pass@example.com/hook",
        "https://example.com/hook#frag",
        "https://exa mple.com/",
        "https://example.com/\nX-Injected: 1",
        "https://example.com:99999/",
        "https://example.com:0/",
        "https://[::1/",
        "https://example.com/" + "a" * 2048,
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    assert urls.check_webhook_url(url, allow_private=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://172.16.5.4/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "https://100.64.0.1/hook",
    ],
)
def test_private_destinations_depend_on_the_setting(url: str) -> None:
    assert urls.check_webhook_url(url, allow_private=True) is None
    reason = urls.check_webhook_url(url, allow_private=False)
    assert reason is not None
    assert "private" in reason


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/holdfast?x=1",
        "http://93.184.216.34/h",
        "https://[2606:4700::1111]/",
    ],
)
def test_public_destinations_are_allowed_either_way(url: str) -> None:
    assert urls.check_webhook_url(url, allow_private=False) is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("10.0.0.1", False),
        ("224.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("not-an-ip", False),
        ("2001:4860:4860::8888", True),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert urls.is_public_address(address) is public


def test_wildcard_subscription_collapses_and_others_are_sorted_unique() -> None:
    some = list(events.EVENT_TYPES)[:2]
    assert events.normalize_subscription([*reversed(some), some[0]]) == sorted(some)
    assert events.normalize_subscription([some[0], events.WILDCARD]) == [events.WILDCARD]
    assert events.is_subscribable(events.WILDCARD)
    assert not events.is_subscribable(events.TEST_EVENT_TYPE)
    assert not events.is_subscribable("customer.exploded")


def test_webhook_settings_are_read_from_holdfast_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOLDFAST_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("HOLDFAST_WEBHOOK_BACKOFF_BASE_S", "5")
    monkeypatch.setenv("HOLDFAST_WEBHOOK_REQUEST_TIMEOUT_S", "4")
    monkeypatch.setenv("HOLDFAST_ALLOW_PRIVATE_WEBHOOK_URLS", "false")
    policy = DeliveryPolicy.from_settings(Settings())
    assert policy.max_attempts == 3
    assert policy.backoff_base_s == 5
    assert policy.request_timeout_s == 4
    assert policy.allow_private_urls is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOLDFAST_WEBHOOK_LEASE_S", "15"),  # shorter than two request timeouts (10 s)
        ("HOLDFAST_WEBHOOK_BACKOFF_CAP_S", "10"),  # below the 30 s base
        ("HOLDFAST_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("HOLDFAST_WEBHOOK_BATCH_SIZE", "100000"),
    ],
)
def test_inconsistent_webhook_settings_fail_fast(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=f"(?i){variable.removeprefix('HOLDFAST_')}"):
        Settings()
