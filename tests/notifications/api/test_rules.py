"""rules/ over HTTP: CRUD, filters, and the validate dry run (and its send, to a real webhook server)."""

import json

import pytest
from pytest_httpserver import HTTPServer

from notifications.models import Rule
from tests.core.api_fixtures import API, webhook_config

RULES = f"{API}rules/"
PAYLOAD = {"session_id": "s-1", "session_type": "batch", "cluster_mode": "single-node", "status": "RUNNING"}


@pytest.fixture
def writer(client_for):
    return client_for("writer")


def rule_body(channel_id, **overrides):
    return {
        "name": "started",
        "description": "batch sessions",
        "event_type": "session.started",
        "channel": str(channel_id),
        "message_template": "Session {{ session_id }} is {{ status }}",
        "subject_template": "[{{ event_type }}] {{ session_id }}",
        "condition": "session_type == 'batch'",
        "enabled": True,
        **overrides,
    }


def test_create_read_list_update_delete(writer, webhook_channel):
    created = writer.post(RULES, rule_body(webhook_channel.id))
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {key: body[key] for key in rule_body(webhook_channel.id)} == rule_body(webhook_channel.id)
    assert body["created_by"] == "writer"
    url = f"{RULES}{body['id']}/"

    assert writer.get(url).json() == body
    assert writer.get(RULES).json()["results"] == [body]

    updated = writer.patch(url, {"message_template": "{{ session_id }}", "enabled": False})
    assert updated.status_code == 200, updated.json()
    assert updated.json()["message_template"] == "{{ session_id }}"
    assert updated.json()["enabled"] is False
    assert updated.json()["condition"] == "session_type == 'batch'"

    assert writer.delete(url).status_code == 204
    assert writer.get(url).status_code == 404
    assert not Rule.objects.exists()


def test_unknown_channel_names_the_channel_field(writer, webhook_channel):
    response = writer.post(RULES, rule_body(webhook_channel.id, channel="00000000-0000-4000-8000-000000000000"))
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["channel"]


def test_filters(writer, webhook_channel, email_channel):
    assert writer.post(RULES, rule_body(webhook_channel.id, name="a")).status_code == 201
    other = {
        "event_type": "notification.test",
        "message_template": "{{ message }}",
        "subject_template": "",
        "condition": "",
    }
    assert writer.post(RULES, rule_body(email_channel.id, name="b", **other)).status_code == 201

    def names(query):
        response = writer.get(RULES, query)
        assert response.status_code == 200, response.json()
        return [item["name"] for item in response.json()["results"]]

    assert names({}) == ["a", "b"]
    assert names({"channel": str(email_channel.id)}) == ["b"]
    assert names({"event_type": "session.started"}) == ["a"]
    assert names({"enabled": "true", "ordering": "-name"}) == ["b", "a"]
    assert names({"name": "B"}) == ["b"]


def test_validate_is_a_dry_run_by_default(writer, webhook_channel, httpserver: HTTPServer):
    rule = writer.post(RULES, rule_body(webhook_channel.id)).json()
    response = writer.post(f"{RULES}{rule['id']}/validate/", {"payload": PAYLOAD})
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "matched": True,
        "rendered": {"subject": None, "body": "Session s-1 is RUNNING"},
        "sent": False,
        "error": None,
    }
    assert httpserver.log == []


def test_validate_reports_a_condition_that_does_not_match(writer, webhook_channel):
    rule = writer.post(RULES, rule_body(webhook_channel.id)).json()
    response = writer.post(f"{RULES}{rule['id']}/validate/", {"payload": {**PAYLOAD, "session_type": "interactive"}})
    assert response.status_code == 200
    assert response.json()["matched"] is False
    assert response.json()["sent"] is False


def test_validate_uses_the_example_payload_when_none_is_given(writer, webhook_channel):
    rule = writer.post(RULES, rule_body(webhook_channel.id)).json()
    response = writer.post(f"{RULES}{rule['id']}/validate/", {})
    assert response.status_code == 200
    assert response.json()["rendered"]["body"] == "Session 3f1c2b7e-6f0a-4d8e-9b1a-2c3d4e5f6a7b is RUNNING"


def test_validate_with_send_delivers_to_a_real_webhook(writer, httpserver: HTTPServer):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    channel = writer.post(
        f"{API}channels/",
        {"name": "local", "channel_type": "webhook", "config": webhook_config(httpserver.url_for("/hook"))},
    ).json()
    rule = writer.post(RULES, {**rule_body(channel["id"]), "message_template": '{"id": "{{ session_id }}"}'}).json()
    response = writer.post(f"{RULES}{rule['id']}/validate/", {"payload": PAYLOAD, "send": True})
    assert response.status_code == 200, response.json()
    assert response.json()["sent"] is True
    assert response.json()["error"] is None
    (request, _), *_ = httpserver.log
    assert json.loads(request.get_data()) == {"id": "s-1"}


def test_validate_refuses_a_payload_with_an_unknown_field(writer, webhook_channel):
    rule = writer.post(RULES, rule_body(webhook_channel.id)).json()
    response = writer.post(f"{RULES}{rule['id']}/validate/", {"payload": {**PAYLOAD, "colour": "red"}})
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "payload.colour" in response.json()["fields"]
