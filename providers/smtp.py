"""SMTP connections for email channels and the runtime provider, on Django's SMTP EmailBackend.

TLS always verifies certificates (plus NOTIFICATION_SMTP_CA_BUNDLE for a private CA): implicit TLS
on port 465, required STARTTLS on any other port, plaintext only when TLS is switched off.
Failures come out as SmtpError with a stable code and whether a retry could help.

Deliveries send through `pooled_send`: each process keeps its open, authenticated connections per
endpoint, since connecting, STARTTLS and AUTH cost several round trips and a TLS handshake, several
times the cost of the message itself. A connection is closed instead of reused after any error, when
it has been idle longer than NOTIFICATION_SMTP_POOL_IDLE_SECONDS, and when its endpoint is dropped
(`close_pooled`, which the sender cache calls when the provider changes).
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend

from core.errors import DomainError, ErrorCode

IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where and how to connect. Its repr hides the credentials."""

    host: str
    port: int
    tls: bool
    timeout: float = 30.0
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:
        return (
            f"SmtpEndpoint(host={self.host!r}, port={self.port}, tls={self.tls}, "
            f"username={'***' if self.username else ''!r}, password={'***' if self.password else ''!r})"
        )

    __str__ = __repr__


class SmtpError(DomainError):
    """`transient` says whether a retry may succeed; `smtp_code` is the server's reply code, if any."""

    def __init__(self, message: str, *, code: ErrorCode, transient: bool, smtp_code: int | None = None):
        super().__init__(message, code=code)
        self.transient = transient
        self.smtp_code = smtp_code


def tls_context() -> ssl.SSLContext:
    """The verifying client context, built once per CA bundle (and its modification time) per process:
    loading the trust store costs milliseconds, and a context is safe to share."""
    cafile = settings.NOTIFICATION_SMTP_CA_BUNDLE
    return _tls_context(cafile, os.stat(cafile).st_mtime_ns if cafile else None)


@lru_cache(maxsize=4)
def _tls_context(cafile: str | None, _mtime_ns: int | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class VerifyingEmailBackend(EmailBackend):
    """Django's SMTP backend with a verifying TLS context that honours the CA-bundle setting."""

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        return tls_context()


def build_backend(endpoint: SmtpEndpoint) -> VerifyingEmailBackend:
    implicit = endpoint.tls and endpoint.port == IMPLICIT_TLS_PORT
    return VerifyingEmailBackend(
        host=endpoint.host,
        port=endpoint.port,
        username=endpoint.username,
        password=endpoint.password,
        use_ssl=implicit,
        use_tls=endpoint.tls and not implicit,
        timeout=endpoint.timeout,
    )


def _reply_text(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return text[:200]


def classify(exc: BaseException, *, stage: str) -> SmtpError:
    """Maps an exception from smtplib/ssl/socket to an SmtpError. `stage` is 'connect' or 'send'."""
    if isinstance(exc, SmtpError):
        return exc
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpError(
            f"Authentication refused ({exc.smtp_code}).",
            code=ErrorCode.SMTP_AUTH_FAILED,
            transient=400 <= exc.smtp_code < 500,
            smtp_code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpError(
            f"The server does not offer what is required: {exc}", code=ErrorCode.SMTP_TLS_FAILED, transient=False
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpError(
            f"TLS certificate not trusted: {exc.verify_message}", code=ErrorCode.SMTP_TLS_FAILED, transient=False
        )
    if isinstance(exc, ssl.SSLError):
        return SmtpError(f"TLS handshake failed: {exc.reason or exc}", code=ErrorCode.SMTP_TLS_FAILED, transient=True)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = all(400 <= code < 500 for code in codes)
        return SmtpError(
            f"Recipients refused ({', '.join(map(str, sorted(set(codes))))}).",
            code=ErrorCode.SMTP_SEND_FAILED,
            transient=transient,
            smtp_code=codes[0] if codes else None,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return SmtpError(
            f"Server replied {exc.smtp_code}: {_reply_text(exc)}",
            code=ErrorCode.SMTP_SEND_FAILED if stage == "send" else ErrorCode.SMTP_CONNECT_FAILED,
            transient=exc.smtp_code < 500,
            smtp_code=exc.smtp_code,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected | socket.timeout | TimeoutError | ConnectionError | OSError):
        return SmtpError(
            f"Could not talk to the SMTP server: {type(exc).__name__}",
            code=ErrorCode.SMTP_CONNECT_FAILED if stage == "connect" else ErrorCode.SMTP_SEND_FAILED,
            transient=True,
        )
    if isinstance(exc, smtplib.SMTPException):
        return SmtpError(f"SMTP error: {type(exc).__name__}", code=ErrorCode.SMTP_SEND_FAILED, transient=True)
    return SmtpError(f"Unexpected SMTP failure: {type(exc).__name__}", code=ErrorCode.SMTP_SEND_FAILED, transient=True)


def open_backend(endpoint: SmtpEndpoint) -> VerifyingEmailBackend:
    """Connects, secures and authenticates; raises SmtpError. The caller closes the backend."""
    backend = build_backend(endpoint)
    try:
        backend.open()
    except Exception as exc:
        with contextlib.suppress(Exception):  # best effort after a failure
            backend.close()
        raise classify(exc, stage="connect") from None
    return backend


@dataclass(frozen=True)
class OutgoingEmail:
    """A composed message and its envelope: MAIL FROM, RCPT TO, DATA."""

    envelope_from: str
    recipients: tuple[str, ...]
    data: bytes


def send_messages(backend: VerifyingEmailBackend, messages: list[Any]) -> int:
    try:
        return backend.send_messages(messages)
    except Exception as exc:
        raise classify(exc, stage="send") from None


# A reused connection that fails like this was most likely dropped by the server while idle (or
# is being shut down with 421): the message is sent again once on a new connection.
_STALE_ERRORS = (smtplib.SMTPServerDisconnected, ConnectionError)
_SERVICE_CLOSING = 421
# Idle connections kept per endpoint; more are only needed with a threaded worker pool.
_MAX_IDLE_PER_ENDPOINT = 4


def _stale(exc: BaseException) -> bool:
    return isinstance(exc, _STALE_ERRORS) or getattr(exc, "smtp_code", None) == _SERVICE_CLOSING


def _drop(backend: VerifyingEmailBackend) -> None:
    """Closes the socket without QUIT: the server may be gone, and nobody should wait for it."""
    connection, backend.connection = backend.connection, None
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()


class SmtpPool:
    """The open, authenticated connections of this process, per endpoint, each used by one send at a time.

    A forked child (a prefork worker) starts with an empty pool rather than share its parent's sockets.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._idle: dict[SmtpEndpoint, list[tuple[VerifyingEmailBackend, float]]] = {}
        # When each endpoint was last closed: a connection checked out before then is not taken back.
        self._closed_at: dict[SmtpEndpoint, float] = {}

    def _checkout(self, endpoint: SmtpEndpoint, now: float) -> VerifyingEmailBackend | None:
        """An idle connection to `endpoint` fresh enough to reuse, or None; closes expired ones."""
        expired: list[VerifyingEmailBackend] = []
        found = None
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._idle, self._closed_at = os.getpid(), {}, {}
            horizon = now - settings.NOTIFICATION_SMTP_POOL_IDLE_SECONDS
            for key in list(self._idle):
                expired += [backend for backend, used in self._idle[key] if used < horizon]
                self._idle[key] = [(backend, used) for backend, used in self._idle[key] if used >= horizon]
                if not self._idle[key]:
                    del self._idle[key]
            if self._idle.get(endpoint):
                found = self._idle[endpoint].pop()[0]
        for backend in expired:
            _drop(backend)
        return found

    def _checkin(self, endpoint: SmtpEndpoint, backend: VerifyingEmailBackend, checked_out: float) -> None:
        with self._lock:
            idle = self._idle.setdefault(endpoint, [])
            keep = (
                self._pid == os.getpid()
                and self._closed_at.get(endpoint, -1.0) < checked_out
                and len(idle) < _MAX_IDLE_PER_ENDPOINT
            )
            if keep:
                idle.append((backend, time.monotonic()))
                return
        _drop(backend)

    def send(self, endpoint: SmtpEndpoint, mail: OutgoingEmail) -> None:
        """Sends on a pooled connection (opened when there is none); raises SmtpError."""
        checked_out = time.monotonic()
        backend = self._checkout(endpoint, checked_out)
        if backend is not None:
            try:
                _transmit(backend, mail)
            except Exception as exc:
                _drop(backend)
                if not _stale(exc):
                    raise classify(exc, stage="send") from None
            else:
                self._checkin(endpoint, backend, checked_out)
                return
        backend = open_backend(endpoint)
        try:
            _transmit(backend, mail)
        except Exception as exc:
            _drop(backend)
            raise classify(exc, stage="send") from None
        self._checkin(endpoint, backend, checked_out)

    def close(self, endpoint: SmtpEndpoint) -> None:
        """Closes the connections to `endpoint`: the idle ones now, one in use when its send ends."""
        with self._lock:
            self._closed_at[endpoint] = time.monotonic()
            idle = self._idle.pop(endpoint, []) if self._pid == os.getpid() else []
        for backend, _ in idle:
            _drop(backend)


_pool = SmtpPool()


def _transmit(backend: VerifyingEmailBackend, mail: OutgoingEmail) -> None:
    # What Django's backend does for a message it built, for a message composed already.
    connection = backend.connection
    connection.ehlo_or_helo_if_needed()  # done already after STARTTLS or AUTH, not on a bare connection
    if connection.has_extn("pipelining"):
        sendmail_pipelined(connection, mail)
    else:
        connection.sendmail(mail.envelope_from, list(mail.recipients), mail.data)


_ACCEPTED = (250, 251)
_START_MAIL_INPUT = 354
_LEADING_DOT = re.compile(rb"(?m)^\.")


def sendmail_pipelined(connection: smtplib.SMTP, mail: OutgoingEmail) -> None:
    """`smtplib.SMTP.sendmail` with MAIL, RCPT and DATA in one write, to a server that offers
    PIPELINING (RFC 2920): one round trip for the envelope rather than one per command, which on a
    busy worker is most of a message's time. It raises what sendmail raises. No RSET after a
    refusal: the pool drops a connection after any error, so none is left in an unknown state.
    """
    size = f" SIZE={len(mail.data)}" if connection.has_extn("size") else ""
    commands = [f"MAIL FROM:{smtplib.quoteaddr(mail.envelope_from)}{size}"]
    commands += [f"RCPT TO:{smtplib.quoteaddr(recipient)}" for recipient in mail.recipients]
    connection.send("".join(f"{command}\r\n" for command in [*commands, "DATA"]))
    # Every reply is read before any is acted on, so that none is left to be taken for another's.
    sender_reply = connection.getreply()
    recipient_replies = {recipient: connection.getreply() for recipient in mail.recipients}
    data_code, data_message = connection.getreply()
    if sender_reply[0] != 250:
        raise smtplib.SMTPSenderRefused(*sender_reply, mail.envelope_from)
    refused = {recipient: reply for recipient, reply in recipient_replies.items() if reply[0] not in _ACCEPTED}
    if len(refused) == len(mail.recipients):
        raise smtplib.SMTPRecipientsRefused(refused)
    if data_code != _START_MAIL_INPUT:
        raise smtplib.SMTPDataError(data_code, data_message)
    body = _LEADING_DOT.sub(b"..", mail.data)
    connection.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    code, message = connection.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, message)


def pooled_send(endpoint: SmtpEndpoint, mail: OutgoingEmail) -> None:
    """Sends `mail` through this process's pooled connection to `endpoint`; raises SmtpError."""
    _pool.send(endpoint, mail)


def close_pooled(endpoint: SmtpEndpoint) -> None:
    """Closes this process's connections to `endpoint`, e.g. after the provider changed."""
    _pool.close(endpoint)
