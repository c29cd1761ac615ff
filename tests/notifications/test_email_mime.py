"""The composed email (notifications/channel_kinds/email_mime.py), read back by the stdlib's parser."""

from email import message_from_bytes, policy

import pytest

from notifications.channel_kinds.email_mime import compose


def content(part) -> str:
    return part.get_content().replace("\r\n", "\n")  # the parser keeps the wire's line ends


def parsed(**overrides):
    fields = {
        "from_email": "Notifications <no-reply@example.com>",
        "to": ["ops@example.com"],
        "subject": "[session.started] s-1",
        "text": "Session s-1 is RUNNING\n",
        "html": "<p>Session s-1 is RUNNING</p>\n",
        "message_id": "<d-1@notification.local>",
        "date": "Mon, 23 Nov 2026 19:00:00 GMT",
    }
    mail = compose(**{**fields, **overrides})
    return mail, message_from_bytes(mail.data, policy=policy.default)


def test_a_text_body_with_an_html_alternative_and_the_headers_django_would_set():
    mail, message = parsed()

    assert (mail.envelope_from, mail.recipients) == ("no-reply@example.com", ("ops@example.com",))
    assert message.get_content_type() == "multipart/alternative"
    assert (message["From"], message["To"], message["Subject"]) == (
        "Notifications <no-reply@example.com>",
        "ops@example.com",
        "[session.started] s-1",
    )
    assert (message["Message-ID"], message["MIME-Version"]) == ("<d-1@notification.local>", "1.0")
    assert b"\r\nDate: Mon, 23 Nov 2026 19:00:00 GMT\r\n" in mail.data
    text, html = message.iter_parts()
    assert (text.get_content_type(), content(text)) == ("text/plain", "Session s-1 is RUNNING\n")
    assert (html.get_content_type(), content(html)) == ("text/html", "<p>Session s-1 is RUNNING</p>\n")
    assert not message.defects and not text.defects and not html.defects
    assert all(line.endswith(b"\r") or not line for line in mail.data.split(b"\n")[:-1])  # CRLF only


def test_non_ascii_subject_name_and_domain_are_encoded_and_read_back():
    mail, message = parsed(
        from_email="Équipe Ops <ops@exämple.com>",
        to=["first@example.com", "zweite@bücher.example"],
        subject="Sitzung s-1 läuft — " + "lang " * 30,
        text="Grüße\n",
    )

    assert mail.data.isascii() is False  # the body is 8bit UTF-8...
    head = mail.data.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # ...the headers are not
    assert message["Subject"] == "Sitzung s-1 läuft — " + "lang " * 30
    assert message["From"].addresses[0].display_name == "Équipe Ops"
    assert mail.envelope_from == "ops@xn--exmple-cua.com"
    assert mail.recipients == ("first@example.com", "zweite@xn--bcher-kva.example")
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert content(next(message.iter_parts())) == "Grüße\n"


@pytest.mark.parametrize("line", ["x" * 1200, "ü" * 600])
def test_a_line_too_long_for_smtp_goes_quoted_printable(line):
    mail, message = parsed(text=line + "\nnext\n")

    text = next(message.iter_parts())
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(text) == line + "\nnext\n"
    assert max(len(raw) for raw in mail.data.split(b"\r\n")) <= 998


def test_each_message_has_its_own_boundary():
    first, _ = parsed()
    second, _ = parsed()
    boundary = first.data.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    assert boundary not in second.data
