import uuid

import pytest
from django.db import connection
from django.test import Client

from audit import append_only
from billing.usage import traffic
from gateway_console.middleware import SESSION_ORG_KEY
from gateway_console.models import Role
from keys.sightings import sightings
from tests.factories import MembershipFactory, OrgFactory, TeamFactory, make_key

# Fixtures every directory may use: the admin API's clients and tokens, the key form.
pytest_plugins = ["tests.support.api", "tests.support.keys"]

APPEND_ONLY_TABLES = [
    "audit_auditevent",
    "audit_platformevent",
    "audit_chainstart",
    "billing_walletentry",
    "billing_counterperiod",
]


def pytest_collection_modifyitems(config, items):
    """Tests of SQLite's own behaviour (marker `sqlite`) run only on SQLite: bin/test runs them
    in its SQLite pass and leaves them out of the PostgreSQL one."""
    if connection.vendor == "sqlite":
        return
    skip = pytest.mark.skip(reason="SQLite's own behaviour: bin/test runs it on SQLite")
    for item in items:
        if "sqlite" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _empty_append_only_tables_before_flush(request):
    """Transactional tests end with Django's flush, which the append-only triggers refuse
    while history exists. Empty those tables first, as the table owner may."""
    transactional = (
        "live_server" in request.fixturenames or "transactional_db" in request.fixturenames
    )
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        transactional = True
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so that its flush runs after us
    yield
    with connection.schema_editor(atomic=connection.vendor == "postgresql") as editor:
        for table in APPEND_ONLY_TABLES:
            append_only.uninstall(editor, table)
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table}")
            append_only.install(editor, table)


@pytest.fixture(autouse=True)
def _fresh_sign_in_counters(settings):
    """The sign-in failure counters (gateway_console.throttle) live in Redis, beyond a test:
    each test counts under keys of its own."""
    settings.SIGN_IN_THROTTLE_PREFIX = f"sign-in-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _fresh_traffic_meter():
    """The gateway traffic figures counted in this process start empty in every test."""
    traffic.meter.reset()
    sightings.reset()
    yield
    traffic.meter.reset()
    sightings.reset()


@pytest.fixture
def org(db):
    return OrgFactory(name="Acme", slug="acme")


@pytest.fixture
def other_org(db):
    return OrgFactory(name="Globex", slug="globex")


@pytest.fixture
def team(org):
    return TeamFactory(org=org, name="Search")


@pytest.fixture
def other_team(org):
    return TeamFactory(org=org, name="Platform")


def _client_for(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    session = client.session
    session[SESSION_ORG_KEY] = str(membership.org_id)
    session.save()
    client.membership = membership
    return client


@pytest.fixture
def owner_membership(org):
    return MembershipFactory(org=org, role=Role.OWNER, user__email="owner@example.com")


@pytest.fixture
def admin_membership(org):
    return MembershipFactory(org=org, role=Role.ADMIN, user__email="admin@example.com")


@pytest.fixture
def member_membership(org, team):
    membership = MembershipFactory(org=org, role=Role.MEMBER, user__email="member@example.com")
    membership.teams.set([team])
    return membership


@pytest.fixture
def auditor_membership(org):
    return MembershipFactory(org=org, role=Role.AUDITOR, user__email="auditor@example.com")


@pytest.fixture
def owner_client(owner_membership):
    return _client_for(owner_membership)


@pytest.fixture
def admin_client(admin_membership):
    return _client_for(admin_membership)


@pytest.fixture
def member_client(member_membership):
    return _client_for(member_membership)


@pytest.fixture
def auditor_client(auditor_membership):
    return _client_for(auditor_membership)


@pytest.fixture
def other_org_admin_client(other_org):
    return _client_for(
        MembershipFactory(org=other_org, role=Role.ADMIN, user__email="other-admin@example.com")
    )


@pytest.fixture
def key_and_secret(org, team):
    return make_key(org, name="billing-prod", team=team)


@pytest.fixture
def key(key_and_secret):
    return key_and_secret[0]
