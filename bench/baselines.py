"""The baselines the pipeline is measured against, each a tight loop in the harness process.

(a) a new SMTP connection per message: connect, EHLO, STARTTLS, AUTH, send, QUIT, as a naive
    channel does; (b) one persistent SMTP connection, secured and authenticated once: the ceiling
    for email, and (b') the same with MAIL, RCPT and DATA pipelined, as the email kind sends them;
    (c) one keep-alive `requests.Session` posting: the ceiling for webhooks. Plus the HTTP
    sink alone, driven by a raw-socket client, to show that it is not what limits (c).

Each loop runs until `count` messages or `seconds` have passed, whichever comes first, and returns
messages per second. Every message is acknowledged by the sink (250, or HTTP 200) before the next.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str
    password: str
    tls_context: ssl.SSLContext | None  # None: plaintext


def _rate(step: Callable[[], None], *, count: int, seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while done < count and (done == 0 or time.perf_counter() < deadline):
        step()
        done += 1
    return done / (time.perf_counter() - start)


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    smtp = smtplib.SMTP(target.host, target.port, local_hostname="localhost", timeout=10)
    if target.tls_context is not None:
        smtp.starttls(context=target.tls_context)
    smtp.login(target.username, target.password)
    return smtp


def smtp_per_connection(
    target: SmtpTarget, *, sender: str, recipients: list[str], message: bytes, count: int, seconds: float
) -> float:
    """(a): connect, EHLO, STARTTLS, EHLO, AUTH, MAIL/RCPT/DATA, QUIT for every message."""

    def step() -> None:
        smtp = _connect(target)
        smtp.sendmail(sender, recipients, message)
        smtp.quit()

    return _rate(step, count=count, seconds=seconds)


def smtp_persistent(
    target: SmtpTarget,
    *,
    sender: str,
    recipients: list[str],
    message: bytes,
    count: int,
    seconds: float,
    pipelined: bool = False,
) -> float:
    """(b): one connection, secured and authenticated once; MAIL/RCPT/DATA per message, each
    command waiting for its reply as smtplib sends them. `pipelined`: the envelope in one write
    (PIPELINING, which the sink offers), as the email kind sends it."""
    from providers.smtp import OutgoingEmail, sendmail_pipelined

    smtp = _connect(target)
    mail = OutgoingEmail(envelope_from=sender, recipients=tuple(recipients), data=message)

    def step() -> None:
        if pipelined:
            sendmail_pipelined(smtp, mail)
        else:
            smtp.sendmail(sender, recipients, message)

    try:
        return _rate(step, count=count, seconds=seconds)
    finally:
        smtp.quit()


def http_keepalive(url: str, *, body: bytes, headers: dict[str, str], count: int, seconds: float) -> float:
    """(c): one `requests.Session`, so one kept-alive connection, posting in a loop."""
    with requests.Session() as session:

        def step() -> None:
            response = session.post(url, data=body, headers=headers, timeout=10)
            if response.status_code != 200:
                raise RuntimeError(f"the HTTP sink answered {response.status_code}")

        return _rate(step, count=count, seconds=seconds)


def http_sink_capacity(host: str, port: int, *, body: bytes, count: int, seconds: float) -> float:
    """The HTTP sink driven by the cheapest possible client: raw request bytes on one socket."""
    request = (
        f"POST /hook HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"X-Notification-Delivery-Id: capacity\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        expected = _response_length(sock, request)

        def step() -> None:
            sock.sendall(request)
            received = 0
            while received < expected:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the HTTP sink closed the connection")
                received += len(chunk)

        return _rate(step, count=count, seconds=seconds)


def _response_length(sock: socket.socket, request: bytes) -> int:
    """Sends one request and returns the size of the (fixed) response, headers and body."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return len(head) + 4 + length
