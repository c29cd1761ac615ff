"""The bytes of a notification email: a text body with an HTML alternative, and its envelope.

Composed from the email package's encoders (RFC 2047 words, quoted-printable) and Django's
address sanitising, but not through its MIME classes and generator: building and flattening an
EmailMultiAlternatives costs ~0.7 ms of CPU per message (header folding, policy lookups), twice
what sending it on a pooled connection costs. The message has one fixed shape, every input is
checked before it gets here (the subject cannot hold a line break, addresses are validated by the
channel schema), and the result is what Django would send: the same headers, `multipart/
alternative`, UTF-8 parts in 8bit (quoted-printable when a line is too long for SMTP).
"""

from __future__ import annotations

import re
import uuid
from email import quoprimime
from email.header import Header
from email.utils import parseaddr
from functools import lru_cache

from django.core.mail.message import sanitize_address

from providers.smtp import OutgoingEmail

CRLF = "\r\n"
# RFC 5321 4.5.3.1.6: a line of at most 998 octets before its CRLF.
MAX_LINE_OCTETS = 998
# RFC 5322 2.1.1: a header line should stay within 78 characters.
FOLD_AT = 78
# The line breaks the email package's generator turns into CRLF.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


@lru_cache(maxsize=1024)
def _address(value: str) -> tuple[str, str]:
    """The header form (IDNA domain, RFC 2047 display name) and the bare address of `value`."""
    sanitized = sanitize_address(value, "utf-8")
    return sanitized, parseaddr(sanitized)[1]


def _unstructured(text: str) -> str:
    if text.isascii() and len(text) <= FOLD_AT - len("Subject: "):
        return text
    return Header(text, "utf-8", header_name="Subject").encode(linesep=CRLF)


def _part(content_type: str, text: str) -> str:
    text = LINE_BREAK.sub(CRLF, text)
    if all(len(line.encode()) <= MAX_LINE_OCTETS for line in text.split(CRLF)):
        encoding, payload = ("7bit" if text.isascii() else "8bit"), text
    else:
        # quoprimime encodes characters as octets: hand it the UTF-8 octets, as the email package does.
        encoding, payload = "quoted-printable", quoprimime.body_encode(text.encode().decode("latin-1"), eol=CRLF)
    return (
        f'Content-Type: {content_type}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}{payload}{CRLF}"
    )


def compose(
    *, from_email: str, to: list[str], subject: str, text: str, html: str, message_id: str, date: str
) -> OutgoingEmail:
    sender, envelope_from = _address(from_email)
    recipients = [_address(address) for address in to]
    boundary = f"=_{uuid.uuid4().hex}"  # random: it cannot occur in the parts by accident
    headers = [
        f"From: {sender}",
        f"To: {(',' + CRLF + ' ').join(header for header, _ in recipients)}",
        f"Subject: {_unstructured(subject)}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
    ]
    data = (
        CRLF.join(headers)
        + CRLF
        + CRLF
        + f"--{boundary}{CRLF}{_part('text/plain', text)}"
        + f"--{boundary}{CRLF}{_part('text/html', html)}"
        + f"--{boundary}--{CRLF}"
    )
    return OutgoingEmail(
        envelope_from=envelope_from,
        recipients=tuple(address for _, address in recipients),
        data=data.encode(),
    )
