"""SMTP connections for email channels and the runtime provider, on Django's SMTP EmailBackend.

TLS always verifies certificates (plus NOTIFICATION_SMTP_CA_BUNDLE for a private CA): implicit TLS
on port 465, required STARTTLS on any other port, plaintext only when TLS is switched off.
Failures come out as SmtpError with a stable code and whether a retry could help.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from functools import cached_property
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
    context = ssl.create_default_context(cafile=settings.NOTIFICATION_SMTP_CA_BUNDLE)
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


def send_messages(backend: VerifyingEmailBackend, messages: list[Any]) -> int:
    try:
        return backend.send_messages(messages)
    except Exception as exc:
        raise classify(exc, stage="send") from None
