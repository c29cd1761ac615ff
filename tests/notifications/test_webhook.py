"""The webhook kind against a real HTTP server on loopback."""

import hashlib
import hmac
import json
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from werkzeug import Response

from core.errors import ErrorCode
from notifications import signing
from notifications.channel_kinds.base import SendFailure
from notifications.channel_kinds.webhook import WebhookKind, content_type_for, http_session, retry_after_seconds
from notifications.models import Channel
from notifications.rendering import build_context
from tests.support.http import QuickStopHTTPServer
from tests.support.smtp import make_self_signed_cert

KIND = WebhookKind()
TOKEN = "Bearer very-secret-token"


def channel(url: str, *, secrets: dict | None = None, **config) -> Channel:
    return Channel(
        name="hook",
        channel_type="webhook",
        config={"url": url, "method": "POST", "timeout": 2.0, "success_status_codes": [], **config},
        secrets=secrets or {},
    )


def send(target: Channel, body: str = '{"ok": true}', delivery_id: str = "d-1"):
    message = KIND.render(channel=target, message_template=body, subject_template="", context={})
    return KIND.send(channel=target, message=message, sender=None, delivery_id=delivery_id)


def test_method_headers_query_string_and_delivery_id_are_honoured(webhook_receiver):
    receiver = webhook_receiver()
    target = channel(receiver.url + "?team=ops&x=1", method="PUT", secrets={"headers": {"Authorization": TOKEN}})

    result = send(target, body="plain words", delivery_id="3f1c")

    (request,) = receiver.requests
    assert (request.method, request.query_string, request.text) == ("PUT", "team=ops&x=1", "plain words")
    assert request.headers["Authorization"] == TOKEN
    assert request.headers["X-Notification-Delivery-Id"] == "3f1c"
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "X-Notification-Signature" not in request.headers
    assert (result.status_code, result.excerpt) == (200, "ok")


def test_an_empty_template_sends_the_default_json_envelope(webhook_receiver):
    receiver = webhook_receiver()
    target = channel(receiver.url)
    context = build_context(
        event_type="session.started", payload={"session_id": "s-1"}, event_id="e-1", timestamp="2026-01-13T09:30:00Z"
    )

    message = KIND.render(channel=target, message_template="", subject_template="", context=context)
    KIND.send(channel=target, message=message, sender=None, delivery_id="d-1")

    (request,) = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "event_type": "session.started",
        "event_id": "e-1",
        "timestamp": "2026-01-13T09:30:00Z",
        "data": {"session_id": "s-1"},
    }


@pytest.mark.parametrize(
    ("body", "content_type"),
    [('{"a": 1}', "application/json"), ("[1, 2]", "application/json"), ("{not json", "text/plain; charset=utf-8")],
)
def test_the_content_type_follows_the_body(body, content_type):
    assert content_type_for(body) == content_type


def test_the_signature_verifies_with_the_documented_algorithm(webhook_receiver):
    receiver = webhook_receiver()
    secret = "whsec-0123456789abcdef"
    body = '{"text": "Session s-1 is RUNNING, \\u00e9t\\u00e9"}'

    send(channel(receiver.url, secrets={"signing_secret": secret}), body=body)

    (request,) = receiver.requests
    timestamp = request.headers["X-Notification-Timestamp"]
    assert abs(int(timestamp) - time.time()) < 60
    # docs/webhooks.md: HMAC-SHA256 with the secret over "<timestamp>.<raw body>", hex, "sha256=" prefix.
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Notification-Signature"] == f"sha256={expected}"
    assert signing.verify(
        secret, timestamp=timestamp, body=request.text, signature_header=request.headers["X-Notification-Signature"]
    )
    assert not signing.verify("wrong-secret-0123456", timestamp=timestamp, body=request.text, signature_header=expected)
    assert not signing.verify(
        secret,
        timestamp=str(int(timestamp) - 3600),
        body=request.text,
        signature_header=signing.signature(secret, int(timestamp) - 3600, request.text),
    )


def test_success_status_codes_decide_what_counts_as_delivered(webhook_receiver):
    accepted = webhook_receiver(responses=[(202, {}, "")])
    assert send(channel(accepted.url, success_status_codes=[202])).status_code == 202

    plain_ok = webhook_receiver(responses=[(200, {}, "")])
    with pytest.raises(SendFailure) as error:
        send(channel(plain_ok.url, success_status_codes=[202]))
    assert (error.value.code, error.value.transient, error.value.status_code) == (
        ErrorCode.WEBHOOK_BAD_STATUS,
        False,
        200,
    )


@pytest.mark.parametrize(("status", "transient"), [(500, True), (502, True), (408, True), (429, True), (400, False)])
def test_statuses_are_classified(webhook_receiver, status, transient):
    receiver = webhook_receiver(responses=[(status, {}, "")])
    with pytest.raises(SendFailure) as error:
        send(channel(receiver.url))
    assert (error.value.transient, error.value.status_code) == (transient, status)


def test_503_and_429_carry_retry_after_in_either_form(webhook_receiver):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    receiver = webhook_receiver(responses=[(503, {"Retry-After": later}, ""), (429, {"Retry-After": "7"}, "")])
    target = channel(receiver.url)
    with pytest.raises(SendFailure) as first:
        send(target)
    with pytest.raises(SendFailure) as second:
        send(target)
    assert 25 <= first.value.retry_after <= 30
    assert second.value.retry_after == 7


def test_retry_after_parsing():
    now = datetime(2026, 1, 13, 9, 30, tzinfo=UTC)
    assert retry_after_seconds("120", now=now) == 120
    assert retry_after_seconds("Tue, 13 Jan 2026 09:31:00 GMT", now=now) == 60
    assert retry_after_seconds("Tue, 13 Jan 2026 09:00:00 GMT", now=now) == 0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None) is None


def test_redirects_are_followed_a_limited_number_of_times(settings, webhook_receiver):
    final = webhook_receiver(path="/final")
    hop = webhook_receiver(path="/hop", responses=[(308, {"Location": final.url}, "")])
    result = send(channel(hop.url), body='{"keep": "me"}')
    assert result.status_code == 200
    # 307/308 keep the method and the body.
    assert (final.requests[0].method, final.requests[0].text) == ("POST", '{"keep": "me"}')

    settings.NOTIFICATION_WEBHOOK_MAX_REDIRECTS = 2
    loop = webhook_receiver(path="/loop")
    loop.responses = [(302, {"Location": loop.url}, "")]
    with pytest.raises(SendFailure) as error:
        send(channel(loop.url))
    assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_BAD_STATUS, False)
    assert "too many redirects" in error.value.message
    assert len(loop.requests) == 3


def test_a_redirect_to_another_origin_does_not_carry_the_channel_headers(webhook_receiver):
    elsewhere = webhook_receiver()
    origin = webhook_receiver(responses=[(307, {"Location": elsewhere.url}, "")])

    send(channel(origin.url, secrets={"headers": {"Authorization": TOKEN}, "signing_secret": "s" * 20}))

    assert origin.requests[0].headers["Authorization"] == TOKEN
    (forwarded,) = elsewhere.requests
    assert "Authorization" not in forwarded.headers
    assert forwarded.headers["X-Notification-Delivery-Id"] == "d-1"


def test_a_non_http_redirect_target_is_refused(webhook_receiver):
    receiver = webhook_receiver(responses=[(302, {"Location": "file:///etc/passwd"}, "")])
    with pytest.raises(SendFailure) as error:
        send(channel(receiver.url))
    assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_ADDRESS_REFUSED, False)


def test_the_response_excerpt_is_short_and_redacted(http_server):
    server = http_server()

    def echo(request):
        # A careless server that echoes what it got, then rambles on.
        return Response(f"{request.headers['Authorization']} from ops@example.com " + "x" * 5000, status=400)

    server.expect_request("/hook").respond_with_handler(echo)
    with pytest.raises(SendFailure) as error:
        send(channel(server.url_for("/hook"), secrets={"headers": {"Authorization": TOKEN}}))

    excerpt = error.value.excerpt
    assert len(excerpt) <= 200
    assert excerpt.startswith("*** from <address> xxx")
    assert TOKEN not in excerpt and "very-secret-token" not in excerpt and "ops@example.com" not in excerpt


def test_a_slow_server_is_a_transient_timeout(http_server):
    server = http_server()

    def slow(request):
        time.sleep(0.6)
        return Response("late")

    server.expect_request("/hook").respond_with_handler(slow)
    with pytest.raises(SendFailure) as error:
        send(channel(server.url_for("/hook"), timeout=0.2))
    assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_TIMEOUT, True)


def test_a_refused_connection_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SendFailure) as error:
        send(channel(f"http://127.0.0.1:{port}/hook"))
    assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_CONNECT_FAILED, True)
    assert error.value.message == "Could not connect to 127.0.0.1."  # no path, no query string


def test_one_pooled_session_per_process_that_keeps_no_cookies(webhook_receiver):
    assert http_session() is http_session()
    receiver = webhook_receiver(responses=[(200, {"Set-Cookie": "sid=abc; Path=/"}, "")])
    target = channel(receiver.url)
    send(target)
    send(target)
    assert "Cookie" not in receiver.requests[1].headers
    assert len(http_session().cookies) == 0


def test_https_to_a_pinned_address_still_checks_the_certificate_against_the_host_name(tmp_path, monkeypatch):
    cert = make_self_signed_cert(tmp_path)  # valid for "localhost" and 127.0.0.1
    server = QuickStopHTTPServer(host="127.0.0.1", port=0, ssl_context=cert.server_context())
    server.expect_request("/hook").respond_with_data("ok")
    server.start()
    try:
        url = f"https://localhost:{server.port}/hook"
        with pytest.raises(SendFailure) as error:
            send(channel(url))
        assert (error.value.code, error.value.transient) == (ErrorCode.WEBHOOK_CONNECT_FAILED, False)
        assert "certificate not trusted" in error.value.message

        monkeypatch.setattr(http_session(), "verify", str(cert.cert_path))  # trust the test CA
        assert send(channel(url)).status_code == 200
        (request, _), *_ = server.log
        assert request.headers["Host"] == f"localhost:{server.port}"
    finally:
        server.stop()
