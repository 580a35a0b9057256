"""Sign-ins, failures and lockouts are audit events of each org the person belongs to, with the
client's address (behind PROXY_COUNT proxies); a client hammering at its lockout writes nothing
more; an email without an account is written nowhere."""

import pytest

from audit.models import AuditEvent
from gateway_console.models import Role
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

WRONG = "not-the-password-at-all"


@pytest.fixture
def ada(org, other_org):
    membership = MembershipFactory(org=org, role=Role.ADMIN, user__email="ada@example.com")
    MembershipFactory(org=other_org, role=Role.AUDITOR, user=membership.user)
    return membership.user


def _sign_in(client, password, *, email="ada@example.com", forwarded="203.0.113.5"):
    return client.post(
        "/sign-in/",
        {"username": email, "password": password},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=forwarded,
        HTTP_USER_AGENT="pytest-browser",
    )


@pytest.fixture(autouse=True)
def _behind_one_proxy(settings):
    settings.PROXY_COUNT = 1


def test_a_sign_in_is_recorded_in_each_org_with_the_clients_address(client, ada, org, other_org):
    _sign_in(client, PASSWORD)

    for each in (org, other_org):
        [event] = AuditEvent.objects.filter(org=each, action="user.signed_in")
        assert event.actor_label == "ada@example.com"
        assert event.ip_address == "203.0.113.5"
        assert event.user_agent == "pytest-browser"
        assert event.data == {"second_factor": False}


def test_a_failure_is_recorded_and_holds_no_password(client, ada, org):
    _sign_in(client, WRONG)

    [event] = AuditEvent.objects.filter(org=org, action="user.sign_in_failed")
    assert event.ip_address == "203.0.113.5"
    assert WRONG not in f"{event.data} {event.changes}"


def test_the_pairs_lockout_is_recorded_once_and_refused_attempts_write_nothing(client, ada, org):
    for _ in range(5):
        _sign_in(client, WRONG)
    for _ in range(3):
        assert _sign_in(client, PASSWORD).status_code == 429

    actions = list(
        AuditEvent.objects.filter(org=org).order_by("seq").values_list("action", flat=True)
    )
    assert actions == ["user.sign_in_failed"] * 4 + ["user.locked_out"]
    assert AuditEvent.objects.get(org=org, action="user.locked_out").data == {"limit": "pair"}


def test_an_accounts_wider_lockout_is_recorded_when_it_starts(client, ada, org, settings):
    settings.SIGN_IN_ACCOUNT_FAILURE_LIMIT = 3
    for n in range(4):
        _sign_in(client, WRONG, forwarded=f"203.0.113.{n + 10}")

    locked = AuditEvent.objects.filter(org=org, action="user.locked_out")
    assert [event.data for event in locked] == [{"limit": "account"}]
    assert AuditEvent.objects.filter(org=org, action="user.sign_in_failed").count() == 3


def test_an_email_without_an_account_is_recorded_nowhere(client, ada):
    _sign_in(client, WRONG, email="nobody@example.com")

    assert not AuditEvent.objects.exists()
