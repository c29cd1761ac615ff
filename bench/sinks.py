"""The sinks the benchmark delivers to, each run in a process of its own. No Django here.

- SMTP: a minimal ESMTP server on asyncio (EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA,
  RSET, NOOP, QUIT), offering PIPELINING as production relays do. AUTH is required, and with a
  certificate STARTTLS is required before it; without one AUTH runs over plaintext, as against an
  `insecure` relay. It spends some tens of microseconds of CPU on a message, so the ceiling (b)
  measures the client's SMTP cost rather than the sink's.
  `aiosmtpd` (the test suite's server) is available too, but it reads DATA line by line and spends
  about a millisecond of CPU on a message, several times what the client spends.
- HTTP: a minimal HTTP/1.1 server on asyncio that answers 200 on keep-alive connections. It parses
  only what it needs (the header block, Content-Length, the delivery id); the harness measures its
  rate with a raw-socket client (see `baselines.http_sink_capacity`).

Each sink records (delivery id, receipt time) for every message, the id taken from the Message-ID
(`<id@domain>`) or the X-Notification-Delivery-Id header, the time taken when the whole message has
arrived. The harness talks to a sink over a Pipe: it receives ("ready", port), then sends "collect"
(answered with the receipts since the last collect and the sink's CPU seconds so far) or "stop".
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
import threading
import time
import warnings
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<([^@>\s]+)@", re.IGNORECASE | re.MULTILINE)
_DELIVERY_ID = re.compile(rb"\r\nX-Notification-Delivery-Id:[ \t]*([^\r\n]+)", re.IGNORECASE)
_CONTENT_LENGTH = re.compile(rb"\r\nContent-Length:[ \t]*(\d+)", re.IGNORECASE)
_CONNECTION_CLOSE = re.compile(rb"\r\nConnection:[ \t]*close", re.IGNORECASE)
_HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

Receipt = tuple[str, float]


@dataclass(frozen=True)
class SmtpSinkOptions:
    credentials: tuple[str, str]
    cert_path: Path | None = None  # None: plaintext
    key_path: Path | None = None
    server: str = "fast"  # or "aiosmtpd"


class _Receipts:
    """Receipts appended by the event loop and taken by the control thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Receipt] = []

    def add(self, raw: bytes, pattern: re.Pattern[bytes]) -> None:
        now = time.time()
        match = pattern.search(raw)
        delivery_id = match.group(1).strip().decode("ascii", "replace") if match else "?"
        with self._lock:
            self._items.append((delivery_id, now))

    def take(self) -> list[Receipt]:
        with self._lock:
            items, self._items = self._items, []
        return items


def _serve(conn: Connection, receipts: _Receipts, make_server: Any) -> None:
    """Runs the server on a fresh event loop; a control thread answers the harness."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(make_server(loop))
    conn.send(("ready", server.sockets[0].getsockname()[1]))

    def control() -> None:
        while True:
            try:
                command = conn.recv()
            except EOFError:  # the harness went away
                command = "stop"
            if command == "collect":
                conn.send((receipts.take(), time.process_time()))
            elif command == "stop":
                loop.call_soon_threadsafe(loop.stop)
                return

    threading.Thread(target=control, name="sink-control", daemon=True).start()
    try:
        loop.run_forever()
    finally:
        server.close()


# --- SMTP -----------------------------------------------------------------------------------


class _SmtpProtocol(asyncio.Protocol):
    """One SMTP session. Commands are handled as whole lines arrive; DATA is scanned for its end."""

    def __init__(self, receipts: _Receipts, credentials: bytes, tls_context: ssl.SSLContext | None) -> None:
        self.receipts = receipts
        self.credentials = credentials  # b"user\0password"
        self.tls_context = tls_context
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.in_data = False
        self.secure = tls_context is None  # nothing to wait for on a plaintext sink
        self.authenticated = False
        self.auth_login_user: bytes | None = None
        self.auth_step = ""  # "plain", "login-user" or "login-password" while a challenge is pending
        self.has_sender = self.has_recipient = False
        self.tls_task: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.reply(b"220 localhost ESMTP bench sink")

    def reply(self, line: bytes) -> None:
        assert self.transport is not None
        self.transport.write(line + b"\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):
                    end, skip = 0, 3
                else:
                    end, skip = self.buffer.find(b"\r\n.\r\n"), 5
                    if end < 0:
                        return
                self.receipts.add(bytes(self.buffer[:end]), _MESSAGE_ID)
                del self.buffer[: end + skip]
                self.in_data = self.has_sender = self.has_recipient = False
                self.reply(b"250 2.0.0 OK")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            if self.command(line) == "starttls":
                return

    def command(self, line: bytes) -> str:
        if self.auth_step:
            self.auth_response(line)
            return ""
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        if verb in (b"EHLO", b"HELO"):
            self.has_sender = self.has_recipient = False
            if verb == b"HELO":
                self.reply(b"250 localhost")
            else:
                extensions = [b"SIZE 33554432", b"8BITMIME", b"PIPELINING"]
                extensions.append(b"AUTH PLAIN LOGIN" if self.secure else b"STARTTLS")
                lines = [b"localhost", *extensions]
                self.reply(b"\r\n".join(b"250-" + item for item in lines[:-1]) + b"\r\n250 " + lines[-1])
        elif verb == b"STARTTLS":
            if self.secure:
                self.reply(b"503 5.5.1 TLS already active or not offered")
            else:
                self.reply(b"220 2.0.0 Ready to start TLS")
                self.tls_task = asyncio.ensure_future(self.start_tls())  # kept: a task nobody holds may vanish
                return "starttls"
        elif verb == b"AUTH":
            self.auth(argument)
        elif verb in (b"MAIL", b"RCPT", b"DATA") and not self.secure:
            self.reply(b"530 5.7.0 Must issue a STARTTLS command first")
        elif verb in (b"MAIL", b"RCPT", b"DATA") and not self.authenticated:
            self.reply(b"530 5.7.0 Authentication required")
        elif verb == b"MAIL":
            self.has_sender, self.has_recipient = True, False
            self.reply(b"250 2.1.0 OK")
        elif verb == b"RCPT":
            if self.has_sender:
                self.has_recipient = True
                self.reply(b"250 2.1.5 OK")
            else:
                self.reply(b"503 5.5.1 MAIL first")
        elif verb == b"DATA":
            if self.has_recipient:
                self.in_data = True
                self.reply(b"354 End data with <CR><LF>.<CR><LF>")
            else:
                self.reply(b"503 5.5.1 RCPT first")
        elif verb == b"RSET":
            self.has_sender = self.has_recipient = False
            self.reply(b"250 2.0.0 OK")
        elif verb == b"NOOP":
            self.reply(b"250 2.0.0 OK")
        elif verb == b"QUIT":
            self.reply(b"221 2.0.0 Bye")
            assert self.transport is not None
            self.transport.close()
        else:
            self.reply(b"502 5.5.2 Command not implemented")
        return ""

    async def start_tls(self) -> None:
        assert self.transport is not None and self.tls_context is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self.transport, self, self.tls_context, server_side=True)
        except (OSError, ssl.SSLError):
            self.transport.close()
            self.transport = None
            return
        assert transport is not None
        self.transport, self.secure = transport, True
        self.has_sender = self.has_recipient = False
        if self.buffer:  # nothing may follow STARTTLS in plaintext (RFC 3207): a client that did is cut off
            self.transport.close()

    def auth(self, argument: bytes) -> None:
        if not self.secure:
            self.reply(b"538 5.7.11 Encryption required for requested authentication mechanism")
            return
        mechanism, _, initial = argument.partition(b" ")
        mechanism = mechanism.upper()
        if mechanism == b"PLAIN" and initial:
            self.check_plain(initial)
        elif mechanism == b"PLAIN":
            self.auth_step = "plain"
            self.reply(b"334 ")
        elif mechanism == b"LOGIN":
            self.auth_step = "login-user"
            self.reply(b"334 VXNlcm5hbWU6")
        else:
            self.reply(b"504 5.5.4 Unrecognized authentication type")

    def auth_response(self, line: bytes) -> None:
        step, self.auth_step = self.auth_step, ""
        if line == b"*":
            self.reply(b"501 5.7.0 Authentication cancelled")
        elif step == "plain":
            self.check_plain(line)
        elif step == "login-user":
            self.auth_login_user = _b64(line)
            self.auth_step = "login-password"
            self.reply(b"334 UGFzc3dvcmQ6")
        else:
            self.finish_auth((self.auth_login_user or b"") + b"\0" + _b64(line))

    def check_plain(self, encoded: bytes) -> None:
        _authzid, _, rest = _b64(encoded).partition(b"\0")
        self.finish_auth(rest)

    def finish_auth(self, user_and_password: bytes) -> None:
        self.authenticated = user_and_password == self.credentials
        self.reply(b"235 2.7.0 Authentication successful" if self.authenticated else b"535 5.7.8 Bad credentials")


def _b64(value: bytes) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return b""


def _tls_server_context(options: SmtpSinkOptions) -> ssl.SSLContext | None:
    if options.cert_path is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(options.cert_path, options.key_path)
    return context


def run_smtp_sink(conn: Connection, options: SmtpSinkOptions) -> None:
    """The SMTP sink's process: AUTH always required; STARTTLS required when a certificate is given."""
    receipts = _Receipts()
    tls_context = _tls_server_context(options)
    credentials = options.credentials[0].encode() + b"\0" + options.credentials[1].encode()

    async def make_server(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractServer:
        if options.server == "aiosmtpd":
            return await _aiosmtpd_server(loop, receipts, options, tls_context)
        return await loop.create_server(
            lambda: _SmtpProtocol(receipts, credentials, tls_context), host=HOST, port=0, backlog=512
        )

    _serve(conn, receipts, make_server)


async def _aiosmtpd_server(
    loop: asyncio.AbstractEventLoop, receipts: _Receipts, options: SmtpSinkOptions, tls_context: ssl.SSLContext | None
) -> asyncio.AbstractServer:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    # aiosmtpd warns about AUTH over plaintext and a deprecated attribute on every session; a log
    # line per message would cost the sink more than the message.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    expected = (options.credentials[0].encode(), options.credentials[1].encode())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            receipts.add(envelope.content, _MESSAGE_ID)
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == expected
        return AuthResult(success=ok, handled=False)

    handler = Handler()

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname="localhost",
            tls_context=tls_context,
            require_starttls=tls_context is not None,
            auth_required=True,
            auth_require_tls=tls_context is not None,
            authenticator=authenticate,
            loop=loop,
        )

    return await loop.create_server(protocol, host=HOST, port=0, backlog=512)


# --- HTTP -----------------------------------------------------------------------------------


class _HttpProtocol(asyncio.Protocol):
    def __init__(self, receipts: _Receipts) -> None:
        self.receipts = receipts
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[: end + 2])  # keeps the last CRLF so every header starts after one
            length = _CONTENT_LENGTH.search(head)
            total = end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self.receipts.add(head, _DELIVERY_ID)
            self.transport.write(_HTTP_OK)
            if _CONNECTION_CLOSE.search(head):
                self.transport.close()
                return


def run_http_sink(conn: Connection) -> None:
    """The HTTP sink's process."""
    receipts = _Receipts()

    async def make_server(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractServer:
        return await loop.create_server(lambda: _HttpProtocol(receipts), host=HOST, port=0, backlog=512)

    _serve(conn, receipts, make_server)
