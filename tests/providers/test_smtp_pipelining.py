"""MAIL, RCPT and DATA in one write to a server that offers PIPELINING (RFC 2920), on real servers:
aiosmtpd for what arrives and for each refusal, a raw socket server for the one write itself."""

import socket
import threading

import pytest

from core.errors import ErrorCode
from providers.smtp import OutgoingEmail, SmtpEndpoint, SmtpError, close_pooled, pooled_send

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

RECIPIENTS = ("ops@example.com", "dev@example.com")
MAIL = OutgoingEmail(
    envelope_from="alerts@example.com",
    recipients=RECIPIENTS,
    data=b"Subject: pipelined\r\nMessage-ID: <d-1@example.com>\r\n\r\nfirst line\r\n.a leading dot\r\n..two dots",
)


def endpoint(port: int) -> SmtpEndpoint:
    return SmtpEndpoint(host="127.0.0.1", port=port, tls=False, timeout=5.0)


@pytest.fixture
def pipelining_server(smtp_server):
    """Starts an aiosmtpd server that offers PIPELINING; closes this process's pooled connections to it after."""
    started = []

    def start(**options):
        server = smtp_server(pipelining=True, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        close_pooled(endpoint(server.port))


@pytest.mark.parametrize("pipelining", [True, False])
def test_messages_arrive_whole_with_or_without_pipelining_and_the_connection_is_reused(smtp_server, pipelining):
    server = smtp_server(pipelining=pipelining)
    try:
        for _ in range(3):
            pooled_send(endpoint(server.port), MAIL)
    finally:
        close_pooled(endpoint(server.port))
    assert len(server.messages) == 3
    assert server.ehlos == 1  # one connection for the three
    for received in server.messages:
        assert (received.mail_from, received.rcpt_tos) == ("alerts@example.com", list(RECIPIENTS))
        assert received.message["Subject"] == "pipelined"
        assert received.message.get_payload().splitlines() == ["first line", ".a leading dot", "..two dots"]


def test_a_refused_sender_is_a_permanent_failure_and_the_next_send_works(pipelining_server):
    server = pipelining_server(refusals={"MAIL": "550 5.7.1 sender rejected"})
    with pytest.raises(SmtpError) as error:
        pooled_send(endpoint(server.port), MAIL)
    assert (error.value.code, error.value.transient, error.value.smtp_code) == (ErrorCode.SMTP_SEND_FAILED, False, 550)
    assert server.messages == []

    server.refusals.clear()
    pooled_send(endpoint(server.port), MAIL)
    assert len(server.messages) == 1
    assert server.ehlos == 2  # on a new connection: the one that saw the refusal was dropped


@pytest.mark.parametrize(("reply", "transient"), [("550 5.1.1 unknown", False), ("451 4.3.0 try later", True)])
def test_every_recipient_refused_fails_as_smtplib_does_and_nothing_is_sent(pipelining_server, reply, transient):
    server = pipelining_server(refusals=dict.fromkeys(RECIPIENTS, reply))
    with pytest.raises(SmtpError) as error:
        pooled_send(endpoint(server.port), MAIL)
    assert (error.value.code, error.value.transient) == (ErrorCode.SMTP_SEND_FAILED, transient)
    assert error.value.smtp_code == int(reply[:3])
    assert server.messages == []


def test_one_recipient_refused_still_sends_to_the_other(pipelining_server):
    server = pipelining_server(refusals={"dev@example.com": "550 5.1.1 unknown"})
    pooled_send(endpoint(server.port), MAIL)
    assert [received.rcpt_tos for received in server.messages] == [["ops@example.com"]]


def test_a_message_refused_after_its_data_is_a_failure_and_the_connection_is_replaced(pipelining_server):
    server = pipelining_server(refusals={"DATA": "554 5.6.0 content rejected"})
    with pytest.raises(SmtpError) as error:
        pooled_send(endpoint(server.port), MAIL)
    assert (error.value.transient, error.value.smtp_code) == (False, 554)

    server.refusals.clear()
    pooled_send(endpoint(server.port), MAIL)
    assert len(server.messages) == 1
    assert server.ehlos == 2  # on a new connection: the refused one was dropped


class _WithholdingServer:
    """Offers PIPELINING, then reads MAIL, both RCPTs and DATA before it answers any of them.

    A client that waits for the reply to MAIL before sending RCPT never gets that reply: its send
    times out, and `lines` stays short of DATA."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.lines: list[bytes] = []
        self.message = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 localhost ESMTP\r\n")
            reader.readline()  # EHLO
            conn.sendall(b"250-localhost\r\n250 PIPELINING\r\n")
            self.lines = [reader.readline() for _ in range(2 + len(RECIPIENTS))]
            conn.sendall(b"250 sender ok\r\n" + b"250 recipient ok\r\n" * len(RECIPIENTS) + b"354 go ahead\r\n")
            while not self.message.endswith(b"\r\n.\r\n"):
                self.message += reader.readline()
            conn.sendall(b"250 queued\r\n")


def test_the_envelope_goes_in_one_write_before_any_reply_is_read():
    server = _WithholdingServer()
    try:
        pooled_send(endpoint(server.port), MAIL)
    finally:
        close_pooled(endpoint(server.port))
    server.thread.join(10)
    assert server.lines == [
        b"MAIL FROM:<alerts@example.com>\r\n",
        b"RCPT TO:<ops@example.com>\r\n",
        b"RCPT TO:<dev@example.com>\r\n",
        b"DATA\r\n",
    ]
    assert server.message.endswith(b"\r\n..a leading dot\r\n...two dots\r\n.\r\n")
