"""channels/ over HTTP: CRUD, secrets kept and never shown, validate against a real webhook server."""

import pytest
from pytest_httpserver import HTTPServer

from notifications.models import Channel
from tests.core.api_fixtures import (
    API,
    EMAIL_PASSWORD,
    WEBHOOK_HEADER_VALUE,
    WEBHOOK_SIGNING_SECRET,
    email_config,
    webhook_config,
)
from tests.factories import RuleFactory

CHANNELS = f"{API}channels/"


@pytest.fixture
def writer(client_for):
    return client_for("writer")


def test_create_read_list_update_delete(writer):
    created = writer.post(CHANNELS, {"name": "  hooks ", "channel_type": "webhook", "config": webhook_config()})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["name"] == "hooks"
    assert body["channel_type"] == "webhook"
    assert body["enabled"] is True
    assert body["created_by"] == "writer"
    assert body["config"] == {
        "url": "https://hooks.example.com/in?team=ops",
        "method": "POST",
        "timeout": 5.0,
        "success_status_codes": [],
        "header_names": ["X-Api-Key"],
        "has_signing_secret": True,
    }
    url = f"{CHANNELS}{body['id']}/"

    assert writer.get(url).json() == body
    listed = writer.get(CHANNELS).json()
    assert listed["count"] == 1
    assert listed["results"] == [body]

    updated = writer.patch(url, {"description": "on-call", "enabled": False})
    assert updated.status_code == 200
    assert updated.json()["description"] == "on-call"
    assert updated.json()["enabled"] is False

    assert writer.delete(url).status_code == 204
    assert writer.get(url).status_code == 404
    assert not Channel.objects.exists()


def test_patch_config_without_secrets_keeps_the_stored_ones(writer, webhook_channel):
    url = f"{CHANNELS}{webhook_channel.id}/"
    response = writer.patch(url, {"config": {"url": "https://hooks.example.com/v2", "timeout": 3}})
    assert response.status_code == 200, response.json()
    assert response.json()["config"]["header_names"] == ["X-Api-Key"]
    assert response.json()["config"]["has_signing_secret"] is True
    webhook_channel.refresh_from_db()
    assert webhook_channel.config["url"] == "https://hooks.example.com/v2"
    assert webhook_channel.secrets == {
        "headers": {"X-Api-Key": WEBHOOK_HEADER_VALUE},
        "signing_secret": WEBHOOK_SIGNING_SECRET,
    }


def test_email_channel_shows_has_password_not_the_password(writer):
    response = writer.post(CHANNELS, {"name": "mail", "channel_type": "email", "config": email_config()})
    assert response.status_code == 201, response.json()
    assert response.json()["config"]["auth"] == {"username": "mailer", "has_password": True}
    assert "password" not in response.json()["config"]["auth"]


def test_delete_refused_while_rules_use_the_channel(writer, webhook_channel):
    RuleFactory(channel=webhook_channel)
    response = writer.delete(f"{CHANNELS}{webhook_channel.id}/")
    assert response.status_code == 409
    assert response.json()["code"] == "CHANNEL_IN_USE"
    assert Channel.objects.filter(pk=webhook_channel.pk).exists()


def test_duplicate_name_is_a_conflict(writer, webhook_channel):
    response = writer.post(CHANNELS, {"name": "ops-webhook", "channel_type": "webhook", "config": webhook_config()})
    assert response.status_code == 409
    assert response.json()["code"] == "DUPLICATE_NAME"
    assert response.json()["fields"] == {"name": ["A channel with this name already exists."]}


def test_filters_and_ordering(writer, webhook_channel, email_channel):
    def names(query):
        response = writer.get(CHANNELS, query)
        assert response.status_code == 200, response.json()
        return [item["name"] for item in response.json()["results"]]

    assert names({}) == ["ops-email", "ops-webhook"]
    assert names({"ordering": "-name"}) == ["ops-webhook", "ops-email"]
    assert names({"channel_type": "email"}) == ["ops-email"]
    assert names({"name": "WEBH"}) == ["ops-webhook"]
    assert names({"enabled": "false"}) == []
    assert names({"created_after": "2000-01-01T00:00:00Z", "ordering": "created_at"}) == ["ops-webhook", "ops-email"]
    assert names({"created_before": "2000-01-01T00:00:00Z"}) == []


def test_pagination_has_a_count_and_a_maximum_page_size(writer, settings):
    settings.API_MAX_PAGE_SIZE = 2
    for index in range(3):
        writer.post(CHANNELS, {"name": f"c{index}", "channel_type": "webhook", "config": webhook_config()})
    page = writer.get(CHANNELS, {"limit": 50}).json()
    assert page["count"] == 3
    assert [item["name"] for item in page["results"]] == ["c0", "c1"]
    second = writer.get(page["next"]).json()
    assert [item["name"] for item in second["results"]] == ["c2"]
    assert second["next"] is None


def test_validate_sends_a_test_message_to_a_real_webhook(writer, httpserver: HTTPServer):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok, and some body the API must not return")
    channel = writer.post(
        CHANNELS, {"name": "local", "channel_type": "webhook", "config": webhook_config(httpserver.url_for("/hook"))}
    ).json()
    response = writer.post(f"{CHANNELS}{channel['id']}/validate/", {"test_message": "hello from the test"})
    assert response.status_code == 200, response.json()
    assert response.json()["success"] is True
    assert response.json()["error"] is None
    assert response.json()["delivered_at"]
    assert "some body" not in response.content.decode()
    (request, _), *_ = httpserver.log
    assert "hello from the test" in request.get_data(as_text=True)
    assert request.headers["X-Api-Key"] == WEBHOOK_HEADER_VALUE


def test_validate_reports_a_failing_webhook_without_its_body(writer, httpserver: HTTPServer):
    httpserver.expect_request("/hook").respond_with_data("internal detail xyz", status=500)
    channel = writer.post(
        CHANNELS, {"name": "local", "channel_type": "webhook", "config": webhook_config(httpserver.url_for("/hook"))}
    ).json()
    response = writer.post(f"{CHANNELS}{channel['id']}/validate/", {"test_message": "hi"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is False
    assert body["delivered_at"] is None
    assert body["error"]["code"].startswith("WEBHOOK_")
    assert "internal detail xyz" not in response.content.decode()


def test_validate_goes_through_the_ssrf_guard(writer, settings):
    settings.NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS = []
    channel = writer.post(
        CHANNELS, {"name": "local", "channel_type": "webhook", "config": webhook_config("http://127.0.0.1:9/x")}
    ).json()
    response = writer.post(f"{CHANNELS}{channel['id']}/validate/", {"test_message": "hi"})
    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "WEBHOOK_ADDRESS_REFUSED"


def test_validate_sends_a_test_email_through_a_real_smtp_server(writer, smtp_server):
    server = smtp_server(credentials=("mailer", EMAIL_PASSWORD), auth_require_tls=False)
    config = email_config()
    config["smtp"]["port"] = server.port
    channel = writer.post(CHANNELS, {"name": "mail", "channel_type": "email", "config": config}).json()
    response = writer.post(f"{CHANNELS}{channel['id']}/validate/", {"test_message": "hello by mail"})
    assert response.status_code == 200, response.json()
    assert response.json()["success"] is True, response.json()
    (message,) = server.messages
    assert message.rcpt_tos == ["ops@example.com"]
    assert "hello by mail" in message.message.get_payload()[0].get_payload(decode=True).decode()


def test_validate_without_any_smtp_server_reports_no_provider(writer):
    config = {"message": {"to_emails": ["ops@example.com"]}}
    channel = writer.post(CHANNELS, {"name": "mail", "channel_type": "email", "config": config}).json()
    response = writer.post(f"{CHANNELS}{channel['id']}/validate/", {"test_message": "hi"})
    assert response.status_code == 200
    assert response.json() == {
        "success": False,
        "delivered_at": None,
        "error": {"code": "NO_SMTP_PROVIDER", "message": response.json()["error"]["message"]},
    }
