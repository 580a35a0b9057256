"""HTTP and HTTPS to the addresses billing.alerts.webhook_guard checked, and nowhere else.

The socket connects to a checked (family, sockaddr) itself: no name is looked up again, so a
DNS answer that changes between the check and the connection (rebinding) changes nothing. The
request still names the URL's host: in the Host header and, over HTTPS, in TLS's SNI, and the
certificate is verified against that host name (not the address). Redirects are never
followed (http.client does not follow them): a 3xx is an answer other than 2xx, so a failed
delivery. No proxy from the environment is used either: the console connects itself."""

import http.client
import socket
import ssl

from billing.alerts.webhook_guard import Target


def open_socket(target: Target, timeout: float) -> socket.socket:
    """A TCP connection to the first of the target's checked addresses that answers."""
    error: OSError | None = None
    for family, sockaddr in target.addresses:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no address to connect to for {target.host}")


class PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, *, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target

    def connect(self) -> None:
        self.sock = open_socket(self.target, self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, *, timeout: float, context: ssl.SSLContext | None = None):
        # The default context verifies the certificate chain and the host name.
        self.tls = context or ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self.tls)
        self.target = target

    def connect(self) -> None:
        sock = open_socket(self.target, self.timeout)
        try:
            self.sock = self.tls.wrap_socket(sock, server_hostname=self.target.host)
        except BaseException:
            sock.close()
            raise


def pinned_post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POSTs the body to the target; returns the status of the answer. Raises OSError
    (ssl.SSLError and timeouts among them) or http.client.HTTPException when there is none."""
    if target.scheme == "https":
        connection: http.client.HTTPConnection = PinnedHTTPSConnection(target, timeout=timeout)
    else:
        connection = PinnedHTTPConnection(target, timeout=timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()
