"""The email kind against a real SMTP server (aiosmtpd on loopback)."""

import socket

import pytest
from aiosmtpd.controller import Controller

from core.errors import ErrorCode
from notifications.channel_kinds.base import SendFailure
from notifications.channel_kinds.email import EmailKind
from notifications.models import Channel
from notifications.rendering import build_context
from providers.sender_cache import get_smtp_sender
from tests.notifications.builders import SESSION, SMTP_PASSWORD, email_channel, smtp_provider

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

KIND = EmailKind()
CONTEXT = build_context(
    event_type="session.started",
    payload={**SESSION, "session_name": "<b>Bold & brave</b>"},
    event_id="e-1",
    timestamp="2026-01-13T09:30:00Z",
    admin_panel_url="https://admin.example.com",
)


def channel(*, smtp: dict | None = None, auth: dict | None = None, secrets: dict | None = None, **message) -> Channel:
    return Channel(
        name="mail",
        channel_type="email",
        config={
            "message": {"from_email": "", "to_emails": ["ops@example.com", "dev@example.com"], **message},
            "smtp": smtp,
            "auth": auth,
        },
        secrets=secrets or {},
    )


def deliver_email(target: Channel, *, template: str = "Session {{ session_name }} ({{ session_id }})", subject=""):
    sender = get_smtp_sender()
    message = KIND.render(channel=target, message_template=template, subject_template=subject, context=CONTEXT)
    return KIND.send(channel=target, message=message, sender=sender, delivery_id="7d3c0a52-delivery")


def parts(raw_message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in raw_message.walk()
        if not part.is_multipart()
    }


def test_through_the_provider_a_text_body_an_html_alternative_and_proper_headers(smtp_server):
    server = smtp_server(auth_require_tls=False)
    smtp_provider(server.host, server.port)

    deliver_email(channel(subject_template="[{{ event_type }}] {{ session_id }}"))

    (mail,) = server.messages
    message = mail.message
    assert mail.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert message["From"] == "Notification Service <no-reply@example.com>"
    assert message["Subject"] == "[session.started] s-1"
    assert message["Message-ID"] == "<7d3c0a52-delivery@notification-service>"
    assert message["Date"].endswith("GMT")
    body = parts(message)
    assert body["text/plain"].startswith("Session <b>Bold & brave</b> (s-1)")
    assert "Admin panel: https://admin.example.com" in body["text/plain"]
    # The HTML layout escapes what the payload brought.
    assert "Session &lt;b&gt;Bold &amp; brave&lt;/b&gt; (s-1)" in body["text/html"]
    assert '<a href="https://admin.example.com"' in body["text/html"]


def test_the_rule_subject_wins_and_the_channel_from_address_wins(smtp_server):
    server = smtp_server(auth_require_tls=False)
    smtp_provider(server.host, server.port)

    deliver_email(channel(from_email="team@example.com", subject_template="channel"), subject="rule {{ status }}")

    message = server.messages[0].message
    assert (message["Subject"], message["From"]) == ("rule RUNNING", "team@example.com")


def test_an_empty_template_sends_a_default_text_listing_the_event(smtp_server):
    server = smtp_server(auth_require_tls=False)
    smtp_provider(server.host, server.port)

    deliver_email(channel(), template="")

    text = parts(server.messages[0].message)["text/plain"]
    assert text.startswith("Event session.started at 2026-01-13T09:30:00Z")
    assert "session_id: s-1" in text and "status: RUNNING" in text


def test_the_channels_own_smtp_block_with_credentials(smtp_server):
    server = smtp_server(credentials=("mailer", SMTP_PASSWORD), auth_require_tls=False)
    target = channel(
        smtp={"host": server.host, "port": server.port, "use_tls": False, "timeout": 5.0},
        auth={"username": "mailer"},
        secrets={"password": SMTP_PASSWORD},
        from_email="alerts@example.com",
    )

    assert deliver_email(target).status_code == 250

    assert server.auth_attempts == [("mailer", True)]
    assert server.messages[0].mail_from == "alerts@example.com"


def test_refused_credentials_are_permanent_and_the_password_never_shows(smtp_server):
    server = smtp_server(credentials=("mailer", "the-right-one"), auth_require_tls=False)
    target = channel(
        smtp={"host": server.host, "port": server.port, "use_tls": False, "timeout": 5.0},
        auth={"username": "mailer"},
        secrets={"password": SMTP_PASSWORD},
        from_email="alerts@example.com",
    )

    with pytest.raises(SendFailure) as error:
        deliver_email(target)

    assert (error.value.code, error.value.transient, error.value.status_code) == (
        ErrorCode.SMTP_AUTH_FAILED,
        False,
        535,
    )
    assert SMTP_PASSWORD not in repr(error.value) + error.value.excerpt


class _Refuser:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        return self.reply


@pytest.mark.parametrize(("reply", "transient"), [("550 5.1.1 <ops@example.com> unknown", False), ("451 busy", True)])
def test_smtp_5xx_is_permanent_and_4xx_transient_and_recipients_are_redacted(reply, transient):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Controller(_Refuser(reply), hostname="127.0.0.1", port=port)
    server.start()
    try:
        with pytest.raises(SendFailure) as error:
            deliver_email(
                channel(
                    smtp={"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 5.0},
                    from_email="alerts@example.com",
                )
            )
    finally:
        server.stop()
    assert (error.value.code, error.value.transient) == (ErrorCode.SMTP_SEND_FAILED, transient)
    assert error.value.status_code == int(reply[:3])
    assert "ops@example.com" not in error.value.message + error.value.excerpt


def test_an_unreachable_server_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = channel(smtp={"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 2.0}, from_email="a@b.co")
    with pytest.raises(SendFailure) as error:
        deliver_email(target)
    assert (error.value.code, error.value.transient) == (ErrorCode.SMTP_CONNECT_FAILED, True)


def test_no_provider_and_no_smtp_block_is_a_skip_not_a_failure():
    assert KIND.skip_reason(channel=channel(), sender=None) == "no_smtp_provider"
    own = channel(smtp={"host": "127.0.0.1", "port": 25, "use_tls": False, "timeout": 1.0})
    assert KIND.skip_reason(channel=own, sender=None) == ""


def test_the_layouts_escape_the_html_part_and_keep_the_text_part_as_written(db):
    context = build_context(
        event_type="session.started", payload=SESSION, event_id="e-1", admin_panel_url="https://admin.example.com/"
    )
    template = "<b>{{ status }}</b> & co\nline 2"
    rendered = EmailKind().render(
        channel=email_channel(), message_template=template, subject_template="", context=context
    )

    assert rendered.body.startswith("<b>RUNNING</b> & co\nline 2\n\n--\nAdmin panel: https://admin.example.com/")
    assert "&lt;b&gt;RUNNING&lt;/b&gt; &amp; co<br>line 2" in rendered.html
    assert '<a href="https://admin.example.com/"' in rendered.html
    assert "<b>" not in rendered.html


def test_an_address_that_cannot_be_composed_is_a_permanent_failure_not_a_crash(db):
    channel = email_channel(smtp={"host": "127.0.0.1", "port": 9, "use_tls": False})  # never reached
    # Past the schema (as an edit straight in the database would be): two addresses in one entry.
    channel.config["message"]["to_emails"] = ["ops@example.com, dev@example.com"]
    context = build_context(event_type="session.started", payload=SESSION, event_id="e-1")
    rendered = EmailKind().render(channel=channel, message_template="", subject_template="", context=context)

    with pytest.raises(SendFailure) as caught:
        EmailKind().send(channel=channel, message=rendered, sender=None, delivery_id="d-1")

    assert (caught.value.code, caught.value.transient) == (ErrorCode.SMTP_SEND_FAILED, False)
    assert "could not be composed" in caught.value.message
