"""A real SMTP server for tests (aiosmtpd in a thread), with optional STARTTLS and AUTH.

    cert = make_self_signed_cert(tmp_path)     # trust it: NOTIFICATION_SMTP_CA_BUNDLE = cert.cert_path
    with SmtpTestServer(tls_cert=cert, credentials=("user", "pw")) as server:
        ...connect to server.host:server.port...
        server.messages                                 # what was accepted, parsed

The server binds port 0, so tests running side by side never collide. As pytest fixtures (import
them into a conftest): `smtp_server(**options)` starts servers and stops them after the test;
`self_signed_cert` writes a certificate into the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class SelfSignedCert:
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def make_self_signed_cert(directory: Path, *, common_name: str = "localhost") -> SelfSignedCert:
    """A self-signed certificate for localhost and 127.0.0.1, written as PEM files into `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return SelfSignedCert(cert_path=cert_path, key_path=key_path)


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.raw)


@dataclass
class _RecordingHandler:
    """Accepts and records messages; `refusals` maps "MAIL", "DATA" or a recipient to a reply."""

    pipelining: bool = False
    refusals: dict[str, str] = field(default_factory=dict)
    messages: list[ReceivedMessage] = field(default_factory=list)
    ehlos: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list:
        session.host_name = hostname
        with self.lock:
            self.ehlos += 1
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:
        if "MAIL" in self.refusals:
            return self.refusals["MAIL"]
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if "DATA" in self.refusals:
            return self.refusals["DATA"]
        with self.lock:
            self.messages.append(
                ReceivedMessage(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), raw=envelope.content)
            )
        return "250 Message accepted for delivery"


class _EphemeralPortController(Controller):
    """Binds port 0 and records the port the system chose (aiosmtpd's Controller needs a fixed one)."""

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self) -> Any:
        return self._bind()


class SmtpTestServer:
    """A plaintext SMTP server; `tls_cert` adds STARTTLS, `credentials` requires AUTH with them.

    `auth_require_tls=False` lets AUTH run over plaintext (an `insecure=true` relay). `pipelining`
    offers PIPELINING in the EHLO reply; `refusals` maps "MAIL", "DATA" or a recipient address to
    the reply that refuses it (e.g. "550 5.1.1 unknown"). `ehlos` counts the EHLOs received.
    """

    def __init__(
        self,
        *,
        tls_cert: SelfSignedCert | None = None,
        credentials: tuple[str, str] | None = None,
        auth_require_tls: bool = True,
        pipelining: bool = False,
        refusals: dict[str, str] | None = None,
    ) -> None:
        self.credentials = credentials
        self.auth_attempts: list[tuple[str, bool]] = []
        self._handler = _RecordingHandler(pipelining=pipelining, refusals=refusals or {})
        smtp_options: dict[str, Any] = {"auth_require_tls": auth_require_tls, "server_hostname": "localhost"}
        if tls_cert is not None:
            smtp_options["tls_context"] = tls_cert.server_context()
        if credentials is not None:
            smtp_options.update(authenticator=self._authenticate, auth_required=True)
        self._controller = _EphemeralPortController(self._handler, hostname=HOST, **smtp_options)

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._handler.lock:
            return list(self._handler.messages)

    @property
    def ehlos(self) -> int:
        """EHLOs received: one per plaintext connection (STARTTLS adds a second on its connection)."""
        with self._handler.lock:
            return self._handler.ehlos

    @property
    def refusals(self) -> dict[str, str]:
        """The refusals in force; a test may change them between sends."""
        return self._handler.refusals

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        username, password = auth_data.login.decode(), auth_data.password.decode()
        success = (username, password) == self.credentials
        self.auth_attempts.append((username, success))
        return AuthResult(success=success, handled=False)

    def start(self) -> SmtpTestServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def self_signed_cert(tmp_path: Path) -> SelfSignedCert:
    return make_self_signed_cert(tmp_path / "tls")


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpTestServer]]:
    """Starts real SMTP servers (options as for SmtpTestServer) and stops them after the test."""
    servers: list[SmtpTestServer] = []

    def start(**options: Any) -> SmtpTestServer:
        server = SmtpTestServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
