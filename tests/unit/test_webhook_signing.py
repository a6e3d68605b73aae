"""Webhook signatures, the address rules and the back-off, on their own."""

from __future__ import annotations

import time

import pytest

from tests.receiver import check_signature
from trustq.config import get_settings
from trustq.services.webhook_delivery import backoff
from trustq.services.webhooks import UrlRefused, address_refusal, check_url, sign, verify

pytestmark = pytest.mark.unit

SECRET = "whsec_test"


def test_a_signature_verifies_with_trustq_and_with_the_readme_snippet() -> None:
    body = b'{"id":"e1","type":"verdict.ready"}'
    now = int(time.time())
    header = sign(SECRET, now, body)
    assert header.startswith(f"t={now},v1=")
    assert verify(SECRET, header, body) and check_signature(SECRET, header, body)
    for bad_secret, bad_body in [("whsec_other", body), (SECRET, body + b" ")]:
        assert not verify(bad_secret, header, bad_body)
        assert not check_signature(bad_secret, header, bad_body)
    # A captured delivery sent again after the tolerance is refused.
    old = sign(SECRET, now - 301, body)
    assert not verify(SECRET, old, body) and not check_signature(SECRET, old, body)
    assert verify(SECRET, old, body, tolerance=400)
    for garbage in ["", "t=x,v1=00", "v1=" + header.split("v1=")[1], "t=1"]:
        assert not verify(SECRET, garbage, body) and not check_signature(SECRET, garbage, body)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.8", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("64:ff9b::a9fe:a9fe", "link-local address (inside 64:ff9b::a9fe:a9fe)"),
        ("::a9fe:a9fe", "link-local address (inside ::a9fe:a9fe)"),
        ("2002:a9fe:a9fe::1", "link-local address (inside 2002:a9fe:a9fe::1)"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private address (inside"),
        ("64:ff9b::5db8:d70e", None),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_only_public_addresses_are_allowed(address: str, kind: str | None) -> None:
    settings = get_settings()
    found = address_refusal(address, settings)
    if kind is None:
        assert found is None
    else:
        assert found is not None and found.startswith(f"a {kind}"), found
    allowing = settings.model_copy(update={"webhook_allow_private": True})
    assert address_refusal(address, allowing) is None


def test_url_forms_refused_before_any_lookup() -> None:
    settings = get_settings()
    for url in ["hooks.example.com/x", "https://", "https://h.example.com/x#frag", "x" * 2001]:
        with pytest.raises(UrlRefused):
            check_url(url, settings)
    assert check_url("https://93.184.215.14/hooks", settings)


def test_the_back_off_doubles_up_to_its_cap() -> None:
    settings = get_settings().model_copy(
        update={"webhook_backoff_base_s": 10.0, "webhook_backoff_max_s": 3600.0}
    )
    steps = [backoff(settings, n) for n in range(1, 12)]
    assert 9 <= steps[0] <= 11 and 18 <= steps[1] <= 22 and 36 <= steps[2] <= 44
    assert all(s <= 3600 * 1.1 for s in steps) and steps[-1] >= 3600 * 0.9
    assert backoff(settings, 10_000) <= 3600 * 1.1
