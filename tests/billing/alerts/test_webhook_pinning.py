"""Webhooks connect only to the address that was checked (issue 13): one lookup, every address
checked, the socket connected to that very address, TLS verified against the host name; an
admin sees a generic failure, the log the detail; the audit log keeps the scheme and host."""

import json
import logging
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit.models import AuditEvent
from billing.alerts.delivery import NOT_PUBLIC, UNREACHABLE
from billing.alerts.models import Alert
from billing.alerts.pinned import PinnedHTTPSConnection, pinned_post
from billing.alerts.webhook_guard import Refused, Target, checked_target
from tests.billing.alerts.test_alerts_webhook import NOW, key_at, use_webhook

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # stands for a public receiver; connecting to it is refused here
ELSEWHERE = "192.0.2.1"


class Resolver:
    """A rebinding DNS server: the n-th lookup of `host` answers `answers[n]` (the last one
    from then on). Names in `rebind` (the first answer itself, looked up again as a number)
    count as lookups of `host` too: whatever looks anything up again ends at the later answer."""

    def __init__(self, monkeypatch, host: str, answers: list[list[str]], rebind=()):
        self.lookups: list[str] = []
        real = socket.getaddrinfo

        def getaddrinfo(name, port, *args, **kwargs):
            if name != host and name not in rebind:
                return real(name, port, *args, **kwargs)
            self.lookups.append(name)
            answer = answers[min(len(self.lookups), len(answers)) - 1]
            return [info for address in answer for info in real(address, port, *args, **kwargs)]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def connections(monkeypatch):
    """Every address a socket connects to. PUBLIC and ELSEWHERE refuse at once (nothing leaves
    the machine); the rest connect for real."""
    seen: list[tuple] = []
    real = socket.socket.connect

    def connect(sock, address):
        seen.append(tuple(address[:2]))
        if address[0] in (PUBLIC, ELSEWHERE):
            raise ConnectionRefusedError(111, "Connection refused")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


@pytest.fixture
def guarded(settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def evaluate(django_capture_on_commit_callbacks):
    from billing import alerts

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            alerts.evaluate(now=NOW)

    return run


def test_a_rebinding_answer_never_reaches_loopback(monkeypatch, guarded, receiver, connections):
    resolver = Resolver(monkeypatch, "rebind.example", [[PUBLIC], ["127.0.0.1"]], rebind=(PUBLIC,))

    target = checked_target(f"http://rebind.example:{receiver.port}/hooks/console")
    with pytest.raises(ConnectionRefusedError):
        pinned_post(target, b"{}", {}, timeout=2)

    assert resolver.lookups == ["rebind.example"]  # one lookup, checked, then no other
    assert [a for a in connections if a[1] == receiver.port] == [(PUBLIC, receiver.port)]
    assert receiver.posts == []


def test_a_delivery_whose_host_rebinds_to_loopback_posts_nothing_there(
    monkeypatch, guarded, org, receiver, connections, evaluate
):
    use_webhook(org, f"http://rebind.example:{receiver.port}/hooks/console")
    key_at(org, "100")
    Resolver(monkeypatch, "rebind.example", [[PUBLIC], ["127.0.0.1"]], rebind=(PUBLIC,))

    evaluate()

    assert receiver.posts == []
    assert [a for a in connections if a[1] == receiver.port] == [(PUBLIC, receiver.port)]
    alert = Alert.objects.get()
    # The first attempt was refused by PUBLIC; the retry's lookup answered 127.0.0.1 and was
    # refused before any connection.
    assert (alert.webhook_attempts, alert.webhook_last_error) == (2, NOT_PUBLIC)


def test_every_address_of_the_answer_is_checked(monkeypatch, guarded, receiver, connections):
    Resolver(monkeypatch, "mixed.example", [[PUBLIC, "127.0.0.1"]])

    with pytest.raises(Refused) as refused:
        checked_target(f"http://mixed.example:{receiver.port}/hook")

    assert "127.0.0.1" in refused.value.detail
    assert "127.0.0.1" not in str(refused.value)
    assert connections == []


def test_with_private_receivers_allowed_the_connection_is_still_pinned(
    monkeypatch, org, receiver, connections, evaluate
):
    # ALERT_WEBHOOK_ALLOW_PRIVATE is on in the tests: 127.0.0.1 passes, once.
    receiver.secret = use_webhook(org, f"http://hooks.rebind.test:{receiver.port}/hooks/console")
    key_at(org, "100")
    resolver = Resolver(monkeypatch, "hooks.rebind.test", [["127.0.0.1"], [ELSEWHERE]])

    evaluate()

    assert resolver.lookups == ["hooks.rebind.test"]
    assert [a for a in connections if a[1] == receiver.port] == [("127.0.0.1", receiver.port)]
    [post] = receiver.posts
    assert (post["host"], post["path"], post["verified"]) == (
        f"hooks.rebind.test:{receiver.port}",
        "/hooks/console",
        True,
    )
    assert Alert.objects.get().webhook_delivered_at is not None


# HTTPS: the socket goes to the checked address, TLS names and verifies the host.


def _certificates(tmp_path, host: str) -> tuple[str, str, str]:
    """A test CA and a certificate for `host` that it signed: (CA file, cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def builder(subject, issuer, public_key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Webhook test CA")])
    ca = (
        builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]), ca_name, key.public_key()
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = {
        "ca.pem": ca.public_bytes(serialization.Encoding.PEM),
        "cert.pem": leaf.public_bytes(serialization.Encoding.PEM),
        "key.pem": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tuple(str(tmp_path / name) for name in files)


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on 127.0.0.1 with a certificate for hooks.example.test; records the
    SNI name and Host header of each request."""
    ca_file, cert_file, key_file = _certificates(tmp_path, "hooks.example.test")
    seen = {"sni": [], "hosts": [], "ca_file": ca_file}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda *args: None  # a refused handshake is what some tests want
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    seen["port"] = server.server_port
    yield seen
    server.shutdown()
    server.server_close()


def _pinned_to_loopback(host: str, port: int) -> Target:
    return Target("https", host, port, "/hook", ((socket.AF_INET, ("127.0.0.1", port)),))


def test_https_sends_the_host_name_in_sni_and_verifies_the_certificate_against_it(
    tls_receiver, connections
):
    port = tls_receiver["port"]
    trusted = ssl.create_default_context(cafile=tls_receiver["ca_file"])
    connection = PinnedHTTPSConnection(
        _pinned_to_loopback("hooks.example.test", port), timeout=5, context=trusted
    )

    connection.request("POST", "/hook", body=b"{}")
    status = connection.getresponse().status
    connection.close()

    assert status == 204
    assert tls_receiver["sni"] == ["hooks.example.test"]
    assert tls_receiver["hosts"] == [f"hooks.example.test:{port}"]
    assert [a for a in connections if a[1] == port] == [("127.0.0.1", port)]


def test_a_certificate_for_another_name_is_refused(tls_receiver):
    trusted = ssl.create_default_context(cafile=tls_receiver["ca_file"])
    connection = PinnedHTTPSConnection(
        _pinned_to_loopback("other.example.test", tls_receiver["port"]), timeout=5, context=trusted
    )

    with pytest.raises(ssl.SSLCertVerificationError, match=r"other\.example\.test"):
        connection.connect()
    assert tls_receiver["sni"] == ["other.example.test"]
    assert tls_receiver["hosts"] == []


def test_delivery_verifies_certificates_by_default(tls_receiver):
    target = _pinned_to_loopback("hooks.example.test", tls_receiver["port"])

    connection = PinnedHTTPSConnection(target, timeout=5)
    assert (connection.tls.verify_mode, connection.tls.check_hostname) == (ssl.CERT_REQUIRED, True)
    # The test CA is not among the system's: the certificate does not verify.
    with pytest.raises(ssl.SSLCertVerificationError):
        pinned_post(target, b"{}", {}, timeout=5)
    assert tls_receiver["hosts"] == []


# What an admin sees of a failure, and what the log keeps.


def _silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    return silent


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("failure", "detail"), [("refused", "Connection refused"), ("timeout", "timed out")]
)
def test_a_refused_connection_and_a_timeout_read_the_same_to_an_admin(
    failure, detail, settings, org, admin_client, evaluate, caplog
):
    settings.ALERT_WEBHOOK_TIMEOUT = 0.2
    silent = _silent_port()
    port = silent.getsockname()[1] if failure == "timeout" else _closed_port()
    use_webhook(org, f"http://127.0.0.1:{port}/hooks/s3cr3t-path?token=s3cr3t-query")
    key_at(org, "100")
    caplog.set_level(logging.WARNING, logger="billing.alerts")

    try:
        evaluate()
    finally:
        silent.close()

    alert = Alert.objects.get()
    assert (alert.webhook_attempts, alert.webhook_last_error) == (7, UNREACHABLE)
    response = admin_client.get("/billing/alerts/")
    [row] = response.context["page"].rows
    assert row.webhook_error == UNREACHABLE
    body = response.content.decode()
    assert UNREACHABLE in body
    for word in ("refused", "timed out", "Errno", "Timeout", "s3cr3t"):
        assert word not in body
    # The log has the detail, with the host but not the URL's path or query.
    assert detail in caplog.text
    assert f"http://127.0.0.1:{port}/…" in caplog.text
    assert "s3cr3t" not in caplog.text


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("Could not reach the receiver: [Errno 111] Connection refused", UNREACHABLE),
        ("Could not reach the receiver: timed out", UNREACHABLE),
        ("HTTP 502 from the receiver", "The receiver answered HTTP 502."),
        ("intranet resolves to 10.0.0.5, which is not a public address; …", NOT_PUBLIC),
    ],
)
def test_errors_stored_by_an_older_version_are_shown_generically(stored, shown):
    from billing.alerts.delivery import shown_error

    assert shown_error(stored) == shown


# The audit log keeps the webhook's scheme and host only.

SECRET_URL = "https://hooks.example.com/services/T0001/B0002/s3cr3tPath?token=s3cr3tQuery"


def test_a_webhook_url_s_path_and_query_never_reach_the_audit_log(admin_client, org):
    form = {"wallet_below": "", "email": "on"}
    admin_client.post("/billing/alerts/settings/", {**form, "webhook_url": SECRET_URL})
    other = "https://user:s3cr3tPassword@hooks.example.com:8443/s3cr3tOther#s3cr3tFragment"
    admin_client.post("/billing/alerts/settings/", {**form, "webhook_url": other})
    admin_client.post("/billing/alerts/settings/", {**form, "webhook_url": ""})

    events = list(AuditEvent.objects.filter(action="alerts.updated").order_by("seq"))
    assert [event.changes["webhook_url"] for event in events] == [
        {"before": "", "after": "https://hooks.example.com/…"},
        {"before": "https://hooks.example.com/…", "after": "https://hooks.example.com:8443/…"},
        {"before": "https://hooks.example.com:8443/…", "after": ""},
    ]
    everything = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "s3cr3t" not in everything
    assert "/services" not in everything


def test_the_alerts_page_names_the_webhook_by_its_host(admin_client, auditor_client, org):
    use_webhook(org, SECRET_URL)

    for client in (admin_client, auditor_client):
        body = client.get("/billing/alerts/").content.decode()
        assert "<code>https://hooks.example.com/…</code>" in body
        assert "s3cr3t" not in body


def test_a_delivery_refused_at_the_receiver_s_status_shows_the_status(org, receiver, evaluate):
    receiver.secret = use_webhook(org, receiver.url)
    receiver.fail_first = 100
    receiver.fail_status = 503
    key_at(org, "100")

    evaluate()

    assert Alert.objects.get().webhook_last_error == "The receiver answered HTTP 503."


def test_a_host_that_does_not_resolve_at_delivery_is_retried_as_unreachable(
    monkeypatch, guarded, org, evaluate, caplog
):
    use_webhook(org, "https://hooks.example.com/s3cr3t")
    key_at(org, "100")

    def no_answer(name, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_answer)
    caplog.set_level(logging.WARNING, logger="billing.alerts")

    evaluate()

    alert = Alert.objects.get()
    assert (alert.webhook_attempts, alert.webhook_last_error) == (7, UNREACHABLE)
    assert "hooks.example.com does not resolve: [Errno -2] Name or service not known" in (
        caplog.text
    )
