"""Standard Webhooks signatures, checked against the specification's published example and
with the ``standardwebhooks`` library as the receiver (never with Holdfast's own verifier)."""

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from app.webhooks import signing

BODY = b'{"id":"evt_1","type":"customer.churned"}'


def test_matches_the_example_published_with_the_specification() -> None:
    # The worked example of the Standard Webhooks / Svix documentation.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = signing.sign(
        secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_whsec_and_32_bytes_of_base64_the_library_accepts() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(signing.key_of(secret)) == 32
    assert signing.new_secret() != secret
    now = int(time.time())
    headers = signing.headers([secret], "evt_1", now, BODY)
    assert Webhook(secret).verify(BODY, headers) == {"id": "evt_1", "type": "customer.churned"}


def test_the_library_refuses_tampering_other_secrets_and_old_timestamps() -> None:
    secret, other = signing.new_secret(), signing.new_secret()
    now = int(time.time())
    headers = signing.headers([secret], "evt_1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "evt_2"})
    stale = signing.headers([secret], "evt_1", now - 301, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, stale)


def test_during_a_rotation_both_secrets_verify_and_a_third_does_not() -> None:
    old, new, third = signing.new_secret(), signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], "evt_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(third).verify(BODY, headers)


def test_the_previous_secret_signs_until_it_expires() -> None:
    now = datetime(2026, 12, 6, 10, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert signing.valid_secrets("whsec_a", "whsec_b", later, now) == ["whsec_a", "whsec_b"]
    assert signing.valid_secrets("whsec_a", "whsec_b", later, later) == ["whsec_a"]
    assert signing.valid_secrets("whsec_a", None, None, now) == ["whsec_a"]
    assert signing.valid_secrets("whsec_a", "whsec_b", None, now) == ["whsec_a"]


@pytest.mark.parametrize("secret", ["", "whsec_", "sk_abc", "whsec_not base64!", "whsec_a-b_c"])
def test_what_is_not_a_standard_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        signing.key_of(secret)


def test_a_header_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        signing.headers([], "evt_1", 1, BODY)


@given(st.binary(max_size=300), st.text(min_size=1, max_size=40).filter(lambda s: " " not in s))
def test_any_body_and_id_verify_with_the_library(body: bytes, msg_id: str) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    headers = signing.headers([secret], msg_id, int(time.time()), body)
    Webhook(secret).verify(body, headers, json_parse=False)
