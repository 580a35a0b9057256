"""Alert webhooks reach public receivers only (no server-side request forgery)."""

import ipaddress
import random

import pytest

from billing.alerts import webhook_guard
from billing.alerts.models import Alert
from tests.billing.alerts.test_alerts_webhook import NOW, key_at, use_webhook

pytestmark = pytest.mark.django_db

NOT_PUBLIC = "does not resolve to a public address"


@pytest.fixture
def guarded(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
        "http://198.18.0.1/hook",  # benchmarking
        "http://192.0.2.10/hook",  # documentation
        "http://224.0.0.1/hook",  # multicast
        "http://255.255.255.255/hook",
        "http://[fe80::1]/hook",  # link-local
        "http://[fc00::1]/hook",  # unique local
        "http://[fec0::1]/hook",  # site-local (deprecated)
        "http://[ff0e::1]/hook",  # multicast
        "http://[2001:db8::1]/hook",  # documentation
        "http://[3fff::1]/hook",  # documentation
        "http://[100::1]/hook",  # discard-only
    ],
)
def test_loopback_private_link_local_and_special_receivers_are_refused(guarded, url):
    assert NOT_PUBLIC in webhook_guard.refusal(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 (well-known prefix) of 127.0.0.1
        "http://[64:ff9b::808:808]/hook",  # ... even of a public IPv4 address
        "http://[64:ff9b:1::a9fe:a9fe]/hook",  # NAT64 (local-use prefix) of 169.254.169.254
        "http://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
        "http://[2002:808:808::1]/hook",  # 6to4 of a public address
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
        "http://[::ffff:8.8.8.8]/hook",
        "http://[::7f00:1]/hook",  # IPv4-compatible (deprecated)
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
        "http://[2001::1]/hook",
        "http://192.88.99.1/hook",  # 6to4 relay anycast
    ],
)
def test_ipv6_ranges_that_carry_ipv4_are_refused(guarded, url):
    assert NOT_PUBLIC in webhook_guard.refusal(url)


def test_nothing_ipaddress_calls_not_global_is_public():
    rng = random.Random(13)
    special = [
        ipaddress.ip_network(network)[0] + rng.randrange(256)
        for network in ("::/8", "fc00::/7", "fe80::/10", "2001::/23", "ff00::/8", "240.0.0.0/4")
    ]
    samples = [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(20_000)]
    samples += [ipaddress.IPv6Address(rng.getrandbits(128)) for _ in range(20_000)]
    samples += [ipaddress.IPv6Address((0x2001 << 112) | rng.getrandbits(96)) for _ in range(5_000)]
    samples += special

    assert [a for a in samples if not a.is_global and webhook_guard.is_public(a)] == []


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "https://[2001:4860:4860::8888]/hook", "http://1.1.1.1:8080/"]
)
def test_a_public_receiver_is_allowed(guarded, url):
    assert webhook_guard.refusal(url) is None


def test_a_host_that_does_not_resolve_reads_like_a_private_one(guarded):
    # The form does not tell which names exist in the console's network, nor where they point.
    assert webhook_guard.refusal("https://no-such-host.invalid/hook") == (
        "no-such-host.invalid does not resolve to a public address: the console only delivers "
        "alerts to public receivers."
    )
    assert "127.0.0.1" not in webhook_guard.refusal("http://localhost/hook")


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/", "https:///hook", "https://8.8.8.8:99999/"])
def test_a_url_that_is_not_http_is_refused(guarded, url):
    assert webhook_guard.refusal(url) == "Use an https:// (or http://) address."


def test_the_settings_form_shows_the_refusal_beside_the_field(guarded, admin_client, org):
    response = admin_client.post(
        "/billing/alerts/settings/", {"webhook_url": "http://127.0.0.1:9/hook", "email": "on"}
    )

    assert response.status_code == 200
    assert NOT_PUBLIC in response.context["form"].errors["webhook_url"][0]


def test_delivery_to_a_url_that_became_private_is_refused_and_recorded(
    settings, org, django_capture_on_commit_callbacks
):
    from billing import alerts

    use_webhook(org, "http://127.0.0.1:9/hook")  # saved while private receivers were allowed
    key_at(org, "85")
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False

    with django_capture_on_commit_callbacks(execute=True):
        alerts.evaluate(now=NOW)

    alert = Alert.objects.get(org=org)
    assert alert.webhook_delivered_at is None
    assert alert.webhook_attempts == 1  # not retried
    assert alert.webhook_last_error == "Refused: the receiver's host is not a public address."


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://hooks.example.com/services/T0/B0/s3cr3t", "https://hooks.example.com/…"),
        ("https://hooks.example.com/?token=s3cr3t", "https://hooks.example.com/…"),
        ("https://hooks.example.com#s3cr3t", "https://hooks.example.com/…"),
        ("https://user:s3cr3t@hooks.example.com:8443/", "https://hooks.example.com:8443/…"),
        ("http://[2001:db8::1]:8080/s3cr3t", "http://[2001:db8::1]:8080/…"),
        ("https://hooks.example.com/", "https://hooks.example.com"),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("", ""),
    ],
)
def test_redacted_keeps_the_scheme_and_host_only(url, kept):
    assert webhook_guard.redacted(url) == kept
