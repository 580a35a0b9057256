"""Each shipped gateway (Traefik, Envoy, Caddy, as deployed) passes its client's address and user
agent to authorize: the key page's "seen from" has them, a key with an IP allowlist passes from
that address and is refused from any other with the contract's `ip_not_allowed`
(docs/contract.md section 2, The client's address).

The address is what the gateway itself puts in X-Forwarded-For, as the provider sees it too:
127.0.0.1 for Traefik and Caddy here; Envoy writes its host's own address for a client on
loopback (docs/gateway.md)."""

import ipaddress
import time
import uuid

import openai
import pytest

from keys.models import KeySighting

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GATEWAYS = ["traefik", "envoy", "caddy"]
ELSEWHERE = "198.51.100.0/24"


def _call(base: str, secret: str, agent: str = "e2e"):
    client = openai.OpenAI(
        base_url=f"{base}/v1", api_key=secret, max_retries=0, default_headers={"User-Agent": agent}
    )
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )


def _sightings(key, timeout: float = 5) -> set:
    deadline = time.monotonic() + timeout
    while True:
        found = set(KeySighting.objects.filter(key=key).values_list("address", "user_agent"))
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture(params=GATEWAYS)
def gateway(request, e2e_org):
    e2e_org.plan.models.clear()  # Caddy sends no body: the model is not always known
    return request.getfixturevalue(request.param)


def test_the_clients_address_and_agent_are_seen_and_an_allowlist_admits_it(
    gateway, provider, new_key
):
    key, secret = new_key(name="seen")
    agent = f"e2e-{uuid.uuid4().hex[:8]}"

    _call(gateway, secret, agent)

    address = provider.seen[-1].headers["X-Forwarded-For"].split(",")[-1].strip()
    assert ipaddress.ip_address(address)
    assert _sightings(key) == {(address, agent)}

    _, fenced = new_key(name="fenced", allowed_ips=(address,))
    _call(gateway, fenced)
    assert len(provider.seen) == 2


def test_an_allowlisted_key_is_refused_from_any_other_address(gateway, provider, new_key):
    _, secret = new_key(name="elsewhere", allowed_ips=(ELSEWHERE,))

    with pytest.raises(openai.PermissionDeniedError) as refused:
        _call(gateway, secret)

    assert refused.value.code == "ip_not_allowed"
    assert provider.seen == []
