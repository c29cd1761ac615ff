"""The scan that every API test runs after itself: it sees the responses and recognises a leak."""

from tests.core.api_fixtures import (
    EMAIL_PASSWORD,
    PROVIDER_PASSWORD,
    PROVIDER_USERNAME,
    WEBHOOK_HEADER_VALUE,
    WEBHOOK_SIGNING_SECRET,
    RecordedResponse,
    ResponseLog,
    stored_secrets,
)


def test_the_stored_secrets_are_collected(webhook_channel, email_channel, provider):
    assert stored_secrets() == {
        WEBHOOK_HEADER_VALUE,
        WEBHOOK_SIGNING_SECRET,
        EMAIL_PASSWORD,
        PROVIDER_USERNAME,
        PROVIDER_PASSWORD,
    }


def test_every_response_is_recorded(client_for, response_log):
    before = len(response_log.responses)
    client_for("viewer").get("/api/v1/notifications/channels/")
    (recorded,) = response_log.responses[before:]
    assert (recorded.method, recorded.path, recorded.status) == ("GET", "/api/v1/notifications/channels/", 200)
    assert recorded.body.startswith('{"count":0')


def test_a_leak_is_found():
    log = ResponseLog(secrets={"s3cr3t-value", "other-secret"})
    log.responses = [
        RecordedResponse("t", "GET", "/api/x/", 200, '{"ok": true}'),
        RecordedResponse("t", "GET", "/api/y/", 200, '{"password": "s3cr3t-value"}'),
    ]
    assert log.leaks() == ["t: GET /api/y/ -> 200 holds 's3cr3t-value'"]
    assert ResponseLog().leaks() == []
